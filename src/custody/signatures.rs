//! Who signed each event: the keys the log itself registers and revokes, and every
//! version-2 event's signature checked against them, in log order.

use std::collections::HashMap;

use base64::Engine as _;
use ed25519_dalek::VerifyingKey;

use super::details::{InitDetails, KeyRegisterDetails, KeyRevokeDetails};
use super::{Action, Event, SIGNED_EVENT_VERSION};
use crate::keys;

/// Why an event's signature does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureProblem {
    /// The signature is not the signer's over the event's bytes (the event was changed).
    Invalid,
    /// No key with that fingerprint was registered before the event.
    Unregistered(String),
    /// The key is registered, but not for the event's actor.
    NotTheActors { fingerprint: String, actor: String },
    /// The key was revoked (at that event) before it signed this one.
    Revoked { fingerprint: String, at: u64 },
    /// A registration whose key, fingerprint and signer disagree.
    BadRegistration,
    /// An unsigned (version 1) event after signed ones: a downgrade.
    UnsignedAfterSigned,
}

impl SignatureProblem {
    pub fn describe(&self, seq: u64) -> String {
        match self {
            SignatureProblem::Invalid => format!(
                "event {seq}'s signature does not match its bytes: the event was changed after it was signed"
            ),
            SignatureProblem::Unregistered(fp) => {
                format!("event {seq} is signed by {fp}, a key no earlier event registers")
            }
            SignatureProblem::NotTheActors { fingerprint, actor } => format!(
                "event {seq} is signed by {fingerprint}, which is not registered for its actor {actor:?}"
            ),
            SignatureProblem::Revoked { fingerprint, at } => {
                format!("event {seq} is signed by {fingerprint}, revoked at event {at}")
            }
            SignatureProblem::BadRegistration => {
                format!("event {seq} registers a key that is not the one that signed it")
            }
            SignatureProblem::UnsignedAfterSigned => format!(
                "event {seq} is unsigned although earlier events are signed: an event written by other means"
            ),
        }
    }

    /// True for "this key may not speak here" (signer_unknown), false for a forged or
    /// changed event (signature_invalid).
    pub fn is_about_the_signer(&self) -> bool {
        !matches!(
            self,
            SignatureProblem::Invalid
                | SignatureProblem::BadRegistration
                | SignatureProblem::UnsignedAfterSigned
        )
    }
}

/// A key as the log knows it.
#[derive(Clone, Debug)]
pub struct KnownKey {
    pub public: VerifyingKey,
    pub public_openssh: String,
    pub actors: Vec<String>,
    pub registered_at: u64,
    pub revoked_at: Option<u64>,
}

/// The keys registered so far, and how many events were signed or not.
#[derive(Default, Debug)]
pub struct Signatures {
    pub keys: HashMap<String, KnownKey>,
    pub signed: u64,
    pub unsigned: u64,
}

impl Signatures {
    /// Checks one event's signature, then learns what it registers or revokes.
    pub fn check(&mut self, e: &Event) -> Result<(), SignatureProblem> {
        if e.v < SIGNED_EVENT_VERSION {
            self.unsigned += 1;
            return if self.signed > 0 {
                Err(SignatureProblem::UnsignedAfterSigned)
            } else {
                Ok(())
            };
        }
        self.signed += 1;
        let signer = e.signer.clone().unwrap_or_default();
        if let Some(public) = registered_key(e) {
            return self.register(e, &signer, &public);
        }
        let Some(key) = self.keys.get(&signer) else {
            return Err(SignatureProblem::Unregistered(signer));
        };
        // The bytes first: a changed event is reported as changed, whatever else it claims.
        if !signature_holds(&key.public, e) {
            return Err(SignatureProblem::Invalid);
        }
        self.may_sign(e, &signer)?;
        if let Some(revoked) = e.details_as::<KeyRevokeDetails>()
            && let Some(k) = self.keys.get_mut(&revoked.fingerprint)
        {
            k.revoked_at.get_or_insert(e.seq);
        }
        Ok(())
    }

    /// Whether the key may sign `e`: registered, for its actor, not revoked.
    fn may_sign(&self, e: &Event, signer: &str) -> Result<(), SignatureProblem> {
        let Some(key) = self.keys.get(signer) else {
            return Err(SignatureProblem::Unregistered(signer.to_owned()));
        };
        if let Some(at) = key.revoked_at {
            return Err(SignatureProblem::Revoked {
                fingerprint: signer.to_owned(),
                at,
            });
        }
        if !key.actors.contains(&e.actor) {
            return Err(SignatureProblem::NotTheActors {
                fingerprint: signer.to_owned(),
                actor: e.actor.clone(),
            });
        }
        Ok(())
    }

    /// A registration (`key_register`, or `init` with a key): self-signed by the key it
    /// names, which then speaks for the event's actor.
    fn register(&mut self, e: &Event, signer: &str, public: &str) -> Result<(), SignatureProblem> {
        let Some(key) = keys::parse_public(public) else {
            return Err(SignatureProblem::BadRegistration);
        };
        if keys::fingerprint_of(public).as_deref() != Some(signer) {
            return Err(SignatureProblem::BadRegistration);
        }
        if !signature_holds(&key, e) {
            return Err(SignatureProblem::Invalid);
        }
        let entry = self.keys.entry(signer.to_owned()).or_insert(KnownKey {
            public: key,
            public_openssh: public.to_owned(),
            actors: Vec::new(),
            registered_at: e.seq,
            revoked_at: None,
        });
        if let Some(at) = entry.revoked_at {
            return Err(SignatureProblem::Revoked {
                fingerprint: signer.to_owned(),
                at,
            });
        }
        if !entry.actors.contains(&e.actor) {
            entry.actors.push(e.actor.clone());
        }
        Ok(())
    }
}

/// The public key an event registers, if it is a registration.
fn registered_key(e: &Event) -> Option<String> {
    match e.action {
        Action::KeyRegister => e.details_as::<KeyRegisterDetails>().map(|d| d.public_key),
        Action::Init => e.details_as::<InitDetails>().and_then(|d| d.public_key),
        _ => None,
    }
}

fn signature_holds(key: &VerifyingKey, e: &Event) -> bool {
    let Some(sig) = e.sig.as_deref() else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(sig) else {
        return false;
    };
    keys::verify(key, &e.signed_bytes(), &bytes)
}
