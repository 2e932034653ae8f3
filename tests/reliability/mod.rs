//! Reliability under hostile conditions (issue 5): a disk that fills up mid-ingest, files that
//! change while they are read, hostile file names, hostile stored chunk records, and memory
//! bounded on a large file. Each test drives the real binary and checks what custodia
//! promises: the exit code, one clear message, nothing acknowledged lost, memory bounded,
//! and never a panic.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::util::{
    Env, arg, blake3_hex, json_items, json_str, noise, run_watched, run_within, sha256_hex,
    skip_outside_ci, spawn, text, write, write_noise_file,
};

mod changing_files;
mod full_disk;
mod hostile_names;
mod memory;

const CASE: &str = "BY-2024-017";
const BIN: &str = env!("CARGO_BIN_EXE_custodia");
const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Running custodia: with a time limit, and with its peak memory measured.

/// A custodia run with its peak resident memory.
struct Measured {
    out: Output,
    /// Maximum resident set size, KiB.
    peak_kib: u64,
}

impl Measured {
    fn stderr(&self) -> String {
        text(&self.out.stderr)
    }

    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn assert_peak_below(&self, mib: u64, what: &str) {
        eprintln!("{what}: peak RSS {} KiB (bound {mib} MiB)", self.peak_kib);
        assert!(
            self.peak_kib < mib * 1024,
            "{what}: peak RSS {} KiB, the bound is {mib} MiB",
            self.peak_kib
        );
        assert!(self.peak_kib > 0, "{what}: no peak RSS measured");
    }
}

/// How long a measured run may take before it counts as hung.
const MEASURED_LIMIT: Duration = Duration::from_secs(120);

/// Runs custodia on `env`'s archive with `args`, measuring its peak RSS with GNU time
/// (`/usr/bin/time -v`, which reads the kernel's own figure from wait4), or, where that is
/// not installed (never under CI, which fails instead), by polling `VmHWM` (the kernel's
/// high-water mark) in `/proc/<pid>/status`.
fn measured(env: &Env, args: &[&str]) -> Measured {
    let time = Path::new("/usr/bin/time");
    let gnu_time = time.exists();
    if !gnu_time {
        skip_outside_ci(
            "measuring peak memory with /usr/bin/time",
            "/usr/bin/time is not installed; polling VmHWM instead",
        );
    }
    let mut cmd = if gnu_time {
        let mut c = Command::new(time);
        c.arg("-v").arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    cmd.arg("--archive")
        .arg(&env.archive)
        .args(args)
        .env("CUSTODIA_ACTOR", "tester")
        .env("XDG_CONFIG_HOME", env.config_home())
        .env_remove("CUSTODIA_ARCHIVE")
        .stdin(Stdio::null());
    let mut polled = 0;
    let out = run_watched(&mut cmd, MEASURED_LIMIT, |pid| {
        if !gnu_time {
            polled = polled.max(vm_hwm_kib(pid).unwrap_or(0));
        }
    })
    .unwrap_or_else(|hung| panic!("custodia {args:?} (hung?) {hung}"));
    let (stderr, peak_kib) = if gnu_time {
        split_time_report(&text(&out.stderr))
    } else {
        (text(&out.stderr), polled)
    };
    let m = Measured {
        out: Output {
            status: out.status,
            stdout: out.stdout,
            stderr: stderr.into_bytes(),
        },
        peak_kib,
    };
    assert!(
        !m.stderr().contains("panicked"),
        "custodia {args:?} panicked:\n{}",
        m.stderr()
    );
    m
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Separates custodia's stderr from GNU time's report after it; returns (custodia's, peak KiB).
fn split_time_report(stderr: &str) -> (String, u64) {
    let peak = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in GNU time's report:\n{stderr}"));
    let own: Vec<&str> = stderr
        .lines()
        .take_while(|l| !l.starts_with("\tCommand being timed:"))
        .filter(|l| {
            !l.starts_with("Command exited with non-zero status")
                && !l.starts_with("Command terminated by signal")
        })
        .collect();
    let mut own = own.join("\n");
    if !own.is_empty() {
        own.push('\n');
    }
    (own, peak)
}

/// The one JSON document on stdout of a run.
fn stdout_json(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// The `{"error": {"kind", "message"}}` object a `--json` run prints on stderr when it fails.
fn stderr_error(stderr: &str, what: &str) -> (String, String) {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("{what}: no JSON error object on stderr:\n{stderr}"));
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{what}: the error on stderr is not JSON ({e}):\n{stderr}"));
    (
        json_str(&v["error"]["kind"]).to_owned(),
        json_str(&v["error"]["message"]).to_owned(),
    )
}

/// SHA-256 and BLAKE3 of a file, read in pieces.
fn file_hashes(path: &Path) -> (String, String) {
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut sha = <sha2::Sha256 as sha2::Digest>::new();
    let mut b3 = blake3::Hasher::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut sha, &buf[..n]);
        b3.update(&buf[..n]);
    }
    (
        hex::encode(sha2::Digest::finalize(sha)),
        b3.finalize().to_hex().to_string(),
    )
}

/// Failures gathered through a long scenario, reported together at the end: after the first
/// one, the later steps still show how far the damage went.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, ok: bool, finding: impl FnOnce() -> String) -> bool {
        if !ok {
            self.0.push(finding());
        }
        ok
    }

    fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} finding(s):\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}
