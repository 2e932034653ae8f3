//! Identifier and digest types: each kind of name is its own type, so one cannot stand in for another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name given on the command line that is not an id of its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error(
        "{0:?} is neither an evidence id (EV-000042) nor a BLAKE3 or SHA-256 hash (or a prefix of at least 8 hex characters)"
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

/// How a user names an evidence item on the command line: its id, or a prefix of its
/// BLAKE3 or SHA-256 hash (capture tools and courts name files by SHA-256, issue 12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemRef {
    Id(EvidenceId),
    /// 8 to 64 lower-case hex characters of the content's BLAKE3 or SHA-256 hash.
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

/// A point in time as a person gives it (issue 12, point 4): a calendar day alone, or a
/// time of day with its UTC offset. Only the comparison lives here; the text recorded is
/// the text given, so its precision is kept (a day stays a day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    Day(chrono::NaiveDate),
    At(chrono::DateTime<chrono::FixedOffset>),
}

/// Why a text is not a `Moment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MomentError {
    /// Not one of the accepted forms (`02/03/2024`, `yesterday`, a 13th month).
    Unreadable,
    /// A well-formed time of day with no zone: which instant it is depends on where it was.
    NoZone(chrono::NaiveDateTime),
}

impl Moment {
    /// Parses `2024-03-02`, or `2024-03-02T14:05`, `…T14:05:09` or `…T14:05:09.25` followed
    /// by `Z` or `±HH:MM` (RFC 3339 is the last two forms; `t`, `z` and a space instead of
    /// `T` are accepted as RFC 3339 allows).
    pub fn parse(text: &str) -> std::result::Result<Moment, MomentError> {
        use chrono::{NaiveDate, NaiveTime, TimeZone};
        let bad = MomentError::Unreadable;
        let date = text
            .get(..10)
            .filter(|d| shaped(d, "dddd-dd-dd"))
            .ok_or(bad)?;
        let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad)?;
        let rest = &text[10..];
        if rest.is_empty() {
            return Ok(Moment::Day(day));
        }
        let rest = rest
            .strip_prefix(['T', 't', ' '])
            .filter(|r| r.is_ascii())
            .ok_or(bad)?;
        let (clock, zone) = rest.split_at(rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len()));
        let format = match clock.len() {
            5 if shaped(clock, "dd:dd") => "%H:%M",
            8 if shaped(clock, "dd:dd:dd") => "%H:%M:%S",
            10.. if shaped(&clock[..9], "dd:dd:dd.") && shaped(&clock[9..], "d") => "%H:%M:%S%.f",
            _ => return Err(bad),
        };
        let time = NaiveTime::parse_from_str(clock, format).map_err(|_| bad)?;
        let local = day.and_time(time);
        if zone.is_empty() {
            return Err(MomentError::NoZone(local));
        }
        let offset = match zone {
            "Z" | "z" => chrono::FixedOffset::east_opt(0),
            _ => parse_numeric_offset(zone),
        }
        .ok_or(bad)?;
        let at = offset.from_local_datetime(&local).single().ok_or(bad)?;
        Ok(Moment::At(at))
    }

    /// The calendar day, as written (a time's day in its own offset).
    pub fn day(&self) -> chrono::NaiveDate {
        match self {
            Moment::Day(d) => *d,
            Moment::At(t) => t.date_naive(),
        }
    }

    /// On or after `bound`: two times compare as instants; when either is a day alone,
    /// they compare by calendar day, so a day bound takes in the whole day.
    pub fn not_before(&self, bound: &Moment) -> bool {
        match (self, bound) {
            (Moment::At(a), Moment::At(b)) => a >= b,
            _ => self.day() >= bound.day(),
        }
    }

    /// On or before `bound`, by the same rule as `not_before`.
    pub fn not_after(&self, bound: &Moment) -> bool {
        match (self, bound) {
            (Moment::At(a), Moment::At(b)) => a <= b,
            _ => self.day() <= bound.day(),
        }
    }
}

/// A UTC offset as people write it: `+03:00`, `-05:30`, `Z` or `UTC` (any case).
pub fn parse_offset(text: &str) -> Option<chrono::FixedOffset> {
    if ["z", "utc"].iter().any(|u| text.eq_ignore_ascii_case(u)) {
        return chrono::FixedOffset::east_opt(0);
    }
    parse_numeric_offset(text)
}

/// `±HH:MM`, hours 0 to 23 and minutes 0 to 59.
fn parse_numeric_offset(text: &str) -> Option<chrono::FixedOffset> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = text.get(1..).filter(|d| shaped(d, "dd:dd"))?;
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[3..].parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    chrono::FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// Whether `text` has the shape of `pattern`, where `d` is one ASCII digit and anything
/// else stands for itself; a lone `d` pattern means one or more digits.
fn shaped(text: &str, pattern: &str) -> bool {
    if pattern == "d" {
        return !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    }
    text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(t, p)| match p {
            b'd' => t.is_ascii_digit(),
            _ => t == p,
        })
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
    fn moments_keep_days_apart_from_times() {
        use chrono::NaiveDate;
        let day = NaiveDate::from_ymd_opt(2024, 3, 2).unwrap();
        assert_eq!(Moment::parse("2024-03-02"), Ok(Moment::Day(day)));
        for zoned in [
            "2024-03-02T14:05Z",
            "2024-03-02T14:05:09+03:00",
            "2024-03-02t14:05:09.250z",
            "2024-03-02 14:05-05:30",
        ] {
            assert!(matches!(Moment::parse(zoned), Ok(Moment::At(_))), "{zoned}");
        }
        assert!(matches!(
            Moment::parse("2024-03-02T14:05"),
            Err(MomentError::NoZone(_))
        ));
        for bad in [
            "02/03/2024",
            "2024-3-2",
            "2024-13-02",
            "2024-03-02T14",
            "2024-03-02T14:05+3",
            "2024-03-02T25:00Z",
            "2024-03-02T14:05+24:00",
            "2024-03-02T14:05:09.Z",
            "yesterday",
        ] {
            assert_eq!(Moment::parse(bad), Err(MomentError::Unreadable), "{bad}");
        }
    }

    #[test]
    fn moments_compare_by_day_when_one_is_a_day() {
        let m = |t: &str| Moment::parse(t).unwrap();
        // Late on the 2nd at +03:00 is the 2nd as written, though it is the 2nd in UTC too.
        assert!(m("2024-03-02T23:30+03:00").not_before(&m("2024-03-02")));
        assert!(m("2024-03-02T23:30+03:00").not_after(&m("2024-03-02")));
        assert!(!m("2024-03-03T00:10+03:00").not_after(&m("2024-03-02")));
        assert!(m("2024-03-02").not_before(&m("2024-03-02T23:59Z")));
        // Two times compare as instants, whatever their offsets.
        assert!(m("2024-03-02T14:00+03:00").not_after(&m("2024-03-02T11:00Z")));
        assert!(!m("2024-03-02T14:01+03:00").not_after(&m("2024-03-02T11:00Z")));
        assert_eq!(parse_offset("UTC"), chrono::FixedOffset::east_opt(0));
        assert_eq!(
            parse_offset("-05:30"),
            chrono::FixedOffset::west_opt(5 * 3600 + 1800)
        );
        assert_eq!(parse_offset("Europe/Kyiv"), None);
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
