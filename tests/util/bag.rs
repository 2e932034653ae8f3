//! Forging and checking BagIt bundles (issue 10: one helper instead of a dozen copies):
//! listing a bag, resealing its manifests after an edit, and `verify --bundle` as JSON.

use super::*;

/// The regular files under `dir`, relative and `/`-separated, not following links.
pub fn bag_files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("dir entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().into_string().expect("UTF-8 names");
            let kind = entry.file_type().expect("file type");
            let rel = format!("{prefix}{name}");
            if kind.is_dir() {
                walk(&entry.path(), &format!("{rel}/"), out);
            } else if kind.is_file() {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out
}

/// A digest in hex by its BagIt algorithm name: `sha256`, `sha512` or `blake3`.
pub fn bag_digest(algorithm: &str, bytes: &[u8]) -> String {
    use sha2::Digest;
    match algorithm {
        "sha256" => sha256_hex(bytes),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        "blake3" => blake3_hex(bytes),
        other => panic!("no algorithm {other}"),
    }
}

/// What a forger does after editing a bag: recomputes every payload manifest (SHA-256,
/// SHA-512, BLAKE3) from the files under data/, Payload-Oxum, and the two tag manifests, so
/// that bagit-python, `sha256sum -c` and `b3sum -c` all pass and only custodia's own checks
/// can find the edit.
pub fn reseal_bag(bag: &Path) {
    let payload: Vec<(String, Vec<u8>)> = bag_files(&bag.join("data"))
        .into_iter()
        .map(|rel| {
            assert!(
                !rel.contains(['%', '\n', '\r']),
                "reseal_bag writes paths as they are; {rel:?} would need percent-encoding"
            );
            let bytes = std::fs::read(bag.join("data").join(&rel)).expect("read payload");
            (format!("data/{rel}"), bytes)
        })
        .collect();
    for algorithm in ["sha256", "sha512", "blake3"] {
        let manifest: String = payload
            .iter()
            .map(|(rel, bytes)| format!("{}  {rel}\n", bag_digest(algorithm, bytes)))
            .collect();
        std::fs::write(bag.join(format!("manifest-{algorithm}.txt")), manifest)
            .expect("write manifest");
    }
    let bytes: usize = payload.iter().map(|(_, b)| b.len()).sum();
    set_payload_oxum(bag, &format!("{bytes}.{}", payload.len()));
    reseal_tag_manifests(bag);
}

/// Recomputes only the two tag manifests, over bagit.txt, bag-info.txt and the payload
/// manifests as they now are: what a forger does after editing a tag file while leaving the
/// payload manifests as edited (or stale) on purpose. A tag file the forger removed is left
/// out of the tag manifests rather than read.
pub fn reseal_tag_manifests(bag: &Path) {
    let tag_files = [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "manifest-blake3.txt",
    ];
    for algorithm in ["sha256", "sha512"] {
        let manifest: String = tag_files
            .iter()
            .filter(|f| bag.join(f).is_file())
            .map(|f| {
                let bytes = std::fs::read(bag.join(f)).expect("read tag file");
                format!("{}  {f}\n", bag_digest(algorithm, &bytes))
            })
            .collect();
        std::fs::write(bag.join(format!("tagmanifest-{algorithm}.txt")), manifest)
            .expect("write tag manifest");
    }
}

/// Replaces the value of bag-info's (first) Payload-Oxum line.
pub fn set_payload_oxum(bag: &Path, oxum: &str) {
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).expect("bag-info.txt");
    let mut done = false;
    let info: String = info
        .split_inclusive('\n')
        .map(|l| {
            if l.starts_with("Payload-Oxum:") && !done {
                done = true;
                format!("Payload-Oxum: {oxum}\n")
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(done, "bag-info.txt has no Payload-Oxum");
    std::fs::write(bag.join("bag-info.txt"), info).expect("write bag-info");
}

/// `--json verify --bundle DIR` with no archive: (exit code, report, stderr); never a panic.
pub fn verify_bundle_json(bag: &Path) -> (i32, Value, String) {
    let env = Env::new();
    let out = env.run(&["--json", "verify", "--bundle", arg(bag)]);
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "verify --bundle panicked:\n{stderr}"
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The (kind, id) pairs of a verify report's problems.
pub fn problem_pairs(report: &Value) -> std::collections::BTreeSet<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list in {report}"))
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or("").to_owned(),
                p["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Copies a bag's regular files and directories to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for rel in bag_files(from) {
        write(
            &to.join(&rel),
            &std::fs::read(from.join(&rel)).expect("read bag file"),
        );
    }
}

/// `python3 data/proof/check.py [keys]` in the bag, the checker shipped inside it:
/// (passed, what it printed).
pub fn python_check(bag: &Path, keys: &[&Path]) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .arg("data/proof/check.py")
        .args(keys)
        .current_dir(bag)
        .output()
        .expect("python3");
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}
