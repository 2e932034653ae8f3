//! Where things are in a bundle, and the metadata documents it carries as typed records
//! (docs/FORMAT.md, "Bundles"): `export` writes them and `verify --bundle` reads them
//! through the same structs, so the two cannot drift apart.
//!
//! The structs' fields are declared in byte order of their JSON keys: serde writes a struct's
//! fields in declaration order, so the bytes are the sorted-key documents custodia has
//! always written, whatever serde_json's features (a unit test below pins it).

use serde::{Deserialize, Serialize};

use crate::catalog::ItemRecord;
use crate::custody::canonical_json;
use crate::custody::disclosure::Disclosed;
use crate::ids::Sha256Digest;

/// The algorithms of the payload and tag manifests, in the order custodia writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
    Blake3,
}

impl Algorithm {
    pub const PAYLOAD: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha512, Algorithm::Blake3];
    /// bagit-python ignores algorithms hashlib lacks, so tag manifests use these two.
    pub const TAG: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
        }
    }

    pub fn manifest(self) -> String {
        format!("manifest-{}.txt", self.name())
    }

    pub fn tag_manifest(self) -> String {
        format!("tagmanifest-{}.txt", self.name())
    }

    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha512 => 128,
            _ => 64,
        }
    }
}

pub const BAGIT_TXT: &str = "bagit.txt";
pub const BAG_INFO: &str = "bag-info.txt";
pub const DATA: &str = "data";
pub const CASE_JSON: &str = "data/case.json";
pub const EVIDENCE_JSON: &str = "data/evidence.json";
pub const CUSTODY_JSONL: &str = "data/custody.jsonl";
pub const README_VERIFY: &str = "data/README-VERIFY.txt";
/// For people: one row per item, for a spreadsheet (issue 12, point 7).
pub const INVENTORY_CSV: &str = "data/inventory.csv";
/// For people: the case, its items and their histories, for a browser or paper.
pub const INDEX_HTML: &str = "data/index.html";
pub const EVIDENCE_DIR: &str = "data/evidence/";
/// The name a payload file gets when its original name is not safe and portable.
pub const FALLBACK_NAME: &str = "file.bin";

/// `data/proof/`: what a recipient checks the custody record's signatures, inclusion and
/// time with (docs/FORMAT.md, "The proof a bundle carries").
pub mod proof {
    pub const DIR: &str = "data/proof";
    pub const CHECKPOINT: &str = "data/proof/checkpoint";
    pub const CHECKPOINT_SIG: &str = "data/proof/checkpoint.sig";
    pub const SIGNER_PEM: &str = "data/proof/signer.pem";
    pub const KEYS: &str = "data/proof/keys.jsonl";
    pub const ANCHORS: &str = "data/proof/anchors.jsonl";
    pub const INCLUSION: &str = "data/proof/inclusion.jsonl";
    pub const CONSISTENCY: &str = "data/proof/consistency.jsonl";
    pub const ALLOWED_SIGNERS: &str = "data/proof/allowed_signers";
    pub const CHECK_PY: &str = "data/proof/check.py";
    /// The committed values the bundle reveals, with their salts (issue 11.7).
    pub const REVEALS: &str = "data/proof/reveals.jsonl";
    /// The independent checker shipped in every bag (under 120 lines, standard library
    /// plus `cryptography`).
    pub const CHECKER: &str = include_str!("bundle/check.py");

    /// The checkers bundles of earlier releases carry, by size and hex SHA-256: such a
    /// bundle still verifies (`fixtures/check-py-before-annotate.py` is the first).
    pub const EARLIER_CHECKERS: &[(u64, &str)] = &[(
        5345,
        "aa8f4dccbafa8ca17e04df3858413a8c533afb0be96082691b93eddab6721957",
    )];

    /// Whether `bytes` are the checker of this release or of an earlier one.
    pub fn is_a_checker(bytes: &[u8]) -> bool {
        use sha2::Digest;
        if bytes == CHECKER.as_bytes() {
            return true;
        }
        let digest = hex::encode(sha2::Sha256::digest(bytes));
        EARLIER_CHECKERS
            .iter()
            .any(|(size, sha256)| *size == bytes.len() as u64 && digest == *sha256)
    }

    /// The size a bag's checker must have: an earlier release's when it has that size,
    /// else this release's.
    pub fn checker_size(found: Option<u64>) -> u64 {
        EARLIER_CHECKERS
            .iter()
            .map(|(size, _)| *size)
            .find(|size| Some(*size) == found)
            .unwrap_or(CHECKER.len() as u64)
    }

    /// The DER time-stamp token of the `timestamp` event `seq`, for `openssl ts -verify`.
    pub fn token_file(seq: u64) -> String {
        format!("data/proof/timestamp-{seq}.token")
    }

    /// The seq a token file's name gives, if it is one.
    pub fn token_seq(rel: &str) -> Option<u64> {
        let n = rel
            .strip_prefix("data/proof/timestamp-")?
            .strip_suffix(".token")?;
        n.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| n.parse().ok())?
    }
}

/// bag-info.txt fields custodia adds.
pub const INFO_ARCHIVE: &str = "Custodia-Archive-Id";
pub const INFO_EVENT: &str = "Custodia-Export-Event";
pub const INFO_HEAD: &str = "Custodia-Custody-Head";

/// Where an item's bytes are in a bag: from its id and original name alone.
pub fn evidence_path(item: &ItemRecord) -> String {
    evidence_path_of(&item.id.to_string(), &item.name)
}

/// `evidence_path` from an id and name as a bundle's ingest event gives them.
pub fn evidence_path_of(id: &str, name: &[u8]) -> String {
    format!(
        "{EVIDENCE_DIR}{id}/{}",
        crate::text::safe_file_name(name, FALLBACK_NAME)
    )
}

/// `data/case.json`: the case as the archive recorded it, and the items exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseJson {
    pub archive_id: String,
    pub created_at: String,
    pub created_by: String,
    pub description: Option<String>,
    pub exported_items: Vec<String>,
    pub id: String,
    pub title: String,
}

/// `data/evidence.json`: the case and one `EvidenceEntry` per exported item, in id order.
/// `I` is what holds the entries: export streams them, `verify --bundle` reads each apart.
#[derive(Serialize, Deserialize)]
pub struct EvidenceJson<I> {
    pub case: String,
    pub items: I,
}

/// One item of `evidence.json`: its payload file with all three digests, and everything
/// its ingest event recorded (`name_hex` and `path_hex` the exact bytes, `name` and `path`
/// the same as text), with the items attached to it and the cases it is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceEntry {
    pub attachments: Vec<String>,
    pub blake3: String,
    pub captured_at: Option<String>,
    pub cases: Vec<String>,
    pub file: String,
    pub id: String,
    pub ingested_at: String,
    pub ingested_by: String,
    pub modified_at: Option<String>,
    pub name: String,
    pub name_hex: String,
    /// The items its `parent` and `attachments` name that the bundle does not hold, in id
    /// order: each said plainly rather than left for the reader to find missing. Absent
    /// from bundles written before it, whose references are not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_exported: Option<Vec<String>>,
    /// Committed in the ingest event since issue 11.7: the value when the bundle reveals
    /// it, else the event's commitment.
    pub note: Disclosed<Option<String>>,
    pub parent: Option<String>,
    pub path: Disclosed<String>,
    pub path_hex: Disclosed<String>,
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
    pub source: Disclosed<Option<String>>,
    pub tags: Vec<String>,
}

/// One line of `data/proof/reveals.jsonl`: the opening of one committed field of event `seq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealLine {
    pub seq: u64,
    /// `host`, `case` or `details.<key>`.
    pub field: String,
    pub salt: String,
    pub value: serde_json::Value,
}

/// SHA-256 of a metadata document's canonical JSON (compact, keys sorted: the encoding of
/// custody events): what the export event records of `case.json` and of each
/// `evidence.json` entry, whatever their layout on disk. A document read from a bag is
/// hashed as found (a `serde_json::Value`), so that a field added to it changes its digest.
pub fn metadata_digest(document: &impl Serialize) -> Sha256Digest {
    use sha2::Digest;
    // Plain data (strings, numbers, lists) always converts; `Null` would not match anyway.
    let value = serde_json::to_value(document).unwrap_or_default();
    Sha256Digest::from_bytes(sha2::Sha256::digest(canonical_json(&value)).into())
}

/// README-VERIFY.txt of the bundles this release writes (they carry data/proof/): for a
/// court clerk first (issue 12, point 7): what the bundle proves in plain words, the one
/// check anyone can run on Linux, macOS or Windows, then the thorough checks. It names only
/// files in the bag and tools to install; docs/FORMAT.md is mentioned as background.
pub fn readme_verify_signed(case: &crate::ids::CaseId) -> String {
    // The text is a file of its own so that it reads as the clerk reads it; `{case}` is
    // its only placeholder.
    include_str!("bundle/readme-verify.txt").replace("{case}", case.as_str())
}

pub fn readme_verify(case: &crate::ids::CaseId) -> String {
    format!(
        r#"Verifying this bundle (case {case})
=====================================

This directory is a BagIt 1.0 bag (RFC 8493) written by custodia. Everything below
can be checked with standard tools; custodia is not needed. Run the commands from
the bag's top directory (the one holding bagit.txt).

1. The bag as a whole (bagit-python, from PyPI: pip install bagit):

   bagit.py --validate .

2. Every payload file, with each manifest (coreutils and b3sum):

   sha256sum -c manifest-sha256.txt
   sha512sum -c manifest-sha512.txt
   b3sum -c manifest-blake3.txt

   and the tag files (bag-info.txt, the manifests):

   sha256sum -c tagmanifest-sha256.txt
   sha512sum -c tagmanifest-sha512.txt

   Also check that no file exists that no manifest lists (checksum tools do not notice
   extra files): every file under data/ must appear in manifest-sha256.txt.

3. The evidence: data/evidence/<ID>/<name> holds each item's original bytes. Its
   SHA-256 and BLAKE3 must equal the "sha256" and "blake3" of the item in
   data/evidence.json and in the item's "ingest" event in data/custody.jsonl (the
   hashes taken when the item entered the archive). The original file name, as bytes,
   is "name_hex" in data/evidence.json.

4. The chain of custody: data/custody.jsonl holds, one per line, every custody event
   that names an exported item, oldest first, ending with this export. Each line is
   the exact bytes of one event (canonical JSON), and every line names at least one
   exported item. For each exported item id, take the events
   whose "items" list names it, in order: the first is its "ingest" and has
   "prev": null in its entry for that item; every later one's entry for that item has
   "prev" equal to the lower-case hex SHA-256 of the exact bytes (without the newline)
   of the item's previous event. The last line is the export event; it names every
   exported item, and its SHA-256 is the Custodia-Custody-Head in bag-info.txt.
   Removing, inserting, reordering or editing any event breaks one of these links.

What this proves, and what it does not: the files are the bytes the archive recorded
at ingest, and their recorded history is complete and unaltered since it was written.
Someone able to rewrite the whole archive could recompute every hash; signatures and
trusted timestamps are not part of this bundle format yet.

The format is specified in docs/FORMAT.md of custodia ("Bundles").
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> EvidenceEntry {
        EvidenceEntry {
            attachments: vec!["EV-000002".into()],
            blake3: "b".into(),
            captured_at: None,
            cases: vec!["C-1".into()],
            file: "data/evidence/EV-000001/x.txt".into(),
            id: "EV-000001".into(),
            ingested_at: "2024-01-01T00:00:00Z".into(),
            ingested_by: "a".into(),
            modified_at: Some("2023-01-01T00:00:00Z".into()),
            name: "x.txt".into(),
            name_hex: hex::encode("x.txt"),
            not_exported: Some(vec!["EV-000002".into()]),
            note: Disclosed::Plain(Some("\u{1}é".into())),
            parent: None,
            path: Disclosed::Plain("/in/x.txt".into()),
            path_hex: Disclosed::Plain(hex::encode("/in/x.txt")),
            sha256: "s".into(),
            sha512: "t".into(),
            size: 5,
            source: Disclosed::Plain(None),
            tags: vec![],
        }
    }

    /// The fields are declared in key order, so serde writes the canonical (sorted) form.
    #[test]
    fn documents_serialize_with_their_keys_sorted() {
        let case = CaseJson {
            archive_id: "x".into(),
            created_at: "t".into(),
            created_by: "a".into(),
            description: None,
            exported_items: vec!["EV-000001".into()],
            id: "C-1".into(),
            title: "T".into(),
        };
        assert_eq!(
            serde_json::to_vec(&entry()).unwrap(),
            canonical_json(&serde_json::to_value(entry()).unwrap())
        );
        assert_eq!(
            serde_json::to_vec(&case).unwrap(),
            canonical_json(&serde_json::to_value(&case).unwrap())
        );
    }

    /// A document read back as a `Value` has the digest of the struct it was written from.
    #[test]
    fn the_digest_of_a_document_read_back_is_the_digest_written() {
        let written = serde_json::to_vec_pretty(&entry()).unwrap();
        let read: serde_json::Value = serde_json::from_slice(&written).unwrap();
        assert_eq!(metadata_digest(&read), metadata_digest(&entry()));
        let expected: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(serde_json::to_vec(&entry()).unwrap()).into()
        };
        assert_eq!(
            metadata_digest(&entry()),
            Sha256Digest::from_bytes(expected)
        );
    }
}
