//! The objects of a replica (docs/FORMAT.md, "Replicas"): what each holds, how it is named,
//! and the byte layouts of their plaintexts. Nothing here talks to a server.
//!
//! Names are a BLAKE3 keyed hash of what the object is (`volume/000003`, `log/1-42`, ...)
//! under the replica's name key, so the server learns neither file names, case ids,
//! content hashes nor even which object is which volume; and a name is known before the
//! object is made, so an interrupted push can tell what already arrived.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Objects holding volumes, the log and content records.
pub const DATA_DIR: &str = "data";
/// One manifest per push: everything a restore needs to find the rest.
pub const MANIFEST_DIR: &str = "manifests";

/// The layout version a manifest states; another is refused.
pub const MANIFEST_VERSION: u32 = 1;

/// A log segment holds at most this many events, and stops once it passes this many bytes.
pub const SEGMENT_EVENTS: u64 = 4096;
pub const SEGMENT_BYTES: usize = 8 << 20;

const VOLUME_MAGIC: &[u8; 8] = b"CUSTVOL\x01";
const CONTENTS_MAGIC: &[u8; 8] = b"CUSTCON\x01";

/// What an object holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    /// One closed volume, whole.
    Volume(u32),
    /// Custody events `first..=last`, their exact bytes, one per line.
    Log { first: u64, last: u64 },
    /// The content records introduced by the ingest events `first..=last`.
    Contents { first: u64, last: u64 },
    /// The openings of the committed fields of events `first..=last` (issue 11.7), one
    /// canonical line `{"openings":{…},"seq":n}` per event that has any.
    Openings { first: u64, last: u64 },
    /// A push's manifest, for the log up to `head`; `digest` is hex SHA-256 of its plaintext.
    Manifest { head: u64, digest: String },
    /// A push's own event `seq`, alone, stored once it is committed (`tail.rs`).
    PushEvent(u64),
}

impl What {
    /// The label the name is derived from, and that push events and manifests record.
    pub fn label(&self) -> String {
        match self {
            What::Volume(n) => format!("volume/{n:06}"),
            What::Log { first, last } => format!("log/{first}-{last}"),
            What::Contents { first, last } => format!("contents/{first}-{last}"),
            What::Openings { first, last } => format!("openings/{first}-{last}"),
            What::Manifest { head, digest } => format!("manifest/{head}/{digest}"),
            What::PushEvent(seq) => format!("push/{seq}"),
        }
    }

    pub fn parse(label: &str) -> Option<What> {
        let (kind, rest) = label.split_once('/')?;
        let range = |r: &str| -> Option<(u64, u64)> {
            let (a, b) = r.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        match kind {
            "volume" => rest.parse().ok().map(What::Volume),
            "log" => range(rest).map(|(first, last)| What::Log { first, last }),
            "contents" => range(rest).map(|(first, last)| What::Contents { first, last }),
            "push" => rest.parse().ok().map(What::PushEvent),
            "openings" => range(rest).map(|(first, last)| What::Openings { first, last }),
            "manifest" => {
                let (head, digest) = rest.split_once('/')?;
                Some(What::Manifest {
                    head: head.parse().ok()?,
                    digest: digest.to_owned(),
                })
            }
            _ => None,
        }
    }

    /// The object's name under the replica's prefix: `data/<64 hex>` or `manifests/<64 hex>`.
    pub fn object_name(&self, name_key: &[u8; 32]) -> String {
        let hash = blake3::keyed_hash(name_key, self.label().as_bytes()).to_hex();
        let dir = match self {
            What::Manifest { .. } => MANIFEST_DIR,
            _ => DATA_DIR,
        };
        format!("{dir}/{hash}")
    }
}

/// One line of an openings object.
#[derive(Serialize, Deserialize)]
pub struct OpeningsLine {
    pub openings: crate::custody::disclosure::Openings,
    pub seq: u64,
}

impl OpeningsLine {
    /// The line's bytes: canonical JSON, as openings objects and push-event objects hold it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("openings are plain JSON data");
        crate::custody::canonical_json(&value)
    }
}

/// An object as stored: what it is, its name, and the size and SHA-256 of its stored
/// (encrypted) bytes, with the ETag the server gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub what: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default)]
    pub etag: String,
}

impl Stored {
    pub fn of(what: &What, name: String, bytes: &[u8], etag: String) -> Stored {
        Stored {
            what: what.label(),
            name,
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            etag,
        }
    }

    /// The form a push event records: `<what> <name> <size> <sha256> <etag or ->`.
    pub fn to_line(&self) -> String {
        let etag = if self.etag.is_empty() {
            "-"
        } else {
            &self.etag
        };
        format!(
            "{} {} {} {} {}",
            self.what, self.name, self.size, self.sha256, etag
        )
    }

    pub fn parse_line(line: &str) -> Option<Stored> {
        let mut parts = line.split(' ');
        let what = parts.next()?.to_owned();
        let name = parts.next()?.to_owned();
        let size = parts.next()?.parse().ok()?;
        let sha256 = parts.next()?.to_owned();
        let etag = match parts.next()? {
            "-" => String::new(),
            e => e.to_owned(),
        };
        parts.next().is_none().then_some(Stored {
            what,
            name,
            size,
            sha256,
            etag,
        })
    }
}

/// What a manifest says of the archive: its `meta/archive` record, field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestArchive {
    pub format: u32,
    pub archive_id: String,
    pub created_at: String,
    pub chunk_size: u32,
    pub tool: String,
}

/// A push's manifest: the archive record, the head the replica holds, and every object
/// (of this push and the earlier ones) a restore reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub custodia_replica: u32,
    pub archive: ManifestArchive,
    pub head: u64,
    pub head_sha256: String,
    pub objects: Vec<Stored>,
    /// The object that will hold this push's own event (`push/<head + 1>`), stored once
    /// the event is committed. Absent in manifests of earlier releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_event: Option<String>,
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::Damaged(format!("a replica manifest does not parse: {e}")))?;
        if m.custodia_replica != MANIFEST_VERSION {
            return Err(Error::Damaged(format!(
                "a replica manifest has layout version {}, which this custodia does not read",
                m.custodia_replica
            )));
        }
        Ok(m)
    }
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// A volume object: `CUSTVOL 0x01 ‖ volume u32 LE ‖ tree name length u8 ‖ tree name ‖
/// count u64 LE ‖ count × (key length u32 LE ‖ key ‖ value length u32 LE ‖ value)`.
pub fn encode_volume(number: u32, tree: &str, entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let size: usize = entries.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(32 + size);
    out.extend_from_slice(VOLUME_MAGIC);
    put_u32(&mut out, number);
    out.push(tree.len() as u8);
    out.extend_from_slice(tree.as_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (k, v) in entries {
        put_u32(&mut out, k.len() as u32);
        out.extend_from_slice(k);
        put_u32(&mut out, v.len() as u32);
        out.extend_from_slice(v);
    }
    out
}

/// A decoded volume object.
pub struct VolumeObject {
    pub number: u32,
    pub tree: String,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

pub fn decode_volume(bytes: &[u8]) -> Option<VolumeObject> {
    let mut c = Cursor(bytes);
    if c.take(8)? != VOLUME_MAGIC {
        return None;
    }
    let number = c.u32()?;
    let len = c.take(1)?[0] as usize;
    let tree = std::str::from_utf8(c.take(len)?).ok()?.to_owned();
    let count = c.u64()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let k = c.u32()? as usize;
        let key = c.take(k)?.to_vec();
        let v = c.u32()? as usize;
        entries.push((key, c.take(v)?.to_vec()));
    }
    c.0.is_empty().then_some(VolumeObject {
        number,
        tree,
        entries,
    })
}

/// A contents object: `CUSTCON 0x01 ‖ count u64 LE ‖ count × (content address [32] ‖
/// record length u32 LE ‖ ContentRecord record)`.
pub fn encode_contents(records: &[([u8; 32], Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(CONTENTS_MAGIC);
    out.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for (id, record) in records {
        out.extend_from_slice(id);
        put_u32(&mut out, record.len() as u32);
        out.extend_from_slice(record);
    }
    out
}

pub fn decode_contents(bytes: &[u8]) -> Option<Vec<([u8; 32], Vec<u8>)>> {
    let mut c = Cursor(bytes);
    if c.take(8)? != CONTENTS_MAGIC {
        return None;
    }
    let count = c.u64()?;
    let mut out = Vec::new();
    for _ in 0..count {
        let id: [u8; 32] = c.take(32)?.try_into().ok()?;
        let len = c.u32()? as usize;
        out.push((id, c.take(len)?.to_vec()));
    }
    c.0.is_empty().then_some(out)
}

/// A log object: each event's exact bytes followed by `\n` (canonical JSON holds no raw
/// newline), in seq order.
pub fn encode_log<'a>(events: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(e);
        out.push(b'\n');
    }
    out
}

pub fn decode_log(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let body = bytes.strip_suffix(b"\n")?;
    Some(body.split(|b| *b == b'\n').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_names_hide_them() {
        let key = [7u8; 32];
        for what in [
            What::Volume(3),
            What::Log { first: 1, last: 42 },
            What::Contents { first: 1, last: 42 },
            What::Openings { first: 1, last: 42 },
            What::Manifest {
                head: 42,
                digest: "ab".into(),
            },
            What::PushEvent(43),
        ] {
            assert_eq!(What::parse(&what.label()), Some(what.clone()));
            let name = what.object_name(&key);
            assert!(!name.contains(&what.label()), "{name}");
            assert_ne!(
                name,
                what.object_name(&[8u8; 32]),
                "the key decides the name"
            );
        }
    }

    #[test]
    fn objects_decode_what_was_encoded_and_refuse_a_truncation() {
        let entries = vec![(vec![0, 0, 0, 1], vec![1; 100]), (vec![0, 0, 0, 2], vec![])];
        let bytes = encode_volume(9, "packs", &entries);
        let v = decode_volume(&bytes).unwrap();
        assert_eq!(
            (v.number, v.tree.as_str(), v.entries),
            (9, "packs", entries)
        );
        assert!(decode_volume(&bytes[..bytes.len() - 1]).is_none());
        let records = vec![([1u8; 32], vec![1, 2, 3])];
        assert_eq!(
            decode_contents(&encode_contents(&records)).unwrap(),
            records
        );
        let log = encode_log([&b"{\"a\":1}"[..], b"{}"].into_iter());
        assert_eq!(decode_log(&log).unwrap(), vec![&b"{\"a\":1}"[..], b"{}"]);
        let s = Stored::of(&What::Volume(1), "data/x".into(), b"abc", String::new());
        assert_eq!(Stored::parse_line(&s.to_line()), Some(s));
    }
}
