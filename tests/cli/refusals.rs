//! Refusals: unknown cases and items, usage errors, missing inputs and archives, existing
//! archives; each is one sentence (or one JSON error object), the right exit code, and changes
//! nothing.

use super::*;

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
    // A day alone is a date since issue 12 (tests/users/dates.rs); a time needs a zone.
    for date in [
        "yesterday",
        "02/03/2024",
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
