//! The metadata files and the export event: case.json and evidence.json (whose digests the
//! event records), the event sealed, custody.jsonl ending with it, and README-VERIFY.txt.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::files::{BagFile, write_file};
use super::reveals::Disclosure;
use super::{ExportOptions, Written};
use crate::archive::{Archive, Sealed};
use crate::bundle::bagit::FileDigests;
use crate::bundle::court;
use crate::bundle::layout::{self, CaseJson, EvidenceEntry, EvidenceJson};
use crate::custody::details::{AcquisitionDetails, AnnotateEvent, ExportDetails};
use crate::custody::disclosure::Disclosed;
use crate::custody::{Action, Draft};
use crate::error::{Error, Result};
use crate::ids::EvidenceId;
use crate::text::exact_or_escaped;

/// The action of each event evidence.json's values come from, by seq (`event_kinds`).
type EventKinds = BTreeMap<u64, Action>;

/// A source and a note an annotation set, as the bag shows them.
type AnnotatedContext = (
    Option<Disclosed<Option<String>>>,
    Option<Disclosed<Option<String>>>,
);

impl Archive {
    /// Writes case.json and evidence.json, seals the export event that records their
    /// digests, then writes custody.jsonl (ending with that event) and README-VERIFY.txt.
    /// `payload` holds the items' files, in the order of `ids`. Returns the sealed event and
    /// the four files written.
    pub(super) fn write_metadata(
        &self,
        bag: &Path,
        opts: &ExportOptions,
        case: &crate::catalog::CaseRecord,
        ids: &[EvidenceId],
        payload: &[Written],
    ) -> Result<(Sealed, Vec<Written>)> {
        // case.json and evidence.json come first: the export event records a digest of
        // each, so that every field of them is pinned by the custody head (issue 9.3).
        let disclosure = Disclosure {
            reveal: &opts.reveal,
            case: &opts.case,
        };
        let case_doc = self.case_json(case, ids);
        let case_json = write_file(&bag.join(layout::CASE_JSON), &pretty(&case_doc)?)?;
        let (evidence_json, entry_digests, entries) =
            self.write_evidence_json(bag, &disclosure, ids, payload)?;
        // The files for people, from the same documents and the items' events as the bag
        // shows them (hidden values stay hidden); the export event records their digests.
        let history = self.exported_histories(ids, &entries, &disclosure)?;
        let inventory = write_file(
            &bag.join(layout::INVENTORY_CSV),
            court::inventory_csv(&entries).as_bytes(),
        )?;
        let mut page = BagFile::create(bag.join(layout::INDEX_HTML))?;
        // An error of the file itself is kept by `page`, and `finish` returns it.
        let _ = court::write_index_html(&mut page, &case_doc, &entries, &history);
        let index = page.finish()?;
        drop((entries, history));
        let details = ExportDetails {
            bundle: exact_or_escaped(
                opts.out
                    .file_name()
                    .map(|n| n.as_encoded_bytes())
                    .unwrap_or_default(),
            ),
            items: ids.len() as u64,
            bytes: payload.iter().map(|w| w.digests.size).sum(),
            organization: opts.organization.clone(),
            contact: opts.contact.clone(),
            case_json_sha256: Some(layout::metadata_digest(&case_doc).to_hex()),
            evidence_sha256: Some(entry_digests),
            index_html_sha256: Some(index.sha256.to_hex()),
            inventory_csv_sha256: Some(inventory.sha256.to_hex()),
        };
        let draft = Draft::new(Action::Export)
            .case(&opts.case)
            .reason(opts.reason.clone())
            .with(&details);
        let draft = ids.iter().fold(draft, |d, id| d.item(*id));
        let sealed = self.seal_next(&draft)?;
        let custody_jsonl = self.write_custody(bag, ids, &sealed)?;
        let readme = write_file(
            &bag.join(layout::README_VERIFY),
            layout::readme_verify_signed(&opts.case).as_bytes(),
        )?;
        let mut included = self.event_seqs(ids)?;
        included.insert(sealed.seq);
        let mut written: Vec<Written> = [
            (layout::CASE_JSON, case_json),
            (layout::EVIDENCE_JSON, evidence_json),
            (layout::CUSTODY_JSONL, custody_jsonl),
            (layout::README_VERIFY, readme),
            (layout::INVENTORY_CSV, inventory),
            (layout::INDEX_HTML, index),
        ]
        .into_iter()
        .map(|(rel, digests)| Written {
            rel: rel.to_owned(),
            digests,
        })
        .collect();
        written.extend(self.write_proof(bag, &included, &sealed, &disclosure)?);
        Ok((sealed, written))
    }

    /// The histories index.html prints: every custody event that names one of `ids`, in
    /// log order, as the bundle shows it (hidden values stay hidden), one at a time.
    fn exported_histories(
        &self,
        ids: &[EvidenceId],
        entries: &[EvidenceEntry],
        d: &Disclosure,
    ) -> Result<court::Histories> {
        let mut histories = court::Histories::new(entries);
        for seq in self.event_seqs(ids)? {
            histories.add(&self.disclosed_event(seq, d)?.0);
        }
        Ok(histories)
    }

    /// The cases an item's ingest and link events show in the bundle: the exported one,
    /// and others only where revealed (or recorded in the clear, before issue 11.7).
    fn disclosed_cases(
        &self,
        id: EvidenceId,
        d: &Disclosure,
        kinds: &EventKinds,
    ) -> Result<Vec<String>> {
        let mut cases = BTreeSet::new();
        for seq in self.item_seqs_of(id, &[Action::Ingest, Action::Link], kinds)? {
            let (event, _) = self.disclosed_event(seq, d)?;
            if let Some(case) = event.case_id() {
                cases.insert(case.to_owned());
            }
        }
        Ok(cases.into_iter().collect())
    }

    /// The events naming item `id` whose action is one of `actions`, oldest first.
    fn item_seqs_of(
        &self,
        id: EvidenceId,
        actions: &[Action],
        kinds: &EventKinds,
    ) -> Result<Vec<u64>> {
        let mut seqs = self.catalog.event_seqs_of(id)?;
        seqs.retain(|seq| kinds.get(seq).is_some_and(|a| actions.contains(a)));
        Ok(seqs)
    }

    /// The action of each exported item's ingest, link and annotate events: the events
    /// evidence.json's values come from. Each event is read once and told by its leading
    /// bytes, unparsed: an item's history also holds every export event that named it, each
    /// listing its whole bundle, and parsing those item by item made an export's cost grow
    /// with items × earlier exports.
    fn event_kinds(&self, ids: &[EvidenceId]) -> Result<EventKinds> {
        let wanted = [Action::Ingest, Action::Link, Action::Annotate];
        let prefixes: Vec<(Action, Vec<u8>)> = wanted
            .iter()
            .map(|a| (*a, format!(r#"{{"action":"{}""#, a.as_str()).into_bytes()))
            .collect();
        let mut kinds = EventKinds::new();
        for seq in self.event_seqs(ids)? {
            let bytes = self
                .catalog
                .event_bytes(seq)?
                .ok_or_else(|| Error::Damaged(format!("custody event {seq} is missing")))?;
            if let Some((action, _)) = prefixes.iter().find(|(_, p)| bytes.starts_with(p)) {
                kinds.insert(seq, *action);
            }
        }
        Ok(kinds)
    }

    /// Every custody event that names one of `ids`, in log order.
    fn event_seqs(&self, ids: &[EvidenceId]) -> Result<BTreeSet<u64>> {
        let mut seqs = BTreeSet::new();
        for id in ids {
            seqs.extend(self.catalog.event_seqs_of(*id)?);
        }
        Ok(seqs)
    }

    /// The source and the note the item's last annotations set, as the bag shows them
    /// (hidden unless revealed): then the current value is that event's, not the ingest's.
    fn annotated_context(
        &self,
        id: EvidenceId,
        d: &Disclosure,
        kinds: &EventKinds,
    ) -> Result<AnnotatedContext> {
        let (mut source, mut note) = (None, None);
        for seq in self.item_seqs_of(id, &[Action::Annotate], kinds)? {
            let (event, _) = self.disclosed_event(seq, d)?;
            if let Some(change) = event.details_as::<AnnotateEvent>() {
                let (sets_source, sets_note) = change.sets();
                if sets_source {
                    source = Some(change.source);
                }
                if sets_note {
                    note = Some(change.note);
                }
            }
        }
        Ok((source, note))
    }

    fn case_json(&self, case: &crate::catalog::CaseRecord, ids: &[EvidenceId]) -> CaseJson {
        CaseJson {
            id: case.id.to_string(),
            title: case.title.clone(),
            description: case.description.clone(),
            created_at: case.created_at.clone(),
            created_by: case.actor.clone(),
            archive_id: self.meta.archive_id.clone(),
            exported_items: ids.iter().map(|i| i.to_string()).collect(),
        }
    }

    /// Writes `data/evidence.json` one item at a time, each looked up as it is written: the
    /// same bytes serde_json's pretty printing of the whole document gives, without the
    /// whole document (or every item's record) in memory. `written` holds the items' payload
    /// files, in the order of `ids`. Returns with its digests each item's `metadata_digest`.
    fn write_evidence_json(
        &self,
        bag: &Path,
        disclosure: &Disclosure,
        ids: &[EvidenceId],
        written: &[Written],
    ) -> Result<(FileDigests, BTreeMap<String, String>, Vec<EvidenceEntry>)> {
        let mut out = BagFile::create(bag.join(layout::EVIDENCE_JSON))?;
        let doc = EvidenceJson {
            case: disclosure.case.to_string(),
            items: EvidenceItems {
                archive: self,
                disclosure,
                ids,
                written,
                kinds: self.event_kinds(ids)?,
                failed: RefCell::new(None),
                digests: RefCell::new(BTreeMap::new()),
                entries: RefCell::new(Vec::with_capacity(ids.len())),
            },
        };
        let result = serde_json::to_writer_pretty(&mut out, &doc);
        // The lookup's or the write's own error, whole, rather than serde_json's wrapping of it.
        if let Some(e) = doc.items.failed.into_inner().or_else(|| out.failed.take()) {
            return Err(e);
        }
        result.map_err(|e| Error::Io {
            path: out.path.clone(),
            source: e.into(),
        })?;
        out.put(b"\n")?;
        Ok((
            out.finish()?,
            doc.items.digests.into_inner(),
            doc.items.entries.into_inner(),
        ))
    }

    /// One item of evidence.json; `exported` every item of the bundle, in id order.
    fn evidence_entry(
        &self,
        id: EvidenceId,
        written: &Written,
        exported: &[EvidenceId],
        d: &Disclosure,
        kinds: &EventKinds,
    ) -> Result<EvidenceEntry> {
        let item = self.item(id)?;
        // Current values (issue 12.2): a recipient recomputes them from the item's ingest
        // and annotate events, which custody.jsonl carries.
        let now = self.metadata(id)?;
        let (annotated_source, annotated_note) = self.annotated_context(id, d, kinds)?;
        let cases = self.disclosed_cases(id, d, kinds)?;
        // The committed fields as the ingest event shows them in the bag.
        let (ingest, _) = self.disclosed_event(item.seq, d)?;
        let acquired: AcquisitionDetails = ingest.details_as().ok_or_else(|| {
            Error::Damaged(format!("event {}: not a readable ingest of {id}", item.seq))
        })?;
        let children = self.children_of(id)?;
        let not_exported: Vec<String> = item
            .parent
            .iter()
            .chain(&children)
            .filter(|r| exported.binary_search(r).is_err())
            .map(|r| r.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let attachments: Vec<String> = children.iter().map(|c| c.to_string()).collect();
        Ok(EvidenceEntry {
            id: item.id.to_string(),
            file: written.rel.clone(),
            blake3: item.blake3.to_hex(),
            sha256: item.sha256.to_hex(),
            sha512: written.digests.sha512.clone(),
            size: item.size,
            name: exact_or_escaped(&item.name),
            name_hex: hex::encode(&item.name),
            path: acquired.path,
            path_hex: acquired.path_hex,
            // The last annotation's source or note, else the ingest's, as the bag shows
            // it (a commitment unless revealed).
            source: annotated_source.unwrap_or(acquired.source),
            note: annotated_note.unwrap_or(acquired.note),
            tags: now.tags,
            captured_at: now.captured_at,
            modified_at: item.modified_at,
            ingested_at: item.ingested_at,
            ingested_by: item.actor,
            parent: item.parent.map(|p| p.to_string()),
            attachments,
            cases,
            not_exported: Some(not_exported),
        })
    }

    /// Writes `data/custody.jsonl` event by event: every event naming one of `ids`, in log
    /// order, then the export's own.
    fn write_custody(
        &self,
        bag: &Path,
        ids: &[EvidenceId],
        sealed: &Sealed,
    ) -> Result<FileDigests> {
        let mut out = BagFile::create(bag.join(layout::CUSTODY_JSONL))?;
        for seq in self.event_seqs(ids)? {
            let bytes = self
                .catalog
                .event_bytes(seq)?
                .ok_or_else(|| Error::Damaged(format!("custody event {seq} is missing")))?;
            out.put(&bytes)?;
            out.put(b"\n")?;
        }
        out.put(&sealed.bytes)?;
        out.put(b"\n")?;
        out.finish()
    }
}

/// A metadata document as custodia writes it: serde_json's pretty printing, and a newline.
fn pretty(document: &impl Serialize) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(document)
        .map_err(|e| Error::Database(format!("a metadata document does not encode: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// evidence.json's items, each looked up when serde_json asks for it.
struct EvidenceItems<'a> {
    archive: &'a Archive,
    disclosure: &'a Disclosure<'a>,
    ids: &'a [EvidenceId],
    written: &'a [Written],
    kinds: EventKinds,
    /// The first lookup's error, kept whole (serde only carries a message).
    failed: RefCell<Option<Error>>,
    /// Each entry's `metadata_digest`, by item id, gathered as the entries are written.
    digests: RefCell<BTreeMap<String, String>>,
    /// The entries written, for inventory.csv and index.html.
    entries: RefCell<Vec<EvidenceEntry>>,
}

impl Serialize for EvidenceItems<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.ids.len()))?;
        for (id, written) in self.ids.iter().zip(self.written) {
            let entry = match self.archive.evidence_entry(
                *id,
                written,
                self.ids,
                self.disclosure,
                &self.kinds,
            ) {
                Ok(v) => v,
                Err(e) => {
                    let message = e.to_string();
                    *self.failed.borrow_mut() = Some(e);
                    return Err(S::Error::custom(message));
                }
            };
            self.digests
                .borrow_mut()
                .insert(id.to_string(), layout::metadata_digest(&entry).to_hex());
            seq.serialize_element(&entry)?;
            self.entries.borrow_mut().push(entry);
        }
        seq.end()
    }
}
