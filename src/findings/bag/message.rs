//! The sentence of each bag finding: the `detail` of the JSON contract, which tests and
//! recipients read (docs/CLI.md, "verify findings").

use std::fmt;

use super::BagFinding;
use crate::bag_layout as layout;

impl fmt::Display for BagFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every variant has its sentence in exactly one of these, by what it concerns;
        // Debug only for one that were forgotten.
        self.bag_sentence(f)
            .or_else(|| self.file_sentence(f))
            .or_else(|| self.metadata_sentence(f))
            .or_else(|| self.entry_sentence(f))
            .or_else(|| self.custody_sentence(f))
            .unwrap_or_else(|| write!(f, "{self:?}"))
    }
}

impl BagFinding {
    /// Sentences of `bag_invalid` findings, and of every missing file.
    fn bag_sentence(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use BagFinding::*;
        Some(match self {
            TooDeep { limit, .. } => write!(
                f,
                "is nested deeper than {limit} directories, which custodia never writes; not walked"
            ),
            DirUnreadable { why, .. } => write!(f, "is a directory that cannot be read: {why}"),
            Unexaminable { why, .. } => write!(f, "cannot be examined: {why}"),
            Unreadable { why, .. } => write!(f, "cannot be read: {why}"),
            TooLarge { size, cap, .. } => {
                write!(f, "is {size} bytes, more than the {cap} a verifier reads")
            }
            NotABag => f.write_str("is missing: this is not a BagIt bag"),
            WrongDeclaration => {
                f.write_str("does not declare BagIt-Version 1.0 with UTF-8 tag files")
            }
            BagInfoMissing | ManifestMissing(_) | ReadmeMissing | EvidenceJsonMissing
            | CaseJsonMissing | CustodyMissing => f.write_str("is missing"),
            ReadingFileMissing { .. } => f.write_str(
                "is missing: the export event records it (or the bundle carries a proof)",
            ),
            BagInfoMalformed { why } | ManifestLine { why, .. } => f.write_str(why),
            OxumWrong { declared, actual } => write!(
                f,
                "Payload-Oxum declares {declared} (bytes.files), the payload holds {actual}"
            ),
            OxumMissing => f.write_str("has no Payload-Oxum"),
            ListedTwice { path, .. } => write!(f, "lists {path} twice"),
            ListedOutsidePayload { path, .. } => {
                write!(f, "lists {path}, which is not under data/")
            }
            _ => return None,
        })
    }

    /// Sentences of findings about one file: unsafe, missing, mismatched or unlisted.
    fn file_sentence(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use BagFinding::*;
        Some(match self {
            Symlink { .. } => f.write_str(
                "is a symbolic link; a bag holds only regular files (not followed)",
            ),
            SpecialFile { .. } => f.write_str("is not a regular file"),
            UnsafeListed { path, why, .. } => write!(
                f,
                "lists {:?}, which {why}",
                crate::text::escape_text(path)
            ),
            ListedAbsent { manifest, .. } => {
                write!(f, "is listed in {manifest} but is not in the bag")
            }
            ListedNotTagFile { manifest, .. } => {
                write!(f, "is listed in {manifest} but is not a tag file of the bag")
            }
            ItemFileMissing { file, .. } => write!(f, "its file {file} is not in the payload"),
            IngestFileMissing { path, .. } => write!(f, "{path} is not in the payload"),
            DigestMismatch { manifest, .. } => write!(
                f,
                "does not match its {} in {manifest}",
                manifest.algorithm().name()
            ),
            PayloadUnlisted { manifest, .. } => {
                write!(f, "is in the payload but not listed in {manifest}")
            }
            TagUnlisted { manifest, .. } => write!(f, "is not listed in {manifest}"),
            Unlisted { why, .. } => f.write_str(match why {
                super::Unlisted::NotInBundle => {
                    "is not part of a custodia bundle (no item, metadata or tag file is at this path); not read"
                }
                super::Unlisted::NoManifest => "is in the bag but no manifest lists it",
                super::Unlisted::Unclaimed => {
                    "is under data/evidence/ but no item in data/evidence.json is this file"
                }
            }),
            _ => return None,
        })
    }

    /// Sentences of `metadata_mismatch` findings.
    fn metadata_sentence(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use BagFinding::*;
        Some(match self {
            BagInfoNotUtf8 => f.write_str("is not valid UTF-8"),
            NameNotUtf8 { .. } => {
                f.write_str("file name is not valid UTF-8, so no manifest can name it")
            }
            SizeWrong {
                file,
                size,
                expected,
                source,
                ..
            } => write!(f, "{file} is {size} bytes, {source} says {expected}; not read"),
            CaseJsonMalformed { why } => {
                write!(f, "is not a case.json as custodia writes it: {why}")
            }
            CaseIdWrong => f.write_str("its case id is not bag-info's External-Identifier"),
            CaseJsonNotRecorded => f.write_str(
                "is not the case.json the export event recorded (its title, description or another field was changed)",
            ),
            ReadingFileNotRecorded { .. } => f.write_str(
                "is not the file the export event recorded: it was changed after export",
            ),
            RevealWrong { field, why, .. } => write!(
                f,
                "its revealed {field} ({}) {why}",
                layout::proof::REVEALS
            ),
            RevealsMalformed { line, why } => write!(f, "line {line} is not a reveal: {why}"),
            InventoryNotFromEvidence => write!(
                f,
                "does not list the items as {} does: it was changed after export",
                layout::EVIDENCE_JSON
            ),
            ReadmeChanged => f.write_str(
                "is not the text custodia writes for this case: its instructions were changed",
            ),
            BagInfoFieldWrong { label } => {
                write!(f, "its {label} is not what the export event and case.json say")
            }
            ExportIdsWrong => write!(
                f,
                "{} or {} does not match the export event",
                layout::INFO_ARCHIVE,
                layout::INFO_EVENT
            ),
            _ => return None,
        })
    }

    /// Sentences of findings about evidence.json's entries and the events behind them.
    fn entry_sentence(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use BagFinding::*;
        let evidence = layout::EVIDENCE_JSON;
        Some(match self {
            EvidenceJsonNotObject => f.write_str("is not a JSON object"),
            EvidenceJsonNoItems => f.write_str("has no \"items\" list"),
            EvidenceCaseWrong => f.write_str("its \"case\" is not the case of the export event"),
            EntryWithoutId { index } => write!(f, "its item {index} has no \"id\""),
            EntryMalformed { why, .. } => write!(f, "its entry in {evidence} is malformed: {why}"),
            EntryNotRecorded { .. } => write!(
                f,
                "its entry in {evidence} is not the one the export event recorded (a field was changed)"
            ),
            ItemsNotExported => f.write_str("its items are not the items the export event names"),
            ReferenceMissing { missing, .. } => write!(
                f,
                "its entry in {evidence} names {missing}, which the bundle does not hold and does not mark as not exported"
            ),
            EntryHashesWrong { file, .. } => {
                write!(f, "the hashes or size in {evidence} do not match {file}")
            }
            IngestUnreadable { seq, .. } => write!(
                f,
                "its ingest event (event {seq}) does not hold the details of an ingest"
            ),
            AnnotationUnreadable { seq, .. } => write!(
                f,
                "its annotate event (event {seq}) does not hold the details of an annotation"
            ),
            EntryDiffers { field, seq, .. } => write!(
                f,
                "its {field} in {evidence} is not what its events (ingest: event {seq}) recorded"
            ),
            EntryFileWrong { file, path, .. } => write!(
                f,
                "its file in {evidence} is {file}, not {path} as its ingest event names it"
            ),
            BytesNotIngested { path, seq, .. } => write!(
                f,
                "{path} is not the bytes its ingest event (event {seq}) recorded"
            ),
            _ => return None,
        })
    }

    /// Sentences of findings about custody.jsonl and the chains in it.
    fn custody_sentence(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use BagFinding::*;
        Some(match self {
            LineTooLong { line, limit } => {
                write!(
                    f,
                    "line {line} is longer than the {limit} bytes a verifier reads"
                )
            }
            OutOfOrder { line, after, .. } => {
                write!(f, "line {line} is out of order (after event {after})")
            }
            NotExported { .. } => {
                f.write_str("names no exported item: it does not belong in this bundle (inserted?)")
            }
            CustodyBreak(b) => f.write_str(&b.describe()),
            MoreLineFindings { more, listed } => write!(
                f,
                "{more} more problems with its lines are not listed; the first {listed} are"
            ),
            CustodyTruncated => f.write_str("does not end with a newline (truncated?)"),
            NoReadableEvent => f.write_str("holds no readable event"),
            LastNotExport { .. } => f.write_str(
                "the last event is not the export: events after it were added, or it was removed",
            ),
            HistoryNotFromIngest { .. } => {
                f.write_str("its history does not begin with its ingest event")
            }
            ChainNotAtExport { .. } => f.write_str("its chain does not end at the export event"),
            HeadWrong => write!(
                f,
                "{} does not name the last event of {}",
                layout::INFO_HEAD,
                layout::CUSTODY_JSONL
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::bag_layout::Algorithm;
    use crate::custody::Break;
    use crate::findings::{Finding, ProblemKind};

    /// Kinds, subjects and sentences are the JSON contract's `kind`, `id` and `detail`.
    #[test]
    fn findings_keep_their_kind_subject_and_sentence() {
        let item = || BagItem::new("EV-000001");
        let cases = [
            (
                BagFinding::DigestMismatch {
                    manifest: Manifest::Payload(Algorithm::Blake3),
                    path: BagPath::new("data/case.json"),
                },
                ProblemKind::FileMismatch,
                "data/case.json",
                "does not match its blake3 in manifest-blake3.txt",
            ),
            (
                BagFinding::CustodyBreak(Break::Unreadable {
                    seq: 4,
                    detail: "x".into(),
                }),
                ProblemKind::ChainBroken,
                "line 4",
                "event 4 cannot be read: x",
            ),
            (
                BagFinding::CustodyBreak(Break::ItemPrev {
                    seq: 4,
                    item: "EV-000001".into(),
                }),
                ProblemKind::ItemChainBroken,
                "EV-000001",
                "event 4 does not chain to the previous event of EV-000001 (an event of that item was edited, removed or reordered)",
            ),
            (
                BagFinding::SizeWrong {
                    file: BagPath::new("data/evidence/EV-000001/a"),
                    item: Some(item()),
                    size: 3,
                    expected: 2,
                    source: SizeSource::IngestEvent(7),
                },
                ProblemKind::MetadataMismatch,
                "EV-000001",
                "data/evidence/EV-000001/a is 3 bytes, its ingest event (event 7) says 2; not read",
            ),
            (
                BagFinding::HeadWrong,
                ProblemKind::HeadMismatch,
                "bag-info.txt",
                "Custodia-Custody-Head does not name the last event of data/custody.jsonl",
            ),
            (
                BagFinding::EntryDiffers {
                    item: item(),
                    field: "source",
                    seq: 2,
                },
                ProblemKind::MetadataMismatch,
                "EV-000001",
                "its source in data/evidence.json is not what its events (ingest: event 2) recorded",
            ),
        ];
        for (finding, kind, subject, sentence) in cases {
            assert_eq!(Finding::Bundle(finding.clone()).kind(), kind);
            assert_eq!(finding.subject(), subject, "{finding:?}");
            assert_eq!(finding.to_string(), sentence, "{finding:?}");
        }
    }

    #[test]
    fn every_missing_file_says_so_whatever_its_kind() {
        let missing = [
            (BagFinding::BagInfoMissing, "bag-info.txt"),
            (
                BagFinding::ManifestMissing(Manifest::Tag(Algorithm::Sha512)),
                "tagmanifest-sha512.txt",
            ),
            (BagFinding::ReadmeMissing, "data/README-VERIFY.txt"),
            (BagFinding::EvidenceJsonMissing, "data/evidence.json"),
            (BagFinding::CaseJsonMissing, "data/case.json"),
            (BagFinding::CustodyMissing, "data/custody.jsonl"),
        ];
        for (finding, subject) in missing {
            assert_eq!(finding.to_string(), "is missing", "{finding:?}");
            assert_eq!(finding.subject(), subject);
        }
    }
}
