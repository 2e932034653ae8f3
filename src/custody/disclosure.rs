//! Selective disclosure (issue 11.7): a sensitive value is recorded in an event as a salted
//! commitment, and its opening (salt and value) is kept beside the log, so that an export
//! can reveal some values and hide others while every event still verifies.
//!
//! A commitment is `{"commit": "sha256:<hex>"}`, hex = SHA-256(salt ‖ canonical JSON of the
//! value) (docs/FORMAT.md, "Commitments"). Signatures, chains and the Merkle tree cover the
//! event with the commitment, never the value, so hiding a value changes no digest.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical_json;

/// The salt's length: 128 bits, so no value can be found by trying candidates.
pub const SALT_LEN: usize = 16;

/// How people-facing views show a value that is hidden (committed, not revealed).
pub const NOT_DISCLOSED: &str = "(not disclosed)";

/// The prefix of a commitment's text: the hash it names.
const PREFIX: &str = "sha256:";

/// SHA-256(salt ‖ canonical value): what an event records in place of a hidden value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Commitment([u8; 32]);

impl Commitment {
    fn over(salt: &[u8], value: &Value) -> Commitment {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(canonical_json(value));
        Commitment(h.finalize().into())
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", hex::encode(self.0))
    }
}

impl Serialize for Commitment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{self:?}"))
    }
}

impl<'de> Deserialize<'de> for Commitment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let hex = text
            .strip_prefix(PREFIX)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| D::Error::custom("a commitment is sha256: and 64 hex digits"))?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).map_err(D::Error::custom)?;
        Ok(Commitment(bytes))
    }
}

/// The JSON form of a hidden value: an object with the one key `commit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hidden {
    commit: Commitment,
}

/// A field that an event records either in the clear (events before issue 11.7, or a
/// value revealed beside it) or as a commitment. Any details field may be one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disclosed<T> {
    Plain(T),
    Hidden(Commitment),
}

impl<T> Disclosed<T> {
    /// The value, when it is in the clear.
    pub fn plain(&self) -> Option<&T> {
        match self {
            Disclosed::Plain(v) => Some(v),
            Disclosed::Hidden(_) => None,
        }
    }

    /// The value, when it is in the clear.
    pub fn into_plain(self) -> Option<T> {
        match self {
            Disclosed::Plain(v) => Some(v),
            Disclosed::Hidden(_) => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Disclosed<U> {
        match self {
            Disclosed::Plain(v) => Disclosed::Plain(f(v)),
            Disclosed::Hidden(c) => Disclosed::Hidden(c),
        }
    }
}

impl<T: Serialize> Serialize for Disclosed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Disclosed::Plain(v) => v.serialize(s),
            Disclosed::Hidden(commit) => Hidden { commit: *commit }.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Disclosed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read as JSON first: the two forms are told apart by shape, an object with
        // `commit` (no value a committed field holds in the clear is such an object).
        let value = Value::deserialize(d)?;
        if value.get("commit").is_some() {
            let hidden: Hidden = serde_json::from_value(value).map_err(D::Error::custom)?;
            return Ok(Disclosed::Hidden(hidden.commit));
        }
        serde_json::from_value(value)
            .map(Disclosed::Plain)
            .map_err(D::Error::custom)
    }
}

/// A committed value's salt and value: what opens its commitment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    /// Hex of the salt (at least `SALT_LEN` bytes).
    pub salt: String,
    pub value: Value,
}

impl Opening {
    /// The commitment this opens; `None` when the salt is not hex of `SALT_LEN`+ bytes.
    pub fn commitment(&self) -> Option<Commitment> {
        let salt = hex::decode(&self.salt)
            .ok()
            .filter(|s| s.len() >= SALT_LEN)?;
        Some(Commitment::over(&salt, &self.value))
    }

    /// Whether this opens `commitment`.
    pub fn opens(&self, commitment: &Commitment) -> bool {
        self.commitment().as_ref() == Some(commitment)
    }
}

/// The operating system's random source failed: no salt, so nothing can be committed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct NoRandom(String);

impl From<NoRandom> for crate::error::Error {
    fn from(e: NoRandom) -> Self {
        crate::error::Error::io("the operating system's random source")(std::io::Error::other(e.0))
    }
}

/// The openings of one event's committed fields, by field path: `host`, `case`, or
/// `details.<key>` (docs/FORMAT.md, "Commitments").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Openings {
    map: BTreeMap<String, Opening>,
    /// The commitments `commit` made, so that sealing does not hash them again; never
    /// filled from outside (`insert` drops a field's entry).
    #[serde(skip)]
    made: BTreeMap<String, Commitment>,
}

impl Openings {
    /// Commits `value` for the field at `path` under a fresh random salt, keeping its opening.
    pub fn commit<T: Serialize>(&mut self, path: &str, value: T) -> Result<Disclosed<T>, NoRandom> {
        let salt = fresh_salt()?;
        let json = serde_json::to_value(&value).expect("a committed value is plain JSON data");
        let commitment = Commitment::over(&salt, &json);
        let opening = Opening {
            salt: hex::encode(salt),
            value: json,
        };
        self.map.insert(path.to_owned(), opening);
        self.made.insert(path.to_owned(), commitment);
        Ok(Disclosed::Hidden(commitment))
    }

    /// Commits an optional value when there is one; an absent one stays `null`: there is
    /// nothing to hide, and an ingest of many files without a note stores no openings for it.
    pub fn commit_some<T: Serialize>(
        &mut self,
        path: &str,
        value: Option<T>,
    ) -> Result<Disclosed<Option<T>>, NoRandom> {
        match value {
            Some(v) => self.commit(path, Some(v)),
            None => Ok(Disclosed::Plain(None)),
        }
    }

    pub fn get(&self, path: &str) -> Option<&Opening> {
        self.map.get(path)
    }

    /// The commitment the opening of `path` opens: the one `commit` made, else computed.
    pub fn commitment(&self, path: &str) -> Option<Commitment> {
        match self.made.get(path) {
            Some(c) => Some(*c),
            None => self.map.get(path)?.commitment(),
        }
    }

    pub fn insert(&mut self, path: String, opening: Opening) {
        self.made.remove(&path);
        self.map.insert(path, opening);
    }

    /// Takes every opening of `other` (with the commitments it made).
    pub fn extend(&mut self, other: Openings) {
        self.map.extend(other.map);
        self.made.extend(other.made);
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Opening)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The record stored beside event `seq` (`openings/<seq>`): canonical JSON, written
    /// directly (keys in byte order: the map's and `salt` < `value`), as ingest writes one
    /// per file.
    pub fn to_canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 96 * self.map.len());
        out.push(b'{');
        for (i, (path, opening)) in self.map.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend(canonical_json(&Value::String(path.clone())));
            out.extend(b":{\"salt\":");
            out.extend(canonical_json(&Value::String(opening.salt.clone())));
            out.extend(b",\"value\":");
            out.extend(canonical_json(&opening.value));
            out.push(b'}');
        }
        out.push(b'}');
        out
    }

    pub fn parse(bytes: &[u8]) -> Result<Openings, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not valid openings: {e}"))
    }
}

/// A salt from the operating system's random source, drawn 4 KiB at a time: one system
/// call per 256 salts rather than per salt (an ingest commits six fields per file).
fn fresh_salt() -> Result<[u8; SALT_LEN], NoRandom> {
    thread_local! {
        static POOL: std::cell::RefCell<(Vec<u8>, usize)> =
            const { std::cell::RefCell::new((Vec::new(), 0)) };
    }
    POOL.with(|pool| {
        let (bytes, at) = &mut *pool.borrow_mut();
        if *at + SALT_LEN > bytes.len() {
            bytes.resize(4096, 0);
            getrandom::fill(bytes).map_err(|e| NoRandom(e.to_string()))?;
            *at = 0;
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&bytes[*at..*at + SALT_LEN]);
        // A salt is handed out once.
        bytes[*at..*at + SALT_LEN].fill(0);
        *at += SALT_LEN;
        Ok(salt)
    })
}

/// The fields `export --reveal` names, each covering the committed fields of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reveal {
    /// Local paths: `details.path`, `details.path_hex` (ingest, acquire), `details.out` (extract).
    Path,
    /// The host name of every event.
    Host,
    /// Cases other than the exported one (the `case` of events).
    Cases,
    Source,
    Note,
}

impl Reveal {
    pub const ALL: [Reveal; 5] = [
        Reveal::Path,
        Reveal::Host,
        Reveal::Cases,
        Reveal::Source,
        Reveal::Note,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reveal::Path => "path",
            Reveal::Host => "host",
            Reveal::Cases => "cases",
            Reveal::Source => "source",
            Reveal::Note => "note",
        }
    }

    pub fn parse(name: &str) -> Option<Reveal> {
        Reveal::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The reveal name a committed field path falls under; `None` for a field no name covers.
    pub fn of_field(path: &str) -> Option<Reveal> {
        Some(match path {
            "host" => Reveal::Host,
            "case" => Reveal::Cases,
            "details.path" | "details.path_hex" | "details.out" => Reveal::Path,
            "details.source" => Reveal::Source,
            "details.note" => Reveal::Note,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commitment_is_sha256_of_salt_and_canonical_value() {
        let mut openings = Openings::default();
        let hidden = openings.commit("details.note", Some("a note")).unwrap();
        let opening = openings.get("details.note").unwrap();
        let salt = hex::decode(&opening.salt).unwrap();
        assert_eq!(salt.len(), SALT_LEN);
        let expected: [u8; 32] = Sha256::new()
            .chain_update(&salt)
            .chain_update(b"\"a note\"")
            .finalize()
            .into();
        assert_eq!(hidden, Disclosed::Hidden(Commitment(expected)));
        let Disclosed::Hidden(c) = hidden else {
            unreachable!()
        };
        assert!(opening.opens(&c));
        let forged = Opening {
            value: Value::from("another note"),
            ..opening.clone()
        };
        assert!(!forged.opens(&c), "another value");
        let short = Opening {
            salt: hex::encode(&salt[..8]),
            ..opening.clone()
        };
        assert!(!short.opens(&c), "a salt under 16 bytes");
    }

    #[test]
    fn both_forms_round_trip_and_are_told_apart_by_shape() {
        let mut openings = Openings::default();
        let hidden = openings.commit("details.source", None::<String>).unwrap();
        let text = serde_json::to_string(&hidden).unwrap();
        assert!(text.starts_with("{\"commit\":\"sha256:"), "{text}");
        let back: Disclosed<Option<String>> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, hidden);
        let plain: Disclosed<Option<String>> = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(plain, Disclosed::Plain(Some("x".into())));
        let null: Disclosed<Option<String>> = serde_json::from_str("null").unwrap();
        assert_eq!(null, Disclosed::Plain(None));
        let bad = serde_json::from_str::<Disclosed<String>>("{\"commit\":\"md5:00\"}");
        assert!(bad.is_err(), "a malformed commitment is not a value");
    }

    #[test]
    fn the_stored_record_is_the_canonical_json_of_the_openings() {
        let mut openings = Openings::default();
        openings.commit("host", "h\"é").unwrap();
        openings.commit("details.note", None::<String>).unwrap();
        let value = serde_json::to_value(&openings).unwrap();
        assert_eq!(openings.to_canonical(), canonical_json(&value));
        assert_eq!(
            Openings::parse(&openings.to_canonical()).unwrap(),
            openings_without_made(&openings)
        );
        let (a, b) = (fresh_salt().unwrap(), fresh_salt().unwrap());
        assert_ne!(a, b, "each salt is fresh");
    }

    fn openings_without_made(o: &Openings) -> Openings {
        let mut out = Openings::default();
        for (k, v) in o.iter() {
            out.insert(k.to_owned(), v.clone());
        }
        out
    }

    #[test]
    fn every_reveal_name_parses_and_covers_its_fields() {
        for r in Reveal::ALL {
            assert_eq!(Reveal::parse(r.name()), Some(r));
        }
        assert_eq!(Reveal::parse("paths"), None);
        assert_eq!(Reveal::of_field("details.path_hex"), Some(Reveal::Path));
        assert_eq!(Reveal::of_field("details.blake3"), None);
    }
}
