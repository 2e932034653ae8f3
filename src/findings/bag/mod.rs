//! What `verify --bundle` finds in a bag, as typed values: each names the bag path, item or
//! event it concerns as the bag gives it, and says what is wrong. Its stable kind is given
//! by `crate::findings`, beside every other kind, so that this module does not depend on it.
//!
//! A bag is untrusted input: its item ids and paths are kept as the text found (a hostile
//! bag may hold ids that are no `EvidenceId`, and a finding must name what is there).

use std::fmt;

mod message;

use crate::bag_layout as layout;
use crate::bag_layout::{self as bagit, Algorithm};
use crate::custody::Break;

/// A path inside a bag, relative to its top, with `/`: as a manifest names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BagPath(pub String);

/// An item id as a bag gives it (evidence.json or a custody event), not parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BagItem(pub String);

impl BagPath {
    pub fn new(path: impl Into<String>) -> Self {
        Self(path.into())
    }
}

impl BagItem {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
}

impl fmt::Display for BagPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for BagItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of a bag's manifests: of the payload or of the tag files, and its algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manifest {
    Payload(Algorithm),
    Tag(Algorithm),
}

impl Manifest {
    pub fn algorithm(self) -> Algorithm {
        match self {
            Manifest::Payload(a) | Manifest::Tag(a) => a,
        }
    }

    /// Its file name, at the top of the bag.
    pub fn file(self) -> String {
        match self {
            Manifest::Payload(a) => a.manifest(),
            Manifest::Tag(a) => a.tag_manifest(),
        }
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file())
    }
}

/// Why a file is not part of the bundle, when no manifest omission says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unlisted {
    /// No item, metadata or tag file is at its path (not read).
    NotInBundle,
    /// Outside `data/`, not a tag file, and no manifest lists it.
    NoManifest,
    /// Under `data/evidence/`, and no evidence.json entry is this file.
    Unclaimed,
}

/// What says how large a payload file must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeSource {
    /// The item's ingest event (its seq).
    IngestEvent(u64),
    /// The item's evidence.json entry (its chain is broken, and that is reported).
    EvidenceJson,
    /// README-VERIFY.txt: the text this release writes.
    ThisRelease,
}

impl fmt::Display for SizeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeSource::IngestEvent(seq) => write!(f, "its ingest event (event {seq})"),
            SizeSource::EvidenceJson => f.write_str(layout::EVIDENCE_JSON),
            SizeSource::ThisRelease => f.write_str("this release writes"),
        }
    }
}

/// One finding about a bag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BagFinding {
    // bag_invalid: the bag is not one custodia writes, or part of it cannot be read.
    /// A directory deeper than `limit` levels (not walked).
    TooDeep {
        dir: BagPath,
        limit: usize,
    },
    DirUnreadable {
        dir: BagPath,
        why: String,
    },
    /// An entry whose type cannot be found out.
    Unexaminable {
        at: BagPath,
        why: String,
    },
    Unreadable {
        file: BagPath,
        why: String,
    },
    /// A tag, metadata or custody file over what a verifier reads (not read).
    TooLarge {
        file: BagPath,
        size: u64,
        cap: u64,
    },
    /// No bagit.txt.
    NotABag,
    /// bagit.txt declares another version or encoding.
    WrongDeclaration,
    BagInfoMissing,
    BagInfoNotUtf8,
    /// bag-info.txt does not parse, and why.
    BagInfoMalformed {
        why: String,
    },
    /// Payload-Oxum (bytes.files) declares other than the payload holds.
    OxumWrong {
        declared: String,
        actual: String,
    },
    OxumMissing,
    ManifestMissing(Manifest),
    /// A manifest line that does not parse, and why.
    ManifestLine {
        manifest: Manifest,
        why: String,
    },
    ListedTwice {
        manifest: Manifest,
        path: BagPath,
    },
    /// A payload manifest lists a path outside `data/`.
    ListedOutsidePayload {
        manifest: Manifest,
        path: BagPath,
    },

    // path_unsafe
    /// A file name that is not UTF-8 (shown escaped).
    NameNotUtf8 {
        at: BagPath,
    },
    Symlink {
        at: BagPath,
    },
    /// A device, socket or pipe.
    SpecialFile {
        at: BagPath,
    },
    /// A manifest names a path that could leave the bag (`why` says how).
    UnsafeListed {
        manifest: Manifest,
        path: String,
        why: &'static str,
    },

    // file_missing
    /// A payload manifest lists a file that is not there.
    ListedAbsent {
        manifest: Manifest,
        path: BagPath,
    },
    /// A tag manifest lists what is not a tag file of the bag.
    ListedNotTagFile {
        manifest: Manifest,
        path: BagPath,
    },
    /// The file an item's evidence.json entry names is not there.
    ItemFileMissing {
        item: BagItem,
        file: String,
    },
    /// The file at the path an item's ingest event gives is not there.
    IngestFileMissing {
        item: BagItem,
        path: BagPath,
    },
    ReadmeMissing,
    /// inventory.csv or index.html, which this bundle must carry, is absent.
    ReadingFileMissing {
        file: BagPath,
    },

    // file_mismatch
    DigestMismatch {
        manifest: Manifest,
        path: BagPath,
    },

    // file_unlisted
    PayloadUnlisted {
        manifest: Manifest,
        path: BagPath,
    },
    TagUnlisted {
        manifest: Manifest,
        path: BagPath,
    },
    Unlisted {
        path: BagPath,
        why: Unlisted,
    },

    // metadata_mismatch
    /// A payload file's size is not the size `source` gives (not read).
    SizeWrong {
        file: BagPath,
        item: Option<BagItem>,
        size: u64,
        expected: u64,
        source: SizeSource,
    },
    EvidenceJsonMissing,
    EvidenceJsonNotObject,
    EvidenceJsonNoItems,
    /// evidence.json's `case` is not the export event's.
    EvidenceCaseWrong,
    /// evidence.json's item `index` (from 1) has no id.
    EntryWithoutId {
        index: usize,
    },
    /// An item's entry does not have the fields of one, and why.
    EntryMalformed {
        item: BagItem,
        why: String,
    },
    /// An item's entry is not the one whose digest the export event recorded.
    EntryNotRecorded {
        item: BagItem,
    },
    /// evidence.json's items are not the export event's.
    ItemsNotExported,
    /// An item's entry names, as its parent or an attachment, an item the bundle does not
    /// hold and its `not_exported` does not list (issue 12, point 3).
    ReferenceMissing {
        item: BagItem,
        missing: String,
    },
    /// An item's entry gives other hashes or size than its file has.
    EntryHashesWrong {
        item: BagItem,
        file: String,
    },
    /// The event that begins an item's history is an ingest without an ingest's details.
    IngestUnreadable {
        item: BagItem,
        seq: u64,
    },
    /// An annotate event of the item (event `seq`) does not hold the details of one, so
    /// its current values cannot be recomputed.
    AnnotationUnreadable {
        item: BagItem,
        seq: u64,
    },
    /// A field of an item's entry (by its evidence.json key) is not what its events recorded.
    EntryDiffers {
        item: BagItem,
        field: &'static str,
        seq: u64,
    },
    /// An item's entry names another file than the path its ingest event gives.
    EntryFileWrong {
        item: BagItem,
        file: String,
        path: BagPath,
    },
    /// The file at the path an item's ingest event gives is not the bytes it recorded.
    BytesNotIngested {
        item: BagItem,
        path: BagPath,
        seq: u64,
    },
    CaseJsonMissing,
    CaseJsonMalformed {
        why: String,
    },
    /// case.json's id is not bag-info's External-Identifier.
    CaseIdWrong,
    /// case.json is not the one whose digest the export event recorded.
    CaseJsonNotRecorded,
    /// README-VERIFY.txt is not this release's text for the case.
    ReadmeChanged,
    /// inventory.csv or index.html is not the file whose digest the export event recorded.
    ReadingFileNotRecorded {
        file: BagPath,
    },
    /// inventory.csv is not the one evidence.json gives (regenerated and compared).
    InventoryNotFromEvidence,
    /// A bag-info field is not what the export event and case.json say.
    BagInfoFieldWrong {
        label: &'static str,
    },
    /// bag-info's archive id or export event number is not the export event's.
    ExportIdsWrong,
    /// A revealed value of event `seq` (data/proof/reveals.jsonl) that does not open the
    /// commitment its event records at `field`, or names no committed field of a bag event.
    RevealWrong {
        seq: u64,
        field: String,
        why: &'static str,
    },
    /// A line of data/proof/reveals.jsonl that is not a reveal.
    RevealsMalformed {
        line: u64,
        why: String,
    },

    // chain_broken and item_chain_broken
    CustodyMissing,
    /// A line of custody.jsonl longer than `limit` bytes (the rest is not read).
    LineTooLong {
        line: u64,
        limit: usize,
    },
    /// Event `seq`, on `line`, does not follow event `after`.
    OutOfOrder {
        seq: u64,
        line: u64,
        after: u64,
    },
    /// Event `seq` names no exported item.
    NotExported {
        seq: u64,
    },
    /// A break in the bag's item chains; an unreadable line is named by its line number.
    CustodyBreak(Break),
    /// Findings about lines beyond the first `listed`, counted only.
    MoreLineFindings {
        more: usize,
        listed: usize,
    },
    CustodyTruncated,
    NoReadableEvent,
    /// The last line, event `seq`, is not the export.
    LastNotExport {
        seq: u64,
    },
    HistoryNotFromIngest {
        item: BagItem,
    },
    ChainNotAtExport {
        item: BagItem,
    },

    // head_mismatch
    /// bag-info's Custodia-Custody-Head is not the last line's digest.
    HeadWrong,
}

impl BagFinding {
    /// What the finding names: a bag path, an item id, `event <seq>` or `line <n>`.
    pub fn subject(&self) -> String {
        use BagFinding::*;
        match self {
            TooDeep { dir: p, .. }
            | DirUnreadable { dir: p, .. }
            | Unexaminable { at: p, .. }
            | Unreadable { file: p, .. }
            | TooLarge { file: p, .. }
            | NameNotUtf8 { at: p }
            | Symlink { at: p }
            | SpecialFile { at: p }
            | ListedAbsent { path: p, .. }
            | ListedNotTagFile { path: p, .. }
            | DigestMismatch { path: p, .. }
            | PayloadUnlisted { path: p, .. }
            | TagUnlisted { path: p, .. }
            | Unlisted { path: p, .. }
            | ReadingFileMissing { file: p }
            | ReadingFileNotRecorded { file: p } => p.to_string(),
            InventoryNotFromEvidence => layout::INVENTORY_CSV.into(),
            ManifestMissing(m)
            | ManifestLine { manifest: m, .. }
            | ListedTwice { manifest: m, .. }
            | ListedOutsidePayload { manifest: m, .. }
            | UnsafeListed { manifest: m, .. } => m.file(),
            ItemFileMissing { item: i, .. }
            | IngestFileMissing { item: i, .. }
            | EntryMalformed { item: i, .. }
            | EntryNotRecorded { item: i }
            | ReferenceMissing { item: i, .. }
            | EntryHashesWrong { item: i, .. }
            | IngestUnreadable { item: i, .. }
            | AnnotationUnreadable { item: i, .. }
            | EntryDiffers { item: i, .. }
            | EntryFileWrong { item: i, .. }
            | BytesNotIngested { item: i, .. }
            | HistoryNotFromIngest { item: i }
            | ChainNotAtExport { item: i } => i.to_string(),
            SizeWrong { file, item, .. } => item
                .as_ref()
                .map_or_else(|| file.to_string(), BagItem::to_string),
            NotABag | WrongDeclaration => bagit::BAGIT_TXT.into(),
            BagInfoMissing
            | BagInfoNotUtf8
            | BagInfoMalformed { .. }
            | OxumWrong { .. }
            | OxumMissing
            | BagInfoFieldWrong { .. }
            | ExportIdsWrong
            | HeadWrong => bagit::BAG_INFO.into(),
            ReadmeMissing | ReadmeChanged => layout::README_VERIFY.into(),
            EvidenceJsonMissing
            | EvidenceJsonNotObject
            | EvidenceJsonNoItems
            | EvidenceCaseWrong
            | EntryWithoutId { .. }
            | ItemsNotExported => layout::EVIDENCE_JSON.into(),
            CaseJsonMissing | CaseJsonMalformed { .. } | CaseIdWrong | CaseJsonNotRecorded => {
                layout::CASE_JSON.into()
            }
            CustodyMissing
            | LineTooLong { .. }
            | MoreLineFindings { .. }
            | CustodyTruncated
            | NoReadableEvent => layout::CUSTODY_JSONL.into(),
            OutOfOrder { seq, .. }
            | NotExported { seq }
            | LastNotExport { seq }
            | RevealWrong { seq, .. } => {
                format!("event {seq}")
            }
            RevealsMalformed { .. } => layout::proof::REVEALS.into(),
            CustodyBreak(Break::ItemPrev { item, .. }) => item.clone(),
            CustodyBreak(Break::Unreadable { seq, .. }) => format!("line {seq}"),
            CustodyBreak(b) => format!("event {}", b.seq()),
        }
    }
}
