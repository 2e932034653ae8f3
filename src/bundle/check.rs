//! `verify --bundle`: checks a bag with no archive at hand, reading only files found inside it.
//!
//! Paths named by manifests are only looked up in the inventory taken by walking the bag
//! without following links; they are never opened as given, so a hostile manifest cannot
//! make the verifier read or write outside the bag.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::bagit::{self, Algorithm, FileDigests, TripleHasher};
use super::layout;
use crate::custody::{Action, Break, ChainWalker, Event};
use crate::durable;
use crate::error::{Error, Result};
use crate::ids::EventDigest;
use crate::verify::{ProblemKind, VerifyReport};

/// No tag or metadata file is read whole if it is larger than this.
const MAX_TAG_FILE: u64 = 64 << 20;
/// Nor the custody log.
const MAX_CUSTODY: u64 = 1 << 30;

/// The regular files of a bag, by path relative to its top (with `/`), and their sizes.
type Inventory = BTreeMap<String, u64>;

struct Checker<'a> {
    dir: &'a Path,
    files: Inventory,
    report: VerifyReport,
    payload: BTreeMap<String, FileDigests>,
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
    };
    c.inventory(dir, "")?;
    c.check_declaration();
    let info = c.bag_info();
    c.hash_payload();
    c.check_oxum(&info);
    let listed = c.check_payload_manifests();
    c.check_tag_manifests();
    c.check_unlisted(&listed);
    let events = c.check_custody(&info);
    c.check_metadata(&info, &events);
    Ok(c.report)
}

impl Checker<'_> {
    fn problem(&mut self, kind: ProblemKind, id: impl Into<String>, detail: impl Into<String>) {
        self.report.add(kind, Some(id.into()), detail);
    }

    /// Walks the bag without following links; anything but directories and regular files is a finding.
    fn inventory(&mut self, dir: &Path, prefix: &str) -> Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(Error::io(dir))?
            .collect::<std::io::Result<_>>()
            .map_err(Error::io(dir))?;
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
            let kind = entry.file_type().map_err(Error::io(entry.path()))?;
            if kind.is_dir() {
                self.inventory(&entry.path(), &format!("{rel}/"))?;
            } else if kind.is_file() {
                let size = entry.metadata().map_err(Error::io(entry.path()))?.len();
                self.files.insert(rel, size);
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
        Ok(())
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

    fn hash_payload(&mut self) {
        let payload: Vec<String> = self
            .files
            .keys()
            .filter(|k| k.starts_with("data/"))
            .cloned()
            .collect();
        for rel in payload {
            if let Some(d) = self.digest_file(&rel) {
                self.report.checked.bytes += d.size;
                self.report.checked.contents += 1;
                self.payload.insert(rel, d);
            }
        }
    }

    fn check_oxum(&mut self, info: &HashMap<String, String>) {
        let actual = format!("{}.{}", self.report.checked.bytes, self.payload.len());
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
            self.problem(
                ProblemKind::FileUnlisted,
                f,
                "is in the bag but no manifest lists it",
            );
        }
    }

    /// Every exported item's chain, from its ingest to the export event on the last line.
    fn check_custody(&mut self, info: &HashMap<String, String>) -> Vec<(Event, EventDigest)> {
        let Some(bytes) = self.read(layout::CUSTODY_JSONL, MAX_CUSTODY) else {
            if !self.files.contains_key(layout::CUSTODY_JSONL) {
                self.problem(
                    ProblemKind::ChainBroken,
                    layout::CUSTODY_JSONL,
                    "is missing",
                );
            }
            return Vec::new();
        };
        let Some(body) = bytes.strip_suffix(b"\n") else {
            self.problem(
                ProblemKind::ChainBroken,
                layout::CUSTODY_JSONL,
                "does not end with a newline (truncated?)",
            );
            return Vec::new();
        };
        let mut walker = ChainWalker::item_chains();
        let mut events = Vec::new();
        let mut last_seq = 0;
        for (n, line) in body.split(|b| *b == b'\n').enumerate() {
            let Some(event) = walker.feed(n as u64 + 1, line) else {
                continue;
            };
            if event.seq <= last_seq {
                self.problem(
                    ProblemKind::ChainBroken,
                    format!("event {}", event.seq),
                    format!("line {} is out of order (after event {last_seq})", n + 1),
                );
            }
            last_seq = event.seq;
            events.push((event, EventDigest::of(line)));
        }
        self.report.checked.events = walker.events;
        // The export event on the last line names the exported items; only their chains are
        // complete in a bundle (an earlier export event may name items this bundle lacks).
        let exported: BTreeSet<String> = match events.last() {
            Some((e, _)) if e.action == Action::Export => e.item_ids().map(str::to_owned).collect(),
            _ => BTreeSet::new(),
        };
        for (e, _) in &events {
            if !e.item_ids().any(|i| exported.contains(i)) && !exported.is_empty() {
                let detail =
                    "names no exported item: it does not belong in this bundle (inserted?)";
                self.problem(ProblemKind::ChainBroken, format!("event {}", e.seq), detail);
            }
        }
        for b in &walker.breaks {
            let (kind, id) = match b {
                Break::ItemPrev { item, .. }
                    if !exported.is_empty() && !exported.contains(item) =>
                {
                    continue;
                }
                Break::ItemPrev { item, .. } => (ProblemKind::ItemChainBroken, item.clone()),
                Break::Unreadable { seq, .. } => (ProblemKind::ChainBroken, format!("line {seq}")),
                other => (ProblemKind::ChainBroken, format!("event {}", other.seq())),
            };
            self.problem(kind, id, b.describe());
        }
        self.check_export_event(info, &events, &walker);
        events
    }

    fn check_export_event(
        &mut self,
        info: &HashMap<String, String>,
        events: &[(Event, EventDigest)],
        walker: &ChainWalker,
    ) {
        let Some((last, digest)) = events.last() else {
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
        for id in last.item_ids().map(str::to_owned).collect::<Vec<_>>() {
            if walker.item_head(&id) != Some(*digest) {
                self.problem(
                    ProblemKind::ItemChainBroken,
                    id,
                    "its chain does not end at the export event",
                );
            }
        }
    }

    /// evidence.json must agree with the payload and with each item's ingest event.
    fn check_metadata(&mut self, info: &HashMap<String, String>, events: &[(Event, EventDigest)]) {
        let Some(bytes) = self.read(layout::EVIDENCE_JSON, MAX_TAG_FILE) else {
            if !self.files.contains_key(layout::EVIDENCE_JSON) {
                self.problem(
                    ProblemKind::MetadataMismatch,
                    layout::EVIDENCE_JSON,
                    "is missing",
                );
            }
            return;
        };
        let items = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(mut o)) => match o.remove("items") {
                Some(Value::Array(items)) => items,
                _ => {
                    return self.problem(
                        ProblemKind::MetadataMismatch,
                        layout::EVIDENCE_JSON,
                        "has no \"items\" list",
                    );
                }
            },
            _ => {
                return self.problem(
                    ProblemKind::MetadataMismatch,
                    layout::EVIDENCE_JSON,
                    "is not a JSON object",
                );
            }
        };
        self.report.checked.items = items.len() as u64;
        let export_items: BTreeSet<String> = events
            .last()
            .map(|(e, _)| e.item_ids().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut files_claimed = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for item in &items {
            let id = item["id"].as_str().unwrap_or("?").to_owned();
            ids.insert(id.clone());
            if let Some(file) = item["file"].as_str() {
                files_claimed.insert(file.to_owned());
            }
            self.check_item(&id, item, events);
        }
        if ids != export_items {
            self.problem(
                ProblemKind::MetadataMismatch,
                layout::EVIDENCE_JSON,
                "its items are not the items the export event names",
            );
        }
        let stray: Vec<String> = self
            .payload
            .keys()
            .filter(|p| p.starts_with(layout::EVIDENCE_DIR) && !files_claimed.contains(*p))
            .cloned()
            .collect();
        for p in stray {
            self.problem(
                ProblemKind::FileUnlisted,
                p,
                "is under data/evidence/ but no item in data/evidence.json is this file",
            );
        }
        if let Some(bytes) = self.read(layout::CASE_JSON, MAX_TAG_FILE) {
            let case = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned));
            if case.is_none() || case.as_ref() != info.get("External-Identifier") {
                self.problem(
                    ProblemKind::MetadataMismatch,
                    layout::CASE_JSON,
                    "its case id is not bag-info's External-Identifier",
                );
            }
        }
    }

    fn check_item(&mut self, id: &str, item: &Value, events: &[(Event, EventDigest)]) {
        let field = |k: &str| item[k].as_str().map(str::to_owned);
        let Some(file) = field("file") else {
            return self.problem(ProblemKind::MetadataMismatch, id, "has no \"file\"");
        };
        let Some(d) = self.payload.get(&file).cloned() else {
            return self.problem(
                ProblemKind::FileMissing,
                id,
                format!("its file {file} is not in the payload"),
            );
        };
        let recorded = (
            field("sha256"),
            field("blake3"),
            field("sha512"),
            item["size"].as_u64(),
        );
        if recorded
            != (
                Some(d.sha256.to_hex()),
                Some(d.blake3.to_hex()),
                Some(d.sha512.clone()),
                Some(d.size),
            )
        {
            self.problem(
                ProblemKind::MetadataMismatch,
                id,
                format!(
                    "the hashes or size in {} do not match {file}",
                    layout::EVIDENCE_JSON
                ),
            );
        }
        let ingest = events
            .iter()
            .map(|(e, _)| e)
            .find(|e| e.item_ids().any(|i| i == id));
        match ingest {
            Some(e) if e.action == Action::Ingest => {
                if let Some(field) = differs_from_event(item, e) {
                    let detail = format!(
                        "its {field} in {} is not what its ingest event (event {}) recorded",
                        layout::EVIDENCE_JSON,
                        e.seq
                    );
                    self.problem(ProblemKind::MetadataMismatch, id, detail);
                }
                let at_ingest = (
                    e.details.get("sha256").and_then(Value::as_str),
                    e.details.get("blake3").and_then(Value::as_str),
                    e.details.get("size").and_then(Value::as_u64),
                );
                if at_ingest
                    != (
                        Some(d.sha256.to_hex().as_str()),
                        Some(d.blake3.to_hex().as_str()),
                        Some(d.size),
                    )
                {
                    self.problem(
                        ProblemKind::MetadataMismatch,
                        id,
                        format!(
                            "{file} is not the bytes its ingest event (event {}) recorded",
                            e.seq
                        ),
                    );
                }
            }
            _ => self.problem(
                ProblemKind::ItemChainBroken,
                id,
                "its history does not begin with its ingest event",
            ),
        }
    }
}

/// The first descriptive field of an evidence.json item that differs from its ingest event.
fn differs_from_event(item: &Value, e: &Event) -> Option<&'static str> {
    let fields = [
        ("name_hex", "name_hex"),
        ("path_hex", "path_hex"),
        ("source", "source"),
        ("note", "note"),
        ("tags", "tags"),
        ("captured_at", "captured_at"),
        ("modified_at", "modified_at"),
        ("parent", "parent"),
    ];
    let null = Value::Null;
    let who_when = [
        ("ingested_at", Value::String(e.time.clone())),
        ("ingested_by", Value::String(e.actor.clone())),
    ];
    fields
        .iter()
        .find(|(mine, theirs)| {
            item.get(*mine).unwrap_or(&null) != e.details.get(*theirs).unwrap_or(&null)
        })
        .map(|(mine, _)| *mine)
        .or_else(|| {
            who_when
                .iter()
                .find(|(mine, v)| item.get(*mine) != Some(v))
                .map(|(mine, _)| *mine)
        })
}
