//! The custody log: append-only events in canonical JSON, each chained to the one before it by SHA-256.
//!
//! Two chains run through the same events. The archive chain: every event's `prev` is the
//! SHA-256 of the previous event's exact bytes. The item chains: for each item an event
//! names, `items[].prev` is the SHA-256 of the previous event that named that item, so one
//! item's history can be checked on its own (as a bundle carries it).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{EventDigest, EvidenceId};
use disclosure::{Disclosed, NoRandom, Openings};

pub mod annotation;
mod canonical;
mod chain;
pub mod checkpoint;
pub mod details;
pub mod disclosure;
pub mod merkle;
mod signatures;

pub use canonical::canonical_json;
pub use chain::{Break, ChainWalker};
pub use signatures::{KnownKey, SignatureProblem, Signatures};

/// The version of the first event layout (unsigned); the `v` field of every event.
pub const EVENT_VERSION: u32 = 1;

/// The signed event layout: version 1 plus `signer` and `sig` (docs/FORMAT.md, "Signed
/// events"). Every event this release writes is signed.
pub const SIGNED_EVENT_VERSION: u32 = 2;

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Init,
    CaseCreate,
    Ingest,
    /// The same bytes acquired again into a case that already holds them: a second source.
    Acquire,
    Link,
    Extract,
    Export,
    /// A finished bundle's digests, recorded after its export event (which the bundle carries).
    Seal,
    Verify,
    Import,
    /// A public key registered to speak for the acting actor (signed by that key).
    KeyRegister,
    /// A key withdrawn: events it signs after this one are not trusted.
    KeyRevoke,
    /// An RFC 3161 time-stamp token over a checkpoint of the log.
    Timestamp,
    /// An off-site replica named, with where it is and whom its objects are encrypted to.
    ReplicaAdd,
    /// A replica no longer pushed to (its objects stay where they are).
    ReplicaRemove,
    /// Objects stored on a replica, up to an event of the log (written once they are all stored).
    Push,
    /// An item's source, note, tags or capture time changed after ingest (issue 12.2):
    /// recorded, never overwritten; the earlier values stay in the item's earlier events.
    Annotate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Init => "init",
            Action::CaseCreate => "case_create",
            Action::Ingest => "ingest",
            Action::Acquire => "acquire",
            Action::Link => "link",
            Action::Extract => "extract",
            Action::Export => "export",
            Action::Seal => "seal",
            Action::Verify => "verify",
            Action::Import => "import",
            Action::KeyRegister => "key_register",
            Action::KeyRevoke => "key_revoke",
            Action::Timestamp => "timestamp",
            Action::ReplicaAdd => "replica_add",
            Action::ReplicaRemove => "replica_remove",
            Action::Push => "push",
            Action::Annotate => "annotate",
        }
    }
}

/// One item an event concerns, with the digest of that item's previous event (`None` for its first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemLink {
    pub id: String,
    pub prev: Option<String>,
}

/// A custody event, encoded canonically by `to_canonical` (keys sorted at every depth).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub action: Action,
    pub actor: String,
    pub archive: String,
    /// The case acted on; committed in events since issue 11.7 (docs/FORMAT.md, "Commitments").
    pub case: Option<Disclosed<String>>,
    pub details: BTreeMap<String, Value>,
    /// The host name; committed in events since issue 11.7.
    pub host: Disclosed<String>,
    pub items: Vec<ItemLink>,
    pub prev: Option<String>,
    pub reason: Option<String>,
    pub seq: u64,
    pub time: String,
    pub tool: String,
    pub v: u32,
    /// Version 2: the fingerprint of the key that signed the event (`SHA256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Version 2: base64 of the Ed25519 signature over the canonical bytes of the event
    /// without this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

impl Event {
    /// The canonical bytes: compact JSON, keys in byte order, UTF-8, no trailing newline.
    pub fn to_canonical(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("an event is plain JSON data");
        canonical_json(&value)
    }

    /// The bytes a version-2 event's signature covers: its canonical form without `sig`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let unsigned = Event {
            sig: None,
            ..self.clone()
        };
        unsigned.to_canonical()
    }

    pub fn parse(bytes: &[u8]) -> Result<Event, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid custody event: {e}"))
    }

    /// The case, when the event names one in the clear (or revealed by `revealed`).
    pub fn case_id(&self) -> Option<&str> {
        self.case.as_ref()?.plain().map(String::as_str)
    }

    /// The host name, when in the clear.
    pub fn host_name(&self) -> Option<&str> {
        self.host.plain().map(String::as_str)
    }

    /// A copy with every commitment that `openings` opens replaced by its value: for
    /// reading what an event says, never for hashing or checking a signature (those cover
    /// the stored bytes). Openings that do not open their field's commitment are ignored.
    pub fn revealed(&self, openings: &Openings) -> Event {
        let mut event = self.clone();
        for (path, opening) in openings.iter() {
            let slot = match path.strip_prefix("details.") {
                Some(key) => event.details.get_mut(key),
                None => None,
            };
            match (path, slot) {
                (_, Some(value)) => {
                    if let Ok(Disclosed::Hidden(c)) =
                        serde_json::from_value::<Disclosed<Value>>(value.clone())
                        && opening.opens(&c)
                    {
                        *value = opening.value.clone();
                    }
                }
                ("host", None) => {
                    if let (Disclosed::Hidden(c), Value::String(h)) = (&event.host, &opening.value)
                        && opening.opens(c)
                    {
                        event.host = Disclosed::Plain(h.clone());
                    }
                }
                ("case", None) => {
                    if let (Some(Disclosed::Hidden(c)), Value::String(v)) =
                        (&event.case, &opening.value)
                        && opening.opens(c)
                    {
                        event.case = Some(Disclosed::Plain(v.clone()));
                    }
                }
                _ => {}
            }
        }
        event
    }

    pub fn item_ids(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|l| l.id.as_str())
    }

    pub fn names_item(&self, id: EvidenceId) -> bool {
        let id = id.to_string();
        self.item_ids().any(|i| i == id)
    }
}

/// An event before it takes its place in the chain: what happened, not where in the log.
#[derive(Clone, Debug)]
pub struct Draft {
    pub action: Action,
    pub case: Option<String>,
    pub items: Vec<EvidenceId>,
    pub details: BTreeMap<String, Value>,
    pub reason: Option<String>,
    /// The openings of the committed fields, stored beside the event in its transaction.
    pub openings: Openings,
}

impl Draft {
    pub fn new(action: Action) -> Self {
        Self {
            action,
            case: None,
            items: Vec::new(),
            details: BTreeMap::new(),
            reason: None,
            openings: Openings::default(),
        }
    }

    /// The openings of the details fields the typed record committed (`Openings::commit`).
    pub fn openings(mut self, openings: Openings) -> Self {
        self.openings.extend(openings);
        self
    }

    pub fn case(mut self, case: impl ToString) -> Self {
        self.case = Some(case.to_string());
        self
    }

    pub fn item(mut self, id: EvidenceId) -> Self {
        self.items.push(id);
        self
    }

    pub fn reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    /// The event's details, from the typed record of its action.
    pub fn with<D: details::Details>(mut self, details: &D) -> Self {
        debug_assert!(
            D::ACTIONS.contains(&self.action),
            "details of another action"
        );
        if let Ok(Value::Object(map)) = serde_json::to_value(details) {
            self.details = map.into_iter().collect();
        }
        self
    }

    /// One more detail by key, for the export event, whose details are built in pieces.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// Who acts, from where, with what, signed by which key: the same for every event of one command.
#[derive(Clone, Debug)]
pub struct Context {
    pub actor: String,
    pub host: String,
    pub tool: String,
    pub archive: String,
    /// The actor's key: every event is signed with it (version 2); `None` only before a
    /// key is loaded, which no write reaches.
    pub signer: Option<std::sync::Arc<crate::keys::Signer>>,
}

impl Context {
    /// The draft with the host and the case committed (issue 11.7): every event this
    /// release writes hides them, whatever its action. Salts are drawn here, outside `seal`,
    /// so that sealing the same draft twice gives the same bytes.
    pub fn disclose(&self, draft: &Draft) -> Result<Draft, NoRandom> {
        let mut draft = draft.clone();
        let mut openings = Openings::default();
        openings.commit("host", &self.host)?;
        if let Some(case) = &draft.case {
            openings.commit("case", case)?;
        }
        draft = draft.openings(openings);
        Ok(draft)
    }

    /// Places a draft in the chain after `prev`, with each item's previous event digest.
    pub fn seal(
        &self,
        draft: &Draft,
        seq: u64,
        prev: Option<EventDigest>,
        item_prev: &[Option<EventDigest>],
        time: String,
    ) -> Event {
        let mut event = Event {
            action: draft.action,
            actor: self.actor.clone(),
            archive: self.archive.clone(),
            case: draft
                .case
                .clone()
                .map(|case| committed(draft, "case", case)),
            details: draft.details.clone(),
            host: committed(draft, "host", self.host.clone()),
            items: draft
                .items
                .iter()
                .zip(item_prev)
                .map(|(id, p)| ItemLink {
                    id: id.to_string(),
                    prev: p.map(|d| d.to_hex()),
                })
                .collect(),
            prev: prev.map(|d| d.to_hex()),
            reason: draft.reason.clone(),
            seq,
            time,
            tool: self.tool.clone(),
            v: EVENT_VERSION,
            signer: None,
            sig: None,
        };
        if let Some(key) = &self.signer {
            event.v = SIGNED_EVENT_VERSION;
            event.signer = Some(key.fingerprint().to_owned());
            let signature = key.sign(&event.signed_bytes());
            event.sig = Some(base64::engine::general_purpose::STANDARD.encode(signature));
        }
        event
    }

    /// The canonical bytes of `seal`'s event, made with one encoding: the event is encoded
    /// without `sig`, signed, and `"sig"` spliced in where key order puts it (just before
    /// the top-level `"signer"`). Every event of a large ingest is sealed this way.
    pub fn seal_canonical(
        &self,
        draft: &Draft,
        seq: u64,
        prev: Option<EventDigest>,
        item_prev: &[Option<EventDigest>],
        time: String,
    ) -> Vec<u8> {
        let Some(key) = &self.signer else {
            return self.seal(draft, seq, prev, item_prev, time).to_canonical();
        };
        let unsigned = Context {
            signer: None,
            ..self.clone()
        };
        let mut event = unsigned.seal(draft, seq, prev, item_prev, time);
        event.v = SIGNED_EVENT_VERSION;
        event.signer = Some(key.fingerprint().to_owned());
        let mut bytes = event.to_canonical();
        let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&bytes));
        // Keys after "signer" (time, tool, v) hold strings and a number, never this text,
        // so the last occurrence is the top-level key.
        let marker = b",\"signer\":";
        let at = bytes
            .windows(marker.len())
            .rposition(|w| w == marker)
            .unwrap_or(bytes.len());
        let field = format!(",\"sig\":\"{signature}\"");
        bytes.splice(at..at, field.into_bytes());
        bytes
    }
}

impl Event {
    /// The commitment the event records at a field path (`host`, `case` or
    /// `details.<key>`), when that field is committed rather than in the clear.
    pub fn commitment_at(&self, field: &str) -> Option<disclosure::Commitment> {
        let hidden = |d: &Disclosed<String>| match d {
            Disclosed::Hidden(c) => Some(*c),
            Disclosed::Plain(_) => None,
        };
        match field {
            "host" => hidden(&self.host),
            "case" => hidden(self.case.as_ref()?),
            _ => {
                let value = self.details.get(field.strip_prefix("details.")?)?;
                match serde_json::from_value::<Disclosed<Value>>(value.clone()).ok()? {
                    Disclosed::Hidden(c) => Some(c),
                    Disclosed::Plain(_) => None,
                }
            }
        }
    }
}

/// A top-level field of a draft: its commitment when `Context::disclose` made one.
fn committed(draft: &Draft, path: &str, plain: String) -> Disclosed<String> {
    match draft.openings.commitment(path) {
        Some(c) => Disclosed::Hidden(c),
        None => Disclosed::Plain(plain),
    }
}
