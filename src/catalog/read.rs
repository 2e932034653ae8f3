//! Reading the index: each record decoded by its typed key, and the raw entries `verify`
//! checks one by one.

use sled::Transactional;
use sled::transaction::TransactionError;

use super::keys;
use super::records::{
    ArchiveMeta, CaseRecord, ContentRecord, CurrentRecord, Head, ItemRecord, KeyRecord,
};
use super::tx::{Tx, TxResult};
use crate::codec::{self, ChunkLocation};
use crate::custody::Context;
use crate::custody::disclosure::Openings;
use crate::error::{Error, Result};
use crate::ids::{CaseId, ChunkId, ContentId, EventDigest, EvidenceId};

/// The sled trees of the index database (docs/FORMAT.md, "Trees").
pub struct Catalog {
    meta: sled::Tree,
    /// Chunk id → the volume holding it.
    chunk_volumes: sled::Tree,
    contents: sled::Tree,
    items: sled::Tree,
    cases: sled::Tree,
    index: sled::Tree,
    custody: sled::Tree,
    /// Event seq → the openings of its committed fields (issue 11.7).
    openings: sled::Tree,
}

/// Entries of one tree as stored, for a checker that must see each one however damaged.
pub type RawEntries = Box<dyn Iterator<Item = Result<(sled::IVec, sled::IVec)>>>;

/// A time-stamp request awaiting its response: the digest it asks for, the request's DER
/// and the size of the checkpoint it covers.
pub type PendingTimestamp = ([u8; 32], (Vec<u8>, u64));

/// Where each chunk is stored: read by the chunk reader, checked by the writer.
#[derive(Clone)]
pub struct ChunkLocations(sled::Tree);

impl ChunkLocations {
    pub fn get(&self, id: &ChunkId) -> Result<Option<ChunkLocation>> {
        match self.0.get(id.as_bytes())? {
            Some(bytes) => Ok(Some(codec::decode_location(
                &format!("chunk location {id}"),
                &bytes,
            )?)),
            None => Ok(None),
        }
    }

    pub fn contains(&self, id: &ChunkId) -> Result<bool> {
        Ok(self.0.contains_key(id.as_bytes())?)
    }
}

fn raw(tree: &sled::Tree) -> RawEntries {
    Box::new(tree.iter().map(|e| e.map_err(Error::from)))
}

impl Catalog {
    pub fn open(db: &sled::Db) -> Result<Catalog> {
        Ok(Catalog {
            meta: db.open_tree("meta")?,
            chunk_volumes: db.open_tree("chunk_volumes")?,
            contents: db.open_tree("contents")?,
            items: db.open_tree("items")?,
            cases: db.open_tree("cases")?,
            index: db.open_tree("index")?,
            custody: db.open_tree("custody")?,
            openings: db.open_tree(keys::OPENINGS_TREE)?,
        })
    }

    /// Runs `body` as one transaction over every tree, sealing events with `ctx` at `time`.
    pub fn transaction<R>(
        &self,
        ctx: &Context,
        time: &str,
        body: impl Fn(&Tx) -> TxResult<R>,
    ) -> std::result::Result<R, TransactionError<Error>> {
        (
            &self.meta,
            &self.contents,
            &self.items,
            &self.cases,
            &self.index,
            &self.custody,
            &self.chunk_volumes,
            &self.openings,
        )
            .transaction(|trees| body(&Tx::new(trees, ctx, time)))
    }

    pub fn chunk_locations(&self) -> ChunkLocations {
        ChunkLocations(self.chunk_volumes.clone())
    }

    /// `meta/archive`: what this archive is.
    pub fn archive_meta(&self) -> Result<ArchiveMeta> {
        let bytes = self
            .meta
            .get("archive")?
            .ok_or_else(|| Error::Damaged("the archive record (meta/archive) is missing".into()))?;
        codec::decode("meta/archive", &bytes)
    }

    /// Stores `meta/archive`, once, when the archive is created (made durable by the
    /// first commit's flush).
    pub fn put_archive_meta(&self, meta: &ArchiveMeta) -> Result<()> {
        self.meta.insert("archive", codec::encode(meta))?;
        Ok(())
    }

    /// Every signing key the log registers, by fingerprint.
    pub fn signing_keys(&self) -> Result<Vec<(String, KeyRecord)>> {
        let mut out = Vec::new();
        for entry in self.meta.scan_prefix(keys::SIGNING_KEYS) {
            let (key, value) = entry?;
            let fingerprint =
                String::from_utf8_lossy(&key[keys::SIGNING_KEYS.len()..]).into_owned();
            let record = codec::decode(&format!("key {fingerprint}"), &value)?;
            out.push((fingerprint, record));
        }
        Ok(out)
    }

    /// Stores an operational value in `meta` (outside any transaction; made durable by
    /// the next commit's flush): a pending time-stamp request.
    pub fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.meta.insert(key, value)?;
        Ok(())
    }

    /// The time-stamp requests awaiting a response: digest → (request DER, checkpoint size).
    pub fn pending_timestamps(&self) -> Result<Vec<PendingTimestamp>> {
        let mut out = Vec::new();
        for entry in self.meta.scan_prefix(keys::PENDING_TIMESTAMPS) {
            let (key, value) = entry?;
            let hex_digest = &key[keys::PENDING_TIMESTAMPS.len()..];
            let mut digest = [0u8; 32];
            if hex::decode_to_slice(hex_digest, &mut digest).is_err() {
                continue;
            }
            out.push((digest, codec::decode("meta/tsq", &value)?));
        }
        Ok(out)
    }

    /// The newest event, as `meta/head` records it.
    pub fn head(&self) -> Result<Option<Head>> {
        self.meta
            .get("head")?
            .map(|b| codec::decode("meta/head", &b))
            .transpose()
    }

    pub fn case(&self, id: &CaseId) -> Result<Option<CaseRecord>> {
        self.cases
            .get(id.as_str())?
            .map(|b| codec::decode(&format!("case {id}"), &b))
            .transpose()
    }

    pub fn has_case(&self, id: &CaseId) -> Result<bool> {
        Ok(self.cases.contains_key(id.as_str())?)
    }

    /// Every case, in id order.
    pub fn cases(&self) -> Result<Vec<CaseRecord>> {
        let mut out = Vec::new();
        for entry in self.cases.iter() {
            let (key, value) = entry?;
            let label = format!("case {}", String::from_utf8_lossy(&key));
            out.push(codec::decode(&label, &value)?);
        }
        Ok(out)
    }

    pub fn item(&self, id: EvidenceId) -> Result<Option<ItemRecord>> {
        self.items
            .get(id.to_key())?
            .map(|b| codec::decode(&format!("item {id}"), &b))
            .transpose()
    }

    /// An item's current values once annotated (its `m` entry); `None` for an item never
    /// annotated, whose item record holds them.
    pub fn current(&self, id: EvidenceId) -> Result<Option<CurrentRecord>> {
        self.index
            .get(keys::item_metadata(id))?
            .map(|b| codec::decode(&format!("index: current values of {id}"), &b))
            .transpose()
    }

    pub fn has_item(&self, id: EvidenceId) -> Result<bool> {
        Ok(self.items.contains_key(id.to_key())?)
    }

    /// Every item number, in order.
    pub fn item_ids(&self) -> Result<Vec<EvidenceId>> {
        let mut ids = Vec::new();
        for key in self.items.iter().keys() {
            ids.extend(EvidenceId::from_key(&key?));
        }
        Ok(ids)
    }

    pub fn content(&self, id: &ContentId) -> Result<Option<ContentRecord>> {
        self.contents
            .get(id.as_bytes())?
            .map(|b| codec::decode(&format!("content {id}"), &b))
            .transpose()
    }

    pub fn in_case(&self, item: EvidenceId, case: &CaseId) -> Result<bool> {
        Ok(self.index.contains_key(keys::item_case(item, case))?)
    }

    /// Items whose index keys start with `prefix` and end with an item number.
    pub fn items_under(&self, prefix: &[u8]) -> Result<Vec<EvidenceId>> {
        let mut ids = Vec::new();
        for entry in self.index.scan_prefix(prefix) {
            let (key, _) = entry?;
            ids.extend(keys::trailing_item(&key));
        }
        Ok(ids)
    }

    /// Items whose content's BLAKE3, in hex, starts with `prefix`.
    pub fn items_with_hash_prefix(&self, prefix: &str) -> Result<Vec<EvidenceId>> {
        let mut found = Vec::new();
        for entry in self.index.scan_prefix(keys::content_hex_prefix(prefix)) {
            let (key, _) = entry?;
            // h ‖ 32-byte hash ‖ 8-byte item: anything else is damage, not a match.
            let Some(hash) = key.get(1..33).filter(|_| key.len() == 41) else {
                continue;
            };
            if hex::encode(hash).starts_with(prefix) {
                found.extend(keys::trailing_item(&key));
            }
        }
        Ok(found)
    }

    /// Items whose SHA-256, in hex, starts with `prefix`. The index keys items by BLAKE3
    /// only, so this reads every item record: one pass over the `items` tree.
    pub fn items_with_sha256_prefix(&self, prefix: &str) -> Result<Vec<EvidenceId>> {
        let mut found = Vec::new();
        for item in self.items() {
            let item = item?;
            if item.sha256.to_hex().starts_with(prefix) {
                found.push(item.id);
            }
        }
        Ok(found)
    }

    /// Every item record, decoded, in id order.
    pub fn items(&self) -> impl Iterator<Item = Result<ItemRecord>> + '_ {
        self.items.iter().map(|entry| {
            let (key, value) = entry?;
            let label = match EvidenceId::from_key(&key) {
                Some(id) => format!("item {id}"),
                None => format!("item key {}", hex::encode(&key)),
            };
            codec::decode(&label, &value)
        })
    }

    /// Every content record, decoded, in BLAKE3 order.
    pub fn contents(&self) -> impl Iterator<Item = Result<ContentRecord>> + '_ {
        self.contents.iter().map(|entry| {
            let (key, value) = entry?;
            codec::decode(&format!("content {}", hex::encode(&key)), &value)
        })
    }

    /// How many cases there are.
    pub fn case_count(&self) -> usize {
        self.cases.len()
    }

    /// The cases an item belongs to, in id order.
    pub fn cases_of(&self, id: EvidenceId) -> Result<Vec<CaseId>> {
        let prefix = keys::item_cases_prefix(id);
        let mut cases = Vec::new();
        for entry in self.index.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let text = std::str::from_utf8(&key[prefix.len()..])
                .map_err(|_| Error::Damaged(format!("index: a case link of {id} is not UTF-8")))?;
            cases.push(text.parse()?);
        }
        Ok(cases)
    }

    /// The seqs of the events naming an item, oldest first.
    pub fn event_seqs_of(&self, id: EvidenceId) -> Result<Vec<u64>> {
        let prefix = keys::item_events_prefix(id);
        let mut seqs = Vec::new();
        for key in self.index.scan_prefix(&prefix).keys() {
            seqs.push(codec::u64_from_key("index", &key?[prefix.len()..])?);
        }
        Ok(seqs)
    }

    /// One event's exact bytes; `None` when the log holds no such event.
    pub fn event_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        match self.custody.get(codec::u64_key(seq))? {
            Some(v) => Ok(Some(codec::decode_event(&v)?.to_vec())),
            None => Ok(None),
        }
    }

    /// The last event of the log: its seq and digest.
    pub fn last_event(&self) -> Result<Option<(u64, EventDigest)>> {
        match self.custody.last()? {
            Some((key, value)) => {
                let seq = codec::u64_from_key("custody", &key)?;
                Ok(Some((seq, EventDigest::of(codec::decode_event(&value)?))))
            }
            None => Ok(None),
        }
    }

    /// The digest of the newest event naming an item, as the index records it.
    pub fn item_head(&self, id: EvidenceId) -> Result<Option<EventDigest>> {
        self.index
            .get(keys::item_head(id))?
            .map(|b| codec::decode(&format!("index: head of {id}"), &b))
            .transpose()
    }

    /// Every event as stored, in seq order (undecoded: the checker decides what is wrong).
    /// The openings stored beside event `seq` (none for events before issue 11.7).
    pub fn openings(&self, seq: u64) -> Result<Openings> {
        match self.openings.get(codec::u64_key(seq))? {
            Some(b) => codec::decode_openings(&format!("openings of event {seq}"), &b),
            None => Ok(Openings::default()),
        }
    }

    /// Every stored openings record, by seq, as stored (for a replica).
    pub fn raw_openings(&self) -> RawEntries {
        raw(&self.openings)
    }

    pub fn raw_events(&self) -> RawEntries {
        raw(&self.custody)
    }

    pub fn raw_contents(&self) -> RawEntries {
        raw(&self.contents)
    }

    pub fn raw_items(&self) -> RawEntries {
        raw(&self.items)
    }

    pub fn raw_cases(&self) -> RawEntries {
        raw(&self.cases)
    }

    pub fn raw_index(&self) -> RawEntries {
        raw(&self.index)
    }

    /// Raw index entries under a prefix (`keys::ITEM_HEAD`, ...).
    pub fn raw_index_under(&self, prefix: &[u8]) -> RawEntries {
        Box::new(
            self.index
                .scan_prefix(prefix)
                .map(|e| e.map_err(Error::from)),
        )
    }

    /// Whether the `items` tree holds a key (raw bytes, possibly not an item number).
    pub fn has_item_key(&self, key: &[u8]) -> Result<bool> {
        Ok(self.items.contains_key(key)?)
    }

    /// Whether the log holds an event under a raw key.
    pub fn has_event_key(&self, key: &[u8]) -> Result<bool> {
        Ok(self.custody.contains_key(key)?)
    }

    pub fn has_index_key(&self, key: &[u8]) -> Result<bool> {
        Ok(self.index.contains_key(key)?)
    }

    /// The raw `contents` record of a content, if stored.
    pub fn raw_content(&self, id: &ContentId) -> Result<Option<sled::IVec>> {
        Ok(self.contents.get(id.as_bytes())?)
    }
}
