//! The read path: a content's chunks in order, each decompressed and checked against its id,
//! the whole checked against both recorded hashes.

use std::sync::mpsc;

use super::{ChunkReader, ChunkRef, ContentRecord, DualHasher, Fixity, chunk};
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
        for chunk_ref in &record.chunks {
            fetch(chunks, chunk_ref, &mut buf)?;
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

/// The fetching side: stops at the first damaged chunk, or when the reader hangs up.
fn fetch_all(
    chunks: &mut ChunkReader,
    refs: &[ChunkRef],
    full: mpsc::SyncSender<Result<Vec<u8>>>,
    empty: mpsc::Receiver<Vec<u8>>,
) {
    // At most IN_FLIGHT + 1 buffers ever exist: new ones until then, returned ones after.
    let mut made = 0;
    for chunk_ref in refs {
        let mut buf = match empty.try_recv() {
            Ok(b) => b,
            Err(_) if made <= IN_FLIGHT => {
                made += 1;
                Vec::new()
            }
            Err(_) => match empty.recv() {
                Ok(b) => b,
                Err(_) => return,
            },
        };
        let result = fetch(chunks, chunk_ref, &mut buf).map(|()| buf);
        let failed = result.is_err();
        if full.send(result).is_err() || failed {
            return;
        }
    }
}

fn fetch(chunks: &mut ChunkReader, chunk_ref: &ChunkRef, buf: &mut Vec<u8>) -> Result<()> {
    let stored = chunks.get(&chunk_ref.id)?;
    chunk::decompress_chunk(&chunk_ref.id, &stored, buf)?;
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
