//! A push's own event on the replica: stored right after it is committed, under a name
//! its manifest gives in advance (`push/S`), so a restore ends with the same head as the
//! archive had when the push finished.
//!
//! The event cannot name the object that holds it, so no push event records it: the
//! manifest names where it will be, verify checks it against the archive's own copy of
//! the event, and a push re-sends any that a crash or a deletion left missing.

use std::collections::BTreeMap;

use crate::catalog::Catalog;
use crate::custody::details::PushDetails;
use crate::custody::{Action, Event};
use crate::error::{Error, Result};
use crate::findings::ReplicaFinding;

use super::crypt::{AGE_MAGIC, OpenFailure, Opener, Sealing, open, payload_len};
use super::layout::{self, What};
use super::registry::Replica;
use super::remote::{Listed, Put, Remote};

/// Where push event `seq` of a replica is stored.
pub fn name(replica: &Replica, seq: u64) -> String {
    What::PushEvent(seq).object_name(&replica.name_key)
}

/// The plaintext of the object holding event `seq`: a log of that one event, then, when
/// it commits to values (issue 11.7), a line of their openings as an openings object has.
fn plaintext(catalog: &Catalog, seq: u64) -> Result<Vec<u8>> {
    let bytes = catalog.event_bytes(seq)?.ok_or_else(|| {
        Error::Damaged(format!("event {seq} is missing from the log; run verify"))
    })?;
    let openings = catalog.openings(seq)?;
    let mut lines = vec![bytes];
    if !openings.is_empty() {
        lines.push(layout::OpeningsLine { openings, seq }.to_bytes());
    }
    Ok(layout::encode_log(lines.iter().map(Vec::as_slice)))
}

/// A push event read back for a restore: its exact bytes, and its openings if it has any.
pub struct TailEvent {
    pub line: Vec<u8>,
    pub openings: Option<crate::custody::disclosure::Openings>,
}

/// Stores push event `seq` unless its object exists. True when it is there afterwards.
pub fn store(
    remote: &Remote,
    replica: &Replica,
    sealing: &Sealing,
    catalog: &Catalog,
    seq: u64,
) -> Result<bool> {
    let sealed = sealing.seal(&plaintext(catalog, seq)?);
    match remote.put_new(&name(replica, seq), sealed)? {
        Put::Created { .. } | Put::Exists => Ok(true),
    }
}

/// The pushes of this replica that stored their own event, with its object's name: those
/// of earlier releases did not, and nothing is expected of them.
fn announced(replica: &Replica) -> impl Iterator<Item = (u64, &str)> {
    replica
        .pushes
        .iter()
        .filter_map(|p| Some((p.seq, p.details.event_object.as_deref()?)))
}

/// Sends the earlier push events of this replica that the server does not list (a crash
/// after a push's commit, or a deletion). Returns how many were sent.
pub fn resend_missing(
    remote: &Remote,
    replica: &Replica,
    sealing: &Sealing,
    catalog: &Catalog,
    listed: &BTreeMap<String, Listed>,
) -> Result<u64> {
    let mut sent = 0;
    for (seq, object) in announced(replica) {
        if !listed.contains_key(object) {
            store(remote, replica, sealing, catalog, seq)?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// How much of a push event's object verify reads.
pub enum Read<'a> {
    /// Listing only: it must be there.
    None,
    /// Its bytes: a plaintext one must be the event; an encrypted one must have the
    /// payload length the event's would (a swap with another event of another length).
    Bytes(&'a Sealing),
    /// Its bytes, decrypted: exactly the archive's event.
    Decrypted(&'a Opener),
}

/// What verify finds of the push events' objects: each must be listed and, as far as it is
/// read, hold the archive's event. Returns the names it accounted for.
pub fn check(
    remote: &Remote,
    replica: &Replica,
    catalog: &Catalog,
    listed: &BTreeMap<&str, &Listed>,
    read: Read,
    problems: &mut Vec<ReplicaFinding>,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (seq, object) in announced(replica) {
        let (object, what) = (object.to_owned(), What::PushEvent(seq).label());
        names.push(object.clone());
        if !listed.contains_key(object.as_str()) {
            problems.push(ReplicaFinding::Missing { object, what });
            continue;
        }
        if let Read::None = read {
            continue;
        }
        let expected = plaintext(catalog, seq)?;
        let why = match remote.get(&object)? {
            None => Some("it was listed but cannot be read".to_owned()),
            Some(bytes) => wrong(&bytes, &expected, &read),
        };
        if let Some(why) = why {
            problems.push(ReplicaFinding::Altered { object, what, why });
        }
    }
    Ok(names)
}

/// Why the stored bytes are not the event `expected`, as far as `read` can tell.
fn wrong(bytes: &[u8], expected: &[u8], read: &Read) -> Option<String> {
    let differs = || Some("it does not hold the archive's push event".to_owned());
    if !bytes.starts_with(AGE_MAGIC) {
        return (bytes != expected).then(differs).flatten();
    }
    match read {
        Read::None => None,
        Read::Bytes(sealing) => {
            let want = payload_len(&sealing.seal(expected));
            (payload_len(bytes) != want).then(differs).flatten()
        }
        Read::Decrypted(opener) => match open(Some(opener), bytes) {
            Ok(plain) if plain == expected => None,
            Ok(_) => differs(),
            Err(OpenFailure::NotForUs) => Some("it is not encrypted to the identity".into()),
            Err(OpenFailure::Damaged(e)) => Some(format!("it does not decrypt: {e}")),
        },
    }
}

/// The push event a manifest announces, when it is on the server: checked to be one event,
/// the `push` that follows the manifest's head, naming that manifest. `None` when absent
/// (a push whose last step did not happen); anything else wrong is damage.
pub fn fetch_for_restore(
    remote: &Remote,
    opener: Option<&Opener>,
    object: &str,
    manifest_name: &str,
    head: u64,
    head_sha256: &str,
) -> Result<Option<TailEvent>> {
    let Some(stored) = remote.get(object)? else {
        return Ok(None);
    };
    let bad = |why: &str| Error::ReplicaDamaged {
        object: object.to_owned(),
        why: format!("the push event the manifest announces {why}; nothing was restored"),
    };
    let plain = match open(opener, &stored) {
        Ok(p) => p,
        Err(OpenFailure::NotForUs) => return Err(bad("is not encrypted to the identity")),
        Err(OpenFailure::Damaged(e)) => return Err(bad(&format!("does not decrypt ({e})"))),
    };
    // A hostile manifest may give any head; the event after the last possible one is none.
    let next = head
        .checked_add(1)
        .ok_or_else(|| bad("follows a head no log can have"))?;
    let lines = layout::decode_log(&plain).ok_or_else(|| bad("is not a log"))?;
    let (line, openings) = match lines.as_slice() {
        [line] => (line, None),
        [line, opened] => {
            let o: layout::OpeningsLine = serde_json::from_slice(opened)
                .map_err(|_| bad("holds a line that is not openings"))?;
            if o.seq != next {
                return Err(bad("holds the openings of another event"));
            }
            (line, Some(o.openings))
        }
        _ => return Err(bad("does not hold exactly one event")),
    };
    let event = Event::parse(line).map_err(|_| bad("is not an event"))?;
    let names_manifest = event
        .details_as::<PushDetails>()
        .is_some_and(|d| d.manifest == manifest_name && d.head == head);
    if event.action != Action::Push
        || event.seq != next
        || event.prev.as_deref() != Some(head_sha256)
        || !names_manifest
    {
        return Err(bad(&format!(
            "is not the push of event {next} that follows the manifest"
        )));
    }
    Ok(Some(TailEvent {
        line: line.to_vec(),
        openings,
    }))
}
