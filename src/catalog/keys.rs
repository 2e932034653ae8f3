//! Key layouts of the `index` tree: one tag byte, then the parts, so each relation is a prefix scan.

use crate::ids::{CaseId, ContentId, EvidenceId};

/// `c ‖ case ‖ 0x00 ‖ item` → `LinkRecord`: the items of a case.
pub const CASE_ITEM: u8 = b'c';
/// `i ‖ item ‖ case` → marker: the cases of an item.
pub const ITEM_CASE: u8 = b'i';
/// `h ‖ blake3 ‖ item` → marker: the items holding a content.
pub const CONTENT_ITEM: u8 = b'h';
/// `k ‖ case ‖ 0x00 ‖ blake3` → item record (version byte, u64 LE): the item of that content in that case.
pub const CASE_CONTENT: u8 = b'k';
/// `t ‖ tag ‖ 0x00 ‖ item` → marker: the items with a tag.
pub const TAG_ITEM: u8 = b't';
/// `p ‖ parent ‖ child` → marker: attachments.
pub const PARENT_CHILD: u8 = b'p';
/// `e ‖ item ‖ seq` → marker: the custody events of an item, oldest first.
pub const ITEM_EVENT: u8 = b'e';
/// `m ‖ item` → `CurrentRecord`: the item's current source, note, tags and capture time,
/// once an annotation changed them.
pub const ITEM_METADATA: u8 = b'm';
/// `H ‖ item` → digest record (version byte, 32 bytes): the newest event of the item's own chain.
pub const ITEM_HEAD: u8 = b'H';

fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(tag);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub fn case_item(case: &CaseId, item: EvidenceId) -> Vec<u8> {
    key(CASE_ITEM, &[case.as_str().as_bytes(), &[0], &item.to_key()])
}

pub fn case_items_prefix(case: &CaseId) -> Vec<u8> {
    key(CASE_ITEM, &[case.as_str().as_bytes(), &[0]])
}

pub fn item_case(item: EvidenceId, case: &CaseId) -> Vec<u8> {
    key(ITEM_CASE, &[&item.to_key(), case.as_str().as_bytes()])
}

pub fn item_cases_prefix(item: EvidenceId) -> Vec<u8> {
    key(ITEM_CASE, &[&item.to_key()])
}

pub fn content_item(content: &ContentId, item: EvidenceId) -> Vec<u8> {
    key(CONTENT_ITEM, &[content.as_bytes(), &item.to_key()])
}

/// The prefix of `content_item` keys for a hex prefix of a BLAKE3 hash (an odd last digit is dropped: the caller filters).
pub fn content_hex_prefix(hex_prefix: &str) -> Vec<u8> {
    let even = &hex_prefix[..hex_prefix.len() & !1];
    let mut bytes = vec![CONTENT_ITEM];
    bytes.extend(hex::decode(even).unwrap_or_default());
    bytes
}

pub fn case_content(case: &CaseId, content: &ContentId) -> Vec<u8> {
    key(
        CASE_CONTENT,
        &[case.as_str().as_bytes(), &[0], content.as_bytes()],
    )
}

pub fn tag_item(tag: &str, item: EvidenceId) -> Vec<u8> {
    key(TAG_ITEM, &[tag.as_bytes(), &[0], &item.to_key()])
}

pub fn tag_items_prefix(tag: &str) -> Vec<u8> {
    key(TAG_ITEM, &[tag.as_bytes(), &[0]])
}

pub fn parent_child(parent: EvidenceId, child: EvidenceId) -> Vec<u8> {
    key(PARENT_CHILD, &[&parent.to_key(), &child.to_key()])
}

pub fn children_prefix(parent: EvidenceId) -> Vec<u8> {
    key(PARENT_CHILD, &[&parent.to_key()])
}

pub fn item_event(item: EvidenceId, seq: u64) -> Vec<u8> {
    key(ITEM_EVENT, &[&item.to_key(), &seq.to_be_bytes()])
}

pub fn item_events_prefix(item: EvidenceId) -> Vec<u8> {
    key(ITEM_EVENT, &[&item.to_key()])
}

pub fn item_head(item: EvidenceId) -> Vec<u8> {
    key(ITEM_HEAD, &[&item.to_key()])
}

pub fn item_metadata(item: EvidenceId) -> Vec<u8> {
    key(ITEM_METADATA, &[&item.to_key()])
}

/// The item number that ends a key (the last 8 bytes), as in `c`, `h`, `t` and `p` keys.
pub fn trailing_item(key: &[u8]) -> Option<EvidenceId> {
    key.len()
        .checked_sub(8)
        .and_then(|at| EvidenceId::from_key(&key[at..]))
}

/// The item an index entry is about, for naming it in a finding: the item part of the key
/// (or, for `k`, the value).
pub fn item_of(key: &[u8], value: &[u8]) -> Option<EvidenceId> {
    let leading = || key.get(1..9).and_then(EvidenceId::from_key);
    match key.first()? {
        &CASE_ITEM | &CONTENT_ITEM | &TAG_ITEM => trailing_item(key),
        &ITEM_CASE | &ITEM_EVENT | &ITEM_HEAD | &ITEM_METADATA => leading(),
        &PARENT_CHILD => key.get(9..17).and_then(EvidenceId::from_key),
        &CASE_CONTENT => crate::codec::decode("index", value).ok(),
        _ => None,
    }
}

/// The marker value of set-like keys: just the record version byte.
pub fn marker() -> [u8; 1] {
    [crate::codec::RECORD_VERSION]
}

/// The `meta` key of a signing key's record: `key:<fingerprint>`.
pub fn signing_key(fingerprint: &str) -> Vec<u8> {
    format!("key:{fingerprint}").into_bytes()
}

/// The `meta` key of a time-stamp request awaiting its response: `tsq:<hex digest>`.
pub fn pending_timestamp(digest: &[u8; 32]) -> Vec<u8> {
    format!("tsq:{}", hex::encode(digest)).into_bytes()
}

/// The tree of openings: event seq (u64 BE) → the salts and values of its committed fields.
pub const OPENINGS_TREE: &str = "openings";

/// The prefix of every pending time-stamp request in `meta`.
pub const PENDING_TIMESTAMPS: &[u8] = b"tsq:";

/// The prefix of every signing key's record in `meta`.
pub const SIGNING_KEYS: &[u8] = b"key:";
