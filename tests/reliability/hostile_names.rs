//! Hostile file names: stored exactly, shown escaped, exported safely.

use super::*;

// ---------------------------------------------------------------------------------------------
// 3. Hostile names everywhere

/// File names that could paint a terminal, reorder text, hide, or pass for something else.
fn hostile_names() -> Vec<Vec<u8>> {
    let mut long = "L".repeat(251).into_bytes();
    long.extend_from_slice(b".txt");
    assert_eq!(long.len(), 255, "the longest name ext4 and tmpfs allow");
    vec![
        b"bell\x07.txt".to_vec(),
        b"\x1b[32mOK\x1b[0m".to_vec(),
        b"cr\rOK.txt".to_vec(),
        "report\u{202e}fdp.exe".as_bytes().to_vec(),
        long,
        b"\xff\xfe.txt".to_vec(),
        b"..\\..\\x".to_vec(),
        b"-rf".to_vec(),
    ]
}

/// Bidirectional formatting characters and invisible marks that can reorder or hide text.
fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Human output must be text a terminal shows as it is: valid UTF-8 (an invalid name byte is
/// escaped), no control character but the line ends, no bidi override.
fn assert_shown_safely(what: &str, out: &Output) {
    if let Err(finding) = shown_safely(what, out) {
        panic!("{finding}");
    }
}

/// What `assert_shown_safely` checks, as a finding instead of a panic.
fn shown_safely(what: &str, out: &Output) -> Result<(), String> {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let Ok(s) = std::str::from_utf8(bytes) else {
            return Err(format!(
                "{what}: {stream} is not UTF-8, a raw name byte reached it:\n{}",
                text(bytes).escape_debug()
            ));
        };
        if s.contains("panicked") {
            return Err(format!("{what} panicked:\n{s}"));
        }
        if let Some(c) = s
            .chars()
            .find(|&c| (c.is_control() && c != '\n') || is_bidi_or_invisible(c))
        {
            return Err(format!(
                "{what}: a raw {c:?} on {stream}:\n{}",
                s.escape_debug().to_string().replace("\\n", "\n")
            ));
        }
    }
    Ok(())
}

/// `src/extract.rs::is_portable_name`, restated: one path component on every common OS,
/// at most 200 bytes, no leading dot, no trailing dot or space, no reserved device name, no
/// character Windows forbids, and nothing that shows differently escaped (control and bidi
/// characters, backslash).
fn is_portable(name: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(name) else {
        return false;
    };
    let reserved = [
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "LPT1", "LPT2", "LPT3",
    ];
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && !s.ends_with(['.', ' '])
        && !reserved.contains(&stem.as_str())
        && !s.chars().any(|c| {
            matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
                || c.is_control()
                || is_bidi_or_invisible(c)
        })
}

/// Every file under a directory, as (path relative to it, bytes of its last component).
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let e = e.expect("entry");
            let kind = e.file_type().expect("file type");
            if kind.is_dir() {
                stack.push(e.path());
            } else {
                out.push((
                    e.path().strip_prefix(dir).unwrap().to_path_buf(),
                    e.file_name().as_bytes().to_vec(),
                ));
            }
        }
    }
    out
}

/// Contents by name.
type Contents = BTreeMap<Vec<u8>, Vec<u8>>;

/// One file per hostile name in `dir`, each its own noise; returns the contents by name.
fn write_hostile_files(dir: &Path, names: &[Vec<u8>]) -> Contents {
    let mut contents: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let bytes = noise(500 + i as u64, 3000 + i);
        fs::write(dir.join(OsStr::from_bytes(name)), &bytes).expect("create a hostile name");
        contents.insert(name.clone(), bytes);
    }

    contents
}

/// Ingest, as a person at a terminal would: one line per item, every name escaped.
fn ingest_shown_safely(env: &Env, dir: &Path, names: &[Vec<u8>]) {
    let out = env.run(&["ingest", "--case", CASE, arg(dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_shown_safely("ingest", &out);
    let shown = text(&out.stdout);
    assert_eq!(shown.lines().count(), names.len(), "{shown}");
    for visible in [
        "bell", "[32mOK", "cr", "fdp.exe", "LLLL", ".txt", "..", "-rf",
    ] {
        assert!(
            shown.contains(visible),
            "ingest shows {visible:?}:\n{shown}"
        );
    }
}

/// Stored exactly: name_hex is the hex of the very bytes, the content is the file's; returns
/// the ids by name.
fn check_stored_exactly(
    env: &Env,
    names: &[Vec<u8>],
    contents: &Contents,
) -> BTreeMap<Vec<u8>, String> {
    let listed = env.json(&["list"]);
    let mut ids: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for item in json_items(&listed) {
        let name = hex::decode(json_str(&item["name_hex"])).expect("name_hex is hex");
        let bytes = contents
            .get(&name)
            .unwrap_or_else(|| panic!("a name that was not ingested: {item}"));
        assert_eq!(item["blake3"], blake3_hex(bytes), "{item}");
        assert_eq!(item["sha256"], sha256_hex(bytes), "{item}");
        if let Ok(s) = std::str::from_utf8(&name) {
            assert_eq!(item["name"], s, "a UTF-8 name is kept as it is in JSON");
        }
        ids.insert(name, json_str(&item["id"]).to_owned());
    }
    assert_eq!(ids.len(), names.len(), "{listed:#}");

    ids
}

/// Every human view of them.
fn check_human_views(env: &Env, ids: &BTreeMap<Vec<u8>, String>) {
    let mut views: Vec<Vec<String>> = vec![
        vec!["list".into()],
        vec!["log".into()],
        vec!["case".into(), "show".into(), CASE.into()],
        vec!["case".into(), "list".into()],
    ];
    for id in ids.values() {
        views.push(vec!["show".into(), id.clone()]);
        views.push(vec!["log".into(), "--evidence".into(), id.clone()]);
    }
    for view in &views {
        let args: Vec<&str> = view.iter().map(String::as_str).collect();
        let out = env.run(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_shown_safely(&format!("{args:?}"), &out);
    }
    let list = env.ok(&["list"]);
    for id in ids.values() {
        assert!(list.contains(id.as_str()), "list shows {id}:\n{list}");
    }
}

/// Exported: a valid bag (bagit-python, verify --bundle); returns the bag.
fn export_valid_bag(env: &Env) -> PathBuf {
    let bag = env.path("bag");
    let out = env.run(&["export", "--case", CASE, "--out", arg(&bag)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_shown_safely("export", &out);
    let bagit = Command::new("python3")
        .args(["-m", "bagit", "--validate"])
        .arg(&bag)
        .output()
        .expect("bagit-python (run .ci/setup)");
    assert!(
        bagit.status.success(),
        "bagit-python rejects the bag:\n{}{}",
        text(&bagit.stdout),
        text(&bagit.stderr)
    );
    let checked = Env::new().run(&["--json", "verify", "--bundle", arg(&bag)]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "verify --bundle:\n{}\n{}",
        text(&checked.stdout),
        text(&checked.stderr)
    );
    bag
}

/// The bag's payload names are all portable, with the exact bytes kept.
fn check_exported_names(
    bag: &Path,
    names: &[Vec<u8>],
    contents: &Contents,
    ids: &BTreeMap<Vec<u8>, String>,
) {
    let evidence_files = files_under(&bag.join("data/evidence"));
    assert_eq!(evidence_files.len(), names.len(), "{evidence_files:?}");
    for (rel, name) in &evidence_files {
        assert!(
            is_portable(name),
            "data/evidence/{}: not a portable name",
            rel.display()
        );
    }
    // "-rf" is portable (a leading dash is allowed), so it keeps its name.
    let rf = format!("{}/-rf", ids[b"-rf".as_slice()]);
    assert!(
        evidence_files.iter().any(|(rel, _)| rel == Path::new(&rf)),
        "{rf} in {evidence_files:?}"
    );
    let evidence: Value =
        serde_json::from_slice(&fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    let items = evidence["items"].as_array().expect("evidence.json items");
    assert_eq!(items.len(), names.len());
    for item in items {
        let name = hex::decode(json_str(&item["name_hex"])).expect("name_hex");
        let bytes = contents
            .get(&name)
            .unwrap_or_else(|| panic!("evidence.json: name_hex of no ingested name: {item}"));
        assert_eq!(item["id"], ids[&name].as_str(), "{item}");
        let file = bag.join(json_str(&item["file"]));
        assert_eq!(
            &fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
            bytes,
            "{item}"
        );
    }
}

/// Damaged: verify names the item and still shows nothing raw.
fn check_damaged(env: &Env, ansi: &[u8], contents: &Contents, ids: &BTreeMap<Vec<u8>, String>) {
    let damaged = &ids[ansi];
    let chunk = hex::decode(blake3_hex(&contents[ansi])).unwrap();
    let mut stored = env.chunk_record(&chunk);
    assert_eq!((stored[0], stored[1]), (1, 0), "a raw chunk record");
    let at = 6 + (stored.len() - 6) / 2;
    stored[at] ^= 0x01;
    env.set_chunk_record(&chunk, Some(&stored));
    let out = env.run(&["verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert_shown_safely("verify of a damaged hostile-named item", &out);
    assert!(text(&out.stdout).contains(damaged.as_str()));
    let (code, report) = env.verify();
    assert_eq!(code, 3);
    let named: BTreeSet<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                json_str(&p["kind"]).to_owned(),
                p["id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        named,
        BTreeSet::from([("content_damaged".to_owned(), damaged.clone())]),
        "{report:#}"
    );
    let out = env.run(&["extract", damaged, "--out", arg(&env.path("damaged.out"))]);
    assert_eq!(out.status.code(), Some(3));
    assert_shown_safely("extract of a damaged hostile-named item", &out);
}

/// Error messages that name a hostile path, each checked (last: nothing above depends on
/// them, and every one that fails is reported).
fn check_error_messages(env: &Env, names: &[Vec<u8>], ids: &BTreeMap<Vec<u8>, String>) {
    let ansi = &names[1];
    let mut f = Findings::default();
    let existing = env.path("out").join(OsStr::from_bytes(ansi));
    write(&existing, b"already here\n");
    let id = &ids[ansi];
    let out = env
        .std_cmd()
        .args(["extract", id, "--out"])
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        fs::read(&existing).unwrap(),
        b"already here\n",
        "left as it was"
    );
    let shown = shown_safely("extract onto an existing hostile path", &out);
    f.check(shown.is_ok(), || shown.unwrap_err());
    let out = env
        .std_cmd()
        .args(["--json", "extract", id, "--out"])
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_error(&text(&out.stderr), "extract --json").0,
        "output_exists"
    );
    let shown = shown_safely("extract --json onto an existing hostile path", &out);
    f.check(shown.is_ok(), || shown.unwrap_err());
    for name in [ansi, &names[2], &names[3], &names[5]] {
        let missing = env.path("gone").join(OsStr::from_bytes(name));
        let out = env
            .std_cmd()
            .args(["ingest", "--case", CASE])
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let shown = shown_safely(&format!("ingest of a missing path {:?}", text(name)), &out);
        f.check(shown.is_ok(), || shown.unwrap_err());
    }
    f.finish();
}

#[test]
fn hostile_names_are_stored_exactly_shown_escaped_and_exported_safely() {
    let env = Env::with_case();
    let dir = env.path("hostile");
    fs::create_dir_all(&dir).unwrap();
    let names = hostile_names();
    let ansi = &names[1];
    let contents = write_hostile_files(&dir, &names);
    ingest_shown_safely(&env, &dir, &names);
    let ids = check_stored_exactly(&env, &names, &contents);
    check_human_views(&env, &ids);
    let bag = export_valid_bag(&env);
    check_exported_names(&bag, &names, &contents, &ids);
    check_damaged(&env, ansi, &contents, &ids);
    check_error_messages(&env, &names, &ids);
}
