//! Tags and search (issue 12, point 5): `list` filters by tags (all, any case), source,
//! name, capture and ingest time, each filter's bad input refused; `stats` counts.

use super::*;

/// Four items: (env, [a, b, c, d]).
fn archive() -> (Env, [String; 4]) {
    let env = Env::with_case();
    env.ok(&["case", "create", SECOND, "--title", "Second"]);
    let a = ingest_one(
        &env,
        CASE,
        "a/IMG_0001.JPG",
        b"a",
        &[
            "--tag",
            "Intake",
            "--tag",
            "Photo",
            "--source",
            "Witness A (phone)",
            "--captured-at",
            "2024-03-02",
        ],
    );
    let b = ingest_one(
        &env,
        CASE,
        "b/statement.txt",
        b"b",
        &[
            "--tag",
            "intake",
            "--source",
            "Field team",
            "--captured-at",
            "2024-03-02T23:30+03:00",
        ],
    );
    let c = ingest_one(
        &env,
        SECOND,
        "c/img_0002.jpg",
        b"c",
        &["--tag", "photo", "--captured-at", "2024-03-03T00:10+03:00"],
    );
    let d = ingest_one(&env, SECOND, "d/notes.md", b"d", &[]);
    (env, [a, b, c, d])
}

#[test]
fn list_filters_by_tags_source_and_name() {
    let (env, [a, b, c, d]) = archive();
    assert_eq!(
        listed(&env, &[]),
        [a.as_str(), b.as_str(), c.as_str(), d.as_str()]
    );
    assert_eq!(listed(&env, &["--tag", "intake"]), [a.as_str(), b.as_str()]);
    assert_eq!(
        listed(&env, &["--tag", "INTAKE", "--tag", "photo"]),
        [a.as_str()]
    );
    assert_eq!(listed(&env, &["--tag", "Photo"]), [a.as_str(), c.as_str()]);
    assert_eq!(
        listed(&env, &["--case", SECOND, "--tag", "PHOTO"]),
        [c.as_str()]
    );
    assert!(listed(&env, &["--tag", "intake", "--tag", "no-such-tag"]).is_empty());
    assert_eq!(listed(&env, &["--source", "witness"]), [a.as_str()]);
    assert_eq!(
        listed(&env, &["--source", "TEAM", "--tag", "intake"]),
        [b.as_str()]
    );
    assert_eq!(listed(&env, &["--name", "img_"]), [a.as_str(), c.as_str()]);
    assert_eq!(
        listed(&env, &["--name", ".JPG", "--case", CASE]),
        [a.as_str()]
    );
    assert!(listed(&env, &["--name", "absent"]).is_empty());
}

#[test]
fn list_filters_by_capture_and_ingest_time() {
    let (env, [a, b, c, _]) = archive();
    // A day takes in the whole day; b is late on the 2nd as written (+03:00).
    let day = [
        "--captured-from",
        "2024-03-02",
        "--captured-to",
        "2024-03-02",
    ];
    assert_eq!(listed(&env, &day), [a.as_str(), b.as_str()]);
    assert_eq!(
        listed(&env, &["--captured-from", "2024-03-03"]),
        [c.as_str()]
    );
    // Two times compare as instants: b is 20:30Z, c 21:10Z; a (a day) by its day.
    assert_eq!(
        listed(&env, &["--captured-to", "2024-03-02T20:00Z"]),
        [a.as_str()]
    );
    assert_eq!(
        listed(&env, &["--captured-from", "2024-03-02T21:00Z"]),
        [a.as_str(), c.as_str()]
    );
    let local = ["--captured-from", "2024-03-02T23:00", "--tz", "+03:00"];
    assert_eq!(listed(&env, &local), [a.as_str(), b.as_str(), c.as_str()]);
    let shown = env.json(&["show", &a]);
    let today = &json_str(&shown["ingested_at"])[..10];
    assert_eq!(
        listed(
            &env,
            &["--ingested-from", today, "--captured-to", "2024-03-02"]
        ),
        [a.as_str(), b.as_str()]
    );
    assert!(listed(&env, &["--ingested-to", "2000-01-01"]).is_empty());
    assert!(listed(&env, &["--ingested-from", "2999-01-01T00:00Z"]).is_empty());
}

#[test]
fn each_list_filter_refuses_bad_input() {
    let (env, _) = archive();
    for args in [
        vec!["list", "--captured-from", "02/03/2024"],
        vec!["list", "--captured-to", "2024-03-02T10:00"],
        vec!["list", "--ingested-from", "yesterday"],
        vec!["list", "--ingested-to", "2024-13-01"],
        vec![
            "list",
            "--captured-from",
            "2024-03-02T10:00",
            "--tz",
            "Europe/Kyiv",
        ],
        vec!["list", "--source", ""],
        vec!["list", "--name", " "],
        vec!["list", "--tag", ""],
        vec!["list", "--case", "a/b"],
    ] {
        let stderr = env.refused(&args, 2);
        crate::util::assert_one_sentence(&stderr);
        assert_eq!(error_kind(&env, &args, 2), "usage", "{args:?}");
    }
    assert_eq!(
        error_kind(&env, &["list", "--case", "NOPE"], 1),
        "unknown_case"
    );
}

#[test]
fn stats_counts_items_contents_bytes_cases_events_and_actors() {
    let (env, _) = archive();
    // The same bytes again, in the other case: a new item, no new content.
    ingest_one(&env, SECOND, "e/a-again.JPG", b"a", &[]);
    env.ok(&[
        "--actor",
        "alice",
        "case",
        "create",
        "BY-2024-099",
        "--title",
        "Third",
    ]);
    let s = env.json(&["stats"]);
    assert_eq!(s["items"], 5);
    assert_eq!(s["contents"], 4);
    assert_eq!(s["bytes"]["items"], 5);
    assert_eq!(s["bytes"]["stored"], 4);
    assert_eq!(s["bytes"]["saved_by_dedup"], 1);
    let (volumes, db) = (
        s["bytes"]["volumes"].as_u64().unwrap(),
        s["bytes"]["db"].as_u64().unwrap(),
    );
    assert!(volumes > 0 && db > 0, "{s}");
    assert_eq!(s["bytes"]["on_disk"].as_u64(), Some(volumes + db));
    assert_eq!(s["cases"], 3);
    let events = env.json(&["log"])["events"].as_array().unwrap().len();
    assert_eq!(s["events"].as_u64(), Some(events as u64));
    let actors = s["actors"].as_array().unwrap();
    let names: Vec<&str> = actors.iter().map(|a| json_str(&a["actor"])).collect();
    assert_eq!(names, ["alice", "tester"]);
    let counted: u64 = actors.iter().map(|a| a["events"].as_u64().unwrap()).sum();
    assert_eq!(counted, events as u64, "every event counted once");
    let human = env.ok(&["stats"]);
    assert!(human.contains("saved by dedup: 1 B\n"), "{human}");
    assert!(human.contains("contents:       4 (distinct"), "{human}");
}
