//! Format 2 before signing: an archive made by the last release that wrote unsigned events
//! (`fixtures/archive-format2-unsigned.tar.gz`) verifies, keeps its old events byte for
//! byte, and has every event this release adds to it signed (issue 11).

use super::*;

fn unpack_format2(env: &Env) {
    util::unpack_fixture_archive(env, "archive-format2-unsigned.tar.gz", "archive-format2");
}

/// The file called `name` under `dir` (the fixture case's names are all different).
fn fixture_named(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if let Some(found) = fixture_named(&path, name) {
                return Some(found);
            }
        } else if path.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(path);
        }
    }
    None
}

/// The events of `log --json` with the SHA-256 of each one's stored bytes.
fn logged(env: &Env) -> Vec<(Value, String)> {
    let log = env.json(&["log"]);
    let events = log["events"].as_array().unwrap().clone();
    let digests = log["sha256"].as_array().unwrap();
    assert_eq!(events.len(), digests.len());
    events
        .into_iter()
        .zip(digests.iter().map(|d| d.as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn an_unsigned_format_2_archive_keeps_its_events_and_signs_the_new_ones() {
    let env = Env::new();
    unpack_format2(&env);
    let before = logged(&env);
    assert_eq!(before.len(), 13);
    assert!(
        before
            .iter()
            .all(|(e, _)| e["v"] == 1 && e.get("sig").is_none())
    );
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");
    assert_eq!(verdict["checked"]["items"], 10, "{verdict}");
    assert_eq!(verdict["checked"]["signed_events"], 0, "{verdict}");
    // Every item gives back the fixture file it was made from, byte for byte.
    for n in 1..=10 {
        let id = format!("EV-{n:06}");
        let name = env.json(&["show", &id])["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let original = fixture_named(&util::fixtures(), &name)
            .unwrap_or_else(|| panic!("{name} is a fixture file"));
        let out = env.path(&format!("{id}.out"));
        env.ok(&["extract", &id, "--out", out.to_str().unwrap()]);
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&original).unwrap(),
            "{id}"
        );
    }
    util::write(&env.path("in/new.txt"), b"evidence added by this release");
    env.ingest(&[&env.path("in/new.txt")]);
    let after = logged(&env);
    assert_eq!(
        after[..before.len()]
            .iter()
            .map(|(_, d)| d)
            .collect::<Vec<_>>(),
        before.iter().map(|(_, d)| d).collect::<Vec<_>>(),
        "the old events are kept byte for byte"
    );
    let added = &after[before.len()..];
    assert!(added.iter().any(|(e, _)| e["action"] == "ingest"));
    for (event, _) in added {
        assert_eq!(event["v"], 2, "{event}");
        assert!(
            event["sig"].is_string() && event["signer"].is_string(),
            "{event}"
        );
    }
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");
    assert_eq!(
        verdict["checked"]["unsigned_events"],
        before.len(),
        "{verdict}"
    );
    let format = std::fs::read_to_string(env.archive.join("FORMAT")).unwrap();
    assert_eq!(format, "custodia archive\nformat 2\n");
}
