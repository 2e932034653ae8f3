//! Checkpoints: a signed statement of (archive, tree size, root hash) in the C2SP
//! `tlog-checkpoint` text format, signed as a C2SP `signed-note` with Ed25519.
//!
//! ```text
//! custodia/<archive id>
//! <tree size>
//! <base64 root hash>
//!
//! — custodia-<16 hex> <base64 of key id (4 bytes) ‖ Ed25519 signature (64 bytes)>
//! ```
//!
//! The signature is plain Ed25519 over the body (the first three lines, each ending in a
//! newline), so `openssl pkeyutl -verify -rawin` checks it; the key id is the first four
//! bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key), as signed-note defines for Ed25519.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::merkle::Hash;
use crate::keys::{self, Signer};

/// The signature line's lead: an em dash and a space.
const DASH: &str = "\u{2014} ";

/// What a checkpoint states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// A signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    pub signature: [u8; 64],
}

/// Why a checkpoint file is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("it is not a checkpoint: {0}")]
    Malformed(&'static str),
}

/// The origin line of an archive's checkpoints.
pub fn origin(archive_id: &str) -> String {
    format!("custodia/{archive_id}")
}

impl Checkpoint {
    /// The note body: origin, size and base64 root, each line ending in a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// The digest a time-stamp authority is asked to sign: SHA-256 of the body.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.body().as_bytes()).into()
    }

    /// The signed note: the body, a blank line, and one signature line by `signer`.
    pub fn sign(&self, signer: &Signer) -> String {
        let public = signer.verifying_key();
        let name = key_name(&public);
        let body = self.body();
        let mut signed = key_id(&name, &public).to_vec();
        signed.extend_from_slice(&signer.sign(body.as_bytes()));
        format!("{body}\n{DASH}{name} {}\n", B64.encode(signed))
    }
}

/// The note name of a key: `custodia-` and the first 16 hex digits of SHA-256 of it.
pub fn key_name(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    format!("custodia-{}", &hex::encode(digest)[..16])
}

/// signed-note's key id for an Ed25519 key: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[..4].
pub fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', 0x01]);
    h.update(public.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Parses a signed note holding a checkpoint.
pub fn parse(text: &str) -> Result<(Checkpoint, Vec<NoteSignature>), CheckpointError> {
    let bad = CheckpointError::Malformed;
    let (body, signatures) = text
        .split_once("\n\n")
        .ok_or(bad("no blank line before its signatures"))?;
    let mut lines = body.split('\n');
    let origin = lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or(bad("no origin line"))?;
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or(bad("no tree size"))?;
    let root = lines
        .next()
        .and_then(|l| B64.decode(l).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or(bad("no 32-byte root hash"))?;
    if lines.next().is_some() {
        return Err(bad("extension lines are not supported"));
    }
    let mut parsed = Vec::new();
    for line in signatures
        .strip_suffix('\n')
        .ok_or(bad("no final newline"))?
        .split('\n')
    {
        parsed.push(parse_signature(line).ok_or(bad("a signature line is malformed"))?);
    }
    let checkpoint = Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
    };
    Ok((checkpoint, parsed))
}

fn parse_signature(line: &str) -> Option<NoteSignature> {
    let (name, sig) = line.strip_prefix(DASH)?.split_once(' ')?;
    let bytes = B64.decode(sig).ok()?;
    if bytes.len() != 68 || name.is_empty() || name.contains('+') {
        return None;
    }
    Some(NoteSignature {
        name: name.to_owned(),
        key_id: bytes[..4].try_into().ok()?,
        signature: bytes[4..].try_into().ok()?,
    })
}

/// Whether `sig` is `public`'s signature over the checkpoint.
pub fn signed_by(checkpoint: &Checkpoint, sig: &NoteSignature, public: &VerifyingKey) -> bool {
    sig.name == key_name(public)
        && sig.key_id == key_id(&sig.name, public)
        && keys::verify(public, checkpoint.body().as_bytes(), &sig.signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_parses_back_and_verifies_and_an_edit_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::generate(&dir.path().join("k"), "t").unwrap();
        let cp = Checkpoint {
            origin: origin("abc"),
            size: 12,
            root: [7; 32],
        };
        let note = cp.sign(&signer);
        assert!(note.starts_with("custodia/abc\n12\nBwcH"), "{note}");
        let (parsed, sigs) = parse(&note).unwrap();
        assert_eq!(parsed, cp);
        assert!(signed_by(&parsed, &sigs[0], &signer.verifying_key()));
        let edited = note.replacen("\n12\n", "\n11\n", 1);
        let (other, sigs) = parse(&edited).unwrap();
        assert!(!signed_by(&other, &sigs[0], &signer.verifying_key()));
        assert!(parse("custodia/abc\n12\n").is_err());
        assert!(parse("x\ny\nz\n\n\u{2014} a b\n").is_err());
    }
}
