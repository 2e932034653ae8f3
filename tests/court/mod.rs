//! A bundle a court clerk can read, and an export that says what it exported (issue 12,
//! points 7 and 8): `data/inventory.csv` and `data/index.html` beside the machine-readable
//! files, checked against `evidence.json` (by Python's csv module and by a real browser,
//! headless Chromium from Debian's package, which `.ci/setup` installs), found when
//! tampered with, and `export`'s summary and `--dry-run`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{
    Env, arg, json_str, problem_pairs, reseal_bag, skip_outside_ci, text, verify_bundle_json, write,
};

mod browser;

const CASE: &str = "BY-2024-017";
const OTHER: &str = "OTHER-1";
/// Names a spreadsheet, a CSV reader or a browser could be fooled by.
const HOSTILE: [&str; 5] = [
    "a,b \"quoted\".txt",
    // No `/` in a file name: `<script>` opens, and `&amp;` must not be read as an entity.
    "<script>alert('x')&amp;.html",
    "line one\nline two.txt",
    "invoice\u{202E}fdp.exe",
    "plain.txt",
];
const SOURCE: &str = "phone of \"W1\", Kharkiv";

/// A case with the hostile names, a mail with one attachment in the case and one filed
/// only in another case. Returns the env and the ids of the mail and both attachments.
struct Case {
    env: Env,
    mail: String,
    attachment: String,
    elsewhere: String,
}

fn case() -> Case {
    let env = Env::with_case();
    env.ok(&["case", "create", OTHER, "--title", "Another case"]);
    let dir = env.path("in");
    for (n, name) in HOSTILE.iter().enumerate() {
        write(&dir.join(name), format!("content {n}\n").as_bytes());
    }
    let mut args = vec![
        "ingest",
        "--case",
        CASE,
        "--source",
        SOURCE,
        "--tag",
        "photo",
        "--tag",
        "witness",
        "--captured-at",
        "2024-03-02",
    ];
    args.push(arg(&dir));
    env.json(&args);
    write(&env.path("mail/message.eml"), b"From: x\n\nhello\n");
    let mail = ingested_id(&env.json(&["ingest", "--case", CASE, arg(&env.path("mail"))]));
    write(&env.path("att/scan.pdf"), b"%PDF-1.4 scan\n");
    let attachment = ingested_id(&env.json(&[
        "ingest",
        "--case",
        CASE,
        "--parent",
        &mail,
        arg(&env.path("att/scan.pdf")),
    ]));
    write(&env.path("att2/other.pdf"), b"%PDF-1.4 other\n");
    let elsewhere = ingested_id(&env.json(&[
        "ingest",
        "--case",
        OTHER,
        "--parent",
        &mail,
        arg(&env.path("att2/other.pdf")),
    ]));
    Case {
        env,
        mail,
        attachment,
        elsewhere,
    }
}

fn ingested_id(report: &Value) -> String {
    json_str(&report["items"][0]["id"]).to_owned()
}

impl Case {
    /// Exports the whole case to `name`; returns the bag and export's JSON report.
    fn export(&self, name: &str, extra: &[&str]) -> (PathBuf, Value) {
        let bag = self.env.path(name);
        // The sources are committed (issue 11.7): these bundles reveal them, for people.
        let mut args = vec![
            "export",
            "--case",
            CASE,
            "--out",
            arg(&bag),
            "--reveal",
            "source",
        ];
        args.extend_from_slice(extra);
        let report = self.env.json(&args);
        (bag, report)
    }
}

fn evidence_items(bag: &Path) -> Vec<Value> {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    doc["items"]
        .as_array()
        .expect("evidence.json items")
        .clone()
}

/// inventory.csv's rows as Python's csv module reads them (the header first).
fn csv_rows(file: &Path) -> Vec<Vec<String>> {
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='', encoding='utf-8') as f:\n    \
                  print(json.dumps(list(csv.reader(f, strict=True))))";
    let out = Command::new("python3")
        .args(["-c", script, arg(file)])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "csv: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn opt(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

/// issue 12, point 7: one row per evidence.json entry, in order, every field as evidence.json
/// gives it, hostile names intact once read back by a standard CSV reader.
#[test]
fn issue_12_7_inventory_csv_rows_are_the_evidence_json_entries() {
    let c = case();
    let (bag, _) = c.export("bundle", &[]);
    let bytes = std::fs::read(bag.join("data/inventory.csv")).unwrap();
    assert!(
        bytes.starts_with(b"id,name,size,sha256,blake3,captured_at,source,tags,parent\r\n"),
        "header: {}",
        text(&bytes[..80.min(bytes.len())])
    );
    let rows = csv_rows(&bag.join("data/inventory.csv"));
    let items = evidence_items(&bag);
    assert_eq!(rows.len(), items.len() + 1, "{rows:?}");
    for (row, item) in rows[1..].iter().zip(&items) {
        let tags: Vec<String> = item["tags"].as_array().unwrap().iter().map(opt).collect();
        let want = vec![
            opt(&item["id"]),
            opt(&item["name"]),
            item["size"].as_u64().unwrap().to_string(),
            opt(&item["sha256"]),
            opt(&item["blake3"]),
            opt(&item["captured_at"]),
            opt(&item["source"]),
            tags.join(";"),
            opt(&item["parent"]),
        ];
        assert_eq!(row, &want);
    }
    let names: BTreeSet<String> = rows[1..].iter().map(|r| r[1].clone()).collect();
    for name in HOSTILE {
        assert!(names.contains(name), "{name:?} not read back from the CSV");
    }
    assert!(rows[1..].iter().any(|r| r[6] == SOURCE));
    assert!(
        rows[1..]
            .iter()
            .any(|r| r[0] == c.attachment && r[8] == c.mail)
    );
}

/// issue 12, point 7: index.html is self-contained and escapes every value: no markup, no
/// hidden or reordering character of a name reaches the page as such.
#[test]
fn issue_12_7_index_html_is_self_contained_and_escapes_hostile_names() {
    let c = case();
    let (bag, _) = c.export("bundle", &["--reason", "court order <17>"]);
    let html = std::fs::read_to_string(bag.join("data/index.html")).unwrap();
    let lower = html.to_lowercase();
    for banned in [
        "<script", "src=", "href=", "<link", "<img", "@import", "url(", "http:", "https:",
    ] {
        assert!(!lower.contains(banned), "index.html holds {banned:?}");
    }
    assert!(
        !html.contains('\u{202E}'),
        "a raw RTL override in index.html"
    );
    assert!(html.contains("invoice⟨U+202E⟩fdp.exe"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&amp;amp;.html"));
    assert!(html.contains("line one⟨U+000A⟩line two.txt"));
    assert!(html.contains("a,b &quot;quoted&quot;.txt"));
    assert!(html.contains("@media print"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.contains("README-VERIFY.txt"));
    // The history in words, from the ingest events.
    assert!(
        html.contains(&format!("ingested by tester into case {CASE} as “plain.txt” from phone of &quot;W1&quot;, Kharkiv")),
        "{html}"
    );
    assert!(html.contains(&format!(", attached to {}", c.mail)));
    // One row per item, in evidence.json's order.
    let ids: Vec<String> = evidence_items(&bag).iter().map(|i| opt(&i["id"])).collect();
    let rows: Vec<&str> = html
        .split("<tr class=\"item\"><td class=\"id\">")
        .skip(1)
        .map(|r| r.split('<').next().unwrap())
        .collect();
    assert_eq!(rows, ids);
}

/// The clerk's README: what the bundle proves first, then the three platforms' commands.
#[test]
fn issue_12_7_readme_verify_speaks_to_a_clerk() {
    let c = case();
    let (bag, _) = c.export("bundle", &[]);
    let readme = std::fs::read_to_string(bag.join("data/README-VERIFY.txt")).unwrap();
    let at = |s: &str| {
        readme
            .find(s)
            .unwrap_or_else(|| panic!("README-VERIFY.txt lacks {s:?}"))
    };
    assert!(at("WHAT THIS BUNDLE IS, AND WHAT IT PROVES") < at("sha256sum -c manifest-sha256.txt"));
    assert!(at("sha256sum -c") < at("shasum -a 256 -c manifest-sha256.txt"));
    assert!(at("shasum -a 256") < at("Get-FileHash -Algorithm SHA256"));
    assert!(at("Get-Content manifest-sha256.txt") < at("bagit.py --validate"));
    at("data/index.html");
    at("data/inventory.csv");
    at("python3 data/proof/check.py");
    // Everything named as a file of the bag is in the bag.
    for word in readme.split_whitespace() {
        let word = word.trim_matches(|c: char| "(),.:\"".contains(c));
        if word.starts_with("data/") && !word.contains('<') && !word.contains("-N.") {
            assert!(
                bag.join(word).exists(),
                "README-VERIFY.txt names {word}, not in the bag"
            );
        }
    }
    // The bag passes `sha256sum -c` as the README says.
    let out = Command::new("sha256sum")
        .args(["-c", "manifest-sha256.txt"])
        .current_dir(&bag)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

/// An edit of a bag, as a forger would make it.
type Tamper = fn(&Path);

/// A forger who edits inventory.csv or index.html and recomputes every manifest is found.
#[test]
fn issue_12_7_tampered_reading_files_are_findings() {
    let c = case();
    let (bag, _) = c.export("bundle", &[]);
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 0, "{report:#}");
    let cases: [(&str, Tamper); 4] = [
        ("inventory.csv: a name changed", |bag| {
            let p = bag.join("data/inventory.csv");
            let t = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, t.replace("plain.txt", "other.txt")).unwrap();
        }),
        ("index.html: a name changed", |bag| {
            let p = bag.join("data/index.html");
            let t = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, t.replace("plain.txt", "other.txt")).unwrap();
        }),
        ("inventory.csv removed", |bag| {
            std::fs::remove_file(bag.join("data/inventory.csv")).unwrap()
        }),
        ("index.html removed", |bag| {
            std::fs::remove_file(bag.join("data/index.html")).unwrap()
        }),
    ];
    let expected = [
        ("metadata_mismatch", "data/inventory.csv"),
        ("metadata_mismatch", "data/index.html"),
        ("file_missing", "data/inventory.csv"),
        ("file_missing", "data/index.html"),
    ];
    for ((what, tamper), (kind, file)) in cases.into_iter().zip(expected) {
        let copy = c.env.path(&format!("copy-{kind}-{}", file.len()));
        let copy = if copy.exists() {
            c.env.path(&format!("copy-{kind}-{}-b", file.len()))
        } else {
            copy
        };
        crate::util::copy_tree(&bag, &copy);
        let before = std::fs::read(copy.join(file)).ok();
        tamper(&copy);
        assert_ne!(
            std::fs::read(copy.join(file)).ok(),
            before,
            "{what}: not tampered"
        );
        reseal_bag(&copy);
        let (code, report, _) = verify_bundle_json(&copy);
        assert_eq!(code, 3, "{what}: {report:#}");
        let found = problem_pairs(&report);
        assert!(
            found.contains(&(kind.to_owned(), file.to_owned())),
            "{what}: {found:?}"
        );
    }
}

/// issue 12, point 8: the summary says how many items and bytes went, how many were
/// attachments, and what stayed out and why; JSON adds the same as fields.
#[test]
fn issue_12_8_export_says_what_it_exported_and_what_it_left_out() {
    let c = case();
    let (_, report) = c.export("bundle", &[]);
    assert_eq!(report["items"], 7, "{report:#}");
    assert_eq!(report["attachments"], 1);
    assert_eq!(
        report["left_out"],
        serde_json::json!([{"id": c.elsewhere, "reason": "not_in_case", "attachment_of": c.mail}])
    );
    assert!(report["evidence_bytes"].as_u64().unwrap() > 0);
    // Without attachments, the one in the case stays out too, for that reason.
    let out = c.env.ok(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&c.env.path("bundle2")),
        "--no-attachments",
    ]);
    assert!(out.contains("6 item(s)"), "{out}");
    assert!(out.contains("0 of them attachment(s)"), "{out}");
    assert!(out.contains("left out: 2 item(s)"), "{out}");
    assert!(
        out.contains(&format!(
            "{}, attachment of {}: attachments left out (--no-attachments)",
            c.attachment, c.mail
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}, attachment of {}: filed only in another case",
            c.elsewhere, c.mail
        )),
        "{out}"
    );
}

/// `export --dry-run` lists what would go, in export's JSON shape with `dry_run: true`, and
/// writes and records nothing; its bad inputs fail as `export`'s do.
#[test]
fn issue_12_8_export_dry_run_lists_and_writes_nothing() {
    let c = case();
    let log_before = c.env.ok(&["--json", "log"]);
    let out = c.env.path("bundle");
    let plan = c
        .env
        .json(&["export", "--case", CASE, "--out", arg(&out), "--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["items"], 7);
    assert_eq!(plan["attachments"], 1);
    assert_eq!(plan["left_out"][0]["id"], c.elsewhere.as_str());
    let names: BTreeSet<String> = plan["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| opt(&i["name"]))
        .collect();
    for name in HOSTILE {
        assert!(names.contains(name), "{name:?} not listed: {plan:#}");
    }
    let human = c
        .env
        .ok(&["export", "--case", CASE, "--out", arg(&out), "--dry-run"]);
    assert!(human.contains("would export 7 item(s)"), "{human}");
    assert!(human.contains("scan.pdf  (attachment of"), "{human}");
    assert!(!out.exists(), "a dry run made {}", out.display());
    let stray: Vec<_> = std::fs::read_dir(c.env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("custodia-export"))
        .collect();
    assert!(stray.is_empty(), "a dry run left {stray:?}");
    assert_eq!(
        c.env.ok(&["--json", "log"]),
        log_before,
        "a dry run recorded an event"
    );
    // The bad-input paths: an unknown case, an item not in the case, an output that exists.
    c.env.fails(
        &[
            "export",
            "--case",
            "NOPE-1",
            "--out",
            arg(&out),
            "--dry-run",
        ],
        1,
    );
    c.env.fails(
        &[
            "export",
            "--case",
            CASE,
            "--out",
            arg(&out),
            "--evidence",
            &c.elsewhere,
            "--dry-run",
        ],
        1,
    );
    std::fs::create_dir(&out).unwrap();
    c.env.fails(
        &["export", "--case", CASE, "--out", arg(&out), "--dry-run"],
        1,
    );
    assert_eq!(c.env.ok(&["--json", "log"]), log_before);
}

/// Whether `chromium` is on the PATH.
fn chromium_installed() -> bool {
    Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Skips (outside CI) or fails (under CI) when chromium is missing; true when it is there.
fn require_chromium(test: &str) -> bool {
    if chromium_installed() {
        return true;
    }
    skip_outside_ci(test, "chromium (Debian's package) is not installed");
    false
}
