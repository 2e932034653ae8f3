//! Read-only questions: items of a case or tag, one item's whole story, the custody log.

use crate::archive::Archive;
use crate::catalog::{ItemRecord, keys};
use crate::codec;
use crate::custody::Event;
use crate::error::{Error, Result};
use crate::ids::{CaseId, EventDigest, EvidenceId};

/// An item with the cases it belongs to, as listings show it.
#[derive(Clone, Debug)]
pub struct ItemView {
    pub item: ItemRecord,
    pub cases: Vec<CaseId>,
}

/// Everything `show` tells about an item.
#[derive(Clone, Debug)]
pub struct ItemDetail {
    pub view: ItemView,
    pub attachments: Vec<EvidenceId>,
    pub custody: Vec<Event>,
}

#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub case: Option<CaseId>,
    pub tag: Option<String>,
}

impl Archive {
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<ItemView>> {
        let ids: Vec<EvidenceId> = match (&filter.case, &filter.tag) {
            (Some(case), _) => {
                self.case(case)?;
                self.items_of_case(case)?
            }
            (None, Some(tag)) => self.catalog.items_under(&keys::tag_items_prefix(tag))?,
            (None, None) => self.catalog.item_ids()?,
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let item = self.item(id)?;
            if filter.tag.as_ref().is_some_and(|t| !item.tags.contains(t)) {
                continue;
            }
            out.push(ItemView {
                cases: self.cases_of(id)?,
                item,
            });
        }
        Ok(out)
    }

    pub fn show(&self, r: &crate::ids::ItemRef) -> Result<ItemDetail> {
        let item = self.resolve(r)?;
        let id = item.id;
        Ok(ItemDetail {
            attachments: self.children_of(id)?,
            custody: self.events_of(id)?,
            view: ItemView {
                cases: self.cases_of(id)?,
                item,
            },
        })
    }

    /// The events that name an item, oldest first.
    pub fn events_of(&self, id: EvidenceId) -> Result<Vec<Event>> {
        self.catalog
            .event_seqs_of(id)?
            .into_iter()
            .map(|seq| self.event(seq))
            .collect()
    }

    pub fn event(&self, seq: u64) -> Result<Event> {
        self.logged(seq).map(|l| l.event)
    }

    /// One event with the SHA-256 of its exact stored bytes.
    fn logged(&self, seq: u64) -> Result<Logged> {
        let bytes = self
            .catalog
            .event_bytes(seq)?
            .ok_or_else(|| Error::Damaged(format!("custody event {seq} is missing")))?;
        Logged::decode(seq, &bytes)
    }

    /// The custody log, oldest first, optionally only what concerns a case or an item;
    /// each event with the SHA-256 of its exact bytes (what `HEAD`, `prev` and a bundle's
    /// `Custodia-Custody-Head` name).
    pub fn log(&self, case: Option<&CaseId>, item: Option<EvidenceId>) -> Result<Vec<Logged>> {
        if let Some(id) = item {
            self.item(id)?;
            let mut events = Vec::new();
            for seq in self.catalog.event_seqs_of(id)? {
                events.push(self.logged(seq)?);
            }
            if let Some(case) = case {
                events.retain(|l| {
                    l.event.case.as_deref() == Some(case.as_str()) || l.event.case.is_none()
                });
            }
            return Ok(events);
        }
        let members: Option<Vec<String>> = match case {
            Some(c) => {
                self.case(c)?;
                Some(
                    self.items_of_case(c)?
                        .iter()
                        .map(|i| i.to_string())
                        .collect(),
                )
            }
            None => None,
        };
        let mut out = Vec::new();
        for entry in self.catalog.raw_events() {
            let (key, value) = entry?;
            let seq = codec::u64_from_key("custody", &key)?;
            let logged = Logged::decode(seq, codec::decode_event(&value)?)?;
            let event = &logged.event;
            let keep = match (case, &members) {
                (Some(c), Some(m)) => {
                    event.case.as_deref() == Some(c.as_str())
                        || event.item_ids().any(|i| m.iter().any(|x| x == i))
                }
                _ => true,
            };
            if keep {
                out.push(logged);
            }
        }
        Ok(out)
    }
}

/// A custody event as the log holds it, with the SHA-256 of its exact bytes.
#[derive(Clone, Debug)]
pub struct Logged {
    pub event: Event,
    pub sha256: EventDigest,
}

impl Logged {
    fn decode(seq: u64, bytes: &[u8]) -> Result<Logged> {
        let event =
            Event::parse(bytes).map_err(|e| Error::Damaged(format!("custody event {seq}: {e}")))?;
        Ok(Logged {
            event,
            sha256: EventDigest::of(bytes),
        })
    }
}
