//! A push's own event reaches the replica (`push/S`, announced by its manifest): a restore
//! ends at the same head as the archive after the push; the object missing or altered is
//! a named finding; a missing one is sent again by the next push.

use super::*;

/// The one listed object that no push event records and that is not a manifest: the push
/// event's own object (its name is a keyed hash, so the test finds it by elimination).
fn push_event_object(rig: &Rig, prefix: &str) -> String {
    let recorded: Vec<String> = rig
        .pushed_objects()
        .into_iter()
        .map(|(_, name, _)| format!("{prefix}/{name}"))
        .collect();
    let rest: Vec<String> = rig
        .server
        .keys(&format!("{prefix}/data/"))
        .into_iter()
        .filter(|k| !recorded.contains(k))
        .collect();
    assert_eq!(
        rest.len(),
        1,
        "one object beside the recorded ones: {rest:?}"
    );
    rest[0].clone()
}

fn verify_replica(rig: &Rig) -> (Value, String) {
    let key = arg(&rig.key);
    verify_replica_with(rig, &["--identity", &key])
}

/// `verify --replica offsite --read-data` with `extra` arguments: (report, "exit N").
fn verify_replica_with(rig: &Rig, extra: &[&str]) -> (Value, String) {
    let mut all = vec!["--json", "verify", "--replica", "offsite", "--read-data"];
    all.extend_from_slice(extra);
    let out = rig.run(&all);
    let code = out.status.code().expect("exited");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (v, format!("exit {code}"))
}

/// The restore's JSON report and the restored archive's views.
fn restore_views(rig: &Rig, to: &str) -> (Value, Vec<(String, Value)>) {
    let restored = rig.env.path(to);
    let out = rig.restore("tail", &restored, &rig.key);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let reader = Env {
        dir: tempfile::tempdir().expect("temp"),
        archive: restored,
    };
    // Views first: verify records an event of its own.
    let seen = views(&reader);
    let (code, v) = reader.verify();
    assert_eq!(code, 0, "the restored archive verifies: {v}");
    (report, seen)
}

#[test]
fn the_push_event_reaches_the_replica_and_a_restore_ends_at_it() {
    let Some(rig) = rig("the_push_event_reaches_the_replica_and_a_restore_ends_at_it") else {
        return;
    };
    rig.env.ingest_fixture_case();
    rig.add("offsite", "tail");
    let pushed = rig.json(&["push"]);
    assert_eq!(pushed["push_event_stored"], true, "{pushed}");
    let after_push = views(&rig.env);
    let events = rig.env.json(&["log"])["events"].as_array().unwrap().len() as u64;
    assert_eq!(
        pushed["seq"].as_u64(),
        Some(events),
        "the push is the newest event"
    );

    let (v, code) = verify_replica(&rig);
    assert_eq!(v["ok"], true, "{code}: {v}");
    assert_eq!(v["checked"]["push_events"].as_u64(), Some(1), "{v}");

    let (report, restored) = restore_views(&rig, "restored");
    assert_eq!(report["push_event"], true, "{report}");
    assert_eq!(report["push_event_missing"], false, "{report}");
    assert_eq!(
        report["head"].as_u64(),
        Some(events),
        "same head as the archive"
    );
    assert_eq!(after_push.len(), restored.len());
    for ((what, a), (_, b)) in after_push.iter().zip(&restored) {
        assert_eq!(a, b, "`{what}` differs after restore");
    }
}

#[test]
fn a_missing_or_altered_push_event_is_named_and_a_push_sends_it_again() {
    let Some(rig) = rig("a_missing_or_altered_push_event_is_named_and_a_push_sends_it_again")
    else {
        return;
    };
    rig.env.ingest_fixture_case();
    rig.add("offsite", "tail");
    let first = rig.json(&["push"]);
    let object = push_event_object(&rig, "tail");
    let short = object.strip_prefix("tail/").unwrap();

    rig.server.delete(&object);
    let (v, code) = verify_replica(&rig);
    assert_eq!(code, "exit 3", "{v}");
    assert_eq!(v["problems"][0]["kind"], "replica_object_missing", "{v}");
    assert_eq!(v["problems"][0]["id"], short, "{v}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v}");
    let (report, _) = restore_views(&rig, "without");
    assert_eq!(report["push_event"], false, "{report}");
    assert_eq!(report["push_event_missing"], true, "{report}");
    assert_eq!(
        report["head"].as_u64(),
        Some(first["head"].as_u64().unwrap())
    );

    rig.server.put(&object, b"not the push event");
    let (v, code) = verify_replica(&rig);
    assert_eq!(code, "exit 3", "{v}");
    assert_eq!(v["problems"][0]["kind"], "replica_object_altered", "{v}");
    let (v, code) = verify_replica_with(&rig, &[]);
    assert_eq!(
        code, "exit 3",
        "read without the key, it is still caught: {v}"
    );
    assert_eq!(v["problems"][0]["kind"], "replica_object_altered", "{v}");
    let out = rig.restore("tail", &rig.env.path("refused"), &rig.key);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(short), "names the object");
    assert!(!rig.env.path("refused").exists(), "nothing restored");

    rig.server.delete(&object);
    let second = rig.json(&["push"]);
    assert_eq!(second["push_events_resent"].as_u64(), Some(1), "{second}");
    assert!(
        rig.server
            .get(&object)
            .starts_with(b"age-encryption.org/v1\n"),
        "sent again"
    );
    let (v, code) = verify_replica(&rig);
    assert_eq!(v["ok"], true, "{code}: {v}");
    assert_eq!(v["checked"]["push_events"].as_u64(), Some(2), "{v}");
}

/// A newest manifest that no longer decrypts stops the restore (exit 3, named): passing
/// over it for the older one would restore an earlier state and call it whole.
#[test]
fn a_damaged_newest_manifest_stops_the_restore() {
    let Some(rig) = rig("a_damaged_newest_manifest_stops_the_restore") else {
        return;
    };
    rig.env.ingest_fixture_case();
    rig.add("offsite", "tail");
    rig.json(&["push"]);
    rig.env
        .ok(&["case", "create", "BY-2024-018", "--title", "Later"]);
    let newest = rig.json(&["push"])["manifest"]
        .as_str()
        .expect("a manifest name")
        .to_owned();
    let key = format!("tail/{newest}");
    let mut bytes = rig.server.get(&key);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    rig.server.put(&key, &bytes);
    let to = rig.env.path("restored");
    let out = rig.restore("tail", &to, &rig.key);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&newest), "names the manifest: {stderr}");
    assert!(!to.exists(), "nothing restored");
}
