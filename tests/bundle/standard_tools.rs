//! A whole exported case checked the way its recipient would: bagit-python, `sha256sum -c`,
//! `sha512sum -c`, `b3sum -c` and `verify --bundle` all accept it, and its metadata files are
//! exact.

use super::*;

// ---------------------------------------------------------------------------------------------
// 1. The exported bag, checked with the recipient's tools and against the sources.

/// The export's own report; returns the tag manifest's bytes.
fn check_report(x: &Exported) -> Vec<u8> {
    let bag = &x.bag;
    assert_eq!(x.report["items"], 10, "{}", x.report);
    assert_eq!(x.report["bundle"], arg(bag), "{}", x.report);
    let tagmanifest = std::fs::read(bag.join("tagmanifest-sha256.txt")).unwrap();
    assert_eq!(
        x.report["tagmanifest_sha256"],
        sha256_hex(&tagmanifest),
        "{}",
        x.report
    );

    tagmanifest
}

/// Exactly the documented layout, nothing else; returns the bag's files.
fn check_layout(x: &Exported) -> BTreeSet<String> {
    let bag = &x.bag;
    let mut expected: BTreeSet<String> = TAG_FILES.iter().map(|s| s.to_string()).collect();
    for f in [
        "data/README-VERIFY.txt",
        "data/case.json",
        "data/evidence.json",
        "data/custody.jsonl",
        "data/index.html",
        "data/inventory.csv",
        "data/proof/allowed_signers",
        "data/proof/anchors.jsonl",
        "data/proof/check.py",
        "data/proof/checkpoint",
        "data/proof/checkpoint.sig",
        "data/proof/consistency.jsonl",
        "data/proof/inclusion.jsonl",
        "data/proof/keys.jsonl",
        "data/proof/reveals.jsonl",
        "data/proof/signer.pem",
    ] {
        expected.insert(f.to_owned());
    }
    for fixture in x.ids.keys() {
        expected.insert(x.payload_rel(fixture));
    }
    assert_eq!(files_under(bag), expected, "the bag's files");
    let parent: Vec<String> = std::fs::read_dir(x.env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !parent.iter().any(|n| n.contains("custodia-export")),
        "a temp dir was left beside the bundle: {parent:?}"
    );

    expected
}

/// Every original file, byte for byte; returns the payload files and their bytes.
fn check_originals(x: &Exported, expected: &BTreeSet<String>) -> (BTreeSet<String>, u64) {
    let bag = &x.bag;
    for fixture in x.ids.keys() {
        let original = std::fs::read(fixtures().join(fixture)).unwrap();
        let exported = std::fs::read(bag.join(x.payload_rel(fixture))).unwrap();
        assert!(
            original == exported,
            "{} differs from fixtures/{fixture}",
            x.payload_rel(fixture)
        );
    }
    let payload: BTreeSet<String> = expected
        .iter()
        .filter(|p| p.starts_with("data/"))
        .cloned()
        .collect();
    let payload_bytes: u64 = payload
        .iter()
        .map(|p| std::fs::metadata(bag.join(p)).unwrap().len())
        .sum();
    assert_eq!(
        x.report["bytes"], payload_bytes,
        "export's bytes are the payload's"
    );

    (payload, payload_bytes)
}

/// The recipient's tools: bagit-python, sha256sum, sha512sum and b3sum.
fn check_recipient_tools(bag: &Path, payload: &BTreeSet<String>) {
    let payload = payload.clone();
    let (valid, log) = bagit_validate(bag);
    assert!(valid, "bagit-python rejects the bag:\n{log}");
    assert!(
        log.contains("is valid"),
        "bagit-python did not say the bag is valid:\n{log}"
    );
    assert_eq!(
        checksum_ok(bag, "sha256sum", "manifest-sha256.txt"),
        payload,
        "sha256sum -c checks every payload file"
    );
    assert_eq!(
        checksum_ok(bag, "sha512sum", "manifest-sha512.txt"),
        payload,
        "sha512sum -c checks every payload file"
    );
    assert_eq!(
        checksum_ok(bag, "b3sum", "manifest-blake3.txt"),
        payload,
        "b3sum -c checks every payload file"
    );
    let tags: BTreeSet<String> = TAG_FILES[..5].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        checksum_ok(bag, "sha256sum", "tagmanifest-sha256.txt"),
        tags,
        "the tag manifest covers every tag file, manifest-blake3.txt included"
    );
    assert_eq!(
        checksum_ok(bag, "sha512sum", "tagmanifest-sha512.txt"),
        tags
    );
}

/// custodia's own check, with no archive; returns the custody lines.
fn check_verify_bundle(x: &Exported, payload_bytes: u64) -> Vec<Vec<u8>> {
    let bag = &x.bag;
    let (code, report, stderr) = verify_bundle(bag);
    assert_eq!(
        code, 0,
        "verify --bundle on a fresh export:\n{report:#}\n{stderr}"
    );
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["checked"]["items"], 10, "{report}");
    assert_eq!(report["checked"]["bytes"], payload_bytes, "{report}");
    let lines = custody_lines(bag);
    assert_eq!(report["checked"]["events"], lines.len(), "{report}");

    lines
}

/// bag-info.txt; returns its fields.
fn check_bag_info(
    bag: &Path,
    payload: &BTreeSet<String>,
    payload_bytes: u64,
    lines: &[Vec<u8>],
) -> BTreeMap<String, String> {
    let info = bag_info(bag);
    assert_eq!(
        info["Payload-Oxum"],
        format!("{payload_bytes}.{}", payload.len())
    );
    assert_eq!(info["External-Identifier"], CASE);
    assert!(
        info["Bag-Software-Agent"].starts_with("custodia"),
        "{info:?}"
    );
    assert_eq!(info["Source-Organization"], ORGANIZATION);
    assert_eq!(info["Contact-Name"], CONTACT);
    let date = &info["Bagging-Date"];
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
        "Bagging-Date {date:?} is not YYYY-MM-DD"
    );
    let last = lines.last().unwrap();
    assert_eq!(
        info["Custodia-Custody-Head"],
        sha256_hex(last),
        "the head is the SHA-256 of the last custody line"
    );

    info
}

/// One item of data/evidence.json against its fixture and known-answer vector.
fn check_evidence_item(
    x: &Exported,
    items: &[Value],
    vectors: &[crate::util::FixtureVector],
    (fixture, id): (&String, &String),
    message: &String,
    attachments: &BTreeSet<String>,
) {
    let item = items
        .iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in evidence.json"));
    let bytes = std::fs::read(fixtures().join(fixture)).unwrap();
    let name = Path::new(fixture).file_name().unwrap().to_str().unwrap();
    let vector = vectors
        .iter()
        .find(|v| v.path == *fixture)
        .unwrap_or_else(|| panic!("no vector for {fixture}"));
    assert_eq!(item["blake3"], blake3_hex(&bytes), "{id}");
    assert_eq!(item["blake3"], vector.blake3.as_str(), "{id}");
    assert_eq!(item["sha256"], sha256_hex(&bytes), "{id}");
    assert_eq!(item["sha256"], vector.sha256.as_str(), "{id}");
    assert_eq!(item["sha512"], sha512_hex(&bytes), "{id}");
    assert_eq!(item["size"], bytes.len(), "{id}");
    assert_eq!(item["size"], vector.size, "{id}");
    assert_eq!(item["name"], name, "{id}");
    assert_eq!(item["name_hex"], hex::encode(name), "{id}");
    assert_eq!(item["file"], x.payload_rel(fixture), "{id}");
    assert_eq!(item["cases"], serde_json::json!([CASE]), "{id}");
    let is_attachment = attachments.contains(id);
    assert_eq!(
        item["parent"],
        if is_attachment {
            Value::String(message.clone())
        } else {
            Value::Null
        },
        "{id}"
    );
    let children: BTreeSet<String> = item["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        children,
        if id == message {
            attachments.clone()
        } else {
            BTreeSet::new()
        },
        "{id}"
    );
}

/// data/evidence.json: every item, with hashes computed here and the known-answer vectors.
fn check_evidence_json(x: &Exported) {
    let bag = &x.bag;
    let vectors = fixture_vectors();
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    let items = evidence["items"].as_array().expect("evidence.json items");
    assert_eq!(items.len(), 10);
    let message = x.id("email/message.eml").to_owned();
    let attachments: BTreeSet<String> = x
        .ids
        .iter()
        .filter(|(f, _)| f.starts_with(FIXTURE_ATTACHMENTS))
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(attachments.len(), 2);
    for (fixture, id) in &x.ids {
        check_evidence_item(x, items, &vectors, (fixture, id), &message, &attachments);
    }
}

/// data/case.json names the case; README-VERIFY.txt gives the recipient's commands.
fn check_case_and_readme(bag: &Path) {
    let case: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/case.json")).unwrap()).unwrap();
    assert_eq!(case["id"], CASE);
    let readme = std::fs::read_to_string(bag.join("data/README-VERIFY.txt")).unwrap();
    for command in [
        "bagit.py --validate",
        "sha256sum -c manifest-sha256.txt",
        "sha512sum -c manifest-sha512.txt",
        "b3sum -c manifest-blake3.txt",
    ] {
        assert!(
            readme.contains(command),
            "README-VERIFY.txt does not give `{command}`"
        );
    }
}

/// data/custody.jsonl: exactly the archive's events that name an exported item, then the
/// export; the seal follows.
fn check_custody_and_seal(
    x: &Exported,
    lines: &[Vec<u8>],
    info: &BTreeMap<String, String>,
    tagmanifest: &[u8],
) {
    let events = &stored_events(&x.env);
    let exported_ids: BTreeSet<String> = x.ids.values().cloned().collect();
    let export_at = events
        .iter()
        .rposition(|e| e["action"] == "export")
        .expect("an export event in the log");
    let wanted: Vec<Vec<u8>> = events[..=export_at]
        .iter()
        .filter(|e| named(e).iter().any(|i| exported_ids.contains(i)))
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    assert_eq!(lines.len(), 12, "10 ingests, 1 extract, 1 export");
    assert!(
        lines == wanted,
        "custody.jsonl is not the archive's events of the exported items, byte for byte"
    );
    let export = &events[export_at];
    assert_eq!(
        export["seq"], x.report["event"],
        "the report's event is the export"
    );
    assert_eq!(
        export["seq"].as_u64().unwrap().to_string(),
        info["Custodia-Export-Event"]
    );
    assert_eq!(export["reason"], EXPORT_REASON);
    assert_eq!(
        named(export).into_iter().collect::<BTreeSet<_>>(),
        exported_ids,
        "the export names every item"
    );
    assert_eq!(
        sha256_hex(&serde_json::to_vec(export).unwrap()),
        info["Custodia-Custody-Head"]
    );
    // The seal follows, recording the tag manifest's digest and chained to the export's bytes.
    let seal = events
        .get(export_at + 1)
        .expect("a seal event after the export");
    assert_eq!(seal["action"], "seal", "{seal}");
    assert_eq!(seal["seq"], export["seq"].as_u64().unwrap() + 1);
    assert_eq!(
        seal["details"]["tagmanifest_sha256"],
        sha256_hex(tagmanifest),
        "{seal}"
    );
    assert_eq!(
        seal["prev"],
        info["Custodia-Custody-Head"].as_str(),
        "the seal chains to the bundle's last line"
    );
    assert_eq!(events.len(), export_at + 2, "nothing after the seal");
}

#[test]
fn exported_case_passes_bagit_python_coreutils_b3sum_and_verify_bundle() {
    require_tools();
    let x = exported();
    let bag = &x.bag;
    let tagmanifest = check_report(&x);
    let expected = check_layout(&x);
    let (payload, payload_bytes) = check_originals(&x, &expected);
    check_recipient_tools(bag, &payload);
    let lines = check_verify_bundle(&x, payload_bytes);
    let info = check_bag_info(bag, &payload, payload_bytes, &lines);
    check_evidence_json(&x);
    check_case_and_readme(bag);
    check_custody_and_seal(&x, &lines, &info, &tagmanifest);

    // The independent checkers agree with verify --bundle.
    let (rust, python_ok, said) = independent_checks(bag);
    assert_eq!(rust, Vec::<String>::new(), "independent Rust chain check");
    assert!(python_ok, "tests/check_custody.py:\n{said}");

    // The archive itself is still intact after the export.
    let (code, verify) = x.env.verify();
    assert_eq!(code, 0, "archive verify after export: {verify:#}");
    assert_eq!(verify["ok"], true);
}

/// evidence.json, custody.jsonl and the manifests are written a piece at a time: over enough
/// items that each is many pieces, they are still exactly the bytes the format gives (the
/// pretty-printed document; the archive's events) and match their manifests.
#[test]
fn large_metadata_files_are_exact_and_match_their_manifests() {
    require_tools();
    let env = Env::with_case();
    let src = env.path("many");
    for i in 0..200 {
        write(
            &src.join(format!("statement-{i:03}.txt")),
            format!("statement {i}\n").as_bytes(),
        );
    }
    // A long note goes into each item's ingest event and its evidence.json entry.
    let note = "Taken down by hand at the border crossing; ".repeat(50);
    env.ok(&["ingest", "--case", CASE, "--note", &note, arg(&src)]);
    let bag = env.path("bundle");
    // The note is committed (issue 11.7): revealed, it is in evidence.json and the reveals.
    env.ok(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bag),
        "--reveal",
        "note",
    ]);

    let evidence = std::fs::read(bag.join("data/evidence.json")).expect("evidence.json");
    let lines = custody_lines(&bag);
    // The events carry the note's commitment; the note itself is in the reveals.
    let reveals = std::fs::read(bag.join("data/proof/reveals.jsonl")).expect("reveals");
    let custody_bytes: usize = lines.iter().map(|l| l.len() + 1).sum::<usize>() + reveals.len();
    assert!(
        evidence.len() > 400 << 10 && custody_bytes > 400 << 10,
        "too small to test anything: evidence.json {} bytes, custody.jsonl {custody_bytes}",
        evidence.len()
    );
    let document: Value = serde_json::from_slice(&evidence).expect("evidence.json is JSON");
    let mut pretty = serde_json::to_vec_pretty(&document).unwrap();
    pretty.push(b'\n');
    assert!(
        evidence == pretty,
        "evidence.json is not the pretty-printed document with a final newline"
    );
    assert_eq!(document["items"].as_array().map(Vec::len), Some(200));

    let events = &stored_events(&env);
    let export_at = events
        .iter()
        .rposition(|e| e["action"] == "export")
        .expect("an export event in the log");
    let wanted: Vec<Vec<u8>> = events[..=export_at]
        .iter()
        .filter(|e| !named(e).is_empty())
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    assert_eq!(lines.len(), 201, "200 ingests and the export");
    assert!(
        lines == wanted,
        "custody.jsonl is not the archive's events of the exported items, byte for byte"
    );

    for (tool, manifest) in [
        ("sha256sum", "manifest-sha256.txt"),
        ("sha512sum", "manifest-sha512.txt"),
        ("b3sum", "manifest-blake3.txt"),
        ("sha256sum", "tagmanifest-sha256.txt"),
        ("sha512sum", "tagmanifest-sha512.txt"),
    ] {
        checksum_ok(&bag, tool, manifest);
    }
    let (valid, said) = bagit_validate(&bag);
    assert!(valid, "bagit.py --validate:\n{said}");
    let (code, report, _) = verify_bundle(&bag);
    assert_eq!(code, 0, "{report:#}");
}

/// A case with no items exports a bag whose evidence.json lists none, in the same format.
#[test]
fn an_empty_case_exports_an_empty_items_list() {
    let env = Env::with_case();
    let bag = env.path("bundle");
    env.ok(&["export", "--case", CASE, "--out", arg(&bag)]);
    assert_eq!(
        std::fs::read_to_string(bag.join("data/evidence.json")).expect("evidence.json"),
        format!("{{\n  \"case\": \"{CASE}\",\n  \"items\": []\n}}\n")
    );
    assert_eq!(custody_lines(&bag).len(), 1, "the export event alone");
    let (code, report, _) = verify_bundle(&bag);
    assert_eq!(code, 0, "{report:#}");
}

// ---------------------------------------------------------------------------------------------
// Regressions from review.

/// A `%` in a name is percent-encoded in BagIt manifests, which sha256sum and b3sum read
/// literally: such a name is exported under a safe derived name, and every tool still checks.
#[test]
fn a_percent_in_a_name_does_not_break_the_standard_tools() {
    require_tools();
    let env = Env::with_case();
    crate::util::write(&env.path("in/Invoice 100%.txt"), b"paid in full\n");
    env.ingest(&[&env.path("in")]);
    let bag = env.path("bag");
    env.ok(&["export", "--case", "BY-2024-017", "--out", arg(&bag)]);
    let checked = checksum_ok(&bag, "sha256sum", "manifest-sha256.txt");
    assert!(checked.iter().all(|p| !p.contains('%')), "{checked:?}");
    checksum_ok(&bag, "b3sum", "manifest-blake3.txt");
    let evidence: Value = serde_json::from_slice(
        &std::fs::read(bag.join("data/evidence.json")).expect("evidence.json"),
    )
    .expect("json");
    assert_eq!(
        evidence["items"][0]["name"], "Invoice 100%.txt",
        "the original name is kept in the metadata"
    );
    assert!(bagit_validate(&bag).0);
}

/// The archive's custody events exactly as stored (`log` shows committed values opened,
/// issue 11.7; a bundle carries the stored bytes, commitments and all).
fn stored_events(env: &Env) -> Vec<Value> {
    let db = env.sled();
    db.open_tree("custody")
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice(&e.unwrap().1[1..]).expect("event JSON"))
        .collect()
}
