//! One chunk's compression and its bounded, checked decompression.

use std::io::Read;

use crate::codec::{self, ChunkFrame, Compression};
use crate::error::{Error, Result};
use crate::ids::ChunkId;

/// Files are cut into chunks of this many bytes (the last one shorter).
pub const CHUNK_SIZE: usize = 1 << 20;

/// No chunk may claim or decompress to more than this, whatever its record says.
pub const MAX_CHUNK: usize = 16 << 20;

const ZSTD_LEVEL: i32 = 3;

/// Compressed output must save at least 1/32 of the chunk, or the chunk is stored raw:
/// decompressing costs time on every read, so it has to buy real space.
fn worth_it(raw: usize, compressed: usize) -> bool {
    compressed < raw - raw / 32
}

/// Makes the stored record of a chunk: zstd when that pays, raw bytes otherwise.
pub fn compress_chunk(raw: &[u8]) -> Vec<u8> {
    Packer::default().pack(raw)
}

/// Compresses chunks with one reused zstd context (a fresh context per chunk costs more
/// in clearing its tables than compressing incompressible data does).
#[derive(Default)]
pub struct Packer {
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

/// The sample a chunk is first tried on: most evidence is photos and video, which zstd
/// cannot shrink; a small probe saves compressing a whole chunk to learn that.
const PROBE: usize = 64 << 10;

impl Packer {
    pub fn pack(&mut self, raw: &[u8]) -> Vec<u8> {
        let len = raw.len() as u32;
        if raw.len() >= 64
            && let Some(packed) = self.try_compress(raw)
        {
            return codec::encode_chunk(Compression::Zstd, len, &packed);
        }
        codec::encode_chunk(Compression::Raw, len, raw)
    }

    fn try_compress(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        if self.zstd.is_none() {
            self.zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        let zstd = self.zstd.as_mut()?;
        if raw.len() > 2 * PROBE {
            let sample = &raw[..PROBE];
            let probe = zstd.compress(sample).ok()?;
            if !worth_it(sample.len(), probe.len()) {
                return None;
            }
        }
        let packed = zstd.compress(raw).ok()?;
        worth_it(raw.len(), packed.len()).then_some(packed)
    }
}

/// Decodes a stored chunk into `out`, refusing anything that is not exactly the bytes `id` names.
pub fn decompress_chunk(id: &ChunkId, stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
    unpack(id, stored, out)?;
    check_id(id, out)
}

/// The check that a chunk's bytes are the ones its id names (BLAKE3).
pub fn check_id(id: &ChunkId, raw: &[u8]) -> Result<()> {
    if ChunkId::from(blake3::hash(raw)) != *id {
        return Err(Error::Damaged(format!(
            "chunk {id}: its bytes do not hash to its id"
        )));
    }
    Ok(())
}

/// Decodes a stored chunk into `out`: exactly its claimed length, or damage. The caller
/// checks the bytes against the chunk's id (`check_id`).
///
/// zstd frames are read with the streaming decoder, whose window limit refuses a frame that
/// asks for more than 2^24 bytes of window (docs/FORMAT.md, "Reading a chunk"); the one-shot
/// decoder would not look.
pub fn unpack(id: &ChunkId, stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let damaged = |what: String| Error::Damaged(format!("chunk {id}: {what}"));
    let ChunkFrame {
        compression,
        raw_len,
        payload,
    } = codec::decode_chunk(stored)?;
    let raw_len = raw_len as usize;
    if raw_len > MAX_CHUNK {
        return Err(damaged(format!(
            "claims {raw_len} bytes, more than the {MAX_CHUNK} allowed"
        )));
    }
    out.clear();
    match compression {
        Compression::Raw => out.extend_from_slice(payload),
        Compression::Zstd => {
            // Read at most one byte past the claimed length: enough to see a frame that
            // yields more than it should, never enough to let a bomb fill memory.
            let mut decoder = zstd::stream::read::Decoder::with_buffer(payload)
                .map_err(|e| damaged(format!("bad zstd frame: {e}")))?;
            decoder
                .window_log_max(24)
                .map_err(|e| damaged(format!("bad zstd frame: {e}")))?;
            out.reserve(raw_len);
            decoder
                .take(raw_len as u64 + 1)
                .read_to_end(out)
                .map_err(|e| damaged(format!("bad zstd frame: {e}")))?;
        }
    }
    if out.len() != raw_len {
        return Err(damaged(format!(
            "holds {} bytes, its record says {raw_len}",
            out.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(raw: &[u8]) -> Vec<u8> {
        let id = ChunkId::from(blake3::hash(raw));
        let stored = compress_chunk(raw);
        let mut out = Vec::new();
        decompress_chunk(&id, &stored, &mut out).unwrap();
        out
    }

    #[test]
    fn compressible_chunks_are_compressed_and_random_ones_are_not() {
        let text = b"witness statement ".repeat(1000);
        let stored = compress_chunk(&text);
        assert!(stored.len() < text.len() / 10);
        assert_eq!(
            codec::decode_chunk(&stored).unwrap().compression,
            Compression::Zstd
        );

        let noise: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let noise = blake3::Hasher::new().update(&noise).finalize_xof();
        let mut random = vec![0u8; 100_000];
        let mut reader = noise;
        reader.fill(&mut random);
        let stored = compress_chunk(&random);
        assert_eq!(
            codec::decode_chunk(&stored).unwrap().compression,
            Compression::Raw
        );
        assert_eq!(round_trip(&random), random);
    }

    #[test]
    fn a_bomb_is_refused_without_decompressing_it_all() {
        let zeros = vec![0u8; 8 << 20];
        let packed = zstd::bulk::compress(&zeros, 3).unwrap();
        // A record that claims 1 KiB but whose frame yields 8 MiB.
        let stored = codec::encode_chunk(Compression::Zstd, 1024, &packed);
        let id = ChunkId::from(blake3::hash(&zeros[..1024]));
        let mut out = Vec::new();
        let err = decompress_chunk(&id, &stored, &mut out).unwrap_err();
        assert!(err.is_damage());
        assert!(out.len() <= 1025, "read {} bytes", out.len());
    }

    #[test]
    fn a_flipped_byte_is_caught() {
        let text = b"court ruling ".repeat(500);
        let id = ChunkId::from(blake3::hash(&text));
        let mut stored = compress_chunk(&text);
        let last = stored.len() - 1;
        stored[last] ^= 1;
        assert!(decompress_chunk(&id, &stored, &mut Vec::new()).is_err());
    }

    proptest! {
        #[test]
        fn chunks_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..5000), repeat in 1usize..50) {
            let raw = raw.repeat(repeat);
            prop_assert_eq!(round_trip(&raw), raw);
        }

        #[test]
        fn hostile_chunk_records_never_panic(stored: Vec<u8>) {
            let id = ChunkId::from_bytes([0; 32]);
            let _ = decompress_chunk(&id, &stored, &mut Vec::new());
        }
    }
}
