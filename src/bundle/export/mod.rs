//! `export`: a case (or part of it) written as a BagIt bag that proves itself with standard tools.
//!
//! The bag is built in a temporary sibling directory, every item re-read from the archive
//! and checked against its recorded hashes on the way out, everything fsynced, the export
//! recorded in the custody log, and only then renamed to the requested name.
//!
//! This module owns the order of those steps; `write` the payload (its threads), `metadata`
//! case.json, evidence.json, the export event and custody.jsonl, `tags` bag-info and the
//! manifests, and `files` how a file or directory of the bag is made and made durable.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::bagit::FileDigests;
use super::layout;
use crate::archive::Archive;
use crate::custody::details::SealDetails;
use crate::custody::disclosure::Reveal;
use crate::custody::{Action, Draft};
use crate::durable;
use crate::error::{Error, Result};
use crate::ids::{CaseId, EvidenceId, ItemRef};
use crate::text::exact_or_escaped;

mod files;
mod metadata;
mod proof;
mod reveals;
mod tags;
mod write;

use files::{
    TEMPORARY_MARKER, TEMPORARY_MARKER_TEXT, create_private_dir, remove_stale_exports, sync_dirs,
    unmark, write_file,
};

/// What to export, and the context the bundle carries.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub case: CaseId,
    pub out: PathBuf,
    /// Only these items (with their attachments); the whole case when empty.
    pub evidence: Vec<ItemRef>,
    pub attachments: bool,
    pub reason: Option<String>,
    pub organization: Option<String>,
    pub contact: Option<String>,
    /// Committed fields to reveal beyond the exported case (`--reveal`; issue 11.7).
    pub reveal: Vec<Reveal>,
}

#[derive(Clone, Debug)]
pub struct ExportReport {
    pub bundle: PathBuf,
    pub items: usize,
    /// Payload bytes (Payload-Oxum).
    pub bytes: u64,
    /// The exported items' own bytes (the evidence, without the bundle's metadata files).
    pub evidence_bytes: u64,
    /// Exported items that are attachments of another item.
    pub attachments: usize,
    /// Items related to the selection that the bundle does not hold, and why.
    pub left_out: Vec<LeftOut>,
    pub tagmanifest_sha256: String,
    /// The custody event of the export, which is also the last line of `data/custody.jsonl`.
    pub event: u64,
}

/// What an export of these options would hold, found without writing or recording
/// anything (`export --dry-run`, issue 12 point 8).
#[derive(Clone, Debug)]
pub struct ExportPlan {
    /// The items, in id order.
    pub items: Vec<PlannedItem>,
    pub left_out: Vec<LeftOut>,
}

impl ExportPlan {
    /// The items' own bytes.
    pub fn bytes(&self) -> u64 {
        self.items.iter().map(|i| i.size).sum()
    }

    /// The items that are attachments of another.
    pub fn attachments(&self) -> usize {
        self.items.iter().filter(|i| i.parent.is_some()).count()
    }
}

/// One item an export holds.
#[derive(Clone, Debug)]
pub struct PlannedItem {
    pub id: EvidenceId,
    /// The original name's bytes.
    pub name: Vec<u8>,
    pub size: u64,
    pub parent: Option<EvidenceId>,
}

/// An attachment of an exported item that the bundle does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    pub id: EvidenceId,
    /// The item it is an attachment of.
    pub parent: Option<EvidenceId>,
    pub reason: LeftOutReason,
}

/// Why an item stays out of a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftOutReason {
    /// `--no-attachments`.
    NoAttachments,
    /// An attachment filed only in other cases: a bundle holds one case's items.
    OtherCase,
}

impl LeftOutReason {
    /// Its stable name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LeftOutReason::NoAttachments => "no_attachments",
            LeftOutReason::OtherCase => "not_in_case",
        }
    }
}

/// A payload file written into the bag, with its digests.
struct Written {
    rel: String,
    digests: FileDigests,
}

/// What export tells its caller while it writes the payload; the CLI draws it.
pub trait ExportProgress {
    /// Items and bytes of evidence to write, before any is.
    fn total(&mut self, _items: u64, _bytes: u64) {}
    fn bytes(&mut self, _n: u64) {}
    fn item_done(&mut self) {}
}

impl ExportProgress for () {}

impl Archive {
    pub fn export(&mut self, opts: &ExportOptions) -> Result<ExportReport> {
        self.export_with(opts, &mut ())
    }

    /// `export`, telling `progress` how the payload is going.
    pub fn export_with(
        &mut self,
        opts: &ExportOptions,
        progress: &mut dyn ExportProgress,
    ) -> Result<ExportReport> {
        // The export's own event is sealed before it is committed: its key must be
        // registered first.
        self.prepare_signing()?;
        if fs::symlink_metadata(&opts.out).is_ok() {
            return Err(Error::OutputExists(opts.out.clone()));
        }
        let case = self.case(&opts.case)?;
        let (ids, left_out) = self.export_selection(opts)?;
        let (attachments, evidence_bytes) = self.attachments_and_bytes(&ids)?;
        progress.total(ids.len() as u64, evidence_bytes);
        let name = opts
            .out
            .file_name()
            .ok_or_else(|| Error::OutputExists(opts.out.clone()))?;
        let parent = opts
            .out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let prefix = format!(".{}.custodia-export-", name.to_string_lossy());
        remove_stale_exports(parent, &prefix);
        let tmp = parent.join(format!("{prefix}{}", std::process::id()));
        create_private_dir(&tmp)?;
        let built = write_file(
            &tmp.join(TEMPORARY_MARKER),
            TEMPORARY_MARKER_TEXT.as_bytes(),
        )
        .and_then(|_| self.build_bag(&tmp, opts, &case, &ids, progress));
        let (sealed, report) = match built.and_then(|b| unmark(&tmp).map(|()| b)) {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        // Published before the events are committed, never over anything (issue 9.10): an
        // output made meanwhile stays as it is and no event names a bundle that is not there.
        if let Err(e) = durable::rename_noreplace(&tmp, &opts.out) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let seal = Draft::new(Action::Seal)
            .case(&opts.case)
            .with(&SealDetails {
                export_event: sealed.seq,
                bundle: exact_or_escaped(name.as_encoded_bytes()),
                tagmanifest_sha256: report.tagmanifest_sha256.clone(),
                items: report.items as u64,
                bytes: report.bytes,
            });
        let committed = durable::sync_path(parent).and_then(|()| {
            self.commit(|tx| {
                tx.append_sealed(&sealed)?;
                tx.append(&seal).map(|_| ())
            })
        });
        // Exit 1 must leave no bundle under the name: one the archive did not record goes.
        if let Err(e) = committed {
            let _ = fs::remove_dir_all(&opts.out);
            let _ = durable::sync_path(parent);
            return Err(e);
        }
        Ok(ExportReport {
            bundle: opts.out.clone(),
            evidence_bytes,
            attachments,
            left_out,
            ..report
        })
    }

    /// How many of `ids` are attachments, and the bytes of evidence they hold together.
    fn attachments_and_bytes(&self, ids: &[EvidenceId]) -> Result<(usize, u64)> {
        let mut attachments = 0;
        let mut bytes = 0;
        for id in ids {
            let item = self.item(*id)?;
            attachments += usize::from(item.parent.is_some());
            bytes += item.size;
        }
        Ok((attachments, bytes))
    }

    /// What `export` would hold with these options, and what it would leave out: nothing
    /// is written or recorded. Fails as `export` would on an unknown case or item, an item
    /// not in the case, or an output that exists.
    pub fn plan_export(&self, opts: &ExportOptions) -> Result<ExportPlan> {
        if fs::symlink_metadata(&opts.out).is_ok() {
            return Err(Error::OutputExists(opts.out.clone()));
        }
        self.case(&opts.case)?;
        let (ids, left_out) = self.export_selection(opts)?;
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            let item = self.item(id)?;
            items.push(PlannedItem {
                id,
                name: item.name,
                size: item.size,
                parent: item.parent,
            });
        }
        Ok(ExportPlan { items, left_out })
    }

    /// The items to export, in id order: the selection (or the whole case) and, unless
    /// told otherwise, every attachment below them; and the attachments below them that
    /// stay out, and why (in id order).
    fn export_selection(&self, opts: &ExportOptions) -> Result<(Vec<EvidenceId>, Vec<LeftOut>)> {
        let mut chosen = BTreeSet::new();
        let mut left_out = BTreeMap::new();
        if opts.evidence.is_empty() {
            for id in self.items_of_case(&opts.case)? {
                // Without attachments, a whole-case export leaves out every item that is one.
                let parent = self.item(id)?.parent;
                if opts.attachments || parent.is_none() {
                    chosen.insert(id);
                } else {
                    left_out.insert(id, (parent, LeftOutReason::NoAttachments));
                }
            }
        }
        for r in &opts.evidence {
            let item = self.resolve(r)?;
            if !self.cases_of(item.id)?.contains(&opts.case) {
                return Err(Error::NotInCase(item.id, opts.case.clone()));
            }
            chosen.insert(item.id);
        }
        let mut queue: Vec<EvidenceId> = chosen.iter().copied().collect();
        let mut seen: BTreeSet<EvidenceId> = chosen.clone();
        while let Some(id) = queue.pop() {
            for child in self.children_of(id)? {
                if !seen.insert(child) {
                    continue;
                }
                // An attachment filed only in another case stays out of this case's bundle.
                if !self.cases_of(child)?.contains(&opts.case) {
                    left_out.insert(child, (Some(id), LeftOutReason::OtherCase));
                    continue;
                }
                if opts.attachments {
                    chosen.insert(child);
                } else {
                    left_out.insert(child, (Some(id), LeftOutReason::NoAttachments));
                }
                // Below a left-out attachment, its own attachments are left out too.
                queue.push(child);
            }
        }
        let left_out = left_out
            .into_iter()
            .filter(|(id, _)| !chosen.contains(id))
            .map(|(id, (parent, reason))| LeftOut { id, parent, reason })
            .collect();
        Ok((chosen.into_iter().collect(), left_out))
    }

    fn build_bag(
        &self,
        bag: &Path,
        opts: &ExportOptions,
        case: &crate::catalog::CaseRecord,
        ids: &[EvidenceId],
        progress: &mut dyn ExportProgress,
    ) -> Result<(crate::archive::Sealed, ExportReport)> {
        let data = bag.join(layout::DATA);
        create_private_dir(&data)?;
        if !ids.is_empty() {
            // Created once here, so that each item needs only its own directory.
            create_private_dir(&bag.join(layout::EVIDENCE_DIR))?;
        }
        // Per item only what the manifests and evidence.json need: everything else is
        // looked up again when it is written, so memory does not grow with the items' metadata.
        let mut payload = self.write_items(bag, ids, progress)?;
        let (sealed, metadata) = self.write_metadata(bag, opts, case, ids, &payload)?;
        payload.extend(metadata);
        payload.sort_by(|a, b| a.rel.cmp(&b.rel));
        let tagmanifest_sha256 = self.write_tag_files(bag, opts, case, &payload, &sealed)?;
        sync_dirs(bag, &data)?;
        let report = ExportReport {
            bundle: bag.to_path_buf(),
            evidence_bytes: 0,
            attachments: 0,
            left_out: Vec::new(),
            items: ids.len(),
            bytes: payload.iter().map(|w| w.digests.size).sum(),
            tagmanifest_sha256,
            event: sealed.seq,
        };
        Ok((sealed, report))
    }
}
