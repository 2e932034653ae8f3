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

// ---------------------------------------------------------------------------------------
// The numbers FORMAT.md fixes.

const RECORD_VERSION: u8 = 1;
const CHUNK_SIZE: usize = 1 << 20;
const MAX_CHUNK: usize = 16 << 20;
const ZSTD_LEVEL: i32 = 3;
/// A chunk over twice this is first compressed on its first `PROBE` bytes.
const PROBE: usize = 64 << 10;
/// The trees of the index database `ARCHIVE/db`.
const TREES: [&str; 7] = [
    "meta",
    "chunk_volumes",
    "contents",
    "items",
    "cases",
    "index",
    "custody",
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
const BUNDLE_FILES: [&str; 11] = [
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
const EVIDENCE_FIELDS: [&str; 20] = [
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

/// A chunk location (value of `chunk_volumes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    /// Format 1, `[1][volume u32 LE]`: the record is `chunks[id]` in the volume.
    Record(u32),
    /// Format 2, `[2][volume u32 LE][pack u32 LE][offset u32 LE]`: the entry at `offset`
    /// of `packs[pack u32 BE]` in the volume.
    Packed(u32, u32, u32),
}

impl Location {
    fn volume(self) -> u32 {
        match self {
            Location::Record(v) | Location::Packed(v, _, _) => v,
        }
    }
}

fn decode_location(bytes: &[u8]) -> Location {
    match bytes[0] {
        1 => {
            let mut r = Rec::new("chunk location", bytes);
            let volume = r.u32();
            r.end();
            Location::Record(volume)
        }
        2 => {
            assert_eq!(bytes.len(), 13, "a packed location is 13 bytes");
            let n = |i: usize| u32::from_le_bytes(bytes[1 + 4 * i..5 + 4 * i].try_into().unwrap());
            Location::Packed(n(0), n(1), n(2))
        }
        v => panic!("chunk location version {v}"),
    }
}

/// A pack: `[1]`, then entries `[chunk id 32][record length u32 LE][chunk record]` to its end.
/// Returns `(offset, id, record)` per entry.
fn decode_pack(pack: &[u8]) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
    assert_eq!(pack[0], RECORD_VERSION, "pack version byte");
    let mut out = Vec::new();
    let mut at = 1;
    while at < pack.len() {
        assert!(at + 36 <= pack.len(), "a whole entry header at {at}");
        let id = pack[at..at + 32].to_vec();
        let len = u32::from_le_bytes(pack[at + 32..at + 36].try_into().unwrap()) as usize;
        let end = at + 36 + len;
        assert!(end <= pack.len(), "a whole record at {at}");
        out.push((at as u32, id, pack[at + 36..end].to_vec()));
        at = end;
    }
    out
}

/// `ARCHIVE/volumes/NNNNNN`: six decimal digits.
fn volume_dir(archive: &Path, number: u32) -> PathBuf {
    archive.join(VOLUMES_DIR).join(format!("{number:06}"))
}

/// Chunk records found the way FORMAT.md says: the chunk's `chunk_volumes` entry names the
/// volume and, in format 2, the pack and offset. Each volume is opened once (sled locks a
/// database against a second opening, even in the same process).
struct ChunkStore {
    archive: PathBuf,
    locations: BTreeMap<Vec<u8>, Vec<u8>>,
    open: BTreeMap<u32, sled::Db>,
}

impl ChunkStore {
    fn new(archive: &Path, index_db: &sled::Db) -> Self {
        ChunkStore {
            archive: archive.to_path_buf(),
            locations: tree_map(index_db, "chunk_volumes"),
            open: BTreeMap::new(),
        }
    }

    fn location(&self, id: &[u8]) -> Location {
        decode_location(
            self.locations
                .get(id)
                .unwrap_or_else(|| panic!("chunk {} has a chunk_volumes entry", hex::encode(id))),
        )
    }

    fn volume_of(&self, id: &[u8]) -> u32 {
        self.location(id).volume()
    }

    fn volume(&mut self, number: u32) -> &sled::Db {
        let dir = volume_dir(&self.archive, number);
        self.open.entry(number).or_insert_with(|| {
            assert!(dir.is_dir(), "{} exists", dir.display());
            sled::open(&dir).expect("a volume is a sled database")
        })
    }

    /// The stored record of a chunk.
    fn record(&mut self, id: &[u8]) -> Vec<u8> {
        match self.location(id) {
            Location::Record(number) => {
                let tree = self.volume(number).open_tree(VOLUME_TREE).unwrap();
                tree.get(id)
                    .unwrap()
                    .unwrap_or_else(|| panic!("volume {number} holds chunk {}", hex::encode(id)))
                    .to_vec()
            }
            Location::Packed(number, pack, offset) => {
                let tree = self.volume(number).open_tree(PACK_TREE).unwrap();
                let bytes = tree
                    .get(pack.to_be_bytes())
                    .unwrap()
                    .unwrap_or_else(|| panic!("volume {number} holds pack {pack}"));
                let (_, found, record) = decode_pack(&bytes)
                    .into_iter()
                    .find(|(at, _, _)| *at == offset)
                    .unwrap_or_else(|| panic!("an entry starts at offset {offset}"));
                assert_eq!(found, id, "the entry at the location is the chunk's");
                record
            }
        }
    }

    /// Every volume directory, by number, with the chunk records it holds by id (from its
    /// `chunks` tree, or from every entry of every pack).
    fn all_volumes(&mut self) -> BTreeMap<u32, BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut out = BTreeMap::new();
        for number in self.volume_numbers() {
            let volume = self.volume(number);
            let names = volume.tree_names();
            let has = |tree: &str| names.iter().any(|n| n == tree.as_bytes());
            let mut records = if has(VOLUME_TREE) {
                tree_map(volume, VOLUME_TREE)
            } else {
                BTreeMap::new()
            };
            if has(PACK_TREE) {
                for (_, pack) in tree_map(volume, PACK_TREE) {
                    for (_, id, record) in decode_pack(&pack) {
                        assert!(
                            records.insert(id, record).is_none(),
                            "a chunk is in one entry"
                        );
                    }
                }
            }
            out.insert(number, records);
        }
        out
    }

    /// Every volume's packs by number (format 2).
    fn packs(&mut self, number: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
        tree_map(self.volume(number), PACK_TREE)
    }

    fn volume_numbers(&self) -> Vec<u32> {
        let dir = self.archive.join(VOLUMES_DIR);
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let number: u32 = name.parse().expect("a volume is named by its number");
            assert_eq!(name, format!("{number:06}"), "six decimal digits");
            numbers.push(number);
        }
        numbers.sort_unstable();
        numbers
    }
}

/// FORMAT.md "Compression": whether a chunk is stored as one zstd frame (level 3) rather
/// than raw: 64 bytes or more, a probe of the first 64 KiB that saves 1/32 when the chunk is
/// over 128 KiB, and a frame of the whole that saves 1/32.
fn stored_as_zstd(raw: &[u8]) -> bool {
    let saves = |input: &[u8]| {
        let packed = zstd::bulk::compress(input, ZSTD_LEVEL).unwrap();
        packed.len() < input.len() - input.len() / 32
    };
    raw.len() >= 64 && (raw.len() <= 2 * PROBE || saves(&raw[..PROBE])) && saves(raw)
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
        b"custodia archive\nformat 2\n"
    );
    let names: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = ["FORMAT", "HEAD", "db", "lock", VOLUMES_DIR]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, want, "no temporary files are left behind");
    assert!(root.join("lock").is_file());
    assert!(root.join("db/conf").is_file() && root.join("db/db").is_file());

    // Four ingest commands: the fixtures and the large file stored new chunks, one volume
    // each; the two ingests of a copy stored none, so they made no volume.
    let volumes: BTreeSet<String> = std::fs::read_dir(root.join(VOLUMES_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        volumes,
        BTreeSet::from(["000001".to_owned(), "000002".to_owned()])
    );
    for n in [1, 2] {
        let v = volume_dir(root, n);
        assert!(
            v.join("conf").is_file() && v.join("db").is_file(),
            "volume {n} is a sled database"
        );
    }
    // The 1 MiB chunks of the large file are larger than sled keeps inline: blob files of
    // its volume.
    assert!(
        std::fs::read_dir(volume_dir(root, 2).join("blobs"))
            .unwrap()
            .count()
            > 0,
        "large values are sled blob files"
    );

    let names_of = |db: &sled::Db| -> BTreeSet<String> {
        db.tree_names()
            .iter()
            .map(|n| String::from_utf8(n.to_vec()).unwrap())
            .filter(|n| n != "__sled__default")
            .collect()
    };
    let db = s.db();
    let want: BTreeSet<String> = TREES.into_iter().map(String::from).collect();
    assert_eq!(names_of(&db), want, "exactly the documented trees");
    assert!(db.is_empty(), "the default tree is not used");
    let mut store = ChunkStore::new(root, &db);
    for n in [1, 2] {
        let volume = store.volume(n);
        assert_eq!(
            names_of(volume),
            BTreeSet::from([PACK_TREE.to_owned()]),
            "volume {n} has one tree"
        );
        assert!(
            volume.is_empty(),
            "the default tree of volume {n} is not used"
        );
    }
}

#[test]
fn the_meta_tree_decodes_by_hand() {
    let s = Scenario::build();
    let db = s.db();
    let meta = tree_map(&db, "meta");
    let keys: Vec<&[u8]> = meta.keys().map(Vec::as_slice).collect();
    assert_eq!(keys, [&b"archive"[..], b"head", b"next_item"]);

    let m = decode_meta(&meta[&b"archive"[..]]);
    assert_eq!(m.format, FORMAT);
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
        serde_json::json!({"chunk_size": CHUNK_SIZE, "format": FORMAT})
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
    let mut chunks = ChunkStore::new(&s.env.archive, &db);
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
            let stored = &chunks.record(id);
            let (compression, raw) = decode_chunk(id, stored);
            assert_eq!(raw.len(), *len as usize);
            let last = n + 1 == content.chunks.len();
            if last {
                assert!((1..=CHUNK_SIZE).contains(&raw.len()));
            } else {
                assert_eq!(raw.len(), CHUNK_SIZE, "every chunk but the last is 1 MiB");
            }
            // The compression rule: zstd level 3 when it saves at least 1/32, raw otherwise.
            let worth = stored_as_zstd(&raw);
            assert_eq!(compression, u8::from(worth), "chunk {n} of {}", ev(item.id));
            if worth {
                let packed = zstd::bulk::compress(&raw, ZSTD_LEVEL).unwrap();
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
    // No orphans here: every chunk a volume holds is in chunk_volumes, in that volume, and
    // named by a content.
    let located: BTreeSet<Vec<u8>> = chunks.locations.keys().cloned().collect();
    assert_eq!(
        located, used_chunks,
        "chunk_volumes holds exactly the chunks contents name"
    );
    let mut in_volumes = BTreeSet::new();
    for (number, records) in chunks.all_volumes() {
        for id in records.keys() {
            assert_eq!(
                chunks.volume_of(id),
                number,
                "chunk_volumes names the volume"
            );
            assert!(in_volumes.insert(id.clone()), "a chunk is stored once");
        }
    }
    assert_eq!(
        in_volumes, used_chunks,
        "the volumes hold exactly those chunks"
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
        .map(|(id, _)| chunks.record(id)[1])
        .collect();
    assert_eq!(kinds, [0, 1, 0]);
    // Its own ingest command, its own volume; the fixtures went to the first.
    let volumes: BTreeSet<u32> = content
        .chunks
        .iter()
        .map(|(id, _)| chunks.volume_of(id))
        .collect();
    assert_eq!(volumes, BTreeSet::from([2]));
    assert_eq!(content.size as usize, large_file().len());
    // Identical bytes are stored once: 12 items, 11 distinct contents.
    assert_eq!(contents.len(), 11);
}

/// FORMAT.md "Volumes": a volume takes 8 packs, a pack is written once it holds 1 MiB,
/// each ingest command that stores a new chunk starts a new volume, numbers
/// run from 1, and a chunk already located is never stored again.
#[test]
fn volumes_fill_to_8_packs_and_each_ingest_starts_its_own() {
    let env = Env::with_case();
    let ingest = |path: &Path, status: &str| {
        let report = env.json(&["ingest", "--case", "BY-2024-017", path.to_str().unwrap()]);
        assert_eq!(report["items"][0]["status"], status, "{report}");
    };
    // 10 MiB and 100 bytes of noise: 11 chunks, stored raw (records of 6 + 1 MiB bytes).
    let big = util::noise(11, 10 * CHUNK_SIZE + 100);
    let big_path = env.path("in/big.bin");
    util::write(&big_path, &big);
    ingest(&big_path, "new");
    // A small new file: a new ingest, a new volume.
    let small = b"one more page of the protocol".to_vec();
    let small_path = env.path("in/small.txt");
    util::write(&small_path, &small);
    ingest(&small_path, "new");
    // The same bytes again, into a new case: nothing new is stored, no volume is made.
    env.ok(&["case", "create", SECOND_CASE, "--title", "second"]);
    let report = env.json(&["ingest", "--case", SECOND_CASE, big_path.to_str().unwrap()]);
    assert_eq!(report["items"][0]["status"], "duplicate");
    // The first MiB of the big file and a new tail: only the tail is stored.
    let mut mixed = big[..CHUNK_SIZE].to_vec();
    mixed.extend(util::noise(12, 1000));
    let mixed_path = env.path("in/mixed.bin");
    util::write(&mixed_path, &mixed);
    ingest(&mixed_path, "new");
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");

    let db = env.sled();
    let contents = tree_map(&db, "contents");
    let chunk_ids = |bytes: &[u8]| -> Vec<Vec<u8>> {
        let content = decode_content(&contents[blake3::hash(bytes).as_bytes().as_slice()]);
        content.chunks.iter().map(|(id, _)| id.to_vec()).collect()
    };
    let (big_ids, small_ids, mixed_ids) = (chunk_ids(&big), chunk_ids(&small), chunk_ids(&mixed));
    assert_eq!(big_ids.len(), 11);
    assert_eq!(
        mixed_ids[0], big_ids[0],
        "the same first MiB, the same chunk"
    );

    let mut store = ChunkStore::new(&env.archive, &db);
    let volumes = store.all_volumes();
    let held = |n: u32| -> BTreeSet<Vec<u8>> { volumes[&n].keys().cloned().collect() };
    assert_eq!(
        volumes.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "numbered from 1, one per ingest that stored a chunk, one more when the first filled"
    );
    assert_eq!(
        held(1),
        big_ids[..8].iter().cloned().collect(),
        "volume 1: chunks 1 to 8"
    );
    assert_eq!(
        held(2),
        big_ids[8..].iter().cloned().collect(),
        "volume 2: the rest"
    );
    assert_eq!(held(3), small_ids.into_iter().collect());
    assert_eq!(
        held(4),
        BTreeSet::from([mixed_ids[1].clone()]),
        "only the new chunk"
    );

    // A 1 MiB chunk fills a pack on its own, and a volume takes 8 packs, numbered from 0.
    let packs = store.packs(1);
    assert_eq!(packs.len() as u64, PACKS_PER_VOLUME);
    for (n, (key, pack)) in packs.iter().enumerate() {
        assert_eq!(
            key,
            &(n as u32).to_be_bytes().to_vec(),
            "pack numbers, u32 BE"
        );
        let entries = decode_pack(pack);
        assert_eq!(entries.len(), 1, "pack {n}");
        assert_eq!(entries[0].1, big_ids[n], "pack {n} holds chunk {n}");
        assert!(pack.len() >= PACK_BYTES);
        assert_eq!(
            store.location(&big_ids[n]),
            Location::Packed(1, n as u32, 1),
            "the first entry starts after the version byte"
        );
    }
    assert_eq!(store.packs(2).len(), 3);
    for id in big_ids.iter().chain(&mixed_ids) {
        let n = store.volume_of(id);
        assert!(
            volumes[&n].contains_key(id),
            "chunk_volumes names the volume holding it"
        );
    }
    // Back from the volumes, by hand.
    let mut whole = Vec::new();
    for id in &big_ids {
        whole.extend(decode_chunk(id, &store.record(id)).1);
    }
    assert!(whole == big, "the big file, byte for byte");
}

/// FORMAT.md "Packs": the chunks of small files share a pack, in the order they were
/// stored, each entry behind its chunk id and length; the pack is written when the batch
/// is committed, full or not.
#[test]
fn small_files_share_one_pack_in_order() {
    let env = Env::with_case();
    let files: Vec<Vec<u8>> = (0..3)
        .map(|i| util::noise(30 + i, 1000 + i as usize))
        .collect();
    for (i, bytes) in files.iter().enumerate() {
        util::write(&env.path(&format!("in/f{i}.bin")), bytes);
    }
    env.json(&[
        "ingest",
        "--case",
        "BY-2024-017",
        env.path("in").to_str().unwrap(),
    ]);
    let db = env.sled();
    let mut store = ChunkStore::new(&env.archive, &db);
    assert_eq!(store.volume_numbers(), [1]);
    let packs = store.packs(1);
    assert_eq!(packs.len(), 1, "one pack");
    let entries = decode_pack(&packs[&0u32.to_be_bytes().to_vec()]);
    let ids: Vec<Vec<u8>> = files
        .iter()
        .map(|f| blake3::hash(f).as_bytes().to_vec())
        .collect();
    assert_eq!(entries.iter().map(|e| e.1.clone()).collect::<Vec<_>>(), ids);
    let mut at = 1;
    for ((offset, id, record), bytes) in entries.iter().zip(&files) {
        assert_eq!(*offset, at);
        assert_eq!(store.location(id), Location::Packed(1, 0, at));
        assert_eq!(decode_chunk(id, record).1, *bytes);
        at += 36 + record.len() as u32;
    }
}

/// FORMAT.md "Compression", at its edges: under 64 bytes raw; a chunk over 128 KiB whose
/// first 64 KiB do not compress is raw even if the whole would; at 128 KiB there is no probe.
#[test]
fn compression_follows_the_documented_rule_and_probe() {
    let env = Env::with_case();
    let text = |len: usize| {
        let mut t = b"Protocol of the hearing, page ".repeat(len / 30 + 1);
        t.truncate(len);
        t
    };
    let head_noise = |len: usize| {
        let mut b = util::noise(21, PROBE);
        b.extend(text(len - PROBE));
        b
    };
    let cases: [(&str, Vec<u8>, u8); 4] = [
        ("tiny.txt", text(63), 0),
        ("probe-says-raw.bin", head_noise(CHUNK_SIZE), 0),
        ("no-probe.bin", head_noise(2 * PROBE), 1),
        ("text.txt", text(CHUNK_SIZE), 1),
    ];
    // The whole of the second would have compressed: only the probe keeps it raw.
    let whole = zstd::bulk::compress(&cases[1].1, ZSTD_LEVEL).unwrap();
    assert!(whole.len() < CHUNK_SIZE / 2);
    for (name, bytes, _) in &cases {
        util::write(&env.path(&format!("in/{name}")), bytes);
    }
    env.json(&[
        "ingest",
        "--case",
        "BY-2024-017",
        env.path("in").to_str().unwrap(),
    ]);

    let db = env.sled();
    let contents = tree_map(&db, "contents");
    let mut store = ChunkStore::new(&env.archive, &db);
    for (name, bytes, want) in &cases {
        let content = decode_content(&contents[blake3::hash(bytes).as_bytes().as_slice()]);
        assert_eq!(content.chunks.len(), 1, "{name}");
        let id = content.chunks[0].0;
        let record = store.record(&id);
        let (compression, raw) = decode_chunk(&id, &record);
        assert_eq!(&raw, bytes);
        assert_eq!(compression, *want, "{name}");
        assert_eq!(compression, u8::from(stored_as_zstd(bytes)), "{name}");
    }
}

#[test]
fn every_stored_value_starts_as_format_md_says() {
    let s = Scenario::build();
    let db = s.db();
    // Every tree of the index database, every volume: every value starts with version byte
    // 1, but for chunk locations, which are packed (version 2) in a format-2 archive.
    for tree in TREES {
        let want = if tree == "chunk_volumes" {
            2
        } else {
            RECORD_VERSION
        };
        for (key, value) in tree_map(&db, tree) {
            assert_eq!(
                value.first(),
                Some(&want),
                "{tree}/{}: version byte",
                hex::encode(&key)
            );
        }
    }
    let mut store = ChunkStore::new(&s.env.archive, &db);
    let volumes = store.all_volumes();
    assert_eq!(volumes.len(), 2);
    for (number, records) in &volumes {
        assert!(!records.is_empty());
        for (id, record) in records {
            assert_eq!(
                record.first(),
                Some(&RECORD_VERSION),
                "volume {number}: chunk record"
            );
            decode_chunk(id, record);
        }
    }
    for (id, location) in &store.locations {
        assert_eq!(id.len(), 32, "chunk_volumes is keyed by chunk id");
        assert_eq!(
            location.len(),
            13,
            "02 ‖ volume ‖ pack ‖ offset, u32 LE each"
        );
        assert!(volumes.contains_key(&decode_location(location).volume()));
    }
    let items = tree_map(&db, "items");
    let mut seen = BTreeSet::new();
    for (key, value) in tree_map(&db, "index") {
        seen.insert(key[0]);
        match key[0] {
            b'c' => {
                decode_link(&value);
            }
            b'i' | b'h' | b't' | b'p' | b'e' => assert_eq!(value, [RECORD_VERSION], "marker"),
            // Records too: an EvidenceId (u64 LE) and an EventDigest ([32]).
            b'k' => {
                assert_eq!(value.len(), 9, "01 ‖ item u64 LE");
                let item = decode_u64("index k", &value);
                assert!(items.contains_key(be(item).as_slice()), "k names an item");
            }
            b'H' => {
                assert_eq!(value.len(), 33, "01 ‖ digest [32]");
                let mut r = Rec::new("index H", &value);
                r.digest();
                r.end();
            }
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
        let value = &index[&key];
        assert_eq!(value[0], RECORD_VERSION, "H entry of {id}: version byte");
        assert_eq!(hex::encode(&value[1..]), *digest, "H entry of {id}");
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
    // A `k` value: the record of an EvidenceId, 01 ‖ u64 LE.
    let k_value = |id: u64| [&[RECORD_VERSION][..], &id.to_le_bytes()].concat();
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
            let mut head = vec![RECORD_VERSION];
            head.extend(Sha256::digest(bytes));
            want.insert(key(&[b"H", &be(*id)]), head);
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
                want.insert(key(&[b"k", case, &[0], &item.blake3]), k_value(id));
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
                    .or_insert(k_value(id));
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
                    k_value(ids[0])
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
// Bundles: the scenario's export, file by file, against the archive it came from.

/// A manifest line as FORMAT.md gives it: hex, two spaces, the path with `%`, CR and LF
/// percent-encoded.
fn manifest_line(hex: &str, path: &str) -> String {
    let path = path
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    format!("{hex}  {path}\n")
}

/// A manifest's digest function: bytes to lower-case hex.
type Digester = fn(&[u8]) -> String;

fn pretty_json(bytes: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(bytes).unwrap();
    let mut want = serde_json::to_vec_pretty(&value).unwrap();
    want.push(b'\n');
    assert_eq!(
        bytes,
        want.as_slice(),
        "pretty-printed, keys sorted, a final newline"
    );
    value
}

#[test]
fn the_bundle_is_laid_out_as_format_md_says() {
    let s = Scenario::build();
    let db = s.db();
    let log = events(&db);
    let meta = decode_meta(&tree_map(&db, "meta")[&b"archive"[..]]);
    let items = tree_map(&db, "items");
    let index = tree_map(&db, "index");
    let case = decode_case(&tree_map(&db, "cases")[SECOND_CASE.as_bytes()]);
    let bag = s.env.path("bundle-018");
    let files: BTreeMap<String, Vec<u8>> = walk(&bag)
        .into_iter()
        .map(|(p, b)| {
            (
                p.strip_prefix(&bag).unwrap().to_str().unwrap().to_owned(),
                b,
            )
        })
        .collect();

    // The export event names every item of the case (its `c` entries), in number order.
    let (export_seq, export_bytes, export) = log
        .iter()
        .find(|(_, _, e)| e["action"] == "export")
        .unwrap();
    let exported: Vec<u64> = export["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| ev_number(l["id"].as_str().unwrap()))
        .collect();
    let prefix = [&b"c"[..], SECOND_CASE.as_bytes(), &[0]].concat();
    let in_case: Vec<u64> = index
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .map(|k| u64::from_be_bytes(k[prefix.len()..].try_into().unwrap()))
        .collect();
    assert_eq!(exported, in_case);
    let exported_items: Vec<Item> = exported
        .iter()
        .map(|n| decode_item(&items[be(*n).as_slice()]))
        .collect();

    // The layout: the seven tag files, the four metadata files, one file per item.
    let evidence_rel = |item: &Item| {
        format!(
            "data/evidence/{}/{}",
            ev(item.id),
            String::from_utf8(item.name.clone()).unwrap()
        )
    };
    let mut want: BTreeSet<String> = BUNDLE_FILES.iter().map(|f| f.to_string()).collect();
    want.extend(exported_items.iter().map(evidence_rel));
    assert_eq!(files.keys().cloned().collect::<BTreeSet<_>>(), want);
    for item in &exported_items {
        let bytes = &files[&evidence_rel(item)];
        assert_eq!(
            blake3::hash(bytes).as_bytes(),
            &item.blake3,
            "{}",
            ev(item.id)
        );
        assert_eq!(<[u8; 32]>::from(Sha256::digest(bytes)), item.sha256);
    }
    assert_eq!(
        files["bagit.txt"],
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    );

    // custody.jsonl: the exact bytes of every event naming an exported item, in log order,
    // the export event last; each item's lines chain from its ingest to the export.
    let names_exported = |e: &Value| {
        e["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| exported.contains(&ev_number(l["id"].as_str().unwrap())))
    };
    let mut want_custody = Vec::new();
    for (_, bytes, _) in log.iter().filter(|(_, _, e)| names_exported(e)) {
        want_custody.extend(bytes);
        want_custody.push(b'\n');
    }
    assert_eq!(files["data/custody.jsonl"], want_custody);
    let lines: Vec<&[u8]> = want_custody[..want_custody.len() - 1]
        .split(|b| *b == b'\n')
        .collect();
    assert_eq!(
        *lines.last().unwrap(),
        export_bytes.as_slice(),
        "the export is the last line"
    );
    for id in &exported {
        let mut prev = Value::Null;
        let mut actions = Vec::new();
        for line in &lines {
            let e: Value = serde_json::from_slice(line).unwrap();
            if let Some(link) = e["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["id"] == ev(*id))
            {
                assert_eq!(link["prev"], prev, "{}: item chain", ev(*id));
                prev = Value::String(sha256_hex(line));
                actions.push(e["action"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(actions.first().map(String::as_str), Some("ingest"));
        assert_eq!(actions.last().map(String::as_str), Some("export"));
    }

    // bag-info.txt: `Label: value` lines in the documented order (no --organization or
    // --contact were given).
    let info: Vec<(String, String)> = String::from_utf8(files["bag-info.txt"].clone())
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let labels: Vec<&str> = info.iter().map(|(k, _)| k.as_str()).collect();
    let want_labels: Vec<&str> = BAG_INFO_LABELS
        .into_iter()
        .filter(|l| !["Source-Organization", "Contact-Name"].contains(l))
        .collect();
    assert_eq!(labels, want_labels);
    let field = |k: &str| info.iter().find(|(l, _)| l == k).unwrap().1.clone();
    let payload: Vec<(&String, &Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("data/"))
        .collect();
    let payload_bytes: usize = payload.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(
        field("Payload-Oxum"),
        format!("{payload_bytes}.{}", payload.len())
    );
    let date = field("Bagging-Date");
    assert!(
        date.len() == 10
            && date.char_indices().all(|(i, c)| if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }),
        "{date}"
    );
    assert_eq!(field("External-Identifier"), SECOND_CASE);
    assert_eq!(field("External-Description"), case.title);
    assert_eq!(field("Bag-Software-Agent"), meta.tool);
    assert_eq!(field("Custodia-Archive-Id"), meta.archive_id);
    assert_eq!(field("Custodia-Export-Event"), export_seq.to_string());
    assert_eq!(field("Custodia-Custody-Head"), sha256_hex(export_bytes));

    // The manifests: every payload file in path order; the tag manifests: five tag files.
    let sha512 = |b: &[u8]| hex::encode(sha2::Sha512::digest(b));
    let b3 = |b: &[u8]| blake3::hash(b).to_hex().to_string();
    let algorithms: [(&str, Digester); 3] =
        [("sha256", sha256_hex), ("sha512", sha512), ("blake3", b3)];
    for (name, digest) in algorithms {
        let want: String = payload
            .iter()
            .map(|(path, bytes)| manifest_line(&digest(bytes), path))
            .collect();
        assert_eq!(
            String::from_utf8(files[&format!("manifest-{name}.txt")].clone()).unwrap(),
            want,
            "manifest-{name}.txt"
        );
    }
    let tag_files = [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "manifest-blake3.txt",
    ];
    for (name, digest) in &algorithms[..2] {
        let want: String = tag_files
            .iter()
            .map(|t| manifest_line(&digest(&files[*t]), t))
            .collect();
        assert_eq!(
            String::from_utf8(files[&format!("tagmanifest-{name}.txt")].clone()).unwrap(),
            want,
            "tagmanifest-{name}.txt"
        );
    }

    // The export and seal events in the archive.
    let d = &export["details"];
    let item_bytes: u64 = exported_items.iter().map(|i| i.size).sum();
    assert_eq!(
        [
            &d["bundle"],
            &d["items"],
            &d["bytes"],
            &d["organization"],
            &d["contact"]
        ],
        [
            &Value::from("bundle-018"),
            &Value::from(exported.len()),
            &Value::from(item_bytes),
            &Value::Null,
            &Value::Null
        ]
    );
    let (seal_seq, _, seal) = log.iter().find(|(_, _, e)| e["action"] == "seal").unwrap();
    assert_eq!(*seal_seq, export_seq + 1);
    let details: Vec<&str> = seal["details"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(details, SEAL_DETAILS);
    let d = &seal["details"];
    assert_eq!(d["export_event"], *export_seq);
    assert_eq!(d["bundle"], "bundle-018");
    assert_eq!(
        d["tagmanifest_sha256"],
        sha256_hex(&files["tagmanifest-sha256.txt"])
    );
    assert_eq!(d["items"], exported.len());
    assert_eq!(d["bytes"], payload_bytes, "the Payload-Oxum bytes");

    // data/case.json and data/evidence.json, from the records.
    let case_json = pretty_json(&files["data/case.json"]);
    assert_eq!(
        case_json,
        serde_json::json!({
            "id": SECOND_CASE,
            "title": case.title,
            "description": case.description,
            "created_at": case.created_at,
            "created_by": case.actor,
            "archive_id": meta.archive_id,
            "exported_items": exported.iter().map(|n| ev(*n)).collect::<Vec<_>>(),
        })
    );
    let evidence = pretty_json(&files["data/evidence.json"]);
    assert_eq!(evidence["case"], SECOND_CASE);
    let listed = evidence["items"].as_array().unwrap();
    assert_eq!(listed.len(), exported_items.len());
    for (item, got) in exported_items.iter().zip(listed) {
        let keys: Vec<&str> = got
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, EVIDENCE_FIELDS);
        let i_prefix = [&b"i"[..], &be(item.id)].concat();
        let cases: Vec<String> = index
            .keys()
            .filter(|k| k.starts_with(&i_prefix))
            .map(|k| String::from_utf8(k[i_prefix.len()..].to_vec()).unwrap())
            .collect();
        let p_prefix = [&b"p"[..], &be(item.id)].concat();
        let attachments: Vec<String> = index
            .keys()
            .filter(|k| k.starts_with(&p_prefix))
            .map(|k| ev(u64::from_be_bytes(k[p_prefix.len()..].try_into().unwrap())))
            .collect();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let want = serde_json::json!({
            "id": ev(item.id),
            "file": evidence_rel(item),
            "blake3": hex::encode(item.blake3),
            "sha256": hex::encode(item.sha256),
            "sha512": sha512(&files[&evidence_rel(item)]),
            "size": item.size,
            "name": text(&item.name),
            "name_hex": hex::encode(&item.name),
            "path": text(&item.path),
            "path_hex": hex::encode(&item.path),
            "source": item.source,
            "note": item.note,
            "tags": item.tags,
            "captured_at": item.captured_at,
            "modified_at": item.modified_at,
            "ingested_at": item.ingested_at,
            "ingested_by": item.actor,
            "parent": item.parent.map(ev),
            "attachments": attachments,
            "cases": cases,
        });
        assert_eq!(got, &want, "{}", ev(item.id));
    }
    assert!(
        listed
            .iter()
            .any(|i| i["cases"].as_array().unwrap().len() == 2),
        "a linked item lists both its cases"
    );
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
        P::RecordAltered,
        P::IndexDangling,
        P::ChainBroken,
        P::ItemChainBroken,
        P::HeadMismatch,
        P::BagInvalid,
        P::FileMissing,
        P::FileUnlisted,
        P::FileMismatch,
        P::PathUnsafe,
        P::MetadataMismatch,
    ];
    // No wildcard: a new kind does not compile until it is listed above (and documented).
    for k in kinds {
        match k {
            P::DatabaseUnreadable
            | P::RecordUnreadable
            | P::ContentDamaged
            | P::ContentMissing
            | P::ItemInconsistent
            | P::RecordAltered
            | P::IndexDangling
            | P::ChainBroken
            | P::ItemChainBroken
            | P::HeadMismatch
            | P::BagInvalid
            | P::FileMissing
            | P::FileUnlisted
            | P::FileMismatch
            | P::PathUnsafe
            | P::MetadataMismatch => {}
        }
    }
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
    for a in actions {
        match a {
            A::Init
            | A::CaseCreate
            | A::Ingest
            | A::Acquire
            | A::Link
            | A::Extract
            | A::Export
            | A::Seal
            | A::Verify
            | A::Import => {}
        }
    }
    let words = TREES
        .iter()
        .chain(&EVENT_FIELDS)
        .chain(&BUNDLE_FILES)
        .chain(&BAG_INFO_LABELS)
        .chain(&EVIDENCE_FIELDS)
        .chain(&SEAL_DETAILS)
        .copied()
        .chain([VOLUME_TREE, PACK_TREE, "volumes/"])
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
        FORMAT,
        "a new format needs a new FORMAT.md section"
    );
    assert_eq!(custodia::codec::RECORD_VERSION, RECORD_VERSION);
    assert_eq!(custodia::store::CHUNK_SIZE, CHUNK_SIZE);
    assert_eq!(custodia::store::MAX_CHUNK, MAX_CHUNK);
    assert_eq!(custodia::store::VOLUME_BYTES, VOLUME_BYTES);
    assert_eq!(custodia::store::VOLUME_TREE, VOLUME_TREE);
    assert_eq!(custodia::store::PACK_TREE, PACK_TREE);
    assert_eq!(custodia::store::PACK_BYTES, PACK_BYTES);
    assert_eq!(custodia::store::PACKS_PER_VOLUME, PACKS_PER_VOLUME);
    assert_eq!(custodia::store::VOLUMES_DIR, VOLUMES_DIR);
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

// ---------------------------------------------------------------------------------------
// Format 1: archives made before packs (fixtures/archive-format1.tar.gz, made by the
// release that wrote format 1; see fixtures/README.md).

/// `multichunk.txt` of the format-1 fixture, made the way fixtures/README.md says.
fn format1_multichunk() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < 2_621_440 + 777 {
        out.extend(
            format!("format one fixture: a multi-chunk compressible file, line {i:07}\n").bytes(),
        );
        i += 1;
    }
    out
}

fn unpack_format1(env: &Env) {
    let tarball = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/archive-format1.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(env.dir.path())
        .status()
        .expect("run tar");
    assert!(status.success());
    std::fs::rename(env.path("archive-format1"), &env.archive).unwrap();
}

/// A format-1 archive verifies, gives back every byte, takes new evidence and stays in
/// format 1: one record per chunk under its id, `[1][volume]` locations, no packs.
#[test]
fn a_format_1_archive_is_read_written_and_kept_in_format_1() {
    let env = Env::new();
    unpack_format1(&env);
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");
    assert_eq!(verdict["checked"]["items"], 11, "{verdict}");

    let big = format1_multichunk();
    let out = env.path("multichunk.out");
    env.ok(&["extract", "EV-000011", "--out", out.to_str().unwrap()]);
    assert!(
        std::fs::read(&out).unwrap() == big,
        "the multi-chunk file, byte for byte"
    );
    let ruling = util::fixtures().join("documents/court-ruling.pdf");
    let out = env.path("ruling.out");
    env.ok(&["extract", "EV-000001", "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(ruling).unwrap());

    // New evidence, large and small, goes in the format-1 way.
    let new_big = util::noise(41, CHUNK_SIZE + 5000);
    let new_small = util::noise(42, 700);
    util::write(&env.path("in/new-big.bin"), &new_big);
    util::write(&env.path("in/new-small.bin"), &new_small);
    let report = env.ingest(&[&env.path("in")]);
    assert_eq!(
        report["items"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");

    let format = std::fs::read_to_string(env.archive.join("FORMAT")).unwrap();
    assert_eq!(format, "custodia archive\nformat 1\n");
    let db = env.sled();
    assert_eq!(
        decode_meta(&tree_map(&db, "meta")[&b"archive"[..]]).format,
        1
    );
    let mut store = ChunkStore::new(&env.archive, &db);
    for (id, location) in store.locations.clone() {
        assert_eq!(location.len(), 5, "01 ‖ volume u32 LE");
        assert!(matches!(decode_location(&location), Location::Record(_)));
        assert!(decode_chunk(&id, &store.record(&id)).0 <= 1);
    }
    for number in store.volume_numbers() {
        let names: Vec<Vec<u8>> = store
            .volume(number)
            .tree_names()
            .iter()
            .map(|n| n.to_vec())
            .collect();
        assert!(
            !names.contains(&PACK_TREE.as_bytes().to_vec()),
            "volume {number} has no packs"
        );
    }
    let contents = tree_map(&db, "contents");
    for bytes in [&new_big, &new_small, &big] {
        let content = decode_content(&contents[blake3::hash(bytes).as_bytes().as_slice()]);
        let whole: Vec<u8> = content
            .chunks
            .iter()
            .flat_map(|(id, _)| decode_chunk(id, &store.record(id)).1)
            .collect();
        assert!(whole == *bytes, "read back by hand from format-1 volumes");
    }
}
