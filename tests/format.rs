//! Holds the code to `docs/FORMAT.md`.
//!
//! The reader in this module is independent of the custodia library: it opens `ARCHIVE/db`
//! with sled and decodes every record by hand, from the byte layouts the document gives,
//! with nothing but sled, zstd, blake3, sha2 and serde_json. It reassembles every item from
//! its chunks and checks it against `fixtures/vectors.json`, re-checks both custody chains,
//! and rebuilds the whole index from the custody log alone. If the code and the document
//! drift apart, these tests fail. Only the known-answer custody vectors at the end use the
//! library, on purpose: they check that custodia agrees with bytes made by Python.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{self, Env};

// ---------------------------------------------------------------------------------------
// The numbers FORMAT.md fixes.

const RECORD_VERSION: u8 = 1;
const CHUNK_SIZE: usize = 1 << 20;
const MAX_CHUNK: usize = 16 << 20;
const ZSTD_LEVEL: i32 = 3;
const TREES: [&str; 7] = [
    "meta", "chunks", "contents", "items", "cases", "index", "custody",
];
const EVENT_FIELDS: [&str; 13] = [
    "action", "actor", "archive", "case", "details", "host", "items", "prev", "reason", "seq",
    "time", "tool", "v",
];

// ---------------------------------------------------------------------------------------
// A hand-written decoder for FORMAT.md's "Record encoding".

/// Reads one record: the version byte, then bincode's standard configuration with
/// little-endian fixed-width integers, decoded field by field.
struct Rec<'a> {
    what: String,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Rec<'a> {
    fn new(what: impl Into<String>, bytes: &'a [u8]) -> Self {
        let what = what.into();
        assert_eq!(
            bytes.first(),
            Some(&RECORD_VERSION),
            "{what}: a record starts with version byte 1"
        );
        Rec { what, bytes, at: 1 }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.at + n <= self.bytes.len(),
            "{}: record ends at {} but {} more bytes are needed at {}",
            self.what,
            self.bytes.len(),
            n,
            self.at
        );
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        out
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }

    fn digest(&mut self) -> [u8; 32] {
        self.take(32).try_into().unwrap()
    }

    fn len(&mut self) -> usize {
        usize::try_from(self.u64()).unwrap()
    }

    fn bytes(&mut self) -> Vec<u8> {
        let n = self.len();
        self.take(n).to_vec()
    }

    fn string(&mut self) -> String {
        let what = self.what.clone();
        String::from_utf8(self.bytes()).unwrap_or_else(|_| panic!("{what}: a string is UTF-8"))
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> T) -> Option<T> {
        match self.u8() {
            0 => None,
            1 => Some(read(self)),
            tag => panic!("{}: option tag {tag} is neither 0 nor 1", self.what),
        }
    }

    fn vec<T>(&mut self, mut read: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.len();
        (0..n).map(|_| read(self)).collect()
    }

    /// Every byte must be used: a record has no trailing bytes.
    fn end(self) {
        assert_eq!(
            self.at,
            self.bytes.len(),
            "{}: {} bytes left after the last field",
            self.what,
            self.bytes.len() - self.at
        );
    }
}

#[derive(Debug)]
struct Meta {
    format: u32,
    archive_id: String,
    created_at: String,
    chunk_size: u32,
    tool: String,
}

fn decode_meta(bytes: &[u8]) -> Meta {
    let mut r = Rec::new("meta/archive", bytes);
    let meta = Meta {
        format: r.u32(),
        archive_id: r.string(),
        created_at: r.string(),
        chunk_size: r.u32(),
        tool: r.string(),
    };
    r.end();
    meta
}

fn decode_head(bytes: &[u8]) -> (u64, [u8; 32]) {
    let mut r = Rec::new("meta/head", bytes);
    let head = (r.u64(), r.digest());
    r.end();
    head
}

fn decode_u64(what: &str, bytes: &[u8]) -> u64 {
    let mut r = Rec::new(what, bytes);
    let n = r.u64();
    r.end();
    n
}

#[derive(Debug)]
struct Case {
    id: String,
    title: String,
    description: Option<String>,
    created_at: String,
    actor: String,
    seq: u64,
}

fn decode_case(bytes: &[u8]) -> Case {
    let mut r = Rec::new("case", bytes);
    let case = Case {
        id: r.string(),
        title: r.string(),
        description: r.option(Rec::string),
        created_at: r.string(),
        actor: r.string(),
        seq: r.u64(),
    };
    r.end();
    case
}

#[derive(Debug)]
struct Item {
    id: u64,
    blake3: [u8; 32],
    sha256: [u8; 32],
    size: u64,
    name: Vec<u8>,
    path: Vec<u8>,
    source: Option<String>,
    note: Option<String>,
    tags: Vec<String>,
    captured_at: Option<String>,
    modified_at: Option<String>,
    ingested_at: String,
    actor: String,
    parent: Option<u64>,
    case: String,
    seq: u64,
}

fn decode_item(bytes: &[u8]) -> Item {
    let mut r = Rec::new("item", bytes);
    let item = Item {
        id: r.u64(),
        blake3: r.digest(),
        sha256: r.digest(),
        size: r.u64(),
        name: r.bytes(),
        path: r.bytes(),
        source: r.option(Rec::string),
        note: r.option(Rec::string),
        tags: r.vec(Rec::string),
        captured_at: r.option(Rec::string),
        modified_at: r.option(Rec::string),
        ingested_at: r.string(),
        actor: r.string(),
        parent: r.option(Rec::u64),
        case: r.string(),
        seq: r.u64(),
    };
    r.end();
    item
}

#[derive(Debug)]
struct Content {
    size: u64,
    sha256: [u8; 32],
    chunks: Vec<([u8; 32], u32)>,
}

fn decode_content(bytes: &[u8]) -> Content {
    let mut r = Rec::new("content", bytes);
    let content = Content {
        size: r.u64(),
        sha256: r.digest(),
        chunks: r.vec(|r| (r.digest(), r.u32())),
    };
    r.end();
    content
}

fn decode_link(bytes: &[u8]) -> (String, u64) {
    let mut r = Rec::new("link", bytes);
    let link = (r.string(), r.u64());
    r.end();
    link
}

/// A stored chunk: `[1][compression][raw_len u32 LE][payload]`, decoded and checked against its key.
fn decode_chunk(key: &[u8], stored: &[u8]) -> (u8, Vec<u8>) {
    assert_eq!(stored[0], RECORD_VERSION, "chunk version byte");
    assert!(stored.len() >= 6, "chunk record shorter than its header");
    let compression = stored[1];
    let raw_len = u32::from_le_bytes(stored[2..6].try_into().unwrap()) as usize;
    assert!(raw_len <= MAX_CHUNK, "chunk claims {raw_len} bytes");
    let payload = &stored[6..];
    let raw = match compression {
        0 => payload.to_vec(),
        1 => zstd::stream::decode_all(payload).expect("one zstd frame"),
        other => panic!("unknown compression byte {other}"),
    };
    assert_eq!(raw.len(), raw_len, "chunk holds the length its header says");
    assert_eq!(
        blake3::hash(&raw).as_bytes().as_slice(),
        key,
        "a chunk's key is the BLAKE3 of its uncompressed bytes"
    );
    (compression, raw)
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn ev(n: u64) -> String {
    format!("EV-{n:06}")
}

fn ev_number(id: &str) -> u64 {
    id.strip_prefix("EV-").unwrap().parse().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tree_map(db: &sled::Db, name: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.open_tree(name)
        .unwrap()
        .iter()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

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

impl Scenario {
    fn build() -> Scenario {
        let env = Env::with_case();
        let fixtures = util::fixtures();
        let fix = fixtures.to_string_lossy().into_owned();
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
            &fix,
        ]);
        assert_eq!(report["items"].as_array().unwrap().len(), 10);
        let eml = report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"].as_str().unwrap().ends_with("message.eml"))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let big_path = env.path("incoming/scan of the protocol.bin");
        util::write(&big_path, &large_file());
        let report = env.json(&[
            "ingest",
            "--case",
            "BY-2024-017",
            "--parent",
            &eml,
            "--note",
            "rescanned \"original\"",
            "--tag",
            "scan",
            big_path.to_str().unwrap(),
        ]);
        assert_eq!(report["items"][0]["status"], "new");

        // A second case: the same bytes as an item of the first (a new item, one content),
        // a link, and a second acquisition into the first case (an `acquire` event).
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
        env.ok(&[
            "extract",
            "EV-000011",
            "--out",
            env.path("out.bin").to_str().unwrap(),
            "--reason",
            "court",
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

// ---------------------------------------------------------------------------------------
// The archive directory.

#[test]
fn the_archive_directory_holds_what_format_md_lists() {
    let s = Scenario::build();
    let root = &s.env.archive;
    assert_eq!(
        std::fs::read(root.join("FORMAT")).unwrap(),
        b"custodia archive\nformat 1\n"
    );
    let names: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = ["FORMAT", "HEAD", "db", "lock"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, want, "no temporary files are left behind");
    assert!(root.join("lock").is_file());
    assert!(root.join("db/conf").is_file() && root.join("db/db").is_file());
    // The 1 MiB chunks are larger than sled keeps inline: they live in blobs/.
    assert!(
        std::fs::read_dir(root.join("db/blobs")).unwrap().count() > 0,
        "large values are sled blob files"
    );

    let db = s.db();
    let trees: BTreeSet<String> = db
        .tree_names()
        .iter()
        .map(|n| String::from_utf8(n.to_vec()).unwrap())
        .filter(|n| n != "__sled__default")
        .collect();
    let want: BTreeSet<String> = TREES.into_iter().map(String::from).collect();
    assert_eq!(trees, want, "exactly the documented trees");
    assert!(db.is_empty(), "the default tree is not used");
}

#[test]
fn the_meta_tree_decodes_by_hand() {
    let s = Scenario::build();
    let db = s.db();
    let meta = tree_map(&db, "meta");
    let keys: Vec<&[u8]> = meta.keys().map(Vec::as_slice).collect();
    assert_eq!(keys, [&b"archive"[..], b"head", b"next_item"]);

    let m = decode_meta(&meta[&b"archive"[..]]);
    assert_eq!(m.format, 1);
    assert_eq!(m.chunk_size as usize, CHUNK_SIZE);
    assert_eq!(m.archive_id.len(), 32);
    assert!(
        m.archive_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert!(m.tool.starts_with("custodia "), "{}", m.tool);
    assert!(m.created_at.ends_with('Z'), "{}", m.created_at);

    let log = events(&db);
    // 12 items: 10 fixtures, the large file, the copy ingested into the second case.
    assert_eq!(decode_u64("meta/next_item", &meta[&b"next_item"[..]]), 13);
    let (seq, digest) = decode_head(&meta[&b"head"[..]]);
    let (last_seq, last_bytes, _) = log.last().unwrap();
    assert_eq!(seq, *last_seq);
    assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(last_bytes)));
    for (_, _, e) in &log {
        assert_eq!(
            e["archive"],
            m.archive_id.as_str(),
            "every event names the archive"
        );
    }
    assert_eq!(
        log[0].2["details"],
        serde_json::json!({"chunk_size": CHUNK_SIZE, "format": 1})
    );
}

// ---------------------------------------------------------------------------------------
// Contents and chunks: every item, back from its chunks.

#[test]
fn every_item_reassembles_from_its_chunks_by_hand() {
    let s = Scenario::build();
    let db = s.db();
    let items = tree_map(&db, "items");
    let contents = tree_map(&db, "contents");
    let chunks = tree_map(&db, "chunks");
    let vectors = vectors();
    let by_path: HashMap<PathBuf, &Vec<u8>> = s.files.iter().map(|(p, b)| (p.clone(), b)).collect();

    assert_eq!(items.len(), 12);
    let mut used_chunks = BTreeSet::new();
    let mut checked_vectors = 0;
    for (key, value) in &items {
        let item = decode_item(value);
        assert_eq!(
            key.as_slice(),
            be(item.id),
            "items are keyed by number, big-endian"
        );
        let content = decode_content(
            contents
                .get(item.blake3.as_slice())
                .unwrap_or_else(|| panic!("content of {}", ev(item.id))),
        );
        let mut whole = Vec::new();
        for (n, (id, len)) in content.chunks.iter().enumerate() {
            used_chunks.insert(id.to_vec());
            let stored = &chunks[id.as_slice()];
            let (compression, raw) = decode_chunk(id, stored);
            assert_eq!(raw.len(), *len as usize);
            let last = n + 1 == content.chunks.len();
            if last {
                assert!((1..=CHUNK_SIZE).contains(&raw.len()));
            } else {
                assert_eq!(raw.len(), CHUNK_SIZE, "every chunk but the last is 1 MiB");
            }
            // The compression rule: zstd level 3 when it saves at least 1/32, raw otherwise.
            let packed = zstd::bulk::compress(&raw, ZSTD_LEVEL).unwrap();
            let worth = raw.len() >= 64 && packed.len() < raw.len() - raw.len() / 32;
            assert_eq!(compression, u8::from(worth), "chunk {n} of {}", ev(item.id));
            if worth {
                assert_eq!(&stored[6..], packed.as_slice(), "one zstd frame, level 3");
            } else {
                assert_eq!(&stored[6..], raw.as_slice());
            }
            whole.extend_from_slice(&raw);
        }
        // The content address is the plain BLAKE3 of the original bytes.
        assert_eq!(blake3::hash(&whole).as_bytes(), &item.blake3);
        assert_eq!(<[u8; 32]>::from(Sha256::digest(&whole)), item.sha256);
        assert_eq!(content.sha256, item.sha256);
        assert_eq!((whole.len() as u64, content.size), (item.size, item.size));

        let path = PathBuf::from(String::from_utf8(item.path.clone()).unwrap());
        assert!(path.is_absolute());
        assert_eq!(
            item.name,
            path.file_name().unwrap().to_string_lossy().as_bytes()
        );
        assert_eq!(
            &whole,
            by_path[&path],
            "{} is its file, byte for byte",
            ev(item.id)
        );
        if let Ok(rel) = path.strip_prefix(util::fixtures()) {
            let v = vectors["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["path"] == rel.to_str().unwrap())
                .unwrap();
            assert_eq!(v["size"], item.size);
            assert_eq!(v["sha256"], hex::encode(item.sha256));
            assert_eq!(v["blake3"], hex::encode(item.blake3));
            checked_vectors += 1;
        }
        if item.size == 0 {
            // FORMAT.md's worked example, byte for byte.
            let want = hex::decode(concat!(
                "01",
                "0000000000000000",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "0000000000000000"
            ))
            .unwrap();
            assert_eq!(contents[item.blake3.as_slice()], want);
            assert_eq!(
                hex::encode(item.blake3),
                "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
            );
            assert!(content.chunks.is_empty(), "an empty file has no chunks");
        }
    }
    assert_eq!(checked_vectors, 10);
    let stored: BTreeSet<Vec<u8>> = chunks.keys().cloned().collect();
    assert_eq!(
        stored, used_chunks,
        "the chunk tree holds exactly the chunks contents name"
    );

    // The large file: three full chunks, zstd for the text, raw for the noise.
    let big = items
        .values()
        .map(|v| decode_item(v))
        .find(|i| i.name == b"scan of the protocol.bin")
        .unwrap();
    let content = decode_content(&contents[big.blake3.as_slice()]);
    let kinds: Vec<u8> = content
        .chunks
        .iter()
        .map(|(id, _)| chunks[id.as_slice()][1])
        .collect();
    assert_eq!(kinds, [0, 1, 0]);
    assert_eq!(content.size as usize, large_file().len());
    // Identical bytes are stored once: 12 items, 11 distinct contents.
    assert_eq!(contents.len(), 11);
}

#[test]
fn every_stored_value_starts_as_format_md_says() {
    let s = Scenario::build();
    let db = s.db();
    for tree in ["meta", "chunks", "contents", "items", "cases", "custody"] {
        for (key, value) in tree_map(&db, tree) {
            assert_eq!(
                value.first(),
                Some(&RECORD_VERSION),
                "{tree}/{}: version byte",
                hex::encode(&key)
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (key, value) in tree_map(&db, "index") {
        seen.insert(key[0]);
        match key[0] {
            b'c' => {
                decode_link(&value);
            }
            b'i' | b'h' | b't' | b'p' | b'e' => assert_eq!(value, [RECORD_VERSION], "marker"),
            // These two are raw values without a version byte (FORMAT.md, "index").
            b'k' => assert_eq!(value.len(), 8, "an item number, big-endian"),
            b'H' => assert_eq!(value.len(), 32, "an event digest"),
            other => panic!("undocumented index tag {other:#x}"),
        }
    }
    assert_eq!(
        seen,
        b"Hcehikpt".iter().copied().collect(),
        "every kind of key occurs"
    );
}

// ---------------------------------------------------------------------------------------
// The custody log, checked with serde_json and sha2 only.

#[test]
fn the_custody_log_is_canonical_and_both_chains_link() {
    let s = Scenario::build();
    let db = s.db();
    let log = events(&db);
    let mut prev: Option<String> = None;
    let mut item_heads: HashMap<String, String> = HashMap::new();
    let mut actions = Vec::new();
    for (n, (seq, bytes, e)) in log.iter().enumerate() {
        assert_eq!(*seq, n as u64 + 1, "seq runs from 1 without gaps");
        assert_eq!(e["seq"], *seq);
        assert_eq!(e["v"], 1);
        let canonical = serde_json::to_vec(e).unwrap();
        assert_eq!(
            &canonical,
            bytes,
            "event {seq} is canonical JSON: {}",
            String::from_utf8_lossy(bytes)
        );
        assert!(!bytes.ends_with(b"\n"));
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys, EVENT_FIELDS,
            "event {seq}: exactly the documented fields"
        );
        assert_eq!(e["prev"], prev.clone().map_or(Value::Null, Value::String));
        let time = e["time"].as_str().unwrap();
        assert_eq!(time.len(), "2024-03-04T10:05:41.123456Z".len(), "{time}");
        assert!(time.ends_with('Z'));
        assert_eq!(e["actor"], "tester");
        assert!(e["tool"].as_str().unwrap().starts_with("custodia "));
        let digest = sha256_hex(bytes);
        for link in e["items"].as_array().unwrap() {
            let keys: Vec<&str> = link
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, ["id", "prev"]);
            let id = link["id"].as_str().unwrap().to_owned();
            assert_eq!(
                link["prev"],
                item_heads
                    .get(&id)
                    .cloned()
                    .map_or(Value::Null, Value::String),
                "event {seq}: items[].prev of {id}"
            );
            item_heads.insert(id, digest.clone());
        }
        prev = Some(digest);
        actions.push(e["action"].as_str().unwrap().to_owned());
    }
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(actions[0], "init");
    assert_eq!(
        [
            count("case_create"),
            count("ingest"),
            count("acquire"),
            count("link"),
            count("extract"),
            count("export"),
            count("seal"),
            count("verify")
        ],
        [2, 12, 1, 1, 1, 1, 1, 1]
    );

    // HEAD names the last event; the index's item heads match the walk.
    let (last_seq, last_bytes, _) = log.last().unwrap();
    let head = std::fs::read_to_string(s.env.archive.join("HEAD")).unwrap();
    assert_eq!(
        head,
        format!("seq {last_seq}\nsha256 {}\n", sha256_hex(last_bytes))
    );
    let index = tree_map(&db, "index");
    for (id, digest) in &item_heads {
        let mut key = vec![b'H'];
        key.extend(be(ev_number(id)));
        assert_eq!(hex::encode(&index[&key]), *digest, "H entry of {id}");
    }
}

#[test]
fn records_and_the_whole_index_follow_from_the_custody_log() {
    let s = Scenario::build();
    let db = s.db();
    let log = events(&db);
    let items = tree_map(&db, "items");
    let cases = tree_map(&db, "cases");
    let index = tree_map(&db, "index");

    let marker = vec![RECORD_VERSION];
    let mut want: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut want_cases = BTreeSet::new();
    let mut want_items = BTreeSet::new();
    let key = |parts: &[&[u8]]| parts.concat();
    let mut export_seq = None;
    for (seq, bytes, e) in &log {
        let d = &e["details"];
        let case = e["case"].as_str().unwrap_or_default().as_bytes();
        let ids: Vec<u64> = e["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| ev_number(l["id"].as_str().unwrap()))
            .collect();
        for id in &ids {
            want.insert(key(&[b"e", &be(*id), &be(*seq)]), marker.clone());
            want.insert(key(&[b"H", &be(*id)]), Sha256::digest(bytes).to_vec());
        }
        match e["action"].as_str().unwrap() {
            "case_create" => {
                let c = decode_case(&cases[case]);
                assert_eq!(c.id.as_bytes(), case);
                assert_eq!(c.title, d["title"].as_str().unwrap());
                assert_eq!(c.description.as_deref(), d["description"].as_str());
                assert_eq!(
                    (c.created_at.as_str(), c.actor.as_str()),
                    (e["time"].as_str().unwrap(), e["actor"].as_str().unwrap())
                );
                assert_eq!(c.seq, *seq);
                want_cases.insert(case.to_vec());
            }
            "ingest" => {
                let id = ids[0];
                let item = decode_item(&items[&be(id).to_vec()]);
                assert_eq!(item.id, id);
                assert_eq!(hex::encode(item.blake3), d["blake3"].as_str().unwrap());
                assert_eq!(hex::encode(item.sha256), d["sha256"].as_str().unwrap());
                assert_eq!(item.size, d["size"].as_u64().unwrap());
                assert_eq!(hex::encode(&item.name), d["name_hex"].as_str().unwrap());
                assert_eq!(hex::encode(&item.path), d["path_hex"].as_str().unwrap());
                assert_eq!(item.name, d["name"].as_str().unwrap().as_bytes());
                assert_eq!(item.source.as_deref(), d["source"].as_str());
                assert_eq!(item.note.as_deref(), d["note"].as_str());
                assert_eq!(item.captured_at.as_deref(), d["captured_at"].as_str());
                assert_eq!(item.modified_at.as_deref(), d["modified_at"].as_str());
                assert_eq!(item.parent.map(ev), d["parent"].as_str().map(String::from));
                let tags: Vec<&str> = d["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect();
                assert_eq!(item.tags, tags);
                assert_eq!(item.ingested_at, e["time"].as_str().unwrap());
                assert_eq!(item.actor, e["actor"].as_str().unwrap());
                assert_eq!(item.case.as_bytes(), case);
                assert_eq!(item.seq, *seq);
                want_items.insert(be(id).to_vec());

                // LinkRecord { linked_at: String, seq: u64 }, laid out by hand.
                let linked_at = e["time"].as_str().unwrap();
                let mut c_value = vec![RECORD_VERSION];
                c_value.extend((linked_at.len() as u64).to_le_bytes());
                c_value.extend(linked_at.as_bytes());
                c_value.extend(seq.to_le_bytes());
                want.insert(key(&[b"c", case, &[0], &be(id)]), c_value);
                want.insert(key(&[b"i", &be(id), case]), marker.clone());
                want.insert(key(&[b"h", &item.blake3, &be(id)]), marker.clone());
                want.insert(key(&[b"k", case, &[0], &item.blake3]), be(id).to_vec());
                for tag in &item.tags {
                    want.insert(key(&[b"t", tag.as_bytes(), &[0], &be(id)]), marker.clone());
                }
                if let Some(parent) = item.parent {
                    want.insert(key(&[b"p", &be(parent), &be(id)]), marker.clone());
                }
            }
            "link" => {
                let id = ids[0];
                let blake3 = hex::decode(d["blake3"].as_str().unwrap()).unwrap();
                let (linked_at, link_seq) = decode_link(&index[&key(&[b"c", case, &[0], &be(id)])]);
                assert_eq!(
                    (linked_at.as_str(), link_seq),
                    (e["time"].as_str().unwrap(), *seq)
                );
                want.insert(
                    key(&[b"c", case, &[0], &be(id)]),
                    index[&key(&[b"c", case, &[0], &be(id)])].clone(),
                );
                want.insert(key(&[b"i", &be(id), case]), marker.clone());
                want.entry(key(&[b"k", case, &[0], &blake3]))
                    .or_insert(be(id).to_vec());
            }
            "acquire" => {
                // A second source of bytes the case already holds: only the event and its chain.
                assert!(items.contains_key(be(ids[0]).as_slice()));
                assert_eq!(
                    index[&key(&[
                        b"k",
                        case,
                        &[0],
                        &hex::decode(d["blake3"].as_str().unwrap()).unwrap()
                    ])],
                    be(ids[0])
                );
            }
            "extract" => {
                let item = decode_item(&items[&be(ids[0]).to_vec()]);
                assert_eq!(d["blake3"], hex::encode(item.blake3));
                assert_eq!(d["sha256"], hex::encode(item.sha256));
                assert_eq!(d["size"], item.size);
                assert!(d["out"].as_str().unwrap().ends_with("out.bin"));
                assert_eq!(e["reason"], "court");
            }
            "verify" => {
                assert_eq!(d["ok"], true);
                assert_eq!(d["problems"], 0);
                assert_eq!(
                    [&d["items"], &d["contents"], &d["events"]],
                    [&Value::from(12), &Value::from(11), &Value::from(*seq - 1)]
                );
            }
            "export" => {
                // The bundle's own event names every exported item of the case.
                assert_eq!(case, SECOND_CASE.as_bytes());
                assert_eq!(ids, [2, 12]);
                assert_eq!(d["items"], 2);
                assert_eq!(d["bundle"], "bundle-018");
                assert_eq!(e["reason"], "for the court");
                export_seq = Some(*seq);
            }
            "seal" => {
                assert_eq!(case, SECOND_CASE.as_bytes());
                assert!(ids.is_empty());
                assert_eq!(Some(d["export_event"].as_u64().unwrap()), export_seq);
                assert_eq!(export_seq, Some(seq - 1), "the seal follows its export");
                let tagmanifest =
                    std::fs::read(s.env.path("bundle-018/tagmanifest-sha256.txt")).unwrap();
                assert_eq!(d["tagmanifest_sha256"], sha256_hex(&tagmanifest));
            }
            "init" => {}
            other => panic!("action {other} is not expected here"),
        }
    }
    assert_eq!(cases.keys().cloned().collect::<BTreeSet<_>>(), want_cases);
    assert_eq!(items.keys().cloned().collect::<BTreeSet<_>>(), want_items);
    let got: BTreeSet<&Vec<u8>> = index.keys().collect();
    let expected: BTreeSet<&Vec<u8>> = want.keys().collect();
    let extra: Vec<String> = got.difference(&expected).map(hex::encode).collect();
    let missing: Vec<String> = expected.difference(&got).map(hex::encode).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "index keys: extra {extra:?}, missing {missing:?}"
    );
    for (k, v) in &want {
        assert_eq!(&index[k], v, "value of index key {}", hex::encode(k));
    }
}

// ---------------------------------------------------------------------------------------
// The document itself names everything the code has.

#[test]
fn format_md_names_every_tree_problem_kind_and_action() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMAT.md"))
        .expect("docs/FORMAT.md exists");
    use custodia::ProblemKind as P;
    let kinds = [
        P::DatabaseUnreadable,
        P::RecordUnreadable,
        P::ContentDamaged,
        P::ContentMissing,
        P::ItemInconsistent,
        P::IndexDangling,
        P::ChainBroken,
        P::ItemChainBroken,
        P::HeadMismatch,
    ];
    use custodia::custody::Action as A;
    let actions = [
        A::Init,
        A::CaseCreate,
        A::Ingest,
        A::Acquire,
        A::Link,
        A::Extract,
        A::Export,
        A::Seal,
        A::Verify,
        A::Import,
    ];
    let words = TREES
        .iter()
        .chain(&EVENT_FIELDS)
        .copied()
        .chain(kinds.iter().map(|k| k.as_str()))
        .chain(actions.iter().map(|a| a.as_str()));
    for word in words {
        assert!(
            doc.contains(&format!("`{word}`")),
            "FORMAT.md does not name `{word}`"
        );
    }
    assert_eq!(
        custodia::FORMAT_VERSION,
        1,
        "a new format needs a new FORMAT.md section"
    );
    assert_eq!(custodia::codec::RECORD_VERSION, RECORD_VERSION);
    assert_eq!(custodia::store::CHUNK_SIZE, CHUNK_SIZE);
    assert_eq!(custodia::store::MAX_CHUNK, MAX_CHUNK);
    assert_eq!(custodia::custody::EVENT_VERSION, 1);
}

// ---------------------------------------------------------------------------------------
// Known-answer custody vectors: bytes made by Python (fixtures/make_custody_vectors.py).

fn custody_vectors() -> Vec<Vec<u8>> {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/custody-vectors.jsonl"))
            .unwrap();
    assert!(bytes.ends_with(b"\n"), "every line ends with a newline");
    let lines: Vec<Vec<u8>> = bytes[..bytes.len() - 1]
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), 4);
    lines
}

fn walk_vectors(lines: &[Vec<u8>]) -> Vec<custodia::custody::Break> {
    let mut walker = custodia::custody::ChainWalker::whole_log();
    for (n, line) in lines.iter().enumerate() {
        walker.feed(n as u64 + 1, line);
    }
    assert_eq!(walker.events, lines.len() as u64);
    walker.breaks
}

#[test]
fn custody_vectors_chain_and_are_canonical_in_custodia() {
    use custodia::custody::Event;
    let lines = custody_vectors();
    assert_eq!(walk_vectors(&lines), vec![]);
    for line in &lines {
        let event = Event::parse(line).unwrap();
        assert_eq!(
            event.to_canonical(),
            *line,
            "Python's canonical form is custodia's: {}",
            String::from_utf8_lossy(line)
        );
    }
    // The same chain, checked with sha2 alone, and the facts the lines pin.
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    for n in 1..lines.len() {
        assert_eq!(parsed[n]["prev"], sha256_hex(&lines[n - 1]));
    }
    assert_eq!(parsed[0]["prev"], Value::Null);
    assert_eq!(parsed[2]["items"][0]["prev"], Value::Null);
    assert_eq!(parsed[3]["items"][0]["prev"], sha256_hex(&lines[2]));
    let en = vectors()["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "testimonies/witness-statement-en.txt")
        .unwrap()
        .clone();
    for e in &parsed[2..] {
        assert_eq!(e["details"]["blake3"], en["blake3"]);
        assert_eq!(e["details"]["sha256"], en["sha256"]);
        assert_eq!(e["details"]["size"], en["size"]);
    }
    let actions: Vec<&str> = parsed
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["init", "case_create", "ingest", "extract"]);
    // Pinned so that a change in the Python script or the file shows up here.
    assert_eq!(
        sha256_hex(lines.last().unwrap()),
        "b83cad93c780027c5b1d55848bbbc45ea7ac5aefbc553ba60329b3bc1d5b052b"
    );
}

#[test]
fn a_tampered_custody_vector_is_caught() {
    use custodia::custody::{Break, Event};
    let lines = custody_vectors();

    // One changed byte in the ingest event: both of the extract's links break.
    let mut edited = lines.clone();
    let text = String::from_utf8(edited[2].clone()).unwrap();
    assert!(text.contains(r#""size":3082"#));
    edited[2] = text
        .replace(r#""size":3082"#, r#""size":3083"#)
        .into_bytes();
    let found = walk_vectors(&edited);
    assert!(found.contains(&Break::Prev { seq: 4 }), "{found:?}");
    assert!(
        found.contains(&Break::ItemPrev {
            seq: 4,
            item: "EV-000001".into()
        }),
        "{found:?}"
    );
    assert!(found.iter().all(|b| b.seq() == 4), "{found:?}");

    // The same event, re-spaced: the same JSON value but other bytes, so the chain breaks.
    let mut respaced = lines.clone();
    let value: Value = serde_json::from_slice(&lines[2]).unwrap();
    respaced[2] = serde_json::to_vec_pretty(&value).unwrap();
    assert_ne!(
        Event::parse(&respaced[2]).unwrap().to_canonical(),
        respaced[2]
    );
    assert!(walk_vectors(&respaced).contains(&Break::Prev { seq: 4 }));

    // A removed event.
    let removed = [lines[0].clone(), lines[1].clone(), lines[3].clone()];
    let found = walk_vectors(&removed);
    assert!(
        found.iter().any(|b| matches!(b, Break::Sequence { .. })),
        "{found:?}"
    );
}
