//! Crashes and concurrency: ingests killed with SIGKILL at many instants, and writers racing
//! for the archive. Whatever was acknowledged must survive, byte for byte, and the archive
//! must verify and stay usable.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Env, blake3_hex, noise, sha256_hex, spawn, text, write};

const CASE: &str = "BY-2024-017";

/// Writes a folder of `count` files of mixed sizes: empty, a few KB of text or noise, 1–3 MiB of noise.
fn mixed_folder(dir: &Path, seed: u64, count: u64) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let s = seed * 1000 + i;
            let (name, bytes) = match i % 10 {
                0 => (format!("empty-{i}.txt"), Vec::new()),
                1..=3 => (
                    format!("statement-{i}.txt"),
                    format!("Statement {s}: the witness describes the scene again. ")
                        .repeat(20 + (i as usize * 7) % 80)
                        .into_bytes(),
                ),
                4..=6 => (
                    format!("scan-{i}.bin"),
                    noise(s, 1024 + (i as usize * 997) % 6000),
                ),
                7 => (
                    format!("photo-{i}.jpg"),
                    noise(s, 100_000 + (i as usize * 7919) % 300_000),
                ),
                _ => (
                    format!("video-{i}.bin"),
                    noise(s, (1 << 20) + (i as usize * 350_000) % (2 << 20)),
                ),
            };
            let path = dir.join(name);
            write(&path, &bytes);
            path
        })
        .collect()
}

/// One durable-item line of human `ingest` output: `EV-000123  new  <16 hex>  <path>`.
struct Ack {
    id: String,
    hash16: String,
    path: PathBuf,
}

fn parse_ack(line: &str) -> Ack {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    assert!(tokens.len() >= 4, "not an item line: {line:?}");
    assert!(
        tokens[0].starts_with("EV-"),
        "a line not starting with an id: {line:?}"
    );
    assert!(matches!(tokens[1], "new" | "duplicate"), "{line:?}");
    Ack {
        id: tokens[0].to_owned(),
        hash16: tokens[2].to_owned(),
        path: PathBuf::from(tokens[3..].join(" ")),
    }
}

/// A running custodia whose stdout and stderr are read by threads as it writes them.
struct Running {
    child: Child,
    stdout: thread::JoinHandle<Vec<String>>,
    stderr: thread::JoinHandle<String>,
}

impl Running {
    fn start(env: &Env, args: &[&str]) -> Self {
        let mut child = spawn(env, args);
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let stdout = thread::spawn(move || {
            // Only whole lines count: a kill may cut the last one short.
            let mut reader = BufReader::new(out);
            let mut lines = Vec::new();
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return lines,
                    Ok(_) if line.ends_with(b"\n") => lines.push(text(&line).trim_end().to_owned()),
                    Ok(_) => return lines,
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            s
        });
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// SIGKILL (if still running), then everything it printed.
    fn kill(mut self) -> (ExitStatus, Vec<String>, String) {
        let _ = self.child.kill();
        self.finish()
    }

    fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let status = self.child.wait().expect("wait");
        (
            status,
            self.stdout.join().unwrap(),
            self.stderr.join().unwrap(),
        )
    }
}

fn killed(status: &ExitStatus) -> bool {
    status.signal() == Some(9)
}

/// Bytes in all files of the archive: growth by more than a chunk means an ingest is storing
/// content, so it surely holds the archive.
fn stored_bytes(env: &Env) -> u64 {
    fn size(path: &Path) -> u64 {
        match std::fs::read_dir(path) {
            Ok(dir) => dir.filter_map(|e| e.ok()).map(|e| size(&e.path())).sum(),
            Err(_) => std::fs::metadata(path).map_or(0, |m| m.len()),
        }
    }
    size(&env.archive)
}

/// Waits until a running ingest has stored more than `bytes` of content.
fn wait_until_storing(env: &Env, before: u64, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored_bytes(env) < before + bytes {
        assert!(
            Instant::now() < deadline,
            "the ingest never started storing"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

fn extract_and_compare(env: &Env, id: &str, sources: &[PathBuf], out: &Path) {
    let done = env.json(&["extract", id, "--out", out.to_str().unwrap()]);
    let got = std::fs::read(out).unwrap();
    for src in sources {
        let want = std::fs::read(src).unwrap();
        assert!(got == want, "{id} extracted differs from {}", src.display());
        assert_eq!(done["blake3"], blake3_hex(&want));
        assert_eq!(done["sha256"], sha256_hex(&want));
    }
}

/// Acknowledged ids, each with the paths acknowledged for it.
type Acks = BTreeMap<String, Vec<PathBuf>>;

/// One round: new bytes in the folder, an ingest killed after `delay`; every line it
/// acknowledged is checked and recorded. Returns whether it was killed.
fn kill_round(
    env: &Env,
    folder: &Path,
    sources: &mut Vec<PathBuf>,
    (round, delay): (usize, Duration),
    acks: &mut Acks,
) -> bool {
    // New bytes every round, so each run has chunks of its own to write when it dies.
    let extra = folder.join(format!("round-{round:02}"));
    sources.push(extra.join("photo.bin"));
    write(sources.last().unwrap(), &noise(500 + round as u64, 600_000));
    sources.push(extra.join("note.txt"));
    write(
        sources.last().unwrap(),
        format!("round {round} note ").repeat(50).as_bytes(),
    );

    let run = Running::start(env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    thread::sleep(delay);
    let (status, lines, stderr) = run.kill();
    assert!(
        !stderr.contains("panicked"),
        "round {round} panicked:\n{stderr}"
    );
    if !killed(&status) {
        assert_eq!(status.code(), Some(0), "round {round}: {stderr}");
    }
    for line in &lines {
        let ack = parse_ack(line);
        let bytes = std::fs::read(&ack.path)
            .unwrap_or_else(|e| panic!("acknowledged path {}: {e}", ack.path.display()));
        assert_eq!(ack.hash16, blake3_hex(&bytes)[..16], "{line}");
        acks.entry(ack.id).or_default().push(ack.path);
    }
    if !killed(&status) {
        assert_eq!(
            lines.len() as u64,
            count_files(folder),
            "a completed ingest lists every file"
        );
    }
    killed(&status)
}

/// Every acknowledged item, byte for byte; ids never change between runs for the same bytes.
fn check_acknowledged_items(env: &Env, acks: &Acks) {
    let listed = env.json(&["list"]);
    let listed: BTreeMap<&str, &Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i))
        .collect();
    let out_dir = env.path("extracted");
    std::fs::create_dir(&out_dir).unwrap();
    for (n, (id, paths)) in acks.iter().enumerate() {
        let item = listed
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged {id} is not listed"));
        let bytes = std::fs::read(&paths[0]).unwrap();
        assert_eq!(item["blake3"], blake3_hex(&bytes), "{id}");
        extract_and_compare(env, id, paths, &out_dir.join(format!("{n}")));
    }
}

/// A normal ingest afterwards: every file of the folder is in, once per distinct content.
fn check_normal_ingest_afterwards(env: &Env, folder: &Path, acks: &Acks) {
    let report = env.ingest(&[folder]);
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, count_files(folder));
    for item in items {
        let path = Path::new(item["path"].as_str().unwrap());
        assert_eq!(
            item["blake3"],
            blake3_hex(&std::fs::read(path).unwrap()),
            "{path:?}"
        );
        if let Some(paths) = acks.get(item["id"].as_str().unwrap()) {
            let same = std::fs::read(&paths[0]).unwrap() == std::fs::read(path).unwrap();
            assert!(same, "{} was acknowledged for other bytes", item["id"]);
        }
    }
}

/// New bytes after the kills: a new item that extracts as it was; the archive verifies.
fn check_fresh_ingest(env: &Env) {
    let fresh = env.path("after/new.bin");
    write(&fresh, &noise(7777, 2_000_000));
    let report = env.ingest(&[&fresh]);
    assert_eq!(report["items"][0]["status"], "new");
    let id = report["items"][0]["id"].as_str().unwrap().to_owned();
    extract_and_compare(env, &id, &[fresh], &env.path("after/new.out"));
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn kill_9_during_ingest_loses_nothing_acknowledged() {
    let started = Instant::now();
    let env = Env::with_case();
    let folder = env.path("evidence");
    let mut sources = mixed_folder(&folder, 1, 40);
    // Deterministic kill delays between 5 and 300 ms, stretched on a machine where one whole
    // ingest takes longer than 200 ms, so that the kills still land all over an ingest and
    // the longest delays let some runs finish.
    let whole = time_one_ingest(&folder);
    let stretch = (whole.as_secs_f64() * 1.5 / 0.3).max(1.0);
    let delays = [
        5u64, 300, 40, 150, 80, 220, 10, 120, 60, 270, 25, 190, 100, 15, 250,
    ]
    .map(|ms| Duration::from_secs_f64(ms as f64 / 1000.0 * stretch));
    let mut acks: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut kills = 0;
    let mut completed = 0;
    for (round, delay) in delays.iter().enumerate() {
        if kill_round(&env, &folder, &mut sources, (round, *delay), &mut acks) {
            kills += 1;
        } else {
            completed += 1;
        }
    }
    eprintln!(
        "kill loop: one ingest {whole:?}, stretch {stretch:.2}, {kills} killed, {completed} completed, {} ids acknowledged",
        acks.len()
    );
    assert!(
        kills > 0,
        "no ingest was killed: the delays are too long for this machine"
    );
    assert!(
        !acks.is_empty(),
        "no ingest acknowledged anything ({completed} completed)"
    );

    let (code, report) = env.verify();
    assert_eq!(code, 0, "the archive after {kills} kills:\n{report:#}");
    assert_eq!(report["ok"], true);

    check_acknowledged_items(&env, &acks);
    check_normal_ingest_afterwards(&env, &folder, &acks);
    check_fresh_ingest(&env);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// How long one uninterrupted ingest of `folder` takes here, in a scratch archive.
fn time_one_ingest(folder: &Path) -> Duration {
    let scratch = Env::with_case();
    let started = Instant::now();
    scratch.ok(&["ingest", "--case", CASE, folder.to_str().unwrap()]);
    started.elapsed()
}

fn count_files(dir: &Path) -> u64 {
    walk(dir).len() as u64
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Starts an ingest and kills it once it is storing chunks, so it surely holds the archive.
fn kill_while_storing(env: &Env, folder: &Path) -> ExitStatus {
    let before = stored_bytes(env);
    let run = Running::start(env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    wait_until_storing(env, before, 2 << 20);
    let (status, lines, stderr) = run.kill();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(lines.is_empty() || !killed(&status) || lines.iter().all(|l| l.starts_with("EV-")));
    status
}

#[test]
fn a_killed_ingest_never_leaves_the_archive_locked() {
    let env = Env::with_case();
    let mut killed_mid_ingest = 0;
    for round in 0..3u64 {
        let folder = env.path(&format!("big-{round}"));
        for i in 0..8 {
            write(
                &folder.join(format!("{i}.bin")),
                &noise(round * 100 + i, 3 << 20),
            );
        }
        let status = kill_while_storing(&env, &folder);
        if killed(&status) {
            killed_mid_ingest += 1;
        }
        // At once, without --wait: a write and a read.
        let case = format!("AFTER-KILL-{round}");
        let out = env.run(&["case", "create", &case, "--title", "after a kill"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "the archive stayed locked after a kill: {}",
            text(&out.stderr)
        );
        let cases = env.json(&["case", "list"]);
        assert!(cases.to_string().contains(&case), "{cases}");
    }
    assert!(
        killed_mid_ingest > 0,
        "no ingest was still running when killed"
    );
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
}

/// Two writers' folders: seven files of their own each (two of noise) and one shared e-mail.
fn two_writer_folders(env: &Env, shared: &str) -> Vec<PathBuf> {
    let mut folders = Vec::new();
    for w in 0..2u64 {
        let folder = env.path(&format!("writer-{w}"));
        for i in 0..7u64 {
            let bytes = if i < 2 {
                noise(w * 10 + i, 1_200_000)
            } else {
                format!("writer {w} file {i}\n")
                    .repeat(i as usize * 40)
                    .into_bytes()
            };
            write(&folder.join(format!("f{i}.dat")), &bytes);
        }
        write(&folder.join("shared.eml"), shared.as_bytes());
        folders.push(folder);
    }
    folders
}

/// Both ingests started at once (with --wait); each finishes and reports its eight files.
fn run_both_writers(env: &Env, folders: &[PathBuf]) -> Vec<Value> {
    let runs: Vec<Running> = folders
        .iter()
        .map(|f| {
            Running::start(
                env,
                &[
                    "--wait",
                    "--json",
                    "ingest",
                    "--case",
                    CASE,
                    f.to_str().unwrap(),
                ],
            )
        })
        .collect();
    let mut reports = Vec::new();
    for run in runs {
        let (status, lines, stderr) = run.finish();
        assert_eq!(status.code(), Some(0), "a writer failed: {stderr}");
        let report: Value = serde_json::from_str(&lines.join("\n")).expect("ingest JSON");
        assert_eq!(report["items"].as_array().unwrap().len(), 8, "{report:#}");
        reports.push(report);
    }

    reports
}

/// The shared content: stored once, one item, new for one writer and a duplicate for the other.
fn check_shared_content(reports: &[Value], shared: &str) {
    let shared_b3 = blake3_hex(shared.as_bytes());
    let shared_items: Vec<&Value> = reports
        .iter()
        .flat_map(|r| r["items"].as_array().unwrap())
        .filter(|i| i["blake3"] == shared_b3.as_str())
        .collect();
    assert_eq!(shared_items.len(), 2);
    assert_eq!(shared_items[0]["id"], shared_items[1]["id"]);
    let mut statuses: Vec<&str> = shared_items
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["duplicate", "new"]);
}

/// Every file of both folders is listed: 7 + 7 own files and one shared.
fn check_every_file_listed(env: &Env, folders: &[PathBuf]) {
    let listed = env.json(&["list"]);
    let listed = listed["items"].as_array().unwrap();
    assert_eq!(listed.len(), 15, "7 + 7 own files and one shared");
    for folder in folders {
        for path in walk(folder) {
            let b3 = blake3_hex(&std::fs::read(&path).unwrap());
            assert!(
                listed.iter().any(|i| i["blake3"] == b3.as_str()),
                "{} missing",
                path.display()
            );
        }
    }
}

/// init, case create, then one event per file (15 ingests and one second acquisition).
fn check_log_and_verify(env: &Env) {
    let log = env.json(&["log"]);
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 2 + 16, "{log:#}");
    let count = |action: &str| events.iter().filter(|e| e["action"] == action).count();
    assert_eq!((count("ingest"), count("acquire")), (15, 1));
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], n as u64 + 1);
    }
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["checked"]["events"], 18);
}

#[test]
fn concurrent_writers_both_finish_and_the_chain_holds_every_event() {
    let env = Env::with_case();
    let shared = "The same e-mail, received by both witnesses.\n".repeat(30);
    let folders = two_writer_folders(&env, &shared);
    let reports = run_both_writers(&env, &folders);
    check_shared_content(&reports, &shared);
    check_every_file_listed(&env, &folders);
    check_log_and_verify(&env);
}

#[test]
fn a_second_writer_without_wait_fails_at_once_and_changes_nothing() {
    let env = Env::with_case();
    let folder = env.path("big");
    for i in 0..10 {
        write(&folder.join(format!("{i}.bin")), &noise(300 + i, 3 << 20));
    }
    let small = env.path("small.txt");
    write(&small, b"a small statement");
    let before = stored_bytes(&env);
    let first = Running::start(
        &env,
        &["--json", "ingest", "--case", CASE, folder.to_str().unwrap()],
    );
    wait_until_storing(&env, before, 2 << 20);
    let started = Instant::now();
    let second = env.run(&["--json", "ingest", "--case", CASE, small.to_str().unwrap()]);
    let waited = started.elapsed();
    let (status, lines, stderr) = first.finish();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let first_report: Value = serde_json::from_str(&lines.join("\n")).unwrap();
    assert_eq!(first_report["items"].as_array().unwrap().len(), 10);

    assert_eq!(
        second.status.code(),
        Some(1),
        "the second writer: {}",
        text(&second.stderr)
    );
    assert!(
        waited < Duration::from_secs(5),
        "it failed at once, not after {waited:?}"
    );
    let err: Value = serde_json::from_slice(&second.stderr).expect("one JSON error");
    assert_eq!(err["error"]["kind"], "locked");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("archive is in use by another custodia process"),
        "{err}"
    );
    let listed = env.json(&["list"]);
    let small_b3 = blake3_hex(b"a small statement");
    assert!(
        !listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["blake3"] == small_b3.as_str()),
        "the refused ingest stored nothing"
    );
}
