//! Signed custody events (issue 11): every event signed by a key the log registers, and
//! forgeries that re-chain the log perfectly caught by the signatures alone.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{Env, close_sled, text, write};

/// An archive with two items, an extract and a second case.
fn archive() -> Env {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"statement A");
    write(&env.path("in/b.txt"), b"statement B");
    env.ingest(&[&env.path("in")]);
    env.ok(&[
        "extract",
        "EV-000001",
        "--out",
        env.path("a.txt").to_str().unwrap(),
    ]);
    env.ok(&["case", "create", "BY-2024-018", "--title", "Second"]);
    env
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Rewrites the whole log as a forger without the signers' keys would: applies `edit` to
/// the events, then recomputes every `prev`, every `items[].prev`, `meta/head`, the items'
/// heads in the index and the HEAD file, so that only the signatures can tell. With
/// `resign`, the edited events are signed again with that key (the forger's own).
pub(crate) fn forge(
    env: &Env,
    edit: impl Fn(&mut BTreeMap<u64, Value>),
    resign: Option<&ed25519_dalek::SigningKey>,
) {
    let db = env.sled();
    let custody = db.open_tree("custody").unwrap();
    let mut events: BTreeMap<u64, Value> = custody
        .iter()
        .map(|e| {
            let (k, v) = e.unwrap();
            let seq = u64::from_be_bytes(k.as_ref().try_into().unwrap());
            (seq, serde_json::from_slice(&v[1..]).unwrap())
        })
        .collect();
    let before = events.clone();
    edit(&mut events);
    custody.clear().unwrap();
    let mut prev: Option<String> = None;
    let mut item_heads: HashMap<String, String> = HashMap::new();
    let mut last = (0, String::new());
    for (seq, e) in events.iter_mut() {
        e["seq"] = (*seq).into();
        e["prev"] = prev.clone().map_or(Value::Null, Value::String);
        for link in e["items"].as_array_mut().unwrap() {
            let id = link["id"].as_str().unwrap().to_owned();
            link["prev"] = item_heads
                .get(&id)
                .cloned()
                .map_or(Value::Null, Value::String);
        }
        if let Some(key) = resign.filter(|_| before.get(seq) != Some(e)) {
            sign_as(e, key);
        }
        let bytes = serde_json::to_vec(e).unwrap();
        let digest = sha256_hex(&bytes);
        for link in e["items"].as_array().unwrap() {
            item_heads.insert(link["id"].as_str().unwrap().to_owned(), digest.clone());
        }
        let mut stored = vec![1u8];
        stored.extend_from_slice(&bytes);
        custody.insert(seq.to_be_bytes(), stored).unwrap();
        prev = Some(digest.clone());
        last = (*seq, digest);
    }
    let mut head = vec![1u8];
    head.extend_from_slice(&last.0.to_le_bytes());
    head.extend_from_slice(&hex::decode(&last.1).unwrap());
    db.open_tree("meta").unwrap().insert("head", head).unwrap();
    let index = db.open_tree("index").unwrap();
    for (id, digest) in &item_heads {
        let n: u64 = id.trim_start_matches("EV-").parse().unwrap();
        let mut key = vec![b'H'];
        key.extend_from_slice(&n.to_be_bytes());
        let mut value = vec![1u8];
        value.extend_from_slice(&hex::decode(digest).unwrap());
        index.insert(key, value).unwrap();
    }
    drop((custody, index));
    close_sled(db, &env.archive.join("db"));
    std::fs::write(
        env.archive.join("HEAD"),
        format!("seq {}\nsha256 {}\n", last.0, last.1),
    )
    .unwrap();
}

/// Signs an event as FORMAT.md says: `signer` set, Ed25519 over the canonical bytes without `sig`.
fn sign_as(e: &mut Value, key: &ed25519_dalek::SigningKey) {
    use ed25519_dalek::Signer as _;
    e.as_object_mut().unwrap().remove("sig");
    e["signer"] = Value::String(fingerprint(&key.verifying_key()));
    let message = serde_json::to_vec(e).unwrap();
    let sig = key.sign(&message).to_bytes();
    e["sig"] = Value::String(base64::engine::general_purpose::STANDARD.encode(sig));
}

/// `SHA256:` and unpadded base64 of SHA-256 of the OpenSSH public key blob.
fn fingerprint(key: &ed25519_dalek::VerifyingKey) -> String {
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], key.as_bytes()] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(blob))
    )
}

fn findings(report: &Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap_or("-").to_owned();
            (p["kind"].as_str().unwrap().to_owned(), id)
        })
        .collect()
}

fn seq_of(events: &BTreeMap<u64, Value>, action: &str) -> u64 {
    *events
        .iter()
        .find(|(_, e)| e["action"] == action)
        .expect("the action is in the log")
        .0
}

#[test]
fn every_event_is_signed_by_the_actors_key_which_ssh_keygen_reads() {
    let env = archive();
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
    let c = &report["checked"];
    assert_eq!(c["signed_events"], c["events"], "{report:#}");
    assert_eq!(c["unsigned_events"], 0);
    let keys = env.json(&["key", "list"]);
    let key = &keys["keys"][0];
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys:#}");
    assert_eq!(key["actors"], serde_json::json!(["tester"]));
    assert_eq!(key["registered_at"], 1, "the init event registers it");
    let path = env.config_home().join("custodia/keys/tester.ed25519");
    let printed = Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(&path)
        .output();
    let printed = printed.expect("ssh-keygen (openssh-client) is installed");
    assert!(
        text(&printed.stdout).contains(key["fingerprint"].as_str().unwrap()),
        "ssh-keygen -l prints the same fingerprint: {}",
        text(&printed.stdout)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the private key is its owner's alone");
}

/// Issue 11, the table's first row: a middle event's actor edited and every later `prev`
/// recomputed passed every check before signatures.
#[test]
fn an_edited_middle_event_with_the_log_rechained_is_caught_by_its_signature() {
    let env = archive();
    let mut target = 0;
    forge(
        &env,
        |events| {
            let seq = seq_of(events, "extract");
            events.get_mut(&seq).unwrap()["actor"] = "someone else".into();
        },
        None,
    );
    let db_events = crate::util::custody_events(&env);
    for (seq, e) in &db_events {
        if e["action"] == "extract" {
            target = *seq;
        }
    }
    let (code, report) = env.verify();
    assert_eq!(code, 3, "{report:#}");
    let found = findings(&report);
    assert!(
        found.contains(&("signature_invalid".into(), format!("event {target}"))),
        "{report:#}"
    );
    assert!(
        !found
            .iter()
            .any(|(k, _)| k == "chain_broken" || k == "head_mismatch"),
        "the forger re-chained perfectly: only signatures can tell: {report:#}"
    );
}

/// An insider who appends an event signed with a key of their own, never registered.
#[test]
fn an_event_signed_by_an_unregistered_key_is_signer_unknown() {
    let env = archive();
    let forger = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let mut appended = 0;
    forge(
        &env,
        |events| {
            let (last, e) = events
                .iter()
                .next_back()
                .map(|(s, e)| (*s, e.clone()))
                .unwrap();
            let mut fake = e;
            fake["action"] = "case_create".into();
            fake["case"] = "BY-FORGED".into();
            events.insert(last + 1, fake);
        },
        Some(&forger),
    );
    for (seq, _) in crate::util::custody_events(&env) {
        appended = seq;
    }
    let (code, report) = env.verify();
    assert_eq!(code, 3, "{report:#}");
    assert!(
        findings(&report).contains(&("signer_unknown".into(), format!("event {appended}"))),
        "{report:#}"
    );
}

/// A downgrade: an event rewritten as version 1 (unsigned) after signed ones.
#[test]
fn an_unsigned_event_after_signed_ones_is_flagged() {
    let env = archive();
    forge(
        &env,
        |events| {
            let seq = seq_of(events, "extract");
            let e = events.get_mut(&seq).unwrap().as_object_mut().unwrap();
            e.remove("sig");
            e.remove("signer");
            e.insert("v".into(), 1.into());
        },
        None,
    );
    let (code, report) = env.verify();
    assert_eq!(code, 3, "{report:#}");
    assert!(
        findings(&report)
            .iter()
            .any(|(k, _)| k == "signature_invalid"),
        "{report:#}"
    );
}

#[test]
fn a_revoked_key_signs_nothing_more() {
    let env = archive();
    let fp = env.json(&["key", "list"])["keys"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    env.fails(&["key", "revoke", &fp], 2);
    let revoked = env.json(&["key", "revoke", &fp, "--reason", "laptop seized"]);
    assert!(revoked["event"].as_u64().is_some());
    let (_, stderr) = env.fails(&["case", "create", "BY-3", "--title", "t"], 1);
    assert!(
        stderr.contains("was revoked") && stderr.contains("laptop seized"),
        "{stderr}"
    );
    let (code, report) = env.verify_read_only();
    assert_eq!(code, 0, "the revocation itself is a good event: {report:#}");
    let listed = env.json(&["key", "list"]);
    assert_eq!(listed["keys"][0]["revoked_at"], revoked["event"]);
    // Another key for the same actor writes again, registered by its first event.
    let other = env.path("other.ed25519");
    env.ok(&["key", "generate", "--out", other.to_str().unwrap()]);
    env.ok(&[
        "--key",
        other.to_str().unwrap(),
        "case",
        "create",
        "BY-3",
        "--title",
        "t",
    ]);
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
    let log = env.json(&["log"]);
    let actions: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The last verify ran with the revoked default key: it checked, but recorded nothing.
    assert!(
        actions.ends_with(&["key_revoke", "key_register", "case_create"]),
        "{actions:?}"
    );
}

#[test]
fn keys_made_by_ssh_keygen_sign_and_protected_ones_are_refused_in_one_sentence() {
    let env = archive();
    let plain = env.path("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "field laptop", "-f"])
        .arg(&plain)
        .status()
        .expect("ssh-keygen (openssh-client) is installed");
    assert!(made.success());
    env.ok(&[
        "--key",
        plain.to_str().unwrap(),
        "case",
        "create",
        "BY-9",
        "--title",
        "t",
    ]);
    assert_eq!(
        env.json(&["key", "list"])["keys"].as_array().unwrap().len(),
        2
    );

    let locked = env.path("locked");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "a passphrase", "-f"])
        .arg(&locked)
        .status()
        .unwrap();
    assert!(made.success());
    let before = env.json(&["log"])["events"].as_array().unwrap().len();
    let out = env.run(&[
        "--json",
        "--key",
        locked.to_str().unwrap(),
        "case",
        "create",
        "BY-10",
        "--title",
        "t",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "key_unusable");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("passphrase")
    );
    let missing = env.run(&[
        "--json",
        "--key",
        "/nonexistent/key",
        "case",
        "create",
        "BY-10",
        "--title",
        "t",
    ]);
    let err: Value = serde_json::from_slice(&missing.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "key_missing");
    assert_eq!(
        env.json(&["log"])["events"].as_array().unwrap().len(),
        before,
        "nothing written"
    );
}

#[test]
fn a_format_1_archive_keeps_its_unsigned_events_and_signs_new_ones() {
    let env = Env::new();
    let tarball = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/archive-format1.tar.gz");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(env.dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let archive = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("FORMAT").is_file())
        .expect("the fixture holds an archive");
    let mut env = env;
    env.archive = archive;
    let (code, before) = env.verify_read_only();
    assert_eq!(code, 0, "{before:#}");
    let old = before["checked"]["unsigned_events"].as_u64().unwrap();
    assert!(old > 0, "{before:#}");
    env.ok(&["case", "create", "NEW-1", "--title", "after the upgrade"]);
    let (code, after) = env.verify();
    assert_eq!(code, 0, "{after:#}");
    assert_eq!(
        after["checked"]["unsigned_events"], old,
        "old events stay as they were"
    );
    assert!(
        after["checked"]["signed_events"].as_u64().unwrap() >= 2,
        "{after:#}"
    );
}

/// The key records writes consult are held to the log: one removed or edited is named.
#[test]
fn a_key_record_that_disagrees_with_the_log_is_named() {
    let env = archive();
    let fp = env.json(&["key", "list"])["keys"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = env.sled();
    let meta = db.open_tree("meta").unwrap();
    let removed = meta.remove(format!("key:{fp}")).unwrap();
    assert!(removed.is_some(), "the record was there");
    drop(meta);
    close_sled(db, &env.archive.join("db"));
    let (code, report) = env.verify_read_only();
    assert_eq!(code, 3, "{report:#}");
    assert!(
        findings(&report).contains(&("record_altered".into(), format!("key {fp}"))),
        "{report:#}"
    );
}
