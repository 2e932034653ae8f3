//! Log filters and streams (issue 12, point 9): `--since`, `--until`, `--action`, `--by`,
//! aligned text columns with the host, `--json` unchanged, `--json-lines` one event a line.

use super::*;
use crate::util::{event_actions, json_strings};

const LONG_ACTOR: &str = "Следователь Иванова-Петренко";

/// Events by two actors of very different name lengths: (env, item id).
fn archive() -> (Env, String) {
    let env = Env::with_case();
    let id = ingest_one(&env, CASE, "in/a.txt", b"a", &[]);
    env.ok(&["case", "create", SECOND, "--title", "Second"]);
    env.ok(&["--actor", LONG_ACTOR, "link", &id, "--case", SECOND]);
    let out = env.path("a.out");
    env.ok(&["--actor", LONG_ACTOR, "extract", &id, "--out", arg(&out)]);
    (env, id)
}

fn actions(env: &Env, args: &[&str]) -> Vec<String> {
    let mut all = vec!["log"];
    all.extend_from_slice(args);
    event_actions(&env.json(&all)["events"])
}

#[test]
fn log_filters_by_action_actor_and_time() {
    let (env, id) = archive();
    assert_eq!(actions(&env, &["--action", "extract"]), ["extract"]);
    assert_eq!(
        actions(&env, &["--action", "link", "--action", "ingest"]),
        ["ingest", "link"]
    );
    assert_eq!(
        actions(&env, &["--by", LONG_ACTOR]),
        ["key_register", "link", "extract"]
    );
    assert_eq!(
        actions(
            &env,
            &["--by", LONG_ACTOR, "--action", "extract", "--evidence", &id]
        ),
        ["extract"]
    );
    assert!(actions(&env, &["--by", "nobody"]).is_empty());
    let all = env.json(&["log"]);
    let events = all["events"].as_array().unwrap();
    let link = events.iter().find(|e| e["action"] == "link").unwrap();
    let since = json_str(&link["time"]);
    let later = actions(&env, &["--since", since]);
    assert_eq!(later.first().map(String::as_str), Some("link"), "{later:?}");
    let until = actions(&env, &["--until", since]);
    assert_eq!(until.last().map(String::as_str), Some("link"));
    assert_eq!(later.len() + until.len(), events.len() + 1, "link in both");
    let today = &since[..10];
    assert_eq!(
        actions(&env, &["--since", today, "--until", today]).len(),
        events.len()
    );
    assert!(actions(&env, &["--until", "2000-01-01"]).is_empty());
    let offset = ["--since", "2000-01-01T00:00", "--tz", "+03:00"];
    assert_eq!(actions(&env, &offset).len(), events.len());
}

#[test]
fn each_log_filter_refuses_bad_input() {
    let (env, _) = archive();
    for args in [
        vec!["log", "--action", "ingested"],
        vec!["log", "--action", ""],
        vec!["log", "--by", ""],
        vec!["log", "--since", "02/03/2024"],
        vec!["log", "--until", "2024-03-02T10:00"],
        vec!["log", "--since", "2024-03-02T10:00", "--tz", "Europe/Kyiv"],
    ] {
        let stderr = env.refused(&args, 2);
        crate::util::assert_one_sentence(&stderr);
        assert_eq!(error_kind(&env, &args, 2), "usage", "{args:?}");
    }
    let stderr = env.refused(&["log", "--action", "ingested"], 2);
    assert!(
        stderr.contains("key_register"),
        "names the actions:\n{stderr}"
    );
}

#[test]
fn text_log_columns_line_up_whatever_the_names() {
    let (env, _) = archive();
    let host = json_str(&env.json(&["log"])["events"][0]["host"]).to_owned();
    let text = env.ok(&["log"]);
    // The column where the host starts, in characters, on every line.
    let starts: Vec<usize> = text
        .lines()
        .map(|l| {
            let at = l
                .find(&format!("  {host}  "))
                .unwrap_or_else(|| panic!("no host in {l}"));
            l[..at].chars().count()
        })
        .collect();
    assert!(
        starts.len() >= 6 && starts.windows(2).all(|w| w[0] == w[1]),
        "{text}"
    );
    assert!(text.contains(LONG_ACTOR), "{text}");
    assert!(
        text.contains("to: "),
        "an extract says where it went:\n{text}"
    );
}

#[test]
fn json_keeps_its_shape_and_json_lines_streams_one_event_a_line() {
    let (env, _) = archive();
    let doc = env.json(&["log"]);
    let events = doc["events"].as_array().unwrap();
    let digests = json_strings(&doc["sha256"]);
    assert_eq!(events.len(), digests.len());
    let lines = env.ok(&["log", "--json-lines"]);
    let parsed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(parsed.len(), events.len());
    for (i, line) in parsed.iter().enumerate() {
        assert_eq!(&line["event"], &events[i], "the event as in --json");
        assert_eq!(line["sha256"], digests[i].as_str());
        assert_eq!(line.as_object().unwrap().len(), 2, "{line}");
    }
    let filtered = env.ok(&["log", "--json-lines", "--action", "extract"]);
    assert_eq!(filtered.lines().count(), 1);
    assert!(filtered.contains(r#""out":"#));
}
