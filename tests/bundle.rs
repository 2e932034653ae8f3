//! Court bundles (issue 3): `export` writes a case as a BagIt 1.0 bag that standard tools
//! verify, and `verify --bundle` checks a bag with no archive present.
//!
//! The bags are checked with the recipient's tools (bagit-python, `sha256sum`, `sha512sum`,
//! `b3sum`), which `.ci/setup` installs: a missing tool fails the test, it never skips it.
//! Tampering is done the way a forger would: edit the files, then recompute every manifest
//! and `Payload-Oxum` (see `reseal`), so that only the custody chain can give it away. The
//! chain rule is checked a second and third time by code that shares nothing with custodia:
//! `independent_chain_check` below (serde_json + sha2) and `tests/check_custody.py`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::Digest;

use crate::util::{
    Env, FIXTURE_ATTACHMENTS, arg, blake3_hex, fixture_vectors, fixtures, sha256_hex, text, write,
};

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

fn digest(algorithm: &str, bytes: &[u8]) -> String {
    match algorithm {
        "sha256" => sha256_hex(bytes),
        "sha512" => sha512_hex(bytes),
        "blake3" => blake3_hex(bytes),
        other => panic!("no algorithm {other}"),
    }
}

/// The regular files under `dir`, relative and `/`-separated, not following links.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let name = entry
                .file_name()
                .into_string()
                .expect("UTF-8 names in test bags");
            let kind = entry.file_type().expect("file type");
            let rel = format!("{prefix}{name}");
            if kind.is_dir() {
                walk(&entry.path(), &format!("{rel}/"), out);
            } else if kind.is_file() {
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, "", &mut out);
    out
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

fn manifest_line(hex: &str, path: &str) -> String {
    assert!(
        !path.contains(['%', '\n', '\r']),
        "test paths need no percent-encoding: {path:?}"
    );
    format!("{hex}  {path}\n")
}

/// What a forger does after editing a bag: recompute every payload manifest from the files
/// under data/, Payload-Oxum, and then the tag manifests.
fn reseal(bag: &Path) {
    let payload: Vec<(String, Vec<u8>)> = files_under(&bag.join("data"))
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(bag.join("data").join(&rel)).expect("read payload");
            (format!("data/{rel}"), bytes)
        })
        .collect();
    for algorithm in ["sha256", "sha512", "blake3"] {
        let manifest: String = payload
            .iter()
            .map(|(rel, bytes)| manifest_line(&digest(algorithm, bytes), rel))
            .collect();
        std::fs::write(bag.join(format!("manifest-{algorithm}.txt")), manifest)
            .expect("write manifest");
    }
    let bytes: usize = payload.iter().map(|(_, b)| b.len()).sum();
    let oxum = format!("Payload-Oxum: {bytes}.{}", payload.len());
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).expect("bag-info.txt");
    assert!(
        info.contains("Payload-Oxum: "),
        "bag-info has no Payload-Oxum:\n{info}"
    );
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum:") {
                format!("{oxum}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(bag.join("bag-info.txt"), info).expect("write bag-info");
    reseal_tags(bag);
}

/// Recomputes only the tag manifests (over bagit.txt, bag-info.txt and the payload manifests).
fn reseal_tags(bag: &Path) {
    for algorithm in ["sha256", "sha512"] {
        let manifest: String = TAG_FILES[..5]
            .iter()
            .filter(|f| bag.join(f).is_file())
            .map(|f| {
                manifest_line(
                    &digest(
                        algorithm,
                        &std::fs::read(bag.join(f)).expect("read tag file"),
                    ),
                    f,
                )
            })
            .collect();
        std::fs::write(bag.join(format!("tagmanifest-{algorithm}.txt")), manifest)
            .expect("write tag manifest");
    }
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

/// Copies a bag (regular files and directories only) to `to`.
fn copy_bag(from: &Path, to: &Path) {
    for rel in files_under(from) {
        write(
            &to.join(&rel),
            &std::fs::read(from.join(&rel)).expect("read bag file"),
        );
    }
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
// 1. The exported bag, checked with the recipient's tools and against the sources.

#[test]
fn exported_case_passes_bagit_python_coreutils_b3sum_and_verify_bundle() {
    require_tools();
    let x = exported();
    let bag = &x.bag;

    // The export's own report.
    assert_eq!(x.report["items"], 10, "{}", x.report);
    assert_eq!(x.report["bundle"], arg(bag), "{}", x.report);
    let tagmanifest = std::fs::read(bag.join("tagmanifest-sha256.txt")).unwrap();
    assert_eq!(
        x.report["tagmanifest_sha256"],
        sha256_hex(&tagmanifest),
        "{}",
        x.report
    );

    // Exactly the documented layout, nothing else.
    let mut expected: BTreeSet<String> = TAG_FILES.iter().map(|s| s.to_string()).collect();
    for f in [
        "data/README-VERIFY.txt",
        "data/case.json",
        "data/evidence.json",
        "data/custody.jsonl",
    ] {
        expected.insert(f.to_owned());
    }
    for fixture in x.ids.keys() {
        expected.insert(x.payload_rel(fixture));
    }
    assert_eq!(files_under(bag), expected, "the bag's files");
    let parent: Vec<String> = std::fs::read_dir(x.env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !parent.iter().any(|n| n.contains("custodia-export")),
        "a temp dir was left beside the bundle: {parent:?}"
    );

    // Every original file, byte for byte.
    for fixture in x.ids.keys() {
        let original = std::fs::read(fixtures().join(fixture)).unwrap();
        let exported = std::fs::read(bag.join(x.payload_rel(fixture))).unwrap();
        assert!(
            original == exported,
            "{} differs from fixtures/{fixture}",
            x.payload_rel(fixture)
        );
    }
    let payload: BTreeSet<String> = expected
        .iter()
        .filter(|p| p.starts_with("data/"))
        .cloned()
        .collect();
    let payload_bytes: u64 = payload
        .iter()
        .map(|p| std::fs::metadata(bag.join(p)).unwrap().len())
        .sum();
    assert_eq!(
        x.report["bytes"], payload_bytes,
        "export's bytes are the payload's"
    );

    // The recipient's tools.
    let (valid, log) = bagit_validate(bag);
    assert!(valid, "bagit-python rejects the bag:\n{log}");
    assert!(
        log.contains("is valid"),
        "bagit-python did not say the bag is valid:\n{log}"
    );
    assert_eq!(
        checksum_ok(bag, "sha256sum", "manifest-sha256.txt"),
        payload,
        "sha256sum -c checks every payload file"
    );
    assert_eq!(
        checksum_ok(bag, "sha512sum", "manifest-sha512.txt"),
        payload,
        "sha512sum -c checks every payload file"
    );
    assert_eq!(
        checksum_ok(bag, "b3sum", "manifest-blake3.txt"),
        payload,
        "b3sum -c checks every payload file"
    );
    let tags: BTreeSet<String> = TAG_FILES[..5].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        checksum_ok(bag, "sha256sum", "tagmanifest-sha256.txt"),
        tags,
        "the tag manifest covers every tag file, manifest-blake3.txt included"
    );
    assert_eq!(
        checksum_ok(bag, "sha512sum", "tagmanifest-sha512.txt"),
        tags
    );

    // custodia's own check, with no archive.
    let (code, report, stderr) = verify_bundle(bag);
    assert_eq!(
        code, 0,
        "verify --bundle on a fresh export:\n{report:#}\n{stderr}"
    );
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["checked"]["items"], 10, "{report}");
    assert_eq!(report["checked"]["bytes"], payload_bytes, "{report}");
    let lines = custody_lines(bag);
    assert_eq!(report["checked"]["events"], lines.len(), "{report}");

    // bag-info.txt.
    let info = bag_info(bag);
    assert_eq!(
        info["Payload-Oxum"],
        format!("{payload_bytes}.{}", payload.len())
    );
    assert_eq!(info["External-Identifier"], CASE);
    assert!(
        info["Bag-Software-Agent"].starts_with("custodia"),
        "{info:?}"
    );
    assert_eq!(info["Source-Organization"], ORGANIZATION);
    assert_eq!(info["Contact-Name"], CONTACT);
    let date = &info["Bagging-Date"];
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
        "Bagging-Date {date:?} is not YYYY-MM-DD"
    );
    let last = lines.last().unwrap();
    assert_eq!(
        info["Custodia-Custody-Head"],
        sha256_hex(last),
        "the head is the SHA-256 of the last custody line"
    );

    // data/evidence.json: every item, with hashes computed here and the known-answer vectors.
    let vectors = fixture_vectors();
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    let items = evidence["items"].as_array().expect("evidence.json items");
    assert_eq!(items.len(), 10);
    let message = x.id("email/message.eml").to_owned();
    let attachments: BTreeSet<String> = x
        .ids
        .iter()
        .filter(|(f, _)| f.starts_with(FIXTURE_ATTACHMENTS))
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(attachments.len(), 2);
    for (fixture, id) in &x.ids {
        let item = items
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not in evidence.json"));
        let bytes = std::fs::read(fixtures().join(fixture)).unwrap();
        let name = Path::new(fixture).file_name().unwrap().to_str().unwrap();
        let vector = vectors
            .iter()
            .find(|v| v.path == *fixture)
            .unwrap_or_else(|| panic!("no vector for {fixture}"));
        assert_eq!(item["blake3"], blake3_hex(&bytes), "{id}");
        assert_eq!(item["blake3"], vector.blake3.as_str(), "{id}");
        assert_eq!(item["sha256"], sha256_hex(&bytes), "{id}");
        assert_eq!(item["sha256"], vector.sha256.as_str(), "{id}");
        assert_eq!(item["sha512"], sha512_hex(&bytes), "{id}");
        assert_eq!(item["size"], bytes.len(), "{id}");
        assert_eq!(item["size"], vector.size, "{id}");
        assert_eq!(item["name"], name, "{id}");
        assert_eq!(item["name_hex"], hex::encode(name), "{id}");
        assert_eq!(item["file"], x.payload_rel(fixture), "{id}");
        assert_eq!(item["cases"], serde_json::json!([CASE]), "{id}");
        let is_attachment = attachments.contains(id);
        assert_eq!(
            item["parent"],
            if is_attachment {
                Value::String(message.clone())
            } else {
                Value::Null
            },
            "{id}"
        );
        let children: BTreeSet<String> = item["attachments"]
            .as_array()
            .expect("attachments")
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            children,
            if *id == message {
                attachments.clone()
            } else {
                BTreeSet::new()
            },
            "{id}"
        );
    }
    let case: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/case.json")).unwrap()).unwrap();
    assert_eq!(case["id"], CASE);
    let readme = std::fs::read_to_string(bag.join("data/README-VERIFY.txt")).unwrap();
    for command in [
        "bagit.py --validate",
        "sha256sum -c manifest-sha256.txt",
        "sha512sum -c manifest-sha512.txt",
        "b3sum -c manifest-blake3.txt",
    ] {
        assert!(
            readme.contains(command),
            "README-VERIFY.txt does not give `{command}`"
        );
    }

    // data/custody.jsonl: exactly the archive's events that name an exported item, then the export.
    let log = x.env.json(&["log"]);
    let events = log["events"].as_array().expect("log events");
    let exported_ids: BTreeSet<String> = x.ids.values().cloned().collect();
    let export_at = events
        .iter()
        .rposition(|e| e["action"] == "export")
        .expect("an export event in the log");
    let wanted: Vec<Vec<u8>> = events[..=export_at]
        .iter()
        .filter(|e| named(e).iter().any(|i| exported_ids.contains(i)))
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    assert_eq!(lines.len(), 12, "10 ingests, 1 extract, 1 export");
    assert!(
        lines == wanted,
        "custody.jsonl is not the archive's events of the exported items, byte for byte"
    );
    let export = &events[export_at];
    assert_eq!(
        export["seq"], x.report["event"],
        "the report's event is the export"
    );
    assert_eq!(
        export["seq"].as_u64().unwrap().to_string(),
        info["Custodia-Export-Event"]
    );
    assert_eq!(export["reason"], EXPORT_REASON);
    assert_eq!(
        named(export).into_iter().collect::<BTreeSet<_>>(),
        exported_ids,
        "the export names every item"
    );
    assert_eq!(
        sha256_hex(&serde_json::to_vec(export).unwrap()),
        info["Custodia-Custody-Head"]
    );
    // The seal follows, recording the tag manifest's digest and chained to the export's bytes.
    let seal = events
        .get(export_at + 1)
        .expect("a seal event after the export");
    assert_eq!(seal["action"], "seal", "{seal}");
    assert_eq!(seal["seq"], export["seq"].as_u64().unwrap() + 1);
    assert_eq!(
        seal["details"]["tagmanifest_sha256"],
        sha256_hex(&tagmanifest),
        "{seal}"
    );
    assert_eq!(
        seal["prev"],
        info["Custodia-Custody-Head"].as_str(),
        "the seal chains to the bundle's last line"
    );
    assert_eq!(events.len(), export_at + 2, "nothing after the seal");

    // The independent checkers agree with verify --bundle.
    let (rust, python_ok, said) = independent_checks(bag);
    assert_eq!(rust, Vec::<String>::new(), "independent Rust chain check");
    assert!(python_ok, "tests/check_custody.py:\n{said}");

    // The archive itself is still intact after the export.
    let (code, verify) = x.env.verify();
    assert_eq!(code, 0, "archive verify after export: {verify:#}");
    assert_eq!(verify["ok"], true);
}

/// evidence.json, custody.jsonl and the manifests are written a piece at a time: over enough
/// items that each is many pieces, they are still exactly the bytes the format gives (the
/// pretty-printed document; the archive's events) and match their manifests.
#[test]
fn large_metadata_files_are_exact_and_match_their_manifests() {
    require_tools();
    let env = Env::with_case();
    let src = env.path("many");
    for i in 0..200 {
        write(
            &src.join(format!("statement-{i:03}.txt")),
            format!("statement {i}\n").as_bytes(),
        );
    }
    // A long note goes into each item's ingest event and its evidence.json entry.
    let note = "Taken down by hand at the border crossing; ".repeat(50);
    env.ok(&["ingest", "--case", CASE, "--note", &note, arg(&src)]);
    let bag = env.path("bundle");
    env.ok(&["export", "--case", CASE, "--out", arg(&bag)]);

    let evidence = std::fs::read(bag.join("data/evidence.json")).expect("evidence.json");
    let lines = custody_lines(&bag);
    let custody_bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(
        evidence.len() > 400 << 10 && custody_bytes > 400 << 10,
        "too small to test anything: evidence.json {} bytes, custody.jsonl {custody_bytes}",
        evidence.len()
    );
    let document: Value = serde_json::from_slice(&evidence).expect("evidence.json is JSON");
    let mut pretty = serde_json::to_vec_pretty(&document).unwrap();
    pretty.push(b'\n');
    assert!(
        evidence == pretty,
        "evidence.json is not the pretty-printed document with a final newline"
    );
    assert_eq!(document["items"].as_array().map(Vec::len), Some(200));

    let log = env.json(&["log"]);
    let events = log["events"].as_array().expect("log events");
    let export_at = events
        .iter()
        .rposition(|e| e["action"] == "export")
        .expect("an export event in the log");
    let wanted: Vec<Vec<u8>> = events[..=export_at]
        .iter()
        .filter(|e| !named(e).is_empty())
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    assert_eq!(lines.len(), 201, "200 ingests and the export");
    assert!(
        lines == wanted,
        "custody.jsonl is not the archive's events of the exported items, byte for byte"
    );

    for (tool, manifest) in [
        ("sha256sum", "manifest-sha256.txt"),
        ("sha512sum", "manifest-sha512.txt"),
        ("b3sum", "manifest-blake3.txt"),
        ("sha256sum", "tagmanifest-sha256.txt"),
        ("sha512sum", "tagmanifest-sha512.txt"),
    ] {
        checksum_ok(&bag, tool, manifest);
    }
    let (valid, said) = bagit_validate(&bag);
    assert!(valid, "bagit.py --validate:\n{said}");
    let (code, report, _) = verify_bundle(&bag);
    assert_eq!(code, 0, "{report:#}");
}

/// A case with no items exports a bag whose evidence.json lists none, in the same format.
#[test]
fn an_empty_case_exports_an_empty_items_list() {
    let env = Env::with_case();
    let bag = env.path("bundle");
    env.ok(&["export", "--case", CASE, "--out", arg(&bag)]);
    assert_eq!(
        std::fs::read_to_string(bag.join("data/evidence.json")).expect("evidence.json"),
        format!("{{\n  \"case\": \"{CASE}\",\n  \"items\": []\n}}\n")
    );
    assert_eq!(custody_lines(&bag).len(), 1, "the export event alone");
    let (code, report, _) = verify_bundle(&bag);
    assert_eq!(code, 0, "{report:#}");
}

// ---------------------------------------------------------------------------------------------
// 2. What export refuses, and what a selection exports.

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

#[test]
fn export_refuses_existing_out_unknown_case_and_items_outside_the_case() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    let outs = env.path("outs");
    std::fs::create_dir(&outs).unwrap();

    // --out exists: a directory with something in it, a plain file, a dangling link.
    let dir = outs.join("bundle");
    write(&dir.join("keep.txt"), b"someone else's work");
    export_refused(&env, &dir, &[], 1);
    assert_eq!(
        std::fs::read(dir.join("keep.txt")).unwrap(),
        b"someone else's work"
    );
    assert_eq!(files_under(&dir), BTreeSet::from(["keep.txt".to_owned()]));
    let empty = outs.join("empty");
    std::fs::create_dir(&empty).unwrap();
    export_refused(&env, &empty, &[], 1);
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "an existing empty --out must stay empty"
    );
    let file = outs.join("file");
    write(&file, b"not a bundle");
    export_refused(&env, &file, &[], 1);
    assert_eq!(std::fs::read(&file).unwrap(), b"not a bundle");
    let link = outs.join("link");
    std::os::unix::fs::symlink(env.path("nowhere"), &link).unwrap();
    export_refused(&env, &link, &[], 1);
    assert!(
        !env.path("nowhere").exists(),
        "export wrote through a dangling --out link"
    );

    // An unknown case.
    let fresh = outs.join("fresh");
    let stderr = env.refused(
        &["export", "--case", "NO-SUCH-CASE", "--out", arg(&fresh)],
        1,
    );
    assert!(
        stderr.contains("NO-SUCH-CASE"),
        "the message names the case: {stderr}"
    );
    assert!(!fresh.exists());

    // An item of another case, and an unknown item.
    env.ok(&["case", "create", "BY-2024-018", "--title", "Another case"]);
    write(
        &env.path("other/elsewhere.txt"),
        b"evidence of another case only",
    );
    let other = env.json(&[
        "ingest",
        "--case",
        "BY-2024-018",
        arg(&env.path("other/elsewhere.txt")),
    ]);
    let other_id = other["items"][0]["id"].as_str().unwrap().to_owned();
    let stderr = export_refused(
        &env,
        &fresh,
        &[
            "--evidence",
            ids["documents/court-ruling.pdf"].as_str(),
            "--evidence",
            &other_id,
        ],
        1,
    );
    assert!(
        stderr.contains(&other_id),
        "the message names the item outside the case: {stderr}"
    );
    assert!(!fresh.exists());
    let stderr = export_refused(&env, &fresh, &["--evidence", "EV-999999"], 1);
    assert!(stderr.contains("EV-999999"), "{stderr}");
    assert!(!fresh.exists());

    // The same archive still exports fine afterwards.
    let report = env.json(&["export", "--case", CASE, "--out", arg(&fresh)]);
    assert_eq!(report["items"], 10);
}

/// The ids in a bag's evidence.json, the ids its payload directories are named after, and the
/// ids its custody.jsonl names.
fn bag_ids(bag: &Path) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    let listed = evidence["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let dirs = std::fs::read_dir(bag.join("data/evidence"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let chained = custody_lines(bag)
        .iter()
        .flat_map(|l| named(&parse_line(l)))
        .collect();
    (listed, dirs, chained)
}

#[test]
fn export_selection_takes_attachments_unless_told_not_to() {
    // Each export in an archive of its own, so its custody holds no earlier export.
    let check = |name: &str,
                 args: &dyn Fn(&BTreeMap<String, String>) -> Vec<String>,
                 want: &dyn Fn(&BTreeMap<String, String>) -> BTreeSet<String>| {
        let env = Env::with_case();
        let ids = env.ingest_fixture_case();
        let want = want(&ids);
        let bag = env.path(name);
        let extra = args(&ids);
        let mut all = vec!["export", "--case", CASE, "--out", arg(&bag)];
        all.extend(extra.iter().map(String::as_str));
        let report = env.json(&all);
        assert_eq!(report["items"], want.len(), "{name}: {report}");
        let (listed, dirs, chained) = bag_ids(&bag);
        assert_eq!(listed, want, "{name}: evidence.json");
        assert_eq!(dirs, want, "{name}: data/evidence/");
        assert_eq!(
            chained, want,
            "{name}: custody.jsonl names only the exported items"
        );
        let lines = custody_lines(&bag);
        assert_eq!(
            lines.len(),
            want.len() + 1,
            "{name}: one ingest per item, then the export"
        );
        let last = parse_line(lines.last().unwrap());
        assert_eq!(last["action"], "export");
        assert_eq!(
            named(&last).into_iter().collect::<BTreeSet<_>>(),
            want,
            "{name}: the export event"
        );
        let (code, verify, stderr) = verify_bundle(&bag);
        assert_eq!(code, 0, "{name}: {verify:#}\n{stderr}");
        let (rust, python_ok, said) = independent_checks(&bag);
        assert!(
            rust.is_empty() && python_ok,
            "{name}: independent checks: {rust:?}\n{said}"
        );
    };
    let one = |fixture: &'static str| {
        move |ids: &BTreeMap<String, String>| BTreeSet::from([ids[fixture].clone()])
    };
    let email = |ids: &BTreeMap<String, String>| -> BTreeSet<String> {
        ids.iter()
            .filter(|(f, _)| f.starts_with("email/"))
            .map(|(_, id)| id.clone())
            .collect()
    };

    // The e-mail brings its two attachments.
    check(
        "message",
        &|ids| vec!["--evidence".into(), ids["email/message.eml"].clone()],
        &|ids| {
            let all = email(ids);
            assert_eq!(all.len(), 3);
            all
        },
    );
    check(
        "message-only",
        &|ids| {
            vec![
                "--evidence".into(),
                ids["email/message.eml"].clone(),
                "--no-attachments".into(),
            ]
        },
        &one("email/message.eml"),
    );
    // By a unique BLAKE3 prefix, as every command taking an ID accepts, and by id.
    let prefix = blake3_hex(&std::fs::read(fixtures().join("photos/detention-site.png")).unwrap())
        [..12]
        .to_owned();
    check(
        "two",
        &|ids| {
            vec![
                "--evidence".into(),
                prefix.clone(),
                "--evidence".into(),
                ids["documents/court-ruling.pdf"].clone(),
            ]
        },
        &|ids| {
            BTreeSet::from([
                ids["photos/detention-site.png"].clone(),
                ids["documents/court-ruling.pdf"].clone(),
            ])
        },
    );
    // An attachment alone does not pull in its parent.
    check(
        "attachment",
        &|ids| {
            vec![
                "--evidence".into(),
                ids["email/attachments/scan.png"].clone(),
            ]
        },
        &one("email/attachments/scan.png"),
    );
}

/// `--no-attachments` on a whole-case export: the flag says "leave out the attachments", and a
/// user who gives it expects no attachment in the bundle, not a silently ignored flag.
#[test]
fn no_attachments_applies_to_a_whole_case_export() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    let bag = env.path("no-attachments");
    let report = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bag),
        "--no-attachments",
    ]);
    let top: BTreeSet<String> = ids
        .iter()
        .filter(|(f, _)| !f.starts_with(FIXTURE_ATTACHMENTS))
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(top.len(), 8);
    let (listed, dirs, _) = bag_ids(&bag);
    assert_eq!(
        listed, top,
        "--no-attachments left attachments in evidence.json: {report}"
    );
    assert_eq!(dirs, top, "data/evidence/");
    assert_eq!(report["items"], 8, "{report}");
    assert_eq!(verify_bundle(&bag).0, 0);
}

/// A second export of part of a case carries the first export's event, which is in the
/// history of every item it names, but also names items this bundle does not hold. Their
/// chains are not in the bundle and must not be followed; the exported item's chain is
/// complete and the bundle is intact.
#[test]
fn re_export_of_part_of_an_exported_case_verifies() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    env.json(&["export", "--case", CASE, "--out", arg(&env.path("whole"))]);
    let ruling = ids["documents/court-ruling.pdf"].clone();
    let bag = env.path("ruling");
    let report = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bag),
        "--evidence",
        &ruling,
    ]);
    assert_eq!(report["items"], 1);
    let lines: Vec<Value> = custody_lines(&bag).iter().map(|l| parse_line(l)).collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["ingest", "export", "export"],
        "the ruling's history"
    );
    assert_eq!(
        named(&lines[1]).len(),
        10,
        "the first export names the whole case"
    );
    assert_eq!(named(&lines[2]), std::slice::from_ref(&ruling));
    let (rust, python_ok, said) = independent_checks(&bag);
    assert!(rust.is_empty(), "independent Rust check: {rust:?}");
    assert!(python_ok, "check_custody.py:\n{said}");
    let (code, verify, stderr) = verify_bundle(&bag);
    assert_eq!(
        code, 0,
        "verify --bundle on a re-export of one item:\n{verify:#}\n{stderr}"
    );
    assert_eq!(verify["ok"], true);
}

// ---------------------------------------------------------------------------------------------
// 3 and 5. A damaged archive: export refuses, naming the item, and leaves nothing behind.

/// The chunk ids of a stored content, from tree "contents" by the documented layout:
/// `[1] size u64 LE, sha256 [32], count u64 LE, count × (id [32], len u32 LE)`.
fn chunk_ids(db: &sled::Db, content: &[u8]) -> Vec<[u8; 32]> {
    let blake3 = blake3::hash(content);
    let record = db
        .open_tree("contents")
        .unwrap()
        .get(blake3.as_bytes())
        .unwrap()
        .expect("content record");
    assert_eq!(record[0], 1, "record version byte");
    assert_eq!(
        u64::from_le_bytes(record[1..9].try_into().unwrap()),
        content.len() as u64
    );
    assert_eq!(hex::encode(&record[9..41]), sha256_hex(content));
    let count = u64::from_le_bytes(record[41..49].try_into().unwrap()) as usize;
    assert_eq!(record.len(), 49 + count * 36, "content record length");
    (0..count)
        .map(|i| record[49 + i * 36..49 + i * 36 + 32].try_into().unwrap())
        .collect()
}

/// A stored chunk record: its id and its original bytes, to put back.
struct StoredChunk<'a> {
    env: &'a Env,
    id: [u8; 32],
    original: Vec<u8>,
}

impl StoredChunk<'_> {
    fn put(&self, record: &[u8]) {
        self.env.set_chunk_record(&self.id, Some(record));
    }
}

/// Flips one byte in the middle of the first stored chunk of a fixture file, through sled
/// directly (docs/FORMAT.md, "Finding a chunk").
fn damage_chunk<'a>(env: &'a Env, fixture: &str) -> StoredChunk<'a> {
    let content = std::fs::read(fixtures().join(fixture)).unwrap();
    let db = env.sled();
    let id = chunk_ids(&db, &content)[0];
    crate::util::close_sled(db, &env.archive.join("db"));
    let original = env.chunk_record(&id);
    assert_eq!(original[0], 1, "chunk record version");
    assert!(original.len() > 6 + 16, "chunk too short to damage");
    let mut damaged = original.clone();
    let at = 6 + (damaged.len() - 6) / 2;
    damaged[at] ^= 0x20;
    let stored = StoredChunk { env, id, original };
    stored.put(&damaged);
    stored
}

/// Export of a damaged archive: exit 3, stderr names the item, no bundle, no temp dir, no event.
fn export_of_damaged(env: &Env, out: &Path, damaged_id: &str) {
    let stderr = export_refused(env, out, &[], 3);
    assert!(
        stderr.contains(damaged_id),
        "stderr must name the damaged item {damaged_id}:\n{stderr}"
    );
    assert!(!out.exists(), "a bundle was left at --out");
    let log = env.json(&["log"]);
    assert!(
        !log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export" || e["action"] == "seal"),
        "a refused export was recorded in custody"
    );
}

#[test]
fn export_of_damaged_archive_is_refused_naming_the_item() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    damage_chunk(&env, "photos/detention-site.png");
    let id = &ids["photos/detention-site.png"];
    export_of_damaged(&env, &env.path("bundle"), id);
    // A selection without the damaged item is fine.
    let ruling = &ids["documents/court-ruling.pdf"];
    let report = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&env.path("ruling")),
        "--evidence",
        ruling,
    ]);
    assert_eq!(report["items"], 1);
    // And the archive's own verify names the same item.
    let (code, verify) = env.verify();
    assert_eq!(code, 3, "{verify:#}");
    assert!(
        verify["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str()),
        "archive verify names {id}: {verify:#}"
    );
}

#[test]
fn interrupted_export_leaves_no_half_bundle() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    // The last item in id order: nine items' files are written before the export stops.
    let last = "email/attachments/scan.png";
    assert_eq!(
        ids.values().max(),
        Some(&ids[last]),
        "scan.png is exported last"
    );
    let chunk = damage_chunk(&env, last);
    let out = env.path("court").join("bundle");
    std::fs::create_dir(env.path("court")).unwrap();
    export_of_damaged(&env, &out, &ids[last]);
    assert_eq!(
        std::fs::read_dir(env.path("court")).unwrap().count(),
        0,
        "the parent of --out holds nothing"
    );

    // Repaired, the same --out name is free and the export completes.
    chunk.put(&chunk.original);
    let report = env.json(&["export", "--case", CASE, "--out", arg(&out)]);
    assert_eq!(report["items"], 10);
    let (code, verify, _) = verify_bundle(&out);
    assert_eq!(code, 0, "{verify:#}");
}

// ---------------------------------------------------------------------------------------------
// 4. Tampering with a bag.

#[test]
fn flipped_byte_in_evidence_is_a_file_and_metadata_mismatch() {
    require_tools();
    let x = exported();
    let fixture = "testimonies/witness-statement-en.txt";
    let rel = x.payload_rel(fixture);
    let mut bytes = std::fs::read(x.bag.join(&rel)).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(x.bag.join(&rel), bytes).unwrap();

    let found = damaged(&x.bag, "flipped byte");
    let id = x.id(fixture);
    let expected = BTreeSet::from([
        finding("file_mismatch", &rel),
        finding("metadata_mismatch", id),
    ]);
    assert_eq!(found, expected, "flipped byte in {rel}");
    let (valid, _) = bagit_validate(&x.bag);
    assert!(!valid, "bagit-python must reject it too");
    let out = external("sha256sum", &["-c", "manifest-sha256.txt"], &x.bag);
    assert_ne!(out.status.code(), Some(0), "sha256sum -c must fail");
}

#[test]
fn planted_files_are_unlisted() {
    let x = exported();
    let clean = x.env.path("clean");
    copy_bag(&x.bag, &clean);

    // At the top, beside the tag files: checksum tools and BagIt validators do not look there.
    write(
        &x.bag.join("instructions.txt"),
        b"trust the attached file instead",
    );
    let found = damaged(&x.bag, "planted top-level file");
    assert_eq!(
        found,
        BTreeSet::from([finding("file_unlisted", "instructions.txt")])
    );
    std::fs::remove_file(x.bag.join("instructions.txt")).unwrap();
    let (code, _, _) = verify_bundle(&x.bag);
    assert_eq!(code, 0, "removing it again restores the bag");

    // Under data/ and under an item's directory: no manifest lists them.
    for planted in [
        "data/extra.txt",
        &format!(
            "data/evidence/{}/second.pdf",
            x.id("documents/court-ruling.pdf")
        ),
        "data/evidence/EV-999999/new.txt",
    ] {
        write(&x.bag.join(planted), b"planted");
        let found = damaged(&x.bag, planted);
        has(&found, "file_unlisted", planted, planted);
        has(
            &found,
            "bag_invalid",
            "bag-info.txt",
            &format!("{planted}: Payload-Oxum no longer adds up"),
        );
        only_kinds(&found, &["file_unlisted", "bag_invalid"], planted);
        std::fs::remove_file(x.bag.join(planted)).unwrap();
    }

    // Planted and then resealed: the manifests list it, but no item accounts for it.
    let planted = format!(
        "data/evidence/{}/second.pdf",
        x.id("documents/court-ruling.pdf")
    );
    write(&clean.join(&planted), b"planted");
    reseal(&clean);
    let (valid, log) = bagit_validate(&clean);
    assert!(
        valid,
        "resealed, the bag is a valid BagIt bag again:\n{log}"
    );
    let found = damaged(&clean, "planted and resealed");
    assert_eq!(found, BTreeSet::from([finding("file_unlisted", &planted)]));
}

#[test]
fn removed_evidence_file_is_missing() {
    let x = exported();
    let fixture = "documents/court-ruling.pdf";
    let rel = x.payload_rel(fixture);
    std::fs::remove_file(x.bag.join(&rel)).unwrap();
    let found = damaged(&x.bag, "removed evidence file");
    has(&found, "file_missing", &rel, "removed file");
    has(&found, "file_missing", x.id(fixture), "removed file's item");
    has(&found, "bag_invalid", "bag-info.txt", "Payload-Oxum");
    only_kinds(&found, &["file_missing", "bag_invalid"], "removed file");
}

#[test]
fn swapped_payload_files_with_manifests_recomputed_are_a_metadata_mismatch() {
    require_tools();
    let x = exported();
    let (a, b) = (
        "testimonies/witness-statement-en.txt",
        "testimonies/witness-statement-ru.txt",
    );
    let (pa, pb) = (x.bag.join(x.payload_rel(a)), x.bag.join(x.payload_rel(b)));
    let (ba, bb) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
    std::fs::write(&pa, &bb).unwrap();
    std::fs::write(&pb, &ba).unwrap();
    reseal(&x.bag);
    let (valid, log) = bagit_validate(&x.bag);
    assert!(valid, "resealed, bagit-python accepts the bag:\n{log}");
    checksum_ok(&x.bag, "b3sum", "manifest-blake3.txt");
    let found = damaged(&x.bag, "swapped payload files");
    assert_eq!(
        found,
        BTreeSet::from([
            finding("metadata_mismatch", x.id(a)),
            finding("metadata_mismatch", x.id(b))
        ])
    );
}

#[test]
fn replaced_evidence_with_metadata_and_manifests_recomputed_is_caught_by_the_ingest_event() {
    let x = exported();
    let fixture = "testimonies/witness-statement-en.txt";
    let id = x.id(fixture).to_owned();
    let rel = x.payload_rel(fixture);
    let forged = b"I saw nothing that day.\n".to_vec();
    std::fs::write(x.bag.join(&rel), &forged).unwrap();
    // The forger also brings evidence.json in line with the new bytes.
    let path = x.bag.join("data/evidence.json");
    let mut evidence: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let item = evidence["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["id"] == id.as_str())
        .unwrap();
    item["sha256"] = sha256_hex(&forged).into();
    item["sha512"] = sha512_hex(&forged).into();
    item["blake3"] = blake3_hex(&forged).into();
    item["size"] = forged.len().into();
    std::fs::write(&path, serde_json::to_vec_pretty(&evidence).unwrap()).unwrap();
    reseal(&x.bag);
    let found = damaged(&x.bag, "replaced file, evidence.json and manifests updated");
    assert_eq!(
        found,
        BTreeSet::from([finding("metadata_mismatch", &id)]),
        "only the ingest event still knows the bytes"
    );
}

/// What was changed, the item it was changed in, and the fields set in evidence.json.
type MetadataEdit<'a> = (&'a str, &'a str, Vec<(&'a str, Value)>);

/// evidence.json's description of an item (name, source, when captured, where from, its
/// parent) was recorded in the item's ingest event: edited in evidence.json alone, with every
/// manifest recomputed, it no longer agrees with the custody record (issue 3: "the metadata
/// agrees with the payload hashes and the custody ingest events").
#[test]
fn evidence_metadata_that_disagrees_with_the_ingest_event_is_a_metadata_mismatch() {
    let x = exported();
    let template = x.env.path("template");
    copy_bag(&x.bag, &template);
    let statement = x.id("testimonies/witness-statement-en.txt").to_owned();
    let scan = x.id("email/attachments/scan.png").to_owned();
    let ruling = x.id("documents/court-ruling.pdf").to_owned();
    let edits: Vec<MetadataEdit> = vec![
        (
            "renamed",
            &statement,
            vec![
                ("name", "confession.txt".into()),
                ("name_hex", hex::encode("confession.txt").into()),
            ],
        ),
        (
            "another source",
            &statement,
            vec![("source", "Anonymous tip".into())],
        ),
        (
            "another capture time",
            &statement,
            vec![("captured_at", "2023-12-31T23:00:00Z".into())],
        ),
        (
            "another original path",
            &statement,
            vec![
                ("path", "/home/w01/statement.txt".into()),
                ("path_hex", hex::encode("/home/w01/statement.txt").into()),
            ],
        ),
        (
            "detached from its e-mail",
            &scan,
            vec![("parent", Value::Null)],
        ),
        (
            "attached to another item",
            &ruling,
            vec![("parent", scan.clone().into())],
        ),
    ];
    let mut missed = Vec::new();
    for (i, (what, id, fields)) in edits.into_iter().enumerate() {
        let bag = x.env.path(&format!("edited{i}"));
        copy_bag(&template, &bag);
        let path = bag.join("data/evidence.json");
        let mut evidence: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let item = evidence["items"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|it| it["id"] == id)
            .unwrap();
        for (k, v) in fields {
            assert_ne!(item[k], v, "{what}: the edit changes {k}");
            item[k] = v;
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&evidence).unwrap()).unwrap();
        reseal(&bag);
        let (code, report, _) = verify_bundle(&bag);
        let found = if code == 3 {
            findings(&report)
        } else {
            BTreeSet::new()
        };
        if code != 3 || !found.contains(&finding("metadata_mismatch", id)) {
            missed.push(format!("{what} ({id}): exit {code}, findings {found:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "verify --bundle missed metadata edits:\n{}",
        missed.join("\n")
    );
}

/// The file holds the exported items' events only: a fabricated event that names no
/// exported item (so no item chain runs through it), slipped in with a fitting seq, is an
/// inserted event all the same.
#[test]
fn inserted_event_of_no_exported_item_is_caught() {
    let x = exported();
    let lines = custody_lines(&x.bag);
    // Events 1 and 2 of the archive (init, case_create) name no item, so the bundle starts
    // at event 3: a fabricated event 2 at the top keeps the seqs increasing.
    let first = parse_line(&lines[0]);
    assert_eq!(first["seq"], 3, "{first}");
    let mut fake = first.clone();
    fake["seq"] = 2.into();
    fake["items"] = serde_json::json!([{"id": "EV-999999", "prev": null}]);
    fake["details"]["name"] = "planted.txt".into();
    let mut forged = lines.clone();
    forged.insert(0, serde_json::to_vec(&fake).unwrap());
    write_custody(&x.bag, &forged);
    reseal(&x.bag);
    let (rust, python_ok, said) = independent_checks(&x.bag);
    assert!(
        !rust.is_empty() && !python_ok,
        "independent checks: {rust:?}\n{said}"
    );
    let (code, report, stderr) = verify_bundle(&x.bag);
    assert_eq!(
        code, 3,
        "an inserted event naming no exported item went unnoticed:\n{report:#}\n{stderr}"
    );
    let found = findings(&report);
    assert!(
        found
            .iter()
            .any(|(k, id)| k == "chain_broken" && (id == "event 2" || id == "line 1")),
        "{found:#?}"
    );
}

/// One forged custody log: what was done to the lines, and the findings verify --bundle must report.
struct Forgery {
    what: &'static str,
    lines: Vec<Vec<u8>>,
    expected: BTreeSet<(String, String)>,
}

/// Replaces `from` by `to` in a line, once, keeping it valid JSON.
fn edit(line: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = std::str::from_utf8(line).unwrap();
    assert!(s.contains(from), "{from:?} not in {s}");
    let edited = s.replacen(from, to, 1);
    parse_line(edited.as_bytes());
    edited.into_bytes()
}

/// Every chain forgery of the fixture bag: removed, edited, reordered and inserted lines.
fn forgeries(x: &Exported) -> Vec<Forgery> {
    let lines = custody_lines(&x.bag);
    let n = lines.len();
    let notes = x.id(EXTRACTED).to_owned();
    let ruling_fixture = "documents/court-ruling.pdf";
    let ruling = x.id(ruling_fixture).to_owned();
    let notes_ingest = x.line_of(&lines, "ingest", EXTRACTED);
    let extract = x.line_of(&lines, "extract", EXTRACTED);
    let ruling_ingest = x.line_of(&lines, "ingest", ruling_fixture);
    let photo_ingest = x.line_of(&lines, "ingest", "photos/detention-site.png");
    assert!(
        ruling_ingest < photo_ingest
            && photo_ingest < notes_ingest
            && notes_ingest < extract
            && extract == n - 2
    );
    let seq = |i: usize| format!("event {}", parse_line(&lines[i])["seq"]);
    let set = |f: &[(&str, &str)]| {
        f.iter()
            .map(|(k, i)| finding(k, i))
            .collect::<BTreeSet<_>>()
    };
    let without = |i: usize| {
        let mut l = lines.clone();
        l.remove(i);
        l
    };
    let with = |i: usize, line: Vec<u8>| {
        let mut l = lines.clone();
        l[i] = line;
        l
    };
    let swapped = |i: usize, j: usize| {
        let mut l = lines.clone();
        l.swap(i, j);
        l
    };
    vec![
        Forgery {
            what: "removed the extract event (between ingest and export)",
            lines: without(extract),
            expected: set(&[("item_chain_broken", &notes)]),
        },
        Forgery {
            what: "removed an ingest event",
            lines: without(ruling_ingest),
            expected: set(&[("item_chain_broken", &ruling)]),
        },
        Forgery {
            what: "removed the export event (the last line)",
            lines: without(n - 1),
            expected: set(&[
                ("chain_broken", &seq(extract)),
                ("head_mismatch", "bag-info.txt"),
                ("metadata_mismatch", "data/evidence.json"),
            ]),
        },
        Forgery {
            what: "edited the extract event's reason",
            lines: with(
                extract,
                edit(
                    &lines[extract],
                    "\"reason\":\"translation\"",
                    "\"reason\":\"routine\"",
                ),
            ),
            expected: set(&[("item_chain_broken", &notes)]),
        },
        Forgery {
            what: "edited an ingest event's source",
            lines: with(
                ruling_ingest,
                edit(&lines[ruling_ingest], "Witness W-01", "Witness W-02"),
            ),
            // The chain breaks, and evidence.json no longer agrees with the edited event.
            expected: set(&[
                ("item_chain_broken", &ruling),
                ("metadata_mismatch", &ruling),
            ]),
        },
        Forgery {
            what: "edited the export event's reason",
            lines: with(n - 1, edit(&lines[n - 1], "order 17/2024", "order 18/2024")),
            expected: set(&[("head_mismatch", "bag-info.txt")]),
        },
        Forgery {
            what: "reordered an item's ingest and extract events",
            lines: swapped(notes_ingest, extract),
            expected: set(&[
                ("item_chain_broken", &notes),
                ("chain_broken", &seq(notes_ingest)),
                ("chain_broken", &seq(notes_ingest + 1)),
            ]),
        },
        Forgery {
            what: "reordered the ingest events of two different items",
            lines: swapped(ruling_ingest, photo_ingest),
            expected: set(&[("chain_broken", &seq(ruling_ingest))]),
        },
        Forgery {
            what: "moved the export event to the top",
            lines: {
                let mut l = lines.clone();
                let export = l.pop().unwrap();
                l.insert(0, export);
                l
            },
            expected: BTreeSet::new(), // many findings; checked below by kind only
        },
        Forgery {
            what: "inserted a second copy of an ingest event",
            lines: {
                let mut l = lines.clone();
                l.insert(ruling_ingest + 1, lines[ruling_ingest].clone());
                l
            },
            expected: set(&[
                ("item_chain_broken", &ruling),
                ("chain_broken", &seq(ruling_ingest)),
            ]),
        },
    ]
}

#[test]
fn custody_forgeries_with_manifests_recomputed_are_caught_by_the_chain_alone() {
    require_tools();
    let x = exported();
    let clean = x.env.path("clean");
    copy_bag(&x.bag, &clean);
    for forgery in forgeries(&x) {
        let what = forgery.what;
        let bag = x.env.path("forged");
        if bag.exists() {
            std::fs::remove_dir_all(&bag).unwrap();
        }
        copy_bag(&clean, &bag);
        write_custody(&bag, &forgery.lines);
        reseal(&bag);
        // Every manifest is right again: bagit-python and b3sum see nothing wrong.
        let (valid, log) = bagit_validate(&bag);
        assert!(
            valid,
            "{what}: the resealed bag should pass bagit-python:\n{log}"
        );
        checksum_ok(&bag, "b3sum", "manifest-blake3.txt");

        let found = damaged(&bag, what);
        if forgery.expected.is_empty() {
            has(&found, "head_mismatch", "bag-info.txt", what);
            only_kinds(
                &found,
                &[
                    "chain_broken",
                    "item_chain_broken",
                    "head_mismatch",
                    "metadata_mismatch",
                ],
                what,
            );
        } else {
            assert_eq!(found, forgery.expected, "{what}");
        }
        let (rust, python_ok, said) = independent_checks(&bag);
        assert!(
            !rust.is_empty(),
            "{what}: the independent Rust check missed it"
        );
        assert!(!python_ok, "{what}: check_custody.py missed it:\n{said}");
    }
    // The untouched copy still passes all three.
    let (code, report, _) = verify_bundle(&clean);
    assert_eq!(code, 0, "{report:#}");
    let (rust, python_ok, said) = independent_checks(&clean);
    assert!(rust.is_empty() && python_ok, "{rust:?}\n{said}");
}

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
    copy_bag(&x.bag, &template);
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
        copy_bag(&template, &bag);
        append(&bag.join(manifest), format!("{hex}  {path}\n").as_bytes());
        if !manifest.starts_with("tag") {
            reseal_tags(&bag);
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

#[test]
fn hostile_bag_info_and_manifest_bytes_give_findings() {
    let x = exported();
    let template = x.env.path("template");
    copy_bag(&x.bag, &template);
    let fresh = |name: &str| {
        let bag = x.env.path(name);
        copy_bag(&template, &bag);
        bag
    };
    let set_oxum = |bag: &Path, oxum: &str| {
        let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
        let info: String = info
            .lines()
            .map(|l| {
                if l.starts_with("Payload-Oxum:") {
                    format!("Payload-Oxum: {oxum}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(bag.join("bag-info.txt"), info).unwrap();
        reseal_tags(bag);
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

    // Invalid UTF-8 in a manifest: it is unusable, so every payload file is unlisted in it.
    let bag = fresh("utf8-manifest");
    append(
        &bag.join("manifest-sha256.txt"),
        b"\xff\xfe\x80  data/\xc3\x28.txt\n",
    );
    reseal_tags(&bag);
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

    // Invalid UTF-8 in bag-info: no field of it can be trusted.
    let bag = fresh("utf8-info");
    append(&bag.join("bag-info.txt"), b"Contact-Name: \xff\xfe\n");
    reseal_tags(&bag);
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

    // Garbage lines in bag-info and in a manifest.
    let bag = fresh("garbage-info");
    append(&bag.join("bag-info.txt"), b"no label on this line\n");
    reseal_tags(&bag);
    let found = hostile(&bag, "a bag-info line without a label");
    has(&found, "bag_invalid", "bag-info.txt", "garbage bag-info");
    let bag = fresh("garbage-manifest");
    append(
        &bag.join("manifest-sha512.txt"),
        b"abc  data/case.json\n\n\0\0\0\n",
    );
    reseal_tags(&bag);
    let found = hostile(&bag, "garbage lines in manifest-sha512.txt");
    assert_eq!(
        found,
        BTreeSet::from([finding("bag_invalid", "manifest-sha512.txt")])
    );

    // A file whose name is not UTF-8, under data/.
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
fn malformed_json_in_evidence_and_custody_gives_findings() {
    let x = exported();
    let template = x.env.path("template");
    copy_bag(&x.bag, &template);
    let forged = |name: &str, file: &str, bytes: &[u8]| {
        let bag = x.env.path(name);
        copy_bag(&template, &bag);
        std::fs::write(bag.join(file), bytes).unwrap();
        reseal(&bag);
        bag
    };
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));

    for (i, evidence) in [
        b"{\"items\": [".to_vec(),
        b"".to_vec(),
        b"\xff\xfe{}".to_vec(),
        b"[]".to_vec(),
        b"{\"items\": 5}".to_vec(),
        deep.clone().into_bytes(),
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

    // Items of the wrong shape, and one whose file points out of the bag.
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

    // custody.jsonl: a line that is not JSON, is JSON but not an event, invalid UTF-8, NULs,
    // no final newline, empty, deeply nested.
    let lines = custody_lines(&template);
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

// ---------------------------------------------------------------------------------------------
// Regressions from review.

/// A `%` in a name is percent-encoded in BagIt manifests, which sha256sum and b3sum read
/// literally: such a name is exported under a safe derived name, and every tool still checks.
#[test]
fn a_percent_in_a_name_does_not_break_the_standard_tools() {
    require_tools();
    let env = Env::with_case();
    crate::util::write(&env.path("in/Invoice 100%.txt"), b"paid in full\n");
    env.ingest(&[&env.path("in")]);
    let bag = env.path("bag");
    env.ok(&["export", "--case", "BY-2024-017", "--out", arg(&bag)]);
    let checked = checksum_ok(&bag, "sha256sum", "manifest-sha256.txt");
    assert!(checked.iter().all(|p| !p.contains('%')), "{checked:?}");
    checksum_ok(&bag, "b3sum", "manifest-blake3.txt");
    let evidence: Value = serde_json::from_slice(
        &std::fs::read(bag.join("data/evidence.json")).expect("evidence.json"),
    )
    .expect("json");
    assert_eq!(
        evidence["items"][0]["name"], "Invoice 100%.txt",
        "the original name is kept in the metadata"
    );
    assert!(bagit_validate(&bag).0);
}

/// An attachment filed only in another case is not exported with its parent's case.
#[test]
fn attachments_of_another_case_stay_out_of_the_bundle() {
    let env = Env::with_case();
    env.ok(&[
        "case",
        "create",
        "OTHER",
        "--title",
        "Another investigation",
    ]);
    crate::util::write(&env.path("mail/message.eml"), b"the e-mail\n");
    let parent = env.ingest(&[&env.path("mail")])["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    crate::util::write(
        &env.path("att/secret.txt"),
        b"belongs to the other case only\n",
    );
    env.ok(&[
        "ingest",
        "--case",
        "OTHER",
        "--parent",
        &parent,
        arg(&env.path("att")),
    ]);
    let bag = env.path("bag");
    let done = env.json(&["export", "--case", "BY-2024-017", "--out", arg(&bag)]);
    assert_eq!(done["items"], 1, "only the e-mail: {done}");
    assert!(
        !files_under(&bag).iter().any(|f| f.contains("secret")),
        "{:?}",
        files_under(&bag)
    );
}
