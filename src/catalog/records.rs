//! The records the index keeps, as encoded by `codec` (field order is the byte order).

use serde::{Deserialize, Serialize};

use crate::custody::annotation::Metadata;
use crate::ids::{CaseId, ChunkId, ContentId, EventDigest, EvidenceId, Sha256Digest};

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

/// `meta/key:<fingerprint>`: a signing key the log registers, for which actors, and
/// whether it was revoked. Follows from the `init`, `key_register` and `key_revoke` events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The public key in OpenSSH form.
    pub public_key: String,
    /// The actors it speaks for, in the order they were registered.
    pub actors: Vec<String>,
    /// The event that first registered it.
    pub registered_at: u64,
    /// The `key_revoke` event that withdrew it, and why.
    pub revoked_at: Option<u64>,
    pub revoke_reason: Option<String>,
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

/// `index/m…`: an item's current source, note, tags and capture time, as its `annotate`
/// events leave them, and the last of those events. Absent for an item never annotated,
/// whose item record holds its values; replaced by each annotation, the values before it
/// staying in the log. A function of the log, as every index entry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentRecord {
    pub metadata: Metadata,
    /// The item's last `annotate` event.
    pub seq: u64,
}

/// `index/c…`: when and by which custody event an item joined a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub linked_at: String,
    pub seq: u64,
}

use crate::custody::disclosure::Disclosed;

impl ItemRecord {
    /// The source, note, tags and capture time given at ingest.
    pub fn ingest_metadata(&self) -> Metadata {
        Metadata {
            source: self.source.clone(),
            note: self.note.clone(),
            tags: self.tags.clone(),
            captured_at: self.captured_at.clone(),
        }
    }

    /// What this record repeats of its ingest event, to compare with the event's own.
    pub fn ingest_facts(&self) -> crate::custody::details::IngestFacts {
        crate::custody::details::IngestFacts {
            actor: self.actor.clone(),
            time: self.ingested_at.clone(),
            blake3: self.blake3.to_hex(),
            sha256: self.sha256.to_hex(),
            size: self.size,
            name: self.name.clone(),
            path: Disclosed::Plain(hex::encode(&self.path)),
            path_text: Disclosed::Plain(crate::text::exact_or_escaped(&self.path)),
            source: Disclosed::Plain(self.source.clone()),
            note: Disclosed::Plain(self.note.clone()),
            tags: self.tags.clone(),
            captured_at: self.captured_at.clone(),
            modified_at: self.modified_at.clone(),
            parent: self.parent.map(|p| p.to_string()),
        }
    }
}

/// One chunk of a content, in order: its id and its uncompressed length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub id: ChunkId,
    pub len: u32,
}

/// What the `contents` tree holds for one content (keyed by its BLAKE3 `ContentId`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRecord {
    pub size: u64,
    pub sha256: Sha256Digest,
    pub chunks: Vec<ChunkRef>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use proptest::prelude::*;

    fn item(n: u64, name: Vec<u8>, source: Option<String>, tags: Vec<String>) -> ItemRecord {
        ItemRecord {
            id: EvidenceId::new(n),
            blake3: ContentId::from_bytes([1; 32]),
            sha256: Sha256Digest::from_bytes([2; 32]),
            size: n,
            path: name.clone(),
            name,
            source,
            note: None,
            tags,
            captured_at: Some("2024-03-02T14:05:00Z".into()),
            modified_at: None,
            ingested_at: "2026-01-01T00:00:00.000000Z".into(),
            actor: "a".into(),
            parent: Some(EvidenceId::new(1)),
            case: "BY-2024-017".parse().unwrap(),
            seq: 9,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Fuzzing the stored-record decoders: no input makes any of them panic or allocate
        /// beyond the codec's limit.
        #[test]
        fn no_bytes_make_a_record_decoder_panic(bytes: Vec<u8>) {
            let _ = codec::decode::<ItemRecord>("x", &bytes);
            let _ = codec::decode::<CaseRecord>("x", &bytes);
            let _ = codec::decode::<ContentRecord>("x", &bytes);
            let _ = codec::decode::<ArchiveMeta>("x", &bytes);
            let _ = codec::decode::<Head>("x", &bytes);
            let _ = codec::decode::<LinkRecord>("x", &bytes);
            let _ = codec::decode::<CurrentRecord>("x", &bytes);
            let _ = codec::decode::<EvidenceId>("x", &bytes);
            let _ = codec::decode::<EventDigest>("x", &bytes);
            let _ = codec::decode::<u32>("x", &bytes);
        }

        /// A record prefix that claims a huge length is refused, not allocated.
        #[test]
        fn huge_claimed_lengths_are_refused(len in (1u64 << 40)..u64::MAX) {
            let mut bytes = vec![codec::RECORD_VERSION];
            bytes.extend_from_slice(&len.to_le_bytes());
            prop_assert!(codec::decode::<ContentRecord>("x", &bytes).is_err());
        }

        #[test]
        fn item_records_round_trip(n: u64, name: Vec<u8>, source: Option<String>, tags: Vec<String>) {
            let record = item(n, name, source, tags);
            prop_assert_eq!(codec::decode::<ItemRecord>("x", &codec::encode(&record)).unwrap(), record);
        }

        #[test]
        fn content_records_round_trip(size: u64, lens in proptest::collection::vec(any::<u32>(), 0..50)) {
            let record = ContentRecord {
                size,
                sha256: Sha256Digest::from_bytes([3; 32]),
                chunks: lens.iter().map(|l| ChunkRef { id: crate::ids::ChunkId::from_bytes([*l as u8; 32]), len: *l }).collect(),
            };
            prop_assert_eq!(codec::decode::<ContentRecord>("x", &codec::encode(&record)).unwrap(), record);
        }
    }
}
