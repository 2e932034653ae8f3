//! The tag files: bagit.txt, bag-info.txt, the payload manifests (written line by line)
//! and the tag manifests over them.

use std::path::Path;

use super::files::{BagFile, write_file};
use super::{ExportOptions, Written};
use crate::archive::{Archive, Sealed};
use crate::bundle::bagit::{self, Algorithm};
use crate::bundle::layout;
use crate::error::Result;
use crate::ids::EventDigest;

impl Archive {
    /// Writes the tag files for `payload` (every payload file, in path order) and returns
    /// the hex SHA-256 of tagmanifest-sha256.txt, which the seal event records.
    pub(super) fn write_tag_files(
        &self,
        bag: &Path,
        opts: &ExportOptions,
        case: &crate::catalog::CaseRecord,
        payload: &[Written],
        sealed: &Sealed,
    ) -> Result<String> {
        let oxum_bytes: u64 = payload.iter().map(|w| w.digests.size).sum();
        let head = EventDigest::of(&sealed.bytes);
        let info = self.bag_info(opts, case, oxum_bytes, payload.len(), &head, sealed);
        let mut tag_digests = vec![
            (
                bagit::BAGIT_TXT.to_owned(),
                write_file(
                    &bag.join(bagit::BAGIT_TXT),
                    bagit::BAGIT_DECLARATION.as_bytes(),
                )?,
            ),
            (
                bagit::BAG_INFO.to_owned(),
                write_file(&bag.join(bagit::BAG_INFO), info.as_bytes())?,
            ),
        ];
        for a in Algorithm::PAYLOAD {
            // Line by line: a manifest of a large case is megabytes.
            let mut manifest = BagFile::create(bag.join(a.manifest()))?;
            for w in payload {
                manifest.put(bagit::manifest_line(&w.digests.get(a), &w.rel).as_bytes())?;
            }
            tag_digests.push((a.manifest(), manifest.finish()?));
        }
        let mut tagmanifest_sha256 = String::new();
        for a in Algorithm::TAG {
            let text: String = tag_digests
                .iter()
                .map(|(rel, d)| bagit::manifest_line(&d.get(a), rel))
                .collect();
            let d = write_file(&bag.join(a.tag_manifest()), text.as_bytes())?;
            if a == Algorithm::Sha256 {
                tagmanifest_sha256 = d.sha256.to_hex();
            }
        }
        Ok(tagmanifest_sha256)
    }

    fn bag_info(
        &self,
        opts: &ExportOptions,
        case: &crate::catalog::CaseRecord,
        bytes: u64,
        files: usize,
        head: &EventDigest,
        sealed: &Sealed,
    ) -> String {
        let seq = sealed.seq;
        // The export event's own date (RFC 3339, UTC), so that the two cannot disagree.
        let date = crate::custody::Event::parse(&sealed.bytes)
            .ok()
            .and_then(|e| e.time.get(..10).map(str::to_owned))
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
        let mut fields = vec![
            ("Bagging-Date", date),
            ("Payload-Oxum", format!("{bytes}.{files}")),
            ("External-Identifier", case.id.to_string()),
            ("External-Description", case.title.clone()),
            ("Bag-Software-Agent", crate::archive::tool_version()),
        ];
        if let Some(o) = &opts.organization {
            fields.push(("Source-Organization", o.clone()));
        }
        if let Some(c) = &opts.contact {
            fields.push(("Contact-Name", c.clone()));
        }
        fields.push((layout::INFO_ARCHIVE, self.meta.archive_id.clone()));
        fields.push((layout::INFO_EVENT, seq.to_string()));
        fields.push((layout::INFO_HEAD, head.to_hex()));
        bagit::bag_info(&fields)
    }
}
