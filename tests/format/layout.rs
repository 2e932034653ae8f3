//! The archive directory, the meta tree and the first bytes of every stored value are as
//! docs/FORMAT.md says, and FORMAT.md names every tree, problem kind and action.

use super::*;

// ---------------------------------------------------------------------------------------
// The archive directory.

#[test]
fn the_archive_directory_holds_what_format_md_lists() {
    let s = Scenario::build();
    let root = &s.env.archive;
    assert_eq!(
        std::fs::read(root.join("FORMAT")).unwrap(),
        b"custodia archive\nformat 2\n"
    );
    let names: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = ["FORMAT", "HEAD", "db", "lock", VOLUMES_DIR]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, want, "no temporary files are left behind");
    assert!(root.join("lock").is_file());
    assert!(root.join("db/conf").is_file() && root.join("db/db").is_file());

    // Four ingest commands: the fixtures and the large file stored new chunks, one volume
    // each; the two ingests of a copy stored none, so they made no volume.
    let volumes: BTreeSet<String> = std::fs::read_dir(root.join(VOLUMES_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        volumes,
        BTreeSet::from(["000001".to_owned(), "000002".to_owned()])
    );
    for n in [1, 2] {
        let v = volume_dir(root, n);
        assert!(
            v.join("conf").is_file() && v.join("db").is_file(),
            "volume {n} is a sled database"
        );
    }
    // The 1 MiB chunks of the large file are larger than sled keeps inline: blob files of
    // its volume.
    assert!(
        std::fs::read_dir(volume_dir(root, 2).join("blobs"))
            .unwrap()
            .count()
            > 0,
        "large values are sled blob files"
    );

    let names_of = |db: &sled::Db| -> BTreeSet<String> {
        db.tree_names()
            .iter()
            .map(|n| String::from_utf8(n.to_vec()).unwrap())
            .filter(|n| n != "__sled__default")
            .collect()
    };
    let db = s.db();
    let want: BTreeSet<String> = TREES.into_iter().map(String::from).collect();
    assert_eq!(names_of(&db), want, "exactly the documented trees");
    assert!(db.is_empty(), "the default tree is not used");
    let mut store = ChunkStore::new(root, &db);
    for n in [1, 2] {
        let volume = store.volume(n);
        assert_eq!(
            names_of(volume),
            BTreeSet::from([PACK_TREE.to_owned()]),
            "volume {n} has one tree"
        );
        assert!(
            volume.is_empty(),
            "the default tree of volume {n} is not used"
        );
    }
}

#[test]
fn the_meta_tree_decodes_by_hand() {
    let s = Scenario::build();
    let db = s.db();
    let meta = tree_map(&db, "meta");
    let keys: Vec<&[u8]> = meta.keys().map(Vec::as_slice).collect();
    assert_eq!(keys.len(), 4, "archive, head, one key, next_item");
    assert_eq!(
        [keys[0], keys[1], keys[3]],
        [&b"archive"[..], b"head", b"next_item"]
    );
    let fingerprint = std::str::from_utf8(&keys[2][b"key:".len()..])
        .unwrap()
        .to_owned();
    assert!(keys[2].starts_with(b"key:SHA256:"));
    let (public, actors, registered_at, revoked_at, reason) = decode_key(&meta[keys[2]]);
    assert_eq!(openssh_fingerprint(&public), fingerprint);
    assert_eq!(actors, ["tester"]);
    assert_eq!(
        registered_at, 1,
        "the init event registers its creator's key"
    );
    assert_eq!((revoked_at, reason), (None, None));

    let m = decode_meta(&meta[&b"archive"[..]]);
    assert_eq!(m.format, FORMAT);
    assert_eq!(m.chunk_size as usize, CHUNK_SIZE);
    assert_eq!(m.archive_id.len(), 32);
    assert!(
        m.archive_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert!(m.tool.starts_with("custodia "), "{}", m.tool);
    assert!(m.created_at.ends_with('Z'), "{}", m.created_at);

    let log = events(&db);
    // 12 items: 10 fixtures, the large file, the copy ingested into the second case.
    assert_eq!(decode_u64("meta/next_item", &meta[&b"next_item"[..]]), 13);
    let (seq, digest) = decode_head(&meta[&b"head"[..]]);
    let (last_seq, last_bytes, _) = log.last().unwrap();
    assert_eq!(seq, *last_seq);
    assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(last_bytes)));
    for (_, _, e) in &log {
        assert_eq!(
            e["archive"],
            m.archive_id.as_str(),
            "every event names the archive"
        );
    }
    // The init event registers its creator's key: the one in `meta/key:<fingerprint>`.
    assert_eq!(
        log[0].2["details"],
        serde_json::json!({
            "chunk_size": CHUNK_SIZE, "format": FORMAT,
            "fingerprint": fingerprint, "public_key": public,
        })
    );
}

#[test]
fn every_stored_value_starts_as_format_md_says() {
    let s = Scenario::build();
    let db = s.db();
    // Every tree of the index database, every volume: every value starts with version byte
    // 1, but for chunk locations, which are packed (version 2) in a format-2 archive.
    for tree in TREES {
        let want = if tree == "chunk_volumes" {
            2
        } else {
            RECORD_VERSION
        };
        for (key, value) in tree_map(&db, tree) {
            assert_eq!(
                value.first(),
                Some(&want),
                "{tree}/{}: version byte",
                hex::encode(&key)
            );
        }
    }
    let mut store = ChunkStore::new(&s.env.archive, &db);
    let volumes = store.all_volumes();
    assert_eq!(volumes.len(), 2);
    for (number, records) in &volumes {
        assert!(!records.is_empty());
        for (id, record) in records {
            assert_eq!(
                record.first(),
                Some(&RECORD_VERSION),
                "volume {number}: chunk record"
            );
            decode_chunk(id, record);
        }
    }
    for (id, location) in &store.locations {
        assert_eq!(id.len(), 32, "chunk_volumes is keyed by chunk id");
        assert_eq!(
            location.len(),
            13,
            "02 ‖ volume ‖ pack ‖ offset, u32 LE each"
        );
        assert!(volumes.contains_key(&decode_location(location).volume()));
    }
    let seen = check_index_values(&db);
    assert_eq!(
        seen,
        b"Hcehikmpt".iter().copied().collect(),
        "every kind of key occurs"
    );
}

/// Every value of the index tree, by its key's tag, as FORMAT.md lays it out; returns the
/// tags seen.
fn check_index_values(db: &sled::Db) -> BTreeSet<u8> {
    let items = tree_map(db, "items");
    let mut seen = BTreeSet::new();
    for (key, value) in tree_map(db, "index") {
        seen.insert(key[0]);
        match key[0] {
            b'c' => {
                decode_link(&value);
            }
            b'i' | b'h' | b't' | b'p' | b'e' => assert_eq!(value, [RECORD_VERSION], "marker"),
            // Records too: an EvidenceId (u64 LE) and an EventDigest ([32]).
            b'k' => {
                assert_eq!(value.len(), 9, "01 ‖ item u64 LE");
                let item = decode_u64("index k", &value);
                assert!(items.contains_key(be(item).as_slice()), "k names an item");
            }
            b'H' => {
                assert_eq!(value.len(), 33, "01 ‖ digest [32]");
                let mut r = Rec::new("index H", &value);
                r.digest();
                r.end();
            }
            // A CurrentRecord: source, note, tags, captured_at, seq.
            b'm' => {
                let mut r = Rec::new("index m", &value);
                r.option(|r| r.string());
                r.option(|r| r.string());
                r.vec(|r| r.string());
                r.option(|r| r.string());
                r.u64();
                r.end();
            }
            other => panic!("undocumented index tag {other:#x}"),
        }
    }
    seen
}

// ---------------------------------------------------------------------------------------
// The document itself names everything the code has.

/// Every problem kind; no wildcard: a new kind does not compile until it is listed here
/// (and documented).
fn all_problem_kinds() -> [custodia::ProblemKind; 24] {
    use custodia::ProblemKind as P;
    let kinds = [
        P::DatabaseUnreadable,
        P::RecordUnreadable,
        P::ContentDamaged,
        P::ContentMissing,
        P::ItemInconsistent,
        P::RecordAltered,
        P::IndexDangling,
        P::ChainBroken,
        P::ItemChainBroken,
        P::HeadMismatch,
        P::BagInvalid,
        P::FileMissing,
        P::FileUnlisted,
        P::FileMismatch,
        P::PathUnsafe,
        P::MetadataMismatch,
        P::SignatureInvalid,
        P::SignerUnknown,
        P::CheckpointMismatch,
        P::TimestampInvalid,
        P::ReplicaObjectMissing,
        P::ReplicaObjectExtra,
        P::ReplicaObjectTruncated,
        P::ReplicaObjectAltered,
    ];
    // No wildcard: a new kind does not compile until it is listed above (and documented).
    for k in kinds {
        match k {
            P::DatabaseUnreadable
            | P::RecordUnreadable
            | P::ContentDamaged
            | P::ContentMissing
            | P::ItemInconsistent
            | P::RecordAltered
            | P::IndexDangling
            | P::ChainBroken
            | P::ItemChainBroken
            | P::HeadMismatch
            | P::BagInvalid
            | P::FileMissing
            | P::FileUnlisted
            | P::FileMismatch
            | P::PathUnsafe
            | P::MetadataMismatch
            | P::SignatureInvalid
            | P::SignerUnknown
            | P::CheckpointMismatch
            | P::TimestampInvalid
            | P::ReplicaObjectMissing
            | P::ReplicaObjectExtra
            | P::ReplicaObjectTruncated
            | P::ReplicaObjectAltered => {}
        }
    }
    kinds
}

/// Every custody action; no wildcard: a new action does not compile until it is listed here.
fn all_actions() -> [custodia::custody::Action; 17] {
    use custodia::custody::Action as A;
    let actions = [
        A::Init,
        A::CaseCreate,
        A::Ingest,
        A::Acquire,
        A::Link,
        A::Extract,
        A::Export,
        A::Seal,
        A::Verify,
        A::Import,
        A::KeyRegister,
        A::KeyRevoke,
        A::Timestamp,
        A::ReplicaAdd,
        A::ReplicaRemove,
        A::Push,
        A::Annotate,
    ];
    for a in actions {
        match a {
            A::Init
            | A::CaseCreate
            | A::Ingest
            | A::Acquire
            | A::Link
            | A::Extract
            | A::Export
            | A::Seal
            | A::Verify
            | A::Import
            | A::KeyRegister
            | A::KeyRevoke
            | A::Timestamp
            | A::ReplicaAdd
            | A::ReplicaRemove
            | A::Push
            | A::Annotate => {}
        }
    }
    actions
}

#[test]
fn format_md_names_every_tree_problem_kind_and_action() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMAT.md"))
        .expect("docs/FORMAT.md exists");
    let kinds = all_problem_kinds();
    let actions = all_actions();
    let words = TREES
        .iter()
        .chain(&EVENT_FIELDS)
        .chain(&BUNDLE_FILES)
        .chain(&BAG_INFO_LABELS)
        .chain(&EVIDENCE_FIELDS)
        .chain(&SEAL_DETAILS)
        .chain(&SIGNED_EVENT_FIELDS)
        .copied()
        .chain([VOLUME_TREE, PACK_TREE, "volumes/"])
        .chain(kinds.iter().map(|k| k.as_str()))
        .chain(actions.iter().map(|a| a.as_str()));
    for word in words {
        assert!(
            doc.contains(&format!("`{word}`")),
            "FORMAT.md does not name `{word}`"
        );
    }
    assert_eq!(
        custodia::FORMAT_VERSION,
        FORMAT,
        "a new format needs a new FORMAT.md section"
    );
    assert_eq!(custodia::codec::RECORD_VERSION, RECORD_VERSION);
    assert_eq!(custodia::store::CHUNK_SIZE, CHUNK_SIZE);
    assert_eq!(custodia::store::MAX_CHUNK, MAX_CHUNK);
    assert_eq!(custodia::store::VOLUME_BYTES, VOLUME_BYTES);
    assert_eq!(custodia::store::VOLUME_TREE, VOLUME_TREE);
    assert_eq!(custodia::store::PACK_TREE, PACK_TREE);
    assert_eq!(custodia::store::PACK_BYTES, PACK_BYTES);
    assert_eq!(custodia::store::PACKS_PER_VOLUME, PACKS_PER_VOLUME);
    assert_eq!(custodia::store::VOLUMES_DIR, VOLUMES_DIR);
    assert_eq!(custodia::custody::EVENT_VERSION, 1);
}
