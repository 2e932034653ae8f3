//! Files that change while they are read are skipped and leave no item.

use super::*;

// ---------------------------------------------------------------------------------------------
// 2. Files that change while they are read

#[derive(Clone, Copy, Debug)]
enum Change {
    /// Another process appends 1 MiB at a time.
    Append,
    /// Another process rewrites the first bytes in place: same size, other bytes.
    Rewrite,
}

/// Changes `path` as `change` says until `stop`; returns how many writes it made.
fn keep_changing(path: PathBuf, change: Change, stop: Arc<AtomicBool>) -> u64 {
    let piece = noise(9, MIB as usize);
    let mut file = fs::OpenOptions::new()
        .append(matches!(change, Change::Append))
        .write(true)
        .open(&path)
        .expect("open the file to change");
    let mut writes = 0u64;
    while !stop.load(Ordering::Relaxed) && writes < 256 {
        match change {
            Change::Append => {
                file.write_all(&piece).expect("append");
                thread::sleep(Duration::from_millis(10));
            }
            Change::Rewrite => {
                let at = (writes as usize * 4096) % (piece.len() - 4096);
                file.write_all_at(&piece[at..at + 4096], 0)
                    .expect("rewrite in place");
                thread::sleep(Duration::from_millis(3));
            }
        }
        writes += 1;
    }
    writes
}

/// What the still file beside the changing one holds.
const STILL_BYTES: &[u8] = b"a statement nobody touches\n";

/// One ingest of a folder holding `moving.bin`, which another thread keeps changing while it
/// runs, and `still.txt`.
struct Attempt {
    env: Env,
    /// The size of `moving.bin`.
    size: u64,
    /// The ingest's JSON report.
    report: Value,
    /// How many writes the other thread made to `moving.bin`.
    writes: u64,
}

/// Runs attempt number `attempt`, with a file 32 MiB larger than the attempt before. The
/// ingest must not panic, and exits 4: the changing file was skipped (issue 9, finding 7).
fn ingest_attempt(change: Change, attempt: u64) -> Attempt {
    let env = Env::with_case();
    let dir = env.path("in");
    fs::create_dir_all(&dir).unwrap();
    let moving = dir.join("moving.bin");
    let size = (64 + 32 * attempt) << 20;
    write_noise_file(&moving, 40 + attempt, size as usize);
    write(&dir.join("still.txt"), STILL_BYTES);

    let child = spawn(&env, &["--json", "ingest", "--case", CASE, arg(&dir)]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (moving, stop) = (moving.clone(), stop.clone());
        thread::spawn(move || keep_changing(moving, change, stop))
    };
    let out = child.wait_with_output().expect("wait for ingest");
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("writer thread");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "ingest panicked:\n{stderr}");
    assert_eq!(out.status.code(), Some(4), "{change:?}: ingest:\n{stderr}");
    let report = stdout_json(&out, "ingest");
    Attempt {
        env,
        size,
        report,
        writes,
    }
}

/// The report's skipped entries for `moving.bin`.
fn skipped_moving(report: &Value) -> Vec<&Value> {
    report["skipped"]
        .as_array()
        .expect("skipped array")
        .iter()
        .filter(|s| json_str(&s["path"]).ends_with("moving.bin"))
        .collect()
}

/// The still file is ingested whatever happens to its neighbour, and the archive verifies
/// with no problem.
fn check_still_file_and_archive(a: &Attempt, change: Change) {
    let report = &a.report;
    let items = json_items(report);
    let still: Vec<&Value> = items
        .iter()
        .filter(|i| json_str(&i["path"]).ends_with("still.txt"))
        .collect();
    assert_eq!(
        still.len(),
        1,
        "{change:?}: still.txt ingested:\n{report:#}"
    );
    assert_eq!(still[0]["blake3"], blake3_hex(STILL_BYTES));

    let (code, verified) = a.env.verify();
    assert_eq!(
        (code, &verified["problems"]),
        (0, &Value::Array(vec![])),
        "{change:?}: verify after the ingest:\n{verified:#}"
    );
}

/// The changing file is skipped once, with a reason that says what happened, and only the
/// still file is an item.
fn check_caught(a: &Attempt, skipped: &[&Value], change: Change, attempt: u64) {
    let (report, writes) = (&a.report, a.writes);
    assert_eq!(skipped.len(), 1, "{change:?}: {report:#}");
    let reason = json_str(&skipped[0]["reason"]);
    eprintln!("{change:?}: caught on attempt {attempt} after {writes} writes: {reason}");
    assert!(
        reason.contains("changed while being read"),
        "{change:?}: the reason says what happened: {reason}"
    );
    assert_eq!(
        json_items(report).len(),
        1,
        "{change:?}: only still.txt is an item:\n{report:#}"
    );
}

/// Nothing recorded for the changing file: no item, no ingest event, no mention in the log.
fn check_nothing_recorded(env: &Env, change: Change) {
    let listed = env.json(&["list"]);
    let names: Vec<&str> = json_items(&listed)
        .iter()
        .map(|i| json_str(&i["name"]))
        .collect();
    assert_eq!(names, ["still.txt"], "{change:?}: list:\n{listed:#}");
    let log = env.json(&["log"]);
    let ingested: Vec<&Value> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "ingest")
        .collect();
    assert_eq!(ingested.len(), 1, "{change:?}: one ingest event:\n{log:#}");
    assert_eq!(ingested[0]["details"]["name"], "still.txt");
    assert!(
        !text(&serde_json::to_vec(&log).unwrap()).contains("moving.bin"),
        "{change:?}: the log mentions the changing file:\n{log:#}"
    );
}

/// Ingests a folder holding a file that another thread keeps changing and a still one.
/// Retries with a larger file when the ingest read it before the writer touched it; asserts
/// that the change was caught at least once, and each time it is caught, that nothing was
/// recorded for the file.
fn ingest_while_changing(change: Change) {
    let mut attempts = Vec::new();
    for attempt in 0..5u64 {
        let a = ingest_attempt(change, attempt);
        let skipped = skipped_moving(&a.report);
        check_still_file_and_archive(&a, change);
        if skipped.is_empty() {
            // Raced: the read ended before the writer touched the file. Try a larger one.
            attempts.push(format!(
                "attempt {attempt} ({} MiB, {} writes): not caught; report:\n{:#}",
                a.size >> 20,
                a.writes,
                a.report
            ));
            continue;
        }
        check_caught(&a, &skipped, change, attempt);
        check_nothing_recorded(&a.env, change);
        return;
    }
    panic!(
        "{change:?}: a file changing during its read was never caught in {} attempts:\n{}",
        attempts.len(),
        attempts.join("\n")
    );
}

#[test]
fn a_file_appended_to_while_read_is_skipped_and_leaves_no_item() {
    ingest_while_changing(Change::Append);
}

#[test]
fn a_file_rewritten_in_place_while_read_is_skipped_and_leaves_no_item() {
    ingest_while_changing(Change::Rewrite);
}
