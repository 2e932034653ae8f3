//! Bounded memory: hostile chunk records are findings, and a large file is stored in bounded
//! memory.

use super::*;

// ---------------------------------------------------------------------------------------------
// 4. Decompression bombs and hostile stored chunk records

/// A stored chunk record: `[1] [compression: 0 raw, 1 zstd] [raw_len u32 LE] [payload]`.
fn chunk_record(compression: u8, raw_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![1, compression];
    r.extend_from_slice(&raw_len.to_le_bytes());
    r.extend_from_slice(payload);
    r
}

/// A zstd frame holding `raw` in raw blocks whose header declares a 2 GiB window (window log
/// 31, the largest zstd allows) and no content size, so a decoder that trusts it reserves
/// 2 GiB. Laid out by hand (RFC 8878): the zstd crate's encoder would itself allocate the
/// window to write one.
fn huge_window_frame(raw: &[u8]) -> Vec<u8> {
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd]; // magic
    f.push(0x00); // descriptor: no content size, not single-segment, no checksum, no dictionary
    f.push(21 << 3); // window descriptor: exponent 21 → window log 10 + 21 = 31, mantissa 0
    const BLOCK: usize = 128 << 10; // the largest block
    let pieces: Vec<&[u8]> = raw.chunks(BLOCK).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let last = u32::from(i + 1 == pieces.len());
        let header = last | (piece.len() as u32) << 3; // block type 0: raw
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.extend_from_slice(piece);
    }
    f
}

/// The files ingested for the hostile-record test: three to damage, one left intact.
const NAMES: [&str; 4] = [
    "bomb.bin",
    "claims-4gib.bin",
    "huge-window.bin",
    "intact.bin",
];

/// Ingests one full chunk of noise under each of `NAMES` (so each chunk id is the BLAKE3 of
/// the whole file): the bytes and the item id of each.
fn ingest_one_chunk_each(
    env: &Env,
) -> (
    BTreeMap<&'static str, Vec<u8>>,
    BTreeMap<&'static str, String>,
) {
    let dir = env.path("in");
    let mut bytes: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (i, name) in NAMES.iter().enumerate() {
        // One full chunk each, so the chunk id is the BLAKE3 of the whole file.
        let b = noise(700 + i as u64, MIB as usize);
        write(&dir.join(name), &b);
        bytes.insert(name, b);
    }
    let report = env.ingest(&[&dir]);
    let ids: BTreeMap<&str, String> = NAMES
        .iter()
        .map(|name| {
            let item = json_items(&report)
                .iter()
                .find(|i| json_str(&i["path"]).ends_with(name))
                .unwrap_or_else(|| panic!("{name} not ingested: {report}"));
            assert_eq!(item["blake3"], blake3_hex(&bytes[name]));
            (*name, json_str(&item["id"]).to_owned())
        })
        .collect();
    (bytes, ids)
}

/// The three hostile records, by the name of the file whose chunk they replace: (a) a frame
/// that yields 64 MiB where the record claims 1 MiB, (b) a record that claims 4 GiB, (c) the
/// right bytes, in a frame that asks for a 2 GiB window.
fn hostile_records(bytes: &BTreeMap<&str, Vec<u8>>) -> [(&'static str, Vec<u8>); 3] {
    // 64 MiB of zeros in one small frame, streamed so the test never holds the 64 MiB.
    let bomb = zstd::stream::encode_all(std::io::repeat(0).take(64 * MIB), 3).unwrap();
    assert!(bomb.len() < 64 << 10, "the bomb is small: {}", bomb.len());
    let window = huge_window_frame(&bytes["huge-window.bin"]);
    // The frame is honest but for its window: a decoder that allows it yields the chunk.
    assert_eq!(
        zstd::bulk::decompress(&window, MIB as usize).unwrap(),
        bytes["huge-window.bin"]
    );
    [
        // (a) a frame that yields 64 MiB where the record claims 1 MiB
        ("bomb.bin", chunk_record(1, MIB as u32, &bomb)),
        // (b) a record that claims 4 GiB
        ("claims-4gib.bin", chunk_record(1, u32::MAX, &bomb)),
        // (c) the right bytes, in a frame that asks for a 2 GiB window
        ("huge-window.bin", chunk_record(1, MIB as u32, &window)),
    ]
}

/// verify: one content_damaged finding per hostile item, nothing about the intact one, in
/// bounded memory.
fn check_verify_finds_each(env: &Env, hostile: &[(&str, Vec<u8>)], ids: &BTreeMap<&str, String>) {
    let run = measured(env, &["--json", "verify"]);
    let report = stdout_json(&run.out, "verify");
    assert_eq!(run.code(), Some(3), "{report:#}\n{}", run.stderr());
    run.assert_peak_below(200, "verify of hostile chunk records");
    let found: BTreeSet<(String, String)> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                json_str(&p["kind"]).to_owned(),
                p["id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = hostile
        .iter()
        .map(|(name, _)| ("content_damaged".to_owned(), ids[name].clone()))
        .collect();
    assert_eq!(found, want, "{report:#}");
}

/// extract of each hostile item: exit 3, kind damaged, no file left, memory bounded. The
/// intact item still extracts.
fn check_extracts_refused(
    env: &Env,
    hostile: &[(&str, Vec<u8>)],
    ids: &BTreeMap<&str, String>,
    bytes: &BTreeMap<&str, Vec<u8>>,
) {
    let out_dir = env.path("out");
    fs::create_dir_all(&out_dir).unwrap();
    for (name, _) in hostile {
        let target = out_dir.join(name);
        let run = measured(
            env,
            &["--json", "extract", &ids[name], "--out", arg(&target)],
        );
        assert_eq!(run.code(), Some(3), "extract {name}: {}", run.stderr());
        assert_eq!(stderr_error(&run.stderr(), name).0, "damaged");
        run.assert_peak_below(200, &format!("extract of {name}"));
        assert!(!target.exists(), "{name}: no output file");
    }
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "no temporary file left"
    );
    let intact = out_dir.join("intact.bin");
    env.ok(&["extract", &ids["intact.bin"], "--out", arg(&intact)]);
    assert_eq!(fs::read(&intact).unwrap(), bytes["intact.bin"]);
}

#[test]
fn hostile_chunk_records_are_findings_and_memory_stays_bounded() {
    let env = Env::with_case();
    let (bytes, ids) = ingest_one_chunk_each(&env);
    let hostile = hostile_records(&bytes);
    for (name, record) in &hostile {
        let chunk = hex::decode(blake3_hex(&bytes[name])).unwrap();
        env.set_chunk_record(&chunk, Some(record));
    }
    check_verify_finds_each(&env, &hostile, &ids);
    check_extracts_refused(&env, &hostile, &ids, &bytes);
}

// ---------------------------------------------------------------------------------------------
// 5. Memory bounded on a large file

#[test]
fn memory_stays_bounded_on_a_large_file() {
    const SIZE: u64 = 256 * MIB;
    const BOUND_MIB: u64 = 100;
    let env = Env::with_case();
    let source = env.path("in/large.bin");
    fs::create_dir_all(source.parent().unwrap()).unwrap();
    let (sha, b3) = write_noise_file(&source, 77, SIZE as usize);

    let run = measured(&env, &["--json", "ingest", "--case", CASE, arg(&source)]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    run.assert_peak_below(BOUND_MIB, "ingest of 256 MiB");
    let report = stdout_json(&run.out, "ingest");
    let item = &json_items(&report)[0];
    assert_eq!(
        (&item["blake3"], &item["sha256"]),
        (&b3.clone().into(), &sha.clone().into())
    );
    assert_eq!(item["size"], SIZE);
    let id = json_str(&item["id"]).to_owned();

    let run = measured(&env, &["--json", "verify"]);
    let report = stdout_json(&run.out, "verify");
    assert_eq!(run.code(), Some(0), "{report:#}");
    assert_eq!(report["checked"]["bytes"], SIZE, "{report:#}");
    run.assert_peak_below(BOUND_MIB, "verify of 256 MiB");

    let out = env.path("large.out");
    let run = measured(&env, &["--json", "extract", &id, "--out", arg(&out)]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    run.assert_peak_below(BOUND_MIB, "extract of 256 MiB");
    assert_eq!(file_hashes(&out), (sha.clone(), b3.clone()));
    fs::remove_file(&out).unwrap();

    let bag = env.path("bag");
    let run = measured(
        &env,
        &["--json", "export", "--case", CASE, "--out", arg(&bag)],
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    run.assert_peak_below(BOUND_MIB, "export of 256 MiB");
    let exported = bag.join(format!("data/evidence/{id}/large.bin"));
    assert_eq!(file_hashes(&exported), (sha, b3));
}
