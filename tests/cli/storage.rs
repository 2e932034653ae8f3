//! What ingest stores: the same bytes once across names and cases, multi-chunk and empty
//! files, and items found by a BLAKE3 prefix.

use super::*;

// ---------------------------------------------------------------------------------------------
// 3. Dedup

/// The first ingest: a.txt and b.txt hold the same bytes, c.txt others; returns the ids of
/// x and y.
fn ingest_first(env: &Env, x: &[u8]) -> (String, String) {
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
    assert_eq!(a["blake3"], blake3_hex(x).as_str());
    assert_eq!(b["sha256"], sha256_hex(x).as_str());
    let id_x = json_str(&a["id"]).to_owned();
    let id_y = json_str(&c["id"]).to_owned();
    assert_ne!(id_x, id_y);

    (id_x, id_y)
}

/// The same bytes into another case: a new item of its own, the bytes not stored again;
/// returns its id.
fn ingest_into_second_case(env: &Env, x: &[u8], id_x: &str) -> String {
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
    assert_eq!(copy["blake3"], blake3_hex(x).as_str());
    let id_copy = json_str(&copy["id"]).to_owned();
    assert_ne!(id_copy, id_x, "another case gets its own item");
    let shown_copy = env.json(&["show", &id_copy]);
    assert_eq!(shown_copy["source"], "court archive");
    assert_eq!(shown_copy["name"], "copy-of-a.bin");
    assert_eq!(json_strings(&shown_copy["cases"]), vec![SECOND]);

    id_copy
}

/// The second name in the same case is an acquisition on the first item's record.
fn check_acquisition(env: &Env, x: &[u8], id_x: &str) {
    let shown = env.json(&["show", id_x]);
    assert_eq!(shown["name"], "a.txt");
    assert_eq!(event_actions(&shown["custody"]), vec!["ingest", "acquire"]);
    let acq = &shown["custody"][1];
    assert_eq!(acq["details"]["name"], "b.txt");
    assert!(json_str(&acq["details"]["path"]).ends_with("src/b.txt"));
    assert_eq!(acq["details"]["source"], "first source");
    assert_eq!(acq["details"]["blake3"], blake3_hex(x).as_str());
    assert_eq!(acq["actor"], "tester");
}

/// Same content again into the same case, from another source, under another name.
fn ingest_again_under_another_name(env: &Env, x: &[u8], id_x: &str) {
    write(&env.path("later/renamed.dat"), x);
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
    assert_eq!(json_items(&again)[0]["id"], id_x);
    let shown = env.json(&["show", id_x]);
    // The new source and note become current through an annotation (issue 12.2).
    assert_eq!(
        event_actions(&shown["custody"]),
        vec!["ingest", "acquire", "acquire", "annotate"]
    );
    let acq = &shown["custody"][2];
    assert_eq!(acq["details"]["source"], "second source");
    assert_eq!(acq["details"]["note"], "handed in again");
    assert_eq!(acq["details"]["name"], "renamed.dat");
    assert!(acq["time"].is_string());
    // The item keeps its first name; the second source is its current one, and the first
    // lives in its history (issue 12.2: before, a re-ingest kept none of it).
    assert_eq!(shown["source"], "second source");
    assert_eq!(shown["note"], "handed in again");
    assert_eq!(shown["custody"][0]["details"]["source"], "first source");
    assert_eq!(shown["name"], "a.txt");
}

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
    let (id_x, id_y) = ingest_first(&env, &x);
    let id_copy = ingest_into_second_case(&env, &x, &id_x);

    let (code, report) = env.verify();
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["checked"]["items"], 3);
    assert_eq!(report["checked"]["contents"], 2, "x stored once");
    assert_eq!(report["checked"]["bytes"], (x.len() + y.len()) as u64);

    check_acquisition(&env, &x, &id_x);
    ingest_again_under_another_name(&env, &x, &id_x);

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

/// show, extract, link, log by an 8-character prefix (and by longer ones, in any case).
fn check_prefix_of_one_item(env: &Env, y: &[u8], hy: &str, id_y: &str) {
    let upper = hy[..12].to_ascii_uppercase();
    for prefix in [&hy[..8], &hy[..20], hy, upper.as_str()] {
        assert_eq!(env.json(&["show", prefix])["id"], id_y, "{prefix}");
    }
    let out = env.path("y.out");
    let done = env.json(&["extract", &hy[..8], "--out", arg(&out)]);
    assert_eq!(done["id"], id_y);
    assert_eq!(fs::read(&out).unwrap(), y);
    let linked = env.json(&["link", &hy[..8], "--case", SECOND]);
    assert_eq!(linked["id"], id_y);
    assert_eq!(
        json_strings(&env.json(&["show", id_y])["cases"]),
        vec![CASE, SECOND]
    );
    assert_eq!(
        event_actions(&env.json(&["log", "--evidence", &hy[..8]])["events"]),
        vec!["ingest", "extract", "link"]
    );
}

/// The same content as two items: `show` lists both (issue 12, tests/users/sha256.rs);
/// a command that needs one item refuses, and the message names both.
fn check_prefix_of_two_items(env: &Env, hx: &str, id_x1: &str, id_x2: &str) {
    for cmd in [
        vec!["link", &hx[..10], "--case", SECOND],
        vec!["log", "--evidence", &hx[..8]],
    ] {
        let stderr = env.refused(&cmd, 1);
        assert_one_sentence(&stderr);
        assert!(
            stderr.contains(id_x1) && stderr.contains(id_x2),
            "{cmd:?}: both ids named:\n{stderr}"
        );
    }
    let amb_out = env.path("ambiguous.out");
    let stderr = env.refused(&["extract", &hx[..8], "--out", arg(&amb_out)], 1);
    assert!(stderr.contains(id_x1) && stderr.contains(id_x2), "{stderr}");
    assert!(
        !amb_out.exists(),
        "nothing extracted on an ambiguous prefix"
    );
    let out = env.run(&["--json", "link", &hx[..8], "--case", SECOND]);
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "ambiguous_item");
}

/// Too short, not hex, or matching nothing.
fn check_bad_prefixes(env: &Env, hx: &str, hy: &str) {
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

    check_prefix_of_one_item(&env, &y, &hy, &id_y);
    check_prefix_of_two_items(&env, &hx, &id_x1, &id_x2);
    check_bad_prefixes(&env, &hx, &hy);
}
