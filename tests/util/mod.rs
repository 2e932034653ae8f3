//! Test helpers: a temp archive, the binary runner, typed JSON output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The fixture case shipped in `fixtures/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/case-BY-2024-017")
}

/// A temp dir with an archive path inside it (not created until `init`).
pub struct Env {
    pub dir: TempDir,
    pub archive: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let archive = dir.path().join("archive");
        Env { dir, archive }
    }

    /// A new, initialised archive with one case, BY-2024-017.
    pub fn with_case() -> Self {
        let env = Env::new();
        env.ok(&["init"]);
        env.ok(&["case", "create", "BY-2024-017", "--title", "Test case"]);
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A command on this archive, as actor "tester".
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_custodia"));
        c.arg("--archive")
            .arg(&self.archive)
            .env("CUSTODIA_ACTOR", "tester")
            .env_remove("CUSTODIA_ARCHIVE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run custodia")
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "custodia {args:?} failed:\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs with --json, asserts exit 0, parses the one JSON document on stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("stdout of {args:?} is not one JSON document ({e}):\n{out}"))
    }

    /// Runs and asserts the given exit code; returns (stdout, stderr).
    pub fn fails(&self, args: &[&str], code: i32) -> (String, String) {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "custodia {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        (text(&out.stdout), text(&out.stderr))
    }

    /// `verify --json`, whatever its exit code, with the code.
    pub fn verify(&self) -> (i32, Value) {
        let out = self.run(&["--json", "verify"]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v)
    }

    /// Ingests paths into BY-2024-017 and returns the JSON report.
    pub fn ingest(&self, paths: &[&Path]) -> Value {
        let mut args: Vec<String> = vec![
            "--json".into(),
            "ingest".into(),
            "--case".into(),
            "BY-2024-017".into(),
        ];
        args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.ok(&refs);
        serde_json::from_str(&out).expect("ingest JSON")
    }

    /// Opens the archive's sled database directly (no custodia running), as a tamperer would.
    pub fn sled(&self) -> sled::Db {
        sled::open(self.archive.join("db")).expect("open sled directly")
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes a file, creating parent dirs.
pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}

/// Deterministic incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut xof = blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof();
    xof.fill(&mut out);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

// ---------------------------------------------------------------------------
// Helpers of tests/cli.rs: the fixture case as a user ingests it, refusals, spawning.

/// One known-answer vector of `fixtures/vectors.json` (hashes computed by other tools).
#[derive(Clone, Debug)]
pub struct FixtureVector {
    /// Relative to `fixtures/case-BY-2024-017/`, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub blake3: String,
}

/// Every file vector of `fixtures/vectors.json`.
pub fn fixture_vectors() -> Vec<FixtureVector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).expect("read vectors.json"))
        .expect("vectors.json is JSON");
    let field = |f: &Value, k: &str| {
        f[k].as_str()
            .unwrap_or_else(|| panic!("vectors.json: {k} missing"))
            .to_owned()
    };
    doc["files"]
        .as_array()
        .expect("vectors.json: files")
        .iter()
        .map(|f| FixtureVector {
            path: field(f, "path"),
            size: f["size"].as_u64().expect("vectors.json: size"),
            sha256: field(f, "sha256"),
            blake3: field(f, "blake3"),
        })
        .collect()
}

/// The fixture paths ingested as evidence of their own: everything but the e-mail's attachments.
pub const FIXTURE_TOP_LEVEL: [&str; 5] = [
    "documents",
    "photos",
    "testimonies",
    "empty.txt",
    "email/message.eml",
];
pub const FIXTURE_ATTACHMENTS: &str = "email/attachments";
pub const FIXTURE_SOURCE: &str = "Witness W-01, USB stick handed over in person";
pub const FIXTURE_NOTE: &str = "Copied at the field office; stick returned";
pub const FIXTURE_CAPTURED_AT: &str = "2024-03-02T14:05:00Z";

/// A path argument as text (test paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A fixture path relative to the fixture case (`email/message.eml`), from an ingest report's path.
pub fn fixture_rel(reported: &str) -> String {
    let base = fixtures();
    Path::new(reported)
        .strip_prefix(&base)
        .unwrap_or_else(|_| panic!("{reported} is not under {}", base.display()))
        .to_str()
        .expect("UTF-8")
        .to_owned()
}

/// The JSON documents in a text, in order (a `--json` run must print exactly one).
pub fn json_documents(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not a sequence of JSON documents ({e}):\n{text}"))
}

/// Asserts a failure message is one sentence on one line, prefixed `custodia: `, and no panic.
pub fn assert_one_sentence(stderr: &str) {
    assert!(!stderr.contains("panicked"), "custodia panicked:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{stderr}"
    );
    assert!(
        lines[0].starts_with("custodia: "),
        "stderr must start with \"custodia: \":\n{stderr}"
    );
    assert!(
        lines[0].len() > "custodia: ".len() + 10,
        "stderr says too little:\n{stderr}"
    );
}

impl Env {
    /// A `std::process::Command` on this archive as actor "tester", for spawning in the background.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_custodia"));
        c.arg("--archive")
            .arg(&self.archive)
            .env("CUSTODIA_ACTOR", "tester")
            .env_remove("CUSTODIA_ARCHIVE");
        c
    }

    /// What the read-only commands show of an archive: custody log, items, cases, and the HEAD file.
    pub fn observed_state(&self) -> Value {
        serde_json::json!({
            "log": self.json(&["log"]),
            "list": self.json(&["list"]),
            "cases": self.json(&["case", "list"]),
            "head": std::fs::read_to_string(self.archive.join("HEAD")).ok(),
        })
    }

    /// Runs a command that must be refused with `code`: nothing on stdout, no panic, and (when the
    /// archive exists) nothing changed in it, as the read-only commands see it. Returns stderr.
    pub fn refused(&self, args: &[&str], code: i32) -> String {
        let is_archive = self.archive.join("FORMAT").is_file();
        let before = is_archive.then(|| self.observed_state());
        let (stdout, stderr) = self.fails(args, code);
        assert!(
            stdout.trim().is_empty(),
            "custodia {args:?} failed but printed on stdout:\n{stdout}"
        );
        assert!(
            !stderr.contains("panicked"),
            "custodia {args:?} panicked:\n{stderr}"
        );
        if let Some(before) = before {
            assert_eq!(
                self.observed_state(),
                before,
                "custodia {args:?} failed but changed the archive"
            );
        }
        stderr
    }

    /// Ingests the fixture case into BY-2024-017 as a user would: the top-level files with their
    /// context, then the e-mail's attachments with `--parent` the e-mail. Returns fixture path -> id.
    pub fn ingest_fixture_case(&self) -> std::collections::BTreeMap<String, String> {
        let fx = fixtures();
        let top: Vec<PathBuf> = FIXTURE_TOP_LEVEL.iter().map(|p| fx.join(p)).collect();
        let mut args = vec![
            "ingest",
            "--case",
            "BY-2024-017",
            "--source",
            FIXTURE_SOURCE,
            "--note",
            FIXTURE_NOTE,
            "--tag",
            "intake",
            "--tag",
            "by-2024-017",
            "--captured-at",
            FIXTURE_CAPTURED_AT,
        ];
        args.extend(top.iter().map(|p| arg(p)));
        let mut ids = std::collections::BTreeMap::new();
        let record = |ids: &mut std::collections::BTreeMap<String, String>, report: &Value| {
            for item in report["items"].as_array().expect("ingest items") {
                let rel = fixture_rel(item["path"].as_str().expect("ingest path"));
                ids.insert(rel, item["id"].as_str().expect("ingest id").to_owned());
            }
        };
        record(&mut ids, &self.json(&args));
        let parent = ids
            .get("email/message.eml")
            .cloned()
            .expect("message.eml ingested");
        let attachments = fx.join(FIXTURE_ATTACHMENTS);
        record(
            &mut ids,
            &self.json(&[
                "ingest",
                "--case",
                "BY-2024-017",
                "--parent",
                &parent,
                "--tag",
                "attachment",
                arg(&attachments),
            ]),
        );
        ids
    }
}

/// Writes `len` bytes of noise to `path` in pieces, so a large file never sits in memory whole.
/// Returns (SHA-256, BLAKE3) of what was written, in hex.
pub fn write_noise_file(path: &Path, seed: u64, len: usize) -> (String, String) {
    use std::io::Write;
    const PIECE: usize = 8 << 20;
    let mut file = std::fs::File::create(path).expect("create noise file");
    let mut sha = <sha2::Sha256 as sha2::Digest>::new();
    let mut b3 = blake3::Hasher::new();
    let mut written = 0;
    let mut n = 0;
    while written < len {
        let piece = noise(
            seed.wrapping_mul(1000).wrapping_add(n),
            PIECE.min(len - written),
        );
        file.write_all(&piece).expect("write noise file");
        sha2::Digest::update(&mut sha, &piece);
        b3.update(&piece);
        written += piece.len();
        n += 1;
    }
    file.sync_all().expect("sync noise file");
    (
        hex::encode(sha2::Digest::finalize(sha)),
        b3.finalize().to_hex().to_string(),
    )
}

/// A JSON string field, or a failed test saying what was there instead.
pub fn json_str(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {v}"))
}

/// The `items` array of a `list`, `ingest` or `case show` document.
pub fn json_items(v: &Value) -> &Vec<Value> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("expected an items array in {v}"))
}

/// The ids of the `items` of a document.
pub fn item_ids(v: &Value) -> std::collections::BTreeSet<String> {
    json_items(v)
        .iter()
        .map(|i| json_str(&i["id"]).to_owned())
        .collect()
}

/// A JSON array of strings.
pub fn json_strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| json_str(x).to_owned())
        .collect()
}

/// The `action` of each custody event in an array, in order.
pub fn event_actions(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap_or_else(|| panic!("expected an event array, got {events}"))
        .iter()
        .map(|e| json_str(&e["action"]).to_owned())
        .collect()
}

/// Custody events are listed oldest first: `seq` strictly increasing.
pub fn assert_oldest_first(events: &Value) {
    let seqs: Vec<u64> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "events not oldest first: {seqs:?}"
    );
}

/// The names in a directory.
pub fn dir_names(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Asserts no ESC, BEL or bidi override reached stdout or stderr raw (a name must not paint a terminal).
pub fn assert_no_raw_controls(what: &str, stdout: &[u8], stderr: &[u8]) {
    for (stream, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&0x07),
            "{what}: raw control bytes on {stream}:\n{}",
            text(bytes).escape_debug()
        );
        assert!(
            !text(bytes).contains('\u{202e}'),
            "{what}: a raw bidi override on {stream}"
        );
    }
}

/// Runs a command, killing it and failing the test if it has not ended within `limit`.
///
/// Both pipes are drained on their own threads while it runs: a child that writes more
/// than a pipe holds (64 KiB) must not block on a reader that is only waiting for it.
pub fn run_with_timeout(cmd: &mut std::process::Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!("custodia hung for {limit:?}; stderr:\n{}", text(&err));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

impl Env {
    /// An archive with case BY-2024-017 holding two small items; returns the first item's id.
    pub fn with_two_items() -> (Env, String) {
        let env = Env::with_case();
        write(&env.path("seed/one.txt"), b"one\n");
        write(&env.path("seed/two.txt"), b"two\n");
        let report = env.json(&["ingest", "--case", "BY-2024-017", arg(&env.path("seed"))]);
        let id = json_str(&json_items(&report)[0]["id"]).to_owned();
        (env, id)
    }
}

// ---- chunk volumes: where a stored chunk lives (docs/FORMAT.md, "Volumes") ----

/// Where a chunk's record is, from its `chunk_volumes` entry (docs/FORMAT.md, "Finding a chunk").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkAt {
    /// Format 1, `[1][volume u32 LE]`: `chunks[id]` of the volume.
    Record(u32),
    /// Format 2, `[2][volume][pack][offset]`: the entry at `offset` of `packs[pack BE]`.
    Packed { volume: u32, pack: u32, offset: u32 },
}

impl ChunkAt {
    pub fn volume(self) -> u32 {
        match self {
            ChunkAt::Record(v) | ChunkAt::Packed { volume: v, .. } => v,
        }
    }

    fn encode(self) -> Vec<u8> {
        match self {
            ChunkAt::Record(v) => [&[1u8][..], &v.to_le_bytes()].concat(),
            ChunkAt::Packed {
                volume,
                pack,
                offset,
            } => [
                &[2u8][..],
                &volume.to_le_bytes(),
                &pack.to_le_bytes(),
                &offset.to_le_bytes(),
            ]
            .concat(),
        }
    }
}

/// The entries of a pack: `[1]` then `(id [32], len u32 LE, record)` to the end.
pub fn pack_entries(pack: &[u8]) -> Vec<([u8; 32], Vec<u8>)> {
    assert_eq!(pack[0], 1, "pack version byte");
    let mut out = Vec::new();
    let mut at = 1;
    while at < pack.len() {
        let id: [u8; 32] = pack[at..at + 32].try_into().unwrap();
        let len = u32::from_le_bytes(pack[at + 32..at + 36].try_into().unwrap()) as usize;
        out.push((id, pack[at + 36..at + 36 + len].to_vec()));
        at += 36 + len;
    }
    out
}

impl Env {
    /// Where the index says a chunk is. Open only while no custodia runs.
    pub fn chunk_at(&self, chunk_id: &[u8]) -> ChunkAt {
        let db = self.sled();
        let v = db
            .open_tree("chunk_volumes")
            .expect("tree")
            .get(chunk_id)
            .expect("get")
            .expect("chunk has a location");
        close_sled(db, &self.archive.join("db"));
        let n = |i: usize| u32::from_le_bytes(v[1 + 4 * i..5 + 4 * i].try_into().unwrap());
        match (v[0], v.len()) {
            (1, 5) => ChunkAt::Record(n(0)),
            (2, 13) => ChunkAt::Packed {
                volume: n(0),
                pack: n(1),
                offset: n(2),
            },
            other => panic!("chunk location record {other:?}"),
        }
    }

    /// The volume recorded for a chunk.
    pub fn chunk_volume(&self, chunk_id: &[u8]) -> u32 {
        self.chunk_at(chunk_id).volume()
    }

    pub fn volume_dir(&self, number: u32) -> PathBuf {
        self.archive.join("volumes").join(format!("{number:06}"))
    }

    /// The sled database of one volume: `ARCHIVE/volumes/NNNNNN`.
    pub fn volume_db(&self, number: u32) -> sled::Db {
        sled::open(self.volume_dir(number)).expect("open volume")
    }

    /// A chunk's stored record, read through sled directly.
    pub fn chunk_record(&self, chunk_id: &[u8]) -> Vec<u8> {
        let at = self.chunk_at(chunk_id);
        let db = self.volume_db(at.volume());
        let record = match at {
            ChunkAt::Record(_) => db
                .open_tree("chunks")
                .unwrap()
                .get(chunk_id)
                .unwrap()
                .expect("chunk record")
                .to_vec(),
            ChunkAt::Packed { pack, offset, .. } => {
                let bytes = db
                    .open_tree("packs")
                    .unwrap()
                    .get(pack.to_be_bytes())
                    .unwrap()
                    .expect("pack");
                let at = offset as usize;
                assert_eq!(&bytes[at..at + 32], chunk_id, "the entry holds the chunk");
                let len = u32::from_le_bytes(bytes[at + 32..at + 36].try_into().unwrap()) as usize;
                bytes[at + 36..at + 36 + len].to_vec()
            }
        };
        close_sled(db, &self.volume_dir(at.volume()));
        record
    }

    /// Replaces a chunk's stored record (or, with `None`, removes it) through sled directly,
    /// as a tamperer would. In a pack the entry is rewritten (or dropped) and the locations
    /// of the entries after it in the same pack follow, so only this chunk is damaged.
    pub fn set_chunk_record(&self, chunk_id: &[u8], record: Option<&[u8]>) {
        let at = self.chunk_at(chunk_id);
        let dir = self.volume_dir(at.volume());
        let db = self.volume_db(at.volume());
        let ChunkAt::Packed { volume, pack, .. } = at else {
            let tree = db.open_tree("chunks").unwrap();
            let old = match record {
                Some(r) => tree.insert(chunk_id, r).unwrap(),
                None => tree.remove(chunk_id).unwrap(),
            };
            assert!(old.is_some(), "chunk {} was stored", hex::encode(chunk_id));
            drop(tree);
            close_sled(db, &dir);
            return;
        };
        let tree = db.open_tree("packs").unwrap();
        let bytes = tree.get(pack.to_be_bytes()).unwrap().expect("pack");
        let mut rebuilt = vec![1u8];
        let mut moved = Vec::new();
        let mut found = false;
        for (id, old) in pack_entries(&bytes) {
            let new = if id.as_slice() == chunk_id {
                found = true;
                match record {
                    Some(r) => r.to_vec(),
                    None => continue,
                }
            } else {
                old
            };
            moved.push((id, rebuilt.len() as u32));
            rebuilt.extend_from_slice(&id);
            rebuilt.extend_from_slice(&(new.len() as u32).to_le_bytes());
            rebuilt.extend_from_slice(&new);
        }
        assert!(found, "chunk {} was in its pack", hex::encode(chunk_id));
        tree.insert(pack.to_be_bytes(), rebuilt).unwrap();
        drop(tree);
        close_sled(db, &dir);
        let index = self.sled();
        let locations = index.open_tree("chunk_volumes").unwrap();
        for (id, offset) in moved {
            let at = ChunkAt::Packed {
                volume,
                pack,
                offset,
            };
            locations.insert(id, at.encode()).unwrap();
        }
        drop(locations);
        close_sled(index, &self.archive.join("db"));
    }
}

/// Flushes and closes a sled database opened directly by a test (`Env::sled`, or a volume
/// under `dir`), and waits until sled has really let go of it: its background threads keep
/// the file, and sled's lock on it, for a moment after the drop, and a custodia started
/// meanwhile would find the database locked.
pub fn close_sled(db: sled::Db, dir: &Path) {
    db.flush().expect("flush sled");
    drop(db);
    let file = dir.join("db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let probe = std::fs::File::open(&file).expect("open sled's file");
        match probe.try_lock() {
            Ok(()) => return,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("sled still holds {}: {e:?}", file.display()),
        }
    }
}

/// Starts custodia on this archive (as actor "tester") without waiting, stdout and stderr piped.
pub fn spawn(env: &Env, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_custodia"))
        .arg("--archive")
        .arg(&env.archive)
        .args(args)
        .env("CUSTODIA_ACTOR", "tester")
        .env_remove("CUSTODIA_ARCHIVE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn custodia")
}

/// Copies a directory tree (files and directories only), as an operator's backup would.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// Sets every directory under (and including) `dir` to `dirs` and every file to `files`.
pub fn chmod_tree(dir: &Path, dirs: u32, files: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dirs)).expect("chmod");
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            chmod_tree(&entry.path(), dirs, files);
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(files))
                .expect("chmod");
        }
    }
}

/// Whether the tests run as root (CI does), which may act as another user.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------
// Forging bundles (issue 10: one helper instead of a dozen copies).

/// The regular files under `dir`, relative and `/`-separated, not following links.
pub fn bag_files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("dir entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().into_string().expect("UTF-8 names");
            let kind = entry.file_type().expect("file type");
            let rel = format!("{prefix}{name}");
            if kind.is_dir() {
                walk(&entry.path(), &format!("{rel}/"), out);
            } else if kind.is_file() {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out
}

/// What a forger does after editing a bag: recomputes every payload manifest (SHA-256,
/// SHA-512, BLAKE3) from the files under data/, Payload-Oxum, and the two tag manifests, so
/// that bagit-python, `sha256sum -c` and `b3sum -c` all pass and only custodia's own checks
/// can find the edit.
pub fn reseal_bag(bag: &Path) {
    use sha2::Digest;
    let payload: Vec<(String, Vec<u8>)> = bag_files(&bag.join("data"))
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(bag.join("data").join(&rel)).expect("read payload");
            (format!("data/{rel}"), bytes)
        })
        .collect();
    let digest = |algorithm: &str, bytes: &[u8]| match algorithm {
        "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        _ => blake3_hex(bytes),
    };
    for algorithm in ["sha256", "sha512", "blake3"] {
        let manifest: String = payload
            .iter()
            .map(|(rel, bytes)| format!("{}  {rel}\n", digest(algorithm, bytes)))
            .collect();
        std::fs::write(bag.join(format!("manifest-{algorithm}.txt")), manifest)
            .expect("write manifest");
    }
    let bytes: usize = payload.iter().map(|(_, b)| b.len()).sum();
    set_payload_oxum(bag, &format!("{bytes}.{}", payload.len()));
    let tag_files = [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "manifest-blake3.txt",
    ];
    for algorithm in ["sha256", "sha512"] {
        let manifest: String = tag_files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(bag.join(f)).expect("read tag file");
                format!("{}  {f}\n", digest(algorithm, &bytes))
            })
            .collect();
        std::fs::write(bag.join(format!("tagmanifest-{algorithm}.txt")), manifest)
            .expect("write tag manifest");
    }
}

/// Replaces the value of bag-info's (first) Payload-Oxum line.
pub fn set_payload_oxum(bag: &Path, oxum: &str) {
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).expect("bag-info.txt");
    let mut done = false;
    let info: String = info
        .split_inclusive('\n')
        .map(|l| {
            if l.starts_with("Payload-Oxum:") && !done {
                done = true;
                format!("Payload-Oxum: {oxum}\n")
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(done, "bag-info.txt has no Payload-Oxum");
    std::fs::write(bag.join("bag-info.txt"), info).expect("write bag-info");
}

/// `--json verify --bundle DIR` with no archive: (exit code, report, stderr); never a panic.
pub fn verify_bundle_json(bag: &Path) -> (i32, Value, String) {
    let env = Env::new();
    let out = env.run(&["--json", "verify", "--bundle", arg(bag)]);
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "verify --bundle panicked:\n{stderr}"
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The (kind, id) pairs of a verify report's problems.
pub fn problem_pairs(report: &Value) -> std::collections::BTreeSet<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list in {report}"))
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or("").to_owned(),
                p["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Copies a bag's regular files and directories to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for rel in bag_files(from) {
        write(
            &to.join(&rel),
            &std::fs::read(from.join(&rel)).expect("read bag file"),
        );
    }
}
