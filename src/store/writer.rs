//! The write path: stream a file through both hashes into compressed chunks, each stored once.

use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;

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
}

/// Chunks in flight between the reading thread and the storing thread: enough to keep
/// both cores busy, few enough that memory stays a handful of chunks whatever the file.
const IN_FLIGHT: usize = 3;

impl<'a> ContentWriter<'a> {
    pub fn new(chunks: &'a mut ChunkWriter) -> Self {
        Self { chunks }
    }

    /// Streams `source` (read from `path`) into the store, a few chunks in memory at a time.
    ///
    /// Two threads: this one reads and computes the file's BLAKE3 and SHA-256; the other
    /// hashes each chunk for its id, compresses it and stores it. Chunks already stored are
    /// not written again: a chunk is immutable once in.
    /// `size` is what the file measured at open: a file that fits one chunk is read on
    /// this thread alone into a buffer of its size (the two-thread pipeline and its four
    /// 1 MiB buffers would cost small files more than they save).
    pub fn store(
        &mut self,
        path: &Path,
        size: u64,
        source: &mut impl Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<StoredContent> {
        if size < chunk::CHUNK_SIZE as u64 {
            return self.store_small(path, size, source, progress);
        }
        let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let chunks = &mut *self.chunks;
        std::thread::scope(|scope| {
            let storer = scope.spawn(move || store_chunks(chunks, full_rx, empty_tx));
            let read = read_chunks(path, source, progress, full_tx, empty_rx);
            let stored = storer
                .join()
                .map_err(|_| Error::Database("the chunk-storing thread stopped".into()))?;
            // A storing failure explains a reading stop, so it is reported first.
            let (chunks, stored_bytes) = stored?;
            let fixity = read?;
            Ok(StoredContent {
                fixity,
                chunks,
                stored_bytes,
            })
        })
    }
}

impl ContentWriter<'_> {
    fn store_small(
        &mut self,
        path: &Path,
        size: u64,
        source: &mut impl Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<StoredContent> {
        let mut buf = Vec::with_capacity(size as usize + 1);
        // At most one chunk: a file that grew past it is caught by the caller's second look.
        source
            .take(chunk::CHUNK_SIZE as u64)
            .read_to_end(&mut buf)
            .map_err(Error::io(path))?;
        let mut hasher = DualHasher::new();
        hasher.update(&buf);
        progress(buf.len() as u64);
        let mut chunks = Vec::new();
        let mut stored_bytes = 0;
        if !buf.is_empty() {
            let id = ChunkId::from(blake3::hash(&buf));
            stored_bytes = self.chunks.put(id, &buf)?;
            chunks.push(ChunkRef {
                id,
                len: buf.len() as u32,
            });
        }
        Ok(StoredContent {
            fixity: hasher.finish(),
            chunks,
            stored_bytes,
        })
    }
}

/// The reading side: fills buffers, hashes the whole file, passes each chunk on.
fn read_chunks(
    path: &Path,
    source: &mut impl Read,
    progress: &mut dyn FnMut(u64),
    full: mpsc::SyncSender<(Vec<u8>, usize)>,
    empty: mpsc::Receiver<Vec<u8>>,
) -> Result<Fixity> {
    let mut hasher = DualHasher::new();
    let mut spare = (0..IN_FLIGHT + 1)
        .map(|_| vec![0u8; chunk::CHUNK_SIZE])
        .collect::<Vec<_>>();
    loop {
        let mut buf = match spare.pop() {
            Some(b) => b,
            // The storer gave up (it failed): stop reading; its error is the one reported.
            None => match empty.recv() {
                Ok(b) => b,
                Err(_) => return Ok(hasher.finish()),
            },
        };
        let n = fill(source, &mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        progress(n as u64);
        let last = n < buf.len();
        if full.send((buf, n)).is_err() {
            break;
        }
        if last {
            break;
        }
    }
    Ok(hasher.finish())
}

/// The storing side: chunk id, compression and the write, in file order.
fn store_chunks(
    chunks: &mut ChunkWriter,
    full: mpsc::Receiver<(Vec<u8>, usize)>,
    empty: mpsc::Sender<Vec<u8>>,
) -> Result<(Vec<ChunkRef>, u64)> {
    let mut refs = Vec::new();
    let mut stored = 0;
    for (buf, n) in full {
        let raw = &buf[..n];
        let id = ChunkId::from(blake3::hash(raw));
        stored += chunks.put(id, raw)?;
        refs.push(ChunkRef { id, len: n as u32 });
        let _ = empty.send(buf);
    }
    Ok((refs, stored))
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
