//! The keys an archive knows: which public key speaks for which actor, and revocation.

use crate::archive::Archive;
use crate::catalog::KeyRecord;
use crate::custody::details::KeyRevokeDetails;
use crate::custody::{Action, Draft};
use crate::error::{Error, Result};

impl Archive {
    /// Every key the log registers, by fingerprint.
    pub fn signing_keys(&self) -> Result<Vec<(String, KeyRecord)>> {
        self.catalog.signing_keys()
    }

    /// Withdraws a key with a `key_revoke` event, signed by the acting key; returns its seq.
    pub fn revoke_key(&mut self, fingerprint: &str, reason: &str) -> Result<u64> {
        let known = self.catalog.signing_keys()?;
        let Some((_, record)) = known.iter().find(|(f, _)| f == fingerprint) else {
            return Err(Error::UnknownKey(fingerprint.to_owned()));
        };
        if let Some(seq) = record.revoked_at {
            return Err(Error::KeyRevoked {
                fingerprint: fingerprint.to_owned(),
                seq,
                reason: record.revoke_reason.clone().unwrap_or_default(),
            });
        }
        let draft = Draft::new(Action::KeyRevoke)
            .reason(Some(reason.to_owned()))
            .with(&KeyRevokeDetails {
                fingerprint: fingerprint.to_owned(),
            });
        self.commit(|tx| {
            let (seq, _) = tx.append(&draft)?;
            tx.revoke_key(fingerprint, seq, reason)?;
            Ok(seq)
        })
    }
}
