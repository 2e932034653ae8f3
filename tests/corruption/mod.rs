//! Deliberately damaged archives: each test builds an archive with the CLI, damages it with
//! no custodia running (through sled directly, or by editing the files), and checks that
//! `verify` names exactly the damaged items or events, with the right kind, and nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{Env, blake3_hex, close_sled, noise, sha256_hex, text, write};

mod chunks;
mod events;
mod files;
mod records;
mod subset;

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
