//! `push`: stores on a replica what it lacks, then records a `push` event naming it.
//!
//! Order (docs/FORMAT.md, "Replicas", "Push"): list the replica; upload, create-only and
//! in parallel, every volume, log segment and contents object it lacks; then the manifest;
//! only then commit the event. An interrupted push leaves objects no event names; the next
//! push finds them under the same names (names are derived from what an object holds, not
//! from its bytes) and sends only the rest. Nothing in the archive changes but the event.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::archive::Archive;
use crate::catalog::{Catalog, ContentRecord, Head};
use crate::codec;
use crate::custody::details::{AcquisitionDetails, PushDetails};
use crate::custody::{Action, Draft, Event};
use crate::error::{Error, Result};
use crate::ids::ContentId;
use crate::store::VOLUMES_DIR;

use super::TransferProgress;
use super::crypt::{Sealing, payload_len};
use super::layout::{self, Manifest, ManifestArchive, SEGMENT_BYTES, SEGMENT_EVENTS, Stored, What};
use super::registry::Replica;
use super::remote::{Listed, Put, Remote};
use super::tail;

/// Objects prepared and sent at once: each holds at most a volume (about 8 MiB) twice,
/// plain and sealed, so memory stays near 3 × 16 MiB whatever the archive's size.
const WORKERS: usize = 3;

/// What a push did.
#[derive(Clone, Debug)]
pub struct PushReport {
    pub replica: String,
    pub url: String,
    /// The newest event the replica now holds.
    pub head: u64,
    /// Objects the manifest names (the whole replica but its manifests).
    pub objects: u64,
    /// Objects uploaded by this push, and their bytes.
    pub sent: u64,
    pub bytes: u64,
    /// Objects an interrupted push had stored, found and recorded now without sending them again.
    pub found: u64,
    pub manifest: String,
    /// The `push` event.
    pub seq: u64,
    /// Whether the push event itself reached the replica (`push/<seq>`); when not, the
    /// next push sends it.
    pub push_event_stored: bool,
    /// Earlier push events the server lacked, sent again by this push.
    pub push_events_resent: u64,
}

enum Step {
    Upload,
    /// Stored by a push that never recorded it: keep it if it is what this push would store.
    Adopt(Listed),
}

struct Job {
    what: What,
    name: String,
    step: Step,
}

impl Archive {
    /// Pushes to the named replica, or to the only one.
    pub fn push(
        &mut self,
        name: Option<&str>,
        progress: &dyn TransferProgress,
    ) -> Result<PushReport> {
        let replica = self.replica_to_push(name)?;
        // Signing is prepared first: the key is registered (if it must be) before any
        // object is sent, so the event that ends the push is this process's only write.
        self.prepare_signing()?;
        let head = self
            .head()?
            .ok_or_else(|| Error::Damaged("the archive records no newest event".into()))?;
        let sealing = Sealing::new(&replica.recipients, replica.plaintext)?;
        let remote = Remote::connect(&replica.url, &replica.endpoint())?;
        let listed: BTreeMap<String, Listed> = remote
            .list("")?
            .into_iter()
            .map(|l| (l.name.clone(), l))
            .collect();
        let push_events_resent =
            tail::resend_missing(&remote, &replica, &sealing, &self.catalog, &listed)?;
        let recorded = replica.stored();
        let jobs = plan(self, &replica, head.seq, &recorded, &listed)?;
        let found = jobs
            .iter()
            .filter(|j| matches!(j.step, Step::Adopt(_)))
            .count() as u64;
        let source = Source {
            catalog: &self.catalog,
            volumes: self.root().join(VOLUMES_DIR),
        };
        let new = run_jobs(&jobs, &source, &sealing, &remote, progress)?;
        let (mut sent, mut bytes) = uploaded(&jobs, &new);
        let manifest = self.manifest(&head, recorded, &new, &replica);
        let (name, stored_manifest, was_sent) =
            store_manifest(&remote, &replica, &sealing, &manifest)?;
        if was_sent {
            sent += 1;
            bytes += stored_manifest.size;
        }
        let mut lines: Vec<String> = new.iter().map(Stored::to_line).collect();
        lines.push(stored_manifest.to_line());
        let draft = Draft::new(Action::Push).with(&PushDetails {
            replica: replica.name.clone(),
            url: replica.url.clone(),
            head: head.seq,
            head_sha256: head.digest.to_hex(),
            manifest: name.clone(),
            objects: lines,
            sent,
            bytes,
            event_object: manifest.push_event.clone(),
        });
        let seq = self.commit(|tx| tx.append(&draft).map(|(seq, _)| seq))?;
        debug_assert_eq!(
            seq,
            head.seq + 1,
            "the push event follows the head it names"
        );
        // The push is recorded and done; its own event reaching the replica is the last
        // step, and a failure there is said, not an error: the next push sends it.
        let push_event_stored =
            tail::store(&remote, &replica, &sealing, &self.catalog, seq).unwrap_or(false);
        Ok(PushReport {
            replica: replica.name,
            url: replica.url,
            head: head.seq,
            objects: manifest.objects.len() as u64,
            sent,
            bytes,
            found,
            manifest: name,
            seq,
            push_event_stored,
            push_events_resent,
        })
    }
}

impl Archive {
    /// The named replica, or the only one.
    fn replica_to_push(&self, name: Option<&str>) -> Result<Replica> {
        match name {
            Some(n) => self.replica(n),
            None => {
                let mut all = self.replicas()?;
                match all.len() {
                    1 => Ok(all.remove(0)),
                    0 => Err(Error::BadReplica(
                        "this archive has no replica; add one with `custodia replica add`".into(),
                    )),
                    _ => Err(Error::BadReplica(
                        "this archive has several replicas: name the one to push to".into(),
                    )),
                }
            }
        }
    }

    /// The manifest of a push: the archive, the head, every data object (the earlier
    /// pushes' and this one's), and where the push event will be.
    fn manifest(
        &self,
        head: &Head,
        recorded: BTreeMap<String, Stored>,
        new: &[Stored],
        replica: &Replica,
    ) -> Manifest {
        // The lock is held and signing is prepared: the push event is the next event.
        let push_event = tail::name(replica, head.seq + 1);
        // The manifest names every data object: the earlier pushes' and this one's.
        let mut objects: BTreeMap<String, Stored> = recorded
            .into_iter()
            .filter(|(_, s)| !s.what.starts_with("manifest/"))
            .collect();
        for s in new {
            objects.insert(s.name.clone(), s.clone());
        }
        let mut objects: Vec<Stored> = objects.into_values().collect();
        objects.sort_by_key(|s| What::parse(&s.what));
        let meta = self.meta().clone();
        Manifest {
            custodia_replica: layout::MANIFEST_VERSION,
            archive: ManifestArchive {
                format: meta.format,
                archive_id: meta.archive_id,
                created_at: meta.created_at,
                chunk_size: meta.chunk_size,
                tool: meta.tool,
            },
            head: head.seq,
            head_sha256: head.digest.to_hex(),
            objects,
            push_event: Some(push_event),
        }
    }
}

/// Objects this push uploaded (not found already there), and their bytes.
fn uploaded(jobs: &[Job], new: &[Stored]) -> (u64, u64) {
    let mut sent = 0;
    let mut bytes = 0;
    for (job, stored) in jobs.iter().zip(new) {
        if matches!(job.step, Step::Upload) {
            sent += 1;
            bytes += stored.size;
        }
    }
    (sent, bytes)
}

/// Stores a manifest under its name: the name, its record, and whether this call sent it.
fn store_manifest(
    remote: &Remote,
    replica: &Replica,
    sealing: &Sealing,
    manifest: &Manifest,
) -> Result<(String, Stored, bool)> {
    let plain = serde_json::to_vec(manifest).expect("a manifest is plain JSON data");
    let what = What::Manifest {
        head: manifest.head,
        digest: hex::encode(Sha256::digest(&plain)),
    };
    let name = what.object_name(&replica.name_key);
    let (stored, sent) = store_one(remote, &what, &name, sealing.seal(&plain), None)?;
    Ok((name, stored, sent))
}

/// Decides, for every object the replica should hold, whether it is there already, must
/// be sent, or was left by an interrupted push; refuses (as damage) an object recorded
/// as stored that the server now holds with another size or ETag.
fn plan(
    archive: &Archive,
    replica: &Replica,
    head: u64,
    recorded: &BTreeMap<String, Stored>,
    listed: &BTreeMap<String, Listed>,
) -> Result<Vec<Job>> {
    let mut wanted: BTreeSet<What> = recorded
        .values()
        .filter_map(|s| What::parse(&s.what))
        .filter(|w| !matches!(w, What::Manifest { .. }))
        .collect();
    wanted.extend(
        volumes_in_use(&archive.catalog)?
            .into_iter()
            .map(What::Volume),
    );
    let from = replica.pushed_head() + 1;
    if from <= head {
        wanted.extend(segments(&archive.catalog, from, head)?);
    }
    let mut jobs = Vec::new();
    for what in wanted {
        let name = what.object_name(&replica.name_key);
        let step = match (recorded.get(&name), listed.get(&name)) {
            (Some(r), Some(l)) => {
                let etag_differs = !r.etag.is_empty() && !l.etag.is_empty() && r.etag != l.etag;
                if l.size != r.size || etag_differs {
                    return Err(Error::ReplicaDamaged {
                        object: name,
                        why: format!(
                            "it holds {} bytes (ETag {}) where a push stored {} bytes (ETag {}); custodia never overwrites an object: run `custodia verify --replica {}`",
                            l.size, l.etag, r.size, r.etag, replica.name
                        ),
                    });
                }
                continue;
            }
            (None, Some(l)) => Step::Adopt(l.clone()),
            (_, None) => Step::Upload,
        };
        jobs.push(Job { what, name, step });
    }
    Ok(jobs)
}

/// The volumes holding a chunk of some content, by number.
fn volumes_in_use(catalog: &Catalog) -> Result<BTreeSet<u32>> {
    let locations = catalog.chunk_locations();
    let mut volumes = BTreeSet::new();
    let mut seen = std::collections::HashSet::new();
    for entry in catalog.raw_contents() {
        let (key, value) = entry?;
        let record: ContentRecord = codec::decode("content record", &value).map_err(|_| {
            Error::Damaged(format!(
                "the content record {} does not decode; run verify",
                hex::encode(&key)
            ))
        })?;
        for chunk in record.chunks {
            if !seen.insert(*chunk.id.as_bytes()) {
                continue;
            }
            let at = locations.get(&chunk.id)?.ok_or_else(|| {
                Error::Damaged(format!("chunk {} has no volume; run verify", chunk.id))
            })?;
            volumes.insert(at.volume());
        }
    }
    Ok(volumes)
}

/// The log objects for events `from..=head`: segments of at most `SEGMENT_EVENTS` events
/// or about `SEGMENT_BYTES`, each with a contents object when its ingests brought content.
fn segments(catalog: &Catalog, from: u64, head: u64) -> Result<Vec<What>> {
    let mut out = Vec::new();
    let mut first = from;
    let mut size = 0usize;
    let mut has_contents = false;
    let mut has_openings = false;
    for seq in from..=head {
        let bytes = event(catalog, seq)?;
        size += bytes.len() + 1;
        has_contents |= bytes.starts_with(br#"{"action":"ingest""#);
        has_openings |= !catalog.openings(seq)?.is_empty();
        if seq - first + 1 >= SEGMENT_EVENTS || size >= SEGMENT_BYTES || seq == head {
            out.push(What::Log { first, last: seq });
            if has_contents {
                out.push(What::Contents { first, last: seq });
            }
            // A restored archive must show the values its events commit to (issue 11.7).
            if has_openings {
                out.push(What::Openings { first, last: seq });
            }
            first = seq + 1;
            size = 0;
            has_contents = false;
            has_openings = false;
        }
    }
    Ok(out)
}

fn event(catalog: &Catalog, seq: u64) -> Result<Vec<u8>> {
    catalog
        .event_bytes(seq)?
        .ok_or_else(|| Error::Damaged(format!("event {seq} is missing from the log; run verify")))
}

/// Where objects' plaintexts come from.
struct Source<'a> {
    catalog: &'a Catalog,
    volumes: PathBuf,
}

impl Source<'_> {
    fn plaintext(&self, what: &What) -> Result<Vec<u8>> {
        match what {
            What::Volume(n) => read_volume(&self.volumes, *n),
            What::Log { first, last } => {
                let mut events = Vec::new();
                for seq in *first..=*last {
                    events.push(event(self.catalog, seq)?);
                }
                Ok(layout::encode_log(events.iter().map(Vec::as_slice)))
            }
            What::Contents { first, last } => {
                let mut seen = BTreeSet::new();
                let mut records = Vec::new();
                for seq in *first..=*last {
                    let bytes = event(self.catalog, seq)?;
                    if !bytes.starts_with(br#"{"action":"ingest""#) {
                        continue;
                    }
                    let Some(id) = Event::parse(&bytes)
                        .ok()
                        .and_then(|e| e.details_as::<AcquisitionDetails>())
                        .and_then(|d| ContentId::from_hex(&d.blake3))
                    else {
                        return Err(Error::Damaged(format!(
                            "event {seq} is not a readable ingest; run verify"
                        )));
                    };
                    if !seen.insert(*id.as_bytes()) {
                        continue;
                    }
                    let record = self.catalog.raw_content(&id)?.ok_or_else(|| {
                        Error::Damaged(format!("content {id} is not stored; run verify"))
                    })?;
                    records.push((*id.as_bytes(), record.to_vec()));
                }
                Ok(layout::encode_contents(&records))
            }
            What::Openings { first, last } => {
                let mut lines = Vec::new();
                for seq in *first..=*last {
                    let openings = self.catalog.openings(seq)?;
                    if !openings.is_empty() {
                        lines.push(layout::OpeningsLine { openings, seq }.to_bytes());
                    }
                }
                Ok(layout::encode_log(lines.iter().map(Vec::as_slice)))
            }
            What::Manifest { .. } | What::PushEvent(_) => {
                unreachable!("manifests and push events are stored by push itself")
            }
        }
    }
}

/// A whole volume, encoded as a replica object holds it.
fn read_volume(volumes: &Path, number: u32) -> Result<Vec<u8>> {
    let (tree, entries) = crate::store::volume_entries(volumes, number)?;
    Ok(layout::encode_volume(number, tree, &entries))
}

/// Runs the jobs on `WORKERS` threads; the first failure stops the others taking more.
/// Returns what each job stored, in job order.
fn run_jobs(
    jobs: &[Job],
    source: &Source,
    sealing: &Sealing,
    remote: &Remote,
    progress: &dyn TransferProgress,
) -> Result<Vec<Stored>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Stored>>> = Mutex::new(vec![None; jobs.len()]);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(jobs.len()) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    match do_job(job, source, sealing, remote) {
                        Ok(stored) => {
                            if matches!(job.step, Step::Upload) {
                                progress.bytes(stored.size);
                            }
                            results.lock().expect("no worker panics")[i] = Some(stored);
                        }
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            failure.lock().expect("no worker panics").get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("no worker panics") {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .expect("no worker panics")
        .into_iter()
        .map(|s| s.expect("every job ran"))
        .collect())
}

fn do_job(job: &Job, source: &Source, sealing: &Sealing, remote: &Remote) -> Result<Stored> {
    let sealed = sealing.seal(&source.plaintext(&job.what)?);
    let listed = match &job.step {
        Step::Upload => None,
        Step::Adopt(l) => Some(l),
    };
    store_one(remote, &job.what, &job.name, sealed, listed).map(|(s, _)| s)
}

/// Stores `sealed` under `name` unless an object of that name exists. An existing object
/// (an interrupted push stored it) is kept only when its payload has the length `sealed`'s
/// has: an age file's header carries a random-length grease stanza, but the payload after
/// it is a function of the plaintext's length. It is then recorded by the SHA-256 of its
/// own bytes. True when this call uploaded it.
fn store_one(
    remote: &Remote,
    what: &What,
    name: &str,
    sealed: Vec<u8>,
    listed: Option<&Listed>,
) -> Result<(Stored, bool)> {
    let mut stored = Stored::of(what, name.to_owned(), &sealed, String::new());
    let expected = payload_len(&sealed);
    match listed {
        Some(l) => stored.etag = l.etag.clone(),
        None => {
            if let Put::Created { etag } = remote.put_new(name, sealed)? {
                stored.etag = etag;
                return Ok((stored, true));
            }
        }
    }
    let there = remote.get(name)?.ok_or_else(|| Error::ReplicaDamaged {
        object: name.to_owned(),
        why: "it was listed but cannot be read".into(),
    })?;
    if payload_len(&there) != expected {
        return Err(Error::ReplicaDamaged {
            object: name.to_owned(),
            why: format!(
                "it exists with {} bytes, which are not {} as this archive holds it; custodia never overwrites an object",
                there.len(),
                what.label()
            ),
        });
    }
    Ok((
        Stored::of(what, name.to_owned(), &there, stored.etag),
        false,
    ))
}
