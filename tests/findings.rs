//! Findings as typed values (issue 10): each damage gets its own sentence, never another's.

use serde_json::Value;

use crate::util::{Env, close_sled, write};

/// The finding about one item, of one kind.
fn finding<'a>(report: &'a Value, kind: &str, id: &str) -> &'a Value {
    report["problems"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["kind"] == kind && p["id"] == id))
        .unwrap_or_else(|| panic!("no {kind} finding for {id}: {report:#}"))
}

/// issue 10, finding 2: a missing ingest event was reported as an altered field named
/// "ingest event (missing)", because a sentinel string missed its comparison.
#[test]
fn issue10_a_missing_ingest_event_is_reported_as_missing_not_as_an_altered_field() {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"a statement");
    env.ingest(&[&env.path("in/a.txt")]);
    let db = env.sled();
    // init is event 1, case_create 2, the ingest 3.
    let removed = db
        .open_tree("custody")
        .unwrap()
        .remove(3u64.to_be_bytes())
        .unwrap();
    assert!(removed.is_some(), "event 3 was there to remove");
    close_sled(db, &env.archive.join("db"));
    let (code, report) = env.verify();
    assert_eq!(code, 3, "{report:#}");
    let altered = finding(&report, "record_altered", "EV-000001");
    let detail = altered["detail"].as_str().unwrap();
    assert!(
        detail.contains("event 3, which its record names as its ingest, is missing"),
        "{detail}"
    );
    assert!(!detail.contains("(missing)"), "{detail}");
}

/// A field edited in an item record is named by that field.
#[test]
fn an_edited_item_record_names_the_edited_field() {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"a statement");
    env.ok(&[
        "ingest",
        "--case",
        "BY-2024-017",
        "--source",
        "witness A",
        env.path("in/a.txt").to_str().unwrap(),
    ]);
    let db = env.sled();
    let items = db.open_tree("items").unwrap();
    let key = 1u64.to_be_bytes();
    let mut record = items.get(key).unwrap().expect("item 1").to_vec();
    // The source text is stored as is: change one letter of it.
    let at = record
        .windows(9)
        .position(|w| w == b"witness A")
        .expect("source in the record");
    record[at + 8] = b'B';
    items.insert(key, record).unwrap();
    drop(items);
    close_sled(db, &env.archive.join("db"));
    let (code, report) = env.verify();
    assert_eq!(code, 3, "{report:#}");
    let altered = finding(&report, "record_altered", "EV-000001");
    assert!(
        altered["detail"]
            .as_str()
            .unwrap()
            .contains("its record's source is not what its ingest event (event 3) recorded"),
        "{report:#}"
    );
}
