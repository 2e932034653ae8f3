//! The whole flow on the fixture case as a user runs it: ingest, list, show, log, extract,
//! the custody log a stranger can check, and `demo`.

use std::path::Path;

use super::*;

// ---------------------------------------------------------------------------------------------
// 1. The whole flow

/// The fixture case's known-answer vectors, keyed by path.
type Vectors = BTreeMap<String, util::FixtureVector>;

/// The committed vectors still describe the files on disk (hashed here, independently).
fn checked_vectors(fx: &Path) -> Vectors {
    let vectors: BTreeMap<String, util::FixtureVector> = fixture_vectors()
        .into_iter()
        .map(|v| (v.path.clone(), v))
        .collect();
    assert_eq!(vectors.len(), 10, "the fixture case has ten files");
    // The committed vectors still describe the files on disk (hashed here, independently).
    for v in vectors.values() {
        let bytes = fs::read(fx.join(&v.path)).unwrap();
        assert_eq!(bytes.len() as u64, v.size, "{}", v.path);
        assert_eq!(sha256_hex(&bytes), v.sha256, "{}", v.path);
        assert_eq!(blake3_hex(&bytes), v.blake3, "{}", v.path);
    }

    vectors
}

/// init, then the fixture case created.
fn init_and_create_case(env: &Env) {
    let init = env.json(&["init"]);
    assert_eq!(init["format"], 2);
    assert!(!json_str(&init["archive_id"]).is_empty());
    assert!(env.archive.join("FORMAT").is_file());

    let case = env.json(&[
        "case",
        "create",
        CASE,
        "--title",
        "Detentions after the March 2024 protest",
        "--description",
        "Synthetic fixture case",
    ]);
    assert_eq!(case["id"], CASE);
    assert_eq!(case["title"], "Detentions after the March 2024 protest");
    assert_eq!(case["description"], "Synthetic fixture case");
    assert_eq!(case["actor"], "tester");
}

/// An ingest report names `expected` new items, each as its vector; records their ids.
fn check_ingest_report(
    ids: &mut BTreeMap<String, String>,
    report: &Value,
    expected: usize,
    vectors: &Vectors,
) {
    assert_eq!(json_items(report).len(), expected, "{report}");
    for item in json_items(report) {
        let rel = fixture_rel(json_str(&item["path"]));
        let v = &vectors[&rel];
        assert_eq!(item["blake3"], v.blake3.as_str(), "{rel}");
        assert_eq!(item["sha256"], v.sha256.as_str(), "{rel}");
        assert_eq!(item["size"], v.size, "{rel}");
        assert_eq!(item["status"], "new", "{rel}");
        assert!(json_str(&item["id"]).starts_with("EV-"), "{item}");
        assert!(ids.insert(rel, json_str(&item["id"]).to_owned()).is_none());
    }
}

/// The fixture case ingested: top-level material, then the e-mail's attachments.
struct Ingested {
    /// Fixture path -> evidence id.
    ids: BTreeMap<String, String>,
    eml: String,
    all_ids: BTreeSet<String>,
    children: BTreeSet<String>,
}

/// Ingest the top-level material with its context, then the e-mail's attachments.
fn ingest_fixture(env: &Env, fx: &Path, vectors: &Vectors) -> Ingested {
    let top: Vec<PathBuf> = FIXTURE_TOP_LEVEL.iter().map(|p| fx.join(p)).collect();
    let mut args = vec![
        "ingest",
        "--case",
        CASE,
        "--source",
        FIXTURE_SOURCE,
        "--note",
        FIXTURE_NOTE,
        "--tag",
        "intake",
        "--tag",
        "by-2024-017",
        "--captured-at",
        FIXTURE_CAPTURED_AT,
    ];
    args.extend(top.iter().map(|p| arg(p)));
    let report = env.json(&args);
    assert_eq!(report["skipped"], serde_json::json!([]));
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    check_ingest_report(&mut ids, &report, 8, vectors);

    // The e-mail's attachments, as its children.
    let eml = ids["email/message.eml"].clone();
    let attachments = fx.join(FIXTURE_ATTACHMENTS);
    let report = env.json(&[
        "ingest",
        "--case",
        CASE,
        "--parent",
        &eml,
        "--tag",
        "attachment",
        arg(&attachments),
    ]);
    check_ingest_report(&mut ids, &report, 2, vectors);
    let all_ids: BTreeSet<String> = ids.values().cloned().collect();
    assert_eq!(all_ids.len(), 10, "every file got its own id");
    let children: BTreeSet<String> = ids
        .iter()
        .filter(|(rel, _)| rel.starts_with("email/attachments/"))
        .map(|(_, id)| id.clone())
        .collect();

    Ingested {
        ids,
        eml,
        all_ids,
        children,
    }
}

/// list --case: every item with its hashes, name, case and parent; list --tag.
fn check_list(env: &Env, vectors: &Vectors, x: &Ingested) {
    let (ids, eml) = (&x.ids, x.eml.clone());
    let (all_ids, children) = (x.all_ids.clone(), x.children.clone());
    let listed = env.json(&["list", "--case", CASE]);
    assert_eq!(item_ids(&listed), all_ids);
    for item in json_items(&listed) {
        let (rel, _) = ids
            .iter()
            .find(|(_, id)| **id == json_str(&item["id"]))
            .unwrap();
        let v = &vectors[rel];
        assert_eq!(item["blake3"], v.blake3.as_str());
        assert_eq!(item["sha256"], v.sha256.as_str());
        assert_eq!(item["size"], v.size);
        assert_eq!(item["name"], rel.rsplit('/').next().unwrap());
        assert_eq!(json_strings(&item["cases"]), vec![CASE]);
        if rel.starts_with("email/attachments/") {
            assert_eq!(item["parent"], eml.as_str(), "{rel}");
        } else {
            assert_eq!(item["parent"], Value::Null, "{rel}");
        }
    }
    // list --tag
    assert_eq!(
        item_ids(&env.json(&["list", "--tag", "attachment"])),
        children
    );
    assert_eq!(json_items(&env.json(&["list", "--tag", "intake"])).len(), 8);
    assert!(json_items(&env.json(&["list", "--tag", "no-such-tag"])).is_empty());
    assert_eq!(item_ids(&env.json(&["list"])), all_ids);
}

/// show: the fields of docs/CLI.md, both hashes, attachments and custody.
fn check_show(env: &Env, vectors: &Vectors, x: &Ingested) {
    let (eml, children) = (x.eml.clone(), x.children.clone());
    let shown = env.json(&["show", &eml]);
    let v = &vectors["email/message.eml"];
    assert_eq!(shown["id"], eml.as_str());
    assert_eq!(shown["blake3"], v.blake3.as_str());
    assert_eq!(shown["sha256"], v.sha256.as_str());
    assert_eq!(shown["size"], v.size);
    assert_eq!(shown["name"], "message.eml");
    assert!(json_str(&shown["path"]).ends_with("case-BY-2024-017/email/message.eml"));
    assert_eq!(json_strings(&shown["cases"]), vec![CASE]);
    assert_eq!(shown["parent"], Value::Null);
    assert_eq!(shown["source"], FIXTURE_SOURCE);
    assert_eq!(shown["note"], FIXTURE_NOTE);
    assert_eq!(
        json_strings(&shown["tags"])
            .into_iter()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["intake".to_owned(), "by-2024-017".to_owned()])
    );
    assert_eq!(shown["captured_at"], FIXTURE_CAPTURED_AT);
    assert!(
        json_str(&shown["ingested_at"]).ends_with('Z'),
        "ingested_at in UTC: {}",
        shown["ingested_at"]
    );
    assert_eq!(shown["actor"], "tester");
    assert_eq!(
        json_strings(&shown["attachments"])
            .into_iter()
            .collect::<BTreeSet<_>>(),
        children
    );
    let custody = &shown["custody"];
    assert_eq!(event_actions(custody), vec!["ingest"]);
    let ev = &custody[0];
    assert_eq!(ev["actor"], "tester");
    assert_eq!(ev["case"], CASE);
    assert_eq!(ev["items"][0]["id"], eml.as_str());
    assert_eq!(ev["details"]["blake3"], v.blake3.as_str());
    assert_eq!(ev["details"]["sha256"], v.sha256.as_str());
    assert_eq!(ev["details"]["source"], FIXTURE_SOURCE);
}

/// show on an attachment names its parent.
fn check_show_child(env: &Env, vectors: &Vectors, x: &Ingested) {
    let (ids, eml) = (&x.ids, x.eml.clone());
    let child = ids["email/attachments/scan.png"].clone();
    let shown_child = env.json(&["show", &child]);
    assert_eq!(shown_child["parent"], eml.as_str());
    assert_eq!(shown_child["attachments"], serde_json::json!([]));
    assert_eq!(json_strings(&shown_child["tags"]), vec!["attachment"]);
    assert_eq!(
        shown_child["blake3"],
        vectors["email/attachments/scan.png"].blake3.as_str()
    );
    // Human show names the parent too.
    assert!(env.ok(&["show", &child]).contains(&eml));
}

/// case list / case show
fn check_cases(env: &Env, x: &Ingested) {
    let all_ids = x.all_ids.clone();
    let cases = env.json(&["case", "list"]);
    let listed_cases = cases["cases"].as_array().unwrap();
    assert_eq!(listed_cases.len(), 1);
    assert_eq!(listed_cases[0]["id"], CASE);
    assert_eq!(
        listed_cases[0]["title"],
        "Detentions after the March 2024 protest"
    );
    let case_shown = env.json(&["case", "show", CASE]);
    assert_eq!(case_shown["case"]["id"], CASE);
    assert_eq!(item_ids(&case_shown), all_ids);
    assert!(env.ok(&["case", "list"]).contains(CASE));
}

/// A second case, and one item linked into it; returns the linked item.
fn link_into_second_case(env: &Env, x: &Ingested) -> String {
    let (ids, all_ids) = (&x.ids, x.all_ids.clone());
    env.json(&["case", "create", SECOND, "--title", "Related trial"]);
    let en = ids["testimonies/witness-statement-en.txt"].clone();
    let linked = env.json(&[
        "link",
        &en,
        "--case",
        SECOND,
        "--reason",
        "same witness testifies",
    ]);
    assert_eq!(linked["id"], en.as_str());
    assert_eq!(linked["case"], SECOND);
    assert_eq!(
        json_strings(&env.json(&["show", &en])["cases"]),
        vec![CASE, SECOND]
    );
    assert_eq!(
        item_ids(&env.json(&["list", "--case", SECOND])),
        BTreeSet::from([en.clone()])
    );
    assert_eq!(
        item_ids(&env.json(&["case", "show", SECOND])),
        BTreeSet::from([en.clone()])
    );
    assert_eq!(
        item_ids(&env.json(&["list", "--case", CASE])),
        all_ids,
        "the first case keeps all"
    );

    en
}

/// log, oldest first, whole and filtered; returns the whole log.
fn check_log(env: &Env, en: &str) -> Value {
    let log = env.json(&["log"])["events"].clone();
    assert_oldest_first(&log);
    assert_eq!(log[0]["action"], "init");
    assert_eq!(log[0]["seq"], 1);
    let log_actions = event_actions(&log);
    assert_eq!(
        log_actions.iter().filter(|a| *a == "ingest").count(),
        10,
        "{log_actions:?}"
    );
    assert_eq!(
        log_actions.last().map(String::as_str),
        Some("link"),
        "{log_actions:?}"
    );
    let by_item = env.json(&["log", "--evidence", en])["events"].clone();
    assert_oldest_first(&by_item);
    assert_eq!(event_actions(&by_item), vec!["ingest", "link"]);
    assert_eq!(by_item[1]["reason"], "same witness testifies");
    for e in by_item.as_array().unwrap() {
        assert!(
            e["items"].as_array().unwrap().iter().any(|i| i["id"] == en),
            "{e}"
        );
    }
    let by_case = env.json(&["log", "--case", SECOND])["events"].clone();
    assert_oldest_first(&by_case);
    assert_eq!(
        event_actions(&by_case),
        vec!["ingest", "case_create", "link"]
    );
    let by_first = env.json(&["log", "--case", CASE])["events"].clone();
    assert_oldest_first(&by_first);
    let first_actions = event_actions(&by_first);
    assert_eq!(first_actions[0], "case_create");
    assert!(!first_actions.contains(&"init".to_owned()));
    assert_eq!(first_actions.iter().filter(|a| *a == "ingest").count(), 10);

    log
}

/// verify: clean, and it checked exactly what was ingested.
fn check_verify(env: &Env, vectors: &Vectors, log: &Value) {
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["checked"]["items"], 10);
    assert_eq!(report["checked"]["contents"], 10);
    let total: u64 = vectors.values().map(|v| v.size).sum();
    assert_eq!(report["checked"]["bytes"], total);
    assert_eq!(report["checked"]["events"], log.as_array().unwrap().len());
    // verify is itself a custody event.
    let after = env.json(&["log"])["events"].clone();
    assert_eq!(
        after.as_array().unwrap().len(),
        log.as_array().unwrap().len() + 1
    );
    assert_eq!(event_actions(&after).last().unwrap(), "verify");
}

#[test]
fn whole_flow_on_the_fixture_case() {
    let env = Env::new();
    let fx = util::fixtures();
    let vectors = checked_vectors(&fx);
    init_and_create_case(&env);
    let x = ingest_fixture(&env, &fx, &vectors);
    check_list(&env, &vectors, &x);
    check_show(&env, &vectors, &x);
    check_show_child(&env, &vectors, &x);
    check_cases(&env, &x);
    let en = link_into_second_case(&env, &x);
    let log = check_log(&env, &en);
    check_verify(&env, &vectors, &log);
}

/// Each event's `prev` is the SHA-256 of the previous event's exact (canonical JSON) bytes.
#[test]
fn log_is_a_hash_chain_a_stranger_can_check() {
    let env = Env::with_case();
    env.ingest_fixture_case();
    // `log` shows committed values opened (issue 11.7); the chain runs over the events as
    // stored, which a stranger reads from the `custody` tree (docs/FORMAT.md) or a bundle.
    let shown = env.json(&["log"])["events"].clone();
    let db = env.sled();
    let stored: Vec<Value> = db
        .open_tree("custody")
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice(&e.unwrap().1[1..]).expect("event JSON"))
        .collect();
    let events = &stored;
    assert_eq!(shown.as_array().unwrap().len(), events.len());
    for (s, e) in shown.as_array().unwrap().iter().zip(events) {
        assert_eq!((&s["seq"], &s["prev"]), (&e["seq"], &e["prev"]));
    }
    assert!(events.len() >= 12, "init, case, 10 ingests");
    assert_eq!(events[0]["prev"], Value::Null);
    for pair in events.windows(2) {
        // serde_json without preserve_order sorts keys; compact output is the canonical form.
        let bytes = serde_json::to_vec(&pair[0]).unwrap();
        assert_eq!(
            pair[1]["prev"],
            sha256_hex(&bytes).as_str(),
            "event {} does not chain to {}",
            pair[1]["seq"],
            pair[0]["seq"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Extraction

#[test]
fn every_fixture_item_extracts_byte_for_byte() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    let fx = util::fixtures();
    let out_dir = env.path("out");
    fs::create_dir(&out_dir).unwrap();
    for (n, v) in fixture_vectors().iter().enumerate() {
        let id = &ids[&v.path];
        let out = out_dir.join(format!("{n}.bin"));
        let done = env.json(&["extract", id, "--out", arg(&out), "--reason", "review"]);
        let got = fs::read(&out).unwrap();
        let source = fs::read(fx.join(&v.path)).unwrap();
        assert!(got == source, "{} is not byte for byte", v.path);
        assert_eq!(blake3_hex(&got), v.blake3, "{}", v.path);
        assert_eq!(sha256_hex(&got), v.sha256, "{}", v.path);
        assert_eq!(blake3_hex(&got), blake3_hex(&source));
        assert_eq!(sha256_hex(&got), sha256_hex(&source));
        assert_eq!(done["id"], id.as_str());
        assert_eq!(done["blake3"], v.blake3.as_str());
        assert_eq!(done["sha256"], v.sha256.as_str());
        assert_eq!(done["size"], v.size);
        // Extraction is on the item's record, with the reason.
        let custody = env.json(&["show", id])["custody"].clone();
        let last = custody.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["action"], "extract", "{}", v.path);
        assert_eq!(last["reason"], "review");
    }

    // An existing --out is refused and kept as it was.
    let id = &ids["documents/court-ruling.pdf"];
    let existing = out_dir.join("existing.pdf");
    fs::write(&existing, b"do not overwrite me").unwrap();
    let listing = dir_names(&out_dir);
    let stderr = env.refused(&["extract", id, "--out", arg(&existing)], 1);
    assert_one_sentence(&stderr);
    assert_eq!(fs::read(&existing).unwrap(), b"do not overwrite me");
    assert_eq!(dir_names(&out_dir), listing, "no file left behind");

    // Into a directory: the original name.
    let into = env.path("into");
    fs::create_dir(&into).unwrap();
    for rel in [
        "documents/court-ruling.pdf",
        "testimonies/interview notes 2024-03-02.txt",
        "empty.txt",
    ] {
        env.json(&["extract", &ids[rel], "--out", arg(&into)]);
        let name = rel.rsplit('/').next().unwrap();
        assert_eq!(
            fs::read(into.join(name)).unwrap(),
            fs::read(fx.join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert_eq!(
        dir_names(&into),
        BTreeSet::from([
            "court-ruling.pdf".to_owned(),
            "interview notes 2024-03-02.txt".to_owned(),
            "empty.txt".to_owned()
        ])
    );
    // ... and never over a file of that name already there.
    fs::write(into.join("court-ruling.pdf"), b"someone else's file").unwrap();
    let stderr = env.refused(&["extract", id, "--out", arg(&into)], 1);
    assert_one_sentence(&stderr);
    assert_eq!(
        fs::read(into.join("court-ruling.pdf")).unwrap(),
        b"someone else's file"
    );
    assert_eq!(dir_names(&into).len(), 3, "no file left behind");

    // Into a folder that does not exist: refused, nothing recorded.
    let nowhere = env.path("no-such-dir/out.pdf");
    let stderr = env.refused(&["extract", id, "--out", arg(&nowhere)], 1);
    assert_one_sentence(&stderr);
    assert!(!nowhere.exists());
}

/// README's first command: the demo runs the whole flow on the fixture case and says OK.
#[test]
fn demo_runs_the_whole_flow_on_the_fixtures() {
    let env = Env::new();
    let workdir = env.path("demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_custodia"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--workdir"])
        .arg(&workdir)
        .env("CUSTODIA_ACTOR", "tester")
        .env("XDG_CONFIG_HOME", env.config_home())
        .output()
        .expect("run demo");
    let stdout = crate::util::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        crate::util::text(&out.stderr)
    );
    assert!(
        stdout.contains("9. verify --bundle, with no archive: OK"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10. verify the archive: OK (10 items, 10 contents"),
        "{stdout}"
    );
    let bag = workdir.join("bundle-BY-2024-017");
    let validate = std::process::Command::new("python3")
        .args(["-m", "bagit", "--validate"])
        .arg(&bag)
        .output()
        .expect("python3");
    assert!(
        validate.status.success(),
        "bagit-python rejects the demo bundle (run .ci/setup): {}",
        crate::util::text(&validate.stderr)
    );
}
