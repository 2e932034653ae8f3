//! What `verify` and `verify --bundle` find: typed findings, each naming what it affects.
//!
//! A finding is damage found, not a failure to check (that is an `Error`). Each variant
//! carries the typed ids of what it affects; `kind()` is its stable JSON name (docs/CLI.md,
//! "verify findings"), `subject()` the id shown beside it, and `Display` the sentence.

use std::fmt;

pub(crate) mod bag;
mod checkpoint;
mod replica;

pub use checkpoint::CheckpointFinding;
pub use replica::ReplicaFinding;

use crate::custody::Break;
use crate::ids::{CaseId, ContentId, EventDigest, EvidenceId};
pub use bag::{BagFinding, BagItem, BagPath, Manifest, SizeSource, Unlisted};

/// The stable names of findings: part of the JSON contract, never renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// sled refused to open the database, or stopped while reading it.
    DatabaseUnreadable,
    /// A stored record does not decode.
    RecordUnreadable,
    /// A content's chunks are missing, damaged, or do not add up to its hashes.
    ContentDamaged,
    /// An item names a content that is not stored.
    ContentMissing,
    /// An item's record disagrees with its content or the index.
    ItemInconsistent,
    /// An item or case record differs from the custody event that created it.
    RecordAltered,
    /// An index entry points at a case, item or event that does not exist.
    IndexDangling,
    /// A custody event cannot be read, or the chain does not link.
    ChainBroken,
    /// An item's own chain of events does not link.
    ItemChainBroken,
    /// The recorded head (in the database or the HEAD file, or a bundle's bag-info) is not the chain's last event.
    HeadMismatch,
    /// A bundle is not a well-formed BagIt bag (declaration, bag-info, Payload-Oxum, manifest syntax).
    BagInvalid,
    /// A bundle's manifest lists a file that is not there.
    FileMissing,
    /// A bundle holds a file no manifest (or no item) accounts for.
    FileUnlisted,
    /// A bundle file does not match its manifest digest.
    FileMismatch,
    /// A bundle path that could leave the bag, or a link or special file inside it.
    PathUnsafe,
    /// A bundle's metadata disagrees with its payload or its custody events.
    MetadataMismatch,
    /// A signed event's signature does not match its bytes (it was changed after signing),
    /// or a registration is not signed by the key it registers.
    SignatureInvalid,
    /// An event is signed by a key the log never registered, registered for another
    /// actor, or revoked before it signed.
    SignerUnknown,
    /// The log no longer holds, as a prefix, the tree a checkpoint states (rollback or
    /// rewrite), or the checkpoint is not one of this archive's.
    CheckpointMismatch,
    /// A kept RFC 3161 token does not verify, or is not over the checkpoint it names.
    TimestampInvalid,
    /// A replica lacks an object its pushes stored (`verify --replica`).
    ReplicaObjectMissing,
    /// A replica holds an object no push of this archive recorded.
    ReplicaObjectExtra,
    /// A replica object has another size than the one stored.
    ReplicaObjectTruncated,
    /// A replica object has other bytes than the ones stored (or does not decrypt).
    ReplicaObjectAltered,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::DatabaseUnreadable => "database_unreadable",
            ProblemKind::RecordUnreadable => "record_unreadable",
            ProblemKind::ContentDamaged => "content_damaged",
            ProblemKind::ContentMissing => "content_missing",
            ProblemKind::ItemInconsistent => "item_inconsistent",
            ProblemKind::RecordAltered => "record_altered",
            ProblemKind::IndexDangling => "index_dangling",
            ProblemKind::ChainBroken => "chain_broken",
            ProblemKind::ItemChainBroken => "item_chain_broken",
            ProblemKind::HeadMismatch => "head_mismatch",
            ProblemKind::BagInvalid => "bag_invalid",
            ProblemKind::FileMissing => "file_missing",
            ProblemKind::FileUnlisted => "file_unlisted",
            ProblemKind::FileMismatch => "file_mismatch",
            ProblemKind::PathUnsafe => "path_unsafe",
            ProblemKind::MetadataMismatch => "metadata_mismatch",
            ProblemKind::SignatureInvalid => "signature_invalid",
            ProblemKind::SignerUnknown => "signer_unknown",
            ProblemKind::CheckpointMismatch => "checkpoint_mismatch",
            ProblemKind::TimestampInvalid => "timestamp_invalid",
            ProblemKind::ReplicaObjectMissing => "replica_object_missing",
            ProblemKind::ReplicaObjectExtra => "replica_object_extra",
            ProblemKind::ReplicaObjectTruncated => "replica_object_truncated",
            ProblemKind::ReplicaObjectAltered => "replica_object_altered",
        }
    }
}

/// A stored record that does not decode, by where it is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordAt {
    /// `meta/archive`, the archive record.
    Archive,
    Item(EvidenceId),
    /// An `items` key that is not an item number (hex of the key).
    ItemKey(String),
    Case(String),
    /// A `contents` key that is not a BLAKE3 hash (hex of the key).
    ContentKey(String),
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// sled refused to open a database (`path`), or stopped while reading one.
    DatabaseUnreadable {
        path: Option<String>,
        why: String,
    },
    RecordUnreadable {
        at: RecordAt,
        why: String,
    },
    /// A content's record does not decode; `item` holds it (`None`: no item names it).
    ContentRecordUnreadable {
        content: ContentId,
        item: Option<EvidenceId>,
        why: String,
    },
    ContentDamaged {
        content: ContentId,
        item: Option<EvidenceId>,
        why: String,
    },
    ContentMissing {
        item: EvidenceId,
        content: ContentId,
    },
    /// The item record is kept under another item's key.
    ItemMisfiled {
        item: EvidenceId,
        key_hex: String,
    },
    /// The item's size or SHA-256 is not its content's.
    ItemDisagreesWithContent {
        item: EvidenceId,
    },
    /// A field of the item record differs from its ingest event (event `seq`).
    ItemAltered {
        item: EvidenceId,
        seq: u64,
        field: &'static str,
    },
    /// An item's current values in the index (`m`) are not what its ingest and annotate
    /// events make them: `field` names the first that differs (`record`: unreadable;
    /// `annotate event`: not the item's last annotation, or no annotation at all).
    CurrentAltered {
        item: EvidenceId,
        field: &'static str,
    },
    /// The item was annotated (its last annotation: event `seq`), but the index holds no
    /// current values for it.
    CurrentMissing {
        item: EvidenceId,
        seq: u64,
    },
    /// The event the item record names as its ingest is missing, or is not its ingest.
    IngestEventMissing {
        item: EvidenceId,
        seq: u64,
    },
    /// The case record differs from its case_create event (event `seq`).
    CaseAltered {
        case: String,
        seq: u64,
    },
    /// A signing key's record (`meta/key:…`) is not what the log's registrations and
    /// revocations make it, or the log registers a key that has no record.
    KeyRecordAltered {
        fingerprint: String,
    },
    /// An item's parent, case link or content entry is not in the index.
    ItemUnindexed {
        item: EvidenceId,
        what: Unindexed,
    },
    /// An index entry points at nothing (hex of its key), naming the item it concerns.
    IndexDangling {
        item: Option<EvidenceId>,
        key_hex: String,
        why: &'static str,
    },
    /// A custody record that is not an event: its key, or its value's encoding.
    EventUnreadable {
        seq: Option<u64>,
        why: String,
    },
    /// A stored opening (issue 11.7) that does not open its event's commitment, or a
    /// commitment whose opening is gone: the value `show` and `log` print is not the one
    /// the event committed to, or is lost.
    OpeningWrong {
        seq: u64,
        why: String,
    },
    /// A break in the archive's chain or in an item's chain.
    Chain(Break),
    /// The item's recorded newest event is not the last of its chain in the log.
    ItemHeadWrong {
        item: EvidenceId,
    },
    /// No custody event names the item.
    ItemUnlogged {
        item: EvidenceId,
    },
    /// `meta/head` names another event than the log's last.
    DatabaseHeadWrong {
        recorded: u64,
        last: u64,
    },
    DatabaseHeadMissing,
    /// The HEAD file names an event the log does not hold with that digest.
    HeadFileWrong {
        seq: u64,
        digest: EventDigest,
    },
    HeadFileMissing,
    /// A `timestamp` event whose token does not verify, or is not over the checkpoint of
    /// the log's first `size` events.
    TimestampInvalid {
        seq: u64,
        why: String,
    },
    /// A checkpoint given to `verify --against` that the log no longer bears out.
    Checkpoint(CheckpointFinding),
    /// A finding about a bundle (`verify --bundle`), naming what the bag gives.
    Bundle(BagFinding),
    /// A finding about a replica's objects (`verify --replica`).
    Replica(ReplicaFinding),
}

/// What of an item the index lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unindexed {
    /// Its parent item does not exist.
    Parent(EvidenceId),
    /// Its link to the case it was ingested into.
    CaseLink(CaseId),
    /// Its content index entry.
    ContentEntry,
}

impl Finding {
    pub fn kind(&self) -> ProblemKind {
        use Finding::*;
        match self {
            DatabaseUnreadable { .. } => ProblemKind::DatabaseUnreadable,
            RecordUnreadable { .. } | ContentRecordUnreadable { .. } => {
                ProblemKind::RecordUnreadable
            }
            ContentDamaged { .. } => ProblemKind::ContentDamaged,
            ContentMissing { .. } => ProblemKind::ContentMissing,
            ItemMisfiled { .. } | ItemDisagreesWithContent { .. } => ProblemKind::ItemInconsistent,
            ItemAltered { .. }
            | CurrentAltered { .. }
            | CurrentMissing { .. }
            | IngestEventMissing { .. }
            | CaseAltered { .. }
            | OpeningWrong { .. }
            | KeyRecordAltered { .. } => ProblemKind::RecordAltered,
            ItemUnindexed { .. } | IndexDangling { .. } => ProblemKind::IndexDangling,
            EventUnreadable { .. } => ProblemKind::ChainBroken,
            Chain(Break::ItemPrev { .. }) => ProblemKind::ItemChainBroken,
            Chain(Break::Signature { problem, .. }) if problem.is_about_the_signer() => {
                ProblemKind::SignerUnknown
            }
            Chain(Break::Signature { .. }) => ProblemKind::SignatureInvalid,
            Chain(_) => ProblemKind::ChainBroken,
            ItemHeadWrong { .. } | ItemUnlogged { .. } => ProblemKind::ItemChainBroken,
            DatabaseHeadWrong { .. }
            | DatabaseHeadMissing
            | HeadFileWrong { .. }
            | HeadFileMissing => ProblemKind::HeadMismatch,
            TimestampInvalid { .. } => ProblemKind::TimestampInvalid,
            Checkpoint(CheckpointFinding::Unsigned) => ProblemKind::SignerUnknown,
            Checkpoint(_) => ProblemKind::CheckpointMismatch,
            Bundle(b) => bag_kind(b),
            Replica(r) => r.kind(),
        }
    }

    /// What the finding names: an item id, `event N`, `content H`, `case C`, a path.
    pub fn subject(&self) -> Option<String> {
        use Finding::*;
        let item = |i: &EvidenceId| Some(i.to_string());
        match self {
            DatabaseUnreadable { path, .. } => path.clone(),
            RecordUnreadable { at, .. } => Some(match at {
                RecordAt::Archive => "meta/archive".into(),
                RecordAt::Item(i) => i.to_string(),
                RecordAt::ItemKey(k) | RecordAt::ContentKey(k) => k.clone(),
                RecordAt::Case(c) => format!("case {c}"),
            }),
            ContentRecordUnreadable { content, item, .. }
            | ContentDamaged { content, item, .. } => {
                Some(item.map_or_else(|| format!("content {content}"), |i| i.to_string()))
            }
            ContentMissing { item: i, .. }
            | ItemMisfiled { item: i, .. }
            | ItemDisagreesWithContent { item: i }
            | ItemAltered { item: i, .. }
            | CurrentAltered { item: i, .. }
            | CurrentMissing { item: i, .. }
            | IngestEventMissing { item: i, .. }
            | ItemUnindexed { item: i, .. }
            | ItemHeadWrong { item: i }
            | ItemUnlogged { item: i } => item(i),
            CaseAltered { case, .. } => Some(format!("case {case}")),
            KeyRecordAltered { fingerprint } => Some(format!("key {fingerprint}")),
            IndexDangling { item: i, .. } => i.as_ref().and_then(item),
            EventUnreadable { seq, .. } => seq.map(|s| format!("event {s}")),
            OpeningWrong { seq, .. } => Some(format!("event {seq}")),
            Chain(Break::ItemPrev { item, .. }) => Some(item.clone()),
            Chain(b) => Some(format!("event {}", b.seq())),
            DatabaseHeadWrong { recorded, .. } => Some(format!("event {recorded}")),
            DatabaseHeadMissing => None,
            HeadFileWrong { seq, .. } => Some(format!("event {seq}")),
            HeadFileMissing => Some("HEAD".into()),
            Checkpoint(_) => Some("checkpoint".into()),
            TimestampInvalid { seq, .. } => Some(format!("event {seq}")),
            Bundle(b) => Some(b.subject()),
            Replica(r) => Some(r.subject()),
        }
    }
}

/// The stable kind of a bundle finding: kept here, with every other kind, as the JSON
/// contract (`BagFinding` gives the subject and the sentence).
fn bag_kind(finding: &BagFinding) -> ProblemKind {
    use BagFinding::*;
    match finding {
        TooDeep { .. }
        | DirUnreadable { .. }
        | Unexaminable { .. }
        | Unreadable { .. }
        | TooLarge { .. }
        | NotABag
        | WrongDeclaration
        | BagInfoMissing
        | BagInfoNotUtf8
        | BagInfoMalformed { .. }
        | OxumWrong { .. }
        | OxumMissing
        | ManifestMissing(_)
        | ManifestLine { .. }
        | ListedTwice { .. }
        | ListedOutsidePayload { .. } => ProblemKind::BagInvalid,
        NameNotUtf8 { .. } | Symlink { .. } | SpecialFile { .. } | UnsafeListed { .. } => {
            ProblemKind::PathUnsafe
        }
        ListedAbsent { .. }
        | ListedNotTagFile { .. }
        | ItemFileMissing { .. }
        | IngestFileMissing { .. }
        | ReadmeMissing
        | ReadingFileMissing { .. } => ProblemKind::FileMissing,
        DigestMismatch { .. } => ProblemKind::FileMismatch,
        PayloadUnlisted { .. } | TagUnlisted { .. } | Unlisted { .. } => ProblemKind::FileUnlisted,
        SizeWrong { .. }
        | EvidenceJsonMissing
        | EvidenceJsonNotObject
        | EvidenceJsonNoItems
        | EvidenceCaseWrong
        | EntryWithoutId { .. }
        | EntryMalformed { .. }
        | EntryNotRecorded { .. }
        | ItemsNotExported
        | ReferenceMissing { .. }
        | EntryHashesWrong { .. }
        | IngestUnreadable { .. }
        | AnnotationUnreadable { .. }
        | EntryDiffers { .. }
        | EntryFileWrong { .. }
        | BytesNotIngested { .. }
        | CaseJsonMissing
        | CaseJsonMalformed { .. }
        | CaseIdWrong
        | CaseJsonNotRecorded
        | ReadmeChanged
        | ReadingFileNotRecorded { .. }
        | InventoryNotFromEvidence
        | BagInfoFieldWrong { .. }
        | RevealWrong { .. }
        | RevealsMalformed { .. }
        | ExportIdsWrong => ProblemKind::MetadataMismatch,
        CustodyBreak(Break::ItemPrev { .. })
        | HistoryNotFromIngest { .. }
        | ChainNotAtExport { .. } => ProblemKind::ItemChainBroken,
        CustodyMissing
        | LineTooLong { .. }
        | OutOfOrder { .. }
        | NotExported { .. }
        | CustodyBreak(_)
        | MoreLineFindings { .. }
        | CustodyTruncated
        | NoReadableEvent
        | LastNotExport { .. } => ProblemKind::ChainBroken,
        HeadWrong => ProblemKind::HeadMismatch,
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Finding::*;
        match self {
            DatabaseUnreadable { why, .. }
            | RecordUnreadable { why, .. }
            | EventUnreadable { why, .. }
            | OpeningWrong { why, .. } => f.write_str(why),
            ContentRecordUnreadable { content, item, why }
            | ContentDamaged { content, item, why } => match item {
                Some(_) => write!(f, "content {content}: {why}"),
                None => f.write_str(why),
            },
            ContentMissing { content, .. } => write!(f, "its content {content} is not stored"),
            ItemMisfiled { item, key_hex } => {
                write!(f, "stored under key {key_hex} but records id {item}")
            }
            ItemDisagreesWithContent { .. } => {
                f.write_str("its size or SHA-256 differs from its content's")
            }
            ItemAltered { seq, field, .. } => write!(
                f,
                "its record's {field} is not what its ingest event (event {seq}) recorded: the record was altered"
            ),
            CurrentAltered { field, .. } => match *field {
                "record" => f.write_str(
                    "its current values in the index cannot be read: the index was damaged",
                ),
                "annotate event" => f.write_str(
                    "its current values in the index are not those of its last annotate event: the index was altered",
                ),
                field => write!(
                    f,
                    "its current {field} in the index is not what its ingest and annotate events make it: the index was altered"
                ),
            },
            CurrentMissing { seq, .. } => write!(
                f,
                "event {seq} annotated it, but the index holds no current values for it: the index lost them"
            ),
            IngestEventMissing { seq, .. } => write!(
                f,
                "event {seq}, which its record names as its ingest, is missing or is not the ingest of this item"
            ),
            KeyRecordAltered { .. } => f.write_str(
                "the key's record is not what the log's key_register and key_revoke events make it: the record was altered",
            ),
            CaseAltered { seq, .. } => write!(
                f,
                "the case record is not what its case_create event (event {seq}) recorded: the record was altered"
            ),
            ItemUnindexed { what, .. } => match what {
                Unindexed::Parent(p) => write!(f, "its parent {p} does not exist"),
                Unindexed::CaseLink(case) => write!(f, "its link to case {case} is missing"),
                Unindexed::ContentEntry => f.write_str("its content index entry is missing"),
            },
            IndexDangling { key_hex, why, .. } => write!(f, "index entry {key_hex}: {why}"),
            Chain(b) => f.write_str(&b.describe()),
            ItemHeadWrong { .. } => f.write_str(
                "the newest event recorded for this item is not the last event of its chain in the log",
            ),
            ItemUnlogged { .. } => f.write_str("no custody event names this item"),
            DatabaseHeadWrong { recorded, last } => write!(
                f,
                "the database records event {recorded} as the newest, but the log ends at event {last} with other bytes: events were removed, added or edited"
            ),
            DatabaseHeadMissing => f.write_str("the database records no newest event"),
            HeadFileWrong { seq, digest } => write!(
                f,
                "the HEAD file records event {seq} with digest {digest}, which the log does not hold: the database lost or changed acknowledged events"
            ),
            HeadFileMissing => f.write_str("the HEAD file is missing or unreadable"),
            Checkpoint(c) => c.fmt(f),
            TimestampInvalid { seq, why } => write!(f, "the time-stamp of event {seq} does not hold: {why}"),
            Bundle(b) => b.fmt(f),
            Replica(r) => r.fmt(f),
        }
    }
}

/// What a bundle's proof established, for a recipient to weigh (`verify --bundle`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// Every key (fingerprint) the proof registers whose signatures were checked.
    pub signed_by: Vec<String>,
    /// The key that signed the checkpoint: one the recipient trusts when they named any.
    pub checkpoint_signer: String,
    pub checkpoint_size: u64,
    pub checkpoint_root: String,
    pub timestamps: Vec<StampTrust>,
    pub unsigned_events: u64,
    /// Whether the recipient named keys to trust (`--trust-key`).
    pub trusted_keys: bool,
}

/// One time-stamp a bundle carries, as checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StampTrust {
    pub time: String,
    pub tsa: String,
    pub checkpoint_size: u64,
    /// The TSA's certificate chains to a CA the recipient named (`--tsa-ca`).
    pub trusted: bool,
}

/// What a verification counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub items: u64,
    pub contents: u64,
    pub bytes: u64,
    pub events: u64,
    /// Events whose signature and signer were checked (version 2).
    pub signed_events: u64,
    /// Events from before signing (version 1): reported, not damage.
    pub unsigned_events: u64,
}

/// The result of a verification: what it checked and every finding, in the order found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub checked: Checked,
    /// A partial verify: the subset asked for, and how many contents it chose to re-read.
    pub subset: Option<(String, u64)>,
    pub problems: Vec<Finding>,
    /// The custody event that records this verification, when it could be written.
    pub recorded: Option<u64>,
    /// The archive was verified read-only: nothing was written, no event recorded.
    pub read_only: bool,
    /// For a bundle with a proof: what it established.
    pub trust: Option<Trust>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn found(&mut self, finding: Finding) {
        self.problems.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ingest_event_says_so_and_an_altered_field_names_the_field() {
        let item = EvidenceId::new(7);
        let missing = Finding::IngestEventMissing { item, seq: 3 };
        assert_eq!(missing.kind(), ProblemKind::RecordAltered);
        assert_eq!(missing.subject().as_deref(), Some("EV-000007"));
        assert!(
            missing
                .to_string()
                .contains("is missing or is not the ingest")
        );
        let altered = Finding::ItemAltered {
            item,
            seq: 3,
            field: "source",
        };
        assert!(
            altered
                .to_string()
                .contains("its record's source is not what")
        );
    }
}
