//! `verify`: re-reads every chunk, content, index entry and custody event, and names each problem it finds.
//!
//! Damage is a finding, not an error: verify keeps going so that one damaged item never
//! hides another. Only "could not check at all" (no archive, locked) is an error.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::archive::{Archive, HEAD_FILE, OpenOptions, parse_head_text};
use crate::catalog::{CaseRecord, Head, ItemRecord, keys};
use crate::codec;
use crate::custody::details::VerifyDetails;
use crate::custody::{Action, Break, ChainWalker, Draft};
use crate::error::{Error, Result};
use crate::ids::{ContentId, EventDigest, EvidenceId};
use crate::store::panic_text;
use crate::store::{ContentRecord, read_contents};

/// What kind of damage a problem is; the names are part of the JSON contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// sled refused to open the database, or stopped while reading it.
    DatabaseUnreadable,
    /// A stored record does not decode.
    RecordUnreadable,
    /// A content's chunks are missing, damaged, or do not add up to its hashes.
    ContentDamaged,
    /// An item names a content that is not stored.
    ContentMissing,
    /// An item's record disagrees with its content or the index.
    ItemInconsistent,
    /// An item or case record differs from the custody event that created it.
    RecordAltered,
    /// An index entry points at a case, item or event that does not exist.
    IndexDangling,
    /// A custody event cannot be read, or the chain does not link.
    ChainBroken,
    /// An item's own chain of events does not link.
    ItemChainBroken,
    /// The recorded head (in the database or the HEAD file, or a bundle's bag-info) is not the chain's last event.
    HeadMismatch,
    /// A bundle is not a well-formed BagIt bag (declaration, bag-info, Payload-Oxum, manifest syntax).
    BagInvalid,
    /// A bundle's manifest lists a file that is not there.
    FileMissing,
    /// A bundle holds a file no manifest (or no item) accounts for.
    FileUnlisted,
    /// A bundle file does not match its manifest digest.
    FileMismatch,
    /// A bundle path that could leave the bag, or a link or special file inside it.
    PathUnsafe,
    /// A bundle's metadata disagrees with its payload or its custody events.
    MetadataMismatch,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::DatabaseUnreadable => "database_unreadable",
            ProblemKind::RecordUnreadable => "record_unreadable",
            ProblemKind::ContentDamaged => "content_damaged",
            ProblemKind::ContentMissing => "content_missing",
            ProblemKind::ItemInconsistent => "item_inconsistent",
            ProblemKind::RecordAltered => "record_altered",
            ProblemKind::IndexDangling => "index_dangling",
            ProblemKind::ChainBroken => "chain_broken",
            ProblemKind::ItemChainBroken => "item_chain_broken",
            ProblemKind::HeadMismatch => "head_mismatch",
            ProblemKind::BagInvalid => "bag_invalid",
            ProblemKind::FileMissing => "file_missing",
            ProblemKind::FileUnlisted => "file_unlisted",
            ProblemKind::FileMismatch => "file_mismatch",
            ProblemKind::PathUnsafe => "path_unsafe",
            ProblemKind::MetadataMismatch => "metadata_mismatch",
        }
    }
}

/// One finding: what is wrong, with what (an item id, `event N`, a file), and in what way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub id: Option<String>,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub items: u64,
    pub contents: u64,
    pub bytes: u64,
    pub events: u64,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub checked: Checked,
    pub problems: Vec<Problem>,
    /// The custody event that records this verification, when it could be written.
    pub recorded: Option<u64>,
    /// The archive was verified read-only: nothing was written, no event recorded.
    pub read_only: bool,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub(crate) fn add(&mut self, kind: ProblemKind, id: Option<String>, detail: impl Into<String>) {
        self.problems.push(Problem {
            kind,
            id,
            detail: detail.into(),
        });
    }
}

/// Progress of a verification, in bytes of content re-read.
pub trait VerifyProgress {
    fn total(&mut self, _bytes: u64) {}
    fn bytes(&mut self, _n: u64) {}
}

impl VerifyProgress for () {}

/// Verifies the archive at `root`, turning a database sled cannot open into a finding.
pub fn verify_archive(
    root: &Path,
    opts: &OpenOptions,
    progress: &mut dyn VerifyProgress,
) -> Result<VerifyReport> {
    let opened = match Archive::open(root, opts) {
        // An auditor who may not write to the archive still verifies it (finding 6).
        Err(e) if !opts.read_only && cannot_write(&e) => {
            let read_only = OpenOptions {
                read_only: true,
                ..opts.clone()
            };
            Archive::open(root, &read_only)
        }
        other => other,
    };
    let mut archive = match opened {
        Ok(a) => a,
        Err(Error::DatabaseDamaged { path, detail }) => {
            let mut report = VerifyReport::default();
            report.add(
                ProblemKind::DatabaseUnreadable,
                Some(path.display().to_string()),
                detail,
            );
            return Ok(report);
        }
        Err(Error::Damaged(detail)) => {
            let mut report = VerifyReport::default();
            report.add(
                ProblemKind::RecordUnreadable,
                Some("meta/archive".into()),
                detail,
            );
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    let mut report = VerifyReport::default();
    match catch_unwind(AssertUnwindSafe(|| {
        archive.check_all(&mut report, progress)
    })) {
        Ok(Ok(())) => {}
        // Could not check (a full disk, an unreadable file): not a finding about the evidence.
        Ok(Err(e)) => return Err(e),
        Err(panic) => {
            let db = root.join("db").display().to_string();
            report.add(
                ProblemKind::DatabaseUnreadable,
                Some(db),
                panic_text(&panic),
            );
            return Ok(report);
        }
    }
    report.read_only = archive.is_read_only();
    if !report.read_only {
        report.recorded = archive.record_verification(&report).ok();
    }
    Ok(report)
}

/// Whether opening for writing failed only because this user may not write there.
fn cannot_write(e: &Error) -> bool {
    use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem};
    matches!(e, Error::Io { source, .. } if matches!(source.kind(), PermissionDenied | ReadOnlyFilesystem))
}

/// Contents whose records are held at once while verify reads them back.
const READ_WINDOW: usize = 512;

impl Archive {
    /// Runs every check. An I/O error means the check could not be made and ends verify;
    /// anything else a step meets is a finding, and the next step still runs.
    fn check_all(
        &self,
        report: &mut VerifyReport,
        progress: &mut dyn VerifyProgress,
    ) -> Result<()> {
        type Step<'a> = &'a dyn Fn(&mut VerifyReport, &mut dyn VerifyProgress) -> Result<()>;
        let steps: [Step; 4] = [
            &|r, p| self.check_contents(r, p),
            &|r, _| self.check_items(r),
            &|r, _| self.check_index(r),
            &|r, _| self.check_custody(r),
        ];
        for step in steps {
            match step(report, progress) {
                Ok(()) => {}
                Err(e) if e.is_environmental() => return Err(e),
                Err(e) => report.add(
                    ProblemKind::DatabaseUnreadable,
                    None,
                    format!("reading the database failed: {e}"),
                ),
            }
        }
        Ok(())
    }

    /// Every content: every chunk decompressed and checked, the whole re-hashed with both hashes.
    ///
    /// Contents are read in the order of the volume (and pack) of their first chunk, so each
    /// volume is opened about once.
    fn check_contents(
        &self,
        report: &mut VerifyReport,
        progress: &mut dyn VerifyProgress,
    ) -> Result<()> {
        let mut chunks = self.chunk_reader();
        let mut order = Vec::new();
        let mut total: u64 = 0;
        for entry in self.trees.contents.iter() {
            let (key, value) = entry?;
            report.checked.contents += 1;
            let Some(id) = ContentId::from_slice(&key) else {
                let detail = format!("contents: key {} is not a BLAKE3 hash", hex::encode(&key));
                report.add(ProblemKind::RecordUnreadable, None, detail);
                continue;
            };
            match codec::decode::<ContentRecord>(&format!("content {id}"), &value) {
                Ok(record) => {
                    total = total.saturating_add(record.size);
                    let volume = record
                        .chunks
                        .first()
                        .and_then(|c| chunks.location(&c.id).ok())
                        .map_or((0, 0), |l| match l {
                            codec::ChunkLocation::Volume(v) => (v, 0),
                            codec::ChunkLocation::Packed { volume, pack, .. } => (volume, pack),
                        });
                    order.push((volume, id));
                }
                Err(e) => {
                    self.blame_content(report, &id, ProblemKind::RecordUnreadable, &e.to_string())?
                }
            }
        }
        progress.total(total);
        order.sort_unstable();
        // A window of records at a time: memory stays bounded however many contents there
        // are, and the two reading threads stay busy however small each one is.
        for window in order.chunks(READ_WINDOW) {
            let mut records = Vec::with_capacity(window.len());
            for (_, id) in window {
                match self.content(id) {
                    Ok(record) => records.push((*id, record)),
                    Err(e) if e.is_environmental() => return Err(e),
                    Err(e) => {
                        self.blame_content(report, id, ProblemKind::ContentDamaged, &e.to_string())?
                    }
                }
            }
            read_contents(
                &mut chunks,
                &records,
                &mut |bytes| progress.bytes(bytes.len() as u64),
                &mut |id, result| match result {
                    Ok(fixity) => {
                        report.checked.bytes += fixity.size;
                        Ok(())
                    }
                    Err(e) if e.is_environmental() => Err(e),
                    Err(e) => {
                        self.blame_content(report, id, ProblemKind::ContentDamaged, &e.to_string())
                    }
                },
            )?;
        }
        Ok(())
    }

    /// One problem per item holding the content, so every affected item is named.
    fn blame_content(
        &self,
        report: &mut VerifyReport,
        id: &ContentId,
        kind: ProblemKind,
        detail: &str,
    ) -> Result<()> {
        let mut prefix = vec![keys::CONTENT_ITEM];
        prefix.extend_from_slice(id.as_bytes());
        let items = self.items_under(&prefix)?;
        if items.is_empty() {
            report.add(kind, Some(format!("content {id}")), detail);
        }
        for item in items {
            report.add(
                kind,
                Some(item.to_string()),
                format!("content {id}: {detail}"),
            );
        }
        Ok(())
    }

    fn check_items(&self, report: &mut VerifyReport) -> Result<()> {
        for entry in self.trees.items.iter() {
            let (key, value) = entry?;
            report.checked.items += 1;
            let label =
                EvidenceId::from_key(&key).map_or_else(|| hex::encode(&key), |id| id.to_string());
            match codec::decode::<ItemRecord>(&format!("item {label}"), &value) {
                Ok(item) => {
                    self.check_item(report, &key, &item)?;
                    if let Some(field) = self.differs_from_ingest(&item) {
                        let detail = if field == "ingest event" {
                            format!(
                                "event {}, which its record names as its ingest, is missing or is not the ingest of this item",
                                item.seq
                            )
                        } else {
                            format!(
                                "its record's {field} is not what its ingest event (event {}) recorded: the record was altered",
                                item.seq
                            )
                        };
                        report.add(
                            ProblemKind::RecordAltered,
                            Some(item.id.to_string()),
                            detail,
                        );
                    }
                }
                Err(e) => report.add(ProblemKind::RecordUnreadable, Some(label), e.to_string()),
            }
        }
        Ok(())
    }

    /// The first field of an item record that differs from its ingest event, the record's
    /// source of truth: a record edited in place shows here.
    fn differs_from_ingest(&self, item: &ItemRecord) -> Option<&'static str> {
        let Ok(event) = self.event(item.seq) else {
            return Some("ingest event (missing)");
        };
        let d = &event.details;
        let text = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let hex_of = |k: &str| text(k).and_then(|h| hex::decode(h).ok());
        let tags: Option<Vec<String>> = d
            .get("tags")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let checks: [(&'static str, bool); 15] = [
            (
                "ingest event",
                event.action == crate::custody::Action::Ingest && event.names_item(item.id),
            ),
            ("case", event.case.as_deref() == Some(item.case.as_str())),
            ("actor", event.actor == item.actor),
            ("ingested_at", event.time == item.ingested_at),
            ("blake3", text("blake3") == Some(item.blake3.to_hex())),
            ("sha256", text("sha256") == Some(item.sha256.to_hex())),
            (
                "size",
                d.get("size").and_then(|v| v.as_u64()) == Some(item.size),
            ),
            ("name", hex_of("name_hex").as_ref() == Some(&item.name)),
            ("path", hex_of("path_hex").as_ref() == Some(&item.path)),
            ("source", text("source") == item.source),
            ("note", text("note") == item.note),
            ("tags", tags.as_ref() == Some(&item.tags)),
            ("captured_at", text("captured_at") == item.captured_at),
            ("modified_at", text("modified_at") == item.modified_at),
            (
                "parent",
                text("parent") == item.parent.map(|p| p.to_string()),
            ),
        ];
        checks.iter().find(|(_, ok)| !ok).map(|(field, _)| *field)
    }

    fn case_matches_event(&self, case: &CaseRecord) -> bool {
        let Ok(e) = self.event(case.seq) else {
            return false;
        };
        let text = |k: &str| e.details.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        e.action == crate::custody::Action::CaseCreate
            && e.case.as_deref() == Some(case.id.as_str())
            && e.actor == case.actor
            && e.time == case.created_at
            && text("title").as_deref() == Some(case.title.as_str())
            && text("description") == case.description
    }

    fn check_item(&self, report: &mut VerifyReport, key: &[u8], item: &ItemRecord) -> Result<()> {
        let id = Some(item.id.to_string());
        let mut bad = |kind, detail: String| {
            report.problems.push(super::verify::Problem {
                kind,
                id: id.clone(),
                detail,
            })
        };
        if key != item.id.to_key() {
            bad(
                ProblemKind::ItemInconsistent,
                format!(
                    "stored under key {} but records id {}",
                    hex::encode(key),
                    item.id
                ),
            );
        }
        match self.trees.contents.get(item.blake3.as_bytes())? {
            None => bad(
                ProblemKind::ContentMissing,
                format!("its content {} is not stored", item.blake3),
            ),
            Some(bytes) => {
                if let Ok(content) = codec::decode::<ContentRecord>("content", &bytes)
                    && (content.size != item.size || content.sha256 != item.sha256)
                {
                    bad(
                        ProblemKind::ItemInconsistent,
                        "its size or SHA-256 differs from its content's".into(),
                    );
                }
            }
        }
        if let Some(parent) = item.parent
            && !self.trees.items.contains_key(parent.to_key())?
        {
            bad(
                ProblemKind::IndexDangling,
                format!("its parent {parent} does not exist"),
            );
        }
        if !self
            .trees
            .index
            .contains_key(keys::item_case(item.id, &item.case))?
        {
            bad(
                ProblemKind::IndexDangling,
                format!("its link to case {} is missing", item.case),
            );
        }
        if !self
            .trees
            .index
            .contains_key(keys::content_item(&item.blake3, item.id))?
        {
            bad(
                ProblemKind::IndexDangling,
                "its content index entry is missing".into(),
            );
        }
        Ok(())
    }

    /// Every index entry must point at things that exist.
    fn check_index(&self, report: &mut VerifyReport) -> Result<()> {
        let mut known_cases = HashSet::new();
        for entry in self.trees.cases.iter() {
            let (key, value) = entry?;
            let name = String::from_utf8_lossy(&key).into_owned();
            match codec::decode::<CaseRecord>(&format!("case {name}"), &value) {
                Ok(case) => {
                    if !self.case_matches_event(&case) {
                        let detail = format!(
                            "the case record is not what its case_create event (event {}) recorded: the record was altered",
                            case.seq
                        );
                        report.add(
                            ProblemKind::RecordAltered,
                            Some(format!("case {name}")),
                            detail,
                        );
                    }
                    known_cases.insert(key.to_vec());
                }
                Err(e) => report.add(
                    ProblemKind::RecordUnreadable,
                    Some(format!("case {name}")),
                    e.to_string(),
                ),
            }
        }
        for entry in self.trees.index.iter() {
            let (key, value) = entry?;
            if let Some(detail) = self.dangling(&key, &value, &known_cases)? {
                let who = keys::item_of(&key, &value).map(|i| i.to_string());
                report.add(
                    ProblemKind::IndexDangling,
                    who,
                    format!("index entry {}: {detail}", hex::encode(&key)),
                );
            }
        }
        Ok(())
    }

    fn dangling(
        &self,
        key: &[u8],
        value: &[u8],
        cases: &HashSet<Vec<u8>>,
    ) -> Result<Option<String>> {
        let item_exists =
            |bytes: &[u8]| -> Result<bool> { Ok(self.trees.items.contains_key(bytes)?) };
        let case_part = |rest: &[u8]| {
            rest.iter()
                .position(|b| *b == 0)
                .map(|at| rest[..at].to_vec())
        };
        let (tag, rest) = match key.split_first() {
            Some((t, r)) => (*t, r),
            None => return Ok(Some("empty key".into())),
        };
        let found = match tag {
            keys::CASE_ITEM => match case_part(rest) {
                Some(case) if cases.contains(&case) => {
                    item_exists(&key[key.len().saturating_sub(8)..])?
                }
                _ => false,
            },
            keys::ITEM_CASE if rest.len() > 8 => {
                item_exists(&rest[..8])? && cases.contains(&rest[8..])
            }
            keys::CONTENT_ITEM | keys::TAG_ITEM => {
                item_exists(&key[key.len().saturating_sub(8)..])?
            }
            keys::PARENT_CHILD if rest.len() == 16 => {
                item_exists(&rest[..8])? && item_exists(&rest[8..])?
            }
            keys::ITEM_EVENT if rest.len() == 16 => {
                item_exists(&rest[..8])? && self.trees.custody.contains_key(&rest[8..])?
            }
            keys::ITEM_HEAD if rest.len() == 8 => item_exists(rest)?,
            keys::CASE_CONTENT => {
                matches!(case_part(rest), Some(c) if cases.contains(&c))
                    && keys::item_of(key, value)
                        .is_some_and(|i| self.trees.items.contains_key(i.to_key()).unwrap_or(false))
            }
            _ => return Ok(Some("not a key custodia writes".into())),
        };
        Ok((!found).then(|| "points at a case, item or event that does not exist".into()))
    }

    /// The whole log in order: both chains, the head in the database and in the HEAD file.
    fn check_custody(&self, report: &mut VerifyReport) -> Result<()> {
        let head_file = std::fs::read_to_string(self.root().join(HEAD_FILE))
            .ok()
            .and_then(|t| parse_head_text(&t));
        let mut at_head_file_seq = None;
        let mut walker = ChainWalker::whole_log();
        let mut last_seq = 0;
        for entry in self.trees.custody.iter() {
            let (key, value) = entry?;
            let seq = match codec::u64_from_key("custody", &key) {
                Ok(s) => s,
                Err(e) => {
                    report.add(ProblemKind::ChainBroken, None, e.to_string());
                    continue;
                }
            };
            last_seq = seq;
            let bytes = match codec::decode_event(&value) {
                Ok(b) => b,
                Err(e) => {
                    report.add(
                        ProblemKind::ChainBroken,
                        Some(format!("event {seq}")),
                        e.to_string(),
                    );
                    continue;
                }
            };
            if head_file.is_some_and(|h| h.seq == seq) {
                at_head_file_seq = Some(EventDigest::of(bytes));
            }
            walker.feed(seq, bytes);
        }
        report.checked.events = walker.events;
        for b in &walker.breaks {
            let kind = if matches!(b, Break::ItemPrev { .. }) {
                ProblemKind::ItemChainBroken
            } else {
                ProblemKind::ChainBroken
            };
            let id = match b {
                Break::ItemPrev { item, .. } => item.clone(),
                other => format!("event {}", other.seq()),
            };
            report.add(kind, Some(id), b.describe());
        }
        self.check_heads(report, &walker, last_seq, head_file, at_head_file_seq)
    }

    fn check_heads(
        &self,
        report: &mut VerifyReport,
        walker: &ChainWalker,
        last_seq: u64,
        head_file: Option<Head>,
        at_head_file_seq: Option<EventDigest>,
    ) -> Result<()> {
        match self.head()? {
            Some(h) if h.seq == last_seq && Some(h.digest) == walker.head() => {}
            Some(h) => report.add(ProblemKind::HeadMismatch, Some(format!("event {}", h.seq)),
                format!("the database records event {} as the newest, but the log ends at event {last_seq} with other bytes: events were removed, added or edited", h.seq)),
            None => report.add(ProblemKind::HeadMismatch, None, "the database records no newest event"),
        }
        match head_file {
            Some(h) if at_head_file_seq == Some(h.digest) => {}
            Some(h) => report.add(ProblemKind::HeadMismatch, Some(format!("event {}", h.seq)),
                format!("the HEAD file records event {} with digest {}, which the log does not hold: the database lost or changed acknowledged events", h.seq, h.digest)),
            None => report.add(ProblemKind::HeadMismatch, Some(HEAD_FILE.into()), "the HEAD file is missing or unreadable"),
        }
        for entry in self.trees.index.scan_prefix([keys::ITEM_HEAD]) {
            let (key, value) = entry?;
            let Some(id) = EvidenceId::from_key(&key[1..]) else {
                continue;
            };
            let recorded = codec::decode::<EventDigest>("index: item head", &value).ok();
            if walker.item_head(&id.to_string()) != recorded || recorded.is_none() {
                report.add(ProblemKind::ItemChainBroken, Some(id.to_string()),
                    "the newest event recorded for this item is not the last event of its chain in the log");
            }
        }
        for entry in self.trees.items.iter() {
            let (key, _) = entry?;
            if let Some(id) = EvidenceId::from_key(&key)
                && walker.item_head(&id.to_string()).is_none()
            {
                report.add(
                    ProblemKind::ItemChainBroken,
                    Some(id.to_string()),
                    "no custody event names this item",
                );
            }
        }
        Ok(())
    }

    fn record_verification(&mut self, report: &VerifyReport) -> Result<u64> {
        let c = report.checked;
        let draft = Draft::new(Action::Verify).with(&VerifyDetails {
            ok: report.ok(),
            problems: report.problems.len() as u64,
            items: c.items,
            contents: c.contents,
            bytes: c.bytes,
            events: c.events,
        });
        self.commit(|tx| tx.append(&draft).map(|(seq, _)| seq))
    }
}
