//! The fixture case `fixtures/case-BY-2024-017`: its known-answer vectors (hashes computed by
//! other tools) and the paths and context a user ingests it with.

use super::*;

/// One known-answer vector of `fixtures/vectors.json` (hashes computed by other tools).
#[derive(Clone, Debug)]
pub struct FixtureVector {
    /// Relative to `fixtures/case-BY-2024-017/`, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub blake3: String,
}

/// Every file vector of `fixtures/vectors.json`.
pub fn fixture_vectors() -> Vec<FixtureVector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).expect("read vectors.json"))
        .expect("vectors.json is JSON");
    let field = |f: &Value, k: &str| {
        f[k].as_str()
            .unwrap_or_else(|| panic!("vectors.json: {k} missing"))
            .to_owned()
    };
    doc["files"]
        .as_array()
        .expect("vectors.json: files")
        .iter()
        .map(|f| FixtureVector {
            path: field(f, "path"),
            size: f["size"].as_u64().expect("vectors.json: size"),
            sha256: field(f, "sha256"),
            blake3: field(f, "blake3"),
        })
        .collect()
}

/// The fixture paths ingested as evidence of their own: everything but the e-mail's attachments.
pub const FIXTURE_TOP_LEVEL: [&str; 5] = [
    "documents",
    "photos",
    "testimonies",
    "empty.txt",
    "email/message.eml",
];

pub const FIXTURE_ATTACHMENTS: &str = "email/attachments";

pub const FIXTURE_SOURCE: &str = "Witness W-01, USB stick handed over in person";

pub const FIXTURE_NOTE: &str = "Copied at the field office; stick returned";

pub const FIXTURE_CAPTURED_AT: &str = "2024-03-02T14:05:00Z";

/// A fixture path relative to the fixture case (`email/message.eml`), from an ingest report's path.
pub fn fixture_rel(reported: &str) -> String {
    let base = fixtures();
    Path::new(reported)
        .strip_prefix(&base)
        .unwrap_or_else(|_| panic!("{reported} is not under {}", base.display()))
        .to_str()
        .expect("UTF-8")
        .to_owned()
}

impl Env {
    /// Ingests the fixture case into BY-2024-017 as a user would: the top-level files with their
    /// context, then the e-mail's attachments with `--parent` the e-mail. Returns fixture path -> id.
    pub fn ingest_fixture_case(&self) -> std::collections::BTreeMap<String, String> {
        let fx = fixtures();
        let top: Vec<PathBuf> = FIXTURE_TOP_LEVEL.iter().map(|p| fx.join(p)).collect();
        let mut args = vec![
            "ingest",
            "--case",
            "BY-2024-017",
            "--source",
            FIXTURE_SOURCE,
            "--note",
            FIXTURE_NOTE,
            "--tag",
            "intake",
            "--tag",
            "by-2024-017",
            "--captured-at",
            FIXTURE_CAPTURED_AT,
        ];
        args.extend(top.iter().map(|p| arg(p)));
        let mut ids = std::collections::BTreeMap::new();
        let record = |ids: &mut std::collections::BTreeMap<String, String>, report: &Value| {
            for item in report["items"].as_array().expect("ingest items") {
                let rel = fixture_rel(item["path"].as_str().expect("ingest path"));
                ids.insert(rel, item["id"].as_str().expect("ingest id").to_owned());
            }
        };
        record(&mut ids, &self.json(&args));
        let parent = ids
            .get("email/message.eml")
            .cloned()
            .expect("message.eml ingested");
        let attachments = fx.join(FIXTURE_ATTACHMENTS);
        record(
            &mut ids,
            &self.json(&[
                "ingest",
                "--case",
                "BY-2024-017",
                "--parent",
                &parent,
                "--tag",
                "attachment",
                arg(&attachments),
            ]),
        );
        ids
    }
}
