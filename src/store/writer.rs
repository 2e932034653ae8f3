//! The write path's two ends: reading a file through both hashes into chunk buffers, and
//! giving each chunk its id and storing it once.
//!
//! The two ends run on different threads (see `ingest::pipeline`); buffers go from the
//! reader to the storer and back, so a file of any size costs a fixed handful of them.

use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;

use super::{BufferPool, ChunkRef, ChunkWriter, DualHasher, Fixity, chunk};
use crate::error::{Error, Result};
use crate::ids::ChunkId;

/// Chunk buffers in circulation: enough to keep both cores busy, few enough that memory
/// stays a handful of chunks whatever the files.
pub const BUFFERS: usize = 4;

/// A full chunk buffer on its way to the storer: the bytes are `buf[..len]`.
pub struct Filled {
    pub buf: Vec<u8>,
    pub len: usize,
    /// The chunk's id, when the reader knows it already: a file of one chunk has the
    /// chunk's BLAKE3 as its own, so it is hashed once.
    pub id: Option<ChunkId>,
}

/// The reader's supply of chunk buffers: `BUFFERS` of `CHUNK_SIZE` bytes, sent back by the storer.
pub fn buffers(back: mpsc::Receiver<Vec<u8>>) -> BufferPool {
    BufferPool::new(BUFFERS, chunk::CHUNK_SIZE, back)
}

/// How reading a file ended.
pub enum ReadEnd {
    /// Read to its end: its size and hashes.
    Done(Fixity),
    /// The storer stopped taking chunks (it failed; its error is the one to report).
    Stopped,
}

/// Reads `source` (opened from `path`) to its end, a chunk at a time, feeding BLAKE3 and
/// SHA-256 of the whole and handing each chunk to `send` (which returns false once the
/// storer has stopped). An I/O error is `Error::Io` naming `path`.
pub fn read_chunks(
    path: &Path,
    source: &mut impl Read,
    buffers: &mut BufferPool,
    progress: &mut dyn FnMut(u64),
    send: &mut dyn FnMut(Filled) -> bool,
) -> Result<ReadEnd> {
    let mut hasher = DualHasher::new();
    let mut first = true;
    loop {
        let Some(mut buf) = buffers.get() else {
            return Ok(ReadEnd::Stopped);
        };
        let len = fill(source, &mut buf).map_err(Error::io(path))?;
        if len == 0 {
            // An empty buffer would be a chunk of nothing: kept for the next file.
            buffers.keep(buf);
            break;
        }
        hasher.update(&buf[..len]);
        progress(len as u64);
        let last = len < buf.len();
        if last && first {
            let fixity = hasher.finish();
            let id = Some(ChunkId::from_bytes(*fixity.blake3.as_bytes()));
            if !send(Filled { buf, len, id }) {
                return Ok(ReadEnd::Stopped);
            }
            return Ok(ReadEnd::Done(fixity));
        }
        first = false;
        if !send(Filled { buf, len, id: None }) {
            return Ok(ReadEnd::Stopped);
        }
        if last {
            break;
        }
    }
    Ok(ReadEnd::Done(hasher.finish()))
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

/// The chunks of the file being stored, as the storer receives them in order.
#[derive(Default)]
pub struct FileChunks {
    refs: Vec<ChunkRef>,
    stored_bytes: u64,
}

impl FileChunks {
    /// Gives a chunk its id (unless the reader knew it) and stores it unless it is stored
    /// already.
    pub fn add(&mut self, writer: &mut ChunkWriter, raw: &[u8], id: Option<ChunkId>) -> Result<()> {
        let id = id.unwrap_or_else(|| ChunkId::from(blake3::hash(raw)));
        self.stored_bytes += writer.put(id, raw)?;
        self.refs.push(ChunkRef {
            id,
            len: raw.len() as u32,
        });
        Ok(())
    }

    /// The file's chunks in order, and the bytes of chunk records it added to the store;
    /// the collector starts over for the next file.
    pub fn take(&mut self) -> (Vec<ChunkRef>, u64) {
        let done = std::mem::take(self);
        (done.refs, done.stored_bytes)
    }
}
