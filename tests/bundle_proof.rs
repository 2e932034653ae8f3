//! The proof a bundle carries (issue 11, item 6): the forgeries that passed every check
//! before signatures, each made with every manifest recomputed, caught by `verify --bundle`
//! and by the Python checker shipped in the bag; trusted keys and trusted time.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::timestamp_tsa::{Key, Tsa};
use crate::util::{Env, copy_tree, python_check, reseal_bag, text, verify_bundle_json, write};

/// A bundle of a case with two items, an extract and a link, exported by "tester".
fn bundle() -> (Env, std::path::PathBuf) {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"statement A");
    write(&env.path("in/b.txt"), b"statement B");
    env.ingest(&[&env.path("in")]);
    env.ok(&[
        "extract",
        "EV-000001",
        "--out",
        env.path("copy").to_str().unwrap(),
    ]);
    let bag = env.path("bundle");
    env.ok(&[
        "export",
        "--case",
        "BY-2024-017",
        "--out",
        bag.to_str().unwrap(),
    ]);
    (env, bag)
}

fn custody_lines(bag: &Path) -> Vec<Value> {
    std::fs::read_to_string(bag.join("data/custody.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes the events back as a forger would: every item chain re-linked, the custody head
/// in bag-info updated, every manifest recomputed. Only the signatures and the checkpoint
/// can tell.
fn rewrite(bag: &Path, events: &[Value]) {
    let mut heads = std::collections::HashMap::new();
    let mut out = String::new();
    let mut last = String::new();
    for e in events {
        let mut e = e.clone();
        for link in e["items"].as_array_mut().unwrap() {
            let id = link["id"].as_str().unwrap().to_owned();
            link["prev"] = heads.get(&id).cloned().map_or(Value::Null, Value::String);
        }
        let bytes = serde_json::to_vec(&e).unwrap();
        last = hex::encode(Sha256::digest(&bytes));
        for link in e["items"].as_array().unwrap() {
            heads.insert(link["id"].as_str().unwrap().to_owned(), last.clone());
        }
        out.push_str(&String::from_utf8(bytes).unwrap());
        out.push('\n');
    }
    write(&bag.join("data/custody.jsonl"), out.as_bytes());
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| match l.strip_prefix("Custodia-Custody-Head: ") {
            Some(_) => format!("Custodia-Custody-Head: {last}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    write(&bag.join("bag-info.txt"), info.as_bytes());
    reseal_bag(bag);
}

fn index_of(events: &[Value], action: &str) -> usize {
    events
        .iter()
        .position(|e| e["action"] == action)
        .expect("action in the bundle")
}

/// An edit of a bundle's events, as a forger makes it.
type Forgery = Box<dyn Fn(&mut Vec<Value>)>;

/// The forgeries of issue 11's table, each applied to a fresh copy of one bundle.
/// `verify --bundle BAG --trust-key KEY --json`: the exit code and the report.
fn verify_trusting(env: &Env, bag: &Path, key: &Path) -> (Option<i32>, Value) {
    let out = env.run(&[
        "--json",
        "verify",
        "--bundle",
        bag.to_str().unwrap(),
        "--trust-key",
        key.to_str().unwrap(),
    ]);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    (out.status.code(), report)
}

/// Whether the report names a finding of kind `kind`.
fn has_finding(report: &Value, kind: &str) -> bool {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == kind)
}

/// Whether event `e` names item `id` and no other.
fn names_only(e: &Value, id: &Value) -> bool {
    let items = e["items"].as_array().unwrap();
    items.len() == 1 && items[0]["id"] == *id
}

/// The rows of issue 11's table, each an edit of the bundle's custody log.
fn forgeries() -> Vec<(&'static str, Forgery)> {
    let mut all = history_forgeries();
    all.extend(export_event_forgeries());
    all
}

/// Edits of the history before the export.
fn history_forgeries() -> Vec<(&'static str, Forgery)> {
    vec![
        (
            "a middle event's actor edited",
            Box::new(|ev: &mut Vec<Value>| {
                let i = index_of(ev, "extract");
                ev[i]["actor"] = "someone else".into();
            }),
        ),
        (
            "an extract event deleted",
            Box::new(|ev: &mut Vec<Value>| {
                let i = index_of(ev, "extract");
                ev.remove(i);
            }),
        ),
        (
            "a payload's ingest event rewritten",
            Box::new(|ev: &mut Vec<Value>| {
                ev[0]["details"]["sha256"] = hex::encode(Sha256::digest(b"other bytes")).into();
            }),
        ),
    ]
}

/// Edits of the export event (rows 4 to 8), and row 6's other half: an event's archive.
fn export_event_forgeries() -> Vec<(&'static str, Forgery)> {
    vec![
        (
            "a second export event appended",
            Box::new(|ev: &mut Vec<Value>| {
                let mut again = ev.last().unwrap().clone();
                again["seq"] = (again["seq"].as_u64().unwrap() + 1).into();
                ev.push(again);
            }),
        ),
        (
            "the export event's item count changed",
            Box::new(|ev: &mut Vec<Value>| {
                let last = ev.len() - 1;
                ev[last]["details"]["items"] = 1.into();
            }),
        ),
        (
            "one item dropped from the export, consistently",
            Box::new(|ev: &mut Vec<Value>| {
                let last = ev.len() - 1;
                let dropped = ev[last]["items"][1]["id"].clone();
                ev[last]["items"].as_array_mut().unwrap().remove(1);
                ev[last]["details"]["items"] = 1.into();
                ev.retain(|e| !names_only(e, &dropped));
            }),
        ),
        (
            "the export event's case changed",
            Box::new(|ev: &mut Vec<Value>| {
                let last = ev.len() - 1;
                ev[last]["case"] = "BY-2024-999".into();
            }),
        ),
        (
            "the export event's byte count changed",
            Box::new(|ev: &mut Vec<Value>| {
                let last = ev.len() - 1;
                let bytes = ev[last]["details"]["bytes"].as_u64().unwrap();
                ev[last]["details"]["bytes"] = (bytes + 1).into();
            }),
        ),
        (
            "an event's archive changed",
            Box::new(|ev: &mut Vec<Value>| {
                ev[0]["archive"] = "0".repeat(32).into();
            }),
        ),
        (
            "the top-level prev broken",
            Box::new(|ev: &mut Vec<Value>| {
                let last = ev.len() - 1;
                ev[last]["prev"] = "0".repeat(64).into();
            }),
        ),
        (
            "the export time set to 1999",
            Box::new(|ev: &mut Vec<Value>| {
                let last = ev.len() - 1;
                ev[last]["time"] = "1999-01-01T00:00:00.000000Z".into();
            }),
        ),
    ]
}

#[test]
fn a_genuine_bundle_passes_verify_the_python_checker_and_ssh_keygen() {
    let (env, bag) = bundle();
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 0, "{report:#}");
    let trust = &report["trust"];
    let key = env.json(&["key", "list"])["keys"][0].clone();
    assert_eq!(trust["signed_by"], serde_json::json!([key["fingerprint"]]));
    assert_eq!(trust["checkpoint"]["signer"], key["fingerprint"]);
    assert_eq!(
        trust["checkpoint"]["size"],
        custody_lines(&bag).last().unwrap()["seq"]
    );
    assert_eq!(trust["trusted_key"], false);
    let (ok, said) = python_check(&bag, &[]);
    assert!(ok, "{said}");
    let checker = std::fs::read_to_string(bag.join("data/proof/check.py")).unwrap();
    assert!(
        checker.lines().count() < 120,
        "the independent checker stays short enough to read: {} lines",
        checker.lines().count()
    );
    let checked = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            "data/proof/allowed_signers",
            "-I",
            "tester",
            "-n",
            "custodia",
        ])
        .args(["-s", "data/proof/checkpoint.sig"])
        .stdin(std::fs::File::open(bag.join("data/proof/checkpoint")).unwrap())
        .current_dir(&bag)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    // README-VERIFY's command fails on a checkpoint changed after signing.
    let note = std::fs::read_to_string(bag.join("data/proof/checkpoint")).unwrap();
    let size = custody_lines(&bag).last().unwrap()["seq"].as_u64().unwrap();
    let edited = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1);
    assert_ne!(edited, note);
    write(&bag.join("data/proof/checkpoint"), edited.as_bytes());
    let refused = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            "data/proof/allowed_signers",
            "-I",
            "tester",
            "-n",
            "custodia",
        ])
        .args(["-s", "data/proof/checkpoint.sig"])
        .stdin(std::fs::File::open(bag.join("data/proof/checkpoint")).unwrap())
        .current_dir(&bag)
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "ssh-keygen accepted a changed checkpoint"
    );
    reseal_bag(&bag);
    assert!(
        !python_check(&bag, &[]).0,
        "check.py accepted a changed checkpoint"
    );
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 3, "{report:#}");
}

#[test]
fn every_forgery_of_the_table_is_caught_by_verify_and_by_the_python_checker() {
    let (env, bag) = bundle();
    for (what, forge) in forgeries() {
        let copy = env.path(&format!("forged-{}", what.replace(' ', "-")));
        copy_tree(&bag, &copy);
        let mut events = custody_lines(&copy);
        forge(&mut events);
        rewrite(&copy, &events);
        let (code, report, _) = verify_bundle_json(&copy);
        assert_eq!(code, 3, "{what}: {report:#}");
        let kinds: Vec<&str> = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["kind"].as_str().unwrap())
            .collect();
        assert!(
            kinds
                .iter()
                .any(|k| matches!(*k, "signature_invalid" | "checkpoint_mismatch")),
            "{what}: the proof itself must name it: {kinds:?}"
        );
        let (ok, said) = python_check(&copy, &[]);
        assert!(!ok, "{what}: the Python checker passed it:\n{said}");
    }
}

/// The forger the table's forgeries are not: one who rebuilds the whole history in an
/// archive of their own, so that every signature, proof and checkpoint is genuine for their
/// key. Nothing inside a bundle can tell that apart; the key the recipient trusts does.
#[test]
fn a_history_rewritten_whole_and_re_signed_is_caught_by_the_trusted_key() {
    let (env, _) = bundle();
    let exporter = env.path("exporter.pub");
    let key = env.json(&["key", "list"])["keys"][0]["public_key"].clone();
    write(&exporter, key.as_str().unwrap().as_bytes());
    let forger = Env::with_case();
    write(
        &forger.path("in/a.txt"),
        b"statement A, as the forger would have it",
    );
    write(&forger.path("in/b.txt"), b"statement B");
    forger.ingest(&[&forger.path("in")]);
    let forged = forger.path("bundle");
    forger.ok(&[
        "export",
        "--case",
        "BY-2024-017",
        "--out",
        forged.to_str().unwrap(),
    ]);

    // Alone, the bundle is consistent, and the report says no trusted key vouched for it.
    let (code, report, _) = verify_bundle_json(&forged);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["trust"]["trusted_key"], false, "{report:#}");
    let (code, report) = verify_trusting(&env, &forged, &exporter);
    assert_eq!(code, Some(3), "{report:#}");
    assert!(has_finding(&report, "signer_unknown"), "{report:#}");
    let (ok, said) = python_check(&forged, &[&exporter]);
    assert!(
        !ok,
        "check.py with the exporter's key passed the forger's bundle: {said}"
    );
}

#[test]
fn only_a_key_the_recipient_trusts_vouches_for_the_checkpoint() {
    let (env, bag) = bundle();
    let key = env.json(&["key", "list"])["keys"][0]["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    write(&env.path("exporter.pub"), key.as_bytes());
    let other = env.path("other.ed25519");
    env.ok(&["key", "generate", "--out", other.to_str().unwrap()]);
    let other_pub = env.path("other.ed25519.pub");
    let (code, report) = verify_trusting(&env, &bag, &env.path("exporter.pub"));
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["trust"]["trusted_key"], true);
    let (code, report) = verify_trusting(&env, &bag, &other_pub);
    assert_eq!(code, Some(3), "{report:#}");
    assert!(has_finding(&report, "signer_unknown"), "{report:#}");
    assert!(python_check(&bag, &[&env.path("exporter.pub")]).0);
    assert!(!python_check(&bag, &[&other_pub]).0);
    env.fails(
        &[
            "verify",
            "--bundle",
            bag.to_str().unwrap(),
            "--trust-key",
            "/nonexistent.pub",
        ],
        1,
    );
}

#[test]
fn a_bundle_carries_its_time_stamps_and_the_recipient_chooses_the_tsa_it_trusts() {
    let Some(tsa) = Tsa::new(Key::Rsa, "bundle") else {
        return;
    };
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"statement A");
    env.ingest(&[&env.path("in")]);
    let server = tsa.serve(crate::timestamp_tsa::Mode::Genuine);
    let stamped = env.json(&["timestamp", "--tsa", &server.url]);
    write(&env.path("in2/b.txt"), b"statement B, later");
    env.ingest(&[&env.path("in2")]);
    let bag = env.path("bundle");
    env.ok(&[
        "export",
        "--case",
        "BY-2024-017",
        "--out",
        bag.to_str().unwrap(),
    ]);
    let ca = tsa.path("ca.crt");
    let out = env.run(&[
        "--json",
        "verify",
        "--bundle",
        bag.to_str().unwrap(),
        "--tsa-ca",
        ca.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stamp = &report["trust"]["timestamps"][0];
    assert_eq!(stamp["trusted"], true, "{report:#}");
    assert_eq!(stamp["checkpoint_size"], stamped["checkpoint_size"]);
    assert!(python_check(&bag, &[]).0);
    let token = std::fs::read(bag.join(format!("data/proof/timestamp-{}.token", stamped["event"])))
        .unwrap();
    let anchors = std::fs::read_to_string(bag.join("data/proof/anchors.jsonl")).unwrap();
    let anchor: Value = serde_json::from_str(anchors.lines().next().unwrap()).unwrap();
    let digest: [u8; 32] = hex::decode(anchor["details"]["digest"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let (ok, why) = tsa.openssl_verify_token(&token, &digest);
    assert!(ok, "{why}");
    // README-VERIFY's step 6 fails on a tampered token or a checkpoint it does not stamp.
    let mut bent = token.clone();
    let at = bent.len() - 40;
    bent[at] ^= 1;
    assert!(!tsa.openssl_verify_token(&bent, &digest).0, "a bent token");
    let mut other = digest;
    other[0] ^= 1;
    assert!(
        !tsa.openssl_verify_token(&token, &other).0,
        "another digest"
    );
    // Without --tsa-ca the token is checked but its authority is not vouched for.
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 0);
    assert_eq!(report["trust"]["timestamps"][0]["trusted"], false);
    // A token file that is not its event's token is a finding.
    write(
        &bag.join(format!("data/proof/timestamp-{}.token", stamped["event"])),
        b"forged",
    );
    reseal_bag(&bag);
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 3, "{report:#}");
}
