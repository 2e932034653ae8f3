//! Replicas against a real S3 server (issue 13): SeaweedFS on loopback ports, started and
//! stopped by each test. Under CI a missing `weed` fails the test; nothing reaches beyond
//! 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use serde_json::Value;

use crate::util::*;

mod interrupted;
mod profile;
mod push_event;

/// An archive with a case, a SeaweedFS, and an age key pair.
pub(crate) struct Rig {
    pub(crate) env: Env,
    server: Seaweed,
    pub(crate) key: PathBuf,
    recipient: String,
}

pub(crate) fn rig(test: &str) -> Option<Rig> {
    if !have_weed(test) {
        return None;
    }
    let env = Env::with_case();
    let server = Seaweed::start(&env.path("s3"));
    let (key, recipient) = age_key(&env.path("key.txt"));
    Some(Rig {
        env,
        server,
        key,
        recipient,
    })
}

/// A new age identity file (as `age-keygen` writes it) and its recipient.
fn age_key(path: &Path) -> (PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let text = format!(
        "# public key: {}\n{}\n",
        id.to_public(),
        id.to_string().expose_secret()
    );
    std::fs::write(path, text).expect("write key");
    (path.to_path_buf(), id.to_public().to_string())
}

impl Rig {
    /// custodia on this archive with the server's credentials in the environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_custodia"));
        c.arg("--archive")
            .arg(&self.env.archive)
            .env("CUSTODIA_ACTOR", "tester")
            .env("XDG_CONFIG_HOME", self.env.config_home())
            .env_remove("CUSTODIA_ARCHIVE")
            .args(args)
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        run_with_timeout(&mut self.command(args), Duration::from_secs(120))
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "custodia {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    }

    /// Runs with --json expecting `code`; returns the error kind on stderr (or stdout's JSON).
    fn fails(&self, args: &[&str], code: i32) -> (Value, String) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "custodia {args:?}: {stderr}");
        let v = serde_json::from_slice(&out.stdout)
            .or_else(|_| serde_json::from_str(stderr.trim()))
            .unwrap_or(Value::Null);
        (v, stderr)
    }

    pub(crate) fn add(&self, name: &str, prefix: &str) {
        let url = format!("s3://{S3_BUCKET}/{prefix}");
        let endpoint = self.server.endpoint();
        self.json(&[
            "replica",
            "add",
            name,
            &url,
            "--endpoint",
            &endpoint,
            "--encrypt-to",
            &self.recipient,
        ]);
    }

    pub(crate) fn restore(&self, prefix: &str, to: &Path, key: &Path) -> Output {
        let url = format!("s3://{S3_BUCKET}/{prefix}");
        let endpoint = self.server.endpoint();
        self.run(&[
            "--json",
            "restore",
            "--from",
            &url,
            "--endpoint",
            &endpoint,
            "--identity",
            &arg(key),
            "--to",
            &arg(to),
        ])
    }

    /// The object lines of every push event, parsed: (what, name, size).
    fn pushed_objects(&self) -> Vec<(String, String, u64)> {
        let log = self.json(&["log"]);
        let mut out = Vec::new();
        for e in log["events"].as_array().expect("events") {
            if e["action"] != "push" {
                continue;
            }
            for line in e["details"]["objects"].as_array().expect("objects") {
                let parts: Vec<&str> = line.as_str().expect("string").split(' ').collect();
                out.push((
                    parts[0].into(),
                    parts[1].into(),
                    parts[2].parse().expect("size"),
                ));
            }
        }
        out
    }
}

fn arg(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_owned()
}

/// What the four reading commands print, as JSON, for every item.
fn views(env: &Env) -> Vec<(String, Value)> {
    let mut out = vec![
        ("list".to_owned(), env.json(&["list"])),
        ("case list".to_owned(), env.json(&["case", "list"])),
        ("log".to_owned(), env.json(&["log"])),
    ];
    for item in env.json(&["list"])["items"].as_array().expect("items") {
        let id = item["id"].as_str().expect("id").to_owned();
        out.push((format!("show {id}"), env.json(&["show", &id])));
    }
    out
}

/// Ingests the fixture case, links one of its items into a second case, adds the replica
/// `offsite` at `org/archive` and pushes everything to it: a first push sends at least four
/// objects and finds none there. Returns what the archive prints after the push.
fn push_fixture_case(rig: &Rig) -> Vec<(String, Value)> {
    let env = &rig.env;
    let ids = env.ingest_fixture_case();
    env.ok(&["case", "create", "BY-2024-018", "--title", "Second"]);
    let first = ids.values().next().expect("an item").clone();
    env.ok(&[
        "link",
        &first,
        "--case",
        "BY-2024-018",
        "--reason",
        "same event",
    ]);
    rig.add("offsite", "org/archive");
    let pushed = rig.json(&["push"]);
    assert!(pushed["sent"].as_u64().unwrap() >= 4, "{pushed}");
    assert_eq!(pushed["found"], 0);
    // The push event itself reaches the replica: the restore prints what the archive
    // prints after the push.
    views(env)
}

/// Restores `org/archive`: the restored archive holds the log up to and with the push, prints what
/// the original printed (`before`) and verifies.
fn check_restore_prints_the_same(rig: &Rig, before: &[(String, Value)]) {
    let restored = rig.env.path("restored");
    let out = rig.restore("org/archive", &restored, &rig.key);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let head = before
        .iter()
        .find(|(k, _)| k == "log")
        .map(|(_, v)| v["events"].as_array().unwrap().len() as u64)
        .unwrap();
    assert_eq!(
        report["head"].as_u64(),
        Some(head),
        "the replica holds the log up to and with the push"
    );
    let reader = Env {
        dir: tempfile::tempdir().expect("temp"),
        archive: restored.clone(),
    };
    let after = views(&reader);
    for ((what, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "`{what}` differs after restore");
    }
    assert_eq!(before.len(), after.len());
    let (code, v) = reader.verify();
    assert_eq!(code, 0, "the restored archive verifies: {v}");
}

/// The names of the objects on the server reveal no case id, file name or content hash.
fn check_names_reveal_nothing(rig: &Rig) {
    let keys = rig.server.keys("org/archive/");
    assert!(keys.len() >= 5, "{keys:?}");
    let items = rig.env.json(&["list"]);
    for k in &keys {
        assert!(!k.contains("BY-2024"), "{k}");
        for item in items["items"].as_array().unwrap() {
            let b3 = item["blake3"].as_str().unwrap();
            assert!(!k.contains(&b3[..16]), "{k} names a content hash");
            assert!(
                !k.contains(item["name"].as_str().unwrap()),
                "{k} names a file"
            );
        }
    }
}

/// The stock age tool opens an object by hand: the first log segment is the log, beginning
/// with the init event. Skipped (outside CI only) where `age` is not installed.
fn check_age_opens_the_log(rig: &Rig) {
    let (_, log_object, _) = rig
        .pushed_objects()
        .into_iter()
        .find(|(what, _, _)| what.starts_with("log/1-"))
        .expect("a log object");
    let stored = rig.server.get(&format!("org/archive/{log_object}"));
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    if Command::new("age").arg("--version").output().is_err() {
        skip_outside_ci(
            "the by-hand age check",
            "age (Debian package age) is not installed",
        );
        return;
    }
    let file = rig.env.path("object.age");
    std::fs::write(&file, &stored).unwrap();
    let opened = Command::new("age")
        .args(["-d", "-i", &arg(&rig.key), &arg(&file)])
        .output()
        .expect("run age");
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let first_line = opened.stdout.split(|b| *b == b'\n').next().unwrap();
    let event: Value = serde_json::from_slice(first_line).expect("an event");
    assert_eq!(event["action"], "init");
    assert_eq!(event["seq"], 1);
}

/// `restore` rebuilds an archive that verifies and prints what the original printed at the
/// pushed head; objects open with the stock `age -d`, and their names reveal nothing.
#[test]
fn restore_round_trip_prints_the_same_and_verifies() {
    let Some(rig) = rig("restore_round_trip_prints_the_same_and_verifies") else {
        return;
    };
    let before = push_fixture_case(&rig);
    check_restore_prints_the_same(&rig, &before);
    check_names_reveal_nothing(&rig);
    check_age_opens_the_log(&rig);
}

/// The objects damaged on the server under `dmg/`, by name.
struct Damage {
    /// A volume object, deleted.
    deleted: String,
    /// A log object, cut to half its length.
    truncated: String,
    /// A contents object, one bit of it flipped.
    altered: String,
    /// An object custodia never wrote, added.
    extra: String,
}

/// Damages one object of each kind the replica `offsite` at `dmg` holds, and adds one.
fn damage_the_replica(rig: &Rig) -> Damage {
    let objects = rig.pushed_objects();
    let pick = |prefix: &str| {
        objects
            .iter()
            .find(|(what, _, _)| what.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} object"))
            .clone()
    };
    let (_, deleted, _) = pick("volume/");
    let (_, truncated, _) = pick("log/");
    let (_, altered, _) = pick("contents/");
    let extra = format!("data/{}", "0".repeat(64));
    let key = |name: &str| format!("dmg/{name}");
    rig.server.delete(&key(&deleted));
    let whole = rig.server.get(&key(&truncated));
    rig.server.put(&key(&truncated), &whole[..whole.len() / 2]);
    let mut changed = rig.server.get(&key(&altered));
    let at = changed.len() - 10;
    changed[at] ^= 0x01;
    rig.server.put(&key(&altered), &changed);
    rig.server.put(&key(&extra), b"not custodia's");
    Damage {
        deleted,
        truncated,
        altered,
        extra,
    }
}

/// `verify --replica`, with and without `--read-data`, exits 3 with exactly one finding per
/// damaged object, of the kind of its damage.
fn check_verify_names_the_damage(rig: &Rig, d: &Damage) {
    let expected = [
        ("replica_object_missing", d.deleted.as_str()),
        ("replica_object_truncated", d.truncated.as_str()),
        ("replica_object_altered", d.altered.as_str()),
        ("replica_object_extra", d.extra.as_str()),
    ];
    for read_data in [false, true] {
        let mut args = vec!["verify", "--replica", "offsite"];
        if read_data {
            args.push("--read-data");
        }
        let (v, _) = rig.fails(&args, 3);
        assert_eq!(v["ok"], false);
        let mut found: Vec<(String, String)> = v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["kind"].as_str().unwrap().into(),
                    p["id"].as_str().unwrap().into(),
                )
            })
            .collect();
        found.sort();
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(k, id)| (k.to_string(), id.to_string()))
            .collect();
        want.sort();
        assert_eq!(found, want, "read_data {read_data}");
    }
}

/// `restore` of the damaged replica exits 3 (`replica_damaged`), names a bad object, and
/// leaves neither an archive nor its temporary directory behind.
fn check_restore_refuses_the_damage(rig: &Rig, d: &Damage) {
    let Damage {
        deleted,
        truncated,
        altered,
        ..
    } = d;
    let restored = rig.env.path("restored");
    let out = rig.restore("dmg", &restored, &rig.key);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let error: Value = serde_json::from_str(stderr.trim()).expect("a JSON error");
    assert_eq!(error["error"]["kind"], "replica_damaged");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        [deleted, truncated, altered]
            .iter()
            .any(|n| message.contains(n.as_str())),
        "names the bad object: {message}"
    );
    assert!(!restored.exists(), "no archive is left behind");
    let leftovers: Vec<_> = std::fs::read_dir(rig.env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("custodia-restore"))
        .collect();
    assert!(leftovers.is_empty(), "the temporary directory is removed");
}

/// Objects deleted, truncated, altered or added on the server are named findings (exit 3);
/// restore refuses such a replica, names the bad object and leaves nothing behind.
#[test]
fn damage_on_the_server_is_named_and_restore_refuses_it() {
    let Some(rig) = rig("damage_on_the_server_is_named_and_restore_refuses_it") else {
        return;
    };
    rig.env.ingest_fixture_case();
    rig.add("offsite", "dmg");
    rig.json(&["push"]);
    let v = rig.json(&["verify", "--replica", "offsite", "--read-data"]);
    assert_eq!(v["ok"], true, "{v}");
    let damage = damage_the_replica(&rig);
    check_verify_names_the_damage(&rig, &damage);
    check_restore_refuses_the_damage(&rig, &damage);
}

/// Runs `custodia --json ARGS` (with `secret_env` as the secret key, if given): it must fail
/// with exit 1 within a minute, in one sentence, a JSON error of `kind`, printing no secret.
fn check_fails_in_one_sentence(rig: &Rig, args: &[&str], kind: &str, secret_env: Option<&str>) {
    let start = Instant::now();
    let mut c = rig.command(&[&["--json"][..], args].concat());
    if let Some(secret) = secret_env {
        c.env("AWS_SECRET_ACCESS_KEY", secret);
    }
    let out = run_with_timeout(&mut c, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{args:?} took too long"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    let e: Value = serde_json::from_str(stderr.trim()).expect("JSON error");
    assert_eq!(e["error"]["kind"], kind, "{stderr}");
    assert!(!stderr.contains(S3_SECRET_KEY) && !stderr.contains("wrong-secret"));
}

/// A replica `name` at `url` behind `endpoint`, encrypted to the rig's key.
fn add_replica_at(rig: &Rig, name: &str, url: &str, endpoint: &str) {
    rig.json(&[
        "replica",
        "add",
        name,
        url,
        "--endpoint",
        endpoint,
        "--encrypt-to",
        &rig.recipient,
    ]);
}

/// A replica added with no encryption choice is refused (`encryption_unspecified`).
fn check_encryption_is_required(rig: &Rig, endpoint: &str) {
    let (v, _) = rig.fails(
        &[
            "replica",
            "add",
            "x",
            "s3://evidence/x",
            "--endpoint",
            endpoint,
        ],
        1,
    );
    assert_eq!(v["error"]["kind"], "encryption_unspecified");
}

/// A push to an endpoint where nothing listens: a loopback port bound, then released.
fn check_unreachable_endpoint(rig: &Rig) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let nowhere = format!("http://127.0.0.1:{dead_port}");
    add_replica_at(rig, "nowhere", "s3://evidence/x", &nowhere);
    check_fails_in_one_sentence(rig, &["push", "nowhere"], "remote_unreachable", None);
}

/// A restore of the good replica with an age identity it was not encrypted to creates
/// nothing.
fn check_wrong_identity(rig: &Rig, endpoint: &str) {
    let (other, _) = age_key(&rig.env.path("other.txt"));
    let to = rig.env.path("restored");
    check_fails_in_one_sentence(
        rig,
        &[
            "restore",
            "--from",
            "s3://evidence/good",
            "--endpoint",
            endpoint,
            "--identity",
            &arg(&other),
            "--to",
            &arg(&to),
        ],
        "wrong_identity",
        None,
    );
    assert!(!to.exists());
}

/// No encryption choice, wrong credentials, a missing bucket, an unreachable endpoint, a
/// wrong age identity: one sentence each, exit 1, in bounded time, no secret printed.
#[test]
fn bad_settings_fail_in_one_sentence_and_bounded_time() {
    let Some(rig) = rig("bad_settings_fail_in_one_sentence_and_bounded_time") else {
        return;
    };
    let endpoint = rig.server.endpoint();
    check_encryption_is_required(&rig, &endpoint);

    rig.add("good", "good");
    rig.json(&["push"]);
    check_fails_in_one_sentence(
        &rig,
        &["push", "good"],
        "remote_denied",
        Some("wrong-secret"),
    );
    add_replica_at(&rig, "nobucket", "s3://no-such-bucket/x", &endpoint);
    check_fails_in_one_sentence(&rig, &["push", "nobucket"], "remote_no_bucket", None);
    check_unreachable_endpoint(&rig);
    check_wrong_identity(&rig, &endpoint);

    // The archive records no credential anywhere in its log.
    let log = rig.env.ok(&["--json", "log"]);
    assert!(!log.contains(S3_SECRET_KEY) && !log.contains(S3_ACCESS_KEY));
}
