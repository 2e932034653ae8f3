//! Versioned record encoding: every byte custodia stores in sled is made and read here.
//!
//! Each record starts with one format-version byte, then its body. Bodies of index
//! records are bincode 2.0.1 with a fixed, documented configuration (little-endian,
//! fixed-width integers), so `docs/FORMAT.md` can describe them byte by byte and a
//! reader needs no bincode. Chunks and custody events have hand-laid bodies.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The version byte every record written by this release starts with.
pub const RECORD_VERSION: u8 = 1;

/// No stored record may make a decoder allocate more than this.
const MAX_RECORD: usize = 64 << 20;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::Limit<MAX_RECORD>,
>;

fn config() -> Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_RECORD>()
}

/// Encodes a record as `[RECORD_VERSION] ++ bincode(body)`.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    // Serializing plain structs into a Vec cannot fail; the limit only bounds decoding.
    bincode::serde::encode_into_std_write(record, &mut out, config())
        .expect("encoding a record into memory cannot fail");
    out
}

/// Decodes a record written by `encode`, refusing unknown versions and trailing bytes.
pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    let body = versioned_body(what, bytes)?;
    let (value, used) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| Error::Damaged(format!("{what}: cannot decode record: {e}")))?;
    if used != body.len() {
        return Err(Error::Damaged(format!(
            "{what}: {} unexpected bytes after the record",
            body.len() - used
        )));
    }
    Ok(value)
}

fn versioned_body<'a>(what: &str, bytes: &'a [u8]) -> Result<&'a [u8]> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, body)) => Ok(body),
        Some((v, _)) => Err(Error::Damaged(format!(
            "{what}: unknown record version {v}"
        ))),
        None => Err(Error::Damaged(format!("{what}: empty record"))),
    }
}

/// How a chunk's payload is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// The chunk's bytes as they are (zstd would not have made them smaller).
    Raw = 0,
    /// One zstd frame.
    Zstd = 1,
}

/// A stored chunk, borrowed from its sled value: `[version][compression u8][raw_len u32 LE][payload]`.
#[derive(Debug, PartialEq, Eq)]
pub struct ChunkFrame<'a> {
    pub compression: Compression,
    pub raw_len: u32,
    pub payload: &'a [u8],
}

const CHUNK_HEADER: usize = 1 + 1 + 4;

pub fn encode_chunk(compression: Compression, raw_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHUNK_HEADER + payload.len());
    out.push(RECORD_VERSION);
    out.push(compression as u8);
    out.extend_from_slice(&raw_len.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn decode_chunk(bytes: &[u8]) -> Result<ChunkFrame<'_>> {
    let body = versioned_body("chunk", bytes)?;
    if body.len() < CHUNK_HEADER - 1 {
        return Err(Error::Damaged(
            "chunk: record shorter than its header".into(),
        ));
    }
    let compression = match body[0] {
        0 => Compression::Raw,
        1 => Compression::Zstd,
        other => {
            return Err(Error::Damaged(format!(
                "chunk: unknown compression {other}"
            )));
        }
    };
    let raw_len = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
    Ok(ChunkFrame {
        compression,
        raw_len,
        payload: &body[5..],
    })
}

/// Where a chunk is stored: the value of `chunk_volumes/<chunk id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkLocation {
    /// Format 1: the chunk is the record under its id in the volume's `chunks` tree.
    /// Stored as `[1][volume u32 LE]`.
    Volume(u32),
    /// Format 2: the chunk is the pack entry starting at `offset` in pack `pack` of the
    /// volume's `packs` tree. Stored as `[2][volume u32 LE][pack u32 LE][offset u32 LE]`.
    Packed { volume: u32, pack: u32, offset: u32 },
}

/// The record version of a packed chunk location.
const PACKED_LOCATION: u8 = 2;

impl ChunkLocation {
    pub fn volume(&self) -> u32 {
        match *self {
            ChunkLocation::Volume(v) | ChunkLocation::Packed { volume: v, .. } => v,
        }
    }

    /// (volume, pack): the order that reads every volume and pack once.
    pub fn volume_and_pack(&self) -> (u32, u32) {
        match *self {
            ChunkLocation::Volume(v) => (v, 0),
            ChunkLocation::Packed { volume, pack, .. } => (volume, pack),
        }
    }
}

pub fn encode_location(location: &ChunkLocation) -> Vec<u8> {
    match *location {
        ChunkLocation::Volume(volume) => encode(&volume),
        ChunkLocation::Packed {
            volume,
            pack,
            offset,
        } => {
            let mut out = Vec::with_capacity(13);
            out.push(PACKED_LOCATION);
            for n in [volume, pack, offset] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            out
        }
    }
}

pub fn decode_location(what: &str, bytes: &[u8]) -> Result<ChunkLocation> {
    match bytes.split_first() {
        Some((&PACKED_LOCATION, body)) => {
            let n = |i: usize| {
                body.get(i * 4..i * 4 + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_le_bytes)
            };
            match (n(0), n(1), n(2), body.len()) {
                (Some(volume), Some(pack), Some(offset), 12) => Ok(ChunkLocation::Packed {
                    volume,
                    pack,
                    offset,
                }),
                _ => Err(Error::Damaged(format!(
                    "{what}: a packed location is 13 bytes, this one {}",
                    bytes.len()
                ))),
            }
        }
        _ => decode(what, bytes).map(ChunkLocation::Volume),
    }
}

/// A pack: several chunk records in one volume value, each behind its chunk id and length,
/// so that a pack can be read, and every chunk in it checked, without the index.
///
/// Layout: `[1]` then entries `[chunk id 32][record length u32 LE][chunk record]`.
pub struct PackBuilder {
    bytes: Vec<u8>,
}

const PACK_ENTRY_HEADER: usize = 32 + 4;

impl Default for PackBuilder {
    fn default() -> Self {
        Self {
            bytes: vec![RECORD_VERSION],
        }
    }
}

impl PackBuilder {
    /// Appends an entry; returns its offset in the pack.
    pub fn push(&mut self, id: &[u8; 32], record: &[u8]) -> u32 {
        let offset = self.bytes.len() as u32;
        self.bytes.extend_from_slice(id);
        self.bytes
            .extend_from_slice(&(record.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(record);
        offset
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.len() == 1
    }

    /// The finished pack; the builder starts over.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.bytes, vec![RECORD_VERSION])
    }
}

/// One entry of a pack: where it starts, the chunk it holds, and where its record lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackEntry {
    pub offset: u32,
    pub id: [u8; 32],
    pub record: std::ops::Range<usize>,
}

/// The entry of a pack that starts at `offset`.
pub fn pack_entry(pack: &[u8], offset: u32) -> Result<PackEntry> {
    versioned_body("pack", pack)?;
    let at = offset as usize;
    let damaged = || Error::Damaged(format!("pack: no whole entry at offset {offset}"));
    if at == 0 {
        return Err(damaged());
    }
    let header = pack
        .get(at..at.saturating_add(PACK_ENTRY_HEADER))
        .ok_or_else(damaged)?;
    let mut id = [0u8; 32];
    id.copy_from_slice(&header[..32]);
    let len = u32::from_le_bytes([header[32], header[33], header[34], header[35]]) as usize;
    let start = at + PACK_ENTRY_HEADER;
    let end = start.checked_add(len).ok_or_else(damaged)?;
    if end > pack.len() {
        return Err(damaged());
    }
    Ok(PackEntry {
        offset,
        id,
        record: start..end,
    })
}

/// Every entry of a pack, in order; an error at the first entry that does not fit.
pub fn pack_entries(pack: &[u8]) -> Result<Vec<PackEntry>> {
    versioned_body("pack", pack)?;
    let mut out = Vec::new();
    let mut at = 1usize;
    while at < pack.len() {
        let offset =
            u32::try_from(at).map_err(|_| Error::Damaged("pack: larger than 4 GiB".into()))?;
        let entry = pack_entry(pack, offset)?;
        at = entry.record.end;
        out.push(entry);
    }
    Ok(out)
}

/// Encodes a custody event's canonical JSON bytes for storage: `[version] ++ json`.
pub fn encode_event(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + json.len());
    out.push(RECORD_VERSION);
    out.extend_from_slice(json);
    out
}

/// The canonical JSON bytes of a stored custody event.
pub fn decode_event(bytes: &[u8]) -> Result<&[u8]> {
    versioned_body("custody event", bytes)
}

/// An openings record (`openings/<seq>`): the version byte, then the canonical JSON of the
/// openings (docs/FORMAT.md, "Commitments").
pub fn encode_openings(openings: &crate::custody::disclosure::Openings) -> Vec<u8> {
    encode_event(&openings.to_canonical())
}

pub fn decode_openings(what: &str, bytes: &[u8]) -> Result<crate::custody::disclosure::Openings> {
    let body = versioned_body(what, bytes)?;
    crate::custody::disclosure::Openings::parse(body)
        .map_err(|e| Error::Damaged(format!("{what}: {e}")))
}

/// Big-endian u64, the key form of sequence numbers and item numbers.
pub fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn u64_from_key(what: &str, bytes: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| Error::Damaged(format!("{what}: key is {} bytes, not 8", bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Sample {
        n: u64,
        name: Vec<u8>,
        text: Option<String>,
        digest: [u8; 32],
        list: Vec<String>,
    }

    #[test]
    fn layout_is_the_documented_one() {
        let s = Sample {
            n: 1,
            name: vec![0xff],
            text: None,
            digest: [7; 32],
            list: vec!["a".into()],
        };
        let mut want = vec![RECORD_VERSION];
        want.extend(1u64.to_le_bytes());
        want.extend(1u64.to_le_bytes());
        want.push(0xff);
        want.push(0); // None
        want.extend([7u8; 32]); // arrays carry no length
        want.extend(1u64.to_le_bytes());
        want.extend(1u64.to_le_bytes());
        want.push(b'a');
        assert_eq!(encode(&s), want);
    }

    #[test]
    fn unknown_versions_and_trailing_bytes_are_refused() {
        let mut bytes = encode(&5u64);
        bytes[0] = 9;
        assert!(decode::<u64>("x", &bytes).is_err());
        let mut bytes = encode(&5u64);
        bytes.push(0);
        assert!(decode::<u64>("x", &bytes).is_err());
        assert!(decode::<u64>("x", &[]).is_err());
    }

    proptest! {
        #[test]
        fn records_round_trip(n: u64, name: Vec<u8>, text: Option<String>, digest: [u8; 32], list: Vec<String>) {
            let s = Sample { n, name, text, digest, list };
            prop_assert_eq!(decode::<Sample>("s", &encode(&s)).unwrap(), s);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes: Vec<u8>) {
            let _ = decode::<Sample>("s", &bytes);
            let _ = decode_chunk(&bytes);
            let _ = decode_event(&bytes);
        }

        #[test]
        fn locations_round_trip(volume: u32, pack: u32, offset: u32, legacy: bool) {
            let l = if legacy {
                ChunkLocation::Volume(volume)
            } else {
                ChunkLocation::Packed { volume, pack, offset }
            };
            let bytes = encode_location(&l);
            prop_assert_eq!(bytes.len(), if legacy { 5 } else { 13 });
            prop_assert_eq!(decode_location("l", &bytes).unwrap(), l);
        }

        #[test]
        fn packs_round_trip(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20)) {
            let mut pack = PackBuilder::default();
            let mut placed = Vec::new();
            for (i, r) in records.iter().enumerate() {
                placed.push(pack.push(&[i as u8; 32], r));
            }
            let bytes = pack.take();
            prop_assert!(pack.is_empty());
            let entries = pack_entries(&bytes).unwrap();
            prop_assert_eq!(entries.len(), records.len());
            for (i, (entry, r)) in entries.iter().zip(&records).enumerate() {
                prop_assert_eq!(entry.offset, placed[i]);
                prop_assert_eq!(entry.id, [i as u8; 32]);
                prop_assert_eq!(&bytes[entry.record.clone()], r.as_slice());
                prop_assert_eq!(&pack_entry(&bytes, entry.offset).unwrap(), entry);
            }
        }

        #[test]
        fn hostile_packs_and_locations_never_panic(bytes: Vec<u8>, offset: u32) {
            let _ = pack_entries(&bytes);
            let _ = pack_entry(&bytes, offset);
            let _ = decode_location("l", &bytes);
        }

        #[test]
        fn chunk_frames_round_trip(raw in any::<bool>(), len: u32, payload: Vec<u8>) {
            let c = if raw { Compression::Raw } else { Compression::Zstd };
            let bytes = encode_chunk(c, len, &payload);
            let frame = decode_chunk(&bytes).unwrap();
            prop_assert_eq!(frame, ChunkFrame { compression: c, raw_len: len, payload: &payload });
        }
    }
}
