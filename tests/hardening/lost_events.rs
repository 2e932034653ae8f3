//! Finding 2 of issue 9: a custody log that lost its newest events (an older `db/` put
//! back, a cut or damaged log tail) must stay reported, and no write may reuse the lost
//! seqs or move HEAD back.

use std::fs;
use std::path::Path;

use serde_json::Value;

use super::{CASE, named};
use crate::util::{Env, text, write};

/// An archive whose `db/` went back to an older copy while HEAD stayed newer.
fn archive_that_lost_events() -> (Env, Vec<u8>) {
    let env = Env::with_case();
    write(&env.path("in/a.txt"), b"a statement taken before the copy");
    env.ingest(&[&env.path("in/a.txt")]);
    let old = env.path("db-old");
    crate::util::copy_dir(&env.archive.join("db"), &old);
    env.ok(&["case", "create", "BY-2024-099", "--title", "Later case"]);
    env.ok(&[
        "extract",
        "EV-000001",
        "--out",
        env.path("copy.txt").to_str().unwrap(),
    ]);
    let head = fs::read(env.archive.join("HEAD")).unwrap();
    fs::remove_dir_all(env.archive.join("db")).unwrap();
    crate::util::copy_dir(&old, &env.archive.join("db"));
    (env, head)
}

#[test]
fn issue9_2_a_log_that_lost_events_refuses_every_write_and_stays_reported() {
    let (env, head) = archive_that_lost_events();
    let (code, report) = env.verify();
    assert_eq!(code, 3, "{report:#}");
    assert!(!named(&report, "head_mismatch").is_empty(), "{report:#}");

    write(&env.path("in/b.txt"), b"a new file");
    let (b, nowhere, bundle) = (
        env.path("in/b.txt"),
        env.path("nowhere"),
        env.path("bundle"),
    );
    let writes: [&[&str]; 4] = [
        &[
            "case",
            "create",
            "BY-2024-100",
            "--title",
            "Would reuse a lost seq",
        ],
        &["ingest", "--case", CASE, b.to_str().unwrap()],
        &["extract", "EV-000001", "--out", nowhere.to_str().unwrap()],
        &["export", "--case", CASE, "--out", bundle.to_str().unwrap()],
    ];
    for args in writes {
        let (_, stderr) = env.fails(args, 3);
        assert!(
            stderr.contains("events 4 to 5 were lost"),
            "{args:?} must name the gap: {stderr}"
        );
    }
    assert!(!env.path("bundle").exists() && !env.path("nowhere").exists());
    let out = env.run(&["--json", "case", "create", "BY-2024-101", "--title", "t"]);
    let err: Value = serde_json::from_slice(&out.stderr).expect("one JSON error");
    assert_eq!(err["error"]["kind"], "custody_gap");

    // Still reported, and HEAD still names what was lost.
    let (code, report) = env.verify();
    assert_eq!(code, 3, "{report:#}");
    assert!(!named(&report, "head_mismatch").is_empty(), "{report:#}");
    assert_eq!(fs::read(env.archive.join("HEAD")).unwrap(), head);
    assert_eq!(
        report["checked"]["events"], 3,
        "no event was added: {report:#}"
    );
}

/// The end of what sled has written to its log file `db/db` (the file is preallocated:
/// zeros follow).
fn written_end(log: &Path) -> usize {
    let bytes = fs::read(log).unwrap();
    bytes
        .iter()
        .rposition(|b| *b != 0)
        .expect("a log with records")
        + 1
}

#[test]
fn issue9_2_a_cut_or_bit_flipped_log_tail_refuses_writes_and_stays_reported() {
    // sled drops a damaged or missing tail of its log silently when it opens: the last
    // ingest's event is gone while HEAD still names it.
    type Damage = fn(&mut Vec<u8>, usize);
    let cut: Damage = |bytes, end| bytes.truncate(end - 200);
    let flip: Damage = |bytes, end| bytes[end - 50] ^= 0x40;
    for (what, damage) in [("cut", cut), ("bit flip", flip)] {
        let env = Env::with_case();
        for name in ["a", "b", "c"] {
            write(
                &env.path(&format!("in/{name}.txt")),
                name.repeat(3000).as_bytes(),
            );
            env.ingest(&[&env.path(&format!("in/{name}.txt"))]);
        }
        let head = fs::read(env.archive.join("HEAD")).unwrap();
        let log = env.archive.join("db/db");
        let end = written_end(&log);
        let mut bytes = fs::read(&log).unwrap();
        damage(&mut bytes, end);
        fs::write(&log, bytes).unwrap();

        let (code, report) = env.verify();
        assert_eq!(code, 3, "{what}: {report:#}");
        assert!(
            !named(&report, "head_mismatch").is_empty(),
            "{what}: {report:#}"
        );
        let out = env.run(&["--json", "case", "create", "BY-2", "--title", "t"]);
        assert_eq!(out.status.code(), Some(3), "{what}: {}", text(&out.stderr));
        let err: Value = serde_json::from_slice(&out.stderr).expect("one JSON error");
        assert_eq!(err["error"]["kind"], "custody_gap", "{what}");
        assert_eq!(fs::read(env.archive.join("HEAD")).unwrap(), head, "{what}");
        let (code, report) = env.verify();
        assert_eq!(code, 3, "{what}: still reported: {report:#}");
    }
}

#[test]
fn issue9_2_a_missing_head_file_refuses_writes() {
    let env = Env::with_case();
    fs::remove_file(env.archive.join("HEAD")).unwrap();
    let (_, stderr) = env.fails(&["case", "create", "BY-2", "--title", "t"], 3);
    assert!(stderr.contains("HEAD file is missing"), "{stderr}");
}
