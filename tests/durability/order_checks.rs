//! The order checks themselves: edited strace logs that break the write order must be
//! rejected, so a passing durability test means something.

use super::*;

// ---------------------------------------------------------------------------------------------
// The checks themselves: a real log, made wrong in the ways a durability bug would, must fail.

/// The log with the lines of some operations removed and, optionally, the lines of one
/// operation moved to just before line `to`.
fn edited(t: &Trace, remove: &[&Op], mv: Option<(&Op, usize)>) -> String {
    let mut gone: BTreeSet<usize> = BTreeSet::new();
    for o in remove {
        gone.insert(o.entry);
        gone.insert(o.exit);
    }
    let mut moved = Vec::new();
    if let Some((op, _)) = mv {
        gone.insert(op.entry);
        gone.insert(op.exit);
        moved.push(op.entry);
        if op.exit != op.entry {
            moved.push(op.exit);
        }
    }
    let all: Vec<&str> = t.log.lines().collect();
    let mut out = Vec::new();
    for (i, line) in all.iter().enumerate() {
        if let Some((_, to)) = mv
            && i == to
        {
            out.extend(moved.iter().map(|&m| all[m]));
        }
        if !gone.contains(&i) {
            out.push(*line);
        }
    }
    out.join("\n")
}

fn check_fails(name: &str, log: &str, cwd: &Path, p: &Paths, expected: &str) {
    let t = Trace::parse(log, cwd);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_ingest(&t, p);
    }));
    let Err(panic) = outcome else {
        panic!("the checks accepted a log with {name}");
    };
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains(expected),
        "a log with {name} failed for another reason than {expected:?}:\n{message}"
    );
}

/// The fsyncs of the paths `f` accepts.
fn syncs_of<'a>(t: &'a Trace, f: &dyn Fn(&str) -> bool) -> Vec<&'a Op> {
    t.ops
        .iter()
        .filter(|o| matches!(&o.kind, Kind::Sync { path } if f(path)))
        .collect()
}

/// HEAD.tmp never fsynced, no fsync of the archive directory after the HEAD rename, items
/// reported before the HEAD rename.
fn check_commit_breaks(t: &Trace, cwd: &Path, p: &Paths, rename: &Op, ack: &Op) {
    check_fails(
        "HEAD.tmp never fsynced",
        &edited(t, &syncs_of(t, &|path| path == p.head_tmp), None),
        cwd,
        p,
        "HEAD.tmp renamed over HEAD before it was fsynced",
    );
    let root_syncs_after: Vec<&Op> = syncs_of(t, &|path| path == p.root)
        .into_iter()
        .filter(|o| o.entry > rename.exit)
        .collect();
    check_fails(
        "no fsync of the archive directory after the HEAD rename",
        &edited(t, &root_syncs_after, None),
        cwd,
        p,
        "archive directory",
    );
    check_fails(
        "items reported before the HEAD rename",
        &edited(t, &[], Some((ack, rename.entry))),
        cwd,
        p,
        "reported",
    );
}

/// The volume's blob files, the archive directory after volumes/ was made, or db/db never
/// fsynced.
fn check_missing_data_fsyncs(t: &Trace, cwd: &Path, p: &Paths, rename: &Op) {
    let db_file = format!("{}/db", p.db);
    check_fails(
        "the volume's blob files never fsynced",
        &edited(
            t,
            &syncs_of(t, &|path| {
                under(path, &p.volumes) && path.contains("/blobs/")
            }),
            None,
        ),
        cwd,
        p,
        "chunk volumes",
    );
    let root_syncs_before: Vec<&Op> = syncs_of(t, &|path| path == p.root)
        .into_iter()
        .filter(|o| o.exit < rename.entry)
        .collect();
    check_fails(
        "volumes/ created with no fsync of the archive directory",
        &edited(t, &root_syncs_before, None),
        cwd,
        p,
        "volumes/ created",
    );
    check_fails(
        "db/db never fsynced",
        &edited(t, &syncs_of(t, &|path| path == db_file), None),
        cwd,
        p,
        "db/db",
    );
}

/// A blob file of the volume written only once the batch is committed: its open and its
/// write move after the HEAD rename (the write alone would land where its fd no longer
/// names the file).
fn check_chunk_written_late(t: &Trace, cwd: &Path, p: &Paths, rename: &Op) {
    let blob_open = t
        .ops
        .iter()
        .find(|o| {
            matches!(&o.kind, Kind::Open { path, created: true }
                if under(path, &p.volumes) && path.contains("/blobs/"))
        })
        .expect("a blob file of a volume");
    let Kind::Open { path: blob, .. } = &blob_open.kind else {
        unreachable!("found as an open")
    };
    let blob_write = t
        .first_after(
            blob_open.exit,
            |k| matches!(k, Kind::Write { path } if path == blob),
        )
        .expect("the blob file's write");
    let once = Trace::parse(&edited(t, &[], Some((blob_open, rename.exit + 1))), cwd);
    let write_line = once
        .ops
        .iter()
        .find(|o| o.line == blob_write.line)
        .expect("the write, moved past");
    // The write goes just after the moved open has returned its descriptor. strace prints a
    // call another thread interrupts on two lines ("<unfinished ...>", "<... resumed>"), so
    // a fixed offset from the rename could land between them, where the descriptor does not
    // name the file yet, and the check would rightly see no write to it (a flaky test).
    let moved_open = once
        .ops
        .iter()
        .find(|o| o.line == blob_open.line)
        .expect("the open, moved past");
    assert!(moved_open.entry > head_renames(&once, p)[0].exit);
    check_fails(
        "a chunk written after the index records that point at it",
        &edited(&once, &[], Some((write_line, moved_open.exit + 1))),
        cwd,
        p,
        "after the last batch's volumes were made durable",
    );
}

#[test]
fn the_order_checks_reject_logs_that_break_the_order() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let folder = env.path("seized");
    write_files(
        &folder,
        &[
            ("a.txt", b"a\n".to_vec()),
            ("disk.img", noise(3, 2_500_000)),
        ],
    );
    let (t, _) = traced(&env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    let cwd = env.dir.path();
    check_ingest(&t, &p);
    let rename = head_renames(&t, &p)[0];
    let ack = t
        .stdout_writes()
        .into_iter()
        .find(|o| !acks_of(o).is_empty())
        .expect("an ack");
    check_commit_breaks(&t, cwd, &p, rename, ack);
    check_missing_data_fsyncs(&t, cwd, &p, rename);
    check_chunk_written_late(&t, cwd, &p, rename);
}
