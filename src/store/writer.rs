//! The write path: stream a file through both hashes into compressed chunks, each stored once.

use std::io::{self, Read};
use std::path::Path;

use super::{ChunkRef, ChunkWriter, DualHasher, Fixity, chunk};
use crate::error::{Error, Result};
use crate::ids::ChunkId;

/// A content whose chunks are all in the chunk tree; its record is not written yet.
#[derive(Debug)]
pub struct StoredContent {
    pub fixity: Fixity,
    pub chunks: Vec<ChunkRef>,
    /// Bytes of chunk records this call added to the store (0 when all were there already).
    pub stored_bytes: u64,
}

/// Cuts contents into chunks and hands them to the chunk writer.
pub struct ContentWriter<'a> {
    chunks: &'a mut ChunkWriter,
    buf: Vec<u8>,
}

impl<'a> ContentWriter<'a> {
    pub fn new(chunks: &'a mut ChunkWriter) -> Self {
        Self {
            chunks,
            buf: vec![0; chunk::CHUNK_SIZE],
        }
    }

    /// Streams `source` (read from `path`) into the store, one chunk in memory at a time.
    ///
    /// Chunks already stored are not written again: a chunk is immutable once in.
    pub fn store(
        &mut self,
        path: &Path,
        source: &mut impl Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<StoredContent> {
        let mut hasher = DualHasher::new();
        let mut chunks = Vec::new();
        let mut stored_bytes = 0;
        loop {
            let n = fill(source, &mut self.buf).map_err(Error::io(path))?;
            if n == 0 {
                break;
            }
            let raw = &self.buf[..n];
            hasher.update(raw);
            let id = ChunkId::from(blake3::hash(raw));
            stored_bytes += self.chunks.put(id, raw)?;
            chunks.push(ChunkRef { id, len: n as u32 });
            progress(n as u64);
            if n < self.buf.len() {
                break;
            }
        }
        Ok(StoredContent {
            fixity: hasher.finish(),
            chunks,
            stored_bytes,
        })
    }
}

/// Reads until `buf` is full or the source ends; returns how many bytes it holds.
fn fill(source: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
