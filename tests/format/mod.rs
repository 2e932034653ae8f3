//! Holds the code to `docs/FORMAT.md`.
//!
//! The reader in this module is independent of the custodia library: it opens the index
//! database `ARCHIVE/db` and the chunk volumes `ARCHIVE/volumes/NNNNNN` with sled and decodes
//! every record by hand, from the byte layouts the document gives, with nothing but sled,
//! zstd, blake3, sha2 and serde_json. It reassembles every item from its chunks (item →
//! content → chunk ids → `chunk_volumes` → volume → chunk record) and checks it against
//! `fixtures/vectors.json`, re-checks both custody chains, rebuilds the whole index from the
//! custody log alone, and reads an exported bundle file by file. If the code and the
//! document drift apart, these tests fail. Only the known-answer custody vectors at the end
//! use the library, on purpose: they check that custodia agrees with bytes made by Python;
//! and the last document test compares the constants and names the document fixes with the
//! library's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{self, Env};

mod bundle_layout;
mod chunks;
mod custody;
mod decode;
mod format1;
mod format2;
mod layout;
mod vectors;

use decode::*;

// ---------------------------------------------------------------------------------------
// The numbers FORMAT.md fixes.

const RECORD_VERSION: u8 = 1;
const CHUNK_SIZE: usize = 1 << 20;
const MAX_CHUNK: usize = 16 << 20;
const ZSTD_LEVEL: i32 = 3;
/// A chunk over twice this is first compressed on its first `PROBE` bytes.
const PROBE: usize = 64 << 10;
/// The trees of the index database `ARCHIVE/db`.
const TREES: [&str; 8] = [
    "meta",
    "chunk_volumes",
    "contents",
    "items",
    "cases",
    "index",
    "custody",
    "openings",
];
const VOLUMES_DIR: &str = "volumes";
/// The one tree of a format-1 volume: chunk records by chunk id.
const VOLUME_TREE: &str = "chunks";
/// The one tree of a format-2 volume: packs by number.
const PACK_TREE: &str = "packs";
/// Format 1: a volume is full once it holds this many bytes of chunk records.
const VOLUME_BYTES: u64 = 8 << 20;
/// Format 2: a pack is written once it holds this many bytes; a volume holds 8 packs.
const PACK_BYTES: usize = 1 << 20;
const PACKS_PER_VOLUME: u64 = 8;
/// The format `init` makes.
const FORMAT: u32 = 2;
/// The files of a bundle, FORMAT.md "Bundles" (evidence files aside).
const BUNDLE_FILES: [&str; 23] = [
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "manifest-sha512.txt",
    "manifest-blake3.txt",
    "tagmanifest-sha256.txt",
    "tagmanifest-sha512.txt",
    "data/README-VERIFY.txt",
    "data/case.json",
    "data/custody.jsonl",
    "data/evidence.json",
    "data/index.html",
    "data/inventory.csv",
    "data/proof/allowed_signers",
    "data/proof/anchors.jsonl",
    "data/proof/check.py",
    "data/proof/checkpoint",
    "data/proof/checkpoint.sig",
    "data/proof/consistency.jsonl",
    "data/proof/inclusion.jsonl",
    "data/proof/keys.jsonl",
    "data/proof/reveals.jsonl",
    "data/proof/signer.pem",
];
/// bag-info.txt, in order, with the two optional fields.
const BAG_INFO_LABELS: [&str; 10] = [
    "Bagging-Date",
    "Payload-Oxum",
    "External-Identifier",
    "External-Description",
    "Bag-Software-Agent",
    "Source-Organization",
    "Contact-Name",
    "Custodia-Archive-Id",
    "Custodia-Export-Event",
    "Custodia-Custody-Head",
];
/// The keys of each item of data/evidence.json.
const EVIDENCE_FIELDS: [&str; 21] = [
    "attachments",
    "blake3",
    "captured_at",
    "cases",
    "file",
    "id",
    "ingested_at",
    "ingested_by",
    "modified_at",
    "name",
    "name_hex",
    "not_exported",
    "note",
    "parent",
    "path",
    "path_hex",
    "sha256",
    "sha512",
    "size",
    "source",
    "tags",
];
/// The details of a `seal` event.
const SEAL_DETAILS: [&str; 5] = [
    "bundle",
    "bytes",
    "export_event",
    "items",
    "tagmanifest_sha256",
];
const EVENT_FIELDS: [&str; 13] = [
    "action", "actor", "archive", "case", "details", "host", "items", "prev", "reason", "seq",
    "time", "tool", "v",
];

/// A version-2 event: the version-1 fields plus `sig` and `signer`, in byte order.
const SIGNED_EVENT_FIELDS: [&str; 15] = [
    "action", "actor", "archive", "case", "details", "host", "items", "prev", "reason", "seq",
    "sig", "signer", "time", "tool", "v",
];

// ---------------------------------------------------------------------------------------
// The archive the tests read: every action that writes, on the fixture case and more.

struct Scenario {
    env: Env,
    /// Every file ingested, with the path it was ingested from.
    files: Vec<(PathBuf, Vec<u8>)>,
}

const SECOND_CASE: &str = "BY-2024-018";

/// A file of 2.5 MiB and a bit: incompressible, compressible, incompressible, a short tail.
fn large_file() -> Vec<u8> {
    let mut big = util::noise(7, CHUNK_SIZE);
    big.extend(b"protocol of detention, page ".repeat(CHUNK_SIZE / 28 + 1));
    big.truncate(2 * CHUNK_SIZE);
    big.extend(util::noise(8, CHUNK_SIZE / 2));
    big.extend(b"end of the file");
    big
}

/// Ingests the fixture folder `fix` into the first case with a tag, a source and a capture
/// time: all of an item's optional fields but parent and note. Returns the e-mail's id.
fn ingest_fixtures(env: &Env, fix: &str) -> String {
    let report = env.json(&[
        "ingest",
        "--case",
        "BY-2024-017",
        "--tag",
        "fixture",
        "--source",
        "USB stick handed over by W-01",
        "--captured-at",
        "2024-03-02T14:05:00Z",
        fix,
    ]);
    assert_eq!(report["items"].as_array().unwrap().len(), 10);
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with("message.eml"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Ingests `large_file()` as an attachment of `eml`, with a note that needs escaping: an item
/// of several chunks, some compressed. Returns the path it was ingested from.
fn ingest_large_attachment(env: &Env, eml: &str) -> PathBuf {
    let big_path = env.path("incoming/scan of the protocol.bin");
    util::write(&big_path, &large_file());
    let report = env.json(&[
        "ingest",
        "--case",
        "BY-2024-017",
        "--parent",
        eml,
        "--note",
        "rescanned \"original\"",
        "--tag",
        "scan",
        big_path.to_str().unwrap(),
    ]);
    assert_eq!(report["items"][0]["status"], "new");
    big_path
}

/// A second case: the same bytes as an item of the first (a new item, one content), a link,
/// and a second acquisition into the first case (an `acquire` event). Returns the path the
/// copy was ingested from.
fn second_case(env: &Env, fixtures: &Path) -> PathBuf {
    env.ok(&[
        "case",
        "create",
        SECOND_CASE,
        "--title",
        "Затрыманні: другая справа",
        "--description",
        "synthetic",
    ]);
    let statement = fixtures.join("testimonies/witness-statement-en.txt");
    let copy = env.path("copy/witness-statement-en.txt");
    util::write(&copy, &std::fs::read(&statement).unwrap());
    let report = env.json(&["ingest", "--case", SECOND_CASE, copy.to_str().unwrap()]);
    assert_eq!(report["items"][0]["status"], "duplicate");
    assert_eq!(report["items"][0]["id"], "EV-000012");
    let report = env.json(&["ingest", "--case", "BY-2024-017", copy.to_str().unwrap()]);
    assert_eq!(report["items"][0]["status"], "duplicate");
    env.ok(&[
        "link",
        "EV-000002",
        "--case",
        SECOND_CASE,
        "--reason",
        "same detainee",
    ]);
    copy
}

/// An extract, an annotation and an export of the second case (its `export` and `seal`
/// events), after which the archive verifies.
fn extract_and_export(env: &Env) {
    env.ok(&[
        "extract",
        "EV-000011",
        "--out",
        env.path("out.bin").to_str().unwrap(),
        "--reason",
        "court",
    ]);
    // An annotation (issue 12.2) of an item the bundle leaves out: its `m` entry and
    // moved `t` entries are checked by hand.
    env.ok(&[
        "annotate",
        "EV-000001",
        "--tag",
        "reviewed",
        "--untag",
        "FIXTURE",
        "--note",
        "checked against the original",
        "--reason",
        "second review",
    ]);
    let bundle = env.path("bundle-018");
    env.ok(&[
        "export",
        "--case",
        SECOND_CASE,
        "--out",
        bundle.to_str().unwrap(),
        "--reason",
        "for the court",
    ]);
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");
}

impl Scenario {
    fn build() -> Scenario {
        let env = Env::with_case();
        let fixtures = util::fixtures();
        let fix = fixtures.to_string_lossy().into_owned();
        let eml = ingest_fixtures(&env, &fix);
        let big_path = ingest_large_attachment(&env, &eml);
        let copy = second_case(&env, &fixtures);
        extract_and_export(&env);

        let mut files: Vec<(PathBuf, Vec<u8>)> = walk(&fixtures);
        files.push((big_path.clone(), std::fs::read(&big_path).unwrap()));
        files.push((copy.clone(), std::fs::read(&copy).unwrap()));
        Scenario { env, files }
    }

    fn db(&self) -> sled::Db {
        self.env.sled()
    }
}

fn walk(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out
}

/// The custody log as stored: (seq from the key, the event's exact bytes).
fn custody_log(db: &sled::Db) -> Vec<(u64, Vec<u8>)> {
    tree_map(db, "custody")
        .into_iter()
        .map(|(k, v)| {
            let seq = u64::from_be_bytes(k.as_slice().try_into().expect("8-byte key"));
            assert_eq!(v[0], RECORD_VERSION, "event {seq}: version byte");
            (seq, v[1..].to_vec())
        })
        .collect()
}

fn events(db: &sled::Db) -> Vec<(u64, Vec<u8>, Value)> {
    custody_log(db)
        .into_iter()
        .map(|(seq, bytes)| {
            let value: Value = serde_json::from_slice(&bytes).expect("an event is JSON");
            (seq, bytes, value)
        })
        .collect()
}

fn vectors() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}
