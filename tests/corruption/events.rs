//! Edited and removed custody events, and a HEAD file that disagrees with the log.

use super::*;

/// Replaces `from` by `to` (same length) inside the stored JSON of event `seq`.
fn edit_event(f: &Fixture, seq: u64, from: &str, to: &str) {
    f.tamper(|db| {
        let custody = db.open_tree("custody").unwrap();
        let stored = custody.get(seq.to_be_bytes()).unwrap().expect("event");
        let json = std::str::from_utf8(&stored[1..]).unwrap();
        assert_eq!(json.matches(from).count(), 1, "{from} once in {json}");
        let mut edited = vec![1u8];
        edited.extend_from_slice(json.replace(from, to).as_bytes());
        serde_json::from_slice::<Value>(&edited[1..]).expect("the edit keeps valid JSON");
        custody.insert(seq.to_be_bytes(), edited).unwrap();
    });
}

#[test]
fn an_edited_ingest_event_breaks_the_chain_at_the_next_event() {
    let f = Fixture::new();
    // The noise's ingest event is the newest event of its item's chain.
    let n = f.ingest_event(&f.noise);
    edit_event(&f, n, r#""actor":"tester""#, r#""actor":"Tester""#);
    // Signed events (issue 11): the edited event itself no longer matches its signature.
    f.assert_problems(&[
        ("signature_invalid", &format!("event {n}")),
        ("chain_broken", &format!("event {}", n + 1)),
        ("item_chain_broken", &f.noise.id),
    ]);
}

#[test]
fn an_edited_event_with_later_events_of_its_item_names_that_item() {
    let f = Fixture::new();
    // The notes were extracted after ingest: their extract event no longer chains either.
    let n = f.ingest_event(&f.notes);
    edit_event(&f, n, r#""name":"notes.txt""#, r#""name":"notez.txt""#);
    // Signed events (issue 11): the edited event itself no longer matches its signature.
    f.assert_problems(&[
        ("signature_invalid", &format!("event {n}")),
        ("chain_broken", &format!("event {}", n + 1)),
        ("item_chain_broken", &f.notes.id),
    ]);
}

#[test]
fn a_removed_event_without_items_breaks_the_chain_after_it() {
    let f = Fixture::new();
    let events = f.events();
    let (seq, _) = events
        .iter()
        // The case is committed in the stored event (issue 11.7): BY-2024-018 is the last made.
        .rfind(|(_, e)| e["action"] == "case_create")
        .expect("case create event");
    let seq = *seq;
    f.tamper(|db| {
        db.open_tree("custody")
            .unwrap()
            .remove(seq.to_be_bytes())
            .unwrap();
    });
    // The case record's own event is gone: a finding about that case is right too.
    f.assert_named(
        &[("chain_broken", &format!("event {}", seq + 1))],
        &["case BY-2024-018"],
    );
}

#[test]
fn a_removed_ingest_event_names_the_next_event_and_the_item() {
    let f = Fixture::new();
    let n = f.ingest_event(&f.noise);
    f.tamper(|db| {
        db.open_tree("custody")
            .unwrap()
            .remove(n.to_be_bytes())
            .unwrap();
    });
    // The item's index entry `e ‖ item ‖ n` now points at an event that is gone.
    f.assert_problems(&[
        ("chain_broken", &format!("event {}", n + 1)),
        ("item_chain_broken", &f.noise.id),
        ("index_dangling", &f.noise.id),
    ]);
}

#[test]
fn a_removed_last_event_is_a_head_mismatch() {
    let f = Fixture::new();
    let last = f.last_seq();
    f.tamper(|db| {
        let gone = db
            .open_tree("custody")
            .unwrap()
            .remove(last.to_be_bytes())
            .unwrap();
        assert!(gone.is_some());
    });
    f.assert_problems(&[("head_mismatch", &format!("event {last}"))]);
}

#[test]
fn an_edited_head_file_is_a_head_mismatch() {
    let f = Fixture::new();
    let last = f.last_seq();
    let head = std::fs::read_to_string(f.head_file()).unwrap();
    let digest_line = head.lines().nth(1).unwrap();
    let digest = digest_line.strip_prefix("sha256 ").unwrap();
    let flipped: String = digest
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 10 {
                if c == '0' { '1' } else { '0' }
            } else {
                c
            }
        })
        .collect();
    std::fs::write(f.head_file(), head.replace(digest, &flipped)).unwrap();
    f.assert_problems(&[("head_mismatch", &format!("event {last}"))]);
}

#[test]
fn a_head_file_ahead_of_the_log_is_a_head_mismatch() {
    // As if the database had lost acknowledged events: HEAD names one the log does not hold.
    let f = Fixture::new();
    let last = f.last_seq();
    let head = std::fs::read_to_string(f.head_file()).unwrap();
    assert!(head.starts_with(&format!("seq {last}\n")), "{head}");
    std::fs::write(
        f.head_file(),
        head.replacen(&format!("seq {last}"), &format!("seq {}", last + 1), 1),
    )
    .unwrap();
    f.assert_problems(&[("head_mismatch", &format!("event {}", last + 1))]);
}

#[test]
fn a_missing_head_file_is_a_head_mismatch() {
    let f = Fixture::new();
    std::fs::remove_file(f.head_file()).unwrap();
    f.assert_problems(&[("head_mismatch", "HEAD")]);
}
