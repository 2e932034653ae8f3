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

mod bounds;
mod forgery;
mod publish;

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
