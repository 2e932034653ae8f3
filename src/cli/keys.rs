//! `key generate`, `key list`, `key revoke`: the actor's signing keys.

use custodia::keys::{KeyChoice, Signer, default_key_path};
use custodia::text::{escape_path, escape_text};
use custodia::{Archive, Error, OpenOptions};
use serde::Serialize;

use super::args::KeyCommand;
use super::{Out, Run, emit, wire};

pub fn run(
    cmd: KeyCommand,
    opts: &OpenOptions,
    open: impl Fn() -> custodia::Result<Archive>,
    out: &mut Out,
) -> Run {
    match cmd {
        KeyCommand::Generate { out: to } => generate(to, opts, out),
        KeyCommand::List => {
            let keys = open()?.signing_keys()?;
            let json = KeysOut {
                keys: keys.iter().map(|(f, r)| KeyOut::from((f, r))).collect(),
            };
            emit(out, &json, |o| {
                for k in &json.keys {
                    let revoked = k
                        .revoked_at
                        .map_or(String::new(), |s| format!("  REVOKED at event {s}"));
                    let actors = escape_text(&k.actors.join(", "));
                    o.line(&format!(
                        "{}  {actors}  (event {}){revoked}",
                        k.fingerprint, k.registered_at
                    ))?;
                }
                Ok(())
            })
        }
        KeyCommand::Revoke {
            fingerprint,
            reason,
        } => {
            let seq = open()?.revoke_key(&fingerprint, &reason)?;
            let json = RevokedOut {
                fingerprint: fingerprint.clone(),
                event: seq,
            };
            emit(out, &json, |o| {
                o.line(&format!("revoked {fingerprint} (event {seq})"))
            })
        }
    }
}

fn generate(to: Option<std::path::PathBuf>, opts: &OpenOptions, out: &mut Out) -> Run {
    let path = match (to, &opts.key) {
        (Some(p), _) => p,
        (None, KeyChoice::Path(p)) => p.clone(),
        (None, KeyChoice::Default) => default_key_path(&opts.actor).ok_or(Error::NoKeyHome)?,
    };
    let signer = Signer::generate(&path, &opts.actor)?;
    let json = GeneratedOut {
        path: wire::path_text(&path),
        public: wire::path_text(&custodia::keys::public_path(&path)),
        fingerprint: signer.fingerprint().to_owned(),
    };
    let shown = escape_path(&path);
    emit(out, &json, |o| {
        o.line(&format!(
            "created {} at {shown} (public key in {shown}.pub)",
            signer.fingerprint()
        ))
    })
}

#[derive(Serialize)]
struct GeneratedOut {
    path: String,
    public: String,
    fingerprint: String,
}

#[derive(Serialize)]
struct KeysOut {
    keys: Vec<KeyOut>,
}

#[derive(Serialize)]
struct KeyOut {
    fingerprint: String,
    public_key: String,
    actors: Vec<String>,
    registered_at: u64,
    revoked_at: Option<u64>,
    revoke_reason: Option<String>,
}

impl From<(&String, &custodia::KeyRecord)> for KeyOut {
    fn from((fingerprint, r): (&String, &custodia::KeyRecord)) -> Self {
        KeyOut {
            fingerprint: fingerprint.clone(),
            public_key: r.public_key.clone(),
            actors: r.actors.clone(),
            registered_at: r.registered_at,
            revoked_at: r.revoked_at,
            revoke_reason: r.revoke_reason.clone(),
        }
    }
}

#[derive(Serialize)]
struct RevokedOut {
    fingerprint: String,
    event: u64,
}
