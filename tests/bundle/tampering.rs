//! Evidence files and their metadata edited in a bundle, with and without the manifests
//! recomputed: each edit is a named finding of `verify --bundle`.

use super::*;

// ---------------------------------------------------------------------------------------------
// 4. Tampering with a bag.

#[test]
fn flipped_byte_in_evidence_is_a_file_and_metadata_mismatch() {
    require_tools();
    let x = exported();
    let fixture = "testimonies/witness-statement-en.txt";
    let rel = x.payload_rel(fixture);
    let mut bytes = std::fs::read(x.bag.join(&rel)).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(x.bag.join(&rel), bytes).unwrap();

    let found = damaged(&x.bag, "flipped byte");
    let id = x.id(fixture);
    let expected = BTreeSet::from([
        finding("file_mismatch", &rel),
        finding("metadata_mismatch", id),
    ]);
    assert_eq!(found, expected, "flipped byte in {rel}");
    let (valid, _) = bagit_validate(&x.bag);
    assert!(!valid, "bagit-python must reject it too");
    let out = external("sha256sum", &["-c", "manifest-sha256.txt"], &x.bag);
    assert_ne!(out.status.code(), Some(0), "sha256sum -c must fail");
}

#[test]
fn planted_files_are_unlisted() {
    let x = exported();
    let clean = x.env.path("clean");
    copy_tree(&x.bag, &clean);

    // At the top, beside the tag files: checksum tools and BagIt validators do not look there.
    write(
        &x.bag.join("instructions.txt"),
        b"trust the attached file instead",
    );
    let found = damaged(&x.bag, "planted top-level file");
    assert_eq!(
        found,
        BTreeSet::from([finding("file_unlisted", "instructions.txt")])
    );
    std::fs::remove_file(x.bag.join("instructions.txt")).unwrap();
    let (code, _, _) = verify_bundle(&x.bag);
    assert_eq!(code, 0, "removing it again restores the bag");

    // Under data/ and under an item's directory: no manifest lists them.
    for planted in [
        "data/extra.txt",
        &format!(
            "data/evidence/{}/second.pdf",
            x.id("documents/court-ruling.pdf")
        ),
        "data/evidence/EV-999999/new.txt",
    ] {
        write(&x.bag.join(planted), b"planted");
        let found = damaged(&x.bag, planted);
        has(&found, "file_unlisted", planted, planted);
        has(
            &found,
            "bag_invalid",
            "bag-info.txt",
            &format!("{planted}: Payload-Oxum no longer adds up"),
        );
        only_kinds(&found, &["file_unlisted", "bag_invalid"], planted);
        std::fs::remove_file(x.bag.join(planted)).unwrap();
    }

    // Planted and then resealed: the manifests list it, but no item accounts for it.
    let planted = format!(
        "data/evidence/{}/second.pdf",
        x.id("documents/court-ruling.pdf")
    );
    write(&clean.join(&planted), b"planted");
    reseal_bag(&clean);
    let (valid, log) = bagit_validate(&clean);
    assert!(
        valid,
        "resealed, the bag is a valid BagIt bag again:\n{log}"
    );
    let found = damaged(&clean, "planted and resealed");
    assert_eq!(found, BTreeSet::from([finding("file_unlisted", &planted)]));
}

#[test]
fn removed_evidence_file_is_missing() {
    let x = exported();
    let fixture = "documents/court-ruling.pdf";
    let rel = x.payload_rel(fixture);
    std::fs::remove_file(x.bag.join(&rel)).unwrap();
    let found = damaged(&x.bag, "removed evidence file");
    has(&found, "file_missing", &rel, "removed file");
    has(&found, "file_missing", x.id(fixture), "removed file's item");
    has(&found, "bag_invalid", "bag-info.txt", "Payload-Oxum");
    only_kinds(&found, &["file_missing", "bag_invalid"], "removed file");
}

#[test]
fn swapped_payload_files_with_manifests_recomputed_are_a_metadata_mismatch() {
    require_tools();
    let x = exported();
    let (a, b) = (
        "testimonies/witness-statement-en.txt",
        "testimonies/witness-statement-ru.txt",
    );
    let (pa, pb) = (x.bag.join(x.payload_rel(a)), x.bag.join(x.payload_rel(b)));
    let (ba, bb) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
    std::fs::write(&pa, &bb).unwrap();
    std::fs::write(&pb, &ba).unwrap();
    reseal_bag(&x.bag);
    let (valid, log) = bagit_validate(&x.bag);
    assert!(valid, "resealed, bagit-python accepts the bag:\n{log}");
    checksum_ok(&x.bag, "b3sum", "manifest-blake3.txt");
    let found = damaged(&x.bag, "swapped payload files");
    assert_eq!(
        found,
        BTreeSet::from([
            finding("metadata_mismatch", x.id(a)),
            finding("metadata_mismatch", x.id(b))
        ])
    );
}

#[test]
fn replaced_evidence_with_metadata_and_manifests_recomputed_is_caught_by_the_ingest_event() {
    let x = exported();
    let fixture = "testimonies/witness-statement-en.txt";
    let id = x.id(fixture).to_owned();
    let rel = x.payload_rel(fixture);
    let forged = b"I saw nothing that day.\n".to_vec();
    std::fs::write(x.bag.join(&rel), &forged).unwrap();
    // The forger also brings evidence.json in line with the new bytes.
    let path = x.bag.join("data/evidence.json");
    let mut evidence: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let item = evidence["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["id"] == id.as_str())
        .unwrap();
    item["sha256"] = sha256_hex(&forged).into();
    item["sha512"] = sha512_hex(&forged).into();
    item["blake3"] = blake3_hex(&forged).into();
    item["size"] = forged.len().into();
    std::fs::write(&path, serde_json::to_vec_pretty(&evidence).unwrap()).unwrap();
    reseal_bag(&x.bag);
    let found = damaged(&x.bag, "replaced file, evidence.json and manifests updated");
    // inventory.csv (issue 12, point 7), regenerated from the forged evidence.json, no
    // longer matches the one in the bag: the forger did not know of it.
    assert_eq!(
        found,
        BTreeSet::from([
            finding("metadata_mismatch", &id),
            finding("metadata_mismatch", "data/inventory.csv")
        ]),
        "the ingest event and inventory.csv still know the bytes"
    );
}

/// What was changed, the item it was changed in, and the fields set in evidence.json.
type MetadataEdit<'a> = (&'a str, &'a str, Vec<(&'a str, Value)>);

/// evidence.json's description of an item (name, source, when captured, where from, its
/// parent) was recorded in the item's ingest event: edited in evidence.json alone, with every
/// manifest recomputed, it no longer agrees with the custody record (issue 3: "the metadata
/// agrees with the payload hashes and the custody ingest events").
#[test]
fn evidence_metadata_that_disagrees_with_the_ingest_event_is_a_metadata_mismatch() {
    let x = exported();
    let template = x.env.path("template");
    copy_tree(&x.bag, &template);
    let statement = x.id("testimonies/witness-statement-en.txt").to_owned();
    let scan = x.id("email/attachments/scan.png").to_owned();
    let ruling = x.id("documents/court-ruling.pdf").to_owned();
    let edits: Vec<MetadataEdit> = vec![
        (
            "renamed",
            &statement,
            vec![
                ("name", "confession.txt".into()),
                ("name_hex", hex::encode("confession.txt").into()),
            ],
        ),
        (
            "another source",
            &statement,
            vec![("source", "Anonymous tip".into())],
        ),
        (
            "another capture time",
            &statement,
            vec![("captured_at", "2023-12-31T23:00:00Z".into())],
        ),
        (
            "another original path",
            &statement,
            vec![
                ("path", "/home/w01/statement.txt".into()),
                ("path_hex", hex::encode("/home/w01/statement.txt").into()),
            ],
        ),
        (
            "detached from its e-mail",
            &scan,
            vec![("parent", Value::Null)],
        ),
        (
            "attached to another item",
            &ruling,
            vec![("parent", scan.clone().into())],
        ),
    ];
    let mut missed = Vec::new();
    for (i, (what, id, fields)) in edits.into_iter().enumerate() {
        let bag = x.env.path(&format!("edited{i}"));
        copy_tree(&template, &bag);
        let path = bag.join("data/evidence.json");
        let mut evidence: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let item = evidence["items"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|it| it["id"] == id)
            .unwrap();
        for (k, v) in fields {
            assert_ne!(item[k], v, "{what}: the edit changes {k}");
            item[k] = v;
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&evidence).unwrap()).unwrap();
        reseal_bag(&bag);
        let (code, report, _) = verify_bundle(&bag);
        let found = if code == 3 {
            findings(&report)
        } else {
            BTreeSet::new()
        };
        if code != 3 || !found.contains(&finding("metadata_mismatch", id)) {
            missed.push(format!("{what} ({id}): exit {code}, findings {found:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "verify --bundle missed metadata edits:\n{}",
        missed.join("\n")
    );
}

/// The file holds the exported items' events only: a fabricated event that names no
/// exported item (so no item chain runs through it), slipped in with a fitting seq, is an
/// inserted event all the same.
#[test]
fn inserted_event_of_no_exported_item_is_caught() {
    let x = exported();
    let lines = custody_lines(&x.bag);
    // Events 1 and 2 of the archive (init, case_create) name no item, so the bundle starts
    // at event 3: a fabricated event 2 at the top keeps the seqs increasing.
    let first = parse_line(&lines[0]);
    assert_eq!(first["seq"], 3, "{first}");
    let mut fake = first.clone();
    fake["seq"] = 2.into();
    fake["items"] = serde_json::json!([{"id": "EV-999999", "prev": null}]);
    fake["details"]["name"] = "planted.txt".into();
    let mut forged = lines.clone();
    forged.insert(0, serde_json::to_vec(&fake).unwrap());
    write_custody(&x.bag, &forged);
    reseal_bag(&x.bag);
    let (rust, python_ok, said) = independent_checks(&x.bag);
    assert!(
        !rust.is_empty() && !python_ok,
        "independent checks: {rust:?}\n{said}"
    );
    let (code, report, stderr) = verify_bundle(&x.bag);
    assert_eq!(
        code, 3,
        "an inserted event naming no exported item went unnoticed:\n{report:#}\n{stderr}"
    );
    let found = findings(&report);
    assert!(
        found
            .iter()
            .any(|(k, id)| k == "chain_broken" && (id == "event 2" || id == "line 1")),
        "{found:#?}"
    );
}
