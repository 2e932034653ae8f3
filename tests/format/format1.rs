//! Format 1: an archive made by the previous release (`fixtures/archive-format1.tar.gz`) is
//! read, written and kept in format 1.

use super::*;

// ---------------------------------------------------------------------------------------
// Format 1: archives made before packs (fixtures/archive-format1.tar.gz, made by the
// release that wrote format 1; see fixtures/README.md).

/// `multichunk.txt` of the format-1 fixture, made the way fixtures/README.md says.
fn format1_multichunk() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < 2_621_440 + 777 {
        out.extend(
            format!("format one fixture: a multi-chunk compressible file, line {i:07}\n").bytes(),
        );
        i += 1;
    }
    out
}

fn unpack_format1(env: &Env) {
    util::unpack_fixture_archive(env, "archive-format1.tar.gz", "archive-format1");
}

/// A format-1 archive verifies, gives back every byte, takes new evidence and stays in
/// format 1: one record per chunk under its id, `[1][volume]` locations, no packs.
#[test]
fn a_format_1_archive_is_read_written_and_kept_in_format_1() {
    let env = Env::new();
    unpack_format1(&env);
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");
    assert_eq!(verdict["checked"]["items"], 11, "{verdict}");

    let big = format1_multichunk();
    let out = env.path("multichunk.out");
    env.ok(&["extract", "EV-000011", "--out", out.to_str().unwrap()]);
    assert!(
        std::fs::read(&out).unwrap() == big,
        "the multi-chunk file, byte for byte"
    );
    let ruling = util::fixtures().join("documents/court-ruling.pdf");
    let out = env.path("ruling.out");
    env.ok(&["extract", "EV-000001", "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(ruling).unwrap());

    // New evidence, large and small, goes in the format-1 way.
    let new_big = util::noise(41, CHUNK_SIZE + 5000);
    let new_small = util::noise(42, 700);
    util::write(&env.path("in/new-big.bin"), &new_big);
    util::write(&env.path("in/new-small.bin"), &new_small);
    let report = env.ingest(&[&env.path("in")]);
    assert_eq!(
        report["items"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");

    let format = std::fs::read_to_string(env.archive.join("FORMAT")).unwrap();
    assert_eq!(format, "custodia archive\nformat 1\n");
    let db = env.sled();
    assert_eq!(
        decode_meta(&tree_map(&db, "meta")[&b"archive"[..]]).format,
        1
    );
    let mut store = ChunkStore::new(&env.archive, &db);
    for (id, location) in store.locations.clone() {
        assert_eq!(location.len(), 5, "01 ‖ volume u32 LE");
        assert!(matches!(decode_location(&location), Location::Record(_)));
        assert!(decode_chunk(&id, &store.record(&id)).0 <= 1);
    }
    for number in store.volume_numbers() {
        let names: Vec<Vec<u8>> = store
            .volume(number)
            .tree_names()
            .iter()
            .map(|n| n.to_vec())
            .collect();
        assert!(
            !names.contains(&PACK_TREE.as_bytes().to_vec()),
            "volume {number} has no packs"
        );
    }
    let contents = tree_map(&db, "contents");
    for bytes in [&new_big, &new_small, &big] {
        let content = decode_content(&contents[blake3::hash(bytes).as_bytes().as_slice()]);
        let whole: Vec<u8> = content
            .chunks
            .iter()
            .flat_map(|(id, _)| decode_chunk(id, &store.record(id)).1)
            .collect();
        assert!(whole == *bytes, "read back by hand from format-1 volumes");
    }
}
