//! `ingest`: files and folders into a case, each item committed with its custody event and made durable before it is reported.

use std::fs::{File, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::archive::{Archive, Tx, TxResult};
use crate::catalog::abort;
use crate::catalog::{ItemRecord, LinkRecord};
use crate::codec::ChunkLocation;
use crate::custody::details::{AcquisitionDetails, AnnotateDetails};
use crate::custody::disclosure::{NoRandom, Openings};
use crate::custody::{Action, Draft};
use crate::error::Result;
use crate::ids::ChunkId;
use crate::ids::{CaseId, EvidenceId, ItemRef};
use crate::store::{ContentRecord, Fixity};
use crate::text;
use crate::walk;

mod pipeline;

/// What to ingest and the context every item gets.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    pub case: CaseId,
    pub source: Option<String>,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub captured_at: Option<String>,
    pub parent: Option<ItemRef>,
    pub paths: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The bytes were not in the archive before.
    New,
    /// The bytes were already stored; see docs/CLI.md, "ingest", for what is recorded.
    Duplicate,
}

/// One file, ingested and durable.
#[derive(Clone, Debug)]
pub struct Ingested {
    pub id: EvidenceId,
    pub path: PathBuf,
    pub fixity: Fixity,
    pub status: Status,
    /// A duplicate that brought tags, a source, a note or a capture time the item did not
    /// have: the `annotate` event that recorded them (issue 12.2).
    pub annotated: Option<u64>,
}

/// An entry not ingested, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct IngestReport {
    pub items: Vec<Ingested>,
    pub skipped: Vec<Skipped>,
}

/// What the library tells its caller while it works; the CLI draws it.
pub trait IngestProgress {
    /// Whether the caller draws totals: only then does ingest walk its inputs once first
    /// to count them, a pass of metadata reads that a script gains nothing from.
    fn wants_total(&self) -> bool {
        false
    }
    /// Files and bytes the walk found, before any is read.
    fn total(&mut self, _files: u64, _bytes: u64) {}
    fn file(&mut self, _path: &Path, _size: u64) {}
    fn bytes(&mut self, _n: u64) {}
    /// Items that are now durable, in the order they were read.
    fn durable(&mut self, _items: &[Ingested]) {}
    fn skipped(&mut self, _skip: &Skipped) {}
}

impl IngestProgress for () {}

/// A file read into the store, waiting for its batch to commit.
struct Pending {
    path: PathBuf,
    name: Vec<u8>,
    fixity: Fixity,
    record: ContentRecord,
    modified_at: Option<String>,
}

struct Context<'a> {
    opts: &'a IngestOptions,
    case: &'a CaseId,
    parent: Option<EvidenceId>,
}

impl Archive {
    pub fn ingest(
        &mut self,
        opts: &IngestOptions,
        progress: &mut dyn IngestProgress,
    ) -> Result<IngestReport> {
        let case = &opts.case;
        self.case(case)?;
        let parent = opts
            .parent
            .as_ref()
            .map(|r| self.resolve(r))
            .transpose()?
            .map(|item| item.id);
        walk::check_inputs(&opts.paths)?;
        let cx = Context { opts, case, parent };
        pipeline::run(self, &cx, progress)
    }

    /// Records a batch of stored files (whose chunks are durable by now), each with its
    /// custody event, and makes the batch durable.
    ///
    /// The batch goes in transactions of `TX_FILES` files: one sled transaction pins
    /// memory for every node its inserts replace until it ends, so a big one costs tens
    /// of MiB; durability, the costly part, is one round for the whole batch.
    fn commit_batch(
        &mut self,
        cx: &Context,
        locations: &[(ChunkId, ChunkLocation)],
        batch: Vec<Pending>,
    ) -> Result<Vec<Ingested>> {
        self.transact(|tx| {
            for (id, location) in locations {
                tx.put_chunk_location(id, location)?;
            }
            Ok(())
        })?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for files in batch.chunks(TX_FILES) {
            outcomes.extend(self.transact(|tx| {
                files
                    .iter()
                    .map(|p| record_item(tx, cx, p))
                    .collect::<TxResult<Vec<_>>>()
            })?);
        }
        self.commit_durable()?;
        Ok(batch
            .into_iter()
            .zip(outcomes)
            .map(|(p, (id, status, annotated))| Ingested {
                id,
                path: p.path,
                fixity: p.fixity,
                status,
                annotated,
            })
            .collect())
    }
}

/// Files recorded per sled transaction (see `commit_batch`).
const TX_FILES: usize = 64;

/// One file recorded: its item, whether its bytes were new, and the annotation a
/// duplicate's metadata made.
type Recorded = (EvidenceId, Status, Option<u64>);

/// Records one file in the index with its custody event, inside the batch's transaction.
fn record_item(tx: &Tx, cx: &Context, p: &Pending) -> TxResult<Recorded> {
    let blake3 = p.fixity.blake3;
    let status = if tx.put_content_if_new(&blake3, &p.record)? {
        Status::New
    } else {
        Status::Duplicate
    };
    let absolute = std::path::absolute(&p.path).unwrap_or_else(|_| p.path.clone());
    let path_bytes = absolute.as_os_str().as_bytes().to_vec();
    // New content is in no case yet: only stored content can have an item here already.
    let existing = match status {
        Status::New => None,
        Status::Duplicate => tx.item_of_content_in(cx.case, &blake3)?,
    };
    if let Some(id) = existing {
        let draft = acquisition_draft(Action::Acquire, cx, p, &path_bytes)
            .or_else(|e| abort(e.into()))?
            .item(id);
        let (acquired, _) = tx.append(&draft)?;
        // Acquired again as an attachment (issue 12.3): attached as its event says, not
        // only reported as a duplicate. An item is never its own attachment.
        if let Some(parent) = cx.parent.filter(|p| *p != id) {
            tx.put_attachment(parent, id)?;
        }
        let annotated = annotate_duplicate(tx, cx, p, id, acquired)?;
        return Ok((id, Status::Duplicate, annotated));
    }
    let id = tx.next_item()?;
    let draft = acquisition_draft(Action::Ingest, cx, p, &path_bytes)
        .or_else(|e| abort(e.into()))?
        .item(id);
    let (seq, _) = tx.append_first(&draft)?;
    let item = ItemRecord {
        id,
        blake3,
        sha256: p.fixity.sha256,
        size: p.fixity.size,
        name: p.name.clone(),
        path: path_bytes,
        source: cx.opts.source.clone(),
        note: cx.opts.note.clone(),
        tags: cx.opts.tags.clone(),
        captured_at: cx.opts.captured_at.clone(),
        modified_at: p.modified_at.clone(),
        ingested_at: tx.time().to_owned(),
        actor: tx.actor().to_owned(),
        parent: cx.parent,
        case: cx.case.clone(),
        seq,
    };
    let link = LinkRecord {
        linked_at: tx.time().to_owned(),
        seq,
    };
    tx.put_item(&item, &link)?;
    Ok((id, status, None))
}

/// A duplicate's `--tag`, `--source`, `--note` and `--captured-at` that the item does not
/// have yet become its current values through an `annotate` event (issue 12.2: before,
/// a re-ingest kept none of them). Its reason names the file by name and the `acquire`
/// event that records where it came from, never by its path: the acquire event holds that.
fn annotate_duplicate(
    tx: &Tx,
    cx: &Context,
    p: &Pending,
    id: EvidenceId,
    acquired: u64,
) -> TxResult<Option<u64>> {
    let wanted = AnnotateDetails {
        tags_added: cx.opts.tags.clone(),
        tags_removed: Vec::new(),
        source: cx.opts.source.clone(),
        note: cx.opts.note.clone(),
        captured_at: cx.opts.captured_at.clone(),
    };
    if wanted.is_empty() {
        return Ok(None);
    }
    let reason = format!(
        "metadata brought by a duplicate ingest of {} (event {acquired})",
        text::exact_or_escaped(&p.name)
    );
    Ok(tx.annotate(id, &wanted, &reason)?.map(|(seq, _)| seq))
}

/// The custody event of one acquisition: everything known about where the bytes came from,
/// the local path, source and note committed (issue 11.7).
fn acquisition_draft(
    action: Action,
    cx: &Context,
    p: &Pending,
    path: &[u8],
) -> Result<Draft, NoRandom> {
    let mut o = Openings::default();
    let details = AcquisitionDetails {
        blake3: p.fixity.blake3.to_hex(),
        sha256: p.fixity.sha256.to_hex(),
        size: p.fixity.size,
        name: text::exact_or_escaped(&p.name),
        name_hex: hex::encode(&p.name),
        path: o.commit("details.path", text::exact_or_escaped(path))?,
        path_hex: o.commit("details.path_hex", hex::encode(path))?,
        source: o.commit_some("details.source", cx.opts.source.clone())?,
        note: o.commit_some("details.note", cx.opts.note.clone())?,
        tags: cx.opts.tags.clone(),
        captured_at: cx.opts.captured_at.clone(),
        modified_at: p.modified_at.clone(),
        parent: cx.parent.map(|id| id.to_string()),
    };
    Ok(Draft::new(action).case(cx.case).with(&details).openings(o))
}

/// The second look: the open file and the name must still show what was there before the read.
fn changed_while_read(path: &Path, file: &File, before: &Metadata, read: u64) -> Option<String> {
    if read != before.len() {
        return Some(format!(
            "{} bytes were read, the file had {}",
            read,
            before.len()
        ));
    }
    let after = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Some(format!("it cannot be checked after reading: {e}")),
    };
    if after.len() != before.len() {
        return Some(format!(
            "its size went from {} to {} bytes",
            before.len(),
            after.len()
        ));
    }
    if (after.mtime(), after.mtime_nsec()) != (before.mtime(), before.mtime_nsec()) {
        return Some("its modification time changed".into());
    }
    // ctime moves on any write and, unlike mtime, cannot be set back by a program.
    if (after.ctime(), after.ctime_nsec()) != (before.ctime(), before.ctime_nsec()) {
        return Some("its status-change time changed".into());
    }
    match std::fs::symlink_metadata(path) {
        Ok(now) if now.ino() == before.ino() && now.dev() == before.dev() => None,
        _ => Some("the name now points at another file".into()),
    }
}

fn modified_at(meta: &Metadata) -> Option<String> {
    let t = meta.modified().ok()?;
    let t: chrono::DateTime<chrono::Utc> = t.into();
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}
