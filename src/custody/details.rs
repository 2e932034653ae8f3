//! The `details` of each kind of custody event, as typed records: every writer builds them
//! and every checker (verify, verify --bundle) reads them through these, never by key.
//!
//! Field names are the JSON keys of docs/FORMAT.md, "Actions and their details"; an absent
//! value is written as `null`, as it always was, so the bytes of events are unchanged.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::disclosure::{Disclosed, NoRandom, Openings};
use super::{Action, Event};

/// `init`: the layout the archive was created with and, from version 2 on, the key of
/// its creator (the init event registers it, as a `key_register` event would).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitDetails {
    pub format: u32,
    pub chunk_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// `key_register`: a public key (OpenSSH form) that speaks for the event's actor from
/// this event on. The event is signed by that key: proof that its holder made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRegisterDetails {
    pub public_key: String,
    pub fingerprint: String,
}

/// `key_revoke`: a key no longer trusted for events after this one; why is the
/// event's `reason`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRevokeDetails {
    pub fingerprint: String,
}

/// `case_create`: what the case record repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseCreateDetails {
    pub title: String,
    pub description: Option<String>,
}

/// `ingest` and `acquire`: everything known about where the bytes came from. `name_hex`
/// and `path_hex` are the exact bytes; `name` and `path` the same shown as text. The path,
/// the source and the note are committed since issue 11.7: they name people and machines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquisitionDetails {
    pub blake3: String,
    pub sha256: String,
    pub size: u64,
    pub name: String,
    pub name_hex: String,
    pub path: Disclosed<String>,
    pub path_hex: Disclosed<String>,
    pub source: Disclosed<Option<String>>,
    pub note: Disclosed<Option<String>>,
    pub tags: Vec<String>,
    pub captured_at: Option<String>,
    pub modified_at: Option<String>,
    pub parent: Option<String>,
}

impl AcquisitionDetails {
    /// The original name's bytes, when `name_hex` is hex.
    pub fn name_bytes(&self) -> Option<Vec<u8>> {
        hex::decode(&self.name_hex).ok()
    }

    /// The original path's bytes, when `path_hex` is in the clear and hex.
    pub fn path_bytes(&self) -> Option<Vec<u8>> {
        hex::decode(self.path_hex.plain()?).ok()
    }
}

/// `annotate`: what an annotation changed of an item's source, note, tags and capture
/// time (docs/FORMAT.md, "Current values"); why is the event's `reason`. A value left
/// `null`, or a list left empty, is unchanged. `source` and `note` are written as the
/// ingest event writes them, so one conversion serves both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotateDetails {
    /// Tags added, as given, in the order given.
    pub tags_added: Vec<String>,
    /// Tags removed, exactly as the item carried them.
    pub tags_removed: Vec<String>,
    /// The new source.
    pub source: Option<String>,
    /// The new note.
    pub note: Option<String>,
    /// The new capture time, as written (docs/CLI.md, "Times").
    pub captured_at: Option<String>,
}

impl AnnotateDetails {
    /// Whether it changes nothing: such an event is never written.
    pub fn is_empty(&self) -> bool {
        *self == AnnotateDetails::default()
    }

    /// The details as the event stores them: a new source or note committed (issue 11.7),
    /// its opening kept in `o`, as an ingest's are.
    pub fn committed(&self, o: &mut Openings) -> Result<AnnotateEvent, NoRandom> {
        Ok(AnnotateEvent {
            tags_added: self.tags_added.clone(),
            tags_removed: self.tags_removed.clone(),
            source: o.commit_some("details.source", self.source.clone())?,
            note: o.commit_some("details.note", self.note.clone())?,
            captured_at: self.captured_at.clone(),
        })
    }
}

/// `annotate` as its event holds it, and as a bundle shows it: `source` and `note` a
/// commitment (unless absent, or revealed, or written before commitments), the rest as in
/// `AnnotateDetails`, which is this with the values opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotateEvent {
    pub tags_added: Vec<String>,
    pub tags_removed: Vec<String>,
    pub source: Disclosed<Option<String>>,
    pub note: Disclosed<Option<String>>,
    pub captured_at: Option<String>,
}

impl AnnotateEvent {
    /// Whether the annotation set a source (in the clear or hidden), and a note.
    pub fn sets(&self) -> (bool, bool) {
        let set = |d: &Disclosed<Option<String>>| !matches!(d, Disclosed::Plain(None));
        (set(&self.source), set(&self.note))
    }
}

/// `link`: the content of the item linked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDetails {
    pub blake3: String,
}

/// `extract`: what was written, and where (a local path: committed since issue 11.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractDetails {
    pub blake3: String,
    pub sha256: String,
    pub size: u64,
    pub out: Disclosed<String>,
}

/// `export`: what a bundle holds, and the digests that pin its metadata files to the
/// custody head (docs/FORMAT.md, "Bundles"). Bundles written before the digests were
/// added lack them; they are never written as `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDetails {
    /// The bundle directory's name.
    pub bundle: String,
    pub items: u64,
    /// The sum of the exported items' sizes.
    pub bytes: u64,
    pub organization: Option<String>,
    pub contact: Option<String>,
    /// Hex SHA-256 of `case.json`'s canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_json_sha256: Option<String>,
    /// Hex SHA-256 of each exported item's `evidence.json` entry in canonical form, by item id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_sha256: Option<BTreeMap<String, String>>,
    /// Hex SHA-256 of `data/index.html` as written (bundles before issue 12 have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_html_sha256: Option<String>,
    /// Hex SHA-256 of `data/inventory.csv` as written (bundles before issue 12 have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_csv_sha256: Option<String>,
}

/// `seal`: a finished bundle's digests, recorded after its export event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealDetails {
    pub export_event: u64,
    pub bundle: String,
    pub tagmanifest_sha256: String,
    pub items: u64,
    pub bytes: u64,
}

/// `verify`: what a verification checked and found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyDetails {
    pub ok: bool,
    pub problems: u64,
    pub items: u64,
    pub contents: u64,
    pub bytes: u64,
    pub events: u64,
    /// A partial verify: the slice (`N/M`) or share (`P%`) of the contents re-read.
    /// Absent for a whole verify, and in every event before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// With `subset`: how many of the `contents` it re-read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents_read: Option<u64>,
}

/// `timestamp`: an RFC 3161 token over the checkpoint of the log's first
/// `checkpoint_size` events (`digest` = SHA-256 of that checkpoint's body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampDetails {
    pub checkpoint_size: u64,
    /// Hex of the checkpoint's root hash.
    pub checkpoint_root: String,
    /// Hex of the digest the token signs.
    pub digest: String,
    /// Base64 of the TimeStampToken (a CMS ContentInfo, DER).
    pub token: String,
    /// Base64 DER certificates given with it (`--tsa-chain`), to check the TSA's path later.
    pub chain: Vec<String>,
    /// The time the TSA states (RFC 3339 UTC) and its name: what the token says, repeated.
    pub time: String,
    pub tsa: String,
}

/// `replica_add`: an off-site replica (docs/FORMAT.md, "Replicas"). No credential is ever
/// recorded: they come from the environment of each command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaAddDetails {
    pub name: String,
    /// `s3://BUCKET/PREFIX`.
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The age recipients (`age1…`) every object is encrypted to; empty when `plaintext`.
    pub recipients: Vec<String>,
    pub plaintext: bool,
    /// Hex of the 32-byte key object names are derived with (BLAKE3 keyed hash), so the
    /// server cannot tell which object holds which volume or part of the log.
    pub name_key: String,
}

/// `replica_remove`: the replica no longer pushed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRemoveDetails {
    pub name: String,
}

/// `push`: what a push stored on a replica, recorded once all of it was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDetails {
    pub replica: String,
    pub url: String,
    /// The newest event the replica now holds, and its SHA-256.
    pub head: u64,
    pub head_sha256: String,
    /// The object name of this push's manifest.
    pub manifest: String,
    /// Each object this push stored or first found stored, as
    /// `<what> <object name> <size> <sha256> <etag>` (docs/FORMAT.md, "Replicas").
    pub objects: Vec<String>,
    /// Objects uploaded by this push, and their bytes.
    pub sent: u64,
    pub bytes: u64,
    /// Where this event itself is stored once committed (`push/<seq>`, docs/FORMAT.md):
    /// absent in pushes of earlier releases, which stored no such object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_object: Option<String>,
}

/// A details record and the actions whose events carry it.
pub trait Details: Serialize + DeserializeOwned {
    const ACTIONS: &'static [Action];
}

impl Details for InitDetails {
    const ACTIONS: &'static [Action] = &[Action::Init];
}
impl Details for KeyRegisterDetails {
    const ACTIONS: &'static [Action] = &[Action::KeyRegister];
}
impl Details for KeyRevokeDetails {
    const ACTIONS: &'static [Action] = &[Action::KeyRevoke];
}
impl Details for TimestampDetails {
    const ACTIONS: &'static [Action] = &[Action::Timestamp];
}
impl Details for CaseCreateDetails {
    const ACTIONS: &'static [Action] = &[Action::CaseCreate];
}
impl Details for AcquisitionDetails {
    const ACTIONS: &'static [Action] = &[Action::Ingest, Action::Acquire];
}
impl Details for AnnotateDetails {
    const ACTIONS: &'static [Action] = &[Action::Annotate];
}
impl Details for AnnotateEvent {
    const ACTIONS: &'static [Action] = &[Action::Annotate];
}
impl Details for LinkDetails {
    const ACTIONS: &'static [Action] = &[Action::Link];
}
impl Details for ExtractDetails {
    const ACTIONS: &'static [Action] = &[Action::Extract];
}
impl Details for ExportDetails {
    const ACTIONS: &'static [Action] = &[Action::Export];
}
impl Details for SealDetails {
    const ACTIONS: &'static [Action] = &[Action::Seal];
}
impl Details for VerifyDetails {
    const ACTIONS: &'static [Action] = &[Action::Verify];
}
impl Details for ReplicaAddDetails {
    const ACTIONS: &'static [Action] = &[Action::ReplicaAdd];
}
impl Details for ReplicaRemoveDetails {
    const ACTIONS: &'static [Action] = &[Action::ReplicaRemove];
}
impl Details for PushDetails {
    const ACTIONS: &'static [Action] = &[Action::Push];
}

impl Event {
    /// The details of an event of one of `D`'s actions; `None` for another action or for
    /// details that do not have `D`'s fields (an altered event).
    pub fn details_as<D: Details>(&self) -> Option<D> {
        if !D::ACTIONS.contains(&self.action) {
            return None;
        }
        let map = self.details.clone().into_iter().collect();
        serde_json::from_value(serde_json::Value::Object(map)).ok()
    }
}

/// What an ingest event says of the item it made: the facts its item record, and a
/// bundle's `evidence.json` entry for it, must repeat. Built from each side, compared by
/// `first_difference`: the one comparison both `verify` and `verify --bundle` make. A
/// committed field matches its commitment, or its value where the value is revealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestFacts {
    pub actor: String,
    pub time: String,
    pub blake3: String,
    pub sha256: String,
    pub size: u64,
    pub name: Vec<u8>,
    /// Hex of the path's bytes.
    pub path: Disclosed<String>,
    /// The path shown as text (exact, or escaped where not UTF-8).
    pub path_text: Disclosed<String>,
    pub source: Disclosed<Option<String>>,
    pub note: Disclosed<Option<String>>,
    pub tags: Vec<String>,
    pub captured_at: Option<String>,
    pub modified_at: Option<String>,
    pub parent: Option<String>,
}

impl IngestFacts {
    /// The facts an `ingest` event records; `None` for another action or altered details.
    pub fn of_event(event: &Event) -> Option<IngestFacts> {
        if event.action != Action::Ingest {
            return None;
        }
        let d: AcquisitionDetails = event.details_as()?;
        Some(IngestFacts {
            actor: event.actor.clone(),
            time: event.time.clone(),
            name: d.name_bytes()?,
            path_text: d.path,
            // Compared as bytes: hex in either case, and nothing but hex.
            path: match d.path_hex {
                Disclosed::Plain(h) => Disclosed::Plain(hex::encode(hex::decode(h).ok()?)),
                hidden => hidden,
            },
            blake3: d.blake3,
            sha256: d.sha256,
            size: d.size,
            source: d.source,
            note: d.note,
            tags: d.tags,
            captured_at: d.captured_at,
            modified_at: d.modified_at,
            parent: d.parent,
        })
    }

    /// The first field whose value differs from `recorded`'s, by its name in item records.
    pub fn first_difference(&self, recorded: &IngestFacts) -> Option<&'static str> {
        let (a, b) = (self, recorded);
        let same = [
            ("actor", a.actor == b.actor),
            ("ingested_at", a.time == b.time),
            ("blake3", a.blake3 == b.blake3),
            ("sha256", a.sha256 == b.sha256),
            ("size", a.size == b.size),
            ("name", a.name == b.name),
            ("path", a.path == b.path),
            ("path_text", a.path_text == b.path_text),
            ("source", a.source == b.source),
            ("note", a.note == b.note),
            ("tags", a.tags == b.tags),
            ("captured_at", a.captured_at == b.captured_at),
            ("modified_at", a.modified_at == b.modified_at),
            ("parent", a.parent == b.parent),
        ];
        same.iter().find(|(_, ok)| !ok).map(|(field, _)| *field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::{Context, Draft};

    fn sealed(draft: &Draft) -> Event {
        let ctx = Context {
            actor: "a".into(),
            host: "h".into(),
            tool: "t".into(),
            archive: "x".into(),
            signer: None,
        };
        ctx.seal(draft, 1, None, &[], "2024-01-01T00:00:00Z".into())
    }

    #[test]
    fn a_spliced_signature_gives_the_bytes_of_the_signed_event() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::keys::Signer::generate(&dir.path().join("k"), "a").unwrap();
        let ctx = Context {
            actor: "a".into(),
            host: "h".into(),
            tool: "t".into(),
            archive: "x".into(),
            signer: Some(std::sync::Arc::new(key)),
        };
        // A detail named "signer" must not fool the splice.
        let draft = Draft::new(Action::KeyRevoke).detail("signer", ",\"signer\":");
        let time = || "2024-01-01T00:00:00.000000Z".to_string();
        let spliced = ctx.seal_canonical(&draft, 3, None, &[], time());
        assert_eq!(
            spliced,
            ctx.seal(&draft, 3, None, &[], time()).to_canonical()
        );
        let parsed = Event::parse(&spliced).unwrap();
        assert_eq!(parsed.to_canonical(), spliced);
    }

    #[test]
    fn details_round_trip_and_absent_values_are_null() {
        let d = CaseCreateDetails {
            title: "T".into(),
            description: None,
        };
        let e = sealed(&Draft::new(Action::CaseCreate).with(&d));
        let text = String::from_utf8(e.to_canonical()).unwrap();
        assert!(
            text.contains(r#""details":{"description":null,"title":"T"}"#),
            "{text}"
        );
        assert_eq!(e.details_as::<CaseCreateDetails>(), Some(d));
        assert_eq!(
            e.details_as::<LinkDetails>(),
            None,
            "another action's details"
        );
    }
}
