//! The tag files a person reads: bagit.txt's declaration, bag-info.txt (parsed, and its
//! fields against the export event and case.json), and README-VERIFY.txt's instructions.

use super::custody::Custody;
use super::{BagInfo, Checker, MAX_TAG_FILE, readme_for};
use crate::bundle::bagit;
use crate::bundle::finding::BagFinding;
use crate::bundle::layout::{self, CaseJson};
use crate::custody::details::ExportDetails;

impl Checker<'_> {
    pub(super) fn check_declaration(&mut self) {
        match self.read(bagit::BAGIT_TXT, MAX_TAG_FILE) {
            None if !self.files.contains_key(bagit::BAGIT_TXT) => self.found(BagFinding::NotABag),
            None => {}
            Some(bytes) => {
                let fields =
                    bagit::parse_bag_info(&String::from_utf8_lossy(&bytes)).unwrap_or_default();
                let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
                if get("BagIt-Version") != Some("1.0")
                    || get("Tag-File-Character-Encoding") != Some("UTF-8")
                {
                    self.found(BagFinding::WrongDeclaration);
                }
            }
        }
    }

    /// bag-info.txt's fields; none (with a finding) when it cannot be read or parsed.
    pub(super) fn bag_info(&mut self) -> BagInfo {
        let Some(bytes) = self.read(bagit::BAG_INFO, MAX_TAG_FILE) else {
            if !self.files.contains_key(bagit::BAG_INFO) {
                self.found(BagFinding::BagInfoMissing);
            }
            return BagInfo::new();
        };
        let Ok(text) = String::from_utf8(bytes) else {
            self.found(BagFinding::BagInfoNotUtf8);
            return BagInfo::new();
        };
        match bagit::parse_bag_info(&text) {
            Ok(fields) => fields.into_iter().collect(),
            Err(why) => {
                self.found(BagFinding::BagInfoMalformed { why });
                BagInfo::new()
            }
        }
    }

    /// data/README-VERIFY.txt must be exactly what this release writes: its commands are
    /// what a recipient runs, so altered instructions are a finding like altered evidence.
    pub(super) fn check_readme(&mut self, info: &BagInfo, custody: &Custody) {
        let rel = layout::README_VERIFY;
        if !self.files.contains_key(rel) {
            return self.found(BagFinding::ReadmeMissing);
        }
        if self.skipped.contains(rel) {
            return;
        }
        let signed = self.files.contains_key(layout::proof::CHECKPOINT);
        let want = readme_for(info, custody, signed);
        let Some(bytes) = self.read(rel, MAX_TAG_FILE) else {
            return;
        };
        if want.as_deref().map(str::as_bytes) != Some(&bytes[..]) {
            self.found(BagFinding::ReadmeChanged);
        }
    }

    /// The bag-info fields custodia takes from the export event and case.json must say
    /// what those say (each made one line as export makes it).
    pub(super) fn check_bag_info_fields(&mut self, info: &BagInfo, custody: &Custody) {
        let Some(export) = custody.export() else {
            return;
        };
        let details = export.details_as::<ExportDetails>();
        let line = |v: &str| bagit::one_line(v).trim().to_owned();
        let detail = |v: Option<&Option<String>>| v.and_then(|v| v.as_deref()).map(line);
        let title = self
            .read(layout::CASE_JSON, MAX_TAG_FILE)
            .and_then(|b| serde_json::from_slice::<CaseJson>(&b).ok())
            .map(|c| line(&c.title));
        let expected = [
            ("External-Identifier", export.case_id().map(str::to_owned)),
            ("External-Description", title),
            (
                "Source-Organization",
                detail(details.as_ref().map(|d| &d.organization)),
            ),
            ("Contact-Name", detail(details.as_ref().map(|d| &d.contact))),
        ];
        for (label, want) in expected {
            if info.get(label) != want.as_ref() {
                self.found(BagFinding::BagInfoFieldWrong { label });
            }
        }
    }
}
