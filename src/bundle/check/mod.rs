//! `verify --bundle`: checks a bag with no archive at hand, reading only files found inside it.
//!
//! Paths named by manifests are only looked up in the inventory taken by walking the bag
//! without following links; they are never opened as given, so a hostile manifest cannot
//! make the verifier read or write outside the bag.
//!
//! This module owns the order of the checks and the reading of the bag's files; each kind
//! of check is a module of its own: `files` (the walk, sizes, Payload-Oxum), `manifests`,
//! `bag_info` (bagit.txt, bag-info.txt, README-VERIFY.txt), `custody` (the streamed log and
//! its chains) and `metadata` (evidence.json and case.json against the events).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::Path;

use super::bagit::{FileDigests, TripleHasher};
use super::finding::{BagFinding, BagPath, Unlisted};
use super::layout;
use crate::durable;
use crate::error::{Error, Result};
use crate::findings::{Finding, VerifyReport};
use crate::ids::CaseId;

mod bag_info;
mod custody;
mod files;
mod manifests;
mod metadata;
mod proof;
mod reveals;

pub use proof::BundleTrust;

use custody::Custody;

/// No tag or metadata file is read whole if it is larger than this.
const MAX_TAG_FILE: u64 = 64 << 20;

/// The regular files of a bag, by path relative to its top (with `/`), and their sizes.
type Inventory = BTreeMap<String, u64>;

/// bag-info.txt's fields, by label.
type BagInfo = HashMap<String, String>;

struct Checker<'a> {
    dir: &'a Path,
    files: Inventory,
    report: VerifyReport,
    payload: BTreeMap<String, FileDigests>,
    /// Payload files deliberately not hashed, each already the subject of a finding.
    skipped: BTreeSet<String>,
    /// Files already reported `file_unlisted`, so none is reported twice.
    unlisted: BTreeSet<String>,
}

pub fn verify_bundle(dir: &Path, trust: &BundleTrust) -> Result<VerifyReport> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::NotABundle(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingInput(dir.to_path_buf()));
        }
        Err(e) => return Err(Error::io(dir)(e)),
    }
    let mut c = Checker {
        dir,
        files: Inventory::new(),
        report: VerifyReport::default(),
        payload: BTreeMap::new(),
        skipped: BTreeSet::new(),
        unlisted: BTreeSet::new(),
    };
    // The top itself unreadable is the one failure that is no finding: there is no bag to judge.
    fs::read_dir(dir).map_err(Error::io(dir))?;
    c.inventory(dir, "", 0);
    c.check_declaration();
    let info = c.bag_info();
    let evidence = c.evidence_items();
    let listed: BTreeSet<String> = evidence
        .iter()
        .flat_map(|d| d.items.iter().filter_map(|i| i.id.clone()))
        .collect();
    let proof = c.load_proof();
    let reveals = c.load_reveals();
    let mut custody = c.check_custody(&info, listed, proof, reveals);
    if let Some(walk) = custody.proof.take() {
        let export = custody.export().map(|e| e.seq);
        c.check_proof(walk, export, trust);
    }
    // Sizes first: nothing is hashed before it is known how large it may be (issue 9.9).
    let expected = c.expected_files(&info, &custody, evidence.as_ref());
    c.check_oxum(&info);
    c.check_sizes(&expected);
    c.hash_payload();
    let listed = c.check_payload_manifests();
    c.check_tag_manifests();
    c.check_unlisted(&listed);
    c.check_metadata(&info, &custody, evidence.as_ref());
    c.check_readme(&info, &custody);
    c.check_bag_info_fields(&info, &custody);
    Ok(c.report)
}

impl Checker<'_> {
    fn found(&mut self, finding: BagFinding) {
        self.report.found(Finding::Bundle(finding));
    }

    /// A `file_unlisted` finding, once per path.
    fn unlisted(&mut self, rel: &str, why: Unlisted) {
        if self.unlisted.insert(rel.to_owned()) {
            let path = BagPath::new(rel);
            self.found(BagFinding::Unlisted { path, why });
        }
    }

    /// Reads a file found by the walk, refusing links and anything over `cap`.
    fn read(&mut self, rel: &str, cap: u64) -> Option<Vec<u8>> {
        let size = *self.files.get(rel)?;
        if size > cap {
            let file = BagPath::new(rel);
            self.found(BagFinding::TooLarge { file, size, cap });
            return None;
        }
        let mut bytes = Vec::new();
        let read = durable::open_no_follow(&self.dir.join(rel))
            .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes));
        match read {
            Ok(_) => Some(bytes),
            Err(e) => {
                self.unreadable(rel, e);
                None
            }
        }
    }

    fn unreadable(&mut self, rel: &str, e: std::io::Error) {
        let file = BagPath::new(rel);
        let why = e.to_string();
        self.found(BagFinding::Unreadable { file, why });
    }

    fn digest_file(&mut self, rel: &str) -> Option<FileDigests> {
        let mut hasher = TripleHasher::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut file = match durable::open_no_follow(&self.dir.join(rel)) {
            Ok(f) => f,
            Err(e) => {
                self.unreadable(rel, e);
                return None;
            }
        };
        loop {
            match file.read(&mut buf) {
                Ok(0) => return Some(hasher.finish()),
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.unreadable(rel, e);
                    return None;
                }
            }
        }
    }

    /// Hashes every payload file not yet hashed and not set aside by `check_sizes`.
    fn hash_payload(&mut self) {
        let payload: Vec<String> = self
            .files
            .keys()
            .filter(|k| k.starts_with("data/"))
            .filter(|k| !self.payload.contains_key(*k) && !self.skipped.contains(*k))
            .cloned()
            .collect();
        for rel in payload {
            if let Some(d) = self.digest_file(&rel) {
                self.count_hashed(rel, d);
            }
        }
    }

    fn count_hashed(&mut self, rel: String, d: FileDigests) {
        self.report.checked.bytes += d.size;
        self.report.checked.contents += 1;
        self.payload.insert(rel, d);
    }
}

/// The case a bundle is of: the export event's, else bag-info's External-Identifier.
fn bundle_case(info: &BagInfo, custody: &Custody) -> Option<CaseId> {
    custody
        .export()
        .and_then(|e| e.case_id().map(str::to_owned))
        .or_else(|| info.get("External-Identifier").cloned())
        .and_then(|c| c.parse().ok())
}

/// The README-VERIFY.txt this release writes for the bundle's case.
/// A bundle with a proof (data/proof/) has the text that explains it; an earlier one, the
/// text of its release.
fn readme_for(info: &BagInfo, custody: &Custody, signed: bool) -> Option<String> {
    bundle_case(info, custody).map(|c| {
        if signed {
            layout::readme_verify_signed(&c)
        } else {
            layout::readme_verify(&c)
        }
    })
}
