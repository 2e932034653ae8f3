//! Rebuilding the index from the custody log and the volumes (docs/FORMAT.md, "The index
//! is a function of the log"): items, cases, every `index` entry, signing keys,
//! `meta/head`, `meta/next_item` from the events; `chunk_volumes` from the packs (or
//! chunk trees) of the volumes. `restore` runs it on a database holding only `meta/archive`,
//! the `custody` tree and the `contents` tree; `verify` then checks the result like any
//! archive.
//!
//! Each record is built exactly as the command that wrote the event built it (`Tx`), so a
//! rebuilt index equals the original.

use std::collections::BTreeMap;

use super::keys;
use super::records::{CaseRecord, CurrentRecord, Head, ItemRecord, KeyRecord, LinkRecord};
use crate::codec::{self, ChunkLocation};
use crate::custody::details::{
    AcquisitionDetails, AnnotateDetails, CaseCreateDetails, InitDetails, KeyRegisterDetails,
    KeyRevokeDetails, LinkDetails,
};
use crate::custody::{Action, Event};
use crate::error::{Error, Result};
use crate::ids::{ContentId, EventDigest, EvidenceId, Sha256Digest};

/// Walks the volumes, lowest number first, handing every chunk id found with where it is
/// (`store::scan_volumes`): the catalog learns the volumes' contents without reading them.
pub type VolumeScan<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut(&[u8], ChunkLocation) -> Result<()>) -> Result<()>;

/// What a rebuild made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    pub head: Head,
    pub events: u64,
    pub items: u64,
    pub cases: u64,
    pub chunks: u64,
}

struct Trees {
    meta: sled::Tree,
    items: sled::Tree,
    cases: sled::Tree,
    index: sled::Tree,
    chunk_volumes: sled::Tree,
}

fn damaged(seq: u64, why: &str) -> Error {
    Error::Damaged(format!(
        "event {seq} {why}; the index cannot be rebuilt from it"
    ))
}

/// Rebuilds every tree but `custody`, `contents` and `meta/archive` from those, and the
/// volumes `volumes` scans (numbers ascending: the first volume holding a chunk is where
/// `chunk_volumes` points). The log must link from event 1; any break refuses.
pub fn rebuild_index(db: &sled::Db, volumes: VolumeScan) -> Result<Rebuilt> {
    let trees = Trees {
        meta: db.open_tree("meta")?,
        items: db.open_tree("items")?,
        cases: db.open_tree("cases")?,
        index: db.open_tree("index")?,
        chunk_volumes: db.open_tree("chunk_volumes")?,
    };
    let custody = db.open_tree("custody")?;
    let openings = db.open_tree(keys::OPENINGS_TREE)?;
    let mut keys_by_fp: BTreeMap<String, KeyRecord> = BTreeMap::new();
    let mut prev: Option<EventDigest> = None;
    let mut next_item: Option<u64> = None;
    let mut out = Rebuilt {
        head: Head {
            seq: 0,
            digest: EventDigest::of(b""),
        },
        events: 0,
        items: 0,
        cases: 0,
        chunks: 0,
    };
    for entry in custody.iter() {
        let (key, value) = entry?;
        let seq = codec::u64_from_key("custody", &key)?;
        let bytes = codec::decode_event(&value)?;
        if seq != out.events + 1 {
            return Err(damaged(seq, "does not follow the one before it"));
        }
        let event = Event::parse(bytes).map_err(|e| damaged(seq, &e))?;
        // The records repeat the values the event commits to: read it with its openings.
        let event = match openings.get(codec::u64_key(seq))? {
            Some(b) => event.revealed(&codec::decode_openings("openings", &b)?),
            None => event,
        };
        if event.seq != seq || event.prev != prev.map(|d| d.to_hex()) {
            return Err(damaged(seq, "does not link to the event before it"));
        }
        let digest = EventDigest::of(bytes);
        apply(&trees, &event, &mut keys_by_fp, &mut out)?;
        for link in &event.items {
            let id = EvidenceId::parse(&link.id).ok_or_else(|| damaged(seq, "names no item"))?;
            trees
                .index
                .insert(keys::item_event(id, seq), &keys::marker())?;
            trees
                .index
                .insert(keys::item_head(id), codec::encode(&digest))?;
            if event.action == Action::Ingest {
                next_item = Some(next_item.unwrap_or(0).max(id.number() + 1));
            }
        }
        prev = Some(digest);
        out.events += 1;
        out.head = Head { seq, digest };
    }
    if out.events == 0 {
        return Err(Error::Damaged("the log holds no events".into()));
    }
    for (fingerprint, record) in &keys_by_fp {
        trees
            .meta
            .insert(keys::signing_key(fingerprint), codec::encode(record))?;
    }
    trees.meta.insert("head", codec::encode(&out.head))?;
    if let Some(n) = next_item {
        trees.meta.insert("next_item", codec::encode(&n))?;
    }
    out.chunks = locate_chunks(&trees.chunk_volumes, volumes)?;
    Ok(out)
}

/// The records and index entries one event implies, as its command wrote them.
fn apply(
    t: &Trees,
    event: &Event,
    keys_by_fp: &mut BTreeMap<String, KeyRecord>,
    out: &mut Rebuilt,
) -> Result<()> {
    let seq = event.seq;
    let bad = |what: &str| damaged(seq, &format!("has unreadable {what}"));
    match event.action {
        Action::Init => {
            let d: InitDetails = event.details_as().ok_or_else(|| bad("details"))?;
            if let (Some(public_key), Some(fingerprint)) = (d.public_key, d.fingerprint) {
                register(keys_by_fp, &fingerprint, &public_key, &event.actor, seq);
            }
        }
        Action::KeyRegister => {
            let d: KeyRegisterDetails = event.details_as().ok_or_else(|| bad("details"))?;
            register(keys_by_fp, &d.fingerprint, &d.public_key, &event.actor, seq);
        }
        Action::KeyRevoke => {
            let d: KeyRevokeDetails = event.details_as().ok_or_else(|| bad("details"))?;
            if let Some(record) = keys_by_fp.get_mut(&d.fingerprint) {
                record.revoked_at.get_or_insert(seq);
                record
                    .revoke_reason
                    .get_or_insert_with(|| event.reason.clone().unwrap_or_default());
            }
        }
        Action::CaseCreate => rebuild_case(t, event, out)?,
        Action::Ingest => rebuild_item(t, event, out)?,
        Action::Link => rebuild_link(t, event)?,
        Action::Acquire => rebuild_attachment(t, event)?,
        Action::Annotate => rebuild_annotation(t, event)?,
        // The other actions record no record beyond their event (and its item entries).
        _ => {}
    }
    Ok(())
}

/// An `acquire` event with a `parent`: the stored item acquired again as an attachment,
/// filed under that parent as ingest now files it. An archive written before this release
/// did not file it so (issue 12.3); rebuilt, it gains the attachment its events record.
fn rebuild_attachment(t: &Trees, event: &Event) -> Result<()> {
    let bad = |what: &str| damaged(event.seq, &format!("has unreadable {what}"));
    let d: AcquisitionDetails = event.details_as().ok_or_else(|| bad("details"))?;
    let Some(parent) = d.parent else {
        return Ok(());
    };
    let parent = EvidenceId::parse(&parent).ok_or_else(|| bad("parent"))?;
    let id = event
        .items
        .first()
        .and_then(|l| EvidenceId::parse(&l.id))
        .ok_or_else(|| bad("item"))?;
    if parent != id {
        t.index
            .insert(keys::parent_child(parent, id), &keys::marker())?;
    }
    Ok(())
}

/// An `annotate` event: the item's current values with it applied, and its `t` entries
/// moved to its new tags (as `Tx::annotate` writes them).
fn rebuild_annotation(t: &Trees, event: &Event) -> Result<()> {
    let seq = event.seq;
    let bad = |what: &str| damaged(seq, &format!("has unreadable {what}"));
    let change: AnnotateDetails = event.details_as().ok_or_else(|| bad("details"))?;
    let id = event
        .items
        .first()
        .and_then(|l| EvidenceId::parse(&l.id))
        .ok_or_else(|| bad("item"))?;
    let before = match t.index.get(keys::item_metadata(id))? {
        Some(b) => codec::decode::<CurrentRecord>("index: current values", &b)?.metadata,
        None => match t.items.get(id.to_key())? {
            Some(b) => codec::decode::<ItemRecord>("item", &b)?.ingest_metadata(),
            None => return Err(damaged(seq, "annotates an item no ingest made")),
        },
    };
    let mut after = before.clone();
    after.apply(&change);
    for tag in before.tags.iter().filter(|t| !after.tags.contains(t)) {
        t.index.remove(keys::tag_item(tag, id))?;
    }
    for tag in &after.tags {
        t.index.insert(keys::tag_item(tag, id), &keys::marker())?;
    }
    let record = CurrentRecord {
        metadata: after,
        seq,
    };
    t.index
        .insert(keys::item_metadata(id), codec::encode(&record))?;
    Ok(())
}

/// A `case_create` event's case record.
fn rebuild_case(t: &Trees, event: &Event, out: &mut Rebuilt) -> Result<()> {
    let seq = event.seq;
    let bad = |what: &str| damaged(seq, &format!("has unreadable {what}"));
    let d: CaseCreateDetails = event.details_as().ok_or_else(|| bad("details"))?;
    let id = event
        .case_id()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("case"))?;
    let record = CaseRecord {
        id,
        title: d.title,
        description: d.description,
        created_at: event.time.clone(),
        actor: event.actor.clone(),
        seq,
    };
    t.cases.insert(record.id.as_str(), codec::encode(&record))?;
    out.cases += 1;
    Ok(())
}

/// An `ingest` event's item record and index entries.
fn rebuild_item(t: &Trees, event: &Event, out: &mut Rebuilt) -> Result<()> {
    let seq = event.seq;
    let bad = |what: &str| damaged(seq, &format!("has unreadable {what}"));
    let d: AcquisitionDetails = event.details_as().ok_or_else(|| bad("details"))?;
    let id = event
        .items
        .first()
        .and_then(|l| EvidenceId::parse(&l.id))
        .ok_or_else(|| bad("item"))?;
    let item = ItemRecord {
        id,
        blake3: ContentId::from_hex(&d.blake3).ok_or_else(|| bad("blake3"))?,
        sha256: Sha256Digest::from_hex(&d.sha256).ok_or_else(|| bad("sha256"))?,
        size: d.size,
        name: d.name_bytes().ok_or_else(|| bad("name_hex"))?,
        path: d.path_bytes().ok_or_else(|| bad("path_hex"))?,
        source: d.source.into_plain().ok_or_else(|| bad("source"))?,
        note: d.note.into_plain().ok_or_else(|| bad("note"))?,
        tags: d.tags,
        captured_at: d.captured_at,
        modified_at: d.modified_at,
        ingested_at: event.time.clone(),
        actor: event.actor.clone(),
        parent: match d.parent {
            Some(p) => Some(EvidenceId::parse(&p).ok_or_else(|| bad("parent"))?),
            None => None,
        },
        case: event
            .case_id()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("case"))?,
        seq,
    };
    let link = LinkRecord {
        linked_at: event.time.clone(),
        seq,
    };
    put_item(t, &item, &link)?;
    out.items += 1;
    Ok(())
}

/// A `link` event's index entries (as `Tx::put_link` writes them).
fn rebuild_link(t: &Trees, event: &Event) -> Result<()> {
    let seq = event.seq;
    let bad = |what: &str| damaged(seq, &format!("has unreadable {what}"));
    let d: LinkDetails = event.details_as().ok_or_else(|| bad("details"))?;
    let id = event
        .items
        .first()
        .and_then(|l| EvidenceId::parse(&l.id))
        .ok_or_else(|| bad("item"))?;
    let case = event
        .case_id()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("case"))?;
    let content = ContentId::from_hex(&d.blake3).ok_or_else(|| bad("blake3"))?;
    let link = LinkRecord {
        linked_at: event.time.clone(),
        seq,
    };
    t.index
        .insert(keys::case_item(&case, id), codec::encode(&link))?;
    t.index
        .insert(keys::item_case(id, &case), &keys::marker())?;
    if !t.index.contains_key(keys::case_content(&case, &content))? {
        t.index
            .insert(keys::case_content(&case, &content), codec::encode(&id))?;
    }
    Ok(())
}

/// `Tx::record_registration`: the key speaks for the actor from this event on.
fn register(
    keys_by_fp: &mut BTreeMap<String, KeyRecord>,
    fingerprint: &str,
    public_key: &str,
    actor: &str,
    seq: u64,
) {
    let record = keys_by_fp
        .entry(fingerprint.to_owned())
        .or_insert_with(|| KeyRecord {
            public_key: public_key.to_owned(),
            actors: Vec::new(),
            registered_at: seq,
            revoked_at: None,
            revoke_reason: None,
        });
    if !record.actors.iter().any(|a| a == actor) {
        record.actors.push(actor.to_owned());
    }
}

/// `Tx::put_item`: the item record with every index entry it implies.
fn put_item(t: &Trees, item: &ItemRecord, link: &LinkRecord) -> Result<()> {
    let id = item.id;
    t.items.insert(id.to_key(), codec::encode(item))?;
    t.index
        .insert(keys::case_item(&item.case, id), codec::encode(link))?;
    t.index
        .insert(keys::item_case(id, &item.case), &keys::marker())?;
    t.index
        .insert(keys::content_item(&item.blake3, id), &keys::marker())?;
    t.index.insert(
        keys::case_content(&item.case, &item.blake3),
        codec::encode(&id),
    )?;
    for tag in &item.tags {
        t.index.insert(keys::tag_item(tag, id), &keys::marker())?;
    }
    if let Some(parent) = item.parent {
        t.index
            .insert(keys::parent_child(parent, id), &keys::marker())?;
    }
    Ok(())
}

/// `chunk_volumes` from what `scan` finds in the volumes: the first volume to name a
/// chunk is where it points (the caller scans the lowest-numbered volume first).
fn locate_chunks(chunk_volumes: &sled::Tree, scan: VolumeScan) -> Result<u64> {
    let mut count = 0;
    scan(&mut |id: &[u8], at: ChunkLocation| -> Result<()> {
        if !chunk_volumes.contains_key(id)? {
            chunk_volumes.insert(id, codec::encode_location(&at))?;
            count += 1;
        }
        Ok(())
    })?;
    Ok(count)
}
