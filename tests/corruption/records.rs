//! Removed and garbage item and content records name the items they belong to.

use super::*;

#[test]
fn a_removed_item_record_names_the_item() {
    let f = Fixture::new();
    f.tamper(|db| {
        let gone = db
            .open_tree("items")
            .unwrap()
            .remove(Fixture::item_key(&f.notes))
            .unwrap();
        assert!(gone.is_some());
    });
    // Every index entry of the notes (case link, content, events, chain head) now dangles,
    // and each such problem must name the notes, not an id read from the wrong key bytes.
    f.assert_problems(&[("index_dangling", &f.notes.id)]);
}

#[test]
fn a_removed_content_record_names_every_item_holding_it() {
    let f = Fixture::new();
    f.tamper(|db| {
        let gone = db
            .open_tree("contents")
            .unwrap()
            .remove(hex::decode(&f.statement.blake3).unwrap())
            .unwrap();
        assert!(gone.is_some());
    });
    f.assert_problems(&[
        ("content_missing", &f.statement.id),
        ("content_missing", &f.statement_again.id),
    ]);
}

#[test]
fn a_garbage_item_record_is_unreadable_and_named() {
    let f = Fixture::new();
    f.tamper(|db| {
        db.open_tree("items")
            .unwrap()
            .insert(Fixture::item_key(&f.noise), noise(99, 200))
            .unwrap();
    });
    f.assert_problems(&[("record_unreadable", &f.noise.id)]);
}

#[test]
fn a_garbage_content_record_names_its_items() {
    let f = Fixture::new();
    f.tamper(|db| {
        let mut garbage = noise(98, 120);
        garbage[0] = 1; // a valid version byte, then nonsense
        db.open_tree("contents")
            .unwrap()
            .insert(hex::decode(&f.noise.blake3).unwrap(), garbage)
            .unwrap();
    });
    f.assert_problems(&[("record_unreadable", &f.noise.id)]);
}
