//! Content storage by hand: items reassemble from their chunks, volumes and packs fill as
//! documented, and compression follows the documented rule and probe.

use super::*;

// ---------------------------------------------------------------------------------------
// Contents and chunks: every item, back from its chunks.

/// Files by absolute path.
type ByPath<'a> = HashMap<PathBuf, &'a Vec<u8>>;

/// An item's content, back from its chunks, each checked against the 1 MiB split and the
/// compression rule; records the chunks it uses.
fn reassemble(
    chunks: &mut ChunkStore,
    content: &Content,
    item: &Item,
    used_chunks: &mut BTreeSet<Vec<u8>>,
) -> Vec<u8> {
    let mut whole = Vec::new();
    for (n, (id, len)) in content.chunks.iter().enumerate() {
        used_chunks.insert(id.to_vec());
        let stored = &chunks.record(id);
        let (compression, raw) = decode_chunk(id, stored);
        assert_eq!(raw.len(), *len as usize);
        let last = n + 1 == content.chunks.len();
        if last {
            assert!((1..=CHUNK_SIZE).contains(&raw.len()));
        } else {
            assert_eq!(raw.len(), CHUNK_SIZE, "every chunk but the last is 1 MiB");
        }
        // The compression rule: zstd level 3 when it saves at least 1/32, raw otherwise.
        let worth = stored_as_zstd(&raw);
        assert_eq!(compression, u8::from(worth), "chunk {n} of {}", ev(item.id));
        if worth {
            let packed = zstd::bulk::compress(&raw, ZSTD_LEVEL).unwrap();
            assert_eq!(&stored[6..], packed.as_slice(), "one zstd frame, level 3");
        } else {
            assert_eq!(&stored[6..], raw.as_slice());
        }
        whole.extend_from_slice(&raw);
    }
    whole
}

/// The item is its file, byte for byte; returns whether a fixture vector was checked too.
fn check_item_is_its_file(item: &Item, whole: &[u8], by_path: &ByPath, vectors: &Value) -> bool {
    let path = PathBuf::from(String::from_utf8(item.path.clone()).unwrap());
    assert!(path.is_absolute());
    assert_eq!(
        item.name,
        path.file_name().unwrap().to_string_lossy().as_bytes()
    );
    assert_eq!(
        whole,
        by_path[&path],
        "{} is its file, byte for byte",
        ev(item.id)
    );
    if let Ok(rel) = path.strip_prefix(util::fixtures()) {
        let v = vectors["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["path"] == rel.to_str().unwrap())
            .unwrap();
        assert_eq!(v["size"], item.size);
        assert_eq!(v["sha256"], hex::encode(item.sha256));
        assert_eq!(v["blake3"], hex::encode(item.blake3));
        return true;
    }
    false
}

/// One item: keyed by number, back from its chunks, its hashes and its file; returns whether a
/// fixture vector was checked.
fn check_item(
    chunks: &mut ChunkStore,
    contents: &BTreeMap<Vec<u8>, Vec<u8>>,
    (key, value): (&Vec<u8>, &Vec<u8>),
    by_path: &ByPath,
    vectors: &Value,
    used_chunks: &mut BTreeSet<Vec<u8>>,
) -> bool {
    let item = decode_item(value);
    assert_eq!(
        key.as_slice(),
        be(item.id),
        "items are keyed by number, big-endian"
    );
    let content = decode_content(
        contents
            .get(item.blake3.as_slice())
            .unwrap_or_else(|| panic!("content of {}", ev(item.id))),
    );
    let whole = reassemble(chunks, &content, &item, used_chunks);
    // The content address is the plain BLAKE3 of the original bytes.
    assert_eq!(blake3::hash(&whole).as_bytes(), &item.blake3);
    assert_eq!(<[u8; 32]>::from(Sha256::digest(&whole)), item.sha256);
    assert_eq!(content.sha256, item.sha256);
    assert_eq!((whole.len() as u64, content.size), (item.size, item.size));

    let checked = check_item_is_its_file(&item, &whole, by_path, vectors);
    if item.size == 0 {
        // FORMAT.md's worked example, byte for byte.
        let want = hex::decode(concat!(
            "01",
            "0000000000000000",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "0000000000000000"
        ))
        .unwrap();
        assert_eq!(contents[item.blake3.as_slice()], want);
        assert_eq!(
            hex::encode(item.blake3),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert!(content.chunks.is_empty(), "an empty file has no chunks");
    }
    checked
}

/// No orphans here: every chunk a volume holds is in chunk_volumes, in that volume, and
/// named by a content.
fn check_no_orphans(chunks: &mut ChunkStore, used_chunks: &BTreeSet<Vec<u8>>) {
    let located: BTreeSet<Vec<u8>> = chunks.locations.keys().cloned().collect();
    assert_eq!(
        located, *used_chunks,
        "chunk_volumes holds exactly the chunks contents name"
    );
    let mut in_volumes = BTreeSet::new();
    for (number, records) in chunks.all_volumes() {
        for id in records.keys() {
            assert_eq!(
                chunks.volume_of(id),
                number,
                "chunk_volumes names the volume"
            );
            assert!(in_volumes.insert(id.clone()), "a chunk is stored once");
        }
    }
    assert_eq!(
        in_volumes, *used_chunks,
        "the volumes hold exactly those chunks"
    );
}

/// The large file: three full chunks, zstd for the text, raw for the noise, in its own
/// volume; identical bytes are stored once.
fn check_large_file(
    chunks: &mut ChunkStore,
    items: &BTreeMap<Vec<u8>, Vec<u8>>,
    contents: &BTreeMap<Vec<u8>, Vec<u8>>,
) {
    // The large file: three full chunks, zstd for the text, raw for the noise.
    let big = items
        .values()
        .map(|v| decode_item(v))
        .find(|i| i.name == b"scan of the protocol.bin")
        .unwrap();
    let content = decode_content(&contents[big.blake3.as_slice()]);
    let kinds: Vec<u8> = content
        .chunks
        .iter()
        .map(|(id, _)| chunks.record(id)[1])
        .collect();
    assert_eq!(kinds, [0, 1, 0]);
    // Its own ingest command, its own volume; the fixtures went to the first.
    let volumes: BTreeSet<u32> = content
        .chunks
        .iter()
        .map(|(id, _)| chunks.volume_of(id))
        .collect();
    assert_eq!(volumes, BTreeSet::from([2]));
    assert_eq!(content.size as usize, large_file().len());
    // Identical bytes are stored once: 12 items, 11 distinct contents.
    assert_eq!(contents.len(), 11);
}

#[test]
fn every_item_reassembles_from_its_chunks_by_hand() {
    let s = Scenario::build();
    let db = s.db();
    let items = tree_map(&db, "items");
    let contents = tree_map(&db, "contents");
    let mut chunks = ChunkStore::new(&s.env.archive, &db);
    let vectors = vectors();
    let by_path: ByPath = s.files.iter().map(|(p, b)| (p.clone(), b)).collect();

    assert_eq!(items.len(), 12);
    let mut used_chunks = BTreeSet::new();
    let mut checked_vectors = 0;
    for entry in &items {
        if check_item(
            &mut chunks,
            &contents,
            entry,
            &by_path,
            &vectors,
            &mut used_chunks,
        ) {
            checked_vectors += 1;
        }
    }
    assert_eq!(checked_vectors, 10);
    check_no_orphans(&mut chunks, &used_chunks);
    check_large_file(&mut chunks, &items, &contents);
}

/// FORMAT.md "Volumes": a volume takes 8 packs, a pack is written once it holds 1 MiB,
/// each ingest command that stores a new chunk starts a new volume, numbers
/// run from 1, and a chunk already located is never stored again.
/// A big file, a small one, the big one again into a second case, then the big file's first
/// MiB with a new tail, each its own ingest; the archive verifies. Returns the three contents.
fn ingest_big_small_and_mixed(env: &Env) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ingest = |path: &Path, status: &str| {
        let report = env.json(&["ingest", "--case", "BY-2024-017", path.to_str().unwrap()]);
        assert_eq!(report["items"][0]["status"], status, "{report}");
    };
    // 10 MiB and 100 bytes of noise: 11 chunks, stored raw (records of 6 + 1 MiB bytes).
    let big = util::noise(11, 10 * CHUNK_SIZE + 100);
    let big_path = env.path("in/big.bin");
    util::write(&big_path, &big);
    ingest(&big_path, "new");
    // A small new file: a new ingest, a new volume.
    let small = b"one more page of the protocol".to_vec();
    let small_path = env.path("in/small.txt");
    util::write(&small_path, &small);
    ingest(&small_path, "new");
    // The same bytes again, into a new case: nothing new is stored, no volume is made.
    env.ok(&["case", "create", SECOND_CASE, "--title", "second"]);
    let report = env.json(&["ingest", "--case", SECOND_CASE, big_path.to_str().unwrap()]);
    assert_eq!(report["items"][0]["status"], "duplicate");
    // The first MiB of the big file and a new tail: only the tail is stored.
    let mut mixed = big[..CHUNK_SIZE].to_vec();
    mixed.extend(util::noise(12, 1000));
    let mixed_path = env.path("in/mixed.bin");
    util::write(&mixed_path, &mixed);
    ingest(&mixed_path, "new");
    let (code, verdict) = env.verify();
    assert_eq!((code, &verdict["ok"]), (0, &Value::Bool(true)), "{verdict}");

    (big, small, mixed)
}

/// A 1 MiB chunk fills a pack on its own, and a volume takes 8 packs, numbered from 0; the
/// big file comes back from the volumes, by hand.
fn check_packs(
    store: &mut ChunkStore,
    volumes: &BTreeMap<u32, BTreeMap<Vec<u8>, Vec<u8>>>,
    (big, big_ids, mixed_ids): (&[u8], &[Vec<u8>], &[Vec<u8>]),
) {
    let packs = store.packs(1);
    assert_eq!(packs.len() as u64, PACKS_PER_VOLUME);
    for (n, (key, pack)) in packs.iter().enumerate() {
        assert_eq!(
            key,
            &(n as u32).to_be_bytes().to_vec(),
            "pack numbers, u32 BE"
        );
        let entries = decode_pack(pack);
        assert_eq!(entries.len(), 1, "pack {n}");
        assert_eq!(entries[0].1, big_ids[n], "pack {n} holds chunk {n}");
        assert!(pack.len() >= PACK_BYTES);
        assert_eq!(
            store.location(&big_ids[n]),
            Location::Packed(1, n as u32, 1),
            "the first entry starts after the version byte"
        );
    }
    assert_eq!(store.packs(2).len(), 3);
    for id in big_ids.iter().chain(mixed_ids) {
        let n = store.volume_of(id);
        assert!(
            volumes[&n].contains_key(id),
            "chunk_volumes names the volume holding it"
        );
    }
    // Back from the volumes, by hand.
    let mut whole = Vec::new();
    for id in big_ids {
        whole.extend(decode_chunk(id, &store.record(id)).1);
    }
    assert!(whole == big, "the big file, byte for byte");
}

#[test]
fn volumes_fill_to_8_packs_and_each_ingest_starts_its_own() {
    let env = Env::with_case();
    let (big, small, mixed) = ingest_big_small_and_mixed(&env);

    let db = env.sled();
    let contents = tree_map(&db, "contents");
    let chunk_ids = |bytes: &[u8]| -> Vec<Vec<u8>> {
        let content = decode_content(&contents[blake3::hash(bytes).as_bytes().as_slice()]);
        content.chunks.iter().map(|(id, _)| id.to_vec()).collect()
    };
    let (big_ids, small_ids, mixed_ids) = (chunk_ids(&big), chunk_ids(&small), chunk_ids(&mixed));
    assert_eq!(big_ids.len(), 11);
    assert_eq!(
        mixed_ids[0], big_ids[0],
        "the same first MiB, the same chunk"
    );

    let mut store = ChunkStore::new(&env.archive, &db);
    let volumes = store.all_volumes();
    let held = |n: u32| -> BTreeSet<Vec<u8>> { volumes[&n].keys().cloned().collect() };
    assert_eq!(
        volumes.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "numbered from 1, one per ingest that stored a chunk, one more when the first filled"
    );
    assert_eq!(
        held(1),
        big_ids[..8].iter().cloned().collect(),
        "volume 1: chunks 1 to 8"
    );
    assert_eq!(
        held(2),
        big_ids[8..].iter().cloned().collect(),
        "volume 2: the rest"
    );
    assert_eq!(held(3), small_ids.into_iter().collect());
    assert_eq!(
        held(4),
        BTreeSet::from([mixed_ids[1].clone()]),
        "only the new chunk"
    );

    check_packs(&mut store, &volumes, (&big, &big_ids, &mixed_ids));
}

/// FORMAT.md "Packs": the chunks of small files share a pack, in the order they were
/// stored, each entry behind its chunk id and length; the pack is written when the batch
/// is committed, full or not.
#[test]
fn small_files_share_one_pack_in_order() {
    let env = Env::with_case();
    let files: Vec<Vec<u8>> = (0..3)
        .map(|i| util::noise(30 + i, 1000 + i as usize))
        .collect();
    for (i, bytes) in files.iter().enumerate() {
        util::write(&env.path(&format!("in/f{i}.bin")), bytes);
    }
    env.json(&[
        "ingest",
        "--case",
        "BY-2024-017",
        env.path("in").to_str().unwrap(),
    ]);
    let db = env.sled();
    let mut store = ChunkStore::new(&env.archive, &db);
    assert_eq!(store.volume_numbers(), [1]);
    let packs = store.packs(1);
    assert_eq!(packs.len(), 1, "one pack");
    let entries = decode_pack(&packs[&0u32.to_be_bytes().to_vec()]);
    let ids: Vec<Vec<u8>> = files
        .iter()
        .map(|f| blake3::hash(f).as_bytes().to_vec())
        .collect();
    assert_eq!(entries.iter().map(|e| e.1.clone()).collect::<Vec<_>>(), ids);
    let mut at = 1;
    for ((offset, id, record), bytes) in entries.iter().zip(&files) {
        assert_eq!(*offset, at);
        assert_eq!(store.location(id), Location::Packed(1, 0, at));
        assert_eq!(decode_chunk(id, record).1, *bytes);
        at += 36 + record.len() as u32;
    }
}

/// FORMAT.md "Compression", at its edges: under 64 bytes raw; a chunk over 128 KiB whose
/// first 64 KiB do not compress is raw even if the whole would; at 128 KiB there is no probe.
#[test]
fn compression_follows_the_documented_rule_and_probe() {
    let env = Env::with_case();
    let text = |len: usize| {
        let mut t = b"Protocol of the hearing, page ".repeat(len / 30 + 1);
        t.truncate(len);
        t
    };
    let head_noise = |len: usize| {
        let mut b = util::noise(21, PROBE);
        b.extend(text(len - PROBE));
        b
    };
    let cases: [(&str, Vec<u8>, u8); 4] = [
        ("tiny.txt", text(63), 0),
        ("probe-says-raw.bin", head_noise(CHUNK_SIZE), 0),
        ("no-probe.bin", head_noise(2 * PROBE), 1),
        ("text.txt", text(CHUNK_SIZE), 1),
    ];
    // The whole of the second would have compressed: only the probe keeps it raw.
    let whole = zstd::bulk::compress(&cases[1].1, ZSTD_LEVEL).unwrap();
    assert!(whole.len() < CHUNK_SIZE / 2);
    for (name, bytes, _) in &cases {
        util::write(&env.path(&format!("in/{name}")), bytes);
    }
    env.json(&[
        "ingest",
        "--case",
        "BY-2024-017",
        env.path("in").to_str().unwrap(),
    ]);

    let db = env.sled();
    let contents = tree_map(&db, "contents");
    let mut store = ChunkStore::new(&env.archive, &db);
    for (name, bytes, want) in &cases {
        let content = decode_content(&contents[blake3::hash(bytes).as_bytes().as_slice()]);
        assert_eq!(content.chunks.len(), 1, "{name}");
        let id = content.chunks[0].0;
        let record = store.record(&id);
        let (compression, raw) = decode_chunk(&id, &record);
        assert_eq!(&raw, bytes);
        assert_eq!(compression, *want, "{name}");
        assert_eq!(compression, u8::from(stored_as_zstd(bytes)), "{name}");
    }
}
