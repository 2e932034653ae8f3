//! Items found by SHA-256 (issue 12, point 1): every command that takes an item accepts a
//! full SHA-256 or a unique prefix of 8+ hex; `show` of bytes several items hold lists them
//! all; a command that needs one item names the candidates.

use super::*;
use crate::util::{json_strings, sha256_hex};

const SHARED: &[u8] = b"the same statement, ingested into two cases\n";
const ALONE: &[u8] = b"a photo only one case holds\n";

/// An archive with ALONE in CASE and SHARED in CASE and SECOND: (env, alone, [shared ids]).
fn archive() -> (Env, String, [String; 2]) {
    let env = Env::with_case();
    env.ok(&["case", "create", SECOND, "--title", "Second"]);
    let alone = ingest_one(&env, CASE, "in/photo.jpg", ALONE, &[]);
    let first = ingest_one(&env, CASE, "in/statement.txt", SHARED, &[]);
    let second = ingest_one(&env, SECOND, "again/statement-copy.txt", SHARED, &[]);
    (env, alone, [first, second])
}

#[test]
fn every_command_that_takes_an_item_accepts_its_sha256() {
    let (env, alone, _) = archive();
    let sha = sha256_hex(ALONE);
    let upper = sha[..12].to_ascii_uppercase();
    for r in [&sha[..], &sha[..8], upper.as_str()] {
        let shown = env.json(&["show", r]);
        assert_eq!(shown["id"], alone.as_str(), "show {r}");
        assert_eq!(shown["sha256"], sha.as_str());
        assert!(shown.get("items").is_none(), "one item keeps show's shape");
    }
    let out = env.path("photo.out");
    let done = env.json(&["extract", &sha[..10], "--out", arg(&out)]);
    assert_eq!(done["id"], alone.as_str());
    assert_eq!(std::fs::read(&out).unwrap(), ALONE);
    assert_eq!(
        env.json(&["link", &sha, "--case", SECOND])["id"],
        alone.as_str()
    );
    let log = env.json(&["log", "--evidence", &sha[..8]]);
    assert_eq!(
        crate::util::event_actions(&log["events"]),
        ["ingest", "extract", "link"]
    );
    let child = ingest_one(
        &env,
        CASE,
        "att/a.txt",
        b"attachment\n",
        &["--parent", &sha],
    );
    assert_eq!(env.json(&["show", &child])["parent"], alone.as_str());
    let bundle = env.path("bundle");
    let exported = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bundle),
        "--evidence",
        &sha[..9],
    ]);
    assert_eq!(exported["items"], 2, "the item and its attachment");
}

#[test]
fn show_of_bytes_several_items_hold_lists_them_all() {
    let (env, _, shared) = archive();
    let sha = sha256_hex(SHARED);
    let blake = crate::util::blake3_hex(SHARED);
    for r in [&sha[..], &sha[..8], &blake[..]] {
        let shown = env.json(&["show", r]);
        let items = json_items(&shown);
        let ids: Vec<&str> = items.iter().map(|i| json_str(&i["id"])).collect();
        assert_eq!(ids, [shared[0].as_str(), shared[1].as_str()], "show {r}");
        // Each in show's full shape.
        assert_eq!(json_strings(&items[0]["cases"]), [CASE]);
        assert_eq!(json_strings(&items[1]["cases"]), [SECOND]);
        for item in items {
            assert_eq!(item["sha256"], sha.as_str());
            assert!(item["attachments"].is_array() && item["custody"].is_array());
            assert_eq!(crate::util::event_actions(&item["custody"]), ["ingest"]);
        }
    }
    let human = env.ok(&["show", &sha]);
    assert!(
        human.starts_with("2 items hold the bytes")
            && human.contains(&format!("id:          {}", shared[0]))
            && human.contains(&format!("id:          {}", shared[1])),
        "{human}"
    );
}

#[test]
fn a_command_that_needs_one_item_names_the_candidates() {
    let (env, _, shared) = archive();
    let sha = sha256_hex(SHARED);
    let out = env.path("shared.out");
    let bundle = env.path("bundle");
    let new = env.path("att.txt");
    write(&new, b"an attachment of which?\n");
    for cmd in [
        vec!["extract", &sha[..8], "--out", arg(&out)],
        vec!["link", &sha, "--case", SECOND],
        vec!["log", "--evidence", &sha[..16]],
        vec!["ingest", "--case", CASE, "--parent", &sha, arg(&new)],
        vec![
            "export",
            "--case",
            CASE,
            "--out",
            arg(&bundle),
            "--evidence",
            &sha,
        ],
    ] {
        let stderr = env.refused(&cmd, 1);
        crate::util::assert_one_sentence(&stderr);
        for id in &shared {
            assert!(
                stderr.contains(id.as_str()),
                "{cmd:?} names {id}:\n{stderr}"
            );
        }
        assert!(stderr.contains(CASE) && stderr.contains(SECOND), "{stderr}");
        assert_eq!(error_kind(&env, &cmd, 1), "ambiguous_item");
    }
    assert!(!out.exists() && !bundle.exists());
}

#[test]
fn malformed_or_unmatched_hashes_are_refused() {
    let (env, _, _) = archive();
    let sha = sha256_hex(ALONE);
    let too_long = format!("{sha}0");
    for bad in [&sha[..7], too_long.as_str(), "g123456789", "EV-x"] {
        let stderr = env.refused(&["show", bad], 2);
        assert!(
            stderr.contains("SHA-256"),
            "names the accepted forms:\n{stderr}"
        );
    }
    let unmatched = (0..16u8)
        .map(|d| format!("{d:x}").repeat(8))
        .find(|p| {
            [sha256_hex(ALONE), sha256_hex(SHARED)]
                .iter()
                .chain(
                    [
                        crate::util::blake3_hex(ALONE),
                        crate::util::blake3_hex(SHARED),
                    ]
                    .iter(),
                )
                .all(|h| !h.starts_with(p.as_str()))
        })
        .unwrap();
    assert_eq!(error_kind(&env, &["show", &unmatched], 1), "unknown_item");
}
