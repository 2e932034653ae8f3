//! The ingest pipeline: reading, storing and committing on three threads, so that the
//! next files are read and stored while the last batch is synced and committed.
//!
//! - The caller's thread walks the inputs, reads each file through BLAKE3 and SHA-256,
//!   and checks it did not change while it was read.
//! - The storer gives each chunk its id, compresses and stores it, and gathers files into
//!   batches. It hands on each volume it fills at once; at the end of a batch it makes the
//!   open volume durable itself (it is the only thread writing it), then hands on the batch.
//! - The committer makes the full volumes durable as they come, then, for each batch, commits
//!   its records and events and makes that durable; only then do its items go back to the
//!   caller's thread to be reported.
//!
//! Every ordering promise of docs/FORMAT.md ("Order of writes") holds batch by batch: the
//! threads only let reading overlap syncing.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use super::{
    Context, IngestProgress, IngestReport, Ingested, Pending, Skipped, changed_while_read,
    modified_at,
};
use crate::archive::Archive;
use crate::codec::ChunkLocation;
use crate::error::{Error, Result};
use crate::ids::ChunkId;
use crate::store::{
    BUFFERS, BufferPool, ChunkWriter, ClosedVolume, ContentRecord, FileChunks, Filled, Fixity,
    ReadEnd, read_chunks,
};
use crate::walk::{self, Found};

/// A batch is committed once it holds this many files or bytes of new chunk records: one
/// fsync round per batch keeps small files fast without holding much unacknowledged work.
const BATCH_FILES: usize = 1024;
const BATCH_BYTES: u64 = 64 << 20;

/// From the reading thread to the storer, in file order.
enum ToStorer {
    Chunk(Filled),
    /// The file whose chunks came before was read whole and did not change.
    File(FileRead),
    /// The file whose chunks came before is not ingested.
    Skip,
    /// Every input was read: commit what is left.
    Finish,
}

/// What the reading thread knows of a file it read.
struct FileRead {
    path: PathBuf,
    name: Vec<u8>,
    fixity: Fixity,
    modified_at: Option<String>,
}

/// From the storer to the committer, in the order things must become durable.
enum ToCommitter {
    Closed(ClosedVolume),
    Batch(Vec<(ChunkId, ChunkLocation)>, Vec<Pending>),
}

pub(super) fn run(
    archive: &mut Archive,
    cx: &Context,
    progress: &mut dyn IngestProgress,
) -> Result<IngestReport> {
    let writer = archive.chunk_writer();
    let (to_storer, from_reader) = mpsc::sync_channel(BUFFERS);
    let (to_reader, from_storer) = mpsc::channel();
    let (to_committer, from_storer_jobs) = mpsc::sync_channel(0);
    let (done, durable) = mpsc::channel();
    let mut report = IngestReport::default();
    std::thread::scope(|scope| {
        let storer = scope.spawn(move || store(writer, from_reader, to_reader, to_committer));
        let committer = scope.spawn(move || commit(archive, cx, from_storer_jobs, done));
        let mut reader = Reader {
            to_storer,
            buffers: crate::store::buffers(from_storer),
            durable,
            progress,
            report: &mut report,
        };
        // The reader ends with `Finish`, or because the storer has stopped: either way the
        // storer is not waiting on it, and joining cannot deadlock.
        reader.read_all(&cx.opts.paths);
        let stored = join(storer, "storing");
        let committed = join(committer, "committing");
        reader.report_durable();
        // The committer's failure explains the storer's stop, which explains the reader's.
        committed.and(stored)
    })?;
    Ok(report)
}

/// Files and bytes under `paths`, from their metadata alone: what progress is measured
/// against. A file that changes meanwhile only makes the estimate a little off.
fn size_pass(paths: &[PathBuf]) -> (u64, u64) {
    let mut files = 0u64;
    let mut bytes = 0u64;
    for found in walk::walk(paths) {
        if let Found::File(path) = found {
            files += 1;
            bytes += std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
        }
    }
    (files, bytes)
}

fn join(handle: std::thread::ScopedJoinHandle<'_, Result<()>>, what: &str) -> Result<()> {
    handle
        .join()
        .map_err(|_| Error::Database(format!("the ingest's {what} thread stopped")))?
}

/// The caller's thread: walks, reads, hashes, and reports what has become durable.
struct Reader<'a> {
    to_storer: SyncSender<ToStorer>,
    buffers: BufferPool,
    durable: Receiver<Vec<Ingested>>,
    progress: &'a mut dyn IngestProgress,
    report: &'a mut IngestReport,
}

impl Reader<'_> {
    /// Reads every input; stops early only when the storer stops (its error is reported).
    fn read_all(&mut self, paths: &[PathBuf]) {
        if self.progress.wants_total() {
            let (files, bytes) = size_pass(paths);
            self.progress.total(files, bytes);
        }
        for found in walk::walk(paths) {
            self.report_durable();
            let path = match found {
                Found::File(path) => path,
                Found::Skip { path, reason } => {
                    self.skip(Skipped { path, reason });
                    continue;
                }
            };
            let message = match self.read_file(&path) {
                Some(Ok(read)) => ToStorer::File(read),
                Some(Err(skip)) => {
                    self.skip(skip);
                    ToStorer::Skip
                }
                None => return,
            };
            if self.to_storer.send(message).is_err() {
                return;
            }
        }
        let _ = self.to_storer.send(ToStorer::Finish);
    }

    fn report_durable(&mut self) {
        for items in self.durable.try_iter() {
            self.progress.durable(&items);
            self.report.items.extend(items);
        }
    }

    fn skip(&mut self, skip: Skipped) {
        self.progress.skipped(&skip);
        self.report.skipped.push(skip);
    }

    /// Streams one file to the storer. `None` when the storer has stopped.
    fn read_file(&mut self, path: &Path) -> Option<std::result::Result<FileRead, Skipped>> {
        let skip = |reason: String| {
            Some(Err(Skipped {
                path: path.to_path_buf(),
                reason,
            }))
        };
        let mut file = match crate::durable::open_no_follow(path) {
            Ok(f) => f,
            Err(e) => return skip(format!("cannot be read: {e}")),
        };
        let before = match file.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => return skip("not a regular file".into()),
            Err(e) => return skip(format!("cannot be read: {e}")),
        };
        self.progress.file(path, before.len());
        // One byte past the size seen at open is enough to know the file grew: reading a
        // growing file to its end would store chunks no item will ever name.
        let mut limited = std::io::Read::take(&mut file, before.len() + 1);
        let to_storer = &self.to_storer;
        let progress = &mut *self.progress;
        let fixity = match read_chunks(
            path,
            &mut limited,
            &mut self.buffers,
            &mut |n| progress.bytes(n),
            &mut |filled| to_storer.send(ToStorer::Chunk(filled)).is_ok(),
        ) {
            Ok(ReadEnd::Done(fixity)) => fixity,
            Ok(ReadEnd::Stopped) => return None,
            Err(Error::Io { source, .. }) => return skip(format!("cannot be read: {source}")),
            Err(e) => return skip(e.to_string()),
        };
        if let Some(change) = changed_while_read(path, &file, &before, fixity.size) {
            return skip(format!(
                "changed while being read ({change}); not stored, ingest it again when it is still"
            ));
        }
        Some(Ok(FileRead {
            path: path.to_path_buf(),
            name: path
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default(),
            fixity,
            modified_at: modified_at(&before),
        }))
    }
}

/// The storer: chunk ids, compression and storage, in file order; batches to the committer.
/// Returns early, without error, when the committer has stopped (its error is reported).
fn store(
    mut writer: ChunkWriter,
    from_reader: Receiver<ToStorer>,
    to_reader: Sender<Vec<u8>>,
    to_committer: SyncSender<ToCommitter>,
) -> Result<()> {
    let mut file = FileChunks::default();
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for message in from_reader {
        match message {
            ToStorer::Chunk(filled) => {
                file.add(&mut writer, &filled.buf[..filled.len], filled.id)?;
                let _ = to_reader.send(filled.buf);
            }
            ToStorer::File(read) => {
                let (chunks, stored) = file.take();
                batch_bytes += stored;
                batch.push(pending(read, chunks));
            }
            // Its chunks stay stored, named by no content (docs/FORMAT.md, SHOULD 4).
            ToStorer::Skip => drop(file.take()),
            ToStorer::Finish => {
                return send_batch(&mut writer, &to_committer, std::mem::take(&mut batch))
                    .map(|_| ());
            }
        }
        // A full volume goes at once, so that it is synced while the next one fills.
        let mut handed = hand_closed(&mut writer, &to_committer);
        if handed && (batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES) {
            handed = send_batch(&mut writer, &to_committer, std::mem::take(&mut batch))?;
            batch_bytes = 0;
        }
        if !handed {
            return Ok(());
        }
    }
    // The reader stopped without finishing: the unfinished batch is not committed.
    Ok(())
}

fn pending(read: FileRead, chunks: Vec<crate::store::ChunkRef>) -> Pending {
    Pending {
        path: read.path,
        name: read.name,
        record: ContentRecord {
            size: read.fixity.size,
            sha256: read.fixity.sha256,
            chunks,
        },
        fixity: read.fixity,
        modified_at: read.modified_at,
    }
}

/// Ends the batch and hands it over; false when the committer has stopped.
fn send_batch(
    writer: &mut ChunkWriter,
    to_committer: &SyncSender<ToCommitter>,
    batch: Vec<Pending>,
) -> Result<bool> {
    if batch.is_empty() {
        return Ok(true);
    }
    let locations = writer.end_batch()?;
    Ok(hand_closed(writer, to_committer)
        && hand_over(to_committer, ToCommitter::Batch(locations, batch)))
}

/// Hands every volume the writer filled to the committer; false when it has stopped.
fn hand_closed(writer: &mut ChunkWriter, to_committer: &SyncSender<ToCommitter>) -> bool {
    let mut closed = writer.take_closed().into_iter();
    for volume in closed.by_ref() {
        if !hand_over(to_committer, ToCommitter::Closed(volume)) {
            std::mem::forget(closed.collect::<Vec<_>>());
            return false;
        }
    }
    true
}

fn hand_over(to_committer: &SyncSender<ToCommitter>, job: ToCommitter) -> bool {
    match to_committer.send(job) {
        Ok(()) => true,
        Err(unsent) => {
            // Not dropped: dropping an unsynced sled database may block (a full disk).
            std::mem::forget(unsent);
            false
        }
    }
}

/// The committer: volumes durable, then each batch committed and durable, then reported.
fn commit(
    archive: &mut Archive,
    cx: &Context,
    from_storer: Receiver<ToCommitter>,
    done: Sender<Vec<Ingested>>,
) -> Result<()> {
    let mut synced: HashSet<OsString> = HashSet::new();
    for job in from_storer {
        match job {
            ToCommitter::Closed(volume) => volume.finish(&mut synced)?,
            ToCommitter::Batch(locations, batch) => {
                let items = archive.commit_batch(cx, &locations, batch)?;
                if done.send(items).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
