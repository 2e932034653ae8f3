//! Court bundles: `export` writes a BagIt bag of a case, `verify --bundle` checks one without the archive.

mod bagit;
mod check;
mod export;

pub use check::verify_bundle;
pub use export::{ExportOptions, ExportReport};

/// Where things are in a bundle (docs/FORMAT.md, "Bundles").
pub mod layout {
    use crate::catalog::ItemRecord;

    pub const DATA: &str = "data";
    pub const CASE_JSON: &str = "data/case.json";
    pub const EVIDENCE_JSON: &str = "data/evidence.json";
    pub const CUSTODY_JSONL: &str = "data/custody.jsonl";
    pub const README_VERIFY: &str = "data/README-VERIFY.txt";
    pub const EVIDENCE_DIR: &str = "data/evidence/";
    /// The name a payload file gets when its original name is not safe and portable.
    pub const FALLBACK_NAME: &str = "file.bin";

    /// bag-info.txt fields custodia adds.
    pub const INFO_ARCHIVE: &str = "Custodia-Archive-Id";
    pub const INFO_EVENT: &str = "Custodia-Export-Event";
    pub const INFO_HEAD: &str = "Custodia-Custody-Head";

    /// Export event details that pin the metadata files: the SHA-256 of `case.json`'s
    /// canonical JSON, and per item id that of its `evidence.json` entry (see `metadata_digest`).
    pub const EVENT_CASE_JSON: &str = "case_json_sha256";
    pub const EVENT_EVIDENCE: &str = "evidence_sha256";

    /// Where an item's bytes are in a bag: from its id and original name alone.
    pub fn evidence_path(item: &ItemRecord) -> String {
        evidence_path_of(&item.id.to_string(), &item.name)
    }

    /// `evidence_path` from an id and name as a bundle's ingest event gives them.
    pub fn evidence_path_of(id: &str, name: &[u8]) -> String {
        format!(
            "{EVIDENCE_DIR}{id}/{}",
            crate::extract::safe_file_name(name, FALLBACK_NAME)
        )
    }

    /// Hex SHA-256 of a JSON value's canonical form (compact, keys sorted): what the export
    /// event records of `case.json` and of each `evidence.json` entry, whatever their layout.
    pub fn metadata_digest(value: &serde_json::Value) -> String {
        use sha2::Digest;
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(bytes))
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
}
