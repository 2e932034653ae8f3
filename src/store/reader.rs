//! The read path: a content's chunks in order, each decompressed and checked against its id,
//! the whole checked against both recorded hashes.
//!
//! A content of one chunk whose id is its address is checked once: the BLAKE3 of the whole
//! is the chunk's id. Any other chunk is checked against its id as it is fetched.

use std::sync::mpsc;

use super::{BufferPool, ChunkReader, ChunkRef, ContentRecord, DualHasher, Fixity, chunk};
use crate::error::{Error, Result};
use crate::ids::ContentId;

/// Chunks in flight between the fetching thread and the hashing thread.
const IN_FLIGHT: usize = 3;

/// Reads a content back, hands each chunk's checked bytes to `sink` in order, and returns
/// its fixity once size, BLAKE3 and SHA-256 match the record.
///
/// A content of several chunks is read on two threads: one fetches, decompresses and checks
/// each chunk against its id; this one hashes the whole and feeds `sink`. Memory stays a
/// few chunks whatever the content's size.
pub fn read_content(
    chunks: &mut ChunkReader,
    record: &ContentRecord,
    expected: &ContentId,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<Fixity> {
    let mut hasher = DualHasher::new();
    if record.chunks.len() <= 1 {
        let mut buf = Vec::new();
        let check_ids = !whole_checks_chunk(record, expected);
        for chunk_ref in &record.chunks {
            fetch(chunks, chunk_ref, check_ids, &mut buf)?;
            hasher.update(&buf);
            sink(&buf)?;
        }
    } else {
        let (full_tx, full_rx) = mpsc::sync_channel::<Result<Vec<u8>>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::scope(|scope| {
            scope.spawn(move || fetch_all(chunks, &record.chunks, full_tx, empty_rx));
            // Owned here, so that leaving early (a failed write) hangs up on the fetching
            // thread, which may be waiting for a buffer to come back.
            let empty_tx = empty_tx;
            for fetched in full_rx {
                let buf = fetched?;
                hasher.update(&buf);
                sink(&buf)?;
                let _ = empty_tx.send(buf);
            }
            Ok::<_, Error>(())
        })?;
    }
    check(hasher.finish(), record, expected)
}

/// What the fetching thread of `read_contents` sends, content by content, in order.
enum Fetched {
    Chunk(Vec<u8>),
    /// Every chunk of the content was sent.
    End,
    /// The content cannot be read; the fetcher goes on with the next one.
    Failed(Error),
}

/// Reads many contents back, in the order given, on two threads whatever their sizes: one
/// fetches, decompresses and checks every chunk of one content after another; this one
/// hashes each content and calls `done` with its fixity (once size, BLAKE3 and SHA-256
/// match its record) or with why it cannot be read. `chunk` sees every checked chunk.
///
/// `done` returning an error stops the reading. A panic inside sled while fetching (a
/// damaged volume) fails that content only; the next is read through a fresh reader.
pub fn read_contents(
    chunks: &mut ChunkReader,
    contents: &[(ContentId, ContentRecord)],
    chunk: &mut dyn FnMut(&[u8]),
    done: &mut dyn FnMut(&ContentId, Result<Fixity>) -> Result<()>,
) -> Result<()> {
    let (full_tx, full_rx) = mpsc::sync_channel::<Fetched>(IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        scope.spawn(move || fetch_contents(chunks, contents, full_tx, empty_rx));
        let empty_tx = empty_tx;
        let mut fetched = full_rx.iter();
        for (id, record) in contents {
            let mut hasher = DualHasher::new();
            let result = loop {
                match fetched.next() {
                    Some(Fetched::Chunk(buf)) => {
                        hasher.update(&buf);
                        chunk(&buf);
                        let _ = empty_tx.send(buf);
                    }
                    Some(Fetched::End) => break check(hasher.finish(), record, id),
                    Some(Fetched::Failed(e)) => break Err(e),
                    None => {
                        return Err(Error::Database("the chunk-fetching thread stopped".into()));
                    }
                }
            };
            done(id, result)?;
        }
        Ok(())
    })
}

fn fetch_contents(
    chunks: &mut ChunkReader,
    contents: &[(ContentId, ContentRecord)],
    full: mpsc::SyncSender<Fetched>,
    empty: mpsc::Receiver<Vec<u8>>,
) {
    let mut buffers = BufferPool::new(IN_FLIGHT + 1, 0, empty);
    for (id, record) in contents {
        let mut failed = false;
        let check_ids = !whole_checks_chunk(record, id);
        for chunk_ref in &record.chunks {
            let Some(mut buf) = buffers.get() else {
                return;
            };
            let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fetch(chunks, chunk_ref, check_ids, &mut buf)
            }));
            let failure = match fetched {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(panic) => {
                    chunks.reset();
                    Some(Error::Damaged(format!(
                        "reading its chunks stopped sled: {}",
                        super::panic_text(&panic)
                    )))
                }
            };
            // A failed chunk's buffer goes back to the pool: the pool makes only a few, and
            // one lost per damaged content would leave the fetcher waiting for ever once a
            // handful of contents are damaged (issue 9, finding 1).
            let message = match failure {
                None => Fetched::Chunk(buf),
                Some(e) => {
                    buffers.keep(buf);
                    Fetched::Failed(e)
                }
            };
            failed = matches!(message, Fetched::Failed(_));
            if full.send(message).is_err() {
                return;
            }
            if failed {
                break;
            }
        }
        // A failed content ended with `Failed`; the others end here.
        if !failed && full.send(Fetched::End).is_err() {
            return;
        }
    }
}

/// The fetching side: stops at the first damaged chunk, or when the reader hangs up.
fn fetch_all(
    chunks: &mut ChunkReader,
    refs: &[ChunkRef],
    full: mpsc::SyncSender<Result<Vec<u8>>>,
    empty: mpsc::Receiver<Vec<u8>>,
) {
    let mut buffers = BufferPool::new(IN_FLIGHT + 1, 0, empty);
    for chunk_ref in refs {
        let Some(mut buf) = buffers.get() else {
            return;
        };
        let result = fetch(chunks, chunk_ref, true, &mut buf).map(|()| buf);
        let failed = result.is_err();
        if full.send(result).is_err() || failed {
            return;
        }
    }
}

/// Whether the BLAKE3 of the whole content checks its one chunk (so the chunk's own check
/// would hash the same bytes twice).
fn whole_checks_chunk(record: &ContentRecord, address: &ContentId) -> bool {
    matches!(record.chunks.as_slice(), [only] if only.id.as_bytes() == address.as_bytes())
}

fn fetch(
    chunks: &mut ChunkReader,
    chunk_ref: &ChunkRef,
    check_id: bool,
    buf: &mut Vec<u8>,
) -> Result<()> {
    chunks.read(&chunk_ref.id, buf)?;
    if check_id {
        chunk::check_id(&chunk_ref.id, buf)?;
    }
    if buf.len() != chunk_ref.len as usize {
        return Err(Error::Damaged(format!(
            "chunk {} holds {} bytes, the content record says {}",
            chunk_ref.id,
            buf.len(),
            chunk_ref.len
        )));
    }
    Ok(())
}

fn check(fixity: Fixity, want: &ContentRecord, expected: &ContentId) -> Result<Fixity> {
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
