//! User flows and bad input (issue 2), through the real binary: the fixture case from `init`
//! to `verify`, every item extracted byte for byte, dedup, hash-prefix lookups, each refusal a
//! user can meet (exit code, one sentence, nothing changed), skipped and oddly named files,
//! broken pipes, `--json` documents, and two custodia processes on one archive.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    self, Env, FIXTURE_ATTACHMENTS, FIXTURE_CAPTURED_AT, FIXTURE_NOTE, FIXTURE_SOURCE,
    FIXTURE_TOP_LEVEL, arg, assert_no_raw_controls, assert_oldest_first, assert_one_sentence,
    blake3_hex, dir_names, event_actions, fixture_rel, fixture_vectors, item_ids, json_documents,
    json_items, json_str, json_strings, run_with_timeout, sha256_hex, text, write,
};

const CASE: &str = "BY-2024-017";
const SECOND: &str = "BY-2024-031";

// ---------------------------------------------------------------------------------------------
// 1. The whole flow

#[test]
fn whole_flow_on_the_fixture_case() {
    let env = Env::new();
    let fx = util::fixtures();
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

    // Ingest the top-level material with its context.
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
    let check_report = |ids: &mut BTreeMap<String, String>, report: &Value, expected: usize| {
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
    };
    check_report(&mut ids, &report, 8);

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
    check_report(&mut ids, &report, 2);
    let all_ids: BTreeSet<String> = ids.values().cloned().collect();
    assert_eq!(all_ids.len(), 10, "every file got its own id");
    let children: BTreeSet<String> = ids
        .iter()
        .filter(|(rel, _)| rel.starts_with("email/attachments/"))
        .map(|(_, id)| id.clone())
        .collect();

    // list --case: every item with its hashes, name, case and parent.
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

    // show: the fields of docs/CLI.md, both hashes, attachments and custody.
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

    // case list / case show
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

    // A second case, and one item linked into it.
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

    // log, oldest first, whole and filtered.
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
    let by_item = env.json(&["log", "--evidence", &en])["events"].clone();
    assert_oldest_first(&by_item);
    assert_eq!(event_actions(&by_item), vec!["ingest", "link"]);
    assert_eq!(by_item[1]["reason"], "same witness testifies");
    for e in by_item.as_array().unwrap() {
        assert!(
            e["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["id"] == en.as_str()),
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

    // verify: clean, and it checked exactly what was ingested.
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

/// Each event's `prev` is the SHA-256 of the previous event's exact (canonical JSON) bytes.
#[test]
fn log_is_a_hash_chain_a_stranger_can_check() {
    let env = Env::with_case();
    env.ingest_fixture_case();
    let log = env.json(&["log"])["events"].clone();
    let events = log.as_array().unwrap();
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

// ---------------------------------------------------------------------------------------------
// 3. Dedup

#[test]
fn same_bytes_are_stored_once_across_names_and_cases() {
    let env = Env::with_case();
    env.ok(&["case", "create", SECOND, "--title", "Second"]);
    let x = util::noise(7, 50_000);
    let y = b"a different statement\n".to_vec();
    write(&env.path("src/a.txt"), &x);
    write(&env.path("src/b.txt"), &x);
    write(&env.path("src/c.txt"), &y);
    write(&env.path("other/copy-of-a.bin"), &x);

    let first = env.json(&[
        "ingest",
        "--case",
        CASE,
        "--source",
        "first source",
        arg(&env.path("src")),
    ]);
    let by_name: BTreeMap<String, Value> = json_items(&first)
        .iter()
        .map(|i| {
            let name = json_str(&i["path"]).rsplit('/').next().unwrap().to_owned();
            (name, i.clone())
        })
        .collect();
    assert_eq!(by_name.len(), 3, "one result per file: {first}");
    let a = &by_name["a.txt"];
    let b = &by_name["b.txt"];
    let c = &by_name["c.txt"];
    assert_eq!(a["status"], "new");
    assert_eq!(c["status"], "new");
    assert_eq!(b["status"], "duplicate");
    assert_eq!(
        b["id"], a["id"],
        "same content in the same case: the existing id"
    );
    assert_eq!(a["blake3"], blake3_hex(&x).as_str());
    assert_eq!(b["sha256"], sha256_hex(&x).as_str());
    let id_x = json_str(&a["id"]).to_owned();
    let id_y = json_str(&c["id"]).to_owned();
    assert_ne!(id_x, id_y);

    // The same bytes into another case: a new item of its own, the bytes not stored again.
    let second = env.json(&[
        "ingest",
        "--case",
        SECOND,
        "--source",
        "court archive",
        arg(&env.path("other")),
    ]);
    let copy = &json_items(&second)[0];
    assert_eq!(copy["status"], "duplicate");
    assert_eq!(copy["blake3"], blake3_hex(&x).as_str());
    let id_copy = json_str(&copy["id"]).to_owned();
    assert_ne!(id_copy, id_x, "another case gets its own item");
    let shown_copy = env.json(&["show", &id_copy]);
    assert_eq!(shown_copy["source"], "court archive");
    assert_eq!(shown_copy["name"], "copy-of-a.bin");
    assert_eq!(json_strings(&shown_copy["cases"]), vec![SECOND]);

    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["checked"]["items"], 3);
    assert_eq!(report["checked"]["contents"], 2, "x stored once");
    assert_eq!(report["checked"]["bytes"], (x.len() + y.len()) as u64);

    // The second name in the same case is an acquisition on the first item's record.
    let shown = env.json(&["show", &id_x]);
    assert_eq!(shown["name"], "a.txt");
    assert_eq!(event_actions(&shown["custody"]), vec!["ingest", "acquire"]);
    let acq = &shown["custody"][1];
    assert_eq!(acq["details"]["name"], "b.txt");
    assert!(json_str(&acq["details"]["path"]).ends_with("src/b.txt"));
    assert_eq!(acq["details"]["source"], "first source");
    assert_eq!(acq["details"]["blake3"], blake3_hex(&x).as_str());
    assert_eq!(acq["actor"], "tester");

    // Same content again into the same case, from another source, under another name.
    write(&env.path("later/renamed.dat"), &x);
    let again = env.json(&[
        "ingest",
        "--case",
        CASE,
        "--source",
        "second source",
        "--note",
        "handed in again",
        arg(&env.path("later/renamed.dat")),
    ]);
    assert_eq!(json_items(&again)[0]["status"], "duplicate");
    assert_eq!(json_items(&again)[0]["id"], id_x.as_str());
    let shown = env.json(&["show", &id_x]);
    assert_eq!(
        event_actions(&shown["custody"]),
        vec!["ingest", "acquire", "acquire"]
    );
    let acq = &shown["custody"][2];
    assert_eq!(acq["details"]["source"], "second source");
    assert_eq!(acq["details"]["note"], "handed in again");
    assert_eq!(acq["details"]["name"], "renamed.dat");
    assert!(acq["time"].is_string());
    // The item keeps its first context; the second source lives in its history.
    assert_eq!(shown["source"], "first source");
    assert_eq!(shown["name"], "a.txt");

    assert_eq!(
        item_ids(&env.json(&["list", "--case", CASE])),
        BTreeSet::from([id_x.clone(), id_y.clone()])
    );
    assert_eq!(
        item_ids(&env.json(&["list", "--case", SECOND])),
        BTreeSet::from([id_copy.clone()])
    );
    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["checked"]["items"], 3);
    assert_eq!(report["checked"]["contents"], 2);
}

// ---------------------------------------------------------------------------------------------
// 4. Sizes

#[test]
fn multi_chunk_and_empty_files_round_trip() {
    const MIB: usize = 1 << 20;
    let env = Env::with_case();
    let mut text_bytes = Vec::with_capacity(2 * MIB);
    let mut n = 0;
    while text_bytes.len() < 2 * MIB {
        text_bytes
            .extend_from_slice(format!("line {n} of a long, repetitive statement\n").as_bytes());
        n += 1;
    }
    text_bytes.truncate(2 * MIB);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("noise-3.5MiB.bin", util::noise(1, 3 * MIB + MIB / 2)),
        ("text-2MiB.txt", text_bytes),
        ("exactly-1MiB.bin", util::noise(2, MIB)),
        ("1MiB-plus-1.bin", util::noise(3, MIB + 1)),
        ("zero.bin", Vec::new()),
    ];
    for (name, bytes) in &files {
        write(&env.path(&format!("in/{name}")), bytes);
    }
    let report = env.json(&["ingest", "--case", CASE, arg(&env.path("in"))]);
    assert_eq!(json_items(&report).len(), files.len());
    let out_dir = env.path("out");
    fs::create_dir(&out_dir).unwrap();
    for (name, bytes) in &files {
        let item = json_items(&report)
            .iter()
            .find(|i| json_str(&i["path"]).ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name} not ingested: {report}"));
        assert_eq!(item["blake3"], blake3_hex(bytes).as_str(), "{name}");
        assert_eq!(item["sha256"], sha256_hex(bytes).as_str(), "{name}");
        assert_eq!(item["size"], bytes.len() as u64, "{name}");
        env.json(&["extract", json_str(&item["id"]), "--out", arg(&out_dir)]);
        let got = fs::read(out_dir.join(name)).unwrap();
        assert_eq!(got.len(), bytes.len(), "{name}");
        assert!(got == *bytes, "{name} differs after the round trip");
    }
    let (code, v) = env.verify();
    assert_eq!(code, 0, "{v}");
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(v["checked"]["bytes"], total as u64);
    assert_eq!(v["checked"]["contents"], files.len() as u64);
}

// ---------------------------------------------------------------------------------------------
// 5. Lookup by hash prefix

#[test]
fn items_are_found_by_blake3_prefix() {
    let env = Env::with_case();
    env.ok(&["case", "create", SECOND, "--title", "Second"]);
    let x = b"the same bytes in two cases\n".to_vec();
    let y = b"bytes only one item holds\n".to_vec();
    write(&env.path("one/x.txt"), &x);
    write(&env.path("one/y.txt"), &y);
    write(&env.path("two/x-again.txt"), &x);
    let first = env.json(&["ingest", "--case", CASE, arg(&env.path("one"))]);
    let second = env.json(&["ingest", "--case", SECOND, arg(&env.path("two"))]);
    let id_of = |report: &Value, name: &str| {
        json_items(report)
            .iter()
            .find(|i| json_str(&i["path"]).ends_with(name))
            .map(|i| json_str(&i["id"]).to_owned())
            .unwrap()
    };
    let (id_x1, id_y) = (id_of(&first, "/x.txt"), id_of(&first, "/y.txt"));
    let id_x2 = id_of(&second, "/x-again.txt");
    let hy = blake3_hex(&y);
    let hx = blake3_hex(&x);

    // show, extract, link, log by an 8-character prefix (and by longer ones, in any case).
    let upper = hy[..12].to_ascii_uppercase();
    for prefix in [&hy[..8], &hy[..20], &hy[..], upper.as_str()] {
        assert_eq!(env.json(&["show", prefix])["id"], id_y.as_str(), "{prefix}");
    }
    let out = env.path("y.out");
    let done = env.json(&["extract", &hy[..8], "--out", arg(&out)]);
    assert_eq!(done["id"], id_y.as_str());
    assert_eq!(fs::read(&out).unwrap(), y);
    let linked = env.json(&["link", &hy[..8], "--case", SECOND]);
    assert_eq!(linked["id"], id_y.as_str());
    assert_eq!(
        json_strings(&env.json(&["show", &id_y])["cases"]),
        vec![CASE, SECOND]
    );
    assert_eq!(
        event_actions(&env.json(&["log", "--evidence", &hy[..8]])["events"]),
        vec!["ingest", "extract", "link"]
    );

    // The same content as two items: a prefix is ambiguous, and the message names both.
    for cmd in [
        vec!["show", &hx[..8]],
        vec!["show", &hx[..]],
        vec!["link", &hx[..10], "--case", SECOND],
        vec!["log", "--evidence", &hx[..8]],
    ] {
        let stderr = env.refused(&cmd, 1);
        assert_one_sentence(&stderr);
        assert!(
            stderr.contains(&id_x1) && stderr.contains(&id_x2),
            "{cmd:?}: both ids named:\n{stderr}"
        );
    }
    let amb_out = env.path("ambiguous.out");
    let stderr = env.refused(&["extract", &hx[..8], "--out", arg(&amb_out)], 1);
    assert!(
        stderr.contains(&id_x1) && stderr.contains(&id_x2),
        "{stderr}"
    );
    assert!(
        !amb_out.exists(),
        "nothing extracted on an ambiguous prefix"
    );
    let out = env.run(&["--json", "show", &hx[..8]]);
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "ambiguous_item");

    // Too short, not hex, or matching nothing.
    let stderr = env.refused(&["show", &hy[..7]], 2);
    assert!(
        stderr.contains('8'),
        "says how long a prefix must be:\n{stderr}"
    );
    env.refused(&["show", "zzzzzzzz"], 2);
    let unmatched = (0..16u8)
        .map(|d| format!("{d:x}").repeat(8))
        .find(|p| !hx.starts_with(p.as_str()) && !hy.starts_with(p.as_str()))
        .unwrap();
    let stderr = env.refused(&["show", &unmatched], 1);
    assert_one_sentence(&stderr);
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input: exit code, one sentence, nothing changed

#[test]
fn unknown_case_is_refused_and_changes_nothing() {
    let (env, id) = Env::with_two_items();
    write(&env.path("new.txt"), b"new\n");
    let new = env.path("new.txt");
    for cmd in [
        vec!["ingest", "--case", "NO-SUCH-CASE", arg(&new)],
        vec!["list", "--case", "NO-SUCH-CASE"],
        vec!["case", "show", "NO-SUCH-CASE"],
        vec!["link", &id, "--case", "NO-SUCH-CASE"],
        vec!["log", "--case", "NO-SUCH-CASE"],
    ] {
        let stderr = env.refused(&cmd, 1);
        assert_one_sentence(&stderr);
        assert!(
            stderr.contains("NO-SUCH-CASE"),
            "{cmd:?}: names the case:\n{stderr}"
        );
    }
    assert_eq!(json_items(&env.json(&["list"])).len(), 2);
}

#[test]
fn unknown_item_is_refused_and_changes_nothing() {
    let (env, _) = Env::with_two_items();
    env.ok(&["case", "create", SECOND, "--title", "Second"]);
    write(&env.path("child.txt"), b"child\n");
    let out = env.path("out.bin");
    for cmd in [
        vec!["show", "EV-000099"],
        vec!["extract", "EV-000099", "--out", arg(&out)],
        vec!["link", "EV-000099", "--case", SECOND],
        vec!["log", "--evidence", "EV-000099"],
        vec![
            "ingest",
            "--case",
            CASE,
            "--parent",
            "EV-000099",
            arg(&env.path("child.txt")),
        ],
    ] {
        let stderr = env.refused(&cmd, 1);
        assert_one_sentence(&stderr);
        assert!(
            stderr.contains("EV-000099"),
            "{cmd:?}: names the id:\n{stderr}"
        );
    }
    assert!(!out.exists());
}

#[test]
fn usage_errors_exit_2_and_change_nothing() {
    let (env, id) = Env::with_two_items();
    write(&env.path("new.txt"), b"new\n");
    let new = env.path("new.txt");
    let long = "x".repeat(65);
    for bad in ["a/b", "", "..", "a b", long.as_str(), "caf\u{e9}"] {
        env.refused(&["case", "create", bad, "--title", "t"], 2);
    }
    for date in [
        "yesterday",
        "2024-03-02",
        "2024-03-02 14:05:00",
        "2024-13-02T14:05:00Z",
    ] {
        env.refused(
            &["ingest", "--case", CASE, "--captured-at", date, arg(&new)],
            2,
        );
    }
    env.refused(&["ingest", "--case", CASE, "--tag", "", arg(&new)], 2);
    env.refused(&["ingest", "--case", CASE], 2);
    env.refused(&["show", "abcdef0"], 2);
    env.refused(&["extract", &id], 2);
    env.refused(&["no-such-command"], 2);
    env.refused(&["list", "--no-such-flag"], 2);
    assert_eq!(
        json_items(&env.json(&["list"])).len(),
        2,
        "new.txt never ingested"
    );
}

/// docs/CLI.md, issue 2: every refusal is one clear sentence starting "custodia: ", usage errors included.
#[test]
fn usage_errors_are_one_custodia_sentence() {
    let env = Env::with_case();
    write(&env.path("new.txt"), b"new\n");
    let new = env.path("new.txt");
    for cmd in [
        vec!["case", "create", "a/b", "--title", "t"],
        vec![
            "ingest",
            "--case",
            CASE,
            "--captured-at",
            "yesterday",
            arg(&new),
        ],
        vec!["show", "abcdef0"],
    ] {
        let stderr = env.refused(&cmd, 2);
        assert_one_sentence(&stderr);
    }
}

/// docs/CLI.md: "With --json, a failure is also one JSON object {"error": {"kind", "message"}} on stderr."
#[test]
fn usage_error_with_json_is_one_error_object() {
    let env = Env::with_case();
    for cmd in [
        vec!["--json", "case", "create", "a/b", "--title", "t"],
        vec!["--json", "show", "abcdef0"],
    ] {
        let stderr = env.refused(&cmd, 2);
        let docs = json_documents(&stderr);
        assert_eq!(
            docs.len(),
            1,
            "{cmd:?}: one JSON object on stderr:\n{stderr}"
        );
        assert!(docs[0]["error"]["kind"].is_string(), "{stderr}");
        assert!(docs[0]["error"]["message"].is_string(), "{stderr}");
    }
}

#[test]
fn missing_input_path_ingests_nothing() {
    let (env, _) = Env::with_two_items();
    write(&env.path("valid/a.txt"), b"valid a\n");
    write(&env.path("valid/b.txt"), b"valid b\n");
    let missing = env.path("no-such-file.txt");
    // The missing path comes after valid ones: still nothing of them may be ingested.
    let stderr = env.refused(
        &[
            "ingest",
            "--case",
            CASE,
            arg(&env.path("valid/a.txt")),
            arg(&env.path("valid")),
            arg(&missing),
        ],
        1,
    );
    assert_one_sentence(&stderr);
    assert!(
        stderr.contains("no-such-file.txt"),
        "names the path:\n{stderr}"
    );
    assert_eq!(json_items(&env.json(&["list"])).len(), 2);
    let (code, v) = env.verify();
    assert_eq!((code, v["checked"]["items"].as_u64()), (0, Some(2)));
}

#[test]
fn case_that_exists_and_item_already_linked_are_refused() {
    let (env, id) = Env::with_two_items();
    let stderr = env.refused(&["case", "create", CASE, "--title", "again"], 1);
    assert_one_sentence(&stderr);
    let stderr = env.refused(&["link", &id, "--case", CASE], 1);
    assert_one_sentence(&stderr);
}

#[test]
fn plain_file_as_archive_is_refused_untouched() {
    let env = Env::new();
    fs::write(&env.archive, b"not an archive\n").unwrap();
    write(&env.path("new.txt"), b"new\n");
    let new = env.path("new.txt");
    for cmd in [
        vec!["list"],
        vec!["verify"],
        vec!["case", "create", CASE, "--title", "t"],
        vec!["ingest", "--case", CASE, arg(&new)],
        vec!["init"],
    ] {
        let stderr = env.refused(&cmd, 1);
        assert_one_sentence(&stderr);
        assert_eq!(fs::read(&env.archive).unwrap(), b"not an archive\n");
    }
}

#[test]
fn junk_or_empty_folder_as_archive_is_refused_untouched() {
    let env = Env::new();
    write(&env.archive.join("notes.txt"), b"junk\n");
    fs::create_dir(env.archive.join("db")).unwrap();
    let empty = Env::new();
    fs::create_dir(&empty.archive).unwrap();
    write(&env.path("new.txt"), b"new\n");
    let new = env.path("new.txt");
    for target in [&env, &empty] {
        let listing = dir_names(&target.archive);
        for cmd in [
            vec!["list"],
            vec!["verify"],
            vec!["show", "EV-000001"],
            vec!["case", "create", CASE, "--title", "t"],
            vec!["ingest", "--case", CASE, arg(&new)],
        ] {
            let stderr = target.refused(&cmd, 1);
            assert_one_sentence(&stderr);
            assert!(stderr.contains("not a custodia archive"), "{stderr}");
            assert_eq!(
                dir_names(&target.archive),
                listing,
                "{cmd:?} touched the folder"
            );
        }
    }
    // init refuses a folder that holds anything.
    let stderr = env.refused(&["init"], 1);
    assert_one_sentence(&stderr);
    assert_eq!(dir_names(&env.archive).len(), 2);
    assert_eq!(fs::read(env.archive.join("notes.txt")).unwrap(), b"junk\n");
}

#[test]
fn init_refuses_an_existing_archive() {
    let (env, _) = Env::with_two_items();
    let format = fs::read(env.archive.join("FORMAT")).unwrap();
    let before = env.observed_state();
    let stderr = env.refused(&["init"], 1);
    assert_one_sentence(&stderr);
    assert_eq!(fs::read(env.archive.join("FORMAT")).unwrap(), format);
    assert_eq!(env.observed_state(), before);
    let (code, _) = env.verify();
    assert_eq!(code, 0);
}

#[test]
fn command_on_missing_archive_says_to_init() {
    let env = Env::new();
    write(&env.path("new.txt"), b"new\n");
    let new = env.path("new.txt");
    for cmd in [
        vec!["list"],
        vec!["verify"],
        vec!["log"],
        vec!["case", "create", CASE, "--title", "t"],
        vec!["ingest", "--case", CASE, arg(&new)],
    ] {
        let stderr = env.refused(&cmd, 1);
        assert_one_sentence(&stderr);
        assert!(stderr.contains("init"), "{cmd:?}: mentions init:\n{stderr}");
        assert!(!env.archive.exists(), "{cmd:?} created the archive folder");
    }
}

#[test]
fn json_failure_is_one_error_object_on_stderr() {
    let (env, _) = Env::with_two_items();
    let missing = Env::new();
    let existing_out = env.path("exists.bin");
    fs::write(&existing_out, b"x").unwrap();
    let cases: Vec<(&Env, Vec<&str>, &str)> = vec![
        (&env, vec!["show", "EV-000099"], "unknown_item"),
        (&env, vec!["list", "--case", "NOPE"], "unknown_case"),
        (&env, vec!["init"], "archive_exists"),
        (
            &env,
            vec!["extract", "EV-000001", "--out", arg(&existing_out)],
            "output_exists",
        ),
        (
            &env,
            vec!["ingest", "--case", CASE, "/no/such/path"],
            "missing_input",
        ),
        (&missing, vec!["list"], "no_archive"),
    ];
    for (target, cmd, kind) in cases {
        let mut args = vec!["--json"];
        args.extend(cmd.iter().copied());
        let stderr = target.refused(&args, 1);
        assert!(!stderr.contains("panicked"));
        let docs = json_documents(&stderr);
        assert_eq!(
            docs.len(),
            1,
            "{cmd:?}: one JSON document on stderr:\n{stderr}"
        );
        let err = &docs[0]["error"];
        assert_eq!(err["kind"], kind, "{cmd:?}: {stderr}");
        assert!(json_str(&err["message"]).len() > 10, "{stderr}");
        assert_eq!(
            docs[0].as_object().unwrap().len(),
            1,
            "only the error key: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Entries that are skipped, and names that are not what they seem

#[test]
fn symlinks_fifos_and_sockets_are_skipped_and_the_rest_ingests() {
    let env = Env::with_case();
    let dir = env.path("mixed");
    write(&dir.join("regular.txt"), b"a regular file\n");
    write(&dir.join("sub/inner.txt"), b"an inner file\n");
    std::os::unix::fs::symlink(dir.join("regular.txt"), dir.join("link-to-regular")).unwrap();
    std::os::unix::fs::symlink("/no/such/target", dir.join("dangling")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let _listener = std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap();

    let out = run_with_timeout(
        env.std_cmd()
            .args(["--json", "ingest", "--case", CASE, arg(&dir)]),
        Duration::from_secs(60),
    );
    // Exit 4: something given was skipped (issue 9, finding 7).
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeSet<String> = json_items(&report)
        .iter()
        .map(|i| json_str(&i["path"]).rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["regular.txt".to_owned(), "inner.txt".to_owned()])
    );
    let skipped: BTreeMap<String, String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                json_str(&k["path"]).rsplit('/').next().unwrap().to_owned(),
                json_str(&k["reason"]).to_lowercase(),
            )
        })
        .collect();
    assert_eq!(
        skipped.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["link-to-regular", "dangling", "fifo", "sock"].map(str::to_owned)),
        "{report}"
    );
    assert!(skipped["link-to-regular"].contains("link"), "{skipped:?}");
    assert!(skipped["dangling"].contains("link"), "{skipped:?}");
    assert!(
        skipped["fifo"].contains("pipe") || skipped["fifo"].contains("fifo"),
        "{skipped:?}"
    );
    assert!(skipped["sock"].contains("socket"), "{skipped:?}");
    let (code, v) = env.verify();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["checked"]["items"], 2);
}

/// docs/CLI.md: symbolic links are not followed, also when one is named on the command line.
#[test]
fn symlink_given_as_argument_is_not_followed() {
    let env = Env::with_case();
    write(&env.path("real/inner.txt"), b"behind a link\n");
    std::os::unix::fs::symlink(env.path("real"), env.path("link-to-dir")).unwrap();
    std::os::unix::fs::symlink(env.path("real/inner.txt"), env.path("link-to-file")).unwrap();
    let (stdout, _) = env.fails(
        &[
            "--json",
            "ingest",
            "--case",
            CASE,
            arg(&env.path("link-to-dir")),
            arg(&env.path("link-to-file")),
        ],
        4,
    );
    let report: Value = serde_json::from_str(&stdout).expect("ingest JSON");
    assert_eq!(
        json_items(&report).len(),
        0,
        "nothing behind a symbolic link is ingested: {report}"
    );
    let skipped: BTreeSet<String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| json_str(&k["path"]).rsplit('/').next().unwrap().to_owned())
        .collect();
    assert!(
        skipped.contains("link-to-dir") && skipped.contains("link-to-file"),
        "{report}"
    );
    assert!(json_items(&env.json(&["list"])).is_empty());
}

#[test]
fn non_utf8_name_is_kept_exactly_and_shown_escaped() {
    let env = Env::with_case();
    let raw: &[u8] = b"caf\xe9.txt";
    let dir = env.path("latin1");
    let file = dir.join(OsStr::from_bytes(raw));
    write(&file, b"bytes under a Latin-1 name\n");
    let report = env.json(&["ingest", "--case", CASE, arg(&dir)]);
    assert_eq!(json_items(&report).len(), 1, "{report}");
    let id = json_str(&json_items(&report)[0]["id"]).to_owned();
    assert!(
        json_str(&json_items(&report)[0]["path"]).ends_with("caf\\xe9.txt"),
        "{report}"
    );

    // JSON: the exact bytes in name_hex, an escaped name.
    let listed = env.json(&["list"]);
    let item = &json_items(&listed)[0];
    assert_eq!(item["name_hex"], hex::encode(raw).as_str());
    assert_eq!(item["name"], "caf\\xe9.txt");
    assert_eq!(
        env.json(&["show", &id])["name_hex"],
        hex::encode(raw).as_str()
    );

    // Human output: escaped, and valid UTF-8 as a whole.
    for cmd in [vec!["list"], vec!["show", &id], vec!["case", "show", CASE]] {
        let out = env.run(&cmd);
        assert_eq!(out.status.code(), Some(0));
        let stdout = std::str::from_utf8(&out.stdout)
            .unwrap_or_else(|_| panic!("{cmd:?}: raw non-UTF-8 bytes on stdout"));
        assert!(stdout.contains("caf\\xe9.txt"), "{cmd:?}:\n{stdout}");
    }

    // Into a directory: a safe name, the exact bytes.
    let into = env.path("into");
    fs::create_dir(&into).unwrap();
    env.json(&["extract", &id, "--out", arg(&into)]);
    let entries: Vec<_> = fs::read_dir(&into)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries.len(), 1);
    let name = entries[0]
        .to_str()
        .unwrap_or_else(|| panic!("extracted under a non-UTF-8 name {:?}", entries[0]));
    assert!(!name.is_empty() && !name.starts_with('.') && !name.chars().any(char::is_control));
    assert_eq!(
        fs::read(into.join(name)).unwrap(),
        b"bytes under a Latin-1 name\n"
    );
}

#[test]
fn ansi_escapes_in_names_and_text_never_reach_the_terminal_raw() {
    let env = Env::with_case();
    let raw: &[u8] = b"\x1b[32mOK\x1b[0m.txt";
    let dir = env.path("ansi");
    write(&dir.join(OsStr::from_bytes(raw)), b"a name that paints\n");
    let ingest = env
        .cmd()
        .args([
            "--actor",
            "eve\x1b[2J",
            "ingest",
            "--case",
            CASE,
            "--source",
            "src \x1b]0;fake title\x07",
            "--note",
            "note \x1b[31mred\u{202e}txt",
            arg(&dir),
        ])
        .output()
        .unwrap();
    assert_eq!(ingest.status.code(), Some(0), "{}", text(&ingest.stderr));
    assert_no_raw_controls("ingest", &ingest.stdout, &ingest.stderr);

    let listed = env.json(&["list"]);
    let item = &json_items(&listed)[0];
    let id = json_str(&item["id"]).to_owned();
    // JSON keeps the exact name (JSON escapes control characters itself).
    assert_eq!(item["name"], "\u{1b}[32mOK\u{1b}[0m.txt");
    assert_eq!(item["name_hex"], hex::encode(raw).as_str());

    for cmd in [
        vec!["list"],
        vec!["show", &id],
        vec!["log"],
        vec!["log", "--evidence", &id],
        vec!["case", "show", CASE],
    ] {
        let out = env.run(&cmd);
        assert_eq!(out.status.code(), Some(0));
        assert_no_raw_controls(&format!("{cmd:?}"), &out.stdout, &out.stderr);
        if cmd[0] != "log" {
            assert!(
                text(&out.stdout).contains("OK"),
                "{cmd:?}: the name is still shown"
            );
        }
    }
    // Extracted into a directory under a name without the escapes.
    let into = env.path("into");
    fs::create_dir(&into).unwrap();
    env.json(&["extract", &id, "--out", arg(&into)]);
    for e in fs::read_dir(&into).unwrap() {
        let name = e.unwrap().file_name();
        assert!(!name.as_bytes().contains(&0x1b), "extracted as {name:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 8. `custodia list | head -1`

#[test]
fn output_into_a_pipe_closed_early_is_not_a_crash() {
    let env = Env::with_case();
    let dir = env.path("many");
    fs::create_dir(&dir).unwrap();
    // Long names make `list` print more than a pipe buffer holds, so the reader goes first.
    let long = "n".repeat(230);
    for i in 0..300 {
        fs::write(
            dir.join(format!("{i:03}-{long}.txt")),
            format!("item {i}\n"),
        )
        .unwrap();
    }
    let report = env.json(&["ingest", "--case", CASE, arg(&dir)]);
    assert_eq!(json_items(&report).len(), 300);

    for cmd in [
        vec!["list"],
        vec!["--json", "list"],
        vec!["case", "show", CASE],
        vec!["log"],
        vec!["--json", "log"],
    ] {
        let mut child = env
            .std_cmd()
            .args(&cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        {
            let mut reader = BufReader::new(child.stdout.take().unwrap());
            reader.read_line(&mut first).unwrap();
        } // the pipe closes here, as after `head -1`
        assert!(!first.trim().is_empty(), "{cmd:?}: a first line");
        if cmd == ["list"] {
            assert!(first.starts_with("EV-000001"), "{first}");
        }
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{cmd:?} panicked:\n{stderr}");
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {stderr}");
    }
    // Nothing was harmed: reading with a closed pipe records nothing.
    let (code, v) = env.verify();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["checked"]["items"], 300);
}

// ---------------------------------------------------------------------------------------------
// 9. --json: one document per command

#[test]
fn json_is_exactly_one_document_for_every_command() {
    let env = Env::new();
    write(&env.path("in/a.txt"), b"alpha\n");
    write(&env.path("in/b.txt"), b"beta\n");
    let out = env.path("a.out");
    let one = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let o = env.run(&all);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        let stdout = String::from_utf8(o.stdout).expect("UTF-8 JSON");
        let docs = json_documents(&stdout);
        assert_eq!(docs.len(), 1, "{args:?}: exactly one document:\n{stdout}");
        assert!(docs[0].is_object(), "{args:?}: an object:\n{stdout}");
        docs.into_iter().next().unwrap()
    };
    assert_eq!(one(&["init"])["format"], 2);
    assert_eq!(one(&["case", "create", CASE, "--title", "t"])["id"], CASE);
    one(&["case", "create", SECOND, "--title", "u"]);
    assert_eq!(one(&["case", "list"])["cases"].as_array().unwrap().len(), 2);
    let ingested = one(&["ingest", "--case", CASE, arg(&env.path("in"))]);
    assert_eq!(json_items(&ingested).len(), 2);
    let id = json_str(&json_items(&ingested)[0]["id"]).to_owned();
    assert_eq!(json_items(&one(&["case", "show", CASE])).len(), 2);
    assert_eq!(json_items(&one(&["list"])).len(), 2);
    assert_eq!(one(&["show", &id])["id"], id.as_str());
    assert_eq!(
        one(&["extract", &id, "--out", arg(&out)])["id"],
        id.as_str()
    );
    assert_eq!(one(&["link", &id, "--case", SECOND])["case"], SECOND);
    assert!(one(&["log"])["events"].is_array());
    let verified = one(&["verify"]);
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["checked"]["items"], 2);
}

#[test]
fn archive_and_actor_come_from_flags_or_environment() {
    let env = Env::new();
    let mut init = assert_cmd::Command::new(env!("CARGO_BIN_EXE_custodia"));
    let out = init
        .env("CUSTODIA_ARCHIVE", &env.archive)
        .env("CUSTODIA_ACTOR", "from-env")
        .args(["--json", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        env.archive.join("FORMAT").is_file(),
        "CUSTODIA_ARCHIVE used"
    );
    let case = env.json(&[
        "--actor",
        "from-flag",
        "case",
        "create",
        CASE,
        "--title",
        "t",
    ]);
    assert_eq!(
        case["actor"], "from-flag",
        "--actor wins over CUSTODIA_ACTOR"
    );
    let log = env.json(&["log"])["events"].clone();
    assert_eq!(log[0]["actor"], "from-env");
    assert_eq!(log[1]["actor"], "from-flag");
}

// ---------------------------------------------------------------------------------------------
// 10. Two custodia processes

#[test]
fn a_second_writer_is_refused_or_waits() {
    const SIZE: usize = 200 << 20;
    let env = Env::with_case();
    let big = env.path("big.bin");
    let (sha, b3) = util::write_noise_file(&big, 42, SIZE);

    // The first ingest waits for the lock itself, so a probe that slips in first cannot fail it.
    let mut first = env
        .std_cmd()
        .args(["--wait", "--json", "ingest", "--case", CASE, arg(&big)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Probe until the first holds the archive: a second command fails at once with exit 1.
    let started = Instant::now();
    let mut refusal = None;
    while refusal.is_none() && started.elapsed() < Duration::from_secs(60) {
        if first.try_wait().unwrap().is_some() {
            break;
        }
        let out = env.run(&["list"]);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        match out.status.code() {
            Some(0) => {} // the first has not taken the lock yet
            Some(1) if stderr.contains("archive is in use by another custodia process") => {
                refusal = Some(stderr);
            }
            other => panic!("a second command while the archive is busy: {other:?}\n{stderr}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr =
        refusal.expect("a 200 MiB ingest finished before a second command ever met the lock");
    assert_one_sentence(&stderr);

    // A writer meets the same refusal; with --json it is the "locked" error object.
    let out = env.run(&["--json", "case", "create", "PROBE", "--title", "t"]);
    let writer_refused = match out.status.code() {
        Some(1) => {
            let err: Value = serde_json::from_slice(&out.stderr)
                .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
            assert_eq!(err["error"]["kind"], "locked", "{err}");
            assert!(
                json_str(&err["error"]["message"])
                    .contains("archive is in use by another custodia process")
            );
            true
        }
        Some(0) => false, // the ingest had just ended
        other => panic!("a second writer: {other:?}\n{}", text(&out.stderr)),
    };

    // With --wait, a second writer queues behind the first and then succeeds.
    let waited = env.json(&[
        "--wait",
        "case",
        "create",
        SECOND,
        "--title",
        "after the ingest",
    ]);
    assert_eq!(waited["id"], SECOND);

    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json_items(&report)[0]["blake3"], b3.as_str());
    assert_eq!(json_items(&report)[0]["sha256"], sha.as_str());
    assert_eq!(json_items(&report)[0]["size"], SIZE as u64);

    // The waiting command ran after the ingest, in the log as on the clock.
    let log = env.json(&["log"])["events"].clone();
    let seq_of = |action: &str, case: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action && e["case"] == case)
            .and_then(|e| e["seq"].as_u64())
    };
    let ingest_seq = seq_of("ingest", CASE).expect("ingest event");
    let create_seq = seq_of("case_create", SECOND).expect("case_create event");
    assert!(
        ingest_seq < create_seq,
        "--wait ran before the ingest ended"
    );

    if writer_refused {
        let cases = env.json(&["case", "list"]);
        assert!(
            !cases.to_string().contains("PROBE"),
            "a refused writer changed the archive: {cases}"
        );
    }

    let (code, v) = env.verify();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["checked"]["items"], 1);
    assert_eq!(v["checked"]["bytes"], SIZE as u64);
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
