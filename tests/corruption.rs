//! Deliberately damaged archives: each test builds an archive with the CLI, damages it with
//! no custodia running (through sled directly, or by editing the files), and checks that
//! `verify` names exactly the damaged items or events, with the right kind, and nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{Env, blake3_hex, close_sled, noise, sha256_hex, text, write};

/// One file of the test archive and the item it became.
#[derive(Clone, Debug)]
struct Item {
    id: String,
    bytes: Vec<u8>,
    blake3: String,
}

/// An archive holding, in case BY-2024-017: a compressible statement, compressible notes,
/// 2.5 MiB of noise (three raw chunks) and an empty file; in case BY-2024-018 the same
/// statement again (a second item sharing the first one's content).
struct Fixture {
    env: Env,
    statement: Item,
    statement_again: Item,
    notes: Item,
    noise: Item,
    empty: Item,
}

impl Fixture {
    fn new() -> Self {
        let env = Env::with_case();
        env.ok(&["case", "create", "BY-2024-018", "--title", "Second case"]);
        let statement = "Witness statement: I saw the van stop at the corner at 14:05. "
            .repeat(80)
            .into_bytes();
        let notes = "Investigator notes, page 1. Nothing further to add today. "
            .repeat(60)
            .into_bytes();
        let files: [(&str, Vec<u8>); 4] = [
            ("statement.txt", statement),
            ("notes.txt", notes),
            ("noise.bin", noise(1, 2_621_440)),
            ("empty.txt", Vec::new()),
        ];
        for (name, bytes) in &files {
            write(&env.path(&format!("in/{name}")), bytes);
        }
        let report = env.ingest(&[&env.path("in")]);
        let reported = report["items"].as_array().expect("items");
        assert_eq!(reported.len(), 4, "{report}");
        let item = |name: &str| -> Item {
            let bytes = files.iter().find(|(n, _)| *n == name).unwrap().1.clone();
            let found = reported
                .iter()
                .find(|i| i["path"].as_str().unwrap().ends_with(name))
                .unwrap_or_else(|| panic!("{name} not in {report}"));
            assert_eq!(found["blake3"], blake3_hex(&bytes));
            assert_eq!(found["sha256"], sha256_hex(&bytes));
            Item {
                id: found["id"].as_str().unwrap().to_owned(),
                blake3: blake3_hex(&bytes),
                bytes,
            }
        };
        let statement = item("statement.txt");
        let notes = item("notes.txt");
        let noise = item("noise.bin");
        let empty = item("empty.txt");

        // The same bytes in another case: a new item that shares the stored content.
        let again = env.json(&[
            "ingest",
            "--case",
            "BY-2024-018",
            env.path("in/statement.txt").to_str().unwrap(),
        ]);
        let again = &again["items"][0];
        assert_eq!(again["status"], "duplicate");
        assert_eq!(again["blake3"], statement.blake3);
        let statement_again = Item {
            id: again["id"].as_str().unwrap().to_owned(),
            ..statement.clone()
        };
        assert_ne!(statement_again.id, statement.id);

        // Notes get a second event of their own (an extract), so their item chain has two links.
        env.ok(&[
            "extract",
            &notes.id,
            "--out",
            env.path("notes.out").to_str().unwrap(),
        ]);
        let fixture = Fixture {
            env,
            statement,
            statement_again,
            notes,
            noise,
            empty,
        };
        let (code, report) = fixture.env.verify();
        assert_eq!(
            (code, &report["problems"]),
            (0, &Value::Array(vec![])),
            "{report}"
        );
        fixture
    }

    fn all(&self) -> [&Item; 5] {
        [
            &self.statement,
            &self.statement_again,
            &self.notes,
            &self.noise,
            &self.empty,
        ]
    }

    /// Opens sled directly (no custodia running), lets `tamper` change it, flushes and closes it.
    fn tamper(&self, tamper: impl FnOnce(&sled::Db)) {
        self.with_db(tamper)
    }

    /// Runs `body` on the database opened directly, then closes it for custodia to use again.
    fn with_db<R>(&self, body: impl FnOnce(&sled::Db) -> R) -> R {
        let db = self.env.sled();
        let out = body(&db);
        close_sled(db, &self.env.archive.join("db"));
        out
    }

    /// The volume directory that holds a chunk (docs/FORMAT.md, "Finding a chunk").
    fn chunk_home(&self, chunk: [u8; 32]) -> PathBuf {
        self.env.volume_dir(self.env.chunk_volume(&chunk))
    }

    fn remove_chunk(&self, chunk: [u8; 32]) {
        self.env.set_chunk_record(&chunk, None);
    }

    /// The chunk ids of a content, read from its `contents` record by the documented layout:
    /// `[1] size u64 LE, sha256 [32], count u64 LE, count × (id [32], len u32 LE)`.
    fn chunks_of(&self, item: &Item) -> Vec<[u8; 32]> {
        let record = self.with_db(|db| {
            db.open_tree("contents")
                .unwrap()
                .get(hex::decode(&item.blake3).unwrap())
                .unwrap()
                .expect("content record")
        });
        assert_eq!(record[0], 1, "record version byte");
        let size = u64::from_le_bytes(record[1..9].try_into().unwrap());
        assert_eq!(size, item.bytes.len() as u64);
        assert_eq!(hex::encode(&record[9..41]), sha256_hex(&item.bytes));
        let count = u64::from_le_bytes(record[41..49].try_into().unwrap()) as usize;
        assert_eq!(record.len(), 49 + count * 36, "content record length");
        let mut total = 0u64;
        let ids: Vec<[u8; 32]> = (0..count)
            .map(|i| {
                let at = 49 + i * 36;
                total += u64::from(u32::from_le_bytes(
                    record[at + 32..at + 36].try_into().unwrap(),
                ));
                record[at..at + 32].try_into().unwrap()
            })
            .collect();
        assert_eq!(total, size, "chunk lengths add up to the size");
        ids
    }

    /// Flips one byte of a stored chunk's payload after checking its compression byte.
    fn flip_chunk_byte(&self, chunk: [u8; 32], compression: u8) {
        let mut stored = self.env.chunk_record(&chunk);
        assert_eq!(stored[0], 1, "chunk record version");
        assert_eq!(stored[1], compression, "chunk compression byte");
        assert!(stored.len() > 6 + 16, "chunk payload too short to damage");
        let at = 6 + (stored.len() - 6) / 2;
        stored[at] ^= 0x20;
        self.env.set_chunk_record(&chunk, Some(&stored));
    }

    /// Every custody event, from the `custody` tree: (seq, parsed JSON).
    fn events(&self) -> Vec<(u64, Value)> {
        self.with_db(|db| {
            db.open_tree("custody")
                .unwrap()
                .iter()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    assert_eq!(v[0], 1, "event record version");
                    let seq = u64::from_be_bytes(k.as_ref().try_into().unwrap());
                    (seq, serde_json::from_slice(&v[1..]).expect("event JSON"))
                })
                .collect()
        })
    }

    /// The seq of the `ingest` event of an item.
    fn ingest_event(&self, item: &Item) -> u64 {
        self.events()
            .into_iter()
            .find(|(_, e)| e["action"] == "ingest" && e["items"][0]["id"] == item.id.as_str())
            .unwrap_or_else(|| panic!("no ingest event for {}", item.id))
            .0
    }

    fn last_seq(&self) -> u64 {
        self.events().last().expect("events").0
    }

    fn item_key(item: &Item) -> [u8; 8] {
        let n: u64 = item.id.trim_start_matches("EV-").parse().unwrap();
        n.to_be_bytes()
    }

    fn head_file(&self) -> PathBuf {
        self.env.archive.join("HEAD")
    }

    /// Runs `verify --json` on the damaged archive: exit 3, `ok: false`, never a panic.
    fn verify_damaged(&self) -> Value {
        let out = self.env.run(&["--json", "verify"]);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "verify panicked:\n{stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "verify printed no JSON ({e}): {}\n{stderr}",
                text(&out.stdout)
            )
        });
        assert_eq!(
            out.status.code(),
            Some(3),
            "verify must find the damage:\n{report}\n{stderr}"
        );
        assert_eq!(report["ok"], false, "{report}");
        report
    }

    /// Asserts that verify reports each of these (kind, id) pairs and names nothing else.
    fn assert_problems(&self, required: &[(&str, &str)]) -> Value {
        self.assert_named(required, &[])
    }

    /// Asserts that verify reports each `required` (kind, id) pair, and that every problem
    /// names one of the damaged things: an id of `required`, or one of `may_also_name`
    /// (something the damage touches indirectly). More findings about a damaged item are
    /// welcome; a finding about an undamaged one, or about nothing in particular, is not.
    fn assert_named(&self, required: &[(&str, &str)], may_also_name: &[&str]) -> Value {
        let report = self.verify_damaged();
        let found = problem_set(&report);
        for (kind, id) in required {
            assert!(
                found.contains(&(kind.to_string(), id.to_string())),
                "verify did not report {kind} for {id}:\n{report:#}"
            );
        }
        for (kind, id) in &found {
            let damaged =
                required.iter().any(|(_, i)| i == id) || may_also_name.contains(&id.as_str());
            assert!(
                damaged,
                "verify reports {kind} for {id}, which was not damaged:\n{report:#}"
            );
        }
        report
    }
}

/// The (kind, id) pairs of a verify report; a problem without an id counts as `-`.
fn problem_set(report: &Value) -> BTreeSet<(String, String)> {
    report["problems"]
        .as_array()
        .expect("problems array")
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().expect("kind").to_owned(),
                p["id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

fn details(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["detail"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

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
    f.assert_problems(&[
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
    f.assert_problems(&[
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
        .find(|(_, e)| e["action"] == "case_create" && e["case"] == "BY-2024-018")
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
