//! data/evidence.json and data/case.json against the payload and the custody events: each
//! entry against its file, its ingest event and the digest the export event recorded of it,
//! and case.json against bag-info and its recorded digest.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::custody::Custody;
use super::{BagInfo, Checker, MAX_TAG_FILE};
use crate::bundle::court;
use crate::bundle::finding::{BagFinding, BagItem, BagPath, Unlisted};
use crate::bundle::layout::{self, CaseJson, EvidenceEntry};
use crate::custody::annotation::Metadata;
use crate::custody::details::{AnnotateDetails, ExportDetails, IngestFacts};
use crate::custody::disclosure::Disclosed;
use crate::custody::{Action, Event};
use crate::ids::{ContentId, Sha256Digest};

/// data/evidence.json as read: its case, and each item apart, so that one malformed entry
/// is a finding about that entry and hides nothing about the others.
pub(super) struct EvidenceDoc {
    case: Option<String>,
    pub items: Vec<ReadEntry>,
}

/// data/evidence.json's two parts, each `None` when it is missing or not of its type.
#[derive(Deserialize)]
struct EvidenceParts {
    #[serde(default, deserialize_with = "lenient")]
    case: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    items: Option<Vec<Value>>,
}

/// One item of evidence.json as found: the JSON (the export event recorded the digest of
/// exactly this), the id it gives, and the entry when it has the fields of one.
pub(super) struct ReadEntry {
    raw: Value,
    pub id: Option<String>,
    pub entry: Result<EvidenceEntry, String>,
}

impl ReadEntry {
    fn new(raw: Value) -> ReadEntry {
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        // Objects only: serde would also read a struct from a list of its fields in order.
        let (id, entry) = if raw.is_object() {
            let id = serde_json::from_value::<Id>(raw.clone()).ok().map(|i| i.id);
            let entry = serde_json::from_value(raw.clone()).map_err(|e| e.to_string());
            (id, entry)
        } else {
            (None, Err("not a JSON object".to_owned()))
        };
        ReadEntry { raw, id, entry }
    }
}

/// A field read as `T` when it is one and as `None` otherwise: a malformed part of a bag's
/// metadata is a finding of its own and stops nothing else being read.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

impl Checker<'_> {
    /// The items of data/evidence.json, or None (with a finding) when it has none to give.
    pub(super) fn evidence_items(&mut self) -> Option<EvidenceDoc> {
        let Some(bytes) = self.read(layout::EVIDENCE_JSON, MAX_TAG_FILE) else {
            if !self.files.contains_key(layout::EVIDENCE_JSON) {
                self.found(BagFinding::EvidenceJsonMissing);
            }
            return None;
        };
        let parts = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .and_then(|doc| serde_json::from_value::<EvidenceParts>(doc).ok());
        let Some(parts) = parts else {
            self.found(BagFinding::EvidenceJsonNotObject);
            return None;
        };
        let Some(items) = parts.items else {
            self.found(BagFinding::EvidenceJsonNoItems);
            return None;
        };
        Some(EvidenceDoc {
            case: parts.case,
            items: items.into_iter().map(ReadEntry::new).collect(),
        })
    }

    /// evidence.json and case.json must agree with the payload and with the events: each
    /// item with its ingest event, its links and the digest the export event recorded of it.
    pub(super) fn check_metadata(
        &mut self,
        info: &BagInfo,
        custody: &Custody,
        evidence: Option<&EvidenceDoc>,
    ) {
        let export = custody.export();
        let recorded = export.and_then(Event::details_as::<ExportDetails>);
        if let Some(doc) = evidence {
            if export.is_some_and(|e| e.case_id() != doc.case.as_deref()) {
                self.found(BagFinding::EvidenceCaseWrong);
            }
            let digests = recorded.as_ref().and_then(|d| d.evidence_sha256.as_ref());
            self.check_items(&doc.items, custody, digests);
        }
        let digest = recorded
            .as_ref()
            .and_then(|d| d.case_json_sha256.as_deref());
        self.check_case_json(info, digest);
        self.check_reading_files(custody, recorded.as_ref(), evidence);
    }

    /// Whether the bag must carry inventory.csv and index.html: when its export event
    /// records them, or it carries a proof (both came with issue 12). Older bundles have
    /// neither, and keep verifying.
    pub(super) fn reading_files_required(&self, custody: &Custody) -> bool {
        let recorded = custody
            .export()
            .and_then(Event::details_as::<ExportDetails>)
            .is_some_and(|d| d.inventory_csv_sha256.is_some() || d.index_html_sha256.is_some());
        recorded
            || self.files.keys().any(|k| {
                k.starts_with(layout::proof::DIR) && k[layout::proof::DIR.len()..].starts_with('/')
            })
    }

    /// inventory.csv and index.html: present when required, each the file whose digest the
    /// export event recorded, and inventory.csv the one evidence.json's entries give.
    fn check_reading_files(
        &mut self,
        custody: &Custody,
        recorded: Option<&ExportDetails>,
        evidence: Option<&EvidenceDoc>,
    ) {
        let required = self.reading_files_required(custody);
        let files = [
            (
                layout::INVENTORY_CSV,
                recorded.and_then(|d| d.inventory_csv_sha256.as_deref()),
            ),
            (
                layout::INDEX_HTML,
                recorded.and_then(|d| d.index_html_sha256.as_deref()),
            ),
        ];
        for (rel, digest) in files {
            if !self.files.contains_key(rel) {
                if required {
                    let file = BagPath::new(rel);
                    self.found(BagFinding::ReadingFileMissing { file });
                }
                continue;
            }
            // Hashed with the payload, unless set aside there (and reported).
            if let (Some(digest), Some(d)) = (digest, self.payload.get(rel))
                && Sha256Digest::from_hex(digest) != Some(d.sha256)
            {
                let file = BagPath::new(rel);
                self.found(BagFinding::ReadingFileNotRecorded { file });
            }
        }
        // inventory.csv regenerated from evidence.json, when every entry is readable (an
        // unreadable one is reported as such).
        let entries: Option<Vec<&EvidenceEntry>> = evidence
            .map(|doc| doc.items.iter().map(|r| r.entry.as_ref().ok()).collect())
            .unwrap_or(None);
        if let Some(entries) = entries
            && self.files.contains_key(layout::INVENTORY_CSV)
            && !self.skipped.contains(layout::INVENTORY_CSV)
            && let Some(found) = self.read(layout::INVENTORY_CSV, MAX_TAG_FILE)
            && found != court::inventory_csv(entries).into_bytes()
        {
            self.found(BagFinding::InventoryNotFromEvidence);
        }
    }

    /// case.json: the case of bag-info, and the document whose digest the export event
    /// recorded (`recorded`; bundles written before the digest have none).
    fn check_case_json(&mut self, info: &BagInfo, recorded: Option<&str>) {
        let Some(bytes) = self.read(layout::CASE_JSON, MAX_TAG_FILE) else {
            if !self.files.contains_key(layout::CASE_JSON) {
                self.found(BagFinding::CaseJsonMissing);
            }
            return;
        };
        let raw = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        match serde_json::from_value::<CaseJson>(raw.clone()) {
            Ok(case) if info.get("External-Identifier") == Some(&case.id) => {}
            Ok(_) => self.found(BagFinding::CaseIdWrong),
            Err(e) => self.found(BagFinding::CaseJsonMalformed { why: e.to_string() }),
        }
        if let Some(recorded) = recorded
            && Sha256Digest::from_hex(recorded) != Some(layout::metadata_digest(&raw))
        {
            self.found(BagFinding::CaseJsonNotRecorded);
        }
    }

    /// Every entry of evidence.json; `recorded` the digests the export event gives of them.
    fn check_items(
        &mut self,
        items: &[ReadEntry],
        custody: &Custody,
        recorded: Option<&BTreeMap<String, String>>,
    ) {
        self.report.checked.items = items.len() as u64;
        let mut files_claimed = BTreeSet::new();
        let mut ids = BTreeSet::new();
        let mut anonymous = false;
        for (n, read) in items.iter().enumerate() {
            let Some(id) = &read.id else {
                anonymous = true;
                self.found(BagFinding::EntryWithoutId { index: n + 1 });
                continue;
            };
            ids.insert(id.clone());
            let item = BagItem::new(id.clone());
            match &read.entry {
                Ok(entry) => {
                    files_claimed.insert(entry.file.clone());
                    self.check_item(&item, entry, custody);
                }
                Err(why) => {
                    let why = why.clone();
                    self.found(BagFinding::EntryMalformed {
                        item: item.clone(),
                        why,
                    });
                }
            }
            // An entry the export event has no digest of is not the one it recorded either.
            if let Some(recorded) = recorded
                && recorded.get(id).and_then(|h| Sha256Digest::from_hex(h))
                    != Some(layout::metadata_digest(&read.raw))
            {
                self.found(BagFinding::EntryNotRecorded { item });
            }
        }
        if anonymous || ids != custody.exported {
            self.found(BagFinding::ItemsNotExported);
        }
        for read in items {
            if let (Some(id), Ok(entry)) = (&read.id, &read.entry) {
                self.check_references(id, entry, &ids);
            }
        }
        let stray: Vec<String> = self
            .files
            .keys()
            .filter(|p| p.starts_with(layout::EVIDENCE_DIR) && !files_claimed.contains(*p))
            .cloned()
            .collect();
        for p in stray {
            self.unlisted(&p, Unlisted::Unclaimed);
        }
    }

    /// Every item an entry names is in the bundle, or listed as not exported. A bundle
    /// written before `not_exported` existed names attachments it does not hold, unmarked.
    fn check_references(&mut self, id: &str, entry: &EvidenceEntry, held: &BTreeSet<String>) {
        let Some(not_exported) = &entry.not_exported else {
            return;
        };
        for named in entry.parent.iter().chain(&entry.attachments) {
            if !held.contains(named) && !not_exported.contains(named) {
                self.found(BagFinding::ReferenceMissing {
                    item: BagItem::new(id.to_owned()),
                    missing: named.clone(),
                });
            }
        }
    }

    /// One well-formed entry: against the file it names, then against its events.
    fn check_item(&mut self, item: &BagItem, entry: &EvidenceEntry, custody: &Custody) {
        let file = &entry.file;
        if let Some(d) = self.payload.get(file) {
            let listed = (
                Sha256Digest::from_hex(&entry.sha256),
                ContentId::from_hex(&entry.blake3),
                entry.sha512.as_str(),
                entry.size,
            );
            if listed != (Some(d.sha256), Some(d.blake3), d.sha512.as_str(), d.size) {
                let (item, file) = (item.clone(), file.clone());
                self.found(BagFinding::EntryHashesWrong { item, file });
            }
        } else if !self.skipped.contains(file) {
            let (item, file) = (item.clone(), file.clone());
            return self.found(BagFinding::ItemFileMissing { item, file });
        }
        let Some(e) = custody
            .first
            .get(&item.0)
            .filter(|e| e.action == Action::Ingest)
        else {
            let item = item.clone();
            return self.found(BagFinding::HistoryNotFromIngest { item });
        };
        let Some(facts) = IngestFacts::of_event(e) else {
            let item = item.clone();
            return self.found(BagFinding::IngestUnreadable { item, seq: e.seq });
        };
        let Some(current) = self.current_facts(item, &facts, custody) else {
            return;
        };
        if let Some(field) = entry_differs(entry, &current, custody.cases.get(&item.0)) {
            let item = item.clone();
            self.found(BagFinding::EntryDiffers {
                item,
                field,
                seq: e.seq,
            });
        }
        self.check_ingested_bytes(item, entry, &facts, e.seq);
    }

    /// What the item's events make of it: its ingest facts with its current source, note,
    /// tags and capture time, its annotate events applied in log order (issue 12.2).
    /// `None`, with a finding, when an annotate event's details do not read.
    fn current_facts(
        &mut self,
        item: &BagItem,
        ingest: &IngestFacts,
        custody: &Custody,
    ) -> Option<IngestFacts> {
        // Tags and capture time as Metadata applies them; a source or note as the ingest
        // event shows it in the bag (perhaps a commitment) until an annotation sets it.
        let mut now = Metadata {
            source: None,
            note: None,
            tags: ingest.tags.clone(),
            captured_at: ingest.captured_at.clone(),
        };
        let (mut source, mut note) = (ingest.source.clone(), ingest.note.clone());
        for (seq, change) in custody.annotations.get(&item.0).into_iter().flatten() {
            let Some(change) = change else {
                let (item, seq) = (item.clone(), *seq);
                self.found(BagFinding::AnnotationUnreadable { item, seq });
                return None;
            };
            now.apply(&AnnotateDetails {
                tags_added: change.tags_added.clone(),
                tags_removed: change.tags_removed.clone(),
                captured_at: change.captured_at.clone(),
                ..AnnotateDetails::default()
            });
            // A source or note the annotation set, as the bag shows it (perhaps hidden).
            let (sets_source, sets_note) = change.sets();
            if sets_source {
                source = change.source.clone();
            }
            if sets_note {
                note = change.note.clone();
            }
        }
        Some(IngestFacts {
            source,
            note,
            tags: now.tags,
            captured_at: now.captured_at,
            ..ingest.clone()
        })
    }

    /// An item's bytes are those at the path its ingest event (event `seq`) gives, wherever
    /// its entry's `file` points, and must be the bytes that event recorded.
    fn check_ingested_bytes(
        &mut self,
        item: &BagItem,
        entry: &EvidenceEntry,
        facts: &IngestFacts,
        seq: u64,
    ) {
        let path = layout::evidence_path_of(&item.0, &facts.name);
        if path != entry.file {
            self.found(BagFinding::EntryFileWrong {
                item: item.clone(),
                file: entry.file.clone(),
                path: BagPath::new(path.clone()),
            });
        }
        let Some(d) = self.payload.get(&path) else {
            if !self.skipped.contains(&path) && path != entry.file {
                let (item, path) = (item.clone(), BagPath::new(path));
                self.found(BagFinding::IngestFileMissing { item, path });
            }
            return;
        };
        let at_ingest = (
            Sha256Digest::from_hex(&facts.sha256),
            ContentId::from_hex(&facts.blake3),
            facts.size,
        );
        if at_ingest != (Some(d.sha256), Some(d.blake3), d.size) {
            let (item, path) = (item.clone(), BagPath::new(path));
            self.found(BagFinding::BytesNotIngested { item, path, seq });
        }
    }
}

/// The first field of an evidence.json entry that differs from what its events recorded:
/// its ingest event's facts (compared as `verify` compares an item record), the name and
/// path shown as text from their bytes, and the cases its ingest and link events name.
fn entry_differs(
    entry: &EvidenceEntry,
    recorded: &IngestFacts,
    cases: Option<&BTreeSet<String>>,
) -> Option<&'static str> {
    // The bytes as lower-case hex, as custodia writes them: any other spelling is an edit.
    let bytes = |h: &str| hex::decode(h).ok().filter(|b| hex::encode(b) == h);
    let Some(name) = bytes(&entry.name_hex) else {
        return Some("name_hex");
    };
    // A path hidden in the bag is its commitment, which must be the ingest event's.
    let path_bytes = match &entry.path_hex {
        Disclosed::Plain(h) => match bytes(h) {
            Some(b) => Some(b),
            None => return Some("path_hex"),
        },
        Disclosed::Hidden(_) => None,
    };
    let listed = IngestFacts {
        actor: entry.ingested_by.clone(),
        time: entry.ingested_at.clone(),
        blake3: entry.blake3.clone(),
        sha256: entry.sha256.clone(),
        size: entry.size,
        name,
        path: entry.path_hex.clone(),
        path_text: entry.path.clone(),
        source: entry.source.clone(),
        note: entry.note.clone(),
        tags: entry.tags.clone(),
        captured_at: entry.captured_at.clone(),
        modified_at: entry.modified_at.clone(),
        parent: entry.parent.clone(),
    };
    let cases: Vec<String> = cases.into_iter().flatten().cloned().collect();
    let text = crate::text::exact_or_escaped;
    // Named by their evidence.json keys.
    let differs = listed.first_difference(recorded).map(|field| match field {
        "actor" => "ingested_by",
        "name" => "name_hex",
        "path" => "path_hex",
        "path_text" => "path",
        other => other,
    });
    // A revealed path's text must be its bytes shown as text, as export writes it.
    let path_shown = match (&entry.path, path_bytes) {
        (Disclosed::Plain(t), Some(b)) => *t == text(&b),
        (Disclosed::Hidden(_), None) => true,
        _ => false,
    };
    differs
        .or_else(|| (entry.name != text(&recorded.name)).then_some("name"))
        .or_else(|| (!path_shown).then_some("path"))
        .or_else(|| (entry.cases != cases).then_some("cases"))
}
