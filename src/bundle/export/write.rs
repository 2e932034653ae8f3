//! The payload writer: each item read back from the archive and checked, written into the
//! bag with SHA-512 on the way, and fsynced, on three threads that overlap those waits.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::files::{create_private_dir, create_private_file};
use super::{ExportProgress, Written};
use crate::archive::Archive;
use crate::bundle::bagit::FileDigests;
use crate::bundle::layout;
use crate::durable;
use crate::error::{Error, Result};
use crate::ids::EvidenceId;
use crate::store::{BufferPool, read_content};

impl Archive {
    /// Writes every item's payload file, each re-read from the archive and checked against
    /// both recorded hashes; when it returns Ok, every file and its directory is fsynced.
    ///
    /// Two threads share the work: this one reads each item back (with BLAKE3 and SHA-256,
    /// and for a content of several chunks a third thread fetching them) and makes its
    /// directory; the other creates the files and writes them with SHA-512 on the way. Done
    /// on one thread, the loop kept one core busy and the other idle: most items are a
    /// single chunk, which `read_content` reads on the calling thread, and SHA-512 alone
    /// costs about as much as BLAKE3 and SHA-256 together. A third thread, mostly waiting
    /// for the disk, fsyncs each file and its directory once written, so that those waits
    /// overlap the work instead of following it in a pass of their own.
    pub(super) fn write_items(
        &self,
        bag: &Path,
        ids: &[EvidenceId],
        progress: &mut dyn ExportProgress,
    ) -> Result<Vec<Written>> {
        let (done_tx, done_rx) = mpsc::sync_channel::<PathBuf>(SYNCS_QUEUED);
        let (piece_tx, piece_rx) = mpsc::sync_channel::<Piece>(PIECES_IN_FLIGHT);
        let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::scope(|scope| {
            let syncer = scope.spawn(move || sync_files(done_rx));
            let writer = scope.spawn(move || write_files(piece_rx, spare_tx, done_tx));
            let read = self.read_items(bag, ids, piece_tx, spare_rx, progress);
            let sha512 = writer
                .join()
                .map_err(|_| Error::Database(WRITER_STOPPED.into()));
            let synced = syncer
                .join()
                .map_err(|_| Error::Database(SYNCER_STOPPED.into()));
            // A later stage's failure explains an earlier stage's stop, so it is reported first.
            synced??;
            let sha512 = sha512??;
            let mut written = read?;
            if sha512.len() != written.len() {
                return Err(Error::Database(format!(
                    "{} payload files read, {} written",
                    written.len(),
                    sha512.len()
                )));
            }
            for (w, sha512) in written.iter_mut().zip(sha512) {
                w.digests.sha512 = sha512;
            }
            Ok(written)
        })
    }

    /// The reading side of `write_items`: each item's checked bytes, as pieces for the writer.
    /// The SHA-512 of each `Written` is left empty for the writer's.
    fn read_items(
        &self,
        bag: &Path,
        ids: &[EvidenceId],
        pieces: mpsc::SyncSender<Piece>,
        spare: mpsc::Receiver<Vec<u8>>,
        progress: &mut dyn ExportProgress,
    ) -> Result<Vec<Written>> {
        let stopped = || Error::Database(WRITER_STOPPED.into());
        let mut chunks = self.chunk_reader();
        let mut written = Vec::with_capacity(ids.len() + 4);
        let mut buffers = BufferPool::new(WRITE_BUFFERS, 0, spare);
        for id in ids {
            let item = self.item(*id)?;
            let rel = layout::evidence_path(&item);
            let record = self.content(&item.blake3)?;
            let path = bag.join(&rel);
            // `data/evidence/<id>/`: new, as ids are unique; its parent was made by build_bag.
            // Made here rather than by the writer, which has the more work of the two.
            create_private_dir(path.parent().unwrap_or(bag))?;
            pieces.send(Piece::Start(path)).map_err(|_| stopped())?;
            let damaged = |e: Error| match e {
                Error::Damaged(d) => {
                    Error::Damaged(format!("{}: {d}; nothing was exported", item.id))
                }
                other => other,
            };
            let fixity = read_content(&mut chunks, &record, &item.blake3, &mut |bytes| {
                // None: the writer gave up (it failed), and its error is the one reported.
                let mut buf = buffers.get().ok_or_else(stopped)?;
                // A copy: the reader reuses its buffer as soon as this returns.
                buf.clear();
                buf.extend_from_slice(bytes);
                progress.bytes(bytes.len() as u64);
                pieces.send(Piece::Bytes(buf)).map_err(|_| stopped())
            })
            .map_err(damaged)?;
            if item.sha256 != record.sha256 || item.size != record.size {
                return Err(damaged(Error::Damaged(
                    "its record disagrees with its content".into(),
                )));
            }
            pieces.send(Piece::End).map_err(|_| stopped())?;
            progress.item_done();
            written.push(Written {
                rel,
                digests: FileDigests {
                    sha256: fixity.sha256,
                    sha512: String::new(),
                    blake3: fixity.blake3,
                    size: fixity.size,
                },
            });
        }
        Ok(written)
    }
}

/// Buffers of payload bytes in flight between the reading and the writing thread.
const WRITE_BUFFERS: usize = 4;

/// Messages in flight to the writing thread: the buffers, and the start and end of a few
/// small files around them.
const PIECES_IN_FLIGHT: usize = 2 * WRITE_BUFFERS;

const WRITER_STOPPED: &str = "the payload-writing thread stopped";

/// Payload files written and not yet fsynced, at most: the writer waits beyond this.
const SYNCS_QUEUED: usize = 1024;

const SYNCER_STOPPED: &str = "the payload-syncing thread stopped";

/// What the reading thread hands the writing thread, in order, for each payload file.
enum Piece {
    /// A new file at this path (its directory exists).
    Start(PathBuf),
    /// The next bytes of the file.
    Bytes(Vec<u8>),
    /// The file is complete.
    End,
}

/// The writing side of `write_items`: creates each payload file, writes
/// it with SHA-512 on the way and starts its writeback; returns each file's SHA-512 (hex),
/// in order. Stops at the first failure, which hangs up on the reading side.
fn write_files(
    pieces: mpsc::Receiver<Piece>,
    spare: mpsc::Sender<Vec<u8>>,
    done: mpsc::SyncSender<PathBuf>,
) -> Result<Vec<String>> {
    use sha2::Digest;
    let mut sums = Vec::new();
    let mut current: Option<(PathBuf, fs::File, sha2::Sha512)> = None;
    for piece in pieces {
        match piece {
            Piece::Start(path) => {
                let file = create_private_file(&path)?;
                current = Some((path, file, sha2::Sha512::new()));
            }
            Piece::Bytes(buf) => {
                if let Some((path, file, sha512)) = &mut current {
                    sha512.update(&buf);
                    durable::write_all(file, path, &buf)?;
                }
                // The reader may have stopped; then the buffer is simply dropped.
                let _ = spare.send(buf);
            }
            Piece::End => {
                if let Some((path, file, sha512)) = current.take() {
                    start_writeback(&file, &path)?;
                    sums.push(hex::encode(sha512.finalize()));
                    done.send(path)
                        .map_err(|_| Error::Database(SYNCER_STOPPED.into()))?;
                }
            }
        }
    }
    Ok(sums)
}

/// The syncing side of `write_items`: fsyncs each payload file the writer has finished,
/// reopened by path (an open file per item could exhaust the process's descriptors), then
/// its directory, which holds its name. Its writeback was started when it was written, so
/// each fsync mostly waits for the disk, on this thread while the others keep reading and
/// writing, rather than in a pass of its own at the end.
fn sync_files(done: mpsc::Receiver<PathBuf>) -> Result<()> {
    for path in done {
        durable::sync_path(&path)?;
        if let Some(dir) = path.parent() {
            durable::sync_path(dir)?;
        }
    }
    Ok(())
}

/// Asks the kernel to start writing a file's dirty pages to disk now, without waiting, so
/// that the fsync that follows later finds little left to write. This is no durability
/// step, only a head start: the fsync still decides. An error that says the data cannot be
/// written (no space, a failing disk) fails the export at once; any other (a file system
/// without the call) only loses the head start.
#[cfg(target_os = "linux")]
fn start_writeback(file: &fs::File, path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open and owned by `file` for the whole call; the call
    // reads no memory of this process.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EIO) => Err(Error::io(path)(e)),
        _ => Ok(()),
    }
}

/// Elsewhere there is no such call: the fsync does all the work.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &fs::File, _path: &Path) -> Result<()> {
    Ok(())
}
