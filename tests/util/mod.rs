//! Test helpers: a temp archive, the binary runner, typed JSON output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

mod bag;
mod fixture;
mod run;
mod seaweed;
mod small_disk;
mod volumes;

pub use bag::*;
pub use fixture::*;
pub use run::*;
pub use seaweed::*;
pub use small_disk::*;
pub use volumes::*;

/// The fixture case shipped in `fixtures/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/case-BY-2024-017")
}

/// Unpacks `fixtures/<tarball>` (an archive made by an earlier release, holding the one
/// directory `dir`) and moves it to the env's archive path.
pub fn unpack_fixture_archive(env: &Env, tarball: &str, dir: &str) {
    let tarball = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(tarball);
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(env.dir.path())
        .status()
        .expect("run tar");
    assert!(status.success(), "tar -xzf {}", tarball.display());
    std::fs::rename(env.path(dir), &env.archive).unwrap();
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

    /// This test's own config directory ($XDG_CONFIG_HOME), where custodia keeps the
    /// actors' default signing keys: no test touches the user's keys, nor another test's.
    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
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
            .env("XDG_CONFIG_HOME", self.config_home())
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

    /// `verify --read-only --json` (records nothing), whatever its exit code, with the code.
    pub fn verify_read_only(&self) -> (i32, Value) {
        let out = self.run(&["--json", "verify", "--read-only"]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v)
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

/// A path argument as text (test paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
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
            .env("XDG_CONFIG_HOME", self.config_home())
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

/// Every custody event as stored (seq, parsed JSON), read through sled directly.
pub fn custody_events(env: &Env) -> Vec<(u64, Value)> {
    let db = env.sled();
    let events = db
        .open_tree("custody")
        .expect("custody tree")
        .iter()
        .map(|e| {
            let (k, v) = e.expect("event");
            let seq = u64::from_be_bytes(k.as_ref().try_into().expect("seq key"));
            (seq, serde_json::from_slice(&v[1..]).expect("event JSON"))
        })
        .collect();
    close_sled(db, &env.archive.join("db"));
    events
}

/// An OpenSSH Ed25519 public key line as a PEM SubjectPublicKeyInfo, for openssl: the
/// fixed DER prefix of an Ed25519 SPKI and the 32 key bytes (the end of the key blob).
pub fn openssh_to_pem(line: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let blob = b64
        .decode(line.split_whitespace().nth(1).expect("key blob"))
        .unwrap();
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend_from_slice(&blob[blob.len() - 32..]);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64.encode(der)
    )
}
