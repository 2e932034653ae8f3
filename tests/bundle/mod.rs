//! Court bundles (issue 3): `export` writes a case as a BagIt 1.0 bag that standard tools
//! verify, and `verify --bundle` checks a bag with no archive present.
//!
//! The bags are checked with the recipient's tools (bagit-python, `sha256sum`, `sha512sum`,
//! `b3sum`), which `.ci/setup` installs: a missing tool fails the test, it never skips it.
//! Tampering is done the way a forger would: edit the files, then recompute every manifest
//! and `Payload-Oxum` (`crate::util::reseal_bag`), so that only the custody chain can give it away. The
//! chain rule is checked a second and third time by code that shares nothing with custodia:
//! `independent_chain_check` in this module (serde_json + sha2) and `tests/check_custody.py`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::Digest;

use crate::util::{
    Env, FIXTURE_ATTACHMENTS, arg, bag_files, blake3_hex, copy_tree, fixture_vectors, fixtures,
    reseal_bag, reseal_tag_manifests, set_payload_oxum, sha256_hex, text, write,
};

mod custody_forgery;
mod damaged_archive;
mod hostile;
mod selection;
mod standard_tools;
mod tampering;

const CASE: &str = "BY-2024-017";
const ORGANIZATION: &str = "Example Human Rights Centre (fictional)";
const CONTACT: &str = "Legal team, case desk";
const EXPORT_REASON: &str = "Requested by the court, order 17/2024";
/// The fixture file extracted before the export, so its item has an event between ingest and export.
const EXTRACTED: &str = "testimonies/interview notes 2024-03-02.txt";

/// Every tag file of a bag custodia writes.
const TAG_FILES: [&str; 7] = [
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "manifest-sha512.txt",
    "manifest-blake3.txt",
    "tagmanifest-sha256.txt",
    "tagmanifest-sha512.txt",
];

// ---------------------------------------------------------------------------------------------
// The recipient's tools.

/// Runs an outside tool in `dir`; a tool that is not installed fails the test.
fn external(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}): the bundle tests need bagit-python and b3sum; run .ci/setup to install them")
    })
}

/// Fails (never skips) when bagit-python or b3sum is missing.
fn require_tools() {
    let bagit = external("python3", &["-c", "import bagit"], Path::new("."));
    assert!(
        bagit.status.success(),
        "bagit-python is not installed (python3 -c 'import bagit' failed: {}); run .ci/setup to install it",
        text(&bagit.stderr)
    );
    let b3 = external("b3sum", &["--version"], Path::new("."));
    assert!(
        b3.status.success(),
        "b3sum does not run; run .ci/setup to install it"
    );
}

/// `python3 -m bagit --validate BAG`: (valid, its log).
fn bagit_validate(bag: &Path) -> (bool, String) {
    let out = external(
        "python3",
        &["-m", "bagit", "--validate", arg(bag)],
        Path::new("."),
    );
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.success(), log)
}

/// Runs `tool -c manifest` in the bag and asserts every line is OK; returns the paths it checked.
fn checksum_ok(bag: &Path, tool: &str, manifest: &str) -> BTreeSet<String> {
    let out = external(tool, &["-c", manifest], bag);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "`{tool} -c {manifest}` failed in the bag:\n{stdout}\n{}",
        text(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let path = l
                .strip_suffix(": OK")
                .unwrap_or_else(|| panic!("`{tool} -c {manifest}`: not OK: {l}"));
            path.to_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running custodia.

/// `--json verify --bundle DIR` with no archive anywhere: (exit code, report, stderr).
fn verify_bundle(bag: &Path) -> (i32, Value, String) {
    let env = Env::new();
    let out = env.run(&["--json", "verify", "--bundle", arg(bag)]);
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "verify --bundle {} panicked:\n{stderr}",
        bag.display()
    );
    assert!(!env.archive.exists(), "verify --bundle created an archive");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The (kind, id) of every problem of a verify report.
fn findings(report: &Value) -> BTreeSet<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list in {report}"))
        .iter()
        .map(|p| {
            let kind = p["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("problem without kind: {p}"))
                .to_owned();
            let id = p["id"].as_str().unwrap_or("").to_owned();
            assert!(
                !p["detail"].as_str().unwrap_or("").is_empty(),
                "problem without detail: {p}"
            );
            (kind, id)
        })
        .collect()
}

fn finding(kind: &str, id: &str) -> (String, String) {
    (kind.to_owned(), id.to_owned())
}

/// verify --bundle must find damage: exit 3, `ok` false, at least one problem. Returns the findings.
fn damaged(bag: &Path, what: &str) -> BTreeSet<(String, String)> {
    let (code, report, stderr) = verify_bundle(bag);
    assert_eq!(
        code, 3,
        "{what}: verify --bundle must exit 3\nreport: {report:#}\nstderr: {stderr}"
    );
    assert_eq!(report["ok"], false, "{what}: {report:#}");
    let found = findings(&report);
    assert!(!found.is_empty(), "{what}: exit 3 but no problem named");
    found
}

/// Asserts every finding's kind is one of `allowed`.
fn only_kinds(found: &BTreeSet<(String, String)>, allowed: &[&str], what: &str) {
    for (kind, id) in found {
        assert!(
            allowed.contains(&kind.as_str()),
            "{what}: unexpected finding {kind} {id}; all: {found:#?}"
        );
    }
}

fn has(found: &BTreeSet<(String, String)>, kind: &str, id: &str, what: &str) {
    assert!(
        found.contains(&finding(kind, id)),
        "{what}: expected {kind} naming {id:?}, got {found:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hashing and reading bags, independently of custodia.

fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(bytes))
}

/// The regular files under `dir`, relative and `/`-separated, not following links.
fn files_under(dir: &Path) -> BTreeSet<String> {
    bag_files(dir).into_iter().collect()
}

/// bag-info.txt as label -> value (custodia writes no continuation lines).
fn bag_info(bag: &Path) -> BTreeMap<String, String> {
    let raw = std::fs::read_to_string(bag.join("bag-info.txt")).expect("bag-info.txt");
    raw.lines()
        .map(|l| {
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bag-info line without a label: {l:?}"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

/// The lines of data/custody.jsonl, without their newlines.
fn custody_lines(bag: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(bag.join("data/custody.jsonl")).expect("custody.jsonl");
    let body = bytes
        .strip_suffix(b"\n")
        .expect("custody.jsonl ends with a newline");
    body.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

fn write_custody(bag: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    std::fs::write(bag.join("data/custody.jsonl"), bytes).expect("write custody.jsonl");
}

fn parse_line(line: &[u8]) -> Value {
    serde_json::from_slice(line).expect("custody line is JSON")
}

/// The ids an event (as JSON) names in its `items`.
fn named(event: &Value) -> Vec<String> {
    event["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| l["id"].as_str().expect("item id").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The custody-chain rule, re-implemented with serde_json and sha2 only (no custodia code).

/// Checks custody.jsonl bytes against the rule of README-VERIFY.txt (and the layout: every
/// line is an event of an exported item); returns every failure (empty when the chain holds). `head` is bag-info's Custodia-Custody-Head, `exported` the
/// ids of data/evidence.json. Lines may name other items too (an earlier export of more
/// items, say): only the exported items' chains are complete in a bundle, so only they are followed.
fn independent_chain_check(
    custody: &[u8],
    head: Option<&str>,
    exported: &BTreeSet<String>,
) -> Vec<String> {
    let Some(body) = custody.strip_suffix(b"\n") else {
        return vec!["custody.jsonl does not end with a newline".into()];
    };
    let mut failures = Vec::new();
    // exported item id -> hex SHA-256 of the line of its newest event
    let mut heads: BTreeMap<String, String> = BTreeMap::new();
    let mut last_seq: Option<u64> = None;
    let mut last: Option<(Value, String)> = None;
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        let n = n + 1;
        let line_digest = hex::encode(sha2::Sha256::digest(line));
        let event: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("line {n} is not JSON: {e}"));
                last = None;
                continue;
            }
        };
        let Some(items) = event["items"].as_array() else {
            failures.push(format!("line {n} has no items list"));
            last = None;
            continue;
        };
        match (event["seq"].as_u64(), last_seq) {
            (Some(seq), Some(before)) if seq <= before => {
                failures.push(format!("line {n}: seq {seq} after {before}"))
            }
            (None, _) => failures.push(format!("line {n} has no seq")),
            _ => {}
        }
        last_seq = event["seq"].as_u64().or(last_seq);
        if !items
            .iter()
            .any(|l| l["id"].as_str().is_some_and(|id| exported.contains(id)))
        {
            failures.push(format!("line {n} is not an event of any exported item"));
        }
        for link in items {
            let Some(id) = link["id"].as_str().filter(|id| exported.contains(*id)) else {
                continue;
            };
            let expected = heads
                .get(id)
                .map(|h| Value::String(h.clone()))
                .unwrap_or(Value::Null);
            if link["prev"] != expected {
                failures.push(format!("line {n}: prev of {id} is not its previous event"));
            }
            heads.insert(id.to_owned(), line_digest.clone());
        }
        last = Some((event, line_digest));
    }
    let Some((event, line_digest)) = last else {
        failures.push("the last line is not a readable event".into());
        return failures;
    };
    if event["action"] != "export" {
        failures.push("the last event is not the export".into());
    }
    let names: BTreeSet<String> = event["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect();
    if names != *exported {
        failures.push("the export event does not name exactly the exported items".into());
    }
    if head != Some(line_digest.as_str()) {
        failures.push("the last line is not Custodia-Custody-Head".into());
    }
    failures
}

/// The item ids of data/evidence.json.
fn evidence_ids(bag: &Path) -> BTreeSet<String> {
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap())
            .expect("evidence.json is JSON");
    evidence["items"]
        .as_array()
        .expect("evidence.json items")
        .iter()
        .map(|i| i["id"].as_str().expect("item id").to_owned())
        .collect()
}

/// Both independent checkers on a bag: (Rust failures, Python's verdict OK?, Python's output).
fn independent_checks(bag: &Path) -> (Vec<String>, bool, String) {
    let custody = std::fs::read(bag.join("data/custody.jsonl")).expect("custody.jsonl");
    let info = bag_info(bag);
    let rust = independent_chain_check(
        &custody,
        info.get("Custodia-Custody-Head").map(String::as_str),
        &evidence_ids(bag),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/check_custody.py");
    let out = external("python3", &[script, arg(bag)], Path::new("."));
    let said = text(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "check_custody.py crashed:\n{said}\n{}",
        text(&out.stderr)
    );
    let python_ok = out.status.code() == Some(0);
    assert_eq!(
        python_ok,
        said.trim() == "OK",
        "check_custody.py: exit code and output disagree:\n{said}"
    );
    (rust, python_ok, said)
}

// ---------------------------------------------------------------------------------------------
// The exported fixture case.

struct Exported {
    env: Env,
    /// Fixture path (`email/message.eml`) -> evidence id.
    ids: BTreeMap<String, String>,
    bag: PathBuf,
    /// The export's JSON report.
    report: Value,
}

impl Exported {
    fn id(&self, fixture: &str) -> &str {
        self.ids
            .get(fixture)
            .unwrap_or_else(|| panic!("{fixture} was not ingested"))
    }

    /// The bag path of a fixture file's payload: data/evidence/<ID>/<name>.
    fn payload_rel(&self, fixture: &str) -> String {
        let name = Path::new(fixture).file_name().unwrap().to_str().unwrap();
        format!("data/evidence/{}/{name}", self.id(fixture))
    }

    /// The line index in custody.jsonl of the first event with `action` naming `fixture`'s item.
    fn line_of(&self, lines: &[Vec<u8>], action: &str, fixture: &str) -> usize {
        let id = self.id(fixture);
        lines
            .iter()
            .position(|l| {
                let e = parse_line(l);
                e["action"] == action && named(&e).iter().any(|i| i == id)
            })
            .unwrap_or_else(|| panic!("no {action} event of {id} in custody.jsonl"))
    }
}

/// The fixture case ingested as a user does (attachments with --parent the e-mail), one item
/// extracted (an event between its ingest and the export), then exported whole to `bag`.
fn exported() -> Exported {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    assert_eq!(ids.len(), 10, "the fixture case has 10 files: {ids:?}");
    let extracted = ids[EXTRACTED].clone();
    env.ok(&[
        "extract",
        &extracted,
        "--out",
        arg(&env.path("copy.txt")),
        "--reason",
        "translation",
    ]);
    let bag = env.path("bundle");
    let report = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bag),
        "--reason",
        EXPORT_REASON,
        "--organization",
        ORGANIZATION,
        "--contact",
        CONTACT,
    ]);
    assert!(
        bag.join("bagit.txt").is_file(),
        "export wrote no bag: {report}"
    );
    Exported {
        env,
        ids,
        bag,
        report,
    }
}

// ---------------------------------------------------------------------------------------------
// Refused exports (selection and damaged_archive both check them).

/// Export with `--out` and extra args must fail with `code`, leave the archive and `out` as they were.
fn export_refused(env: &Env, out: &Path, extra: &[&str], code: i32) -> String {
    let parent = out.parent().unwrap();
    // The archive's own files change on any open (sled snapshots); `refused` checks it.
    let beside = || -> BTreeSet<String> {
        files_under(parent)
            .into_iter()
            .filter(|f| !f.starts_with("archive/"))
            .collect()
    };
    let before = beside();
    let mut args = vec!["export", "--case", CASE, "--out", arg(out)];
    args.extend_from_slice(extra);
    let stderr = env.refused(&args, code);
    assert_eq!(
        beside(),
        before,
        "export {extra:?} failed but changed files beside --out"
    );
    let left: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".custodia-export-"))
        .collect();
    assert!(left.is_empty(), "export {extra:?} left temp dirs: {left:?}");
    stderr
}
