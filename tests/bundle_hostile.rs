//! Hostile bundles and hostile surroundings of an export (issue 9, bundle findings 9.3,
//! 9.4, 9.8, 9.9, 9.10, 9.12, 9.13), each driven through the binary as the attacker did.
//!
//! A forger edits a genuine bundle and then recomputes every manifest, tag manifest and
//! Payload-Oxum (`reseal_bag`), so bagit-python accepts the result and only custodia's own
//! checks against the custody events can give the edit away.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    Env, arg, copy_tree, noise, problem_pairs, reseal_bag, set_payload_oxum, text,
    verify_bundle_json, write,
};

const CASE: &str = "BY-2024-017";

/// A small case exported: two items of different sizes, the first also linked to a second case.
struct Exported {
    env: Env,
    bag: PathBuf,
    /// (id, name) of each item, the statement first.
    items: Vec<(String, String)>,
}

impl Exported {
    fn payload(&self, i: usize) -> String {
        let (id, name) = &self.items[i];
        format!("data/evidence/{id}/{name}")
    }

    /// A fresh copy of the genuine bag to forge.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.env.path(name);
        copy_tree(&self.bag, &to);
        to
    }
}

fn exported_with(title: &str, export_args: &[&str]) -> Exported {
    let env = Env::new();
    env.ok(&["init"]);
    env.ok(&["case", "create", CASE, "--title", title]);
    env.ok(&["case", "create", "BY-2024-018", "--title", "Second"]);
    let src = env.path("src");
    write(&src.join("statement.txt"), b"I saw the convoy at 14:05.\n");
    write(&src.join("photo.jpg"), &noise(7, 5000));
    let report = env.ingest(&[&src.join("statement.txt"), &src.join("photo.jpg")]);
    let items: Vec<(String, String)> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let name = Path::new(i["path"].as_str().unwrap()).file_name().unwrap();
            (
                i["id"].as_str().unwrap().to_owned(),
                name.to_str().unwrap().to_owned(),
            )
        })
        .collect();
    env.ok(&["link", &items[0].0, "--case", "BY-2024-018"]);
    let bag = env.path("bundle");
    let mut args = vec!["export", "--case", CASE, "--out", arg(&bag)];
    args.extend_from_slice(export_args);
    env.ok(&args);
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 0, "the genuine bundle verifies: {report:#}");
    Exported { env, bag, items }
}

fn exported() -> Exported {
    exported_with("Test case", &[])
}

/// `python3 -m bagit --validate BAG`: (valid, its log).
fn bagit_validate(bag: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .args(["-m", "bagit", "--validate", arg(bag)])
        .output()
        .expect("python3 runs; .ci/setup installs bagit-python");
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !log.contains("No module named bagit"),
        "run .ci/setup: {log}"
    );
    (out.status.success(), log)
}

/// verify --bundle exits 3 with at least `expected` among its findings.
fn finds(bag: &Path, expected: &[(&str, &str)], what: &str) -> BTreeSet<(String, String)> {
    let (code, report, stderr) = verify_bundle_json(bag);
    assert_eq!(code, 3, "{what}: exit 3 expected\n{report:#}\n{stderr}");
    let found = problem_pairs(&report);
    for (kind, id) in expected {
        assert!(
            found.contains(&(kind.to_string(), id.to_string())),
            "{what}: expected {kind} naming {id}, got {found:#?}"
        );
    }
    found
}

/// Edits evidence.json's entry of item `id` with `edit`.
fn edit_evidence(bag: &Path, id: &str, edit: impl FnOnce(&mut Value)) {
    let path = bag.join("data/evidence.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let item = doc["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["id"] == id)
        .unwrap();
    edit(item);
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 9.3: relabelled or added payload.

#[test]
fn issue_9_3_swapped_items_with_their_file_fields_are_found() {
    let x = exported();
    let bag = x.copy("swapped");
    let (a, b) = (x.payload(0), x.payload(1));
    let (ba, bb) = (
        std::fs::read(bag.join(&a)).unwrap(),
        std::fs::read(bag.join(&b)).unwrap(),
    );
    // Each item's bytes move into the other's folder, and its `file` follows them.
    let (a2, b2) = (
        format!("data/evidence/{}/{}", x.items[1].0, x.items[0].1),
        format!("data/evidence/{}/{}", x.items[0].0, x.items[1].1),
    );
    std::fs::remove_file(bag.join(&a)).unwrap();
    std::fs::remove_file(bag.join(&b)).unwrap();
    write(&bag.join(&a2), &ba);
    write(&bag.join(&b2), &bb);
    edit_evidence(&bag, &x.items[0].0, |i| i["file"] = a2.clone().into());
    edit_evidence(&bag, &x.items[1].0, |i| i["file"] = b2.clone().into());
    reseal_bag(&bag);
    let (valid, log) = bagit_validate(&bag);
    assert!(valid, "the forger's bag passes bagit-python:\n{log}");
    let found = finds(
        &bag,
        &[
            ("metadata_mismatch", &x.items[0].0),
            ("metadata_mismatch", &x.items[1].0),
        ],
        "swapped with file fields",
    );
    // The files at paths no ingest event gives are not part of the bundle.
    assert!(found.contains(&("file_unlisted".into(), a2)), "{found:#?}");
}

#[test]
fn issue_9_3_a_file_planted_anywhere_in_the_bag_is_found() {
    let x = exported();
    for planted in [
        "data/annex/instructions.txt",
        "data/evidence/readme-first.txt",
        "NOTICE.txt",
        "data/annex/deeper/still/x.bin",
    ] {
        let bag = x.copy(&format!("planted-{}", planted.replace('/', "-")));
        write(&bag.join(planted), b"trust this file instead");
        reseal_bag(&bag);
        let (valid, log) = bagit_validate(&bag);
        assert!(valid, "{planted}: bagit-python accepts it:\n{log}");
        finds(&bag, &[("file_unlisted", planted)], planted);
    }
}

#[test]
fn issue_9_3_replaced_readme_case_title_and_evidence_fields_are_found() {
    let x = exported();
    let id = x.items[0].0.clone();
    type Forge<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Forge<'_>, (&str, String))> = vec![
        (
            "README-VERIFY.txt rewritten",
            Box::new(|bag: &Path| {
                let readme = bag.join("data/README-VERIFY.txt");
                let text = std::fs::read_to_string(&readme).unwrap();
                let forged = text.replace("bagit.py --validate .", "echo OK           .");
                assert_ne!(text, forged);
                std::fs::write(readme, forged).unwrap();
            }),
            ("metadata_mismatch", "data/README-VERIFY.txt".into()),
        ),
        (
            "README-VERIFY.txt replaced by a shorter text",
            Box::new(|bag: &Path| {
                std::fs::write(bag.join("data/README-VERIFY.txt"), "No need to check.\n").unwrap()
            }),
            ("metadata_mismatch", "data/README-VERIFY.txt".into()),
        ),
        (
            "case.json title",
            Box::new(|bag: &Path| {
                let path = bag.join("data/case.json");
                let mut case: Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                case["title"] = "Another investigation".into();
                std::fs::write(path, serde_json::to_vec_pretty(&case).unwrap()).unwrap();
            }),
            ("metadata_mismatch", "data/case.json".into()),
        ),
        (
            "evidence.json name",
            Box::new(|bag: &Path| edit_evidence(bag, &id, |i| i["name"] = "confession.txt".into())),
            ("metadata_mismatch", id.clone()),
        ),
        (
            "evidence.json path",
            Box::new(|bag: &Path| edit_evidence(bag, &id, |i| i["path"] = "/home/w/x.txt".into())),
            ("metadata_mismatch", id.clone()),
        ),
        (
            "evidence.json cases",
            Box::new(|bag: &Path| {
                edit_evidence(bag, &id, |i| i["cases"] = serde_json::json!([CASE]))
            }),
            ("metadata_mismatch", id.clone()),
        ),
        (
            "evidence.json attachments",
            Box::new(|bag: &Path| {
                edit_evidence(bag, &id, |i| {
                    i["attachments"] = serde_json::json!(["EV-000009"])
                })
            }),
            ("metadata_mismatch", id.clone()),
        ),
    ];
    for (n, (what, forge, (kind, named))) in cases.into_iter().enumerate() {
        let bag = x.copy(&format!("forged{n}"));
        forge(&bag);
        reseal_bag(&bag);
        let (valid, log) = bagit_validate(&bag);
        assert!(valid, "{what}: bagit-python accepts it:\n{log}");
        finds(&bag, &[(kind, &named)], what);
    }
}

// ---------------------------------------------------------------------------------------------
// 9.8: bag-info injection through Unicode line breaks.

/// Python's `str.splitlines()` line breaks, as bagit-python reads tag files.
fn python_lines(text: &str) -> Vec<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, json; print(json.dumps(sys.stdin.read().splitlines()))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3 runs");
    serde_json::from_slice(&out.stdout).expect("a JSON list of lines")
}

#[test]
fn issue_9_8_unicode_line_breaks_cannot_inject_bag_info_fields() {
    let x = exported_with(
        "Title\u{2028}Payload-Oxum: 1.1",
        &[
            "--contact",
            "Legal\u{85}team\u{2029}x",
            "--organization",
            "Centre\u{b}Other-Label\u{c}y\u{1e}z",
        ],
    );
    let info = std::fs::read_to_string(x.bag.join("bag-info.txt")).unwrap();
    let lines = python_lines(&info);
    let oxum = lines
        .iter()
        .filter(|l| l.starts_with("Payload-Oxum"))
        .count();
    assert_eq!(oxum, 1, "one Payload-Oxum for bagit-python: {lines:#?}");
    assert_eq!(
        lines.len(),
        info.matches('\n').count(),
        "no value splits a line: {lines:#?}"
    );
    let (valid, log) = bagit_validate(&x.bag);
    assert!(valid, "bagit-python accepts the bag:\n{log}");

    // A forger puts the breaks back: custodia must read bag-info as bagit-python does.
    let template = x.copy("template");
    let forged: Vec<(&str, String, bool)> = vec![
        (
            "a second Payload-Oxum after U+2028",
            info.replacen(
                "External-Description: Title",
                "External-Description: Title\u{2028}Payload-Oxum: 1.1",
                1,
            ),
            true,
        ),
        (
            "a Contact-Name broken by U+0085",
            info.replacen("Contact-Name: Legal", "Contact-Name: Legal\u{85}team", 1),
            false,
        ),
        (
            "a Contact-Name broken by U+2028",
            info.replacen("Contact-Name: Legal", "Contact-Name: Legal\u{2028}team", 1),
            false,
        ),
    ];
    for (n, (what, text, bagit_accepts)) in forged.into_iter().enumerate() {
        let bag = x.env.path(&format!("info{n}"));
        copy_tree(&template, &bag);
        std::fs::write(bag.join("bag-info.txt"), text).unwrap();
        reseal_bag(&bag);
        let (valid, log) = bagit_validate(&bag);
        assert_eq!(valid, bagit_accepts, "{what}: bagit-python says {log}");
        finds(&bag, &[("bag_invalid", "bag-info.txt")], what);
    }
}

// ---------------------------------------------------------------------------------------------
// 9.9: verify --bundle cannot be tied up.

/// Runs verify --bundle with a deadline: (exit code, report, how long it took).
fn verify_within(bag: &Path, limit: Duration) -> (i32, Value, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_custodia"))
        .args(["--json", "verify", "--bundle", arg(bag)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn custodia");
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "verify --bundle {} still ran after {limit:?}",
                bag.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, took)
}

#[test]
fn issue_9_9_a_sparse_terabyte_file_is_reported_without_being_hashed() {
    let x = exported();
    let tera = 1u64 << 40;
    let sparse = |bag: &Path, rel: &str| {
        if let Some(p) = bag.join(rel).parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        let f = std::fs::File::create(bag.join(rel)).unwrap();
        f.set_len(tera).unwrap();
    };
    // In place of an evidence file, with Payload-Oxum made to add up.
    let bag = x.copy("sparse-evidence");
    let rel = x.payload(1);
    let before = std::fs::metadata(bag.join(&rel)).unwrap().len();
    sparse(&bag, &rel);
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let oxum = info
        .lines()
        .find_map(|l| l.strip_prefix("Payload-Oxum: "))
        .unwrap();
    let (bytes, files) = oxum.split_once('.').unwrap();
    let bytes: u64 = bytes.parse().unwrap();
    set_payload_oxum(&bag, &format!("{}.{files}", bytes - before + tera));
    let (code, report, took) = verify_within(&bag, Duration::from_secs(60));
    assert_eq!(code, 3, "{report:#}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let found = problem_pairs(&report);
    assert!(
        found.contains(&("metadata_mismatch".into(), x.items[1].0.clone())),
        "{found:#?}"
    );

    // Planted beside the evidence, and as README-VERIFY.txt.
    for (n, rel) in ["data/annex/disk.img", "data/README-VERIFY.txt"]
        .iter()
        .enumerate()
    {
        let bag = x.copy(&format!("sparse{n}"));
        let _ = std::fs::remove_file(bag.join(rel));
        sparse(&bag, rel);
        let (code, report, took) = verify_within(&bag, Duration::from_secs(60));
        assert_eq!(code, 3, "{rel}: {report:#}");
        assert!(took < Duration::from_secs(10), "{rel}: took {took:?}");
        let found = problem_pairs(&report);
        assert!(
            found.iter().any(|(_, id)| id == rel),
            "{rel}: a finding names it: {found:#?}"
        );
    }
}

/// Peak resident memory of a command, in KiB, from GNU time.
fn max_rss_kib(program: &str, args: &[&str]) -> (i32, u64) {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(program)
        .args(args)
        .output()
        .expect("/usr/bin/time runs; .ci/setup installs it");
    let stderr = text(&out.stderr);
    let rss = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no max RSS from /usr/bin/time:\n{stderr}"));
    (out.status.code().unwrap_or(-1), rss)
}

#[test]
fn issue_9_9_a_large_custody_log_is_streamed_in_bounded_memory() {
    let x = exported();
    let bag = x.copy("big-custody");
    let path = bag.join("data/custody.jsonl");
    let genuine = std::fs::read(&path).unwrap();
    let first = genuine.split(|b| *b == b'\n').next().unwrap().to_vec();
    // 40 MB of copies of the first event ahead of the genuine log.
    let mut big = Vec::with_capacity(41 << 20);
    while big.len() < 40 << 20 {
        big.extend_from_slice(&first);
        big.push(b'\n');
    }
    big.extend_from_slice(&genuine);
    std::fs::write(&path, &big).unwrap();
    reseal_bag(&bag);
    let (code, rss) = max_rss_kib(
        env!("CARGO_BIN_EXE_custodia"),
        &["--json", "verify", "--bundle", arg(&bag)],
    );
    assert_eq!(code, 3, "the copies are inserted events");
    assert!(
        rss < 100 * 1024,
        "verify --bundle peaked at {rss} KiB on a 40 MB log"
    );
    let (_, report, _) = verify_bundle_json(&bag);
    let problems = report["problems"].as_array().unwrap().len();
    assert!(problems < 200, "the line findings are capped: {problems}");
}

// ---------------------------------------------------------------------------------------------
// 9.12: an unreadable or very deep directory is a finding about the bag.

#[test]
fn issue_9_12_deeply_nested_directories_are_a_finding_not_an_error() {
    let x = exported();
    let bag = x.copy("deep");
    // Each directory entered by a relative name: the whole path is far over PATH_MAX.
    let made = Command::new("python3")
        .args([
            "-c",
            "import os\nos.chdir('data')\nfor _ in range(2500):\n    os.mkdir('d'); os.chdir('d')\nopen('f', 'w').write('x')",
        ])
        .current_dir(&bag)
        .status()
        .unwrap();
    assert!(made.success(), "2,500 nested directories made");
    let (code, report, stderr) = verify_bundle_json(&bag);
    assert_eq!(code, 3, "{report:#}\n{stderr}");
    let found = problem_pairs(&report);
    assert!(
        found
            .iter()
            .any(|(k, id)| k == "bag_invalid" && id.starts_with("data/d/d/")),
        "{found:#?}"
    );
}

#[test]
fn issue_9_12_an_unreadable_directory_is_a_finding_not_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let x = exported();
    let bag = x.copy("unreadable");
    let dir = bag.join("data/annex");
    write(&dir.join("x.txt"), b"x");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads a mode-000 directory anyway: without the two capabilities that let it, it
    // cannot, as any other user could not.
    let drop = "-dac_override,-dac_read_search";
    let out = Command::new("setpriv")
        .args(["--inh-caps", drop, "--bounding-set", drop, "--"])
        .arg(env!("CARGO_BIN_EXE_custodia"))
        .args(["--json", "verify", "--bundle", arg(&bag)])
        .output()
        .expect("setpriv (util-linux) runs");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}\n{stderr}",
        text(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = problem_pairs(&report);
    assert!(
        found.contains(&("bag_invalid".into(), "data/annex".into())),
        "{found:#?}"
    );
}

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
