//! `checkpoint` and `timestamp`: the log anchored outside the archive.

use std::path::{Path, PathBuf};

use custodia::{Archive, Error, Timestamped};
use serde::Serialize;

use super::args::{TimestampArgs, TimestampCommand};
use super::{Out, Run, emit, wire};

pub fn checkpoint(archive: &mut Archive, to: Option<PathBuf>, out: &mut Out) -> Run {
    let signed = archive.checkpoint()?;
    let cp = &signed.checkpoint;
    let json = CheckpointOut {
        origin: cp.origin.clone(),
        size: cp.size,
        root: hex::encode(cp.root),
        signer: signed.signer.clone(),
        public_key: signed.public_key.clone(),
        note: signed.note.clone(),
        file: to.as_deref().map(wire::path_text),
    };
    let Some(path) = to else {
        return emit(out, &json, |o| {
            for line in signed.note.lines() {
                o.line(line)?;
            }
            Ok(())
        });
    };
    write_new(&path, signed.note.as_bytes())?;
    write_new(&sig_path(&path), signed.sshsig.as_bytes())?;
    let shown = custodia::text::escape_path(&path);
    emit(out, &json, |o| {
        o.line(&format!(
            "checkpoint of {} events (root {}) signed by {} written to {shown} and {shown}.sig",
            cp.size, json.root, signed.signer
        ))
    })
}

pub fn timestamp(archive: &mut Archive, a: TimestampArgs, out: &mut Out) -> Run {
    let chain = |p: Option<PathBuf>| p.map(|p| read(&p)).transpose();
    let done = match (a.step, a.tsa) {
        (Some(TimestampCommand::Request { out: to }), _) => {
            let (cp, tsq) = archive.timestamp_request()?;
            write_new(&to, &tsq)?;
            let json = RequestOut {
                request: wire::path_text(&to),
                checkpoint_size: cp.size,
                digest: hex::encode(cp.digest()),
            };
            let shown = custodia::text::escape_path(&to);
            return emit(out, &json, |o| {
                o.line(&format!(
                    "time-stamp request over the checkpoint of {} events written to {shown}; send it to a TSA, then: custodia timestamp add RESPONSE.tsr",
                    cp.size
                ))
            });
        }
        (
            Some(TimestampCommand::Add {
                response,
                tsa_chain,
            }),
            _,
        ) => {
            let tsr = read(&response)?;
            archive.timestamp_add(&tsr, chain(tsa_chain)?.as_deref())?
        }
        // clap requires --tsa when no step is given.
        (None, url) => {
            let url = url.unwrap_or_default();
            archive.timestamp_from(&url, chain(a.tsa_chain)?.as_deref())?
        }
    };
    show_timestamp(&done, out)
}

fn show_timestamp(done: &Timestamped, out: &mut Out) -> Run {
    let json = TimestampOut {
        event: done.event,
        checkpoint_size: done.checkpoint.size,
        time: done.info.time.clone(),
        tsa: done.info.tsa.clone(),
    };
    emit(out, &json, |o| {
        o.line(&format!(
            "time-stamped the checkpoint of {} events: {} by {} (event {})",
            json.checkpoint_size,
            json.time,
            custodia::text::escape_text(&json.tsa),
            json.event
        ))
    })
}

fn sig_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingInput(path.to_path_buf()),
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

/// Writes a new file, refusing to replace one.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::OutputExists(path.to_path_buf()),
            _ => Error::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })
}

#[derive(Serialize)]
struct CheckpointOut {
    origin: String,
    size: u64,
    root: String,
    signer: String,
    public_key: String,
    note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

#[derive(Serialize)]
struct RequestOut {
    request: String,
    checkpoint_size: u64,
    digest: String,
}

#[derive(Serialize)]
struct TimestampOut {
    event: u64,
    checkpoint_size: u64,
    time: String,
    tsa: String,
}
