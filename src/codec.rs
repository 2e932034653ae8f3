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
        fn chunk_frames_round_trip(raw in any::<bool>(), len: u32, payload: Vec<u8>) {
            let c = if raw { Compression::Raw } else { Compression::Zstd };
            let bytes = encode_chunk(c, len, &payload);
            let frame = decode_chunk(&bytes).unwrap();
            prop_assert_eq!(frame, ChunkFrame { compression: c, raw_len: len, payload: &payload });
        }
    }
}
