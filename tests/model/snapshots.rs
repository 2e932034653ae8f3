//! An interrupted sled snapshot leaves the archive readable.

use super::*;

/// The newest snapshot file of a sled database directory (`snap.<16 hex LSN>`), if any.
fn newest_snapshot(db: &Path) -> Option<(u64, PathBuf)> {
    std::fs::read_dir(db)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let lsn = u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()?;
            Some((lsn, e.path()))
        })
        .max()
}

/// Leaves in `db` what SIGKILL leaves while sled 0.34.7 writes the snapshot it takes when a
/// database opens: `snap.<higher LSN>.generating`, created, not yet (or half) written, never
/// renamed. `partial` copies half of the current snapshot into it; otherwise it is empty.
fn plant_interrupted_snapshot(db: &Path, partial: bool) -> PathBuf {
    let newest = newest_snapshot(db);
    let lsn = newest.as_ref().map_or(1, |(lsn, _)| lsn + 1);
    let bytes = match (&newest, partial) {
        (Some((_, path)), true) => {
            let full = std::fs::read(path).expect("read snapshot");
            full[..full.len() / 2].to_vec()
        }
        _ => Vec::new(),
    };
    let path = db.join(format!("snap.{lsn:016X}.generating"));
    write(&path, &bytes);
    path
}

/// Found by the model (a kill during an ingest, then every command refused with "the archive
/// database … is damaged and cannot be opened: Read corrupted data at file offset None"):
/// each time custodia opens a sled database that was written since its last snapshot, sled
/// writes a new snapshot to `snap.<lsn>.generating` and renames it when complete. A kill in
/// between leaves the `.generating` file, which sled 0.34.7 takes for the newest snapshot
/// (its `get_snapshot_files` does not exclude it; sled issue #1527) and refuses to open with
/// `Corruption { at: None }`. Nothing of the archive is lost, so the archive must still open,
/// verify clean and serve its items, for the index database and for a volume alike.
#[test]
fn interrupted_sled_snapshot_leaves_the_archive_readable() {
    let env = Env::with_case();
    let bytes = noise(90, 2 * MIB + 5);
    let file = env.path("evidence/video.bin");
    write(&file, &bytes);
    let report = env.json(&["ingest", "--case", CASES[0], arg(&file)]);
    let id = report["items"][0]["id"]
        .as_str()
        .expect("ingest id")
        .to_owned();
    // Open both databases once more, so each has a snapshot of its own to be newer than.
    env.ok(&["extract", &id, "--out", arg(&env.path("first.bin"))]);
    let before = env.json(&["list"]);

    let volume = env.chunk_volume(blake3::hash(&bytes[..MIB]).as_bytes());
    let volume_dir = env.archive.join("volumes").join(format!("{volume:06}"));
    let planted = [
        plant_interrupted_snapshot(&env.archive.join("db"), false),
        plant_interrupted_snapshot(&volume_dir, true),
    ];

    for what in ["list", "verify"] {
        let out = env.run(&["--json", what]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "`{what}` with interrupted snapshots {planted:?} left by a kill:\n{}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        env.json(&["list"])["items"],
        before["items"],
        "the items after the kill"
    );
    let (code, verify) = env.verify();
    assert_eq!(code, 0, "{verify:#}");
    assert_eq!(verify["checked"]["items"], 1, "{verify:#}");
    let out = env.path("again.bin");
    let done = env.json(&["extract", &id, "--out", arg(&out)]);
    assert_eq!(done["sha256"], sha256_hex(&bytes));
    assert!(
        std::fs::read(&out).unwrap() == bytes,
        "extracted bytes differ"
    );
    // And the archive takes new evidence.
    let more = env.path("evidence/note.txt");
    write(&more, b"a later statement\n");
    let report = env.json(&["ingest", "--case", CASES[0], arg(&more)]);
    assert_eq!(report["items"][0]["status"], "new", "{report}");
}
