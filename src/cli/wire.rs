//! JSON wire types: the shapes scripts rely on (docs/CLI.md), kept apart from internal structs
//! so that a refactor cannot silently change the contract. Fields may be added, never renamed.

use serde::Serialize;

use custodia::catalog::{CaseRecord, ItemRecord};
use custodia::custody::Event;
use custodia::custody::annotation::Metadata;
use custodia::custody::details::AnnotateDetails;
use custodia::text::exact_or_escaped;
use custodia::{Finding, Ingested, ItemDetail, ItemView, Skipped, Status, VerifyReport};

#[derive(Serialize)]
pub struct IngestOut {
    pub items: Vec<IngestItem>,
    pub skipped: Vec<SkippedOut>,
}

#[derive(Serialize)]
pub struct IngestItem {
    pub id: String,
    pub path: String,
    pub blake3: String,
    pub sha256: String,
    pub size: u64,
    pub status: &'static str,
    /// A duplicate that brought new tags, source, note or capture time: the `annotate`
    /// event that recorded them; null otherwise.
    pub annotated: Option<u64>,
}

impl From<&Ingested> for IngestItem {
    fn from(i: &Ingested) -> Self {
        use std::os::unix::ffi::OsStrExt;
        IngestItem {
            id: i.id.to_string(),
            path: exact_or_escaped(i.path.as_os_str().as_bytes()),
            blake3: i.fixity.blake3.to_hex(),
            sha256: i.fixity.sha256.to_hex(),
            size: i.fixity.size,
            status: match i.status {
                Status::New => "new",
                Status::Duplicate => "duplicate",
            },
            annotated: i.annotated,
        }
    }
}

impl From<&custodia::IngestReport> for IngestOut {
    fn from(r: &custodia::IngestReport) -> Self {
        IngestOut {
            items: r.items.iter().map(IngestItem::from).collect(),
            skipped: r.skipped.iter().map(SkippedOut::from).collect(),
        }
    }
}

#[derive(Serialize)]
pub struct SkippedOut {
    pub path: String,
    pub reason: String,
}

impl From<&Skipped> for SkippedOut {
    fn from(s: &Skipped) -> Self {
        use std::os::unix::ffi::OsStrExt;
        SkippedOut {
            path: exact_or_escaped(s.path.as_os_str().as_bytes()),
            reason: s.reason.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct ItemOut {
    pub id: String,
    pub blake3: String,
    pub sha256: String,
    pub size: u64,
    pub name: String,
    /// The name's exact bytes, for names that are not valid UTF-8.
    pub name_hex: String,
    pub path: String,
    pub cases: Vec<String>,
    pub parent: Option<String>,
    pub source: Option<String>,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub captured_at: Option<String>,
    pub modified_at: Option<String>,
    pub ingested_at: String,
    pub actor: String,
}

impl From<&ItemView> for ItemOut {
    fn from(v: &ItemView) -> Self {
        let i: &ItemRecord = &v.item;
        ItemOut {
            id: i.id.to_string(),
            blake3: i.blake3.to_hex(),
            sha256: i.sha256.to_hex(),
            size: i.size,
            name: exact_or_escaped(&i.name),
            name_hex: hex::encode(&i.name),
            path: exact_or_escaped(&i.path),
            cases: v.cases.iter().map(|c| c.to_string()).collect(),
            parent: i.parent.map(|p| p.to_string()),
            source: v.metadata.source.clone(),
            note: v.metadata.note.clone(),
            tags: v.metadata.tags.clone(),
            captured_at: v.metadata.captured_at.clone(),
            modified_at: i.modified_at.clone(),
            ingested_at: i.ingested_at.clone(),
            actor: i.actor.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct ListOut {
    pub items: Vec<ItemOut>,
}

impl From<&[ItemView]> for ListOut {
    fn from(items: &[ItemView]) -> Self {
        ListOut {
            items: items.iter().map(ItemOut::from).collect(),
        }
    }
}

#[derive(Serialize)]
pub struct ShowOut {
    #[serde(flatten)]
    pub item: ItemOut,
    pub attachments: Vec<String>,
    pub custody: Vec<Event>,
    /// Every annotation, oldest first (added with `annotate`).
    pub annotations: Vec<AnnotationOut>,
}

impl From<&ItemDetail> for ShowOut {
    fn from(d: &ItemDetail) -> Self {
        ShowOut {
            item: ItemOut::from(&d.view),
            attachments: d.attachments.iter().map(|a| a.to_string()).collect(),
            custody: d.custody.clone(),
            annotations: d
                .annotations()
                .map(|(e, change)| AnnotationOut {
                    event: e.seq,
                    time: e.time.clone(),
                    actor: e.actor.clone(),
                    reason: e.reason.clone(),
                    change,
                })
                .collect(),
        }
    }
}

/// One annotation of an item in `show`: who, when, why, and what it changed (the event's
/// details, keys as docs/FORMAT.md gives them).
#[derive(Serialize)]
pub struct AnnotationOut {
    pub event: u64,
    pub time: String,
    pub actor: String,
    pub reason: Option<String>,
    pub change: AnnotateDetails,
}

/// `annotate`.
#[derive(Serialize)]
pub struct AnnotateOut {
    pub id: String,
    /// The `annotate` event.
    pub event: u64,
    /// What changed.
    pub change: AnnotateDetails,
    /// The item's values now.
    pub current: Metadata,
}

impl From<&custodia::Annotated> for AnnotateOut {
    fn from(a: &custodia::Annotated) -> Self {
        AnnotateOut {
            id: a.id.to_string(),
            event: a.seq,
            change: a.change.clone(),
            current: a.metadata.clone(),
        }
    }
}

/// `show` of a hash that several items share: each in `show`'s shape, in id order.
#[derive(Serialize)]
pub struct ShowManyOut {
    pub items: Vec<ShowOut>,
}

/// `stats`.
#[derive(Serialize)]
pub struct StatsOut {
    pub items: u64,
    /// Distinct stored contents: items with the same bytes share one.
    pub contents: u64,
    pub bytes: StatsBytes,
    pub cases: u64,
    pub events: u64,
    /// Each actor named by an event, in name order.
    pub actors: Vec<ActorCount>,
}

#[derive(Serialize)]
pub struct StatsBytes {
    /// The sum of the items' sizes.
    pub items: u64,
    /// The sum of the contents' sizes: each distinct content once, uncompressed.
    pub stored: u64,
    /// `items` - `stored`.
    pub saved_by_dedup: u64,
    /// `volumes` + `db`.
    pub on_disk: u64,
    /// Bytes of the files under `volumes/` (compressed chunks).
    pub volumes: u64,
    /// Bytes of the files under `db/` (the index and the custody log).
    pub db: u64,
}

#[derive(Serialize)]
pub struct ActorCount {
    pub actor: String,
    pub events: u64,
}

/// One line of `log --json-lines`: the event as stored and the SHA-256 of its exact bytes,
/// kept beside it as in `log --json`.
#[derive(Serialize)]
pub struct LogLine<'a> {
    pub event: &'a Event,
    pub sha256: String,
}

#[derive(Serialize)]
pub struct CaseOut {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub created_at: String,
    pub actor: String,
}

impl From<&CaseRecord> for CaseOut {
    fn from(c: &CaseRecord) -> Self {
        CaseOut {
            id: c.id.to_string(),
            title: c.title.clone(),
            description: c.description.clone(),
            created_at: c.created_at.clone(),
            actor: c.actor.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct CasesOut {
    pub cases: Vec<CaseOut>,
}

#[derive(Serialize)]
pub struct CaseShowOut {
    pub case: CaseOut,
    pub items: Vec<ItemOut>,
}

#[derive(Serialize)]
pub struct LogOut {
    /// Each event exactly as stored: re-encoded canonically, it hashes to its digest.
    pub events: Vec<Event>,
    /// The SHA-256 of each event's exact bytes, in the order of `events`: what `HEAD`, the
    /// next event's `prev` and a bundle's `Custodia-Custody-Head` name. Kept beside the
    /// events, not inside them, so that an event object stays the event.
    pub sha256: Vec<String>,
}

impl From<&[custodia::Logged]> for LogOut {
    fn from(logged: &[custodia::Logged]) -> Self {
        LogOut {
            events: logged.iter().map(|l| l.event.clone()).collect(),
            sha256: logged.iter().map(|l| l.sha256.to_hex()).collect(),
        }
    }
}

#[derive(Serialize)]
pub struct VerifyOut {
    pub ok: bool,
    pub checked: CheckedOut,
    pub problems: Vec<ProblemOut>,
    /// Verified without writing anything (no custody event recorded).
    pub read_only: bool,
    /// `verify --bundle` of a bundle with a proof: what it established.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustOut>,
    /// `verify --read-data-subset`: the share asked for and the contents it re-read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<SubsetOut>,
}

/// docs/CLI.md, "verify": a partial read of the contents.
#[derive(Serialize)]
pub struct SubsetOut {
    pub subset: String,
    pub contents_read: u64,
}

/// docs/CLI.md, "verify --bundle": which guarantees held.
#[derive(Serialize)]
pub struct TrustOut {
    pub signed_by: Vec<String>,
    pub checkpoint: CheckpointOut,
    pub timestamps: Vec<StampOut>,
    pub unsigned_events: u64,
    /// Whether the checkpoint's signer is a key named with --trust-key.
    pub trusted_key: bool,
}

#[derive(Serialize)]
pub struct CheckpointOut {
    pub size: u64,
    pub root: String,
    pub signer: String,
}

#[derive(Serialize)]
pub struct StampOut {
    pub time: String,
    pub tsa: String,
    pub checkpoint_size: u64,
    pub trusted: bool,
}

impl From<&custodia::findings::Trust> for TrustOut {
    fn from(t: &custodia::findings::Trust) -> Self {
        TrustOut {
            signed_by: t.signed_by.clone(),
            checkpoint: CheckpointOut {
                size: t.checkpoint_size,
                root: t.checkpoint_root.clone(),
                signer: t.checkpoint_signer.clone(),
            },
            timestamps: t
                .timestamps
                .iter()
                .map(|s| StampOut {
                    time: s.time.clone(),
                    tsa: s.tsa.clone(),
                    checkpoint_size: s.checkpoint_size,
                    trusted: s.trusted,
                })
                .collect(),
            unsigned_events: t.unsigned_events,
            trusted_key: t.trusted_keys && !t.checkpoint_signer.is_empty(),
        }
    }
}

#[derive(Serialize)]
pub struct CheckedOut {
    pub items: u64,
    pub contents: u64,
    pub bytes: u64,
    pub events: u64,
    pub signed_events: u64,
    pub unsigned_events: u64,
}

#[derive(Serialize)]
pub struct ProblemOut {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub detail: String,
}

impl From<&Finding> for ProblemOut {
    fn from(f: &Finding) -> Self {
        ProblemOut {
            kind: f.kind().as_str(),
            id: f.subject(),
            detail: f.to_string(),
        }
    }
}

impl From<&VerifyReport> for VerifyOut {
    fn from(r: &VerifyReport) -> Self {
        let c = r.checked;
        VerifyOut {
            ok: r.ok(),
            checked: CheckedOut {
                items: c.items,
                contents: c.contents,
                bytes: c.bytes,
                events: c.events,
                signed_events: c.signed_events,
                unsigned_events: c.unsigned_events,
            },
            problems: r.problems.iter().map(ProblemOut::from).collect(),
            read_only: r.read_only,
            trust: r.trust.as_ref().map(TrustOut::from),
            subset: r.subset.as_ref().map(|(s, read)| SubsetOut {
                subset: s.clone(),
                contents_read: *read,
            }),
        }
    }
}

/// `init`: the new archive.
#[derive(Serialize)]
pub struct InitOut {
    pub archive: String,
    pub archive_id: String,
    pub format: u32,
}

/// `link`: the item and the case it joined, and the attachments that joined with it.
#[derive(Serialize)]
pub struct LinkOut {
    pub id: String,
    pub case: String,
    pub attachments: Vec<String>,
}

impl From<(&custodia::Linked, &custodia::ids::CaseId)> for LinkOut {
    fn from((linked, case): (&custodia::Linked, &custodia::ids::CaseId)) -> Self {
        LinkOut {
            id: linked.id.to_string(),
            case: case.to_string(),
            attachments: linked.attachments.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// `extract`: where the checked copy went.
#[derive(Serialize)]
pub struct ExtractOut {
    pub id: String,
    pub path: String,
    pub blake3: String,
    pub sha256: String,
    pub size: u64,
}

impl From<&custodia::Extracted> for ExtractOut {
    fn from(e: &custodia::Extracted) -> Self {
        ExtractOut {
            id: e.id.to_string(),
            path: path_text(&e.path),
            blake3: e.fixity.blake3.to_hex(),
            sha256: e.fixity.sha256.to_hex(),
            size: e.fixity.size,
        }
    }
}

/// `export`: the bundle written and the event that records it.
#[derive(Serialize)]
pub struct ExportOut {
    pub bundle: String,
    pub items: usize,
    pub bytes: u64,
    pub tagmanifest_sha256: String,
    pub event: u64,
    /// Added by issue 12, point 8: the items' own bytes, the attachments among them, and
    /// what stayed out.
    pub evidence_bytes: u64,
    pub attachments: usize,
    pub left_out: Vec<LeftOutOut>,
}

/// An item an export left out, and why (`no_attachments`, `not_in_case`).
#[derive(Serialize)]
pub struct LeftOutOut {
    pub id: String,
    pub reason: &'static str,
    pub attachment_of: Option<String>,
}

impl From<&custodia::LeftOut> for LeftOutOut {
    fn from(l: &custodia::LeftOut) -> Self {
        LeftOutOut {
            id: l.id.to_string(),
            reason: l.reason.as_str(),
            attachment_of: l.parent.map(|p| p.to_string()),
        }
    }
}

impl From<&custodia::ExportReport> for ExportOut {
    fn from(r: &custodia::ExportReport) -> Self {
        ExportOut {
            bundle: path_text(&r.bundle),
            items: r.items,
            bytes: r.bytes,
            tagmanifest_sha256: r.tagmanifest_sha256.clone(),
            event: r.event,
            evidence_bytes: r.evidence_bytes,
            attachments: r.attachments,
            left_out: r.left_out.iter().map(LeftOutOut::from).collect(),
        }
    }
}

/// `export --dry-run`: `export`'s fields that are known before writing (no `bytes` of
/// the bag, `tagmanifest_sha256` or `event`), the items that would go, and `dry_run: true`.
#[derive(Serialize)]
pub struct ExportPlanOut {
    pub bundle: String,
    pub items: usize,
    pub evidence_bytes: u64,
    pub attachments: usize,
    pub left_out: Vec<LeftOutOut>,
    pub evidence: Vec<PlannedOut>,
    pub dry_run: bool,
}

/// One item an export would hold.
#[derive(Serialize)]
pub struct PlannedOut {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub attachment_of: Option<String>,
}

impl ExportPlanOut {
    pub fn new(plan: &custodia::ExportPlan, out: &std::path::Path) -> Self {
        ExportPlanOut {
            bundle: path_text(out),
            items: plan.items.len(),
            evidence_bytes: plan.bytes(),
            attachments: plan.attachments(),
            left_out: plan.left_out.iter().map(LeftOutOut::from).collect(),
            evidence: plan
                .items
                .iter()
                .map(|i| PlannedOut {
                    id: i.id.to_string(),
                    name: exact_or_escaped(&i.name),
                    size: i.size,
                    attachment_of: i.parent.map(|p| p.to_string()),
                })
                .collect(),
            dry_run: true,
        }
    }
}

/// The one rule for paths in JSON: the exact text when the bytes are UTF-8, else escaped
/// (docs/CLI.md, "Output").
pub fn path_text(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    exact_or_escaped(path.as_os_str().as_bytes())
}

#[derive(Serialize)]
pub struct ErrorOut<'a> {
    pub error: ErrorBody<'a>,
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub kind: &'a str,
    pub message: String,
}
