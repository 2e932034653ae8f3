//! Identifier and digest types: each kind of name is its own type, so one cannot stand in for another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name given on the command line that is not an id of its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error(
        "{0:?} is neither an evidence id (EV-000042) nor a hash prefix of at least 8 hex characters"
    )]
    ItemRef(String),
    #[error("{0:?} is not a valid case id (1 to 64 of A-Z a-z 0-9 . _ -)")]
    CaseId(String),
}

type Result<T> = std::result::Result<T, ParseIdError>;

/// The BLAKE3 hash of a file's original bytes: its content address.
///
/// Compared as plain bytes: digests of evidence are not secrets, so constant-time
/// comparison would protect nothing here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentId([u8; 32]);

/// The SHA-256 hash of a file's original bytes, kept beside the BLAKE3 address for courts and standard tools.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sha256Digest([u8; 32]);

/// The BLAKE3 hash of one chunk's uncompressed bytes: the key of a stored chunk.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkId([u8; 32]);

/// The SHA-256 hash of one custody event's exact bytes, as the next event names it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventDigest([u8; 32]);

macro_rules! digest_type {
    ($t:ident) => {
        impl $t {
            pub const LEN: usize = 32;

            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Reads a digest from a stored key or field; `None` when the length is wrong.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; 32]>::try_from(bytes).ok().map(Self)
            }

            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses 64 lower- or upper-case hex characters.
            pub fn from_hex(text: &str) -> Option<Self> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(text, &mut out).ok()?;
                Some(Self(out))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.to_hex())
            }
        }
    };
}

digest_type!(ContentId);
digest_type!(Sha256Digest);
digest_type!(ChunkId);
digest_type!(EventDigest);

impl ContentId {
    /// Constant-time comparison through `blake3::Hash`.
    pub fn matches(&self, hash: &blake3::Hash) -> bool {
        blake3::Hash::from_bytes(self.0) == *hash
    }
}

impl From<blake3::Hash> for ContentId {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl From<blake3::Hash> for ChunkId {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl EventDigest {
    /// The SHA-256 of an event's exact bytes.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(bytes).into())
    }
}

/// The number of an evidence item in this archive, shown as `EV-000042`.
///
/// Numbers are given out in order and never reused. The `EV-` prefix keeps an id
/// apart from a hex hash prefix on the command line.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct EvidenceId(u64);

impl EvidenceId {
    pub const PREFIX: &'static str = "EV-";

    pub fn new(n: u64) -> Self {
        Self(n)
    }

    pub fn number(self) -> u64 {
        self.0
    }

    /// The big-endian key form, so that sled's byte order is numeric order.
    pub fn to_key(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn from_key(bytes: &[u8]) -> Option<Self> {
        <[u8; 8]>::try_from(bytes)
            .ok()
            .map(|b| Self(u64::from_be_bytes(b)))
    }

    /// Parses `EV-000042` (case-insensitive prefix, any number of digits).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text
            .get(..Self::PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(Self::PREFIX))
            .map(|_| &text[Self::PREFIX.len()..])?;
        if rest.is_empty() || rest.len() > 20 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse().ok().filter(|n| *n > 0).map(Self)
    }
}

impl fmt::Display for EvidenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:06}", Self::PREFIX, self.0)
    }
}

/// How a user names an evidence item on the command line: its id or a BLAKE3 prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemRef {
    Id(EvidenceId),
    /// At least 8 lower-case hex characters of the content's BLAKE3 hash.
    HashPrefix(String),
}

impl ItemRef {
    pub const MIN_PREFIX: usize = 8;
}

impl FromStr for ItemRef {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self> {
        if let Some(id) = EvidenceId::parse(text) {
            return Ok(Self::Id(id));
        }
        let is_hex = text.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex && (Self::MIN_PREFIX..=64).contains(&text.len()) {
            return Ok(Self::HashPrefix(text.to_ascii_lowercase()));
        }
        Err(ParseIdError::ItemRef(text.to_owned()))
    }
}

/// A case identifier such as `BY-2024-017`: 1 to 64 of `[A-Za-z0-9._-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseId(String);

impl TryFrom<String> for CaseId {
    type Error = ParseIdError;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl From<CaseId> for String {
    fn from(id: CaseId) -> String {
        id.0
    }
}

impl CaseId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CaseId {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self> {
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        let ok = (1..=64).contains(&text.len())
            && text.bytes().all(ok_char)
            && text != "."
            && text != "..";
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseIdError::CaseId(text.to_owned()))
        }
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_id_round_trips_through_text() {
        let id = EvidenceId::new(42);
        assert_eq!(id.to_string(), "EV-000042");
        assert_eq!(EvidenceId::parse("EV-000042"), Some(id));
        assert_eq!(EvidenceId::parse("ev-42"), Some(id));
        assert_eq!(EvidenceId::parse("EV-"), None);
        assert_eq!(EvidenceId::parse("EV-0"), None);
        assert_eq!(EvidenceId::parse("EV-4x"), None);
    }

    #[test]
    fn item_ref_tells_ids_from_prefixes() {
        assert_eq!(
            "EV-7".parse::<ItemRef>().ok(),
            Some(ItemRef::Id(EvidenceId::new(7)))
        );
        assert_eq!(
            "ABCDEF01".parse::<ItemRef>().ok(),
            Some(ItemRef::HashPrefix("abcdef01".into()))
        );
        assert!(
            "abcdef0".parse::<ItemRef>().is_err(),
            "7 hex chars is too short"
        );
        assert!("xyzxyzxyz".parse::<ItemRef>().is_err());
    }

    #[test]
    fn case_ids_are_restricted() {
        assert!("BY-2024-017".parse::<CaseId>().is_ok());
        assert!("a.b_c-D".parse::<CaseId>().is_ok());
        for bad in ["", "..", ".", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(bad.parse::<CaseId>().is_err(), "{bad:?} must be refused");
        }
    }
}
