//! Issue 9.10, 9.13 and 9.4: publish-then-commit exports, never replacing a user's output,
//! cleaning only custodia's own temporaries, and private bundle modes.

use super::*;

// ---------------------------------------------------------------------------------------------
// 9.10, 9.13, 9.4: export publishes safely and privately.

/// The actions of the archive's custody log, oldest first.
fn actions(env: &Env) -> Vec<String> {
    env.json(&["log"])["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

fn small_case() -> Env {
    let env = Env::with_case();
    let src = env.path("src");
    write(&src.join("statement.txt"), b"I saw the convoy.\n");
    env.ingest(&[&src]);
    env
}

#[test]
fn issue_9_10_a_failed_publish_commits_no_export_event() {
    let env = small_case();
    let before = actions(&env);
    let out = env.path("bundle");
    let run = env
        .cmd()
        .env("CUSTODIA_FAULT", "rename:1")
        .args(["export", "--case", CASE, "--out", arg(&out)])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert!(!out.exists(), "no bundle");
    assert_eq!(
        actions(&env),
        before,
        "no event for a bundle that does not exist"
    );
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("custodia-export"))
        .collect();
    assert!(left.is_empty(), "no temporary left: {left:?}");
}

#[test]
fn issue_9_10_an_output_made_during_the_export_is_never_replaced() {
    for with_file in [false, true] {
        let env = Env::with_case();
        let src = env.path("src");
        // Large enough that the export takes a moment to write and hash.
        write(&src.join("video.bin"), &noise(1, 96 << 20));
        env.ingest(&[&src]);
        let before = actions(&env);
        let out = env.path("bundle");
        let mut child = env
            .std_cmd()
            .args(["export", "--case", CASE, "--out", arg(&out)])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The user makes the output directory once the export has begun.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let started = std::fs::read_dir(env.dir.path()).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".bundle.custodia-export-")
            });
            if started || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::fs::create_dir(&out).unwrap();
        if with_file {
            write(&out.join("mine.txt"), b"the user's own file");
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(1),
            "with_file={with_file}: the export must fail"
        );
        let inside: Vec<String> = crate::util::bag_files(&out);
        let expected: Vec<String> = if with_file {
            vec!["mine.txt".into()]
        } else {
            vec![]
        };
        assert_eq!(inside, expected, "the user's directory is untouched");
        assert_eq!(
            actions(&env),
            before,
            "no export event for a bundle not published"
        );
    }
}

#[test]
fn issue_9_13_stale_temporary_cleanup_removes_only_custodias_own() {
    let env = small_case();
    let mine = env.path(".bundle.custodia-export-999997");
    write(
        &mine.join("notes.txt"),
        b"a user's own directory with an unlucky name",
    );
    let out = env.path("bundle");
    env.ok(&["export", "--case", CASE, "--out", arg(&out)]);
    assert!(
        mine.join("notes.txt").is_file(),
        "the user's directory survives"
    );

    // One a killed export left (it holds custodia's marker) is removed.
    let stale = env.path(".again.custodia-export-999996");
    write(
        &stale.join(".custodia-temporary"),
        b"custodia export in progress: this directory is custodia's own temporary, and may be removed once its process is gone\n",
    );
    write(&stale.join("data/case.json"), b"{}");
    env.ok(&["export", "--case", CASE, "--out", arg(&env.path("again"))]);
    assert!(
        !stale.exists(),
        "custodia's own stale temporary is cleaned up"
    );
    assert!(
        !env.path("again/.custodia-temporary").exists(),
        "no marker in the bundle"
    );
}

#[test]
fn issue_9_4_bundles_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let env = small_case();
    let out = env.path("bundle");
    let script = format!(
        "umask 022; exec '{}' --archive '{}' export --case {CASE} --out '{}'",
        env!("CARGO_BIN_EXE_custodia"),
        arg(&env.archive),
        arg(&out)
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .env("CUSTODIA_ACTOR", "tester")
        .env("XDG_CONFIG_HOME", env.config_home())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&out), 0o700, "the bundle directory");
    let mut dirs = vec![out.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                assert_eq!(mode(&p), 0o700, "{}", p.display());
                dirs.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            }
        }
    }
}
