//! Signing keys: one Ed25519 key per actor, in OpenSSH format, kept outside the archive.
//!
//! Keys are read and written with `ssh-key`, signatures made and checked with
//! `ed25519-dalek` (`verify_strict`), so `ssh-keygen` and `openssl` read the same keys and
//! check the same signatures. A private key never enters an archive or a bundle: the
//! archive records only public keys, in `key_register` events.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use ssh_key::private::{Ed25519Keypair, Ed25519PrivateKey, KeypairData};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

use crate::error::{Error, Result};

/// The SSHSIG namespace of custodia's signatures: `ssh-keygen -Y verify -n custodia`.
pub const SSHSIG_NAMESPACE: &str = "custodia";

/// Which key signs: one given (`--key`, `$CUSTODIA_KEY`), or the actor's default.
#[derive(Clone, Debug, Default)]
pub enum KeyChoice {
    Path(PathBuf),
    /// The actor's key under the user's config directory, created on first write.
    #[default]
    Default,
}

/// A private key loaded for signing.
pub struct Signer {
    key: SigningKey,
    fingerprint: String,
    public_openssh: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.fingerprint)
    }
}

impl Signer {
    /// Loads an OpenSSH Ed25519 private key (`~/.ssh/id_ed25519` included).
    pub fn load(path: &Path) -> Result<Signer> {
        let text = fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::KeyMissing(path.to_path_buf()),
            _ => Error::io(path)(e),
        })?;
        let bad = |why: String| Error::KeyUnusable {
            path: path.to_path_buf(),
            why,
        };
        let key = PrivateKey::from_openssh(&text)
            .map_err(|e| bad(format!("it is not an OpenSSH private key ({e})")))?;
        if key.is_encrypted() {
            return Err(bad(
                "it is protected by a passphrase, which custodia cannot ask for; use a key without one (ssh-keygen -p) or another key".into(),
            ));
        }
        let Some(pair) = key.key_data().ed25519() else {
            return Err(bad(format!(
                "it is a {} key; custodia signs with Ed25519 only",
                key.algorithm()
            )));
        };
        Ok(Signer::from_pair(pair))
    }

    fn from_pair(pair: &Ed25519Keypair) -> Signer {
        let key = SigningKey::from(&pair.private);
        let public = PublicKey::from(pair.public);
        Signer {
            key,
            fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
            public_openssh: public.to_openssh().unwrap_or_default(),
        }
    }

    /// Makes a new key at `path` (private, 0600) and `path.pub`; refuses to replace a file.
    pub fn generate(path: &Path, comment: &str) -> Result<Signer> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::io("the random source")(std::io::Error::other(e.to_string())))?;
        let private = Ed25519PrivateKey::from_bytes(&seed);
        let pair = Ed25519Keypair::from(private);
        let signer = Signer::from_pair(&pair);
        let key = PrivateKey::new(KeypairData::from(pair), comment)
            .map_err(|e| Error::io(path)(std::io::Error::other(e.to_string())))?;
        let text = key
            .to_openssh(LineEnding::LF)
            .map_err(|e| Error::io(path)(std::io::Error::other(e.to_string())))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::durable::create_private_dir_all_parents(dir)?;
        }
        write_new(path, text.as_bytes(), 0o600)?;
        let public = format!("{} {comment}\n", signer.public_openssh);
        write_new(&public_path(path), public.as_bytes(), 0o644)?;
        Ok(signer)
    }

    /// The key's fingerprint, as `ssh-keygen -l` prints it: `SHA256:…`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The public key in OpenSSH form (`ssh-ed25519 AAAA…`), without comment.
    pub fn public_openssh(&self) -> &str {
        &self.public_openssh
    }

    /// A raw Ed25519 signature (64 bytes), as `openssl pkeyutl -verify -rawin` checks it.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The public key as a PEM SubjectPublicKeyInfo, for `openssl pkeyutl -pubin -inkey`.
    pub fn public_pem(&self) -> String {
        public_pem(&self.key.verifying_key())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// An SSHSIG signature (armored) over `message` in `namespace`, as
    /// `ssh-keygen -Y verify -n <namespace>` checks it.
    pub fn sshsig(&self, namespace: &str, message: &[u8]) -> Result<String> {
        let pair = Ed25519Keypair::from(Ed25519PrivateKey::from(self.key.clone()));
        let key = PrivateKey::new(KeypairData::from(pair), "")
            .map_err(|e| Error::Database(format!("cannot use the key for SSHSIG: {e}")))?;
        let sig = key
            .sign(namespace, HashAlg::Sha512, message)
            .map_err(|e| Error::Database(format!("SSHSIG signing failed: {e}")))?;
        sig.to_pem(LineEnding::LF)
            .map_err(|e| Error::Database(format!("SSHSIG encoding failed: {e}")))
    }
}

/// The public key file beside a private key: `<path>.pub`, as ssh-keygen names it.
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::OutputExists(path.to_path_buf()),
            _ => Error::io(path)(e),
        })?;
    file.write_all(bytes).map_err(Error::io(path))?;
    crate::durable::sync_file(&file, path)
}

/// A public key named in an event, decoded: `None` if it is not an Ed25519 OpenSSH key.
pub fn parse_public(openssh: &str) -> Option<VerifyingKey> {
    let key = PublicKey::from_openssh(openssh.trim()).ok()?;
    VerifyingKey::from_bytes(&key.key_data().ed25519()?.0).ok()
}

/// The fingerprint of a public key in OpenSSH form.
pub fn fingerprint_of(openssh: &str) -> Option<String> {
    let key = PublicKey::from_openssh(openssh.trim()).ok()?;
    Some(key.fingerprint(HashAlg::Sha256).to_string())
}

/// Whether `signature` (64 bytes) is `key`'s over `message`, by the strict rules (no
/// malleable or small-order forms).
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&bytes))
        .is_ok()
}

pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap_or_default()
}

/// Where an actor's default key lives: `$XDG_CONFIG_HOME/custodia/keys/<actor>.ed25519`
/// (`~/.config/...` without XDG_CONFIG_HOME). A name unsafe as a file name is replaced by
/// its safe characters and a digest of the whole, so two actors never share a file.
pub fn default_key_path(actor: &str) -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(
        config
            .join("custodia/keys")
            .join(format!("{}.ed25519", file_stem(actor))),
    )
}

fn file_stem(actor: &str) -> String {
    let safe: String = actor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == actor && !actor.starts_with('.') {
        return safe;
    }
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(actor.as_bytes()));
    format!("{}-{}", safe.trim_start_matches('.'), &digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_loads_signs_and_verifies_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/a.ed25519");
        let made = Signer::generate(&path, "tester").unwrap();
        let loaded = Signer::load(&path).unwrap();
        assert_eq!(made.fingerprint(), loaded.fingerprint());
        assert!(made.fingerprint().starts_with("SHA256:"));
        let sig = loaded.sign(b"checkpoint");
        let public = parse_public(made.public_openssh()).unwrap();
        assert!(verify(&public, b"checkpoint", &sig));
        assert!(!verify(&public, b"checkpoinT", &sig));
        assert_eq!(
            fingerprint_of(made.public_openssh()).as_deref(),
            Some(made.fingerprint())
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the private key is the owner's alone");
        assert!(matches!(
            Signer::generate(&path, "again"),
            Err(Error::OutputExists(_))
        ));
    }

    #[test]
    fn unusable_keys_are_named_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        assert!(matches!(Signer::load(&missing), Err(Error::KeyMissing(_))));
        let junk = dir.path().join("junk");
        fs::write(&junk, b"not a key").unwrap();
        assert!(matches!(
            Signer::load(&junk),
            Err(Error::KeyUnusable { .. })
        ));
    }

    #[test]
    fn actor_names_become_distinct_safe_file_names() {
        assert_eq!(file_stem("tester"), "tester");
        assert_ne!(file_stem("A. Investigator"), file_stem("A_ Investigator"));
        assert!(!file_stem("../etc").contains('/'));
    }
}
