//! Issue 9.9 and 9.12: `verify --bundle` cannot be tied up by sparse files, large logs, deep
//! or unreadable directories; each is a finding in bounded time and memory.

use super::*;
use crate::util::run_with_timeout;

// ---------------------------------------------------------------------------------------------
// 9.9: verify --bundle cannot be tied up.

/// Runs verify --bundle with a deadline: (exit code, report, how long it took).
fn verify_within(bag: &Path, limit: Duration) -> (i32, Value, Duration) {
    let started = Instant::now();
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_custodia")).args([
            "--json",
            "verify",
            "--bundle",
            arg(bag),
        ]),
        limit,
    );
    let took = started.elapsed();
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
