//! `restore`: a working archive from a replica alone.
//!
//! The newest manifest the identity opens names every object; each is downloaded, checked
//! against the size and SHA-256 the manifest gives, and opened. Volumes are written back as
//! sled volumes, the log and the content records into a new index database, and the rest
//! of the index is rebuilt from them (`catalog::rebuild_index`). All of it is built in a
//! temporary directory beside the target, verified, and only then renamed into place: a
//! restore never leaves an archive that does not verify.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::archive::{DB_DIR, FORMAT_FILE, HEAD_FILE, LOCK_FILE, OpenOptions, head_text};
use crate::catalog::{Catalog, ContentRecord, Restoring, rebuild_index};
use crate::codec;
use crate::custody::Event;
use crate::durable;
use crate::error::{Error, Result};
use crate::store::{VOLUMES_DIR, open_sled};
use crate::verify::{VerifyOptions, verify_archive};

use super::TransferProgress;
use super::crypt::{OpenFailure, Opener, open};
use super::layout::{self, MANIFEST_DIR, Manifest, Stored, What};
use super::remote::{Endpoint, Remote};
use super::tail;

const WORKERS: usize = 3;

/// What `restore` is given.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    /// `s3://BUCKET/PREFIX`.
    pub from: String,
    pub endpoint: Endpoint,
    /// The age identity file; none for a plaintext replica.
    pub identity: Option<PathBuf>,
    /// The archive directory to create; it must not exist.
    pub to: PathBuf,
    /// Who runs the verification of the result (nothing is recorded).
    pub actor: String,
}

/// What a restore made.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    pub archive: PathBuf,
    pub archive_id: String,
    pub head: u64,
    pub head_sha256: String,
    /// Objects read, and their bytes.
    pub objects: u64,
    pub bytes: u64,
    pub items: u64,
    pub events: u64,
    /// Whether the newest push's own event was on the replica and restored.
    pub push_event: bool,
    /// Its manifest announced it, but the server did not have it: the log ends one short.
    pub push_event_missing: bool,
}

/// Removes the temporary directory unless the restore got to its end.
struct Scratch(Option<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Rebuilds an archive at `opts.to` from the replica at `opts.from`.
pub fn restore(opts: &RestoreOptions, progress: &dyn TransferProgress) -> Result<RestoreReport> {
    let to = &opts.to;
    let parent = new_output(to)?;
    let opener = opts.identity.as_deref().map(Opener::load).transpose()?;
    let remote = Remote::connect(&opts.from, &opts.endpoint)?;
    let (manifest_name, manifest) = newest_manifest(&remote, opener.as_ref(), &opts.from)?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.custodia-restore-{}", std::process::id()));
    durable::create_private_dir_all(&tmp)?;
    let mut scratch = Scratch(Some(tmp.clone()));
    let fetch = Fetch {
        remote: &remote,
        opener: opener.as_ref(),
        progress,
        bytes: AtomicUsize::new(0),
    };
    restore_volumes(&fetch, &manifest, &tmp.join(VOLUMES_DIR))?;
    let push_event = match &manifest.push_event {
        Some(object) => tail::fetch_for_restore(
            &remote,
            opener.as_ref(),
            object,
            &manifest_name,
            manifest.head,
            &manifest.head_sha256,
        )?,
        None => None,
    };
    let rebuilt = rebuild_at(&tmp, &fetch, &manifest, &manifest_name, push_event.as_ref())?;
    let head = &rebuilt.head;
    let a = &manifest.archive;
    create_lock(&tmp.join(LOCK_FILE))?;
    check_restored(&tmp, &opts.actor)?;
    durable::rename_noreplace(&tmp, to)?;
    scratch.0 = None;
    durable::sync_path(&parent)?;
    Ok(RestoreReport {
        archive: to.clone(),
        archive_id: a.archive_id.clone(),
        head: head.seq,
        head_sha256: head.digest.to_hex(),
        objects: manifest.objects.len() as u64 + 1 + u64::from(push_event.is_some()),
        bytes: fetch.bytes.load(Ordering::Relaxed) as u64,
        items: rebuilt.items,
        events: rebuilt.events,
        push_event: push_event.is_some(),
        push_event_missing: manifest.push_event.is_some() && push_event.is_none(),
    })
}

/// Writes the log, content records and index into `tmp` (volumes are there already), checks
/// the head against the manifest, syncs the database and writes `HEAD` and `FORMAT`.
fn rebuild_at(
    tmp: &Path,
    fetch: &Fetch,
    manifest: &Manifest,
    manifest_name: &str,
    push_event: Option<&tail::TailEvent>,
) -> Result<crate::catalog::Rebuilt> {
    let db = open_sled(&tmp.join(DB_DIR), 16 << 20)?;
    let catalog = Catalog::open(&db)?;
    let a = &manifest.archive;
    catalog.put_archive_meta(&crate::catalog::ArchiveMeta {
        format: a.format,
        archive_id: a.archive_id.clone(),
        created_at: a.created_at.clone(),
        chunk_size: a.chunk_size,
        tool: a.tool.clone(),
    })?;
    restore_log(fetch, manifest, &db, push_event)?;
    let volumes = tmp.join(VOLUMES_DIR);
    let rebuilt = rebuild_index(&db, &mut |put| crate::store::scan_volumes(&volumes, put))?;
    // With its push event the log ends one later; that event's `prev` was checked to be
    // the manifest's head, and verify below checks the whole chain.
    let (end, end_sha256) = match push_event {
        Some(t) => (manifest.head + 1, hex::encode(Sha256::digest(&t.line))),
        None => (manifest.head, manifest.head_sha256.clone()),
    };
    if rebuilt.head.seq != end || rebuilt.head.digest.to_hex() != end_sha256 {
        return Err(Error::ReplicaDamaged {
            object: manifest_name.to_owned(),
            why: format!(
                "it names event {} ({}) as the head, but its log ends at event {} ({})",
                manifest.head,
                manifest.head_sha256,
                rebuilt.head.seq,
                rebuilt.head.digest.to_hex()
            ),
        });
    }
    db.flush()?;
    drop(catalog);
    drop(db);
    durable::sync_tree(&tmp.join(DB_DIR), &mut HashSet::new())?;
    durable::replace_file(&tmp.join(HEAD_FILE), head_text(&rebuilt.head).as_bytes())?;
    let format = format!("custodia archive\nformat {}\n", a.format);
    durable::replace_file(&tmp.join(FORMAT_FILE), format.as_bytes())?;
    Ok(rebuilt)
}

/// The directory a new output goes into: it must exist, and the output must not.
fn new_output(to: &std::path::Path) -> Result<PathBuf> {
    if to.symlink_metadata().is_ok() {
        return Err(Error::OutputExists(to.to_path_buf()));
    }
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::NoOutputDir(parent));
    }
    Ok(parent)
}

/// The manifest of the newest push that the identity opens.
fn newest_manifest(
    remote: &Remote,
    opener: Option<&Opener>,
    url: &str,
) -> Result<(String, Manifest)> {
    let listed = remote.list(MANIFEST_DIR)?;
    if listed.is_empty() {
        return Err(Error::BadReplica(format!(
            "{url} holds no custodia replica (no manifest under it); check the address"
        )));
    }
    let mut best: Option<(String, Manifest)> = None;
    let mut not_for_us = 0;
    for l in &listed {
        let Some(stored) = remote.get(&l.name)? else {
            continue;
        };
        let plain = match open(opener, &stored) {
            Ok(p) => p,
            Err(OpenFailure::NotForUs) => {
                not_for_us += 1;
                continue;
            }
            // A manifest that does not open or parse is damage, not something to pass
            // over: skipping the newest would restore an older state and call it whole.
            Err(OpenFailure::Damaged(why)) => {
                return Err(Error::ReplicaDamaged {
                    object: l.name.clone(),
                    why: format!("this manifest does not decrypt ({why}); nothing was restored"),
                });
            }
        };
        let m = Manifest::parse(&plain).map_err(|e| Error::ReplicaDamaged {
            object: l.name.clone(),
            why: format!("{e}; nothing was restored"),
        })?;
        if best.as_ref().is_none_or(|(_, b)| m.head > b.head) {
            best = Some((l.name.clone(), m));
        }
    }
    match (best, opener) {
        (Some(b), _) => Ok(b),
        (None, None) if not_for_us > 0 => Err(Error::Identity(format!(
            "the replica {url} is encrypted: pass --identity with the age key it was encrypted to"
        ))),
        (None, Some(o)) if not_for_us > 0 => Err(Error::Identity(format!(
            "no manifest of the replica {url} opens with the age identity {} (a wrong key?)",
            o.path()
        ))),
        (None, _) => Err(Error::ReplicaDamaged {
            object: format!("{MANIFEST_DIR}/"),
            why: "no manifest of the replica is readable".into(),
        }),
    }
}

/// Downloads objects, checking each against the manifest before it is opened.
struct Fetch<'a> {
    remote: &'a Remote,
    opener: Option<&'a Opener>,
    progress: &'a dyn TransferProgress,
    bytes: AtomicUsize,
}

impl Fetch<'_> {
    fn plaintext(&self, s: &Stored) -> Result<Vec<u8>> {
        let bad = |why: String| Error::ReplicaDamaged {
            object: s.name.clone(),
            why: format!("{} ({why}); nothing was restored", s.what),
        };
        let stored = self
            .remote
            .get(&s.name)?
            .ok_or_else(|| bad("it is missing".into()))?;
        self.bytes.fetch_add(stored.len(), Ordering::Relaxed);
        self.progress.bytes(stored.len() as u64);
        if stored.len() as u64 != s.size {
            return Err(bad(format!(
                "it has {} bytes where the manifest gives {}",
                stored.len(),
                s.size
            )));
        }
        let digest = hex::encode(Sha256::digest(&stored));
        if digest != s.sha256 {
            return Err(bad(format!(
                "its SHA-256 is {digest} where the manifest gives {}",
                s.sha256
            )));
        }
        open(self.opener, &stored).map_err(|e| match e {
            OpenFailure::NotForUs => bad("it is not encrypted to the identity given".into()),
            OpenFailure::Damaged(why) => bad(format!("it does not decrypt: {why}")),
        })
    }
}

fn restore_volumes(fetch: &Fetch, manifest: &Manifest, volumes: &Path) -> Result<()> {
    let jobs: Vec<(u32, &Stored)> = manifest
        .objects
        .iter()
        .filter_map(|s| match What::parse(&s.what) {
            Some(What::Volume(n)) => Some((n, s)),
            _ => None,
        })
        .collect();
    durable::create_private_dir_all(volumes)?;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(jobs.len()) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let Some((n, s)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    if let Err(e) = restore_volume(fetch, *n, s, volumes) {
                        stop.store(true, Ordering::Relaxed);
                        failure.lock().expect("no worker panics").get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("no worker panics") {
        return Err(e);
    }
    durable::sync_path(volumes)
}

fn restore_volume(fetch: &Fetch, number: u32, s: &Stored, volumes: &Path) -> Result<()> {
    let plain = fetch.plaintext(s)?;
    let v = layout::decode_volume(&plain)
        .filter(|v| v.number == number)
        .ok_or_else(|| Error::ReplicaDamaged {
            object: s.name.clone(),
            why: format!("{} does not hold volume {number}", s.what),
        })?;
    drop(plain);
    crate::store::write_volume(volumes, number, &v.tree, v.entries)
}

/// The log segments, in order, into the `custody` tree; the content records into `contents`.
fn restore_log(
    fetch: &Fetch,
    manifest: &Manifest,
    db: &sled::Db,
    push_event: Option<&tail::TailEvent>,
) -> Result<()> {
    let restoring = Restoring::new(db)?;
    let mut next_seq = 1;
    for s in &manifest.objects {
        match What::parse(&s.what) {
            Some(What::Log { first, last }) => {
                restore_segment(fetch, s, (first, last), &mut next_seq, &restoring)?;
            }
            Some(What::Openings { first, last }) => {
                restore_openings(fetch, s, (first, last), &restoring)?;
            }
            Some(What::Contents { .. }) => restore_contents(fetch, s, &restoring)?,
            _ => {}
        }
    }
    if let Some(t) = push_event {
        if next_seq != manifest.head + 1 {
            return Err(Error::ReplicaDamaged {
                object: format!("{MANIFEST_DIR}/"),
                why: format!(
                    "the manifest's log objects end at event {}, not at its head {}; nothing was restored",
                    next_seq - 1,
                    manifest.head
                ),
            });
        }
        restoring.put_event(next_seq, &t.line)?;
        if let Some(o) = &t.openings {
            restoring.put_openings(next_seq, o)?;
        }
    }
    Ok(())
}

/// One log segment: events `first..=last`, which must start at `next_seq` and run on.
fn restore_segment(
    fetch: &Fetch,
    s: &Stored,
    (first, last): (u64, u64),
    next_seq: &mut u64,
    restoring: &Restoring,
) -> Result<()> {
    let bad = |why: &str| Error::ReplicaDamaged {
        object: s.name.clone(),
        why: format!("{} {why}; nothing was restored", s.what),
    };
    if first != *next_seq {
        return Err(bad(&format!("starts at event {first}, not {next_seq}")));
    }
    let plain = fetch.plaintext(s)?;
    let lines = layout::decode_log(&plain).ok_or_else(|| bad("is not a log"))?;
    let count = last.checked_sub(first).and_then(|d| d.checked_add(1));
    if count != Some(lines.len() as u64) {
        return Err(bad("does not hold the events it names"));
    }
    for line in lines {
        let seq = Event::parse(line)
            .map_err(|_| bad("holds a line that is not an event"))?
            .seq;
        if seq != *next_seq {
            return Err(bad(&format!("holds event {seq} where {next_seq} belongs")));
        }
        restoring.put_event(seq, line)?;
        *next_seq += 1;
    }
    Ok(())
}

/// One openings object: the openings of events within `first..=last`.
fn restore_openings(
    fetch: &Fetch,
    s: &Stored,
    (first, last): (u64, u64),
    restoring: &Restoring,
) -> Result<()> {
    let bad = || Error::ReplicaDamaged {
        object: s.name.clone(),
        why: format!("{} is not an openings object", s.what),
    };
    let plain = fetch.plaintext(s)?;
    for line in layout::decode_log(&plain).ok_or_else(bad)? {
        let o: layout::OpeningsLine = serde_json::from_slice(line).map_err(|_| bad())?;
        if o.seq < first || o.seq > last {
            return Err(bad());
        }
        restoring.put_openings(o.seq, &o.openings)?;
    }
    Ok(())
}

/// One contents object: content records, each of which must decode.
fn restore_contents(fetch: &Fetch, s: &Stored, restoring: &Restoring) -> Result<()> {
    let plain = fetch.plaintext(s)?;
    let records = layout::decode_contents(&plain).ok_or_else(|| Error::ReplicaDamaged {
        object: s.name.clone(),
        why: format!("{} is not a contents object", s.what),
    })?;
    for (id, record) in records {
        codec::decode::<ContentRecord>("content record", &record).map_err(|_| {
            Error::ReplicaDamaged {
                object: s.name.clone(),
                why: format!("{} holds a content record that does not decode", s.what),
            }
        })?;
        restoring.put_content(&id, &record)?;
    }
    Ok(())
}

/// The archive's lock file, empty and private as `init` makes it.
fn create_lock(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(Error::io(path))
}

/// Verifies the restored archive, recording nothing in it; refuses one with any finding.
fn check_restored(root: &Path, actor: &str) -> Result<()> {
    let opts = OpenOptions {
        read_only: true,
        ..OpenOptions::new(actor)
    };
    let report = verify_archive(root, &opts, &VerifyOptions::default(), &mut ())?;
    match report.problems.first() {
        None => Ok(()),
        Some(first) => Err(Error::Damaged(format!(
            "the archive rebuilt from the replica does not verify ({} problem(s), the first: {} {}: {}); nothing was restored",
            report.problems.len(),
            first.kind().as_str(),
            first.subject().unwrap_or_default(),
            first
        ))),
    }
}
