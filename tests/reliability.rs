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
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    Env, arg, blake3_hex, json_items, json_str, noise, sha256_hex, spawn, text, write,
    write_noise_file,
};

const CASE: &str = "BY-2024-017";
const BIN: &str = env!("CARGO_BIN_EXE_custodia");
const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Running custodia: with a time limit, and with its peak memory measured.

/// Collects stdout and stderr of a child in threads, so a chatty child never blocks on a full pipe.
fn drain(child: &mut std::process::Child) -> [thread::JoinHandle<Vec<u8>>; 2] {
    fn reader(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    }
    [
        reader(child.stdout.take().expect("piped stdout")),
        reader(child.stderr.take().expect("piped stderr")),
    ]
}

/// Runs a command; if it has not ended within `limit`, kills it (by its own pid) and says so.
fn run_limited(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn custodia");
    let [out, err] = drain(&mut child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = text(&err.join().unwrap_or_default());
            return Err(format!(
                "still running after {limit:?}, killed; its stderr:\n{stderr}"
            ));
        }
        thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

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
/// not installed, by polling `VmHWM` (the kernel's high-water mark) in `/proc/<pid>/status`.
fn measured(env: &Env, args: &[&str]) -> Measured {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
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
        .env_remove("CUSTODIA_ARCHIVE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn custodia");
    let [out, err] = drain(&mut child);
    let mut polled = 0;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > MEASURED_LIMIT {
            // Under GNU time, custodia is time's child: end it first, by its pid.
            let pid = child.id();
            let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
            for grandchild in children.unwrap_or_default().split_whitespace() {
                let _ = Command::new("kill").arg(grandchild).status();
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "custodia {args:?} still running after {MEASURED_LIMIT:?} (hung?), killed; stderr:\n{}",
                text(&err.join().unwrap_or_default())
            );
        }
        if !time.exists() {
            polled = polled.max(vm_hwm_kib(child.id()).unwrap_or(0));
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let (stderr, peak_kib) = if time.exists() {
        split_time_report(&text(&stderr))
    } else {
        (text(&stderr), polled)
    };
    let m = Measured {
        out: Output {
            status,
            stdout,
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

// ---------------------------------------------------------------------------------------------
// 1. Disk full

/// A small tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Result<Tmpfs, String> {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount exited with {}: {}",
                out.status,
                text(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn resize(&self, mib: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount {}: {}",
            self.dir.display(),
            text(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a killed child not reaped yet): detach it now, the kernel frees it when idle.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Writes zeros to `path` until the file system refuses: no free page is left after it.
fn fill_up(path: &Path) {
    let mut file = fs::File::create(path).expect("create filler");
    let page = [0u8; 4096];
    loop {
        match file.write(&page) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
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

/// What a disk-full scenario expects of a command: an Output within the limit, with no panic.
fn bounded(f: &mut Findings, what: &str, cmd: &mut Command) -> Option<Output> {
    const LIMIT: Duration = Duration::from_secs(20);
    match run_limited(cmd, LIMIT) {
        Ok(out) => {
            let stderr = text(&out.stderr);
            f.check(!stderr.contains("panicked"), || {
                format!("{what}: custodia panicked:\n{stderr}")
            });
            Some(out)
        }
        Err(hung) => {
            f.0.push(format!("{what}: {hung}"));
            None
        }
    }
}

/// Lists the archive; every item must have one of the known contents. Returns id -> blake3.
fn list_known(
    f: &mut Findings,
    env: &Env,
    what: &str,
    known: &BTreeMap<String, PathBuf>,
) -> Option<BTreeMap<String, String>> {
    let out = bounded(f, what, env.std_cmd().args(["--json", "list"]))?;
    if !f.check(out.status.code() == Some(0), || {
        format!(
            "{what}: `list` exit {:?}, expected 0 (the archive must still open):\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    }) {
        return None;
    }
    let listed = stdout_json(&out, what);
    let mut ids = BTreeMap::new();
    for item in json_items(&listed) {
        let b3 = json_str(&item["blake3"]).to_owned();
        f.check(known.contains_key(&b3), || {
            format!("{what}: an item with content nobody ingested: {item}")
        });
        ids.insert(json_str(&item["id"]).to_owned(), b3);
    }
    Some(ids)
}

/// Extracts every listed item to `out_dir` (outside the small disk) and compares it with its source.
fn extract_all(
    f: &mut Findings,
    env: &Env,
    what: &str,
    ids: &BTreeMap<String, String>,
    known: &BTreeMap<String, PathBuf>,
    out_dir: &Path,
) {
    fs::create_dir_all(out_dir).expect("mkdir out");
    for (id, b3) in ids {
        let target = out_dir.join(id);
        let Some(out) = bounded(
            f,
            &format!("{what}: extract {id}"),
            env.std_cmd()
                .args(["--json", "extract", id, "--out"])
                .arg(&target),
        ) else {
            continue;
        };
        if f.check(out.status.code() == Some(0), || {
            format!(
                "{what}: extract {id} exit {:?}:\n{}",
                out.status.code(),
                text(&out.stderr)
            )
        }) {
            let Some(source) = known.get(b3) else {
                continue; // list_known already reported it
            };
            f.check(file_hashes(&target) == file_hashes(source), || {
                format!(
                    "{what}: {id} extracted is not byte for byte {}",
                    source.display()
                )
            });
        }
    }
}

/// `verify --json` within the time limit: (exit code, report).
fn verify_bounded(f: &mut Findings, env: &Env, what: &str) -> Option<(Option<i32>, Value)> {
    let out = bounded(f, what, env.std_cmd().args(["--json", "verify"]))?;
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Some((out.status.code(), report))
}

#[test]
fn a_full_disk_fails_cleanly_and_loses_nothing_acknowledged() {
    let mut env = Env::new();
    let small = env.path("small");
    // Declared after `env`, so it is unmounted before the temp dir is removed.
    let disk = match Tmpfs::mount(&small, 24) {
        Ok(m) => m,
        // Under CI the full disk is always tested: a test that cannot run fails there.
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!(
                "cannot mount a tmpfs at {} under CI: {why}",
                small.display()
            )
        }
        Err(why) => {
            eprintln!(
                "SKIPPED a_full_disk_fails_cleanly_and_loses_nothing_acknowledged: cannot mount a tmpfs at {}: {why}",
                small.display()
            );
            return;
        }
    };
    env.archive = small.join("archive");
    env.ok(&["init"]);
    env.ok(&["case", "create", CASE, "--title", "A disk that fills up"]);

    // Every content the test ingests, by BLAKE3, with the file it came from (off the small disk).
    let mut known: BTreeMap<String, PathBuf> = BTreeMap::new();

    // Acknowledged first: a few small files.
    let first = env.path("first");
    for i in 0..4u64 {
        let path = first.join(format!("small-{i}.bin"));
        let bytes = noise(100 + i, 20_000 + 1000 * i as usize);
        write(&path, &bytes);
        known.insert(blake3_hex(&bytes), path);
    }
    let acked = env.ingest(&[&first]);
    let acked: BTreeMap<String, String> = json_items(&acked)
        .iter()
        .map(|i| {
            (
                json_str(&i["id"]).to_owned(),
                json_str(&i["blake3"]).to_owned(),
            )
        })
        .collect();
    assert_eq!(acked.len(), 4, "{acked:?}");
    assert!(acked.values().all(|b3| known.contains_key(b3)));

    // Space to give back later, taken before the disk fills: 4 MiB of real pages.
    let scratch = small.join("scratch");
    write(&scratch, &vec![0u8; 4 << 20]);

    // Then more than the disk holds: 6 × 8 MiB of noise (incompressible).
    let big = env.path("big");
    fs::create_dir_all(&big).unwrap();
    let mut big_contents = BTreeSet::new();
    for i in 0..6u64 {
        let path = big.join(format!("big-{i}.bin"));
        let (_, b3) = write_noise_file(&path, 200 + i, 8 << 20);
        known.insert(b3.clone(), path);
        big_contents.insert(b3);
    }

    let mut f = Findings::default();

    // With --json: exit 1 and one error object of kind no_space.
    let what = "ingest --json onto a full disk";
    if let Some(out) = bounded(
        &mut f,
        what,
        env.std_cmd()
            .args(["--json", "ingest", "--case", CASE])
            .arg(&big),
    ) {
        let stderr = text(&out.stderr);
        if f.check(out.status.code() == Some(1), || {
            format!(
                "{what}: exit {:?}, expected 1:\n{stderr}",
                out.status.code()
            )
        }) {
            let (kind, message) = stderr_error(&stderr, what);
            f.check(kind == "no_space", || {
                format!("{what}: error kind {kind:?}, expected \"no_space\": {message}")
            });
            f.check(message.to_lowercase().contains("no space"), || {
                format!("{what}: the message does not say \"no space\": {message}")
            });
        }
    }

    // Without --json, as a user retrying it: one sentence saying there is no space.
    let what = "ingest retried onto a full disk";
    if let Some(out) = bounded(
        &mut f,
        what,
        env.std_cmd().args(["ingest", "--case", CASE]).arg(&big),
    ) {
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        f.check(out.status.code() == Some(1), || {
            format!(
                "{what}: exit {:?}, expected 1:\n{stderr}",
                out.status.code()
            )
        });
        f.check(
            lines.len() == 1
                && lines[0].starts_with("custodia: ")
                && lines[0].to_lowercase().contains("no space"),
            || format!("{what}: expected one line \"custodia: ... no space ...\", got:\n{stderr}"),
        );
    }

    // Still on the full disk: the archive opens and holds every acknowledged item.
    let what = "list on the full disk";
    if let Some(ids) = list_known(&mut f, &env, what, &known) {
        for (id, b3) in &acked {
            f.check(ids.get(id) == Some(b3), || {
                format!("{what}: acknowledged {id} ({b3}) is missing: {ids:?}")
            });
        }
    }
    // A full disk is not damage: verify checks (exit 0) or says it cannot (exit 1), never exit 3.
    let what = "verify on the full disk";
    if let Some((code, report)) = verify_bounded(&mut f, &env, what) {
        f.check(code == Some(0) || code == Some(1), || {
            format!("{what}: exit {code:?}; a full disk must not be reported as damaged evidence:\n{report:#}")
        });
    }

    // Every last page taken, then what a user does next: verify again, list. Opening sled
    // writes (a snapshot, the verify event); failing to must not damage the archive.
    let filler = small.join("filler");
    fill_up(&filler);
    for round in 1..=2 {
        let what = format!("verify on a disk without one free page (round {round})");
        if let Some((code, report)) = verify_bounded(&mut f, &env, &what) {
            f.check(code == Some(0) || code == Some(1), || {
                format!("{what}: exit {code:?}; a full disk must not be reported as damaged evidence:\n{report:#}")
            });
        }
        let what = format!("list on a disk without one free page (round {round})");
        if let Some(out) = bounded(&mut f, &what, env.std_cmd().arg("list")) {
            f.check(out.status.code() != Some(3), || {
                format!(
                    "{what}: exit 3, the archive is reported damaged:\n{}",
                    text(&out.stderr)
                )
            });
        }
    }
    fs::remove_file(&filler).expect("remove filler");

    // Space given back: everything acknowledged verifies and extracts byte for byte.
    fs::remove_file(&scratch).expect("remove scratch");
    let what = "after freeing 4 MiB";
    let listed = list_known(&mut f, &env, &format!("{what}: list"), &known);
    if let Some(ids) = &listed {
        for (id, b3) in &acked {
            f.check(ids.get(id) == Some(b3), || {
                format!("{what}: acknowledged {id} ({b3}) is missing: {ids:?}")
            });
        }
    }
    if let Some((code, report)) = verify_bounded(&mut f, &env, &format!("{what}: verify")) {
        f.check(
            code == Some(0) && report["problems"] == Value::Array(vec![]),
            || format!("{what}: verify exit {code:?}, expected 0 and no problems:\n{report:#}"),
        );
    }
    if let Some(ids) = &listed {
        extract_all(&mut f, &env, what, ids, &known, &env.path("out-1"));
    }

    // A second, smaller attempt fits in the space given back.
    let second = env.path("second");
    for i in 0..2u64 {
        let path = second.join(format!("second-{i}.bin"));
        let bytes = noise(300 + i, 64 << 10);
        write(&path, &bytes);
        known.insert(blake3_hex(&bytes), path);
    }
    let what = "a second, smaller ingest after freeing space";
    if let Some(out) = bounded(
        &mut f,
        what,
        env.std_cmd()
            .args(["--json", "ingest", "--case", CASE])
            .arg(&second),
    ) && f.check(out.status.code() == Some(0), || {
        format!(
            "{what}: exit {:?}:\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    }) {
        let report = stdout_json(&out, what);
        f.check(json_items(&report).len() == 2, || {
            format!("{what}: expected 2 items:\n{report:#}")
        });
    }

    // A bigger disk: the failed ingest, retried, now succeeds and everything verifies.
    disk.resize(160);
    let what = "the big ingest retried on a bigger disk";
    if let Some(out) = bounded(
        &mut f,
        what,
        env.std_cmd()
            .args(["--json", "ingest", "--case", CASE])
            .arg(&big),
    ) && f.check(out.status.code() == Some(0), || {
        format!(
            "{what}: exit {:?}:\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    }) {
        let report = stdout_json(&out, what);
        let got: BTreeSet<String> = json_items(&report)
            .iter()
            .map(|i| json_str(&i["blake3"]).to_owned())
            .collect();
        f.check(got == big_contents, || {
            format!("{what}: expected the six big contents:\n{report:#}")
        });
    }
    let what = "at the end";
    let listed = list_known(&mut f, &env, &format!("{what}: list"), &known);
    if let Some((code, report)) = verify_bounded(&mut f, &env, &format!("{what}: verify")) {
        f.check(
            code == Some(0)
                && report["problems"] == Value::Array(vec![])
                && listed
                    .as_ref()
                    .is_some_and(|l| report["checked"]["items"] == l.len()),
            || format!("{what}: verify exit {code:?}, expected 0, no problems and every listed item checked:\n{report:#}"),
        );
    }
    if let Some(ids) = &listed {
        for (id, b3) in &acked {
            f.check(ids.get(id) == Some(b3), || {
                format!("{what}: acknowledged {id} ({b3}) is missing: {ids:?}")
            });
        }
        f.check(ids.len() == 4 + 2 + 6, || {
            format!("{what}: expected 12 items, listed {ids:?}")
        });
        extract_all(&mut f, &env, what, ids, &known, &env.path("out-2"));
    }
    drop(disk);
    f.finish();
}

// ---------------------------------------------------------------------------------------------
// 2. Files that change while they are read

#[derive(Clone, Copy, Debug)]
enum Change {
    /// Another process appends 1 MiB at a time.
    Append,
    /// Another process rewrites the first bytes in place: same size, other bytes.
    Rewrite,
}

/// Changes `path` as `change` says until `stop`; returns how many writes it made.
fn keep_changing(path: PathBuf, change: Change, stop: Arc<AtomicBool>) -> u64 {
    let piece = noise(9, MIB as usize);
    let mut file = fs::OpenOptions::new()
        .append(matches!(change, Change::Append))
        .write(true)
        .open(&path)
        .expect("open the file to change");
    let mut writes = 0u64;
    while !stop.load(Ordering::Relaxed) && writes < 256 {
        match change {
            Change::Append => {
                file.write_all(&piece).expect("append");
                thread::sleep(Duration::from_millis(10));
            }
            Change::Rewrite => {
                let at = (writes as usize * 4096) % (piece.len() - 4096);
                file.write_all_at(&piece[at..at + 4096], 0)
                    .expect("rewrite in place");
                thread::sleep(Duration::from_millis(3));
            }
        }
        writes += 1;
    }
    writes
}

/// Ingests a folder holding a file that another thread keeps changing and a still one.
/// Retries with a larger file when the ingest read it before the writer touched it; asserts
/// that the change was caught at least once, and each time it is caught, that nothing was
/// recorded for the file.
fn ingest_while_changing(change: Change) {
    let mut attempts = Vec::new();
    for attempt in 0..5u64 {
        let env = Env::with_case();
        let dir = env.path("in");
        fs::create_dir_all(&dir).unwrap();
        let moving = dir.join("moving.bin");
        let size = (64 + 32 * attempt) << 20;
        write_noise_file(&moving, 40 + attempt, size as usize);
        let still_bytes = b"a statement nobody touches\n";
        write(&dir.join("still.txt"), still_bytes);

        let child = spawn(&env, &["--json", "ingest", "--case", CASE, arg(&dir)]);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (moving, stop) = (moving.clone(), stop.clone());
            thread::spawn(move || keep_changing(moving, change, stop))
        };
        let out = child.wait_with_output().expect("wait for ingest");
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().expect("writer thread");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "ingest panicked:\n{stderr}");
        // Exit 4: the changing file was skipped (issue 9, finding 7).
        assert_eq!(out.status.code(), Some(4), "{change:?}: ingest:\n{stderr}");
        let report = stdout_json(&out, "ingest");
        let skipped: Vec<&Value> = report["skipped"]
            .as_array()
            .expect("skipped array")
            .iter()
            .filter(|s| json_str(&s["path"]).ends_with("moving.bin"))
            .collect();

        // The still file is ingested whatever happens to its neighbour.
        let items = json_items(&report);
        let still: Vec<&Value> = items
            .iter()
            .filter(|i| json_str(&i["path"]).ends_with("still.txt"))
            .collect();
        assert_eq!(
            still.len(),
            1,
            "{change:?}: still.txt ingested:\n{report:#}"
        );
        assert_eq!(still[0]["blake3"], blake3_hex(still_bytes));

        let (code, verified) = env.verify();
        assert_eq!(
            (code, &verified["problems"]),
            (0, &Value::Array(vec![])),
            "{change:?}: verify after the ingest:\n{verified:#}"
        );

        if skipped.is_empty() {
            // Raced: the read ended before the writer touched the file. Try a larger one.
            attempts.push(format!(
                "attempt {attempt} ({} MiB, {writes} writes): not caught; report:\n{report:#}",
                size >> 20
            ));
            continue;
        }
        assert_eq!(skipped.len(), 1, "{change:?}: {report:#}");
        let reason = json_str(&skipped[0]["reason"]);
        eprintln!("{change:?}: caught on attempt {attempt} after {writes} writes: {reason}");
        assert!(
            reason.contains("changed while being read"),
            "{change:?}: the reason says what happened: {reason}"
        );
        assert_eq!(
            items.len(),
            1,
            "{change:?}: only still.txt is an item:\n{report:#}"
        );
        // Nothing recorded for it: no item, no ingest event.
        let listed = env.json(&["list"]);
        let names: Vec<&str> = json_items(&listed)
            .iter()
            .map(|i| json_str(&i["name"]))
            .collect();
        assert_eq!(names, ["still.txt"], "{change:?}: list:\n{listed:#}");
        let log = env.json(&["log"]);
        let ingested: Vec<&Value> = log["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["action"] == "ingest")
            .collect();
        assert_eq!(ingested.len(), 1, "{change:?}: one ingest event:\n{log:#}");
        assert_eq!(ingested[0]["details"]["name"], "still.txt");
        assert!(
            !text(&serde_json::to_vec(&log).unwrap()).contains("moving.bin"),
            "{change:?}: the log mentions the changing file:\n{log:#}"
        );
        return;
    }
    panic!(
        "{change:?}: a file changing during its read was never caught in {} attempts:\n{}",
        attempts.len(),
        attempts.join("\n")
    );
}

#[test]
fn a_file_appended_to_while_read_is_skipped_and_leaves_no_item() {
    ingest_while_changing(Change::Append);
}

#[test]
fn a_file_rewritten_in_place_while_read_is_skipped_and_leaves_no_item() {
    ingest_while_changing(Change::Rewrite);
}

// ---------------------------------------------------------------------------------------------
// 3. Hostile names everywhere

/// File names that could paint a terminal, reorder text, hide, or pass for something else.
fn hostile_names() -> Vec<Vec<u8>> {
    let mut long = "L".repeat(251).into_bytes();
    long.extend_from_slice(b".txt");
    assert_eq!(long.len(), 255, "the longest name ext4 and tmpfs allow");
    vec![
        b"bell\x07.txt".to_vec(),
        b"\x1b[32mOK\x1b[0m".to_vec(),
        b"cr\rOK.txt".to_vec(),
        "report\u{202e}fdp.exe".as_bytes().to_vec(),
        long,
        b"\xff\xfe.txt".to_vec(),
        b"..\\..\\x".to_vec(),
        b"-rf".to_vec(),
    ]
}

/// Bidirectional formatting characters and invisible marks that can reorder or hide text.
fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Human output must be text a terminal shows as it is: valid UTF-8 (an invalid name byte is
/// escaped), no control character but the line ends, no bidi override.
fn assert_shown_safely(what: &str, out: &Output) {
    if let Err(finding) = shown_safely(what, out) {
        panic!("{finding}");
    }
}

/// What `assert_shown_safely` checks, as a finding instead of a panic.
fn shown_safely(what: &str, out: &Output) -> Result<(), String> {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let Ok(s) = std::str::from_utf8(bytes) else {
            return Err(format!(
                "{what}: {stream} is not UTF-8, a raw name byte reached it:\n{}",
                text(bytes).escape_debug()
            ));
        };
        if s.contains("panicked") {
            return Err(format!("{what} panicked:\n{s}"));
        }
        if let Some(c) = s
            .chars()
            .find(|&c| (c.is_control() && c != '\n') || is_bidi_or_invisible(c))
        {
            return Err(format!(
                "{what}: a raw {c:?} on {stream}:\n{}",
                s.escape_debug().to_string().replace("\\n", "\n")
            ));
        }
    }
    Ok(())
}

/// `src/extract.rs::is_portable_name`, restated: one path component on every common OS,
/// at most 200 bytes, no leading dot, no trailing dot or space, no reserved device name, no
/// character Windows forbids, and nothing that shows differently escaped (control and bidi
/// characters, backslash).
fn is_portable(name: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(name) else {
        return false;
    };
    let reserved = [
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "LPT1", "LPT2", "LPT3",
    ];
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && !s.ends_with(['.', ' '])
        && !reserved.contains(&stem.as_str())
        && !s.chars().any(|c| {
            matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
                || c.is_control()
                || is_bidi_or_invisible(c)
        })
}

/// Every file under a directory, as (path relative to it, bytes of its last component).
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let e = e.expect("entry");
            let kind = e.file_type().expect("file type");
            if kind.is_dir() {
                stack.push(e.path());
            } else {
                out.push((
                    e.path().strip_prefix(dir).unwrap().to_path_buf(),
                    e.file_name().as_bytes().to_vec(),
                ));
            }
        }
    }
    out
}

#[test]
fn hostile_names_are_stored_exactly_shown_escaped_and_exported_safely() {
    let env = Env::with_case();
    let dir = env.path("hostile");
    fs::create_dir_all(&dir).unwrap();
    let names = hostile_names();
    let ansi = &names[1];
    let mut contents: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let bytes = noise(500 + i as u64, 3000 + i);
        fs::write(dir.join(OsStr::from_bytes(name)), &bytes).expect("create a hostile name");
        contents.insert(name.clone(), bytes);
    }

    // Ingest, as a person at a terminal would: one line per item, every name escaped.
    let out = env.run(&["ingest", "--case", CASE, arg(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_shown_safely("ingest", &out);
    let shown = text(&out.stdout);
    assert_eq!(shown.lines().count(), names.len(), "{shown}");
    for visible in [
        "bell", "[32mOK", "cr", "fdp.exe", "LLLL", ".txt", "..", "-rf",
    ] {
        assert!(
            shown.contains(visible),
            "ingest shows {visible:?}:\n{shown}"
        );
    }

    // Stored exactly: name_hex is the hex of the very bytes, the content is the file's.
    let listed = env.json(&["list"]);
    let mut ids: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for item in json_items(&listed) {
        let name = hex::decode(json_str(&item["name_hex"])).expect("name_hex is hex");
        let bytes = contents
            .get(&name)
            .unwrap_or_else(|| panic!("a name that was not ingested: {item}"));
        assert_eq!(item["blake3"], blake3_hex(bytes), "{item}");
        assert_eq!(item["sha256"], sha256_hex(bytes), "{item}");
        if let Ok(s) = std::str::from_utf8(&name) {
            assert_eq!(item["name"], s, "a UTF-8 name is kept as it is in JSON");
        }
        ids.insert(name, json_str(&item["id"]).to_owned());
    }
    assert_eq!(ids.len(), names.len(), "{listed:#}");

    // Every human view of them.
    let mut views: Vec<Vec<String>> = vec![
        vec!["list".into()],
        vec!["log".into()],
        vec!["case".into(), "show".into(), CASE.into()],
        vec!["case".into(), "list".into()],
    ];
    for id in ids.values() {
        views.push(vec!["show".into(), id.clone()]);
        views.push(vec!["log".into(), "--evidence".into(), id.clone()]);
    }
    for view in &views {
        let args: Vec<&str> = view.iter().map(String::as_str).collect();
        let out = env.run(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_shown_safely(&format!("{args:?}"), &out);
    }
    let list = env.ok(&["list"]);
    for id in ids.values() {
        assert!(list.contains(id.as_str()), "list shows {id}:\n{list}");
    }

    // Exported: a valid bag whose payload names are all portable, with the exact bytes kept.
    let bag = env.path("bag");
    let out = env.run(&["export", "--case", CASE, "--out", arg(&bag)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_shown_safely("export", &out);
    let bagit = Command::new("python3")
        .args(["-m", "bagit", "--validate"])
        .arg(&bag)
        .output()
        .expect("bagit-python (run .ci/setup)");
    assert!(
        bagit.status.success(),
        "bagit-python rejects the bag:\n{}{}",
        text(&bagit.stdout),
        text(&bagit.stderr)
    );
    let checked = Env::new().run(&["--json", "verify", "--bundle", arg(&bag)]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "verify --bundle:\n{}\n{}",
        text(&checked.stdout),
        text(&checked.stderr)
    );
    let evidence_files = files_under(&bag.join("data/evidence"));
    assert_eq!(evidence_files.len(), names.len(), "{evidence_files:?}");
    for (rel, name) in &evidence_files {
        assert!(
            is_portable(name),
            "data/evidence/{}: not a portable name",
            rel.display()
        );
    }
    // "-rf" is portable (a leading dash is allowed), so it keeps its name.
    let rf = format!("{}/-rf", ids[b"-rf".as_slice()]);
    assert!(
        evidence_files.iter().any(|(rel, _)| rel == Path::new(&rf)),
        "{rf} in {evidence_files:?}"
    );
    let evidence: Value =
        serde_json::from_slice(&fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    let items = evidence["items"].as_array().expect("evidence.json items");
    assert_eq!(items.len(), names.len());
    for item in items {
        let name = hex::decode(json_str(&item["name_hex"])).expect("name_hex");
        let bytes = contents
            .get(&name)
            .unwrap_or_else(|| panic!("evidence.json: name_hex of no ingested name: {item}"));
        assert_eq!(item["id"], ids[&name].as_str(), "{item}");
        let file = bag.join(json_str(&item["file"]));
        assert_eq!(
            &fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
            bytes,
            "{item}"
        );
    }

    // Damaged: verify names the item and still shows nothing raw.
    let damaged = &ids[ansi];
    let chunk = hex::decode(blake3_hex(&contents[ansi])).unwrap();
    let mut stored = env.chunk_record(&chunk);
    assert_eq!((stored[0], stored[1]), (1, 0), "a raw chunk record");
    let at = 6 + (stored.len() - 6) / 2;
    stored[at] ^= 0x01;
    env.set_chunk_record(&chunk, Some(&stored));
    let out = env.run(&["verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert_shown_safely("verify of a damaged hostile-named item", &out);
    assert!(text(&out.stdout).contains(damaged.as_str()));
    let (code, report) = env.verify();
    assert_eq!(code, 3);
    let named: BTreeSet<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                json_str(&p["kind"]).to_owned(),
                p["id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        named,
        BTreeSet::from([("content_damaged".to_owned(), damaged.clone())]),
        "{report:#}"
    );
    let out = env.run(&["extract", damaged, "--out", arg(&env.path("damaged.out"))]);
    assert_eq!(out.status.code(), Some(3));
    assert_shown_safely("extract of a damaged hostile-named item", &out);

    // Error messages that name a hostile path, each checked (last: nothing above depends on
    // them, and every one that fails is reported).
    let mut f = Findings::default();
    let existing = env.path("out").join(OsStr::from_bytes(ansi));
    write(&existing, b"already here\n");
    let id = &ids[ansi];
    let out = env
        .std_cmd()
        .args(["extract", id, "--out"])
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        fs::read(&existing).unwrap(),
        b"already here\n",
        "left as it was"
    );
    let shown = shown_safely("extract onto an existing hostile path", &out);
    f.check(shown.is_ok(), || shown.unwrap_err());
    let out = env
        .std_cmd()
        .args(["--json", "extract", id, "--out"])
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_error(&text(&out.stderr), "extract --json").0,
        "output_exists"
    );
    let shown = shown_safely("extract --json onto an existing hostile path", &out);
    f.check(shown.is_ok(), || shown.unwrap_err());
    for name in [ansi, &names[2], &names[3], &names[5]] {
        let missing = env.path("gone").join(OsStr::from_bytes(name));
        let out = env
            .std_cmd()
            .args(["ingest", "--case", CASE])
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let shown = shown_safely(&format!("ingest of a missing path {:?}", text(name)), &out);
        f.check(shown.is_ok(), || shown.unwrap_err());
    }
    f.finish();
}

// ---------------------------------------------------------------------------------------------
// 4. Decompression bombs and hostile stored chunk records

/// A stored chunk record: `[1] [compression: 0 raw, 1 zstd] [raw_len u32 LE] [payload]`.
fn chunk_record(compression: u8, raw_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![1, compression];
    r.extend_from_slice(&raw_len.to_le_bytes());
    r.extend_from_slice(payload);
    r
}

/// A zstd frame holding `raw` in raw blocks whose header declares a 2 GiB window (window log
/// 31, the largest zstd allows) and no content size, so a decoder that trusts it reserves
/// 2 GiB. Laid out by hand (RFC 8878): the zstd crate's encoder would itself allocate the
/// window to write one.
fn huge_window_frame(raw: &[u8]) -> Vec<u8> {
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd]; // magic
    f.push(0x00); // descriptor: no content size, not single-segment, no checksum, no dictionary
    f.push(21 << 3); // window descriptor: exponent 21 → window log 10 + 21 = 31, mantissa 0
    const BLOCK: usize = 128 << 10; // the largest block
    let pieces: Vec<&[u8]> = raw.chunks(BLOCK).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let last = u32::from(i + 1 == pieces.len());
        let header = last | (piece.len() as u32) << 3; // block type 0: raw
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.extend_from_slice(piece);
    }
    f
}

#[test]
fn hostile_chunk_records_are_findings_and_memory_stays_bounded() {
    let env = Env::with_case();
    let dir = env.path("in");
    let names = [
        "bomb.bin",
        "claims-4gib.bin",
        "huge-window.bin",
        "intact.bin",
    ];
    let mut bytes: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        // One full chunk each, so the chunk id is the BLAKE3 of the whole file.
        let b = noise(700 + i as u64, MIB as usize);
        write(&dir.join(name), &b);
        bytes.insert(name, b);
    }
    let report = env.ingest(&[&dir]);
    let ids: BTreeMap<&str, String> = names
        .iter()
        .map(|name| {
            let item = json_items(&report)
                .iter()
                .find(|i| json_str(&i["path"]).ends_with(name))
                .unwrap_or_else(|| panic!("{name} not ingested: {report}"));
            assert_eq!(item["blake3"], blake3_hex(&bytes[name]));
            (*name, json_str(&item["id"]).to_owned())
        })
        .collect();

    // 64 MiB of zeros in one small frame, streamed so the test never holds the 64 MiB.
    let bomb = zstd::stream::encode_all(std::io::repeat(0).take(64 * MIB), 3).unwrap();
    assert!(bomb.len() < 64 << 10, "the bomb is small: {}", bomb.len());
    let window = huge_window_frame(&bytes["huge-window.bin"]);
    // The frame is honest but for its window: a decoder that allows it yields the chunk.
    assert_eq!(
        zstd::bulk::decompress(&window, MIB as usize).unwrap(),
        bytes["huge-window.bin"]
    );
    let hostile: [(&str, Vec<u8>); 3] = [
        // (a) a frame that yields 64 MiB where the record claims 1 MiB
        ("bomb.bin", chunk_record(1, MIB as u32, &bomb)),
        // (b) a record that claims 4 GiB
        ("claims-4gib.bin", chunk_record(1, u32::MAX, &bomb)),
        // (c) the right bytes, in a frame that asks for a 2 GiB window
        ("huge-window.bin", chunk_record(1, MIB as u32, &window)),
    ];
    for (name, record) in &hostile {
        let chunk = hex::decode(blake3_hex(&bytes[name])).unwrap();
        env.set_chunk_record(&chunk, Some(record));
    }

    // verify: one content_damaged finding per hostile item, nothing about the intact one.
    let run = measured(&env, &["--json", "verify"]);
    let report = stdout_json(&run.out, "verify");
    assert_eq!(run.code(), Some(3), "{report:#}\n{}", run.stderr());
    run.assert_peak_below(200, "verify of hostile chunk records");
    let found: BTreeSet<(String, String)> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                json_str(&p["kind"]).to_owned(),
                p["id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = hostile
        .iter()
        .map(|(name, _)| ("content_damaged".to_owned(), ids[name].clone()))
        .collect();
    assert_eq!(found, want, "{report:#}");

    // extract: exit 3, kind damaged, no file left, memory bounded.
    let out_dir = env.path("out");
    fs::create_dir_all(&out_dir).unwrap();
    for (name, _) in &hostile {
        let target = out_dir.join(name);
        let run = measured(
            &env,
            &["--json", "extract", &ids[name], "--out", arg(&target)],
        );
        assert_eq!(run.code(), Some(3), "extract {name}: {}", run.stderr());
        assert_eq!(stderr_error(&run.stderr(), name).0, "damaged");
        run.assert_peak_below(200, &format!("extract of {name}"));
        assert!(!target.exists(), "{name}: no output file");
    }
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "no temporary file left"
    );
    let intact = out_dir.join("intact.bin");
    env.ok(&["extract", &ids["intact.bin"], "--out", arg(&intact)]);
    assert_eq!(fs::read(&intact).unwrap(), bytes["intact.bin"]);
}

// ---------------------------------------------------------------------------------------------
// 5. Memory bounded on a large file

#[test]
fn memory_stays_bounded_on_a_large_file() {
    const SIZE: u64 = 256 * MIB;
    const BOUND_MIB: u64 = 100;
    let env = Env::with_case();
    let source = env.path("in/large.bin");
    fs::create_dir_all(source.parent().unwrap()).unwrap();
    let (sha, b3) = write_noise_file(&source, 77, SIZE as usize);

    let run = measured(&env, &["--json", "ingest", "--case", CASE, arg(&source)]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    run.assert_peak_below(BOUND_MIB, "ingest of 256 MiB");
    let report = stdout_json(&run.out, "ingest");
    let item = &json_items(&report)[0];
    assert_eq!(
        (&item["blake3"], &item["sha256"]),
        (&b3.clone().into(), &sha.clone().into())
    );
    assert_eq!(item["size"], SIZE);
    let id = json_str(&item["id"]).to_owned();

    let run = measured(&env, &["--json", "verify"]);
    let report = stdout_json(&run.out, "verify");
    assert_eq!(run.code(), Some(0), "{report:#}");
    assert_eq!(report["checked"]["bytes"], SIZE, "{report:#}");
    run.assert_peak_below(BOUND_MIB, "verify of 256 MiB");

    let out = env.path("large.out");
    let run = measured(&env, &["--json", "extract", &id, "--out", arg(&out)]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    run.assert_peak_below(BOUND_MIB, "extract of 256 MiB");
    assert_eq!(file_hashes(&out), (sha.clone(), b3.clone()));
    fs::remove_file(&out).unwrap();

    let bag = env.path("bag");
    let run = measured(
        &env,
        &["--json", "export", "--case", CASE, "--out", arg(&bag)],
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    run.assert_peak_below(BOUND_MIB, "export of 256 MiB");
    let exported = bag.join(format!("data/evidence/{id}/large.bin"));
    assert_eq!(file_hashes(&exported), (sha, b3));
}
