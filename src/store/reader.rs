//! The read path: a content's chunks in order, each decompressed and checked against its id.

use super::{ChunkReader, ContentRecord, DualHasher, Fixity, chunk};
use crate::error::{Error, Result};
use crate::ids::ContentId;

/// Reads back one content chunk by chunk, hashing as it goes.
pub struct ContentReader<'a> {
    chunks: &'a mut ChunkReader,
    record: &'a ContentRecord,
    next: usize,
    buf: Vec<u8>,
    hasher: DualHasher,
}

impl<'a> ContentReader<'a> {
    pub fn new(chunks: &'a mut ChunkReader, record: &'a ContentRecord) -> Self {
        Self {
            chunks,
            record,
            next: 0,
            buf: Vec::new(),
            hasher: DualHasher::new(),
        }
    }

    /// The next chunk's checked bytes, or `None` after the last.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        let Some(chunk_ref) = self.record.chunks.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let stored = self.chunks.get(&chunk_ref.id)?;
        chunk::decompress_chunk(&chunk_ref.id, &stored, &mut self.buf)?;
        if self.buf.len() != chunk_ref.len as usize {
            return Err(Error::Damaged(format!(
                "chunk {} holds {} bytes, the content record says {}",
                chunk_ref.id,
                self.buf.len(),
                chunk_ref.len
            )));
        }
        self.hasher.update(&self.buf);
        Ok(Some(&self.buf))
    }

    /// After the last chunk: the fixity of everything read, checked against what the archive recorded.
    pub fn finish(self, expected: &ContentId) -> Result<Fixity> {
        let fixity = self.hasher.finish();
        let want = self.record;
        if fixity.size != want.size {
            return Err(Error::Damaged(format!(
                "content {expected} is {} bytes long, its record says {}",
                fixity.size, want.size
            )));
        }
        if fixity.blake3 != *expected {
            return Err(Error::Damaged(format!(
                "content {expected} does not hash to its BLAKE3 address"
            )));
        }
        if fixity.sha256 != want.sha256 {
            return Err(Error::Damaged(format!(
                "content {expected} does not match its recorded SHA-256"
            )));
        }
        Ok(fixity)
    }
}
