//! The records the index keeps, as encoded by `codec` (field order is the byte order).

use serde::{Deserialize, Serialize};

use crate::ids::{CaseId, ContentId, EventDigest, EvidenceId, Sha256Digest};

/// `meta/archive`: what this archive is. Written once by `init`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveMeta {
    /// The archive format; this release reads and writes 1.
    pub format: u32,
    /// A random identifier, named in every custody event, so events of two archives cannot be confused.
    pub archive_id: String,
    pub created_at: String,
    pub chunk_size: u32,
    pub tool: String,
}

/// `meta/head`: the newest custody event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub digest: EventDigest,
}

/// `cases/<case id>`: a case. Never changed once written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub id: CaseId,
    pub title: String,
    pub description: Option<String>,
    pub created_at: String,
    pub actor: String,
    /// The custody event that created the case.
    pub seq: u64,
}

/// `items/<item number>`: one evidence item with the context of its acquisition. Never changed once written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub id: EvidenceId,
    pub blake3: ContentId,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// The file's name as the file system gave it, byte for byte.
    pub name: Vec<u8>,
    /// The path it was ingested from, byte for byte.
    pub path: Vec<u8>,
    pub source: Option<String>,
    pub note: Option<String>,
    pub tags: Vec<String>,
    /// When the evidence was captured (RFC 3339, as the investigator gave it).
    pub captured_at: Option<String>,
    /// The file's modification time when ingested (RFC 3339 UTC), when the file system had one.
    pub modified_at: Option<String>,
    pub ingested_at: String,
    pub actor: String,
    /// The item this one is an attachment of.
    pub parent: Option<EvidenceId>,
    /// The case it was ingested into; later links are in the index.
    pub case: CaseId,
    /// The custody event that ingested it.
    pub seq: u64,
}

/// `index/c…`: when and by which custody event an item joined a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub linked_at: String,
    pub seq: u64,
}
