//! Metadata after ingest (issue 12, point 2): `annotate` records a change of tags, source,
//! note or capture time as a signed custody event; `show`, `list` and `export` give the
//! current values, the log keeps every earlier one, a restored archive rebuilds them, and
//! a bundle's recipient recomputes them (custodia and the Python checker in the bag). A
//! duplicate ingest that brings new metadata records it the same way.

use std::path::Path;

use super::*;
use crate::util::{python_check, reseal_bag, text, verify_bundle_json};

const STATEMENT: &[u8] = b"statement of witness W-3\n";

/// An archive with one item tagged `Testimony` from `witness W-3`: (env, its id).
fn archive() -> (Env, String) {
    let env = Env::with_case();
    let id = ingest_one(
        &env,
        CASE,
        "in/statement.txt",
        STATEMENT,
        &[
            "--tag",
            "Testimony",
            "--source",
            "witness W-3",
            "--captured-at",
            "2024-03-02",
        ],
    );
    (env, id)
}

/// Annotates `id` with these arguments and a reason; returns the JSON result.
fn annotate(env: &Env, id: &str, args: &[&str]) -> Value {
    let mut all = vec!["annotate", id];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--reason", "reviewed the recording"]);
    env.json(&all)
}

fn strings(v: &Value) -> Vec<String> {
    crate::util::json_strings(v)
}

/// The SHA-256 line of the HEAD file: what must not move when nothing is recorded.
fn head(env: &Env) -> String {
    std::fs::read_to_string(env.archive.join("HEAD")).expect("HEAD")
}

#[test]
fn show_list_and_log_give_current_values_and_keep_the_history() {
    let (env, id) = archive();
    let done = annotate(
        &env,
        &id,
        &[
            "--tag",
            "video",
            "--untag",
            "TESTIMONY",
            "--source",
            "witness W-3, second interview",
            "--note",
            "face blurred",
            "--captured-at",
            "2024-03-03T09:30",
            "--tz",
            "+03:00",
        ],
    );
    assert_eq!(done["id"], id.as_str());
    assert_eq!(strings(&done["change"]["tags_added"]), ["video"]);
    assert_eq!(
        strings(&done["change"]["tags_removed"]),
        ["Testimony"],
        "removed as the item carried it"
    );
    let shown = env.json(&["show", &id]);
    assert_eq!(strings(&shown["tags"]), ["video"]);
    assert_eq!(shown["source"], "witness W-3, second interview");
    assert_eq!(shown["note"], "face blurred");
    assert_eq!(shown["captured_at"], "2024-03-03T09:30+03:00");
    let annotations = shown["annotations"].as_array().expect("annotations");
    assert_eq!(annotations.len(), 1);
    assert_eq!(annotations[0]["actor"], "tester");
    assert_eq!(annotations[0]["reason"], "reviewed the recording");
    assert_eq!(annotations[0]["event"], done["event"]);
    let human = env.ok(&["show", &id]);
    assert!(human.contains("annotations:"), "{human}");
    assert!(human.contains("tags +video -Testimony"), "{human}");

    // list filters read the current values.
    assert_eq!(listed(&env, &["--tag", "VIDEO"]), vec![id.as_str()]);
    assert!(listed(&env, &["--tag", "testimony"]).is_empty());
    assert_eq!(
        listed(&env, &["--source", "second interview"]),
        vec![id.as_str()]
    );
    assert!(listed(&env, &["--captured-to", "2024-03-02"]).is_empty());
    assert_eq!(
        listed(&env, &["--captured-from", "2024-03-03"]),
        vec![id.as_str()]
    );

    // The log keeps every earlier value: the ingest event is unchanged.
    let log = env.json(&["log", "--evidence", &id]);
    assert_eq!(
        crate::util::event_actions(&log["events"]),
        ["ingest", "annotate"]
    );
    let ingest = &log["events"][0]["details"];
    assert_eq!(strings(&ingest["tags"]), ["Testimony"]);
    assert_eq!(ingest["source"], "witness W-3");
    let annotate_event = &log["events"][1];
    assert_eq!(annotate_event["reason"], "reviewed the recording");
    assert_eq!(annotate_event["details"]["note"], "face blurred");
    assert!(annotate_event["sig"].is_string(), "signed like every event");
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report}");
}

#[test]
fn refusals_write_nothing() {
    let (env, id) = archive();
    let before = head(&env);
    // Unknown item: exit 1 like every unknown id.
    let stderr = env.refused(&["annotate", "EV-000099", "--tag", "x", "--reason", "r"], 1);
    crate::util::assert_one_sentence(&stderr);
    let kind = error_kind(
        &env,
        &["annotate", "EV-99", "--tag", "x", "--reason", "r"],
        1,
    );
    assert_eq!(kind, "unknown_item");
    // Nothing would change: a tag already there (in another case of letters), the same
    // source and capture time.
    let same = [
        "annotate",
        &id,
        "--tag",
        "testimony",
        "--source",
        "witness W-3",
        "--captured-at",
        "2024-03-02",
        "--reason",
        "r",
    ];
    crate::util::assert_one_sentence(&env.refused(&same, 1));
    assert_eq!(error_kind(&env, &same, 1), "no_change");
    // Usage errors (exit 2): an empty or blank reason, none, or nothing to change.
    for args in [
        &["annotate", &id, "--tag", "x", "--reason", ""][..],
        &["annotate", &id, "--tag", "x", "--reason", "  "],
        &["annotate", &id, "--tag", "x"],
        &["annotate", &id, "--reason", "r"],
        &[
            "annotate",
            &id,
            "--captured-at",
            "03/02/2024",
            "--reason",
            "r",
        ],
    ] {
        crate::util::assert_one_sentence(&env.refused(args, 2));
    }
    assert_eq!(head(&env), before, "no event was recorded");
    assert_eq!(
        env.json(&["log", "--evidence", &id])["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_duplicate_ingest_with_new_metadata_records_an_annotation_and_says_so() {
    let (env, id) = archive();
    let copy = env.path("usb/copy-of-statement.txt");
    write(&copy, STATEMENT);
    let report = env.json(&[
        "ingest",
        "--case",
        CASE,
        "--tag",
        "testimony",
        "--tag",
        "usb",
        "--source",
        "USB stick from W-3's lawyer",
        arg(&copy),
    ]);
    let item = &json_items(&report)[0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["status"], "duplicate");
    let seq = item["annotated"].as_u64().expect("the annotate event");
    let shown = env.json(&["show", &id]);
    assert_eq!(strings(&shown["tags"]), ["Testimony", "usb"]);
    assert_eq!(shown["source"], "USB stick from W-3's lawyer");
    let annotation = &shown["annotations"][0];
    assert_eq!(annotation["event"], seq);
    assert_eq!(strings(&annotation["change"]["tags_added"]), ["usb"]);
    let reason = json_str(&annotation["reason"]);
    assert!(
        reason.contains("duplicate ingest of copy-of-statement.txt"),
        "{reason}"
    );
    // Privacy: the acquire event holds the path; the reason does not repeat it.
    assert!(!reason.contains(arg(env.dir.path())), "{reason}");
    assert_eq!(
        crate::util::event_actions(&env.json(&["log", "--evidence", &id])["events"]),
        ["ingest", "acquire", "annotate"]
    );

    // The human line says so; the same metadata again records nothing more.
    let again = env.path("usb2/copy.txt");
    write(&again, STATEMENT);
    let line = env.ok(&["ingest", "--case", CASE, "--tag", "extra", arg(&again)]);
    assert!(line.contains("annotation #"), "{line}");
    let plain = env.json(&["ingest", "--case", CASE, "--tag", "USB", arg(&again)]);
    assert_eq!(json_items(&plain)[0]["annotated"], Value::Null);
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report}");
}

/// An annotated item exported with `extra` arguments: (env, item id, bundle).
fn exported(extra: &[&str]) -> (Env, String, std::path::PathBuf) {
    let (env, id) = archive();
    annotate(&env, &id, &["--tag", "video", "--note", "face blurred"]);
    annotate(
        &env,
        &id,
        &["--untag", "testimony", "--source", "W-3 (lawyer)"],
    );
    let bag = env.path("bundle");
    let mut args = vec!["export", "--case", CASE, "--out", arg(&bag)];
    args.extend_from_slice(extra);
    env.ok(&args);
    (env, id, bag)
}

/// Replaces the first item's `key` in evidence.json and reseals every manifest, as a
/// forger would.
fn forge_entry(bag: &Path, key: &str, value: Value) {
    let path = bag.join("data/evidence.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["items"][0][key] = value;
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap();
    bytes.push(b'\n');
    write(&path, &bytes);
    reseal_bag(bag);
}

#[test]
fn a_bundle_carries_current_values_and_a_forged_tag_is_found() {
    let (_env, id, bag) = exported(&["--reveal", "source", "--reveal", "note"]);
    let doc: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    let entry = &doc["items"][0];
    assert_eq!(strings(&entry["tags"]), ["video"]);
    assert_eq!(entry["source"], "W-3 (lawyer)");
    assert_eq!(entry["note"], "face blurred");
    let csv = std::fs::read_to_string(bag.join("data/inventory.csv")).unwrap();
    assert!(csv.contains(",W-3 (lawyer),video,"), "{csv}");
    let html = std::fs::read_to_string(bag.join("data/index.html")).unwrap();
    assert!(
        html.contains("W-3 (lawyer)"),
        "index.html shows the current source"
    );
    let custody = std::fs::read_to_string(bag.join("data/custody.jsonl")).unwrap();
    assert_eq!(custody.matches(r#"{"action":"annotate""#).count(), 2);
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 0, "{report}");
    let (ok, said) = python_check(&bag, &[]);
    assert!(ok, "check.py: {said}");

    for (key, forged) in [
        ("tags", serde_json::json!(["video", "testimony"])),
        ("source", Value::from("witness W-3")),
        ("note", Value::Null),
    ] {
        let copy = bag.with_file_name(format!("forged-{key}"));
        crate::util::copy_tree(&bag, &copy);
        forge_entry(&copy, key, forged);
        let (code, report, _) = verify_bundle_json(&copy);
        assert_eq!(code, 3, "forged {key}: {report}");
        let found = crate::util::problem_pairs(&report);
        assert!(
            found.contains(&("metadata_mismatch".to_owned(), id.clone())),
            "forged {key}: {found:?}"
        );
        let (ok, said) = python_check(&copy, &[]);
        assert!(!ok, "check.py missed a forged {key}: {said}");
        assert!(said.contains(&id), "{said}");
    }
}

#[test]
fn a_bundle_with_the_earlier_checker_and_no_annotation_still_verifies() {
    let env = Env::with_case();
    ingest_one(&env, CASE, "in/a.txt", STATEMENT, &["--tag", "x"]);
    let bag = env.path("bundle");
    env.ok(&["export", "--case", CASE, "--out", arg(&bag)]);
    let earlier =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/check-py-before-annotate.py");
    std::fs::copy(earlier, bag.join("data/proof/check.py")).unwrap();
    reseal_bag(&bag);
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 0, "{report}");
    // Anything else in its place is still a finding.
    write(&bag.join("data/proof/check.py"), b"print('OK')\n");
    reseal_bag(&bag);
    let (code, _, _) = verify_bundle_json(&bag);
    assert_eq!(code, 3);
}

#[test]
fn verify_finds_current_values_edited_in_the_index() {
    let (env, id) = archive();
    annotate(&env, &id, &["--tag", "video"]);
    let n: u64 = id.trim_start_matches("EV-").parse().unwrap();
    let mut key = vec![b'm'];
    key.extend_from_slice(&n.to_be_bytes());
    {
        let db = env.sled();
        let index = db.open_tree("index").unwrap();
        let value = index.get(&key).unwrap().expect("the current values");
        // The record ends with the tags' strings and the seq: change one letter of "video".
        let mut forged = value.to_vec();
        let at = forged
            .windows(5)
            .position(|w| w == b"video")
            .expect("the tag in the record");
        forged[at] = b'V';
        index.insert(&key, forged).unwrap();
        db.flush().unwrap();
    }
    let altered = |env: &Env| {
        let (code, report) = env.verify_read_only();
        assert_eq!(code, 3, "{report}");
        let problems = report["problems"].as_array().unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p["kind"] == "record_altered" && p["id"] == id.as_str()),
            "{report}"
        );
    };
    altered(&env);
    // Current values lost: the annotate event still names the item.
    {
        let db = env.sled();
        db.open_tree("index").unwrap().remove(&key).unwrap();
        db.flush().unwrap();
    }
    altered(&env);
}

/// `restore` rebuilds the index from the log: the annotated item shows the same.
#[test]
fn a_restored_archive_shows_the_same_current_values() {
    let Some(rig) = crate::replica::rig("a_restored_archive_shows_the_same_current_values") else {
        return;
    };
    let env = &rig.env;
    let id = ingest_one(env, CASE, "in/s.txt", STATEMENT, &["--tag", "Testimony"]);
    annotate(
        env,
        &id,
        &["--tag", "video", "--untag", "testimony", "--note", "n"],
    );
    annotate(env, &id, &["--source", "W-3"]);
    let before = env.json(&["show", &id]);
    let listed_before = env.json(&["list", "--tag", "video"]);
    rig.add("offsite", "org/archive");
    rig.json(&["push"]);
    let restored = env.path("restored");
    let out = rig.restore("org/archive", &restored, &rig.key);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let reader = Env {
        dir: tempfile::tempdir().expect("temp"),
        archive: restored,
    };
    assert_eq!(reader.json(&["show", &id]), before);
    assert_eq!(reader.json(&["list", "--tag", "video"]), listed_before);
    assert!(listed(&reader, &["--tag", "testimony"]).is_empty());
    let (code, report) = reader.verify();
    assert_eq!(code, 0, "{report}");
}

/// An annotation's source and note are private as an ingest's are (issue 11.7): a default
/// bundle holds neither, anywhere, and still verifies in both checkers.
#[test]
fn a_default_bundle_hides_what_annotations_set() {
    let (_env, _id, bag) = exported(&[]);
    for file in walk_files(&bag) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["W-3 (lawyer)", "face blurred"] {
            assert!(!text.contains(secret), "{} names {secret}", file.display());
        }
    }
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 0, "{report}");
    let (ok, said) = python_check(&bag, &[]);
    assert!(ok, "check.py: {said}");
}

/// Every file below `dir`.
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
