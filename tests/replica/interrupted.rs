//! A push cut short by a dead server (issue 13's fault list): it fails in one sentence
//! and records nothing; after a restart the next push keeps what arrived and sends the rest.

use super::*;

/// Deterministic incompressible bytes (xorshift), so volumes fill and objects are large.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Starts a push of six incompressible 16 MiB clips to the replica `offsite` at `cut`, and
/// kills the server as soon as the first data object is listed there. Returns the push's
/// output and when the server was killed.
fn kill_the_server_mid_push(rig: &mut Rig) -> (Output, Instant) {
    let dir = rig.env.path("video");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..6 {
        std::fs::write(dir.join(format!("clip{i}.mp4")), noise(16 << 20, i + 1)).unwrap();
    }
    rig.env.ok(&["ingest", "--case", "BY-2024-017", &arg(&dir)]);
    rig.add("offsite", "cut");
    let mut child = rig
        .command(&["--json", "push"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn push");
    let start = Instant::now();
    while rig.server.keys("cut/data/").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "nothing arrived");
        assert!(
            child.try_wait().unwrap().is_none(),
            "push ended before anything was listed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    rig.server.kill();
    let killed_at = Instant::now();
    let out = child.wait_with_output().expect("push ends");
    (out, killed_at)
}

/// The cut push gave up in bounded time with exit 1 and one sentence (a `remote_` error),
/// and recorded no push event.
fn check_cut_push_failed_cleanly(rig: &Rig, out: &Output, killed_at: Instant) {
    assert!(
        killed_at.elapsed() < Duration::from_secs(90),
        "gave up in bounded time"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    let error: Value = serde_json::from_str(stderr.trim()).expect("a JSON error");
    assert!(
        error["error"]["kind"]
            .as_str()
            .unwrap()
            .starts_with("remote_"),
        "{error}"
    );
    let log = rig.env.json(&["log"]);
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "push"),
        "no push event for a push that did not finish"
    );
}

/// After a restart, a second push keeps what arrived and sends only the rest and the
/// manifest; the replica then verifies, every object read and decrypted.
fn check_second_push_resumes(rig: &mut Rig) {
    rig.server.restart();
    let arrived = rig.server.keys("cut/data/").len() as u64;
    let second = rig.json(&["push"]);
    let (sent, found, objects) = (
        second["sent"].as_u64().unwrap(),
        second["found"].as_u64().unwrap(),
        second["objects"].as_u64().unwrap(),
    );
    assert_eq!(
        found, arrived,
        "what arrived is kept, not sent again: {second}"
    );
    assert!(found >= 1);
    assert_eq!(
        sent + found,
        objects + 1,
        "the rest, and the manifest, are sent: {second}"
    );
    let key = arg(&rig.key);
    let v = rig.json(&[
        "verify",
        "--replica",
        "offsite",
        "--read-data",
        "--identity",
        &key,
    ]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["checked"]["read"].as_u64(), Some(objects + 1));
    assert_eq!(v["checked"]["decrypted"].as_u64(), Some(objects + 1));
}

/// The server killed in the middle of a push: exit 1 with one sentence and no push event;
/// after a restart a second push sends only what is missing, and the replica verifies.
#[test]
fn a_push_cut_short_by_a_dead_server_resumes_without_resending() {
    let Some(mut rig) = rig("a_push_cut_short_by_a_dead_server_resumes_without_resending") else {
        return;
    };
    let (out, killed_at) = kill_the_server_mid_push(&mut rig);
    check_cut_push_failed_cleanly(&rig, &out, killed_at);
    check_second_push_resumes(&mut rig);
}
