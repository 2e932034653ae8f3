//! A clean archive verifies; flipped and deleted chunks name every item that holds them.

use super::*;

#[test]
fn a_clean_archive_after_every_normal_operation_verifies() {
    let f = Fixture::new();
    let env = &f.env;
    env.ok(&[
        "link",
        &f.noise.id,
        "--case",
        "BY-2024-018",
        "--reason",
        "same device",
    ]);
    env.ok(&["--json", "show", &f.notes.id]);
    env.ok(&["--json", "list", "--case", "BY-2024-018"]);
    for (n, item) in f.all().into_iter().enumerate() {
        let out = env.path(&format!("extracted-{n}"));
        let done = env.json(&[
            "extract",
            &item.id,
            "--out",
            out.to_str().unwrap(),
            "--reason",
            "check",
        ]);
        assert_eq!(done["blake3"], item.blake3);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            item.bytes,
            "{} byte for byte",
            item.id
        );
    }
    let events = env.json(&["log"])["events"].as_array().unwrap().len() as u64;
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], Value::Array(vec![]));
    let checked = &report["checked"];
    assert_eq!(checked["items"], 5);
    assert_eq!(
        checked["contents"], 4,
        "the shared statement is stored once"
    );
    let distinct: u64 = [&f.statement, &f.notes, &f.noise, &f.empty]
        .iter()
        .map(|i| i.bytes.len() as u64)
        .sum();
    assert_eq!(checked["bytes"], distinct);
    assert_eq!(checked["events"], events);
    // Verification is itself a custody event.
    let log = env.json(&["log"]);
    let last = log["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "verify");
    assert_eq!(last["seq"], events + 1);
}

#[test]
fn a_flipped_byte_in_a_raw_chunk_names_the_item() {
    let f = Fixture::new();
    let chunks = f.chunks_of(&f.noise);
    assert_eq!(chunks.len(), 3, "2.5 MiB in 1 MiB chunks");
    f.flip_chunk_byte(chunks[1], 0);
    let report = f.assert_problems(&[("content_damaged", &f.noise.id)]);
    assert!(
        details(&report).iter().all(|d| d.contains(&f.noise.blake3)),
        "the detail names the content: {report:#}"
    );
}

#[test]
fn a_flipped_byte_in_a_zstd_chunk_names_every_item_sharing_it() {
    let f = Fixture::new();
    let chunks = f.chunks_of(&f.statement);
    assert_eq!(chunks.len(), 1);
    f.flip_chunk_byte(chunks[0], 1);
    f.assert_problems(&[
        ("content_damaged", &f.statement.id),
        ("content_damaged", &f.statement_again.id),
    ]);
}

#[test]
fn a_deleted_chunk_names_the_item() {
    let f = Fixture::new();
    let chunks = f.chunks_of(&f.noise);
    f.remove_chunk(chunks[0]);
    let report = f.assert_problems(&[("content_damaged", &f.noise.id)]);
    let chunk_hex = hex::encode(chunks[0]);
    assert!(
        details(&report).iter().any(|d| d.contains(&chunk_hex)),
        "the detail names the missing chunk {chunk_hex}: {report:#}"
    );
}

#[test]
fn a_deleted_shared_chunk_names_both_items() {
    let f = Fixture::new();
    let chunks = f.chunks_of(&f.statement);
    f.remove_chunk(chunks[0]);
    f.assert_problems(&[
        ("content_damaged", &f.statement.id),
        ("content_damaged", &f.statement_again.id),
    ]);
}
