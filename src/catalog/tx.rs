//! Writing the index: one transaction pairs records with the custody event that records
//! them, all or nothing.
//!
//! sled may run a transaction's body more than once (on conflict), so nothing here does
//! outside I/O.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::keys;
use super::records::{
    CaseRecord, ContentRecord, CurrentRecord, Head, ItemRecord, KeyRecord, LinkRecord,
};
use crate::codec::{self, ChunkLocation};
use crate::custody::annotation::Metadata;
use crate::custody::details::{AnnotateDetails, KeyRegisterDetails};
use crate::custody::disclosure::Openings;
use crate::custody::{Action, Context, Draft};
use crate::error::Error;
use crate::ids::{CaseId, ChunkId, ContentId, EventDigest, EvidenceId};

pub type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

/// Ends a transaction with an error, writing nothing.
pub fn abort<T>(e: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

type Trees = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// An event sealed for its place in the log but not yet written.
pub struct Sealed {
    pub seq: u64,
    pub prev: Option<EventDigest>,
    pub bytes: Vec<u8>,
    pub items: Vec<EvidenceId>,
    /// The openings of its committed fields, stored with it.
    pub openings: Openings,
}

/// The trees one transaction writes, and the context its events are sealed with.
pub struct Tx<'a> {
    meta: &'a TransactionalTree,
    contents: &'a TransactionalTree,
    items: &'a TransactionalTree,
    cases: &'a TransactionalTree,
    index: &'a TransactionalTree,
    custody: &'a TransactionalTree,
    chunk_volumes: &'a TransactionalTree,
    openings: &'a TransactionalTree,
    ctx: &'a Context,
    time: &'a str,
}

impl<'a> Tx<'a> {
    pub(super) fn new(trees: &'a Trees, ctx: &'a Context, time: &'a str) -> Tx<'a> {
        let (meta, contents, items, cases, index, custody, chunk_volumes, openings) = trees;
        Tx {
            meta,
            contents,
            items,
            cases,
            index,
            custody,
            chunk_volumes,
            openings,
            ctx,
            time,
        }
    }

    /// The time every event and record of this transaction carries.
    pub fn time(&self) -> &str {
        self.time
    }

    pub fn actor(&self) -> &str {
        &self.ctx.actor
    }

    /// Appends an event after the current head, moving the head and each named item's chain.
    pub fn append(&self, draft: &Draft) -> TxResult<(u64, EventDigest)> {
        let item_prev = draft
            .items
            .iter()
            .map(|id| self.item_head(*id))
            .collect::<TxResult<Vec<_>>>()?;
        self.append_after(draft, &item_prev)
    }

    /// Appends the first event of items numbered just now: their chains start here, so
    /// there is no head to look up.
    pub fn append_first(&self, draft: &Draft) -> TxResult<(u64, EventDigest)> {
        self.append_after(draft, &vec![None; draft.items.len()])
    }

    fn append_after(
        &self,
        draft: &Draft,
        item_prev: &[Option<EventDigest>],
    ) -> TxResult<(u64, EventDigest)> {
        let head = self.head()?;
        let seq = head.map_or(1, |h| h.seq + 1);
        let draft = self.ctx.disclose(draft).or_else(|e| abort(e.into()))?;
        let bytes = self.ctx.seal_canonical(
            &draft,
            seq,
            head.map(|h| h.digest),
            item_prev,
            self.time.to_owned(),
        );
        let digest = self.write_event(seq, &bytes, &draft.items, &draft.openings)?;
        Ok((seq, digest))
    }

    /// Appends an event sealed earlier (`Archive::seal_next`), if the head has not moved since.
    pub fn append_sealed(&self, sealed: &Sealed) -> TxResult<EventDigest> {
        let head = self.head()?;
        if head.map(|h| h.digest) != sealed.prev || head.map_or(1, |h| h.seq + 1) != sealed.seq {
            return abort(Error::Database(
                "the custody log moved while an export was being written".into(),
            ));
        }
        self.write_event(sealed.seq, &sealed.bytes, &sealed.items, &sealed.openings)
    }

    /// The event, its openings (in the same transaction: a committed value is never
    /// recorded without what opens it), the head and each named item's chain.
    fn write_event(
        &self,
        seq: u64,
        bytes: &[u8],
        items: &[EvidenceId],
        openings: &Openings,
    ) -> TxResult<EventDigest> {
        let digest = EventDigest::of(bytes);
        self.custody
            .insert(&codec::u64_key(seq), codec::encode_event(bytes))?;
        if !openings.is_empty() {
            self.openings
                .insert(&codec::u64_key(seq), codec::encode_openings(openings))?;
        }
        self.meta
            .insert("head", codec::encode(&Head { seq, digest }))?;
        for id in items {
            self.index
                .insert(keys::item_head(*id), codec::encode(&digest))?;
            self.index
                .insert(keys::item_event(*id, seq), &keys::marker())?;
        }
        Ok(digest)
    }

    fn head(&self) -> TxResult<Option<Head>> {
        match self.meta.get("head")? {
            Some(b) => Ok(Some(codec::decode("meta/head", &b).or_else(abort)?)),
            None => Ok(None),
        }
    }

    fn item_head(&self, id: EvidenceId) -> TxResult<Option<EventDigest>> {
        match self.index.get(keys::item_head(id))? {
            Some(b) => Ok(Some(
                codec::decode(&format!("index: head of {id}"), &b).or_else(abort)?,
            )),
            None => Ok(None),
        }
    }

    fn key_record(&self, fingerprint: &str) -> TxResult<Option<KeyRecord>> {
        match self.meta.get(keys::signing_key(fingerprint))? {
            Some(b) => Ok(Some(
                codec::decode(&format!("key {fingerprint}"), &b).or_else(abort)?,
            )),
            None => Ok(None),
        }
    }

    fn put_key_record(&self, fingerprint: &str, record: &KeyRecord) -> TxResult<()> {
        self.meta
            .insert(keys::signing_key(fingerprint), codec::encode(record))?;
        Ok(())
    }

    /// Records that the acting key speaks for the acting actor from event `seq` on (the
    /// event that registers it: `init`, or `key_register`).
    pub fn record_registration(&self, seq: u64) -> TxResult<()> {
        let Some(signer) = &self.ctx.signer else {
            return Ok(());
        };
        let fingerprint = signer.fingerprint();
        let mut record = self.key_record(fingerprint)?.unwrap_or(KeyRecord {
            public_key: signer.public_openssh().to_owned(),
            actors: Vec::new(),
            registered_at: seq,
            revoked_at: None,
            revoke_reason: None,
        });
        if !record.actors.contains(&self.ctx.actor) {
            record.actors.push(self.ctx.actor.clone());
        }
        self.put_key_record(fingerprint, &record)
    }

    /// Makes sure the acting key may sign for the acting actor: registers it with a
    /// `key_register` event (signed by itself) the first time, and refuses a revoked key.
    pub fn ensure_registered(&self) -> TxResult<()> {
        let Some(signer) = &self.ctx.signer else {
            return Ok(());
        };
        let fingerprint = signer.fingerprint();
        let record = self.key_record(fingerprint)?;
        if let Some(r) = &record {
            if let Some(seq) = r.revoked_at {
                return abort(Error::KeyRevoked {
                    fingerprint: fingerprint.to_owned(),
                    seq,
                    reason: r.revoke_reason.clone().unwrap_or_default(),
                });
            }
            if r.actors.contains(&self.ctx.actor) {
                return Ok(());
            }
        }
        let draft = Draft::new(Action::KeyRegister).with(&KeyRegisterDetails {
            public_key: signer.public_openssh().to_owned(),
            fingerprint: fingerprint.to_owned(),
        });
        let (seq, _) = self.append(&draft)?;
        self.record_registration(seq)
    }

    /// Marks a key revoked by event `seq`; `None` if the log registers no such key.
    pub fn revoke_key(&self, fingerprint: &str, seq: u64, reason: &str) -> TxResult<Option<()>> {
        let Some(mut record) = self.key_record(fingerprint)? else {
            return Ok(None);
        };
        record.revoked_at.get_or_insert(seq);
        record
            .revoke_reason
            .get_or_insert_with(|| reason.to_owned());
        self.put_key_record(fingerprint, &record).map(Some)
    }

    /// Removes an operational value from `meta` (a pending time-stamp request, answered).
    pub fn remove_meta(&self, key: &[u8]) -> TxResult<()> {
        self.meta.remove(key)?;
        Ok(())
    }

    pub fn has_case(&self, id: &CaseId) -> TxResult<bool> {
        Ok(self.cases.get(id.as_str())?.is_some())
    }

    /// Stores a case record (never replacing one: the caller checked `has_case`).
    pub fn put_case(&self, record: &CaseRecord) -> TxResult<()> {
        self.cases
            .insert(record.id.as_str(), codec::encode(record))?;
        Ok(())
    }

    pub fn in_case(&self, item: EvidenceId, case: &CaseId) -> TxResult<bool> {
        Ok(self.index.get(keys::item_case(item, case))?.is_some())
    }

    /// Records an item joining a case: the link both ways and, if the case holds no other
    /// item of this content, this one as the item acquisitions of it attach to.
    pub fn put_link(
        &self,
        item: EvidenceId,
        content: &ContentId,
        case: &CaseId,
        link: &LinkRecord,
    ) -> TxResult<()> {
        self.index
            .insert(keys::case_item(case, item), codec::encode(link))?;
        self.index
            .insert(keys::item_case(item, case), &keys::marker())?;
        if self.index.get(keys::case_content(case, content))?.is_none() {
            self.index
                .insert(keys::case_content(case, content), codec::encode(&item))?;
        }
        Ok(())
    }

    /// The item of a content that a case's acquisitions attach to, if the case holds it.
    pub fn item_of_content_in(
        &self,
        case: &CaseId,
        content: &ContentId,
    ) -> TxResult<Option<EvidenceId>> {
        match self.index.get(keys::case_content(case, content))? {
            Some(b) => Ok(Some(
                codec::decode(&format!("index: item of {content} in case {case}"), &b)
                    .or_else(abort)?,
            )),
            None => Ok(None),
        }
    }

    pub fn put_chunk_location(&self, id: &ChunkId, at: &ChunkLocation) -> TxResult<()> {
        self.chunk_volumes
            .insert(id.as_bytes().as_slice(), codec::encode_location(at))?;
        Ok(())
    }

    /// Stores a content record unless one is stored; true when it is new.
    pub fn put_content_if_new(&self, id: &ContentId, record: &ContentRecord) -> TxResult<bool> {
        if self.contents.get(id.as_bytes())?.is_some() {
            return Ok(false);
        }
        self.contents.insert(id.as_bytes(), codec::encode(record))?;
        Ok(true)
    }

    /// Takes the next item number from `meta/next_item`.
    pub fn next_item(&self) -> TxResult<EvidenceId> {
        let n: u64 = match self.meta.get("next_item")? {
            Some(b) => codec::decode("meta/next_item", &b).or_else(abort)?,
            None => 1,
        };
        let id = EvidenceId::new(n);
        // Item records are never overwritten: a counter that went back (damage, a restored
        // copy) must stop the ingest, not replace the evidence already under that number.
        if self.items.get(id.to_key())?.is_some() {
            return abort(Error::Damaged(format!(
                "meta/next_item names {id}, which already exists; run verify"
            )));
        }
        let next = n.checked_add(1).map_or_else(
            || abort(Error::Damaged("meta/next_item overflows".into())),
            Ok,
        )?;
        self.meta.insert("next_item", codec::encode(&next))?;
        Ok(id)
    }

    /// Stores a new item record with every index entry it implies: its case link, its
    /// content, its tags and its parent.
    pub fn put_item(&self, item: &ItemRecord, link: &LinkRecord) -> TxResult<()> {
        let id = item.id;
        self.items.insert(&id.to_key(), codec::encode(item))?;
        self.index
            .insert(keys::case_item(&item.case, id), codec::encode(link))?;
        self.index
            .insert(keys::item_case(id, &item.case), &keys::marker())?;
        self.index
            .insert(keys::content_item(&item.blake3, id), &keys::marker())?;
        self.index.insert(
            keys::case_content(&item.case, &item.blake3),
            codec::encode(&id),
        )?;
        for tag in &item.tags {
            self.index
                .insert(keys::tag_item(tag, id), &keys::marker())?;
        }
        if let Some(parent) = item.parent {
            self.index
                .insert(keys::parent_child(parent, id), &keys::marker())?;
        }
        Ok(())
    }

    /// Files `child` as an attachment of `parent` as well: an item stored before, acquired
    /// again as an attachment (its `acquire` event names the parent).
    pub fn put_attachment(&self, parent: EvidenceId, child: EvidenceId) -> TxResult<()> {
        self.index
            .insert(keys::parent_child(parent, child), &keys::marker())?;
        Ok(())
    }

    /// Records an annotation of item `id` with its `annotate` event: what of `wanted`
    /// changes the item's current values (`Metadata::change`), the new values in its `m`
    /// entry and its `t` entries moved to its new tags. `None`, writing nothing, when
    /// nothing would change.
    pub fn annotate(
        &self,
        id: EvidenceId,
        wanted: &AnnotateDetails,
        reason: &str,
    ) -> TxResult<Option<(u64, AnnotateDetails)>> {
        let before = self.current_metadata(id)?;
        let change = before.change(wanted);
        if change.is_empty() {
            return Ok(None);
        }
        let mut openings = Openings::default();
        let stored = change
            .committed(&mut openings)
            .or_else(|e| abort(e.into()))?;
        let draft = Draft::new(Action::Annotate)
            .item(id)
            .reason(Some(reason.to_owned()))
            .with(&stored)
            .openings(openings);
        let (seq, _) = self.append(&draft)?;
        let mut after = before.clone();
        after.apply(&change);
        for tag in before.tags.iter().filter(|t| !after.tags.contains(t)) {
            self.index.remove(keys::tag_item(tag, id))?;
        }
        for tag in &after.tags {
            self.index
                .insert(keys::tag_item(tag, id), &keys::marker())?;
        }
        let record = CurrentRecord {
            metadata: after,
            seq,
        };
        self.index
            .insert(keys::item_metadata(id), codec::encode(&record))?;
        Ok(Some((seq, change)))
    }

    /// An item's current source, note, tags and capture time: its `m` entry, else its
    /// item record's (never annotated).
    fn current_metadata(&self, id: EvidenceId) -> TxResult<Metadata> {
        if let Some(b) = self.index.get(keys::item_metadata(id))? {
            let label = format!("index: current values of {id}");
            let record: CurrentRecord = codec::decode(&label, &b).or_else(abort)?;
            return Ok(record.metadata);
        }
        match self.items.get(id.to_key())? {
            Some(b) => {
                let item: ItemRecord = codec::decode(&format!("item {id}"), &b).or_else(abort)?;
                Ok(item.ingest_metadata())
            }
            None => abort(Error::UnknownItem(id.to_string())),
        }
    }
}
