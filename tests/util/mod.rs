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
        c.arg("--archive").arg(&self.archive).env("CUSTODIA_ACTOR", "tester").env_remove("CUSTODIA_ARCHIVE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run custodia")
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "custodia {args:?} failed:\nstdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs with --json, asserts exit 0, parses the one JSON document on stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout of {args:?} is not one JSON document ({e}):\n{out}"))
    }

    /// Runs and asserts the given exit code; returns (stdout, stderr).
    pub fn fails(&self, args: &[&str], code: i32) -> (String, String) {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "custodia {args:?}: expected exit {code}\nstdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
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
        let mut args: Vec<String> = vec!["--json".into(), "ingest".into(), "--case".into(), "BY-2024-017".into()];
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
    let mut xof = blake3::Hasher::new().update(&seed.to_le_bytes()).finalize_xof();
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
