//! The content store: files cut into chunks, each compressed and kept once in sled under its BLAKE3 hash.

mod chunk;
mod pool;
mod raw;
mod reader;
mod volume;
mod writer;

pub use chunk::{CHUNK_SIZE, MAX_CHUNK, compress_chunk, decompress_chunk};
pub use pool::BufferPool;
pub use raw::{Entries, volume_entries, write_volume};
pub use reader::{read_content, read_contents};
pub use volume::{
    ChunkReader, ChunkWriter, ClosedVolume, PACK_BYTES, PACK_TREE, PACKS_PER_VOLUME, VOLUME_BYTES,
    VOLUME_TREE, VOLUMES_DIR, scan_volumes, volume_path,
};
pub(crate) use volume::{open_sled, panic_text};
pub use writer::{BUFFERS, FileChunks, Filled, ReadEnd, buffers, read_chunks};

// Index records the store reads and writes; they belong to the catalog.
pub use crate::catalog::{ChunkRef, ContentRecord};
use crate::ids::{ContentId, Sha256Digest};

/// The two hashes and size of a content, as computed from its bytes in one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixity {
    pub blake3: ContentId,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// BLAKE3 and SHA-256 over the same bytes, fed once.
pub struct DualHasher {
    blake3: blake3::Hasher,
    sha256: sha2::Sha256,
    size: u64,
}

impl Default for DualHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl DualHasher {
    pub fn new() -> Self {
        use sha2::Digest;
        Self {
            blake3: blake3::Hasher::new(),
            sha256: sha2::Sha256::new(),
            size: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.blake3.update(bytes);
        self.sha256.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn finish(self) -> Fixity {
        use sha2::Digest;
        Fixity {
            blake3: self.blake3.finalize().into(),
            sha256: Sha256Digest::from_bytes(self.sha256.finalize().into()),
            size: self.size,
        }
    }
}
