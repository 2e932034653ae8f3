//! Damaged database files: truncated or deleted files are found without a panic, and a damaged
//! item is never extracted.

use super::*;

/// The end of the data in sled's main file (the file is preallocated and zero-filled after it).
fn data_end(file: &Path) -> usize {
    let bytes = std::fs::read(file).unwrap();
    bytes.iter().rposition(|b| *b != 0).map_or(0, |at| at + 1)
}

fn assert_truncation_is_found(keep: impl Fn(usize) -> usize) {
    let f = Fixture::new();
    let db_file = f.env.archive.join("db").join("db");
    let end = data_end(&db_file);
    assert!(end > 1000, "sled's file holds data: {end} bytes");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&db_file)
        .unwrap();
    file.set_len(keep(end) as u64).unwrap();
    drop(file);

    let report = f.verify_damaged();
    let problems = report["problems"].as_array().unwrap();
    assert!(!problems.is_empty(), "{report:#}");
    let unreadable: Vec<&Value> = problems
        .iter()
        .filter(|p| p["kind"] == "database_unreadable")
        .collect();
    if unreadable.is_empty() {
        // sled recovered an older state: the HEAD file still tells that events were lost.
        assert!(
            problems.iter().any(|p| p["kind"] == "head_mismatch"),
            "{report:#}"
        );
    } else {
        for p in unreadable {
            let id = p["id"].as_str().unwrap_or("");
            assert!(
                id.ends_with("db"),
                "the finding names the database file: {report:#}"
            );
        }
    }

    // Other commands on the damaged archive fail cleanly: no panic, no success, no output file.
    let out = f.env.path("out.bin");
    for args in [
        vec!["--json", "list"],
        vec!["extract", &f.noise.id, "--out", out.to_str().unwrap()],
        vec![
            "ingest",
            "--case",
            "BY-2024-017",
            f.env.path("in").to_str().unwrap(),
        ],
    ] {
        let run = f.env.run(&args);
        let stderr = text(&run.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
        if run.status.code() == Some(0) {
            // Only possible when sled recovered an older, self-consistent state.
            assert!(
                unreadable_is_empty(&report),
                "{args:?} succeeded on an unreadable database"
            );
        } else {
            assert!(
                matches!(run.status.code(), Some(1) | Some(3)),
                "{args:?}: exit {:?}\n{stderr}",
                run.status.code()
            );
            assert!(!stderr.trim().is_empty(), "{args:?} failed silently");
        }
    }
    if !unreadable_is_empty(&report) {
        assert!(!out.exists(), "extract left a file behind");
    }
}

fn unreadable_is_empty(report: &Value) -> bool {
    !report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "database_unreadable")
}

#[test]
fn a_database_file_truncated_to_half_its_data_is_found() {
    assert_truncation_is_found(|end| end / 2);
}

#[test]
fn a_database_file_truncated_to_nothing_is_found() {
    assert_truncation_is_found(|_| 0);
}

#[test]
fn a_database_file_missing_its_last_bytes_is_found() {
    assert_truncation_is_found(|end| end - 7);
}

#[test]
fn a_deleted_blob_file_is_found_without_a_panic() {
    // sled keeps large values (our 1 MiB chunks) in files under <database>/blobs/.
    let f = Fixture::new();
    let blobs = f.chunk_home(f.chunks_of(&f.noise)[1]).join("blobs");
    let names = dir_entries(&blobs);
    assert!(!names.is_empty(), "no blob files");
    std::fs::remove_file(blobs.join(&names[names.len() / 2])).unwrap();
    let report = f.verify_damaged();
    let found = problem_set(&report);
    assert!(!found.is_empty());
    // Whatever it names, it names something real: a listed item, an event, or the database.
    let ids: Vec<&str> = f.all().iter().map(|i| i.id.as_str()).collect();
    for (kind, id) in &found {
        assert!(
            ids.contains(&id.as_str())
                || id.starts_with("event ")
                || id.ends_with("db")
                || id.contains("volumes"),
            "{kind} names {id}, which is not an item, an event or a database: {report:#}"
        );
    }
    assert!(
        !found.iter().any(|(_, id)| id == &f.empty.id),
        "the empty file has no chunk and cannot be damaged by a lost blob: {report:#}"
    );
}

#[test]
fn extracting_a_damaged_item_fails_and_leaves_no_file() {
    let f = Fixture::new();
    let chunks = f.chunks_of(&f.noise);
    f.flip_chunk_byte(chunks[2], 0);
    let out_dir = f.env.path("out");
    std::fs::create_dir(&out_dir).unwrap();

    // Into a named file.
    let target = out_dir.join("noise.bin");
    let (_, stderr) = f.env.fails(
        &["extract", &f.noise.id, "--out", target.to_str().unwrap()],
        3,
    );
    let chunk_hex = hex::encode(chunks[2]);
    assert!(
        stderr.contains(&chunk_hex) || stderr.contains(&f.noise.blake3),
        "the error names the chunk or the content: {stderr}"
    );
    assert!(!stderr.contains("panicked"));
    assert_eq!(
        dir_entries(&out_dir),
        Vec::<String>::new(),
        "no output, no temp file"
    );

    // Into a directory, with --json: one error object of kind "damaged".
    let (stdout, stderr) = f.env.fails(
        &[
            "--json",
            "extract",
            &f.noise.id,
            "--out",
            out_dir.to_str().unwrap(),
        ],
        3,
    );
    assert_eq!(stdout, "", "nothing on stdout on failure");
    let err: Value = serde_json::from_str(stderr.trim()).expect("one JSON error on stderr");
    assert_eq!(err["error"]["kind"], "damaged");
    assert_eq!(
        dir_entries(&out_dir),
        Vec::<String>::new(),
        "no output, no temp file"
    );

    // A deleted chunk fails the same way.
    f.remove_chunk(chunks[0]);
    let (_, stderr) = f.env.fails(
        &["extract", &f.noise.id, "--out", target.to_str().unwrap()],
        3,
    );
    assert!(
        stderr.contains(&hex::encode(chunks[0])),
        "names the missing chunk: {stderr}"
    );
    assert_eq!(dir_entries(&out_dir), Vec::<String>::new());

    // The damage does not spread: an intact item still extracts byte for byte.
    let notes = out_dir.join("notes.txt");
    f.env
        .ok(&["extract", &f.notes.id, "--out", notes.to_str().unwrap()]);
    assert_eq!(std::fs::read(&notes).unwrap(), f.notes.bytes);

    // And no extract of the damaged item was recorded as done.
    let log = f.env.json(&["log", "--evidence", &f.noise.id]);
    let actions: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["ingest"], "{log:#}");
}
