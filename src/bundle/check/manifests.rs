//! The manifests: every payload file listed once in each payload manifest with its right
//! digest, the tag files in each tag manifest, and no file that no manifest accounts for.

use std::collections::BTreeSet;

use super::{Checker, MAX_TAG_FILE};
use crate::bundle::bagit::{self, Algorithm};
use crate::bundle::finding::{BagFinding, BagPath, Manifest, Unlisted};

impl Checker<'_> {
    /// Each payload manifest must list every payload file once, with its right digest.
    /// Returns every path the manifests listed.
    pub(super) fn check_payload_manifests(&mut self) -> BTreeSet<String> {
        let mut listed = BTreeSet::new();
        for a in Algorithm::PAYLOAD {
            let manifest = Manifest::Payload(a);
            let Some(bytes) = self.read(&manifest.file(), MAX_TAG_FILE) else {
                self.found(BagFinding::ManifestMissing(manifest));
                continue;
            };
            let mut seen = BTreeSet::new();
            for (hex, path) in self.manifest_entries(manifest, &bytes) {
                if !seen.insert(path.clone()) {
                    let path = BagPath::new(path);
                    self.found(BagFinding::ListedTwice { manifest, path });
                    continue;
                }
                if !path.starts_with("data/") {
                    let path = BagPath::new(path);
                    self.found(BagFinding::ListedOutsidePayload { manifest, path });
                    continue;
                }
                self.check_payload_entry(manifest, &hex, &path);
                listed.insert(path);
            }
            let missing: Vec<String> = self
                .payload
                .keys()
                .filter(|p| !seen.contains(*p))
                .cloned()
                .collect();
            for path in missing {
                let path = BagPath::new(path);
                self.found(BagFinding::PayloadUnlisted { manifest, path });
            }
        }
        listed
    }

    /// One payload manifest line against the file it names.
    fn check_payload_entry(&mut self, manifest: Manifest, hex: &str, path: &str) {
        let matches = match self.payload.get(path) {
            // Set aside before hashing, and already reported.
            None if self.skipped.contains(path) => return,
            None => None,
            Some(d) => Some(d.get(manifest.algorithm()) == hex),
        };
        let path = BagPath::new(path);
        match matches {
            None => self.found(BagFinding::ListedAbsent { manifest, path }),
            Some(false) => self.found(BagFinding::DigestMismatch { manifest, path }),
            Some(true) => {}
        }
    }

    /// A manifest's well-formed lines whose paths stay inside the bag; the others are findings.
    fn manifest_entries(&mut self, manifest: Manifest, bytes: &[u8]) -> Vec<(String, String)> {
        let (entries, bad) = bagit::parse_manifest(bytes, manifest.algorithm());
        for why in bad {
            self.found(BagFinding::ManifestLine { manifest, why });
        }
        let mut safe = Vec::new();
        for (hex, path) in entries {
            match bagit::unsafe_path(&path) {
                Some(why) => self.found(BagFinding::UnsafeListed {
                    manifest,
                    path,
                    why,
                }),
                None => safe.push((hex, path)),
            }
        }
        safe
    }

    /// The tag manifests must cover bagit.txt, bag-info.txt and every payload manifest.
    pub(super) fn check_tag_manifests(&mut self) {
        let must = bagit::covered_tag_files();
        for a in Algorithm::TAG {
            let manifest = Manifest::Tag(a);
            let Some(bytes) = self.read(&manifest.file(), MAX_TAG_FILE) else {
                self.found(BagFinding::ManifestMissing(manifest));
                continue;
            };
            let mut seen = BTreeSet::new();
            for (hex, path) in self.manifest_entries(manifest, &bytes) {
                seen.insert(path.clone());
                if path.contains('/')
                    || path.starts_with("tagmanifest-")
                    || !self.files.contains_key(&path)
                {
                    let path = BagPath::new(path);
                    self.found(BagFinding::ListedNotTagFile { manifest, path });
                    continue;
                }
                if self.digest_file(&path).map(|d| d.get(a)) != Some(hex) {
                    let path = BagPath::new(path);
                    self.found(BagFinding::DigestMismatch { manifest, path });
                }
            }
            for m in &must {
                if !seen.contains(m) && self.files.contains_key(m) {
                    let path = BagPath::new(m.clone());
                    self.found(BagFinding::TagUnlisted { manifest, path });
                }
            }
        }
    }

    /// Files no manifest accounts for: BagIt validators miss extra top-level files; this does not.
    pub(super) fn check_unlisted(&mut self, listed: &BTreeSet<String>) {
        let known: BTreeSet<String> = bagit::covered_tag_files()
            .into_iter()
            .chain(Algorithm::TAG.iter().map(|a| a.tag_manifest()))
            .collect();
        let extra: Vec<String> = self
            .files
            .keys()
            .filter(|f| !f.starts_with("data/") && !known.contains(*f) && !listed.contains(*f))
            .cloned()
            .collect();
        for f in extra {
            self.unlisted(&f, Unlisted::NoManifest);
        }
    }
}
