//! Selective disclosure (issue 11.7): events commit to local paths, host names, cases,
//! sources and notes; a bundle reveals only what it is asked to, and both checkers check
//! every revealed value against its commitment.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Env, arg, copy_tree, python_check, reseal_bag, text, verify_bundle_json, write};

const CASE: &str = "BY-2024-017";
const OTHER: &str = "BY-2024-099";
const SOURCE: &str = "Handed over by witness W-17";
const NOTE: &str = "Interviewer kept the original";

/// An item ingested into another case with a source and a note, then linked into CASE.
fn linked_item() -> (Env, PathBuf) {
    let env = Env::with_case();
    env.ok(&["case", "create", OTHER, "--title", "Other case"]);
    let src = env.path("intake-folder-7f3a/statement.txt");
    write(&src, b"SYNTHETIC TEST DATA - fictional statement\n");
    env.ok(&[
        "ingest",
        "--case",
        OTHER,
        "--source",
        SOURCE,
        "--note",
        NOTE,
        arg(&src),
    ]);
    env.ok(&[
        "link",
        "EV-000001",
        "--case",
        CASE,
        "--reason",
        "same incident",
    ]);
    (env, src)
}

fn export(env: &Env, name: &str, reveal: &[&str]) -> PathBuf {
    let bag = env.path(name);
    let mut args = vec!["export", "--case", CASE, "--out", arg(&bag)];
    for r in reveal {
        args.extend(["--reveal", r]);
    }
    env.ok(&args);
    bag
}

/// Every byte of every file of the bag, as text (lossy), for a `grep -r`.
fn grep(bag: &Path, needle: &str) -> Vec<String> {
    crate::util::bag_files(bag)
        .into_iter()
        .filter(|rel| {
            let bytes = std::fs::read(bag.join(rel)).unwrap();
            String::from_utf8_lossy(&bytes).contains(needle)
        })
        .collect()
}

/// The host name as events record it: `"host":"<name>"` in an event's JSON, which a
/// short host name cannot match by chance inside a hash or a signature.
fn host_field() -> String {
    let out = Command::new("hostname").output().expect("hostname");
    format!("\"host\":\"{}\"", text(&out.stdout).trim())
}

fn assert_both_pass(bag: &Path, what: &str) {
    let (code, report, stderr) = verify_bundle_json(bag);
    assert_eq!(code, 0, "{what}: {report:#}\n{stderr}");
    let (passed, said) = python_check(bag, &[]);
    assert!(passed, "{what}: check.py: {said}");
}

#[test]
fn a_default_bundle_names_no_path_host_other_case_source_or_note() {
    let (env, src) = linked_item();
    let bag = export(&env, "bundle", &[]);
    let folder = src.parent().unwrap().to_str().unwrap().to_owned();
    for needle in [folder.as_str(), &host_field(), OTHER, SOURCE, NOTE] {
        assert_eq!(
            grep(&bag, needle),
            Vec::<String>::new(),
            "{needle:?} in the bag"
        );
    }
    let evidence: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    assert_eq!(evidence["items"][0]["cases"], serde_json::json!([CASE]));
    assert!(evidence["items"][0]["path"]["commit"].is_string());
    assert_both_pass(&bag, "default bundle");
    // The archive itself still shows everything.
    let shown = env.ok(&["show", "EV-000001"]);
    for needle in [folder.as_str(), OTHER, SOURCE, NOTE] {
        assert!(shown.contains(needle), "show lacks {needle:?}: {shown}");
    }
}

#[test]
fn revealed_fields_appear_and_verify_in_both_checkers() {
    let (env, src) = linked_item();
    let bag = export(&env, "bundle", &["path", "cases", "source", "note", "host"]);
    let folder = src.parent().unwrap().to_str().unwrap().to_owned();
    for needle in [folder.as_str(), OTHER, SOURCE, NOTE] {
        assert!(
            grep(&bag, needle).contains(&"data/proof/reveals.jsonl".to_owned()),
            "{needle:?} not revealed"
        );
    }
    let host = text(&Command::new("hostname").output().expect("hostname").stdout);
    let reveals = std::fs::read_to_string(bag.join("data/proof/reveals.jsonl")).unwrap();
    assert!(
        reveals
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .any(|r| r["field"] == "host" && r["value"] == host.trim()),
        "the host name is revealed: {reveals}"
    );
    let evidence = std::fs::read_to_string(bag.join("data/evidence.json")).unwrap();
    assert!(evidence.contains(src.to_str().unwrap()), "{evidence}");
    assert!(evidence.contains(OTHER), "{evidence}");
    assert_both_pass(&bag, "bundle with reveals");
}

#[test]
fn a_tampered_reveal_is_found_by_both_checkers_with_every_manifest_recomputed() {
    let (env, _) = linked_item();
    let genuine = export(&env, "bundle", &["source"]);
    let bag = env.path("forged");
    copy_tree(&genuine, &bag);
    let reveals = bag.join("data/proof/reveals.jsonl");
    let text = std::fs::read_to_string(&reveals).unwrap();
    assert!(text.contains(SOURCE));
    std::fs::write(
        &reveals,
        text.replace(SOURCE, "Handed over by witness W-18"),
    )
    .unwrap();
    let evidence = bag.join("data/evidence.json");
    let doc = std::fs::read_to_string(&evidence).unwrap();
    std::fs::write(
        &evidence,
        doc.replace(SOURCE, "Handed over by witness W-18"),
    )
    .unwrap();
    reseal_bag(&bag);
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 3, "{report:#}");
    let found = crate::util::problem_pairs(&report);
    assert!(
        found
            .iter()
            .any(|(k, id)| k == "metadata_mismatch" && id.starts_with("event ")),
        "the reveal is named: {found:#?}"
    );
    let (passed, said) = python_check(&bag, &[]);
    assert!(!passed, "check.py accepted a forged reveal: {said}");
    assert!(said.contains("details.source"), "{said}");
}

#[test]
fn an_unknown_reveal_is_a_usage_error_naming_the_accepted_fields() {
    let (env, _) = linked_item();
    let bag = env.path("bundle");
    let (_, stderr) = env.fails(
        &[
            "export",
            "--case",
            CASE,
            "--out",
            arg(&bag),
            "--reveal",
            "paths",
        ],
        2,
    );
    for name in ["path", "host", "cases", "source", "note"] {
        assert!(stderr.contains(name), "{stderr}");
    }
    assert!(!bag.exists(), "nothing written");
}

/// A format-1 archive of an earlier release keeps its plain events; the events this
/// release adds commit; both verify, and so does a bundle holding both kinds.
#[test]
fn an_older_archive_keeps_its_plain_events_and_commits_new_ones() {
    let env = Env::new();
    crate::util::unpack_fixture_archive(&env, "archive-format1.tar.gz", "archive-format1");
    let before = stored_events(&env);
    assert!(
        before.iter().all(|e| e["host"].is_string()),
        "old events are plain"
    );
    let src = env.path("in/new.txt");
    write(&src, b"SYNTHETIC TEST DATA - a new statement\n");
    env.ok(&["ingest", "--case", CASE, arg(&src)]);
    let after = stored_events(&env);
    assert_eq!(&after[..before.len()], &before[..], "old events unchanged");
    let new: Vec<&serde_json::Value> = after[before.len()..].iter().collect();
    assert!(!new.is_empty());
    for e in new {
        assert!(e["host"]["commit"].is_string(), "a new event commits: {e}");
    }
    let (code, verdict) = env.verify();
    assert_eq!(code, 0, "{verdict:#}");
    // log shows the values, old and new alike.
    let shown = env.json(&["log"]);
    assert!(
        shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["host"].is_string())
    );
    let bag = export(&env, "bundle", &[]);
    assert_both_pass(&bag, "a bundle of old and new events");
}

/// The archive's custody events exactly as stored.
fn stored_events(env: &Env) -> Vec<serde_json::Value> {
    let db = env.sled();
    db.open_tree("custody")
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice(&e.unwrap().1[1..]).expect("event JSON"))
        .collect()
}

/// The ingest event (seq 4 here: init, two case_create, then the ingest) and its stored
/// openings record, decoded: 01 ‖ canonical JSON, as docs/FORMAT.md lays it out.
fn ingest_openings(env: &Env) -> (sled::Tree, [u8; 8], serde_json::Value) {
    let db = env.sled();
    let tree = db.open_tree("openings").expect("openings tree");
    let key = 4u64.to_be_bytes();
    let record = tree.get(key).expect("read").expect("the ingest's openings");
    assert_eq!(record[0], 1, "record version");
    let openings = serde_json::from_slice(&record[1..]).expect("openings JSON");
    (tree, key, openings)
}

/// Stored values that no longer open their commitments, or are gone, are findings: the
/// value `show` prints must be the one the signed event committed to.
#[test]
fn verify_finds_an_opening_changed_or_lost() {
    let (env, _) = linked_item();
    let (code, v) = env.verify();
    assert_eq!(code, 0, "{v}");
    let (tree, key, mut openings) = ingest_openings(&env);
    assert!(openings["details.source"]["value"] == SOURCE, "{openings}");
    openings["details.source"]["value"] = serde_json::json!("Someone else");
    let mut forged = vec![1u8];
    forged.extend(serde_json::to_vec(&openings).unwrap());
    tree.insert(key, forged).unwrap();
    tree.flush().unwrap();
    drop(tree);
    let (code, v) = env.verify();
    assert_eq!(code, 3, "{v}");
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["kind"] == "record_altered"
            && p["id"] == "event 4"
            && p["detail"].as_str().unwrap().contains("details.source")),
        "{v}"
    );

    let (tree, key, _) = ingest_openings(&env);
    tree.remove(key).unwrap();
    tree.flush().unwrap();
    drop(tree);
    let (code, v) = env.verify();
    assert_eq!(code, 3, "{v}");
    let lost = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["id"] == "event 4" && p["detail"].as_str().unwrap().contains("is missing"))
        .count();
    assert!(lost >= 4, "host, case, path, source, note each named: {v}");
}
