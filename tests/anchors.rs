//! Checkpoints and trusted time from the command line (issue 11, items 3 to 5): a signed
//! checkpoint standard tools check, `verify --against` catching a rolled-back or rewritten
//! archive, and RFC 3161 tokens from a throwaway TSA kept as custody events.

use std::process::Command;

use serde_json::Value;

use crate::timestamp_tsa::{Key, Mode, Tsa};
use crate::util::{Env, copy_dir, text, write};

fn archive() -> Env {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"statement A");
    env.ingest(&[&env.path("in")]);
    env
}

fn findings(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["kind"].as_str().unwrap(),
                p["detail"].as_str().unwrap()
            )
        })
        .collect()
}

fn verify_against(env: &Env, checkpoint: &std::path::Path) -> (i32, Value) {
    let out = env.run(&[
        "--json",
        "verify",
        "--read-only",
        "--against",
        checkpoint.to_str().unwrap(),
    ]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn a_checkpoint_is_checked_by_ssh_keygen_and_openssl_and_a_later_log_still_holds_it() {
    let env = archive();
    let cp = env.path("cp");
    let made = env.json(&["checkpoint", "--out", cp.to_str().unwrap()]);
    assert_eq!(
        made["size"], 3,
        "init, case, ingest and nothing else: {made:#}"
    );
    let note = std::fs::read_to_string(&cp).unwrap();
    assert!(note.starts_with("custodia/"), "{note}");
    // ssh-keygen -Y verify, with the key the log registered.
    let public = made["public_key"].as_str().unwrap();
    write(
        &env.path("allowed"),
        format!("tester {public}\n").as_bytes(),
    );
    let checked = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "custodia", "-I", "tester", "-f"])
        .arg(env.path("allowed"))
        .arg("-s")
        .arg(env.path("cp.sig"))
        .stdin(std::fs::File::open(&cp).unwrap())
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    // The note's own signature is raw Ed25519 over its body: openssl checks it.
    let body: String = note.lines().take(3).map(|l| format!("{l}\n")).collect();
    write(&env.path("body"), body.as_bytes());
    let sig_line = note.lines().last().unwrap();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig_line.rsplit(' ').next().unwrap())
        .unwrap();
    write(&env.path("raw.sig"), &sig[4..]);
    let key = crate::util::openssh_to_pem(public);
    write(&env.path("pub.pem"), key.as_bytes());
    let ok = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(env.path("pub.pem"))
        .args(["-rawin", "-in"])
        .arg(env.path("body"))
        .arg("-sigfile")
        .arg(env.path("raw.sig"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stdout));

    env.ok(&["case", "create", "BY-2024-018", "--title", "later"]);
    let (code, report) = verify_against(&env, &cp);
    assert_eq!(code, 0, "{report:#}");
}

/// The archive restored from an older copy: indistinguishable before checkpoints.
#[test]
fn a_rolled_back_archive_fails_against_a_later_checkpoint() {
    let env = archive();
    let old = env.path("old-copy");
    copy_dir(&env.archive, &old);
    env.ok(&["case", "create", "BY-2024-018", "--title", "later"]);
    let cp = env.path("cp");
    env.ok(&["checkpoint", "--out", cp.to_str().unwrap()]);
    std::fs::remove_dir_all(&env.archive).unwrap();
    copy_dir(&old, &env.archive);
    let (code, plain) = env.verify_read_only();
    assert_eq!(code, 0, "a rollback is consistent on its own: {plain:#}");
    let (code, report) = verify_against(&env, &cp);
    assert_eq!(code, 3, "{report:#}");
    let found = findings(&report);
    assert!(
        found.iter().any(
            |f| f.starts_with("checkpoint_mismatch") && f.contains("events 4 to 4 are missing")
        ),
        "{found:?}"
    );
}

#[test]
fn a_rewritten_log_and_a_forged_checkpoint_are_named() {
    let env = archive();
    let cp = env.path("cp");
    env.ok(&["checkpoint", "--out", cp.to_str().unwrap()]);
    // Another archive's checkpoint, and a checkpoint whose size was edited.
    let other = Env::with_case();
    let other_cp = env.path("other-cp");
    other.ok(&["checkpoint", "--out", other_cp.to_str().unwrap()]);
    let (code, report) = verify_against(&env, &other_cp);
    assert_eq!(code, 3);
    assert!(findings(&report)[0].contains("another log"), "{report:#}");
    let note = std::fs::read_to_string(&cp).unwrap();
    let edited = note.replacen("\n3\n", "\n2\n", 1);
    assert_ne!(edited, note);
    write(&env.path("edited"), edited.as_bytes());
    let (code, report) = verify_against(&env, &env.path("edited"));
    assert_eq!(code, 3);
    assert!(
        findings(&report)
            .iter()
            .any(|f| f.starts_with("signer_unknown")),
        "{report:#}"
    );
    write(&env.path("junk"), b"not a checkpoint");
    let (code, report) = verify_against(&env, &env.path("junk"));
    assert_eq!(code, 3, "{report:#}");
    assert!(
        findings(&report)[0].contains("cannot be read"),
        "{report:#}"
    );
}

#[test]
fn a_token_from_a_tsa_is_kept_as_an_event_both_ways() {
    let Some(tsa) = Tsa::new(Key::Rsa, "anchors") else {
        return;
    };
    let env = archive();
    // Air-gapped: request to a file, the TSA answers by hand, the answer added.
    let tsq = env.path("q.tsq");
    let asked = env.json(&["timestamp", "request", "--out", tsq.to_str().unwrap()]);
    let tsr = tsa.reply(&std::fs::read(&tsq).unwrap());
    write(&env.path("r.tsr"), &tsr);
    let chain = tsa.path("tsa.crt");
    let added = env.json(&[
        "timestamp",
        "add",
        env.path("r.tsr").to_str().unwrap(),
        "--tsa-chain",
        chain.to_str().unwrap(),
    ]);
    assert_eq!(added["checkpoint_size"], asked["checkpoint_size"]);
    assert!(
        added["tsa"]
            .as_str()
            .unwrap()
            .contains("custodia test TSA anchors"),
        "{added:#}"
    );
    // The same response again answers no request still open.
    let (_, stderr) = env.fails(
        &["timestamp", "add", env.path("r.tsr").to_str().unwrap()],
        1,
    );
    assert!(stderr.contains("no time-stamp request"), "{stderr}");
    // Connected: one step over loopback HTTP.
    let server = tsa.serve(Mode::Genuine);
    let fetched = env.json(&["timestamp", "--tsa", &server.url]);
    assert!(fetched["event"].as_u64().unwrap() > added["event"].as_u64().unwrap());
    // A TSA that answers for another imprint: refused, nothing recorded.
    let before = env.json(&["log"])["events"].as_array().unwrap().len();
    let wrong = tsa.serve(Mode::OtherImprint);
    let out = env.run(&["--json", "timestamp", "--tsa", &wrong.url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "wrong_imprint");
    assert_eq!(
        env.json(&["log"])["events"].as_array().unwrap().len(),
        before
    );
    // The stored token is the one openssl checks against the checkpoint digest.
    let log = env.json(&["log"]);
    let stamp = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "timestamp")
        .unwrap();
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD
        .decode(stamp["details"]["token"].as_str().unwrap())
        .unwrap();
    let digest: [u8; 32] = hex::decode(stamp["details"]["digest"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let (ok, why) = tsa.openssl_verify_token(&token, &digest);
    assert!(ok, "{why}");
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
}

/// An insider who rewrites an early event and re-chains everything after it.
#[test]
fn a_log_rewritten_after_a_checkpoint_fails_against_it() {
    let env = archive();
    let cp = env.path("cp");
    env.ok(&["checkpoint", "--out", cp.to_str().unwrap()]);
    env.ok(&["case", "create", "BY-2024-018", "--title", "later"]);
    crate::signing::forge(
        &env,
        |events| {
            events.get_mut(&2).unwrap()["details"]["title"] = "another title".into();
        },
        None,
    );
    let (code, report) = verify_against(&env, &cp);
    assert_eq!(code, 3, "{report:#}");
    assert!(
        findings(&report)
            .iter()
            .any(|f| f.starts_with("checkpoint_mismatch")
                && f.contains("first 3 events are not the tree")),
        "{report:#}"
    );
}

#[test]
fn timestamp_needs_a_step_or_a_tsa() {
    let env = archive();
    env.fails(&["timestamp"], 2);
    env.fails(&["timestamp", "add", "/nonexistent.tsr"], 1);
    write(&env.path("junk.tsr"), b"junk");
    env.ok(&[
        "timestamp",
        "request",
        "--out",
        env.path("q.tsq").to_str().unwrap(),
    ]);
    let out = env.run(&[
        "--json",
        "timestamp",
        "add",
        env.path("junk.tsr").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "bad_timestamp");
}
