//! Client-side encryption of replica objects with age (X25519 recipients), so that the
//! stock `age -d -i KEY OBJECT` opens any object by hand.
//!
//! A replica is either encrypted to one or more recipients or, by explicit choice,
//! plaintext; an encrypted object starts with age's header line, a plaintext one never does.

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The first line of every age file (age's v1 format).
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// How a replica's objects are written.
pub enum Sealing {
    Plain,
    Age(Vec<age::x25519::Recipient>),
}

/// Parses `age1…` recipients, naming the first that is not one.
pub fn parse_recipients(given: &[String]) -> Result<Vec<age::x25519::Recipient>> {
    given
        .iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r.trim()).map_err(|_| {
                Error::BadReplica(format!(
                    "{r:?} is not an age recipient (an X25519 public key, age1…)"
                ))
            })
        })
        .collect()
}

impl Sealing {
    pub fn new(recipients: &[String], plaintext: bool) -> Result<Sealing> {
        match (recipients.is_empty(), plaintext) {
            (true, true) => Ok(Sealing::Plain),
            (false, false) => Ok(Sealing::Age(parse_recipients(recipients)?)),
            (true, false) => Err(Error::EncryptionUnspecified),
            (false, true) => Err(Error::BadReplica(
                "--encrypt-to and --plaintext exclude each other: choose one".into(),
            )),
        }
    }

    /// The bytes stored for `plain`.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        match self {
            Sealing::Plain => plain.to_vec(),
            Sealing::Age(recipients) => {
                let encryptor = age::Encryptor::with_recipients(
                    recipients.iter().map(|r| r as &dyn age::Recipient),
                )
                .expect("at least one X25519 recipient");
                let mut out = Vec::with_capacity(plain.len() + 512);
                let mut writer = encryptor
                    .wrap_output(&mut out)
                    .expect("writing to memory cannot fail");
                writer
                    .write_all(plain)
                    .expect("writing to memory cannot fail");
                writer.finish().expect("writing to memory cannot fail");
                out
            }
        }
    }
}

/// The identities a restore or a verify decrypts with.
pub struct Opener {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    path: String,
}

impl Opener {
    /// Reads an age identity file (as `age-keygen` writes it).
    pub fn load(path: &Path) -> Result<Opener> {
        let shown = crate::text::escape_path(path);
        let file =
            age::IdentityFile::from_file(path.to_string_lossy().into_owned()).map_err(|e| {
                Error::Identity(format!("the age identity {shown} cannot be read: {e}"))
            })?;
        let identities = file.into_identities().map_err(|e| {
            Error::Identity(format!("the age identity {shown} cannot be used: {e}"))
        })?;
        if identities.is_empty() {
            return Err(Error::Identity(format!(
                "{shown} holds no age identity (AGE-SECRET-KEY-1…)"
            )));
        }
        Ok(Opener {
            identities,
            path: shown,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Why stored bytes did not open.
pub enum OpenFailure {
    /// Encrypted, but to none of the identities given (or none given).
    NotForUs,
    /// Not a well-formed age file, or its authentication failed: damage.
    Damaged(String),
}

/// The plaintext of stored bytes: decrypted when they are an age file, as they are when
/// the replica is plaintext.
pub fn open(opener: Option<&Opener>, stored: &[u8]) -> std::result::Result<Vec<u8>, OpenFailure> {
    if !stored.starts_with(AGE_MAGIC) {
        return Ok(stored.to_vec());
    }
    let Some(opener) = opener else {
        return Err(OpenFailure::NotForUs);
    };
    let decryptor = age::Decryptor::new(stored).map_err(|e| OpenFailure::Damaged(e.to_string()))?;
    let mut reader = decryptor
        .decrypt(
            opener
                .identities
                .iter()
                .map(|i| i.as_ref() as &dyn age::Identity),
        )
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => OpenFailure::NotForUs,
            other => OpenFailure::Damaged(other.to_string()),
        })?;
    let mut plain = Vec::with_capacity(stored.len());
    reader
        .read_to_end(&mut plain)
        .map_err(|e| OpenFailure::Damaged(e.to_string()))?;
    Ok(plain)
}

/// The length of an age file's payload (after the header's `---` line), or of a plaintext
/// object; `None` for a damaged age header.
pub(super) fn payload_len(bytes: &[u8]) -> Option<usize> {
    if !bytes.starts_with(AGE_MAGIC) {
        return Some(bytes.len());
    }
    let mac = bytes.windows(5).position(|w| w == b"\n--- ")?;
    let end = mac + 1 + bytes[mac + 1..].iter().position(|b| *b == b'\n')?;
    Some(bytes.len() - end - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn sealed_objects_open_with_the_identity_only() {
        let key = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let sealing = Sealing::new(&[key.to_public().to_string()], false).unwrap();
        let stored = sealing.seal(b"evidence");
        assert!(stored.starts_with(AGE_MAGIC));
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, id: &age::x25519::Identity| {
            let p = dir.path().join(name);
            std::fs::write(&p, id.to_string().expose_secret()).unwrap();
            Opener::load(&p).unwrap()
        };
        let mine = write("mine", &key);
        assert_eq!(open(Some(&mine), &stored).ok().unwrap(), b"evidence");
        let theirs = write("theirs", &other);
        assert!(matches!(
            open(Some(&theirs), &stored),
            Err(OpenFailure::NotForUs)
        ));
        let mut flipped = stored.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            open(Some(&mine), &flipped),
            Err(OpenFailure::Damaged(_))
        ));
    }

    #[test]
    fn neither_recipients_nor_plaintext_is_refused() {
        assert!(matches!(
            Sealing::new(&[], false),
            Err(Error::EncryptionUnspecified)
        ));
        assert!(Sealing::new(&["age1nope".into()], false).is_err());
    }
}
