//! custodia as a process among others: closed pipes, one JSON document per command, archive
//! and actor from flags or environment, and a second writer.

use std::process::Child;

use super::*;

// ---------------------------------------------------------------------------------------------
// 8. `custodia list | head -1`

#[test]
fn output_into_a_pipe_closed_early_is_not_a_crash() {
    let env = Env::with_case();
    let dir = env.path("many");
    fs::create_dir(&dir).unwrap();
    // Long names make `list` print more than a pipe buffer holds, so the reader goes first.
    let long = "n".repeat(230);
    for i in 0..300 {
        fs::write(
            dir.join(format!("{i:03}-{long}.txt")),
            format!("item {i}\n"),
        )
        .unwrap();
    }
    let report = env.json(&["ingest", "--case", CASE, arg(&dir)]);
    assert_eq!(json_items(&report).len(), 300);

    for cmd in [
        vec!["list"],
        vec!["--json", "list"],
        vec!["case", "show", CASE],
        vec!["log"],
        vec!["--json", "log"],
    ] {
        let mut child = env
            .std_cmd()
            .args(&cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        {
            let mut reader = BufReader::new(child.stdout.take().unwrap());
            reader.read_line(&mut first).unwrap();
        } // the pipe closes here, as after `head -1`
        assert!(!first.trim().is_empty(), "{cmd:?}: a first line");
        if cmd == ["list"] {
            assert!(first.starts_with("EV-000001"), "{first}");
        }
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{cmd:?} panicked:\n{stderr}");
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {stderr}");
    }
    // Nothing was harmed: reading with a closed pipe records nothing.
    let (code, v) = env.verify();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["checked"]["items"], 300);
}

// ---------------------------------------------------------------------------------------------
// 9. --json: one document per command

#[test]
fn json_is_exactly_one_document_for_every_command() {
    let env = Env::new();
    write(&env.path("in/a.txt"), b"alpha\n");
    write(&env.path("in/b.txt"), b"beta\n");
    let out = env.path("a.out");
    let one = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let o = env.run(&all);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        let stdout = String::from_utf8(o.stdout).expect("UTF-8 JSON");
        let docs = json_documents(&stdout);
        assert_eq!(docs.len(), 1, "{args:?}: exactly one document:\n{stdout}");
        assert!(docs[0].is_object(), "{args:?}: an object:\n{stdout}");
        docs.into_iter().next().unwrap()
    };
    assert_eq!(one(&["init"])["format"], 2);
    assert_eq!(one(&["case", "create", CASE, "--title", "t"])["id"], CASE);
    one(&["case", "create", SECOND, "--title", "u"]);
    assert_eq!(one(&["case", "list"])["cases"].as_array().unwrap().len(), 2);
    let ingested = one(&["ingest", "--case", CASE, arg(&env.path("in"))]);
    assert_eq!(json_items(&ingested).len(), 2);
    let id = json_str(&json_items(&ingested)[0]["id"]).to_owned();
    assert_eq!(json_items(&one(&["case", "show", CASE])).len(), 2);
    assert_eq!(json_items(&one(&["list"])).len(), 2);
    assert_eq!(one(&["show", &id])["id"], id.as_str());
    assert_eq!(
        one(&["extract", &id, "--out", arg(&out)])["id"],
        id.as_str()
    );
    assert_eq!(one(&["link", &id, "--case", SECOND])["case"], SECOND);
    assert!(one(&["log"])["events"].is_array());
    let verified = one(&["verify"]);
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["checked"]["items"], 2);
}

#[test]
fn archive_and_actor_come_from_flags_or_environment() {
    let env = Env::new();
    let mut init = assert_cmd::Command::new(env!("CARGO_BIN_EXE_custodia"));
    let out = init
        .env("CUSTODIA_ARCHIVE", &env.archive)
        .env("CUSTODIA_ACTOR", "from-env")
        .env("XDG_CONFIG_HOME", env.config_home())
        .args(["--json", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        env.archive.join("FORMAT").is_file(),
        "CUSTODIA_ARCHIVE used"
    );
    let case = env.json(&[
        "--actor",
        "from-flag",
        "case",
        "create",
        CASE,
        "--title",
        "t",
    ]);
    assert_eq!(
        case["actor"], "from-flag",
        "--actor wins over CUSTODIA_ACTOR"
    );
    let log = env.json(&["log"])["events"].clone();
    assert_eq!(log[0]["actor"], "from-env");
    assert_eq!(log[1]["actor"], "from-flag");
}

// ---------------------------------------------------------------------------------------------
// 10. Two custodia processes

/// The size of the first writer's ingest: large enough that a second command meets the lock.
const SIZE: usize = 200 << 20;

/// Probes with `list` until the first writer holds the archive: a second command then fails at
/// once with exit 1. Returns its message.
fn probe_until_refused(env: &Env, first: &mut Child) -> String {
    let started = Instant::now();
    let mut refusal = None;
    while refusal.is_none() && started.elapsed() < Duration::from_secs(60) {
        if first.try_wait().unwrap().is_some() {
            break;
        }
        let out = env.run(&["list"]);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        match out.status.code() {
            Some(0) => {} // the first has not taken the lock yet
            Some(1) if stderr.contains("archive is in use by another custodia process") => {
                refusal = Some(stderr);
            }
            other => panic!("a second command while the archive is busy: {other:?}\n{stderr}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    refusal.expect("a 200 MiB ingest finished before a second command ever met the lock")
}

/// A writer meets the same refusal; with --json it is the "locked" error object. Returns
/// whether it was refused (false when the ingest had just ended and it ran).
fn check_writer_refused_as_json(env: &Env) -> bool {
    let out = env.run(&["--json", "case", "create", "PROBE", "--title", "t"]);
    match out.status.code() {
        Some(1) => {
            let err: Value = serde_json::from_slice(&out.stderr)
                .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
            assert_eq!(err["error"]["kind"], "locked", "{err}");
            assert!(
                json_str(&err["error"]["message"])
                    .contains("archive is in use by another custodia process")
            );
            true
        }
        Some(0) => false, // the ingest had just ended
        other => panic!("a second writer: {other:?}\n{}", text(&out.stderr)),
    }
}

/// The first writer's ingest succeeded and reports the big file's hashes and size.
fn check_first_ingest(first: Child, sha: &str, b3: &str) {
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json_items(&report)[0]["blake3"], b3);
    assert_eq!(json_items(&report)[0]["sha256"], sha);
    assert_eq!(json_items(&report)[0]["size"], SIZE as u64);
}

/// The waiting command ran after the ingest, in the log as on the clock.
fn check_waiting_writer_ran_after_the_ingest(env: &Env) {
    let log = env.json(&["log"])["events"].clone();
    let seq_of = |action: &str, case: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action && e["case"] == case)
            .and_then(|e| e["seq"].as_u64())
    };
    let ingest_seq = seq_of("ingest", CASE).expect("ingest event");
    let create_seq = seq_of("case_create", SECOND).expect("case_create event");
    assert!(
        ingest_seq < create_seq,
        "--wait ran before the ingest ended"
    );
}

#[test]
fn a_second_writer_is_refused_or_waits() {
    let env = Env::with_case();
    let big = env.path("big.bin");
    let (sha, b3) = util::write_noise_file(&big, 42, SIZE);

    // The first ingest waits for the lock itself, so a probe that slips in first cannot fail it.
    let mut first = env
        .std_cmd()
        .args(["--wait", "--json", "ingest", "--case", CASE, arg(&big)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = probe_until_refused(&env, &mut first);
    assert_one_sentence(&stderr);
    let writer_refused = check_writer_refused_as_json(&env);

    // With --wait, a second writer queues behind the first and then succeeds.
    let waited = env.json(&[
        "--wait",
        "case",
        "create",
        SECOND,
        "--title",
        "after the ingest",
    ]);
    assert_eq!(waited["id"], SECOND);
    check_first_ingest(first, &sha, &b3);
    check_waiting_writer_ran_after_the_ingest(&env);
    if writer_refused {
        let cases = env.json(&["case", "list"]);
        assert!(
            !cases.to_string().contains("PROBE"),
            "a refused writer changed the archive: {cases}"
        );
    }

    let (code, v) = env.verify();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["checked"]["items"], 1);
    assert_eq!(v["checked"]["bytes"], SIZE as u64);
}
