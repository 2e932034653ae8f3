//! Entries that are skipped and names that are not what they seem: symlinks, FIFOs, sockets,
//! non-UTF-8 names and terminal escapes.

use super::*;

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
