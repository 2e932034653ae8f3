//! Hostile bags given to `verify --bundle`: paths that leave the bag, symlinks, garbage and
//! invalid UTF-8 in tag files, malformed JSON, random bytes. Each is a finding, never a panic,
//! and nothing outside the bag is read.

use super::*;

// ---------------------------------------------------------------------------------------------
// 6. Hostile bundles.

/// A directory tree's files and their bytes, to prove nothing outside a bag was written.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// A hostile bag: findings (exit 3), no panic. Returns them.
fn hostile(bag: &Path, what: &str) -> BTreeSet<(String, String)> {
    damaged(bag, what)
}

/// Appends a line to a file.
fn append(path: &Path, bytes: &[u8]) {
    let mut all = std::fs::read(path).unwrap();
    all.extend_from_slice(bytes);
    std::fs::write(path, all).unwrap();
}

#[test]
fn hostile_manifest_paths_are_refused_without_leaving_the_bag() {
    let x = exported();
    // outer/secret lies two levels above the bag; ../../secret from the bag names it.
    let outer = x.env.path("outer");
    let secret = b"outside the bag: must never be read".to_vec();
    write(&outer.join("secret"), &secret);
    let template = outer.join("inner/template");
    copy_tree(&x.bag, &template);
    let before = snapshot(&x.env.path("outer"));
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    let cases: Vec<(&str, &str, String)> = vec![
        ("manifest-sha256.txt", "../../secret", sha256_hex(&secret)),
        ("manifest-sha256.txt", "/etc/passwd", sha256_hex(&passwd)),
        ("manifest-sha256.txt", "data/../x", sha256_hex(b"")),
        (
            "manifest-sha256.txt",
            "data/../../../secret",
            sha256_hex(&secret),
        ),
        (
            "manifest-sha256.txt",
            "data\\..\\..\\secret",
            sha256_hex(&secret),
        ),
        ("manifest-blake3.txt", "../../secret", blake3_hex(&secret)),
        ("manifest-sha512.txt", "/etc/passwd", sha512_hex(&passwd)),
        (
            "tagmanifest-sha256.txt",
            "../../secret",
            sha256_hex(&secret),
        ),
        ("tagmanifest-sha512.txt", "/etc/passwd", sha512_hex(&passwd)),
    ];
    for (manifest, path, hex) in cases {
        let what = format!("{manifest} lists {path:?}");
        let bag = outer.join("inner/bag");
        if bag.exists() {
            std::fs::remove_dir_all(&bag).unwrap();
        }
        copy_tree(&template, &bag);
        append(&bag.join(manifest), format!("{hex}  {path}\n").as_bytes());
        if !manifest.starts_with("tag") {
            reseal_tag_manifests(&bag);
        }
        let found = hostile(&bag, &what);
        assert_eq!(
            found,
            BTreeSet::from([finding("path_unsafe", manifest)]),
            "{what}"
        );
    }
    std::fs::remove_dir_all(outer.join("inner/bag")).unwrap();
    assert_eq!(snapshot(&outer), before, "nothing outside the bag changed");
}

#[test]
fn symlinks_in_a_bag_are_path_unsafe_and_not_followed() {
    let x = exported();
    let outside = x.env.path("outside");
    let fixture = "documents/court-ruling.pdf";
    let rel = x.payload_rel(fixture);
    // The forger's copy of the original bytes, outside the bag: if verify followed the link,
    // every manifest would match.
    write(
        &outside.join("court-ruling.pdf"),
        &std::fs::read(x.bag.join(&rel)).unwrap(),
    );
    let before = snapshot(&outside);
    std::fs::remove_file(x.bag.join(&rel)).unwrap();
    std::os::unix::fs::symlink(outside.join("court-ruling.pdf"), x.bag.join(&rel)).unwrap();
    let found = hostile(&x.bag, "evidence file replaced by a symlink");
    has(&found, "path_unsafe", &rel, "symlinked evidence");
    has(&found, "file_missing", &rel, "a link is not a payload file");
    has(
        &found,
        "file_missing",
        x.id(fixture),
        "its item has no file",
    );
    only_kinds(
        &found,
        &["path_unsafe", "file_missing", "bag_invalid"],
        "symlinked evidence",
    );
    std::fs::remove_file(x.bag.join(&rel)).unwrap();
    std::fs::copy(outside.join("court-ruling.pdf"), x.bag.join(&rel)).unwrap();
    assert_eq!(verify_bundle(&x.bag).0, 0, "restored");

    // A directory link inside data/, and a link at the top pointing at /etc.
    std::os::unix::fs::symlink(&outside, x.bag.join("data/outside")).unwrap();
    let found = hostile(&x.bag, "directory symlink in data/");
    assert_eq!(
        found,
        BTreeSet::from([finding("path_unsafe", "data/outside")])
    );
    std::fs::remove_file(x.bag.join("data/outside")).unwrap();
    std::os::unix::fs::symlink("/etc", x.bag.join("etc")).unwrap();
    let found = hostile(&x.bag, "symlink at the top");
    assert_eq!(found, BTreeSet::from([finding("path_unsafe", "etc")]));
    std::fs::remove_file(x.bag.join("etc")).unwrap();

    // bag-info.txt itself a link to a file outside.
    write(
        &outside.join("bag-info.txt"),
        &std::fs::read(x.bag.join("bag-info.txt")).unwrap(),
    );
    std::fs::remove_file(x.bag.join("bag-info.txt")).unwrap();
    std::os::unix::fs::symlink(outside.join("bag-info.txt"), x.bag.join("bag-info.txt")).unwrap();
    let found = hostile(&x.bag, "bag-info.txt is a symlink");
    has(&found, "path_unsafe", "bag-info.txt", "bag-info symlink");
    std::fs::remove_file(outside.join("bag-info.txt")).unwrap();
    assert_eq!(
        snapshot(&outside),
        before,
        "nothing outside the bag changed"
    );
}

/// A fresh copy of the template bag, named `name`.
fn fresh_bag(x: &Exported, template: &Path, name: &str) -> PathBuf {
    let bag = x.env.path(name);
    copy_tree(template, &bag);
    bag
}

/// A hostile Payload-Oxum with the tag manifests made to agree, so bag-info is the only fault.
fn check_hostile_payload_oxums(x: &Exported, template: &Path) {
    let fresh = |name: &str| fresh_bag(x, template, name);
    let set_oxum = |bag: &Path, oxum: &str| {
        set_payload_oxum(bag, oxum);
        reseal_tag_manifests(bag);
    };
    for (i, oxum) in [
        "99999999999999999.1",
        "184467440737095516160000.99999999999999999999",
        "-1.-1",
        "x",
    ]
    .iter()
    .enumerate()
    {
        let bag = fresh(&format!("oxum{i}"));
        set_oxum(&bag, oxum);
        let found = hostile(&bag, &format!("Payload-Oxum {oxum}"));
        assert_eq!(
            found,
            BTreeSet::from([finding("bag_invalid", "bag-info.txt")]),
            "Payload-Oxum {oxum}"
        );
    }
}

/// Invalid UTF-8 in a manifest: it is unusable, so every payload file is unlisted in it.
fn check_invalid_utf8_manifest(x: &Exported, template: &Path) {
    let fresh = |name: &str| fresh_bag(x, template, name);
    let bag = fresh("utf8-manifest");
    append(
        &bag.join("manifest-sha256.txt"),
        b"\xff\xfe\x80  data/\xc3\x28.txt\n",
    );
    reseal_tag_manifests(&bag);
    let found = hostile(&bag, "invalid UTF-8 in manifest-sha256.txt");
    has(
        &found,
        "bag_invalid",
        "manifest-sha256.txt",
        "invalid UTF-8 manifest",
    );
    has(
        &found,
        "file_unlisted",
        "data/custody.jsonl",
        "invalid UTF-8 manifest",
    );
    only_kinds(
        &found,
        &["bag_invalid", "file_unlisted"],
        "invalid UTF-8 manifest",
    );
}

/// Invalid UTF-8 in bag-info: no field of it can be trusted.
fn check_invalid_utf8_bag_info(x: &Exported, template: &Path) {
    let fresh = |name: &str| fresh_bag(x, template, name);
    let bag = fresh("utf8-info");
    append(&bag.join("bag-info.txt"), b"Contact-Name: \xff\xfe\n");
    reseal_tag_manifests(&bag);
    let found = hostile(&bag, "invalid UTF-8 in bag-info.txt");
    has(
        &found,
        "bag_invalid",
        "bag-info.txt",
        "invalid UTF-8 bag-info",
    );
    only_kinds(
        &found,
        &["bag_invalid", "head_mismatch", "metadata_mismatch"],
        "invalid UTF-8 bag-info",
    );
}

/// Garbage lines in bag-info and in a manifest.
fn check_garbage_lines(x: &Exported, template: &Path) {
    let fresh = |name: &str| fresh_bag(x, template, name);
    let bag = fresh("garbage-info");
    append(&bag.join("bag-info.txt"), b"no label on this line\n");
    reseal_tag_manifests(&bag);
    let found = hostile(&bag, "a bag-info line without a label");
    has(&found, "bag_invalid", "bag-info.txt", "garbage bag-info");
    let bag = fresh("garbage-manifest");
    append(
        &bag.join("manifest-sha512.txt"),
        b"abc  data/case.json\n\n\0\0\0\n",
    );
    reseal_tag_manifests(&bag);
    let found = hostile(&bag, "garbage lines in manifest-sha512.txt");
    assert_eq!(
        found,
        BTreeSet::from([finding("bag_invalid", "manifest-sha512.txt")])
    );
}

/// A file whose name is not UTF-8, under data/.
fn check_non_utf8_name(x: &Exported, template: &Path) {
    let fresh = |name: &str| fresh_bag(x, template, name);
    let bag = fresh("utf8-name");
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.txt");
        std::fs::write(bag.join("data").join(name), b"x").unwrap();
    }
    let found = hostile(&bag, "a file name that is not UTF-8");
    assert!(
        found
            .iter()
            .any(|(k, i)| k == "path_unsafe" && i.starts_with("data/")),
        "{found:#?}"
    );
}

#[test]
fn hostile_bag_info_and_manifest_bytes_give_findings() {
    let x = exported();
    let template = x.env.path("template");
    copy_tree(&x.bag, &template);
    check_hostile_payload_oxums(&x, &template);
    check_invalid_utf8_manifest(&x, &template);
    check_invalid_utf8_bag_info(&x, &template);
    check_garbage_lines(&x, &template);
    check_non_utf8_name(&x, &template);
}

/// A copy of the template bag named `name` with `file` replaced by `bytes`, resealed.
fn forged_bag(x: &Exported, template: &Path, name: &str, file: &str, bytes: &[u8]) -> PathBuf {
    let bag = x.env.path(name);
    copy_tree(template, &bag);
    std::fs::write(bag.join(file), bytes).unwrap();
    reseal_bag(&bag);
    bag
}

/// evidence.json that is not the document: truncated, empty, not UTF-8, the wrong shape,
/// deeply nested.
fn check_malformed_evidence_documents(x: &Exported, template: &Path, deep: &str) {
    let forged = |name: &str, file: &str, bytes: &[u8]| forged_bag(x, template, name, file, bytes);
    for (i, evidence) in [
        b"{\"items\": [".to_vec(),
        b"".to_vec(),
        b"\xff\xfe{}".to_vec(),
        b"[]".to_vec(),
        b"{\"items\": 5}".to_vec(),
        deep.to_owned().into_bytes(),
        format!("{{\"items\": {deep}}}").into_bytes(),
    ]
    .iter()
    .enumerate()
    {
        let what = format!("evidence.json #{i}");
        let bag = forged(&format!("evidence{i}"), "data/evidence.json", evidence);
        let found = hostile(&bag, &what);
        has(&found, "metadata_mismatch", "data/evidence.json", &what);
        // With no item to account for them, the payload files are unclaimed.
        only_kinds(&found, &["metadata_mismatch", "file_unlisted"], &what);
    }
}

/// Items of the wrong shape, and one whose file points out of the bag.
fn check_evidence_items_of_wrong_shape(x: &Exported, template: &Path) {
    let forged = |name: &str, file: &str, bytes: &[u8]| forged_bag(x, template, name, file, bytes);
    let ruling = x.id("documents/court-ruling.pdf").to_owned();
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(template.join("data/evidence.json")).unwrap())
            .unwrap();
    let mut wrong = evidence.clone();
    let items = wrong["items"].as_array_mut().unwrap();
    let at = items
        .iter()
        .position(|i| i["id"] == ruling.as_str())
        .unwrap();
    items[at]["file"] = Value::String("../../../etc/passwd".into());
    items.push(serde_json::json!({"id": 5, "file": ["x"], "size": "big"}));
    items.push(serde_json::json!("not an object"));
    let bag = forged(
        "evidence-shapes",
        "data/evidence.json",
        &serde_json::to_vec_pretty(&wrong).unwrap(),
    );
    let found = hostile(&bag, "evidence.json items of the wrong shape");
    has(
        &found,
        "file_missing",
        &ruling,
        "an item's file outside the bag",
    );
    has(
        &found,
        "file_unlisted",
        &x.payload_rel("documents/court-ruling.pdf"),
        "its real file is unclaimed",
    );
    has(
        &found,
        "metadata_mismatch",
        "data/evidence.json",
        "items not those of the export event",
    );
    only_kinds(
        &found,
        &["metadata_mismatch", "file_missing", "file_unlisted"],
        "evidence.json shapes",
    );
}

/// custody.jsonl: a line that is not JSON, is JSON but not an event, invalid UTF-8, NULs,
/// a huge seq, deeply nested.
fn check_malformed_custody_lines(x: &Exported, template: &Path, deep: &str) {
    let forged = |name: &str, file: &str, bytes: &[u8]| forged_bag(x, template, name, file, bytes);
    let ruling = x.id("documents/court-ruling.pdf").to_owned();
    let lines = custody_lines(template);
    let ruling_line = x.line_of(&lines, "ingest", "documents/court-ruling.pdf");
    let replaced = |line: &[u8]| {
        let mut l = lines.clone();
        l[ruling_line] = line.to_vec();
        let mut bytes = l.join(&b'\n');
        bytes.push(b'\n');
        bytes
    };
    let line_id = format!("line {}", ruling_line + 1);
    for (i, (what, bytes)) in [
        ("not JSON", replaced(b"{not json")),
        ("JSON, not an event", replaced(b"[]")),
        ("invalid UTF-8", replaced(b"{\"action\":\"ingest\xff\"}")),
        ("NUL bytes", replaced(b"\0\0\0\0")),
        ("a huge seq", replaced(b"{\"seq\": 1e999999}")),
        ("deep nesting", replaced(deep.as_bytes())),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("custody.jsonl: {what}");
        let bag = forged(&format!("custody-line{i}"), "data/custody.jsonl", &bytes);
        let found = hostile(&bag, &what);
        has(&found, "chain_broken", &line_id, &what);
        has(&found, "item_chain_broken", &ruling, &what);
        only_kinds(&found, &["chain_broken", "item_chain_broken"], &what);
        let (rust, python_ok, _) = independent_checks(&bag);
        assert!(
            !rust.is_empty() && !python_ok,
            "{what}: independent checks must fail"
        );
    }
}

/// custody.jsonl as a whole: no final newline, empty, one newline, only garbage.
fn check_malformed_custody_files(x: &Exported, template: &Path) {
    let forged = |name: &str, file: &str, bytes: &[u8]| forged_bag(x, template, name, file, bytes);
    let whole = std::fs::read(template.join("data/custody.jsonl")).unwrap();
    for (i, (what, bytes)) in [
        ("no final newline", whole[..whole.len() - 1].to_vec()),
        ("empty", Vec::new()),
        ("one newline", b"\n".to_vec()),
        ("only garbage", b"\xff\xff\xff\n".to_vec()),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("custody.jsonl: {what}");
        let bag = forged(&format!("custody-whole{i}"), "data/custody.jsonl", &bytes);
        let found = hostile(&bag, &what);
        assert!(
            found.iter().any(|(k, _)| k == "chain_broken"),
            "{what}: {found:#?}"
        );
    }
}

#[test]
fn malformed_json_in_evidence_and_custody_gives_findings() {
    let x = exported();
    let template = x.env.path("template");
    copy_tree(&x.bag, &template);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    check_malformed_evidence_documents(&x, &template, &deep);
    check_evidence_items_of_wrong_shape(&x, &template);
    // custody.jsonl: a line that is not JSON, is JSON but not an event, invalid UTF-8, NULs,
    // no final newline, empty, deeply nested.
    check_malformed_custody_lines(&x, &template, &deep);
    check_malformed_custody_files(&x, &template);
}

#[test]
fn empty_dir_plain_file_and_missing_dir() {
    let env = Env::new();
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let found = hostile(&empty, "an empty directory");
    has(&found, "bag_invalid", "bagit.txt", "empty dir");
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "verify wrote into the bundle"
    );

    let file = env.path("file");
    write(&file, b"BagIt-Version: 1.0\n");
    for (path, what) in [
        (file.clone(), "a plain file"),
        (env.path("missing"), "a missing directory"),
    ] {
        let out = env.run(&["verify", "--bundle", arg(&path)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: exit 1\n{stderr}");
        crate::util::assert_one_sentence(&stderr);
        assert!(
            text(&out.stdout).trim().is_empty(),
            "{what}: nothing on stdout"
        );
        let out = env.run(&["--json", "verify", "--bundle", arg(&path)]);
        assert_eq!(out.status.code(), Some(1), "{what} (--json)");
        let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| {
            panic!(
                "{what}: --json error is not JSON ({e}): {}",
                text(&out.stderr)
            )
        });
        assert!(err["error"]["kind"].is_string(), "{what}: {err}");
    }
    assert!(
        !env.path("missing").exists(),
        "verify created the missing directory"
    );
}

#[test]
fn random_bytes_in_any_tag_file_are_findings_never_a_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let x = exported();
    let originals: Vec<(&str, Vec<u8>)> = TAG_FILES
        .iter()
        .map(|f| (*f, std::fs::read(x.bag.join(f)).unwrap()))
        .collect();
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(any::<u8>(), 0..600), |bytes| {
        for (file, original) in &originals {
            if bytes == *original {
                continue;
            }
            std::fs::write(x.bag.join(file), &bytes).unwrap();
            let (code, report, stderr) = verify_bundle(&x.bag);
            std::fs::write(x.bag.join(file), original).unwrap();
            prop_assert!(
                !stderr.contains("panicked"),
                "{} panicked: {}",
                file,
                stderr
            );
            prop_assert_eq!(
                code,
                3,
                "random {} must be a finding: {} {}",
                file,
                report,
                stderr
            );
            prop_assert!(!findings(&report).is_empty());
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(verify_bundle(&x.bag).0, 0, "restored bag");
}
