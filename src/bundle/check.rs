//! `verify --bundle`: checks a bag with no archive at hand, reading only files found inside it.
//!
//! Paths named by manifests are only looked up in the inventory taken by walking the bag
//! without following links; they are never opened as given, so a hostile manifest cannot
//! make the verifier read or write outside the bag.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{BufRead, Read, Seek};
use std::path::Path;

use serde_json::Value;

use super::bagit::{self, Algorithm, FileDigests, TripleHasher};
use super::layout::{self, CaseJson, EvidenceEntry};
use crate::custody::details::{AcquisitionDetails, ExportDetails, IngestFacts};
use crate::custody::{Action, Break, ChainWalker, Event};
use crate::durable;
use crate::error::{Error, Result};
use crate::findings::{ProblemKind, VerifyReport};
use crate::ids::{CaseId, ContentId, EventDigest, Sha256Digest};

/// No tag or metadata file is read whole if it is larger than this.
const MAX_TAG_FILE: u64 = 64 << 20;
/// Nor is the custody log read if it is larger than this; it is read line by line.
const MAX_CUSTODY: u64 = 1 << 30;
/// The longest line of the custody log read (an export event of some 300,000 items).
const MAX_EVENT_LINE: usize = 64 << 20;
/// Findings about single lines of the custody log listed before the rest are only counted.
const MAX_LINE_FINDINGS: usize = 100;
/// Directories deeper than this in a bag are not walked (custodia writes three levels).
const MAX_DEPTH: usize = 16;

/// The regular files of a bag, by path relative to its top (with `/`), and their sizes.
type Inventory = BTreeMap<String, u64>;

/// What a payload file must be, known before any byte of it is read.
#[derive(Clone, Debug)]
struct Expected {
    /// The item whose bytes it is, for evidence files.
    item: Option<String>,
    /// Exactly this many bytes (evidence files, README), or at most this many.
    size: u64,
    exact: bool,
    /// Where the size comes from, for the finding.
    source: String,
}

/// What the custody log says, kept while it is streamed: only what later checks need.
#[derive(Default)]
struct Custody {
    /// The last readable event and the SHA-256 of its line.
    last: Option<(Event, EventDigest)>,
    /// The items the export event (the last line) names.
    exported: BTreeSet<String>,
    /// Those and the items evidence.json lists: the items whose events are kept.
    wanted: BTreeSet<String>,
    /// The first event naming each exported item (its ingest, when the chain holds).
    first: HashMap<String, Event>,
    /// The cases each exported item was ingested into or linked to.
    cases: HashMap<String, BTreeSet<String>>,
}

/// data/evidence.json as read: its case, and each item apart, so that one malformed entry
/// is a finding about that entry and hides nothing about the others.
struct EvidenceDoc {
    case: Option<String>,
    items: Vec<ReadEntry>,
}

/// data/evidence.json's two parts, each `None` when it is missing or not of its type.
#[derive(serde::Deserialize)]
struct EvidenceParts {
    #[serde(default, deserialize_with = "lenient")]
    case: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    items: Option<Vec<Value>>,
}

/// One item of evidence.json as found: the JSON (the export event recorded the digest of
/// exactly this), the id it gives, and the entry when it has the fields of one.
struct ReadEntry {
    raw: Value,
    id: Option<String>,
    entry: std::result::Result<EvidenceEntry, String>,
}

impl ReadEntry {
    fn new(raw: Value) -> ReadEntry {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        // Objects only: serde would also read a struct from a list of its fields in order.
        let (id, entry) = if raw.is_object() {
            let id = serde_json::from_value::<Id>(raw.clone()).ok().map(|i| i.id);
            let entry = serde_json::from_value(raw.clone()).map_err(|e| e.to_string());
            (id, entry)
        } else {
            (None, Err("is not a JSON object".to_owned()))
        };
        ReadEntry { raw, id, entry }
    }
}

/// A field read as `T` when it is one and as `None` otherwise: a malformed part of a bag's
/// metadata is a finding of its own and stops nothing else being read.
fn lenient<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::Deserialize;
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

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

pub fn verify_bundle(dir: &Path) -> Result<VerifyReport> {
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
    let custody = c.check_custody(&info, listed);
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
    fn problem(&mut self, kind: ProblemKind, id: impl Into<String>, detail: impl Into<String>) {
        self.report.add(kind, Some(id.into()), detail);
    }

    /// Walks the bag without following links; anything but directories and regular files is
    /// a finding, and so is any directory or entry that cannot be read (issue 9.12): what
    /// is wrong inside a bag is always a finding about the bag, never a failure to verify.
    fn inventory(&mut self, dir: &Path, prefix: &str, depth: usize) {
        let shown = if prefix.is_empty() {
            "."
        } else {
            prefix.trim_end_matches('/')
        };
        if depth > MAX_DEPTH {
            return self.problem(
                ProblemKind::BagInvalid,
                shown,
                format!("is nested deeper than {MAX_DEPTH} directories, which custodia never writes; not walked"),
            );
        }
        let entries = fs::read_dir(dir).and_then(|d| d.collect::<std::io::Result<Vec<_>>>());
        let mut entries = match entries {
            Ok(e) => e,
            Err(e) => {
                return self.problem(
                    ProblemKind::BagInvalid,
                    shown,
                    format!("is a directory that cannot be read: {e}"),
                );
            }
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                let shown = crate::text::escape_os(&entry.file_name());
                self.problem(
                    ProblemKind::PathUnsafe,
                    format!("{prefix}{shown}"),
                    "file name is not valid UTF-8, so no manifest can name it",
                );
                continue;
            };
            let rel = format!("{prefix}{name}");
            let meta = match fs::symlink_metadata(entry.path()) {
                Ok(m) => m,
                Err(e) => {
                    self.problem(
                        ProblemKind::BagInvalid,
                        rel,
                        format!("cannot be examined: {e}"),
                    );
                    continue;
                }
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                self.inventory(&entry.path(), &format!("{rel}/"), depth + 1);
            } else if kind.is_file() {
                self.files.insert(rel, meta.len());
            } else if kind.is_symlink() {
                self.problem(
                    ProblemKind::PathUnsafe,
                    rel,
                    "is a symbolic link; a bag holds only regular files (not followed)",
                );
            } else {
                self.problem(ProblemKind::PathUnsafe, rel, "is not a regular file");
            }
        }
    }

    /// Reads a file found by `inventory`, refusing links and anything over `cap`.
    fn read(&mut self, rel: &str, cap: u64) -> Option<Vec<u8>> {
        let size = *self.files.get(rel)?;
        if size > cap {
            self.problem(
                ProblemKind::BagInvalid,
                rel,
                format!("is {size} bytes, more than the {cap} a verifier reads"),
            );
            return None;
        }
        let mut bytes = Vec::new();
        let read = durable::open_no_follow(&self.dir.join(rel))
            .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes));
        match read {
            Ok(_) => Some(bytes),
            Err(e) => {
                self.problem(ProblemKind::BagInvalid, rel, format!("cannot be read: {e}"));
                None
            }
        }
    }

    fn digest_file(&mut self, rel: &str) -> Option<FileDigests> {
        let mut hasher = TripleHasher::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut file = match durable::open_no_follow(&self.dir.join(rel)) {
            Ok(f) => f,
            Err(e) => {
                self.problem(ProblemKind::BagInvalid, rel, format!("cannot be read: {e}"));
                return None;
            }
        };
        loop {
            match file.read(&mut buf) {
                Ok(0) => return Some(hasher.finish()),
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.problem(ProblemKind::BagInvalid, rel, format!("cannot be read: {e}"));
                    return None;
                }
            }
        }
    }

    fn check_declaration(&mut self) {
        match self.read(bagit::BAGIT_TXT, MAX_TAG_FILE) {
            None if !self.files.contains_key(bagit::BAGIT_TXT) => self.problem(
                ProblemKind::BagInvalid,
                bagit::BAGIT_TXT,
                "is missing: this is not a BagIt bag",
            ),
            None => {}
            Some(bytes) => {
                let fields =
                    bagit::parse_bag_info(&String::from_utf8_lossy(&bytes)).unwrap_or_default();
                let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
                if get("BagIt-Version") != Some("1.0")
                    || get("Tag-File-Character-Encoding") != Some("UTF-8")
                {
                    self.problem(
                        ProblemKind::BagInvalid,
                        bagit::BAGIT_TXT,
                        "does not declare BagIt-Version 1.0 with UTF-8 tag files",
                    );
                }
            }
        }
    }

    fn bag_info(&mut self) -> HashMap<String, String> {
        let Some(bytes) = self.read(bagit::BAG_INFO, MAX_TAG_FILE) else {
            if !self.files.contains_key(bagit::BAG_INFO) {
                self.problem(ProblemKind::BagInvalid, bagit::BAG_INFO, "is missing");
            }
            return HashMap::new();
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                self.problem(
                    ProblemKind::BagInvalid,
                    bagit::BAG_INFO,
                    "is not valid UTF-8",
                );
                return HashMap::new();
            }
        };
        match bagit::parse_bag_info(&text) {
            Ok(fields) => fields.into_iter().collect(),
            Err(e) => {
                self.problem(ProblemKind::BagInvalid, bagit::BAG_INFO, e);
                HashMap::new()
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

    /// Payload-Oxum against the sizes the walk found, before anything is hashed.
    fn check_oxum(&mut self, info: &HashMap<String, String>) {
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
            Some(declared) => {
                let detail = format!(
                    "Payload-Oxum declares {declared} (bytes.files), the payload holds {actual}"
                );
                self.problem(ProblemKind::BagInvalid, bagit::BAG_INFO, detail);
            }
            None => self.problem(
                ProblemKind::BagInvalid,
                bagit::BAG_INFO,
                "has no Payload-Oxum",
            ),
        }
    }

    /// The payload files custodia writes, each with the size it must have: the metadata
    /// files, README-VERIFY.txt, and each exported item's file at the path its ingest event
    /// gives (or, where the chain is broken and already reported, its evidence.json `file`).
    fn expected_files(
        &self,
        info: &HashMap<String, String>,
        custody: &Custody,
        evidence: Option<&EvidenceDoc>,
    ) -> BTreeMap<String, Expected> {
        let mut out = BTreeMap::new();
        let at_most = |size: u64| Expected {
            item: None,
            size,
            exact: false,
            source: "a verifier reads".into(),
        };
        out.insert(layout::CASE_JSON.to_owned(), at_most(MAX_TAG_FILE));
        out.insert(layout::EVIDENCE_JSON.to_owned(), at_most(MAX_TAG_FILE));
        out.insert(layout::CUSTODY_JSONL.to_owned(), at_most(MAX_CUSTODY));
        let readme = bundle_case(info, custody).map_or(0, |c| layout::readme_verify(&c).len());
        out.insert(
            layout::README_VERIFY.to_owned(),
            Expected {
                item: None,
                size: readme as u64,
                exact: true,
                source: "this release writes".into(),
            },
        );
        let listed: Vec<(String, Option<&EvidenceEntry>)> = evidence
            .map(|d| d.items.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|i| Some((i.id.clone()?, i.entry.as_ref().ok())))
            .collect();
        let ids: BTreeSet<String> = if custody.exported.is_empty() {
            listed.iter().map(|(id, _)| id.clone()).collect()
        } else {
            custody.exported.clone()
        };
        for id in ids {
            let ingest = custody
                .first
                .get(&id)
                .filter(|e| e.action == Action::Ingest);
            let from_event = ingest.and_then(|e| {
                let details = e.details_as::<AcquisitionDetails>()?;
                Some((
                    layout::evidence_path_of(&id, &details.name_bytes()?),
                    details.size,
                    format!("its ingest event (event {})", e.seq),
                ))
            });
            let from_listing = || {
                let entry = listed.iter().find(|(i, _)| *i == id)?.1?;
                let dir = format!("{}{id}/", layout::EVIDENCE_DIR);
                let name = entry.file.strip_prefix(&dir).filter(|n| !n.contains('/'))?;
                Some((
                    format!("{dir}{name}"),
                    entry.size,
                    layout::EVIDENCE_JSON.to_owned(),
                ))
            };
            if let Some((path, size, source)) = from_event.or_else(from_listing) {
                out.insert(
                    path,
                    Expected {
                        item: Some(id),
                        size,
                        exact: true,
                        source,
                    },
                );
            }
        }
        out
    }

    /// Every payload file against its expected size before any is hashed: one whose size
    /// already disagrees, and one custodia never writes, is reported and not read (a sparse
    /// terabyte file costs nothing to plant and hours to hash). Anything in the bag that is
    /// not part of a custodia bundle is `file_unlisted`, whatever the manifests say.
    fn check_sizes(&mut self, expected: &BTreeMap<String, Expected>) {
        let tag_files: BTreeSet<String> = bagit::covered_tag_files()
            .into_iter()
            .chain(Algorithm::TAG.iter().map(|a| a.tag_manifest()))
            .collect();
        let files: Vec<(String, u64)> = self.files.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (rel, size) in files {
            if tag_files.contains(&rel) || self.payload.contains_key(&rel) {
                continue;
            }
            let Some(want) = expected.get(&rel) else {
                self.skipped.insert(rel.clone());
                self.unlisted(&rel, "is not part of a custodia bundle (no item, metadata or tag file is at this path); not read");
                continue;
            };
            let fits = if want.exact {
                size == want.size
            } else {
                size <= want.size
            };
            if fits {
                continue;
            }
            self.skipped.insert(rel.clone());
            // A metadata file over its cap is reported by the reader that refuses it.
            if !want.exact {
                continue;
            }
            let detail = format!(
                "{rel} is {size} bytes, {} says {}; not read",
                want.source, want.size
            );
            let id = want.item.clone().unwrap_or(rel);
            self.problem(ProblemKind::MetadataMismatch, id, detail);
        }
    }

    fn unlisted(&mut self, rel: &str, detail: &str) {
        if self.unlisted.insert(rel.to_owned()) {
            self.problem(ProblemKind::FileUnlisted, rel, detail);
        }
    }

    /// Each payload manifest must list every payload file once, with its right digest.
    /// Returns every path the manifests listed.
    fn check_payload_manifests(&mut self) -> BTreeSet<String> {
        let mut listed = BTreeSet::new();
        for a in Algorithm::PAYLOAD {
            let name = a.manifest();
            let Some(bytes) = self.read(&name, MAX_TAG_FILE) else {
                self.problem(ProblemKind::BagInvalid, name, "is missing");
                continue;
            };
            let entries = self.manifest_entries(&name, &bytes, a);
            let mut seen = BTreeSet::new();
            for (hex, path) in entries {
                if !seen.insert(path.clone()) {
                    self.problem(
                        ProblemKind::BagInvalid,
                        &name,
                        format!("lists {path} twice"),
                    );
                    continue;
                }
                if !path.starts_with("data/") {
                    self.problem(
                        ProblemKind::BagInvalid,
                        &name,
                        format!("lists {path}, which is not under data/"),
                    );
                    continue;
                }
                match self.payload.get(&path) {
                    // Set aside before hashing, and already reported.
                    None if self.skipped.contains(&path) => {}
                    None => self.problem(
                        ProblemKind::FileMissing,
                        &path,
                        format!("is listed in {name} but is not in the bag"),
                    ),
                    Some(d) if d.get(a) != hex => self.problem(
                        ProblemKind::FileMismatch,
                        &path,
                        format!("does not match its {} in {name}", a.name()),
                    ),
                    Some(_) => {}
                }
                listed.insert(path);
            }
            let missing: Vec<String> = self
                .payload
                .keys()
                .filter(|p| !seen.contains(*p))
                .cloned()
                .collect();
            for path in missing {
                self.problem(
                    ProblemKind::FileUnlisted,
                    path,
                    format!("is in the payload but not listed in {name}"),
                );
            }
        }
        listed
    }

    fn manifest_entries(
        &mut self,
        name: &str,
        bytes: &[u8],
        a: Algorithm,
    ) -> Vec<(String, String)> {
        let (entries, bad) = bagit::parse_manifest(bytes, a);
        for b in bad {
            self.problem(ProblemKind::BagInvalid, name, b);
        }
        let mut safe = Vec::new();
        for (hex, path) in entries {
            match bagit::unsafe_path(&path) {
                Some(why) => self.problem(
                    ProblemKind::PathUnsafe,
                    name,
                    format!("lists {:?}, which {why}", crate::text::escape_text(&path)),
                ),
                None => safe.push((hex, path)),
            }
        }
        safe
    }

    /// The tag manifests must cover bagit.txt, bag-info.txt and every payload manifest.
    fn check_tag_manifests(&mut self) {
        let must = bagit::covered_tag_files();
        for a in Algorithm::TAG {
            let name = a.tag_manifest();
            let Some(bytes) = self.read(&name, MAX_TAG_FILE) else {
                self.problem(ProblemKind::BagInvalid, name, "is missing");
                continue;
            };
            let entries = self.manifest_entries(&name, &bytes, a);
            let mut seen = BTreeSet::new();
            for (hex, path) in entries {
                seen.insert(path.clone());
                if path.contains('/')
                    || path.starts_with("tagmanifest-")
                    || !self.files.contains_key(&path)
                {
                    self.problem(
                        ProblemKind::FileMissing,
                        &path,
                        format!("is listed in {name} but is not a tag file of the bag"),
                    );
                    continue;
                }
                if self.digest_file(&path).map(|d| d.get(a)) != Some(hex) {
                    self.problem(
                        ProblemKind::FileMismatch,
                        &path,
                        format!("does not match its {} in {name}", a.name()),
                    );
                }
            }
            for m in &must {
                if !seen.contains(m) && self.files.contains_key(m) {
                    self.problem(
                        ProblemKind::FileUnlisted,
                        m,
                        format!("is not listed in {name}"),
                    );
                }
            }
        }
    }

    /// Files no manifest accounts for: BagIt validators miss extra top-level files; this does not.
    fn check_unlisted(&mut self, listed: &BTreeSet<String>) {
        let known: BTreeSet<String> = bagit::covered_tag_files()
            .into_iter()
            .chain(Algorithm::TAG.iter().map(|a| a.tag_manifest()))
            .collect();
        let extra: Vec<String> = self
            .files
            .keys()
            .filter(|f| !f.starts_with("data/") && !known.contains(*f) && !listed.contains(*f))
            .cloned()
            .collect();
        for f in extra {
            self.unlisted(&f, "is in the bag but no manifest lists it");
        }
    }

    /// Streams `data/custody.jsonl` line by line, hashing it on the way: every exported
    /// item's chain, from its ingest to the export event on the last line. Memory holds one
    /// line (at most `MAX_EVENT_LINE`) and the first event of each exported item, not the log.
    /// `listed` are the ids of evidence.json: their first events are kept too, so that an
    /// item can be checked against its ingest even when the export event is gone.
    fn check_custody(
        &mut self,
        info: &HashMap<String, String>,
        listed: BTreeSet<String>,
    ) -> Custody {
        let mut custody = Custody {
            wanted: listed,
            ..Custody::default()
        };
        let rel = layout::CUSTODY_JSONL;
        let Some(&size) = self.files.get(rel) else {
            self.problem(ProblemKind::ChainBroken, rel, "is missing");
            return custody;
        };
        if size > MAX_CUSTODY {
            self.skipped.insert(rel.to_owned());
            let detail = format!("is {size} bytes, more than the {MAX_CUSTODY} a verifier reads");
            self.problem(ProblemKind::BagInvalid, rel, detail);
            return custody;
        }
        let opened = durable::open_no_follow(&self.dir.join(rel));
        let mut file = match opened {
            Ok(f) => f,
            Err(e) => {
                self.skipped.insert(rel.to_owned());
                self.problem(ProblemKind::BagInvalid, rel, format!("cannot be read: {e}"));
                return custody;
            }
        };
        // The export event is the last line: read first, it says which items are exported.
        custody.exported = last_line(&mut file, size)
            .and_then(|l| Event::parse(&l).ok())
            .filter(|e| e.action == Action::Export)
            .map(|e| e.item_ids().map(str::to_owned).collect())
            .unwrap_or_default();
        custody.wanted.extend(custody.exported.iter().cloned());
        if let Err(e) = file.rewind() {
            self.skipped.insert(rel.to_owned());
            self.problem(ProblemKind::BagInvalid, rel, format!("cannot be read: {e}"));
            return custody;
        }
        let mut walker = ChainWalker::item_chains();
        let mut reader = std::io::BufReader::with_capacity(1 << 16, HashingReader::new(file));
        let mut line = Vec::new();
        let mut last_seq = 0;
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
                    self.problem(ProblemKind::BagInvalid, rel, format!("cannot be read: {e}"));
                    self.skipped.insert(rel.to_owned());
                    return custody;
                }
            }
            ended = line.last() == Some(&b'\n');
            if !ended && line.len() > MAX_EVENT_LINE {
                let detail =
                    format!("line {n} is longer than the {MAX_EVENT_LINE} bytes a verifier reads");
                self.problem(ProblemKind::ChainBroken, rel, detail);
                return custody;
            }
            let bytes = line.strip_suffix(b"\n").unwrap_or(&line);
            let event = walker.feed(n, bytes);
            let mut found = Vec::new();
            if let Some(event) = event {
                if event.seq <= last_seq {
                    found.push((
                        ProblemKind::ChainBroken,
                        format!("event {}", event.seq),
                        format!("line {n} is out of order (after event {last_seq})"),
                    ));
                }
                last_seq = event.seq;
                if !custody.exported.is_empty()
                    && !event.item_ids().any(|i| custody.exported.contains(i))
                {
                    let detail =
                        "names no exported item: it does not belong in this bundle (inserted?)";
                    found.push((
                        ProblemKind::ChainBroken,
                        format!("event {}", event.seq),
                        detail.into(),
                    ));
                }
                custody.remember(&event);
                custody.last = Some((event, EventDigest::of(bytes)));
            }
            for b in walker.breaks.drain(..) {
                let (kind, id) = match &b {
                    Break::ItemPrev { item, .. }
                        if !custody.exported.is_empty() && !custody.exported.contains(item) =>
                    {
                        continue;
                    }
                    Break::ItemPrev { item, .. } => (ProblemKind::ItemChainBroken, item.clone()),
                    Break::Unreadable { seq, .. } => {
                        (ProblemKind::ChainBroken, format!("line {seq}"))
                    }
                    other => (ProblemKind::ChainBroken, format!("event {}", other.seq())),
                };
                found.push((kind, id, b.describe()));
            }
            for (kind, id, detail) in found {
                line_findings += 1;
                if line_findings <= MAX_LINE_FINDINGS {
                    self.problem(kind, id, detail);
                }
            }
        }
        if line_findings > MAX_LINE_FINDINGS {
            let detail = format!(
                "{} more problems with its lines are not listed; the first {MAX_LINE_FINDINGS} are",
                line_findings - MAX_LINE_FINDINGS
            );
            self.problem(ProblemKind::ChainBroken, rel, detail);
        }
        self.report.checked.events = walker.events;
        let digests = reader.into_inner().finish();
        self.count_hashed(rel.to_owned(), digests);
        if !ended {
            self.problem(
                ProblemKind::ChainBroken,
                rel,
                "does not end with a newline (truncated?)",
            );
            return custody;
        }
        self.check_export_event(info, &custody, &walker);
        custody
    }

    fn check_export_event(
        &mut self,
        info: &HashMap<String, String>,
        custody: &Custody,
        walker: &ChainWalker,
    ) {
        let Some((last, digest)) = &custody.last else {
            self.problem(
                ProblemKind::ChainBroken,
                layout::CUSTODY_JSONL,
                "holds no readable event",
            );
            return;
        };
        if last.action != Action::Export {
            self.problem(
                ProblemKind::ChainBroken,
                format!("event {}", last.seq),
                "the last event is not the export: events after it were added, or it was removed",
            );
        }
        if info.get(layout::INFO_HEAD) != Some(&digest.to_hex()) {
            self.problem(
                ProblemKind::HeadMismatch,
                bagit::BAG_INFO,
                format!(
                    "{} does not name the last event of data/custody.jsonl",
                    layout::INFO_HEAD
                ),
            );
        }
        let declared = (info.get(layout::INFO_ARCHIVE), info.get(layout::INFO_EVENT));
        if last.action == Action::Export
            && declared != (Some(&last.archive), Some(&last.seq.to_string()))
        {
            let detail = format!(
                "{} or {} does not match the export event",
                layout::INFO_ARCHIVE,
                layout::INFO_EVENT
            );
            self.problem(ProblemKind::MetadataMismatch, bagit::BAG_INFO, detail);
        }
        for id in last.item_ids() {
            if walker.item_head(id) != Some(*digest) {
                self.problem(
                    ProblemKind::ItemChainBroken,
                    id,
                    "its chain does not end at the export event",
                );
            }
        }
    }

    /// The items of data/evidence.json, or None (with a finding) when it has none to give.
    fn evidence_items(&mut self) -> Option<EvidenceDoc> {
        let Some(bytes) = self.read(layout::EVIDENCE_JSON, MAX_TAG_FILE) else {
            if !self.files.contains_key(layout::EVIDENCE_JSON) {
                self.problem(
                    ProblemKind::MetadataMismatch,
                    layout::EVIDENCE_JSON,
                    "is missing",
                );
            }
            return None;
        };
        let parts = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .and_then(|doc| serde_json::from_value::<EvidenceParts>(doc).ok());
        let Some(parts) = parts else {
            self.problem(
                ProblemKind::MetadataMismatch,
                layout::EVIDENCE_JSON,
                "is not a JSON object",
            );
            return None;
        };
        let Some(items) = parts.items else {
            self.problem(
                ProblemKind::MetadataMismatch,
                layout::EVIDENCE_JSON,
                "has no \"items\" list",
            );
            return None;
        };
        Some(EvidenceDoc {
            case: parts.case,
            items: items.into_iter().map(ReadEntry::new).collect(),
        })
    }

    /// evidence.json and case.json must agree with the payload and with the events: each
    /// item with its ingest event, its links and the digest the export event recorded of it.
    fn check_metadata(
        &mut self,
        info: &HashMap<String, String>,
        custody: &Custody,
        evidence: Option<&EvidenceDoc>,
    ) {
        let export = custody
            .last
            .as_ref()
            .map(|(e, _)| e)
            .filter(|e| e.action == Action::Export);
        if let Some(doc) = evidence {
            if export.is_some_and(|e| e.case != doc.case) {
                self.problem(
                    ProblemKind::MetadataMismatch,
                    layout::EVIDENCE_JSON,
                    "its \"case\" is not the case of the export event",
                );
            }
            self.check_items(&doc.items, custody, export);
        }
        let Some(bytes) = self.read(layout::CASE_JSON, MAX_TAG_FILE) else {
            if !self.files.contains_key(layout::CASE_JSON) {
                self.problem(
                    ProblemKind::MetadataMismatch,
                    layout::CASE_JSON,
                    "is missing",
                );
            }
            return;
        };
        let raw = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        match serde_json::from_value::<CaseJson>(raw.clone()) {
            Ok(case) if info.get("External-Identifier") == Some(&case.id) => {}
            Ok(_) => self.problem(
                ProblemKind::MetadataMismatch,
                layout::CASE_JSON,
                "its case id is not bag-info's External-Identifier",
            ),
            Err(e) => self.problem(
                ProblemKind::MetadataMismatch,
                layout::CASE_JSON,
                format!("is not a case.json as custodia writes it: {e}"),
            ),
        }
        let recorded = export
            .and_then(|e| e.details_as::<ExportDetails>())
            .and_then(|d| d.case_json_sha256);
        if let Some(recorded) = recorded
            && Sha256Digest::from_hex(&recorded) != Some(layout::metadata_digest(&raw))
        {
            let detail = "is not the case.json the export event recorded (its title, description or another field was changed)";
            self.problem(ProblemKind::MetadataMismatch, layout::CASE_JSON, detail);
        }
    }

    fn check_items(&mut self, items: &[ReadEntry], custody: &Custody, export: Option<&Event>) {
        self.report.checked.items = items.len() as u64;
        let mut files_claimed = BTreeSet::new();
        let mut ids = BTreeSet::new();
        let mut anonymous = false;
        let recorded = export
            .and_then(|e| e.details_as::<ExportDetails>())
            .and_then(|d| d.evidence_sha256);
        for (n, item) in items.iter().enumerate() {
            let Some(id) = &item.id else {
                anonymous = true;
                let detail = format!("its item {} has no \"id\"", n + 1);
                self.problem(ProblemKind::MetadataMismatch, layout::EVIDENCE_JSON, detail);
                continue;
            };
            ids.insert(id.clone());
            match &item.entry {
                Ok(entry) => {
                    files_claimed.insert(entry.file.clone());
                    self.check_item(id, entry, custody);
                }
                Err(why) => {
                    let detail = format!("its entry in {} {why}", layout::EVIDENCE_JSON);
                    self.problem(ProblemKind::MetadataMismatch, id, detail);
                }
            }
            if let Some(recorded) = &recorded
                && recorded.get(id).and_then(|h| Sha256Digest::from_hex(h))
                    != Some(layout::metadata_digest(&item.raw))
            {
                let detail = format!(
                    "its entry in {} is not the one the export event recorded (a field was changed)",
                    layout::EVIDENCE_JSON
                );
                self.problem(ProblemKind::MetadataMismatch, id, detail);
            }
        }
        if anonymous || ids != custody.exported {
            self.problem(
                ProblemKind::MetadataMismatch,
                layout::EVIDENCE_JSON,
                "its items are not the items the export event names",
            );
        }
        let stray: Vec<String> = self
            .files
            .keys()
            .filter(|p| p.starts_with(layout::EVIDENCE_DIR) && !files_claimed.contains(*p))
            .cloned()
            .collect();
        for p in stray {
            self.unlisted(
                &p,
                "is under data/evidence/ but no item in data/evidence.json is this file",
            );
        }
    }

    fn check_item(&mut self, id: &str, entry: &EvidenceEntry, custody: &Custody) {
        let file = &entry.file;
        if let Some(d) = self.payload.get(file) {
            let recorded = (
                Sha256Digest::from_hex(&entry.sha256),
                ContentId::from_hex(&entry.blake3),
                entry.sha512.as_str(),
                entry.size,
            );
            if recorded != (Some(d.sha256), Some(d.blake3), d.sha512.as_str(), d.size) {
                let detail = format!(
                    "the hashes or size in {} do not match {file}",
                    layout::EVIDENCE_JSON
                );
                self.problem(ProblemKind::MetadataMismatch, id, detail);
            }
        } else if !self.skipped.contains(file) {
            return self.problem(
                ProblemKind::FileMissing,
                id,
                format!("its file {file} is not in the payload"),
            );
        }
        let Some(e) = custody.first.get(id).filter(|e| e.action == Action::Ingest) else {
            return self.problem(
                ProblemKind::ItemChainBroken,
                id,
                "its history does not begin with its ingest event",
            );
        };
        let Some(facts) = IngestFacts::of_event(e) else {
            let detail = format!(
                "its ingest event (event {}) does not hold the details of an ingest",
                e.seq
            );
            return self.problem(ProblemKind::MetadataMismatch, id, detail);
        };
        if let Some(field) = entry_differs(entry, &facts, custody.cases.get(id)) {
            let detail = format!(
                "its {field} in {} is not what its events (ingest: event {}) recorded",
                layout::EVIDENCE_JSON,
                e.seq
            );
            self.problem(ProblemKind::MetadataMismatch, id, detail);
        }
        // Its bytes are those at the path its ingest event gives, wherever `file` points.
        let path = layout::evidence_path_of(id, &facts.name);
        if path != *file {
            let detail = format!(
                "its file in {} is {file}, not {path} as its ingest event names it",
                layout::EVIDENCE_JSON
            );
            self.problem(ProblemKind::MetadataMismatch, id, detail);
        }
        let Some(d) = self.payload.get(&path) else {
            if !self.skipped.contains(&path) && path != *file {
                self.problem(
                    ProblemKind::FileMissing,
                    id,
                    format!("{path} is not in the payload"),
                );
            }
            return;
        };
        let at_ingest = (
            Sha256Digest::from_hex(&facts.sha256),
            ContentId::from_hex(&facts.blake3),
            facts.size,
        );
        if at_ingest != (Some(d.sha256), Some(d.blake3), d.size) {
            self.problem(
                ProblemKind::MetadataMismatch,
                id,
                format!(
                    "{path} is not the bytes its ingest event (event {}) recorded",
                    e.seq
                ),
            );
        }
    }

    /// data/README-VERIFY.txt must be exactly what this release writes: its commands are
    /// what a recipient runs, so altered instructions are a finding like altered evidence.
    fn check_readme(&mut self, info: &HashMap<String, String>, custody: &Custody) {
        let rel = layout::README_VERIFY;
        if !self.files.contains_key(rel) {
            return self.problem(ProblemKind::FileMissing, rel, "is missing");
        }
        if self.skipped.contains(rel) {
            return;
        }
        let want = bundle_case(info, custody).map(|c| layout::readme_verify(&c));
        let Some(bytes) = self.read(rel, MAX_TAG_FILE) else {
            return;
        };
        if want.as_deref().map(str::as_bytes) != Some(&bytes[..]) {
            self.problem(
                ProblemKind::MetadataMismatch,
                rel,
                "is not the text custodia writes for this case: its instructions were changed",
            );
        }
    }

    /// The bag-info fields custodia takes from the export event and case.json must say
    /// what those say (each made one line as export makes it).
    fn check_bag_info_fields(&mut self, info: &HashMap<String, String>, custody: &Custody) {
        let Some((export, _)) = custody
            .last
            .as_ref()
            .filter(|(e, _)| e.action == Action::Export)
        else {
            return;
        };
        let details = export.details_as::<ExportDetails>();
        let line = |v: &str| bagit::one_line(v).trim().to_owned();
        let detail = |v: Option<&Option<String>>| v.and_then(|v| v.as_deref()).map(line);
        let title = self
            .read(layout::CASE_JSON, MAX_TAG_FILE)
            .and_then(|b| serde_json::from_slice::<CaseJson>(&b).ok())
            .map(|c| line(&c.title));
        let expected = [
            ("External-Identifier", export.case.clone()),
            ("External-Description", title),
            (
                "Source-Organization",
                detail(details.as_ref().map(|d| &d.organization)),
            ),
            ("Contact-Name", detail(details.as_ref().map(|d| &d.contact))),
        ];
        for (label, want) in expected {
            if info.get(label) != want.as_ref() {
                let detail = format!("its {label} is not what the export event and case.json say");
                self.problem(ProblemKind::MetadataMismatch, bagit::BAG_INFO, detail);
            }
        }
    }
}

impl Custody {
    /// Keeps what later checks need of an event: the first event of each exported item and
    /// the cases each was ingested into or linked to.
    fn remember(&mut self, event: &Event) {
        for id in event.item_ids() {
            if !self.wanted.contains(id) {
                continue;
            }
            if matches!(event.action, Action::Ingest | Action::Link)
                && let Some(case) = &event.case
            {
                self.cases
                    .entry(id.to_owned())
                    .or_default()
                    .insert(case.clone());
            }
            if !self.first.contains_key(id) {
                self.first.insert(id.to_owned(), event.clone());
            }
        }
    }
}

/// The case a bundle is of: the export event's, else bag-info's External-Identifier.
fn bundle_case(info: &HashMap<String, String>, custody: &Custody) -> Option<CaseId> {
    custody
        .last
        .as_ref()
        .filter(|(e, _)| e.action == Action::Export)
        .and_then(|(e, _)| e.case.clone())
        .or_else(|| info.get("External-Identifier").cloned())
        .and_then(|c| c.parse().ok())
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
    let Some(path) = bytes(&entry.path_hex) else {
        return Some("path_hex");
    };
    let listed = IngestFacts {
        actor: entry.ingested_by.clone(),
        time: entry.ingested_at.clone(),
        blake3: entry.blake3.clone(),
        sha256: entry.sha256.clone(),
        size: entry.size,
        name,
        path,
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
        other => other,
    });
    differs
        .or_else(|| (entry.name != text(&recorded.name)).then_some("name"))
        .or_else(|| (entry.path != text(&recorded.path)).then_some("path"))
        .or_else(|| (entry.cases != cases).then_some("cases"))
}
