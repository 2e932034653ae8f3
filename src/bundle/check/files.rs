//! The bag's files before any is hashed: the walk that takes the inventory, the size each
//! payload file must have, and Payload-Oxum.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use super::custody::{Custody, MAX_CUSTODY};
use super::metadata::EvidenceDoc;
use super::{BagInfo, Checker, MAX_TAG_FILE, readme_for};
use crate::bundle::bagit::{self, Algorithm};
use crate::bundle::finding::{BagFinding, BagItem, BagPath, SizeSource, Unlisted};
use crate::bundle::layout;
use crate::custody::Action;
use crate::custody::details::AcquisitionDetails;

/// Directories deeper than this in a bag are not walked (custodia writes three levels).
const MAX_DEPTH: usize = 16;

/// What a payload file must be, known before any byte of it is read.
#[derive(Clone, Debug)]
pub(super) enum Expected {
    /// At most this many bytes: a metadata file, which its reader refuses when larger.
    AtMost(u64),
    /// Exactly this many, as `source` says (evidence files, README); `item` whose bytes it is.
    Exactly {
        size: u64,
        source: SizeSource,
        item: Option<String>,
    },
}

impl Checker<'_> {
    /// Walks the bag without following links; anything but directories and regular files is
    /// a finding, and so is any directory or entry that cannot be read (issue 9.12): what
    /// is wrong inside a bag is always a finding about the bag, never a failure to verify.
    pub(super) fn inventory(&mut self, dir: &Path, prefix: &str, depth: usize) {
        let shown = BagPath::new(if prefix.is_empty() {
            "."
        } else {
            prefix.trim_end_matches('/')
        });
        if depth > MAX_DEPTH {
            let limit = MAX_DEPTH;
            return self.found(BagFinding::TooDeep { dir: shown, limit });
        }
        let entries = fs::read_dir(dir).and_then(|d| d.collect::<std::io::Result<Vec<_>>>());
        let mut entries = match entries {
            Ok(e) => e,
            Err(e) => {
                let why = e.to_string();
                return self.found(BagFinding::DirUnreadable { dir: shown, why });
            }
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                let shown = crate::text::escape_os(&entry.file_name());
                let at = BagPath::new(format!("{prefix}{shown}"));
                self.found(BagFinding::NameNotUtf8 { at });
                continue;
            };
            let rel = format!("{prefix}{name}");
            let meta = match fs::symlink_metadata(entry.path()) {
                Ok(m) => m,
                Err(e) => {
                    let (at, why) = (BagPath::new(rel), e.to_string());
                    self.found(BagFinding::Unexaminable { at, why });
                    continue;
                }
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                self.inventory(&entry.path(), &format!("{rel}/"), depth + 1);
            } else if kind.is_file() {
                self.files.insert(rel, meta.len());
            } else if kind.is_symlink() {
                self.found(BagFinding::Symlink {
                    at: BagPath::new(rel),
                });
            } else {
                self.found(BagFinding::SpecialFile {
                    at: BagPath::new(rel),
                });
            }
        }
    }

    /// Payload-Oxum against the sizes the walk found, before anything is hashed.
    pub(super) fn check_oxum(&mut self, info: &BagInfo) {
        let (bytes, count) = self
            .files
            .iter()
            .filter(|(k, _)| k.starts_with("data/"))
            .fold((0u64, 0u64), |(b, n), (_, size)| {
                (b.saturating_add(*size), n + 1)
            });
        let actual = format!("{bytes}.{count}");
        match info.get("Payload-Oxum") {
            Some(declared) if *declared == actual => {}
            Some(declared) => self.found(BagFinding::OxumWrong {
                declared: declared.clone(),
                actual,
            }),
            None => self.found(BagFinding::OxumMissing),
        }
    }

    /// The payload files custodia writes, each with the size it must have: the metadata
    /// files, README-VERIFY.txt, and each exported item's file at the path its ingest event
    /// gives (or, where the chain is broken and already reported, its evidence.json `file`).
    pub(super) fn expected_files(
        &self,
        info: &BagInfo,
        custody: &Custody,
        evidence: Option<&EvidenceDoc>,
    ) -> BTreeMap<String, Expected> {
        let mut out = BTreeMap::new();
        out.insert(layout::CASE_JSON.to_owned(), Expected::AtMost(MAX_TAG_FILE));
        out.insert(
            layout::EVIDENCE_JSON.to_owned(),
            Expected::AtMost(MAX_TAG_FILE),
        );
        out.insert(
            layout::CUSTODY_JSONL.to_owned(),
            Expected::AtMost(MAX_CUSTODY),
        );
        let signed = self.files.contains_key(layout::proof::CHECKPOINT);
        let readme = readme_for(info, custody, signed).map_or(0, |r| r.len());
        out.insert(
            layout::README_VERIFY.to_owned(),
            Expected::Exactly {
                size: readme as u64,
                source: SizeSource::ThisRelease,
                item: None,
            },
        );
        if self.files.contains_key(layout::proof::CHECKPOINT) {
            self.expect_proof(&mut out);
        }
        if self.reading_files_required(custody) {
            for rel in [layout::INVENTORY_CSV, layout::INDEX_HTML] {
                out.insert(rel.to_owned(), Expected::AtMost(MAX_TAG_FILE));
            }
        }
        let ids: BTreeSet<String> = if custody.exported.is_empty() {
            evidence
                .into_iter()
                .flat_map(|d| d.items.iter().filter_map(|i| i.id.clone()))
                .collect()
        } else {
            custody.exported.clone()
        };
        for id in ids {
            let expected = from_ingest(&id, custody).or_else(|| from_listing(&id, evidence));
            if let Some((path, size, source)) = expected {
                let item = Some(id);
                out.insert(path, Expected::Exactly { size, source, item });
            }
        }
        out
    }

    /// The files of data/proof/: each at most a metadata file's size, the checker exactly
    /// this release's, and a token file per time-stamp (checked against its event later).
    fn expect_proof(&self, out: &mut BTreeMap<String, Expected>) {
        use layout::proof;
        for rel in [
            proof::CHECKPOINT,
            proof::CHECKPOINT_SIG,
            proof::SIGNER_PEM,
            proof::KEYS,
            proof::ANCHORS,
            proof::INCLUSION,
            proof::CONSISTENCY,
            proof::ALLOWED_SIGNERS,
            proof::REVEALS,
        ] {
            out.insert(rel.to_owned(), Expected::AtMost(MAX_TAG_FILE));
        }
        out.insert(
            proof::CHECK_PY.to_owned(),
            Expected::Exactly {
                size: proof::checker_size(self.files.get(proof::CHECK_PY).copied()),
                source: SizeSource::ThisRelease,
                item: None,
            },
        );
        for rel in self.files.keys().filter(|r| proof::token_seq(r).is_some()) {
            out.insert(rel.clone(), Expected::AtMost(MAX_TAG_FILE));
        }
    }

    /// Every payload file against its expected size before any is hashed: one whose size
    /// already disagrees, and one custodia never writes, is reported and not read (a sparse
    /// terabyte file costs nothing to plant and hours to hash). Anything in the bag that is
    /// not part of a custodia bundle is `file_unlisted`, whatever the manifests say.
    pub(super) fn check_sizes(&mut self, expected: &BTreeMap<String, Expected>) {
        let tag_files: BTreeSet<String> = bagit::covered_tag_files()
            .into_iter()
            .chain(Algorithm::TAG.iter().map(|a| a.tag_manifest()))
            .collect();
        let files: Vec<(String, u64)> = self.files.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (rel, size) in files {
            if tag_files.contains(&rel) || self.payload.contains_key(&rel) {
                continue;
            }
            match expected.get(&rel) {
                None => {
                    self.skipped.insert(rel.clone());
                    self.unlisted(&rel, Unlisted::NotInBundle);
                }
                // A metadata file over its cap is reported by the reader that refuses it.
                Some(Expected::AtMost(cap)) => {
                    if size > *cap {
                        self.skipped.insert(rel);
                    }
                }
                Some(Expected::Exactly {
                    size: want,
                    source,
                    item,
                }) if size != *want => {
                    self.skipped.insert(rel.clone());
                    self.found(BagFinding::SizeWrong {
                        file: BagPath::new(rel),
                        item: item.clone().map(BagItem::new),
                        size,
                        expected: *want,
                        source: source.clone(),
                    });
                }
                Some(Expected::Exactly { .. }) => {}
            }
        }
    }
}

/// Where an exported item's file is and its size, as its ingest event gives them.
fn from_ingest(id: &str, custody: &Custody) -> Option<(String, u64, SizeSource)> {
    let e = custody
        .first
        .get(id)
        .filter(|e| e.action == Action::Ingest)?;
    let details = e.details_as::<AcquisitionDetails>()?;
    Some((
        layout::evidence_path_of(id, &details.name_bytes()?),
        details.size,
        SizeSource::IngestEvent(e.seq),
    ))
}

/// Where an item's file is and its size, as its evidence.json entry gives them: only a file
/// directly in the item's own directory.
fn from_listing(id: &str, evidence: Option<&EvidenceDoc>) -> Option<(String, u64, SizeSource)> {
    let entry = evidence?
        .items
        .iter()
        .find(|i| i.id.as_deref() == Some(id))?
        .entry
        .as_ref()
        .ok()?;
    let dir = format!("{}{id}/", layout::EVIDENCE_DIR);
    let name = entry.file.strip_prefix(&dir).filter(|n| !n.contains('/'))?;
    Some((format!("{dir}{name}"), entry.size, SizeSource::EvidenceJson))
}
