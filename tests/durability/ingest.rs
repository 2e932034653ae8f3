//! Ingest: items are reported only after their chunks, records and HEAD are fsynced, batch
//! by batch.

use super::*;

#[test]
fn ingest_reports_items_only_after_chunks_records_and_head_are_fsynced() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let folder = env.path("seized");
    let files = write_files(
        &folder,
        &[
            ("note.txt", b"Seized at 09:40, bag 7.\n".to_vec()),
            ("empty.txt", Vec::new()),
            ("disk.img", noise(41, (5 << 20) / 2)),
        ],
    );
    let (trace, stdout) = traced(&env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    let batches = check_ingest(&trace, &p);
    assert_eq!(
        batches.len(),
        1,
        "three small files are one batch:\n{stdout}"
    );
    check_acks_against_files(&batches, &files);
    let b = &batches[0];
    // The 2.5 MiB file is stored as chunks in a volume: the chunk checks above were not vacuous.
    assert!(
        b.volume_writes >= 3,
        "expected the chunks of disk.img written to a volume, saw {} writes",
        b.volume_writes
    );
    // The first ingest of the archive creates volumes/ (checked above to be made durable).
    assert!(
        trace
            .ops
            .iter()
            .any(|o| matches!(&o.kind, Kind::Mkdir { path } if *path == p.volumes)),
        "the first ingest did not create volumes/"
    );
    // HEAD on disk is what the last commit wrote to HEAD.tmp, and names the last event.
    let head = std::fs::read_to_string(&p.head).expect("HEAD");
    assert_eq!(head, b.commit.head_text);
    let log = env.json(&["log"]);
    let events = log
        .as_array()
        .or_else(|| log["events"].as_array())
        .unwrap_or_else(|| panic!("log JSON: {log}"));
    let last_seq = events
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .max()
        .expect("events have seq");
    assert!(
        head.starts_with(&format!("seq {last_seq}\n")),
        "HEAD {head:?} does not name the last event {last_seq}"
    );
    // The fsync that makes the blob of the first 1 MiB chunk durable names a file under blobs/.
    assert!(
        trace
            .ops
            .iter()
            .any(|o| matches!(&o.kind, Kind::Sync { path }
            if under(path, &p.volumes) && path.contains("/blobs/"))),
        "no blob file of a volume was fsynced (sled writes values over ~128 KiB to blobs/)"
    );
    verify_clean(&env);
}

#[test]
fn each_ingest_batch_is_fsynced_before_its_items_are_reported() {
    const FILES: u64 = 2100;
    let env = Env::with_case();
    let p = Paths::of(&env);
    let folder = env.path("many");
    // 2,100 files: three batches of up to 1,024 (src/ingest/pipeline.rs), each file new
    // content, so the storer fills the next batch while the committer commits the last.
    let owned: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|i| {
            (
                format!("f{i:04}.bin"),
                noise(7000 + i, 2000 + (i as usize * 37) % 3000),
            )
        })
        .collect();
    let named: Vec<(&str, Vec<u8>)> = owned.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let files = write_files(&folder, &named);
    let (trace, stdout) = traced(&env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    let batches = check_ingest(&trace, &p);
    assert!(
        batches.len() >= 3,
        "{FILES} files must be committed in at least three batches, saw {}:\n{stdout}",
        batches.len()
    );
    assert!(
        batches.iter().map(|b| b.volume_writes).sum::<usize>() > 0,
        "the batches stored new chunks"
    );
    check_acks_against_files(&batches, &files);
    let ids: BTreeSet<&str> = batches
        .iter()
        .flat_map(|b| {
            b.acks
                .iter()
                .flat_map(|(_, a)| a.iter().map(|a| a.id.as_str()))
        })
        .collect();
    assert_eq!(ids.len() as u64, FILES, "distinct ids");
    verify_clean(&env);
}
