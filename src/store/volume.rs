//! Chunk volumes: small sled databases holding chunk records, written one at a time and opened one at a time.
//!
//! sled 0.34.7 keeps what it writes or reads in memory while a database is open (its
//! cache evicts only after many accesses per shard) and re-reads its whole log when it
//! opens. Chunks therefore live apart from the index, in volumes of bounded size: memory
//! stays bounded by one volume, and commands that read no content never open one.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use super::chunk;
use crate::catalog::ChunkLocations;
use crate::codec::{self, ChunkLocation, PackBuilder};
use crate::durable;
use crate::error::{Error, Result};
use crate::ids::ChunkId;

/// The directory, inside the archive, that holds the volumes.
pub const VOLUMES_DIR: &str = "volumes";
/// Format 1: a volume takes no new chunk once this many bytes of chunk records were written to it.
pub const VOLUME_BYTES: u64 = 8 << 20;
/// Format 1: the tree of a volume that holds chunk records, keyed by chunk id.
pub const VOLUME_TREE: &str = "chunks";
/// Format 2: the tree of a volume that holds packs, keyed by pack number (u32 BE).
pub const PACK_TREE: &str = "packs";
/// A pack is written to its volume once it holds this many bytes.
pub const PACK_BYTES: usize = 1 << 20;
/// A volume takes this many packs. sled rewrites a whole tree node once ten updates are
/// linked to it (and splits it past sixteen entries): eight values written once each are
/// never rewritten, so a volume costs its packs' size on disk and no more.
pub const PACKS_PER_VOLUME: u64 = 8;

const VOLUME_CACHE: u64 = 4 << 20;

/// Opens (or creates) a sled database, turning a refusal or a panic inside sled into damage naming the path.
pub(crate) fn open_sled(path: &Path, cache: u64) -> Result<sled::Db> {
    remove_unfinished_snapshots(path)?;
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache)
        .flush_every_ms(None);
    let damaged = |detail: String| Error::DatabaseDamaged {
        path: path.to_path_buf(),
        detail,
    };
    match catch_unwind(AssertUnwindSafe(|| config.open())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e))) if e.kind() == std::io::ErrorKind::StorageFull => {
            Err(Error::io(path)(e))
        }
        // sled's own lock, held by a process that is not custodia (ours is taken first).
        Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => {
            Err(Error::Locked(path.to_path_buf()))
        }
        Ok(Err(e)) => Err(damaged(e.to_string())),
        Err(panic) => Err(damaged(panic_text(&panic))),
    }
}

/// sled writes a snapshot to `snap.<lsn>.generating` and renames it when complete, but
/// picks the newest `snap.*` file at open, unfinished or not (sled issue #1527): a process
/// killed mid-snapshot would leave a database sled calls corrupt. A file never renamed was
/// never a snapshot, so it goes (the caller holds the archive's writer lock).
fn remove_unfinished_snapshots(db_dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(db_dir) else {
        return Ok(()); // a new database: nothing to clean
    };
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            fs::remove_file(entry.path()).map_err(Error::io(entry.path()))?;
            removed = true;
        }
    }
    if removed {
        durable::sync_path(db_dir)?;
    }
    Ok(())
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "sled stopped on an internal error".into())
}

/// Hands memory freed by a closed sled database back to the system.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub fn volume_path(volumes: &Path, number: u32) -> PathBuf {
    volumes.join(format!("{number:06}"))
}

/// One open volume, with the tree its format keeps chunks in.
struct Volume {
    number: u32,
    path: PathBuf,
    db: sled::Db,
    /// `packs` (format 2) or `chunks` (format 1).
    tree: sled::Tree,
}

impl Volume {
    /// Opens a volume. Reading, the tree must exist: opening a missing sled tree creates
    /// it, which would write to a volume that is never written again once closed.
    fn open(volumes: &Path, number: u32, tree: &str, create: bool) -> Result<Volume> {
        let path = volume_path(volumes, number);
        if !create && !path.is_dir() {
            return Err(Error::Damaged(format!(
                "volume {} is missing",
                path.display()
            )));
        }
        let db = open_sled(&path, VOLUME_CACHE)?;
        if !create && !db.tree_names().iter().any(|n| n == tree.as_bytes()) {
            return Err(Error::Damaged(format!(
                "volume {} has no {tree} tree",
                path.display()
            )));
        }
        let tree = db.open_tree(tree)?;
        Ok(Volume {
            number,
            path,
            db,
            tree,
        })
    }

    /// Writes out what sled still buffers for this volume (without syncing it).
    fn flush(&self) -> Result<()> {
        crate::fault::check(crate::fault::Op::Write, &self.path).map_err(Error::io(&self.path))?;
        self.db.flush()?;
        Ok(())
    }
}

/// fsyncs a volume's files, its directory and `volumes/`, once sled has written them out.
fn sync_volume(path: &Path, synced: &mut HashSet<OsString>) -> Result<()> {
    crate::fault::check(crate::fault::Op::Fsync, path).map_err(Error::io(path))?;
    durable::sync_tree(path, synced)?;
    durable::sync_path(path.parent().unwrap_or(Path::new(".")))
}

/// A full volume, closed to new chunks and waiting to be made durable and dropped (on
/// another thread than the one writing the next volume).
pub struct ClosedVolume(Volume);

impl ClosedVolume {
    /// Makes the volume (flushed when it was closed) durable and closes it. On failure the
    /// database is leaked, not dropped: sled may wait forever on drop for writes that cannot
    /// complete (a full disk).
    pub fn finish(self, synced: &mut HashSet<OsString>) -> Result<()> {
        let volume = self.0;
        match sync_volume(&volume.path, synced) {
            Ok(()) => {
                drop(volume);
                release_memory();
                Ok(())
            }
            Err(e) => {
                std::mem::forget(volume);
                Err(e)
            }
        }
    }
}

/// Writes chunks into volumes, one open at a time, and remembers where each went until the
/// index records it. Full volumes come out of `take_closed`, for another thread to make
/// durable; `end_batch` makes the open one durable itself: no other thread may sync a
/// volume that is still being written (a blob file half written when synced would be
/// taken for synced).
pub struct ChunkWriter {
    dir: PathBuf,
    locations: ChunkLocations,
    /// Format 2 and later: chunks go into packs; format 1 archives keep one record per chunk.
    packed: bool,
    current: Option<Volume>,
    closed: Vec<ClosedVolume>,
    /// Bytes written to the open volume (format 1) or packs written to it (format 2).
    written: u64,
    pack: PackBuilder,
    /// Chunks written since the last `end_batch`, and where.
    pending: Vec<(ChunkId, ChunkLocation)>,
    /// Every chunk this writer stored: the index may not name them yet.
    stored: HashSet<ChunkId>,
    /// Blob files of the open volume already fsynced.
    synced: HashSet<OsString>,
    packer: chunk::Packer,
    /// A write failed: sled may then wait forever on drop for writes that will never
    /// complete (seen with a full disk), so the volume is not dropped.
    failed: bool,
}

impl ChunkWriter {
    pub(crate) fn new(archive_root: &Path, locations: ChunkLocations, packed: bool) -> Self {
        Self {
            dir: archive_root.join(VOLUMES_DIR),
            locations,
            packed,
            current: None,
            closed: Vec::new(),
            written: 0,
            pack: PackBuilder::default(),
            pending: Vec::new(),
            stored: HashSet::new(),
            synced: HashSet::new(),
            packer: chunk::Packer::default(),
            failed: false,
        }
    }

    /// Stores a chunk unless it is stored already; returns the bytes it adds.
    pub fn put(&mut self, id: ChunkId, raw: &[u8]) -> Result<u64> {
        let result = self.try_put(id, raw);
        self.failed |= result.is_err();
        result
    }

    fn try_put(&mut self, id: ChunkId, raw: &[u8]) -> Result<u64> {
        if self.stored.contains(&id) || self.locations.contains(&id)? {
            return Ok(0);
        }
        let record = self.packer.pack(raw);
        let len = record.len() as u64;
        if self.packed {
            self.put_packed(id, &record)?;
        } else {
            self.put_record(id, record)?;
        }
        self.stored.insert(id);
        Ok(len)
    }

    /// Format 2: the record joins the pack being built, which goes to the volume when full.
    fn put_packed(&mut self, id: ChunkId, record: &[u8]) -> Result<()> {
        let volume = self.volume()?.number;
        let offset = self.pack.push(id.as_bytes(), record);
        let location = ChunkLocation::Packed {
            volume,
            pack: self.written as u32,
            offset,
        };
        self.pending.push((id, location));
        if self.pack.len() >= PACK_BYTES {
            self.write_pack()?;
        }
        Ok(())
    }

    /// Writes the pack being built (if any) as the next pack of the open volume.
    fn write_pack(&mut self) -> Result<()> {
        if self.pack.is_empty() {
            return Ok(());
        }
        let number = self.written as u32;
        let bytes = self.pack.take();
        let volume = self.volume()?;
        crate::fault::check(crate::fault::Op::Write, &volume.path)
            .map_err(Error::io(&volume.path))?;
        volume.tree.insert(number.to_be_bytes(), bytes)?;
        self.written += 1;
        if self.written >= PACKS_PER_VOLUME {
            self.close()?;
        }
        Ok(())
    }

    /// Format 1: one record per chunk, under its id.
    fn put_record(&mut self, id: ChunkId, record: Vec<u8>) -> Result<()> {
        let len = record.len() as u64;
        let volume = self.volume()?;
        crate::fault::check(crate::fault::Op::Write, &volume.path)
            .map_err(Error::io(&volume.path))?;
        volume.tree.insert(id.as_bytes(), record)?;
        let number = volume.number;
        self.pending.push((id, ChunkLocation::Volume(number)));
        self.written += len;
        if self.written >= VOLUME_BYTES {
            self.close()?;
        }
        Ok(())
    }

    fn volume(&mut self) -> Result<&Volume> {
        if self.current.is_none() {
            let fresh = !self.dir.exists();
            fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
            if fresh {
                durable::sync_path(self.dir.parent().unwrap_or(Path::new(".")))?;
            }
            let number = next_volume_number(&self.dir)?;
            let tree = if self.packed { PACK_TREE } else { VOLUME_TREE };
            self.current = Some(Volume::open(&self.dir, number, tree, true)?);
            self.written = 0;
        }
        self.current
            .as_ref()
            .ok_or_else(|| Error::Database("no open volume".into()))
    }

    /// The open volume takes no more chunks; the next chunk starts a new volume. It is
    /// flushed here, so that every write to a volume comes from the thread that fills it.
    fn close(&mut self) -> Result<()> {
        if let Some(v) = self.current.take() {
            let flushed = v.flush();
            self.closed.push(ClosedVolume(v));
            flushed?;
        }
        Ok(())
    }

    /// Full volumes, to be made durable before the commit of the batch that filled them.
    pub fn take_closed(&mut self) -> Vec<ClosedVolume> {
        std::mem::take(&mut self.closed)
    }

    /// Ends a batch: writes the pack being built, makes the open volume durable, and returns
    /// where the batch's chunks went (what the commit records). Call `take_closed` after: a volume the last pack
    /// filled is among them.
    pub fn end_batch(&mut self) -> Result<Vec<(ChunkId, ChunkLocation)>> {
        let result = self.try_end_batch();
        self.failed |= result.is_err();
        result
    }

    fn try_end_batch(&mut self) -> Result<Vec<(ChunkId, ChunkLocation)>> {
        self.write_pack()?;
        if let Some(v) = &self.current {
            v.flush()?;
            sync_volume(&v.path, &mut self.synced)?;
        }
        Ok(std::mem::take(&mut self.pending))
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        if self.failed {
            std::mem::forget(self.current.take());
            std::mem::forget(std::mem::take(&mut self.closed));
        }
        self.current = None;
        release_memory();
    }
}

/// The number after the highest volume present (volumes are never reused).
fn next_volume_number(dir: &Path) -> Result<u32> {
    let mut highest = 0;
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        {
            highest = highest.max(n);
        }
    }
    Ok(highest + 1)
}

impl Volume {
    /// Opens a private copy of a volume (replacing the previous copy), named in findings
    /// by the original's path.
    fn open_copy(volumes: &Path, staging: &Path, number: u32, tree: &str) -> Result<Volume> {
        let original = volume_path(volumes, number);
        if !original.is_dir() {
            return Err(Error::Damaged(format!(
                "volume {} is missing",
                original.display()
            )));
        }
        if staging.exists() {
            fs::remove_dir_all(staging).map_err(Error::io(staging))?;
        }
        let copy = volume_path(staging, number);
        durable::copy_database(&original, &copy)?;
        let mut volume = Volume::open(staging, number, tree, false).map_err(|e| match e {
            Error::DatabaseDamaged { detail, .. } => Error::DatabaseDamaged {
                path: original.clone(),
                detail,
            },
            other => other,
        })?;
        volume.path = original;
        Ok(volume)
    }
}

/// Reads chunks by id, keeping at most one volume (and one pack of it) open.
pub struct ChunkReader {
    dir: PathBuf,
    /// For a read-only reader: where each volume is copied before sled opens it.
    staging: Option<PathBuf>,
    locations: ChunkLocations,
    open: Option<Volume>,
    /// The last pack read, by number, in the open volume.
    pack: Option<(u32, sled::IVec)>,
}

impl ChunkReader {
    pub(crate) fn new(archive_root: &Path, locations: ChunkLocations) -> Self {
        Self {
            dir: archive_root.join(VOLUMES_DIR),
            staging: None,
            locations,
            open: None,
            pack: None,
        }
    }

    /// Reads each volume from a private copy made in `staging`, never opening the
    /// archive's own: sled writes to every database it opens. One copy at a time exists.
    pub(crate) fn staged_in(mut self, staging: PathBuf) -> Self {
        self.staging = Some(staging);
        self
    }

    /// Forgets the open volume, as after a panic inside sled: the next read opens it afresh.
    pub fn reset(&mut self) {
        self.open = None;
        self.pack = None;
        release_memory();
    }

    /// Where a chunk is stored, as the index records it.
    pub fn location(&self, id: &ChunkId) -> Result<ChunkLocation> {
        self.locations
            .get(id)?
            .ok_or_else(|| Error::Damaged(format!("chunk {id} is missing (no volume records it)")))
    }

    /// A chunk's bytes, decompressed into `out` (not yet checked against its id: see
    /// `chunk::check_id`).
    pub fn read(&mut self, id: &ChunkId, out: &mut Vec<u8>) -> Result<()> {
        let stored = self.get(id)?;
        chunk::unpack(id, &stored, out)
    }

    /// The stored record of a chunk.
    pub fn get(&mut self, id: &ChunkId) -> Result<sled::IVec> {
        let location = self.location(id)?;
        let tree = match location {
            ChunkLocation::Volume(_) => VOLUME_TREE,
            ChunkLocation::Packed { .. } => PACK_TREE,
        };
        let volume = self.open_volume(location.volume(), tree)?;
        let path = volume.path.display().to_string();
        match location {
            ChunkLocation::Volume(_) => volume
                .tree
                .get(id.as_bytes())?
                .ok_or_else(|| Error::Damaged(format!("chunk {id} is missing from volume {path}"))),
            ChunkLocation::Packed { pack, offset, .. } => {
                let bytes = self.pack(pack, &path)?;
                let entry = codec::pack_entry(&bytes, offset)
                    .map_err(|e| Error::Damaged(format!("chunk {id} in volume {path}: {e}")))?;
                if entry.id != *id.as_bytes() {
                    return Err(Error::Damaged(format!(
                        "chunk {id}: pack {pack} of volume {path} holds another chunk at offset {offset}"
                    )));
                }
                Ok(bytes.subslice(entry.record.start, entry.record.len()))
            }
        }
    }

    fn open_volume(&mut self, number: u32, tree: &str) -> Result<&Volume> {
        if self
            .open
            .as_ref()
            .is_none_or(|v| v.number != number || v.tree.name() != tree.as_bytes())
        {
            self.open = None;
            self.pack = None;
            release_memory();
            self.open = Some(match &self.staging {
                None => Volume::open(&self.dir, number, tree, false)?,
                Some(staging) => Volume::open_copy(&self.dir, staging, number, tree)?,
            });
        }
        self.open
            .as_ref()
            .ok_or_else(|| Error::Database("no open volume".into()))
    }

    fn pack(&mut self, number: u32, path: &str) -> Result<sled::IVec> {
        if let Some((n, bytes)) = &self.pack
            && *n == number
        {
            return Ok(bytes.clone());
        }
        let volume = self
            .open
            .as_ref()
            .ok_or_else(|| Error::Database("no open volume".into()))?;
        let bytes = volume.tree.get(number.to_be_bytes())?.ok_or_else(|| {
            Error::Damaged(format!("pack {number} is missing from volume {path}"))
        })?;
        self.pack = Some((number, bytes.clone()));
        Ok(bytes)
    }
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        self.open = None;
        release_memory();
    }
}

/// Every chunk the volumes under `volumes` hold, lowest-numbered volume first, handed to
/// `put` with its location: every pack entry (format 2) or chunk key (format 1). For
/// rebuilding the index from the volumes alone.
pub fn scan_volumes(
    volumes: &Path,
    put: &mut dyn FnMut(&[u8], ChunkLocation) -> Result<()>,
) -> Result<()> {
    let mut numbers: Vec<u32> = match std::fs::read_dir(volumes) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(volumes)(e)),
    };
    numbers.sort_unstable();
    for number in numbers {
        let path = volume_path(volumes, number);
        let db = open_sled(&path, 4 << 20)?;
        let names = db.tree_names();
        let has = |t: &str| names.iter().any(|n| n == t.as_bytes());
        if has(PACK_TREE) {
            for entry in db.open_tree(PACK_TREE)?.iter() {
                let (key, pack) = entry?;
                let pack_no = u32::from_be_bytes(key.as_ref().try_into().map_err(|_| {
                    Error::Damaged(format!(
                        "volume {} has a pack key that is not a number",
                        path.display()
                    ))
                })?);
                for e in codec::pack_entries(&pack)? {
                    put(
                        &e.id,
                        ChunkLocation::Packed {
                            volume: number,
                            pack: pack_no,
                            offset: e.offset,
                        },
                    )?;
                }
            }
        } else if has(VOLUME_TREE) {
            for key in db.open_tree(VOLUME_TREE)?.iter().keys() {
                put(&key?, ChunkLocation::Volume(number))?;
            }
        }
        db.flush()?;
    }
    Ok(())
}
