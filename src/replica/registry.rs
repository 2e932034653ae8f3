//! Which replicas an archive has: a function of the custody log alone (`replica_add`,
//! `replica_remove` and `push` events), so a restored archive knows them too.

use std::collections::BTreeMap;

use crate::archive::Archive;
use crate::codec;
use crate::custody::details::{PushDetails, ReplicaAddDetails, ReplicaRemoveDetails};
use crate::custody::{Action, Draft, Event};
use crate::error::{Error, Result};

use super::crypt::Sealing;
use super::layout::Stored;
use super::remote::{Endpoint, parse_url};

/// What `replica add` is given.
#[derive(Clone, Debug, Default)]
pub struct ReplicaOptions {
    pub name: String,
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// age recipients; empty with `plaintext`.
    pub recipients: Vec<String>,
    pub plaintext: bool,
}

/// One push as its event recorded it.
#[derive(Clone, Debug)]
pub struct PushRecord {
    pub seq: u64,
    pub details: PushDetails,
}

/// A replica the log names, with every push to it since it was added.
#[derive(Clone, Debug)]
pub struct Replica {
    pub name: String,
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub recipients: Vec<String>,
    pub plaintext: bool,
    /// The `replica_add` event.
    pub added_at: u64,
    pub pushes: Vec<PushRecord>,
    pub(crate) name_key: [u8; 32],
}

impl Replica {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
        }
    }

    /// The newest event a push stored, 0 before the first push.
    pub fn pushed_head(&self) -> u64 {
        self.pushes.last().map_or(0, |p| p.details.head)
    }

    /// Every object the pushes recorded, by object name (a later record of a name wins).
    pub fn stored(&self) -> BTreeMap<String, Stored> {
        let mut out = BTreeMap::new();
        for push in &self.pushes {
            for line in &push.details.objects {
                if let Some(s) = Stored::parse_line(line) {
                    out.insert(s.name.clone(), s);
                }
            }
        }
        out
    }
}

/// A replica name: like a case id, 1 to 64 of `A-Z a-z 0-9 . _ -`.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadReplica(format!(
            "{name:?} is not a replica name (1 to 64 of A-Z a-z 0-9 . _ -)"
        )))
    }
}

impl Archive {
    /// Names a replica (a `replica_add` event). Nothing is sent: the server is first
    /// reached by `push`. No credential is recorded.
    pub fn add_replica(&mut self, opts: &ReplicaOptions) -> Result<(Replica, u64)> {
        check_name(&opts.name)?;
        parse_url(&opts.url)?;
        Sealing::new(&opts.recipients, opts.plaintext)?;
        if self.replicas()?.iter().any(|r| r.name == opts.name) {
            return Err(Error::ReplicaExists(opts.name.clone()));
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| {
            Error::io("the operating system's random source")(std::io::Error::other(e.to_string()))
        })?;
        let details = ReplicaAddDetails {
            name: opts.name.clone(),
            url: opts.url.clone(),
            endpoint: opts.endpoint.clone(),
            region: opts.region.clone(),
            recipients: opts
                .recipients
                .iter()
                .map(|r| r.trim().to_owned())
                .collect(),
            plaintext: opts.plaintext,
            name_key: hex::encode(key),
        };
        let draft = Draft::new(Action::ReplicaAdd).with(&details);
        let seq = self.commit(|tx| tx.append(&draft).map(|(seq, _)| seq))?;
        let replica = self.replica(&opts.name)?;
        Ok((replica, seq))
    }

    /// Forgets a replica (a `replica_remove` event); its objects stay on the server.
    pub fn remove_replica(&mut self, name: &str) -> Result<u64> {
        self.replica(name)?;
        let draft = Draft::new(Action::ReplicaRemove).with(&ReplicaRemoveDetails {
            name: name.to_owned(),
        });
        self.commit(|tx| tx.append(&draft).map(|(seq, _)| seq))
    }

    pub fn replica(&self, name: &str) -> Result<Replica> {
        self.replicas()?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::UnknownReplica(name.to_owned()))
    }

    /// The replicas the log names now, in the order they were added.
    pub fn replicas(&self) -> Result<Vec<Replica>> {
        let mut live: Vec<Replica> = Vec::new();
        for entry in self.catalog.raw_events() {
            let (_, value) = entry?;
            let bytes = codec::decode_event(&value)?;
            // Most events are not about replicas: skip them before parsing.
            if !bytes.starts_with(br#"{"action":"replica_"#)
                && !bytes.starts_with(br#"{"action":"push""#)
            {
                continue;
            }
            let Ok(event) = Event::parse(bytes) else {
                continue;
            };
            apply(&mut live, &event);
        }
        Ok(live)
    }
}

fn apply(live: &mut Vec<Replica>, event: &Event) {
    match event.action {
        Action::ReplicaAdd => {
            let Some(d) = event.details_as::<ReplicaAddDetails>() else {
                return;
            };
            let mut name_key = [0u8; 32];
            if hex::decode_to_slice(&d.name_key, &mut name_key).is_err() {
                return;
            }
            live.retain(|r| r.name != d.name);
            live.push(Replica {
                name: d.name,
                url: d.url,
                endpoint: d.endpoint,
                region: d.region,
                recipients: d.recipients,
                plaintext: d.plaintext,
                added_at: event.seq,
                pushes: Vec::new(),
                name_key,
            });
        }
        Action::ReplicaRemove => {
            if let Some(d) = event.details_as::<ReplicaRemoveDetails>() {
                live.retain(|r| r.name != d.name);
            }
        }
        Action::Push => {
            if let Some(d) = event.details_as::<PushDetails>()
                && let Some(r) = live.iter_mut().find(|r| r.name == d.replica)
            {
                r.pushes.push(PushRecord {
                    seq: event.seq,
                    details: d,
                });
            }
        }
        _ => {}
    }
}
