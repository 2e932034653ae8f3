//! Exporting from an archive that is damaged or interrupted: the export is refused naming the
//! item, and an interrupted export leaves no half-written bundle.

use super::*;

// ---------------------------------------------------------------------------------------------
// 3 and 5. A damaged archive: export refuses, naming the item, and leaves nothing behind.

/// The chunk ids of a stored content, from tree "contents" by the documented layout:
/// `[1] size u64 LE, sha256 [32], count u64 LE, count × (id [32], len u32 LE)`.
fn chunk_ids(db: &sled::Db, content: &[u8]) -> Vec<[u8; 32]> {
    let blake3 = blake3::hash(content);
    let record = db
        .open_tree("contents")
        .unwrap()
        .get(blake3.as_bytes())
        .unwrap()
        .expect("content record");
    assert_eq!(record[0], 1, "record version byte");
    assert_eq!(
        u64::from_le_bytes(record[1..9].try_into().unwrap()),
        content.len() as u64
    );
    assert_eq!(hex::encode(&record[9..41]), sha256_hex(content));
    let count = u64::from_le_bytes(record[41..49].try_into().unwrap()) as usize;
    assert_eq!(record.len(), 49 + count * 36, "content record length");
    (0..count)
        .map(|i| record[49 + i * 36..49 + i * 36 + 32].try_into().unwrap())
        .collect()
}

/// A stored chunk record: its id and its original bytes, to put back.
struct StoredChunk<'a> {
    env: &'a Env,
    id: [u8; 32],
    original: Vec<u8>,
}

impl StoredChunk<'_> {
    fn put(&self, record: &[u8]) {
        self.env.set_chunk_record(&self.id, Some(record));
    }
}

/// Flips one byte in the middle of the first stored chunk of a fixture file, through sled
/// directly (docs/FORMAT.md, "Finding a chunk").
fn damage_chunk<'a>(env: &'a Env, fixture: &str) -> StoredChunk<'a> {
    let content = std::fs::read(fixtures().join(fixture)).unwrap();
    let db = env.sled();
    let id = chunk_ids(&db, &content)[0];
    crate::util::close_sled(db, &env.archive.join("db"));
    let original = env.chunk_record(&id);
    assert_eq!(original[0], 1, "chunk record version");
    assert!(original.len() > 6 + 16, "chunk too short to damage");
    let mut damaged = original.clone();
    let at = 6 + (damaged.len() - 6) / 2;
    damaged[at] ^= 0x20;
    let stored = StoredChunk { env, id, original };
    stored.put(&damaged);
    stored
}

/// Export of a damaged archive: exit 3, stderr names the item, no bundle, no temp dir, no event.
fn export_of_damaged(env: &Env, out: &Path, damaged_id: &str) {
    let stderr = export_refused(env, out, &[], 3);
    assert!(
        stderr.contains(damaged_id),
        "stderr must name the damaged item {damaged_id}:\n{stderr}"
    );
    assert!(!out.exists(), "a bundle was left at --out");
    let log = env.json(&["log"]);
    assert!(
        !log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export" || e["action"] == "seal"),
        "a refused export was recorded in custody"
    );
}

#[test]
fn export_of_damaged_archive_is_refused_naming_the_item() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    damage_chunk(&env, "photos/detention-site.png");
    let id = &ids["photos/detention-site.png"];
    export_of_damaged(&env, &env.path("bundle"), id);
    // A selection without the damaged item is fine.
    let ruling = &ids["documents/court-ruling.pdf"];
    let report = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&env.path("ruling")),
        "--evidence",
        ruling,
    ]);
    assert_eq!(report["items"], 1);
    // And the archive's own verify names the same item.
    let (code, verify) = env.verify();
    assert_eq!(code, 3, "{verify:#}");
    assert!(
        verify["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str()),
        "archive verify names {id}: {verify:#}"
    );
}

#[test]
fn interrupted_export_leaves_no_half_bundle() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    // The last item in id order: nine items' files are written before the export stops.
    let last = "email/attachments/scan.png";
    assert_eq!(
        ids.values().max(),
        Some(&ids[last]),
        "scan.png is exported last"
    );
    let chunk = damage_chunk(&env, last);
    let out = env.path("court").join("bundle");
    std::fs::create_dir(env.path("court")).unwrap();
    export_of_damaged(&env, &out, &ids[last]);
    assert_eq!(
        std::fs::read_dir(env.path("court")).unwrap().count(),
        0,
        "the parent of --out holds nothing"
    );

    // Repaired, the same --out name is free and the export completes.
    chunk.put(&chunk.original);
    let report = env.json(&["export", "--case", CASE, "--out", arg(&out)]);
    assert_eq!(report["items"], 10);
    let (code, verify, _) = verify_bundle(&out);
    assert_eq!(code, 0, "{verify:#}");
}
