//! data/custody.jsonl, streamed line by line and hashed on the way: every exported item's
//! chain from its ingest to the export event on the last line, and the export event against
//! bag-info. Memory holds one line (at most `MAX_EVENT_LINE`) and the first event of each
//! exported item, not the log.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{BufRead, Read, Seek};

use super::{BagInfo, Checker};
use crate::bundle::bagit::{FileDigests, TripleHasher};
use crate::bundle::finding::{BagFinding, BagItem, BagPath};
use crate::bundle::layout;
use crate::custody::details::AnnotateEvent;
use crate::custody::{Action, Break, ChainWalker, Event};
use crate::durable;
use crate::ids::EventDigest;

/// The custody log is not read if it is larger than this; it is read line by line.
pub(super) const MAX_CUSTODY: u64 = 1 << 30;
/// The longest line of the custody log read (an export event of some 300,000 items).
const MAX_EVENT_LINE: usize = 64 << 20;
/// Findings about single lines of the custody log listed before the rest are only counted.
const MAX_LINE_FINDINGS: usize = 100;

/// What the custody log says, kept while it is streamed: only what later checks need.
#[derive(Default)]
pub(super) struct Custody {
    /// The last readable event and the SHA-256 of its line.
    pub last: Option<(Event, EventDigest)>,
    /// The items the export event (the last line) names.
    pub exported: BTreeSet<String>,
    /// Those and the items evidence.json lists: the items whose events are kept.
    wanted: BTreeSet<String>,
    /// The first event naming each exported item (its ingest, when the chain holds).
    pub first: HashMap<String, Event>,
    /// The cases each exported item was ingested into or linked to.
    pub cases: HashMap<String, BTreeSet<String>>,
    /// The annotate events of each exported item, in log order, with their details
    /// (`None`: details that do not read); small, one per annotation.
    pub annotations: HashMap<String, Vec<(u64, Option<AnnotateEvent>)>>,
    /// The proof's events, merged with the log's lines as they stream.
    pub(super) proof: Option<super::proof::ProofWalk>,
    /// The values the bag reveals: each checked as its event streams by, and opened in
    /// the event before anything else reads it.
    pub(super) reveals: super::reveals::Reveals,
    /// Whether a line could not be read: its reveals cannot be matched to it then, and
    /// the line is already a finding.
    unreadable_lines: bool,
}

impl Custody {
    /// The export event: the last readable line, when it is one.
    pub fn export(&self) -> Option<&Event> {
        self.last
            .as_ref()
            .map(|(e, _)| e)
            .filter(|e| e.action == Action::Export)
    }

    /// Keeps what later checks need of an event: the first event of each exported item and
    /// the cases each was ingested into or linked to.
    fn remember(&mut self, event: &Event) {
        for id in event.item_ids() {
            if !self.wanted.contains(id) {
                continue;
            }
            if matches!(event.action, Action::Ingest | Action::Link)
                && let Some(case) = event.case_id()
            {
                self.cases
                    .entry(id.to_owned())
                    .or_default()
                    .insert(case.to_owned());
            }
            if event.action == Action::Annotate {
                self.annotations
                    .entry(id.to_owned())
                    .or_default()
                    .push((event.seq, event.details_as()));
            }
            if !self.first.contains_key(id) {
                self.first.insert(id.to_owned(), event.clone());
            }
        }
    }

    /// Feeds line `n` to the walker and keeps what later checks need of its event; returns
    /// what is wrong with the line.
    fn feed(&mut self, walker: &mut ChainWalker, n: u64, bytes: &[u8]) -> Vec<BagFinding> {
        let mut found = Vec::new();
        if let Some(event) = walker.feed(n, bytes) {
            let (event, wrong) = self.reveals.open(event);
            found.extend(wrong);
            let after = self.last.as_ref().map_or(0, |(e, _)| e.seq);
            let seq = event.seq;
            if seq <= after {
                found.push(BagFinding::OutOfOrder {
                    seq,
                    line: n,
                    after,
                });
            }
            if !self.exported.is_empty() && !event.item_ids().any(|i| self.exported.contains(i)) {
                found.push(BagFinding::NotExported { seq });
            }
            self.remember(&event);
            self.last = Some((event, EventDigest::of(bytes)));
        }
        for b in walker.breaks.drain(..) {
            self.unreadable_lines |= matches!(b, Break::Unreadable { .. });
            // The chains of items not exported are not complete in a bundle.
            if let Break::ItemPrev { item, .. } = &b
                && !self.exported.is_empty()
                && !self.exported.contains(item)
            {
                continue;
            }
            found.push(BagFinding::CustodyBreak(b));
        }
        found
    }
}

impl Checker<'_> {
    /// Checks the custody log. `listed` are the ids of evidence.json: their first events are
    /// kept too, so that an item can be checked against its ingest even when the export
    /// event is gone.
    pub(super) fn check_custody(
        &mut self,
        info: &BagInfo,
        listed: BTreeSet<String>,
        proof: Option<super::proof::ProofWalk>,
        reveals: super::reveals::Reveals,
    ) -> Custody {
        let mut custody = Custody {
            wanted: listed,
            proof,
            reveals,
            ..Custody::default()
        };
        let Some((mut file, size)) = self.open_custody() else {
            return custody;
        };
        // The export event is the last line: read first, it says which items are exported.
        custody.exported = last_line(&mut file, size)
            .and_then(|l| Event::parse(&l).ok())
            .filter(|e| e.action == Action::Export)
            .map(|e| e.item_ids().map(str::to_owned).collect())
            .unwrap_or_default();
        custody.wanted.extend(custody.exported.iter().cloned());
        if let Err(e) = file.rewind() {
            self.skipped.insert(layout::CUSTODY_JSONL.to_owned());
            self.unreadable(layout::CUSTODY_JSONL, e);
            return custody;
        }
        if let Some(walker) = self.stream_custody(file, &mut custody) {
            self.check_export_event(info, &custody, &walker);
        }
        if !custody.unreadable_lines {
            for finding in custody.reveals.unclaimed() {
                self.found(finding);
            }
        }
        custody
    }

    /// The custody log opened, with its size; `None` (with a finding) when it is missing,
    /// too large or cannot be opened.
    fn open_custody(&mut self) -> Option<(fs::File, u64)> {
        let rel = layout::CUSTODY_JSONL;
        let Some(&size) = self.files.get(rel) else {
            self.found(BagFinding::CustodyMissing);
            return None;
        };
        if size > MAX_CUSTODY {
            self.skipped.insert(rel.to_owned());
            let file = BagPath::new(rel);
            let cap = MAX_CUSTODY;
            self.found(BagFinding::TooLarge { file, size, cap });
            return None;
        }
        match durable::open_no_follow(&self.dir.join(rel)) {
            Ok(f) => Some((f, size)),
            Err(e) => {
                self.skipped.insert(rel.to_owned());
                self.unreadable(rel, e);
                None
            }
        }
    }

    /// Reads the log line by line through both chains, hashing it on the way. Returns the
    /// walker when the whole log was read and ends with a newline.
    fn stream_custody(&mut self, file: fs::File, custody: &mut Custody) -> Option<ChainWalker> {
        let rel = layout::CUSTODY_JSONL;
        let mut walker = ChainWalker::item_chains();
        let mut reader = std::io::BufReader::with_capacity(1 << 16, HashingReader::new(file));
        let mut line = Vec::new();
        let mut line_findings = 0usize;
        let mut ended = true;
        for n in 1u64.. {
            line.clear();
            let read = (&mut reader)
                .take(MAX_EVENT_LINE as u64 + 1)
                .read_until(b'\n', &mut line);
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    self.unreadable(rel, e);
                    self.skipped.insert(rel.to_owned());
                    return None;
                }
            }
            ended = line.last() == Some(&b'\n');
            if !ended && line.len() > MAX_EVENT_LINE {
                let limit = MAX_EVENT_LINE;
                self.found(BagFinding::LineTooLong { line: n, limit });
                return None;
            }
            let bytes = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Some(proof) = custody.proof.as_mut() {
                proof.feed(bytes);
            }
            for finding in custody.feed(&mut walker, n, bytes) {
                line_findings += 1;
                if line_findings <= MAX_LINE_FINDINGS {
                    self.found(finding);
                }
            }
        }
        if line_findings > MAX_LINE_FINDINGS {
            let more = line_findings - MAX_LINE_FINDINGS;
            let listed = MAX_LINE_FINDINGS;
            self.found(BagFinding::MoreLineFindings { more, listed });
        }
        self.report.checked.events = walker.events;
        let digests = reader.into_inner().finish();
        self.count_hashed(rel.to_owned(), digests);
        if !ended {
            self.found(BagFinding::CustodyTruncated);
            return None;
        }
        Some(walker)
    }

    /// The last line must be the export event, named by bag-info, and end every exported
    /// item's chain.
    fn check_export_event(&mut self, info: &BagInfo, custody: &Custody, walker: &ChainWalker) {
        let Some((last, digest)) = &custody.last else {
            return self.found(BagFinding::NoReadableEvent);
        };
        if last.action != Action::Export {
            self.found(BagFinding::LastNotExport { seq: last.seq });
        }
        if info.get(layout::INFO_HEAD) != Some(&digest.to_hex()) {
            self.found(BagFinding::HeadWrong);
        }
        let declared = (info.get(layout::INFO_ARCHIVE), info.get(layout::INFO_EVENT));
        if last.action == Action::Export
            && declared != (Some(&last.archive), Some(&last.seq.to_string()))
        {
            self.found(BagFinding::ExportIdsWrong);
        }
        for id in last.item_ids() {
            if walker.item_head(id) != Some(*digest) {
                let item = BagItem::new(id);
                self.found(BagFinding::ChainNotAtExport { item });
            }
        }
    }
}

/// The last line of a file (without its newline), read from its end: None when it is
/// longer than `MAX_EVENT_LINE` or cannot be read.
fn last_line(file: &mut fs::File, size: u64) -> Option<Vec<u8>> {
    let window = size.min(MAX_EVENT_LINE as u64 + 1);
    file.seek(std::io::SeekFrom::Start(size - window)).ok()?;
    let mut tail = Vec::new();
    file.take(window).read_to_end(&mut tail).ok()?;
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    match body.iter().rposition(|b| *b == b'\n') {
        Some(i) => Some(body[i + 1..].to_vec()),
        None if window == size => Some(body.to_vec()),
        None => None,
    }
}

/// A reader that hashes everything read through it, so the custody log is read once.
struct HashingReader<R> {
    inner: R,
    hasher: TripleHasher,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: TripleHasher::default(),
        }
    }

    fn finish(self) -> FileDigests {
        self.hasher.finish()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
