//! Issue 9, the archive side of a security review: each test drives the binary as the
//! attacker, the careless user or the locked-out auditor did, and pins one finding.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::util::{Env, noise, run_with_timeout, text, write};

mod lost_events;

const CASE: &str = "BY-2024-017";

/// An archive holding six items of 1.5 MiB of noise each: every one its own chunks and packs.
fn six_items() -> (Env, Vec<String>) {
    let env = Env::with_case();
    for i in 0..6u64 {
        write(
            &env.path(&format!("in/f{i}.bin")),
            &noise(100 + i, 1_572_864),
        );
    }
    let report = env.ingest(&[&env.path("in")]);
    let ids = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect::<Vec<_>>();
    assert_eq!(ids.len(), 6, "{report}");
    (env, ids)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn volume_dirs(env: &Env) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(env.archive.join("volumes"))
        .expect("volumes")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    dirs
}

/// `verify --json` must end within a minute; returns its exit code and report.
fn verify_in_time(env: &Env) -> (i32, Value) {
    let mut cmd = env.std_cmd();
    cmd.args(["--json", "verify"]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report)
}

fn named(report: &Value, kind: &str) -> Vec<String> {
    report["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["kind"] == kind)
                .filter_map(|p| p["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_every_item_named(report: &Value, ids: &[String]) {
    let damaged = named(report, "content_damaged");
    for id in ids {
        assert!(
            damaged.contains(id),
            "{id} is not named content_damaged: {report:#}"
        );
    }
}

// Finding 1: verify hung for ever once four or more contents were damaged.

#[test]
fn issue9_1_verify_ends_and_names_every_item_when_every_blob_is_damaged() {
    let (env, ids) = six_items();
    let blobs: Vec<PathBuf> = volume_dirs(&env)
        .iter()
        .flat_map(|v| files_under(&v.join("blobs")))
        .collect();
    assert!(blobs.len() >= 6, "each pack is a blob file: {blobs:?}");
    for blob in &blobs {
        let mut bytes = fs::read(blob).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        fs::write(blob, bytes).unwrap();
    }
    let (code, report) = verify_in_time(&env);
    assert_eq!(code, 3, "{report:#}");
    assert_every_item_named(&report, &ids);
}

#[test]
fn issue9_1_verify_ends_and_names_every_item_when_every_volume_is_gone() {
    let (env, ids) = six_items();
    for dir in volume_dirs(&env) {
        fs::remove_dir_all(dir).unwrap();
    }
    let (code, report) = verify_in_time(&env);
    assert_eq!(code, 3, "{report:#}");
    assert_every_item_named(&report, &ids);
}

#[test]
fn issue9_1_verify_ends_when_every_volume_database_is_truncated() {
    let (env, ids) = six_items();
    for dir in volume_dirs(&env) {
        let db = dir.join("db");
        let len = fs::metadata(&db).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .unwrap()
            .set_len(len / 3)
            .unwrap();
    }
    let (code, report) = verify_in_time(&env);
    assert_eq!(code, 3, "{report:#}");
    // A truncated volume may still hand back some packs intact; whatever it lost is named
    // by item, and nothing is reported as intact that is not.
    let damaged = named(&report, "content_damaged");
    assert!(!damaged.is_empty(), "{report:#}");
    assert!(damaged.iter().all(|d| ids.contains(d)), "{report:#}");
}

// Findings 4 and 5: the archive followed the umask; anyone could hold the lock.

/// Runs custodia under `umask 022`, as a shell with the usual default would.
fn under_umask_022(env: &Env, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 022; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_custodia"))
        .arg("--archive")
        .arg(&env.archive)
        .args(args)
        .env("CUSTODIA_ACTOR", "tester")
        .env("XDG_CONFIG_HOME", env.config_home());
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    out
}

fn assert_private(path: &Path) {
    let mode = fs::symlink_metadata(path).unwrap().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "{} is mode {:o}: group or others may read it",
        path.display(),
        mode & 0o777
    );
}

#[test]
fn issue9_4_archive_extracts_and_lock_are_private_whatever_the_umask() {
    let env = Env::new();
    write(&env.path("in/statement.txt"), b"private testimony");
    under_umask_022(&env, &["init"]);
    under_umask_022(&env, &["case", "create", CASE, "--title", "t"]);
    under_umask_022(
        &env,
        &["ingest", "--case", CASE, env.path("in").to_str().unwrap()],
    );
    fs::create_dir(env.path("out")).unwrap();
    fs::set_permissions(env.path("out"), fs::Permissions::from_mode(0o755)).unwrap();
    under_umask_022(
        &env,
        &[
            "extract",
            "EV-000001",
            "--out",
            env.path("out").to_str().unwrap(),
        ],
    );
    under_umask_022(&env, &["verify"]);

    assert_private(&env.archive);
    for file in files_under(&env.archive) {
        assert_private(&file);
    }
    assert_private(&env.archive.join("lock"));
    assert_private(&env.path("out/statement.txt"));
}

#[test]
fn issue9_4_an_archive_left_open_by_an_earlier_release_is_closed_on_the_next_write() {
    let env = Env::with_case();
    fs::set_permissions(&env.archive, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(env.archive.join("lock"), fs::Permissions::from_mode(0o644)).unwrap();
    env.ok(&["case", "create", "BY-2", "--title", "t"]);
    assert_private(&env.archive);
    assert_private(&env.archive.join("lock"));
}

#[test]
fn issue9_5_another_user_cannot_hold_the_lock() {
    let env = Env::with_case();
    if !crate::util::is_root() {
        let test = "issue9_5_another_user_cannot_hold_the_lock";
        return crate::util::skip_outside_ci(test, "root, to act as another user");
    }
    // Even with every directory on the way open to others, the lock is its owner's alone:
    // another local user cannot open it to flock it and lock everyone out.
    for dir in [env.dir.path(), env.archive.as_path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).unwrap();
    }
    let mut squatter = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["flock", "--nonblock"])
        .arg(env.archive.join("lock"))
        .args(["sleep", "5"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = env.run(&[
        "case",
        "create",
        "C-2",
        "--title",
        "While another user tried",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status = squatter.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut squatter.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "another user held the lock");
    assert!(err.contains("Permission denied"), "{err}");
}

// Finding 6: an auditor without write access could not verify.

/// Every file of the archive with its bytes and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, i64)> {
    let mut all: Vec<_> = files_under(dir)
        .into_iter()
        .map(|p| {
            let meta = fs::metadata(&p).unwrap();
            (
                p.clone(),
                fs::read(&p).unwrap(),
                meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn issue9_6_read_only_verify_checks_everything_and_writes_nothing() {
    let (env, ids) = six_items();
    let before = snapshot(&env.archive);
    let report = env.json(&["verify", "--read-only"]);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["read_only"], true);
    assert_eq!(report["checked"]["items"], 6);
    assert_eq!(report["checked"]["bytes"], 6 * 1_572_864);
    assert!(
        snapshot(&env.archive) == before,
        "read-only verify changed the archive"
    );

    // Damage is still found read-only, and named.
    let blob = files_under(&volume_dirs(&env)[0].join("blobs"))[0].clone();
    let mut bytes = fs::read(&blob).unwrap();
    bytes[100] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let out = env.run(&["--json", "verify", "--read-only"]);
    assert_eq!(out.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!named(&report, "content_damaged").is_empty(), "{report:#}");
    assert!(
        named(&report, "content_damaged")
            .iter()
            .all(|i| ids.contains(i))
    );
}

#[test]
fn issue9_6_an_auditor_who_may_not_write_verifies_read_only_automatically() {
    let (env, _) = six_items();
    // The auditor reads but may not write: another user, given read access.
    crate::util::chmod_tree(env.dir.path(), 0o755, 0o644);
    let before = snapshot(&env.archive);
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_custodia"))
        .arg("--archive")
        .arg(&env.archive)
        .args(["--json", "--actor", "auditor", "verify"])
        .env("TMPDIR", "/tmp");
    if !crate::util::is_root() {
        let test = "issue9_6_an_auditor_who_may_not_write_verifies_read_only_automatically";
        return crate::util::skip_outside_ci(test, "root, to act as another user");
    }
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["read_only"], true);
    assert!(
        text(&out.stderr).contains("read-only"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        snapshot(&env.archive) == before,
        "the auditor's verify changed the archive"
    );
}

// Finding 7: ingest exited 0 when it had skipped what it was given.

#[test]
fn issue9_7_ingest_that_skips_anything_exits_4_and_stores_the_rest() {
    let env = Env::with_case();
    write(&env.path("in/kept.txt"), b"stored");
    std::os::unix::fs::symlink("/etc/passwd", env.path("in/link")).unwrap();
    let out = env.run(&[
        "--json",
        "ingest",
        "--case",
        CASE,
        env.path("in").to_str().unwrap(),
        "/proc/cpuinfo",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the JSON report still");
    assert_eq!(report["items"].as_array().unwrap().len(), 1, "{report:#}");
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert!(skipped.iter().any(|p| p.ends_with("/link")), "{report:#}");
    assert!(skipped.contains(&"/proc/cpuinfo"), "{report:#}");
    assert!(text(&out.stderr).contains("NOT in the archive"));
    assert_eq!(env.json(&["list"])["items"].as_array().unwrap().len(), 1);

    // Nothing skipped: exit 0 as before.
    write(&env.path("in2/more.txt"), b"more");
    env.ok(&["ingest", "--case", CASE, env.path("in2").to_str().unwrap()]);
}

// Finding 11: two `init --wait` on one path both reported success.

#[test]
fn issue9_11_of_two_waiting_inits_only_one_makes_an_archive() {
    let env = Env::new();
    fs::create_dir(&env.archive).unwrap();
    let lock = fs::File::create(env.archive.join("lock")).unwrap();
    lock.lock().unwrap();
    let start = || {
        env.std_cmd()
            .args(["--json", "--wait", "init"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    std::thread::sleep(Duration::from_millis(300));
    lock.unlock().unwrap();
    assert_exactly_one_init(&env, [a, b]);
}

#[test]
fn issue9_11_two_inits_that_both_saw_an_empty_directory_make_one_archive() {
    // The race as it happened: both inits found the directory empty before either had
    // written anything. strace holds each 0.5 s at its open of `lock`, after it looked.
    let env = Env::new();
    fs::create_dir(&env.archive).unwrap();
    let lock = env.archive.join("lock");
    let start = || {
        std::process::Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-P"])
            .arg(&lock)
            .args([
                "-e",
                "trace=openat",
                "-e",
                "inject=openat:delay_enter=500000",
                "--",
            ])
            .arg(env!("CARGO_BIN_EXE_custodia"))
            .arg("--archive")
            .arg(&env.archive)
            .args(["--json", "--wait", "init"])
            .env("CUSTODIA_ACTOR", "tester")
            .env("XDG_CONFIG_HOME", env.config_home())
            .env_remove("CUSTODIA_ARCHIVE")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("strace missing: run .ci/setup")
    };
    assert_exactly_one_init(&env, [start(), start()]);
}

/// Of two `init` runs on one path, one made the archive and the other was told it exists;
/// the archive holds one history that verifies.
fn assert_exactly_one_init(env: &Env, runs: [std::process::Child; 2]) {
    let outs = runs.map(|r| r.wait_with_output().unwrap());
    let codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "exactly one init succeeds: {codes:?} {}",
        outs.iter().map(|o| text(&o.stderr)).collect::<String>()
    );
    let failed = outs.iter().find(|o| o.status.code() == Some(1)).unwrap();
    let err: Value = serde_json::from_slice(&failed.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "archive_exists");
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["checked"]["events"], 1, "one init event: {report:#}");
}

// Finding 13: stale-temporary cleanup removed user trees.

#[test]
fn issue9_13_extract_never_removes_a_user_directory_named_like_a_temporary() {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"evidence");
    env.ingest(&[&env.path("in/a.txt")]);
    let user_dir = env.path("out/.custodia-extract-999999.tmp");
    write(&user_dir.join("notes.txt"), b"the user's own notes");
    env.ok(&[
        "extract",
        "EV-000001",
        "--out",
        env.path("out").to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(user_dir.join("notes.txt")).unwrap(),
        b"the user's own notes"
    );
    assert_eq!(fs::read(env.path("out/a.txt")).unwrap(), b"evidence");
}

// Finding 14: small things.

#[test]
fn issue9_14_extract_through_a_linked_directory_records_where_the_bytes_went() {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"evidence");
    env.ingest(&[&env.path("in/a.txt")]);
    fs::create_dir(env.path("real")).unwrap();
    std::os::unix::fs::symlink(env.path("real"), env.path("link")).unwrap();
    let done = env.json(&[
        "extract",
        "EV-000001",
        "--out",
        env.path("link").to_str().unwrap(),
    ]);
    let real = fs::canonicalize(env.path("real")).unwrap().join("a.txt");
    assert_eq!(done["path"], real.to_str().unwrap());
    let log = env.json(&["log", "--evidence", "EV-000001"]);
    let extract = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "extract")
        .expect("extract event");
    assert_eq!(extract["details"]["out"], real.to_str().unwrap());
}

#[test]
fn issue9_14_a_missing_output_directory_is_named_not_a_temporary_file() {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"evidence");
    env.ingest(&[&env.path("in/a.txt")]);
    let out = env.path("no/such/dir/a.txt");
    let (_, stderr) = env.fails(&["extract", "EV-000001", "--out", out.to_str().unwrap()], 1);
    assert!(stderr.contains("no/such/dir"), "{stderr}");
    assert!(!stderr.contains(".custodia-extract"), "{stderr}");
    let run = env.run(&[
        "--json",
        "extract",
        "EV-000001",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err: Value = serde_json::from_slice(&run.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "no_output_dir");
}

#[test]
fn issue9_14_an_empty_actor_or_title_is_a_usage_error() {
    let env = Env::with_case();
    env.fails(&["--actor", "", "case", "create", "X1", "--title", "t"], 2);
    env.fails(
        &["--actor", "  ", "case", "create", "X1", "--title", "t"],
        2,
    );
    env.fails(&["case", "create", "X1", "--title", ""], 2);
    env.fails(&["case", "list"], 0);
    assert_eq!(
        env.json(&["case", "list"])["cases"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn issue9_14_log_prints_each_events_sha256() {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"evidence");
    env.ingest(&[&env.path("in/a.txt")]);
    let log = env.json(&["log"]);
    let events = log["events"].as_array().unwrap();
    let digests = log["sha256"].as_array().unwrap();
    assert_eq!(events.len(), digests.len());
    for (at, event) in events.iter().enumerate().skip(1) {
        assert_eq!(event["prev"], digests[at - 1], "{log:#}");
    }
    let head = fs::read_to_string(env.archive.join("HEAD")).unwrap();
    let last = digests.last().unwrap().as_str().unwrap();
    assert!(
        head.contains(last),
        "HEAD {head} names the last event {last}"
    );
    let human = env.ok(&["log"]);
    assert!(
        human
            .lines()
            .last()
            .unwrap()
            .ends_with(&format!("sha256 {last}")),
        "{human}"
    );
}
