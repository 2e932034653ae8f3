//! Read-only questions: items of a case or tag, one item's whole story, the custody log,
//! and the archive's counts (`stats`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::archive::Archive;
use crate::catalog::ItemRecord;
use crate::codec;
use crate::custody::annotation::Metadata;
use crate::custody::details::AnnotateDetails;
use crate::custody::disclosure::Openings;
use crate::custody::{Action, Event};
use crate::error::{Error, Result};
use crate::ids::{CaseId, EventDigest, EvidenceId, ItemRef, Moment};

/// An item with the cases it belongs to and its current values, as listings show it.
#[derive(Clone, Debug)]
pub struct ItemView {
    /// The item as ingested (its record never changes).
    pub item: ItemRecord,
    pub cases: Vec<CaseId>,
    /// Its source, note, tags and capture time now: as its last `annotate` event left
    /// them, else as given at ingest. Listings and bundles show these.
    pub metadata: Metadata,
}

/// Everything `show` tells about an item.
#[derive(Clone, Debug)]
pub struct ItemDetail {
    pub view: ItemView,
    pub attachments: Vec<EvidenceId>,
    pub custody: Vec<Event>,
}

impl ItemDetail {
    /// The item's annotations, oldest first: each `annotate` event with what it changed.
    pub fn annotations(&self) -> impl Iterator<Item = (&Event, AnnotateDetails)> {
        self.custody
            .iter()
            .filter(|e| e.action == Action::Annotate)
            .filter_map(|e| Some((e, e.details_as::<AnnotateDetails>()?)))
    }
}

/// Which items `list` shows: every condition given must hold (issue 12, point 5).
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub case: Option<CaseId>,
    /// Every one of these tags, compared without regard to case.
    pub tags: Vec<String>,
    /// Found in the item's source, without regard to case.
    pub source: Option<String>,
    /// Found in the item's original name, without regard to case.
    pub name: Option<String>,
    /// Bounds on `captured_at`, inclusive; an item without one is left out by either.
    pub captured_from: Option<Moment>,
    pub captured_to: Option<Moment>,
    /// Bounds on `ingested_at`, inclusive.
    pub ingested_from: Option<Moment>,
    pub ingested_to: Option<Moment>,
}

impl ListFilter {
    /// Whether an item, with its current values, meets every condition but the case
    /// (which `list` reads from the index).
    pub fn admits(&self, item: &ItemRecord, now: &Metadata) -> bool {
        let folded: Vec<String> = now.tags.iter().map(|t| t.to_lowercase()).collect();
        let tags_ok = self.tags.iter().all(|t| folded.contains(&t.to_lowercase()));
        let contains = |hay: &str, needle: &Option<String>| {
            needle
                .as_ref()
                .is_none_or(|n| hay.to_lowercase().contains(&n.to_lowercase()))
        };
        tags_ok
            && contains(now.source.as_deref().unwrap_or(""), &self.source)
            && contains(&String::from_utf8_lossy(&item.name), &self.name)
            && within(
                now.captured_at.as_deref(),
                &self.captured_from,
                &self.captured_to,
            )
            && within(
                Some(&item.ingested_at),
                &self.ingested_from,
                &self.ingested_to,
            )
    }
}

/// Whether a recorded time lies within the bounds; with a bound and no readable time, not.
fn within(recorded: Option<&str>, from: &Option<Moment>, to: &Option<Moment>) -> bool {
    if from.is_none() && to.is_none() {
        return true;
    }
    let Some(at) = recorded.and_then(|t| Moment::parse(t).ok()) else {
        return false;
    };
    from.is_none_or(|f| at.not_before(&f)) && to.is_none_or(|t| at.not_after(&t))
}

/// What an archive holds, counted (`custodia stats`).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub items: u64,
    /// Distinct stored contents (file bodies): items with the same bytes share one.
    pub contents: u64,
    /// The sum of the items' sizes: what they would take stored one by one.
    pub item_bytes: u64,
    /// The sum of the contents' sizes: what is stored once deduplicated, before compression.
    pub stored_bytes: u64,
    /// Bytes the files of `volumes/` and `db/` take on disk.
    pub volume_bytes: u64,
    pub db_bytes: u64,
    pub cases: u64,
    pub events: u64,
    /// Each actor named by an event, with how many events name it, in name order.
    pub actors: BTreeMap<String, u64>,
}

impl Archive {
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<ItemView>> {
        let ids: Vec<EvidenceId> = match &filter.case {
            Some(case) => {
                self.case(case)?;
                self.items_of_case(case)?
            }
            None => self.catalog.item_ids()?,
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let item = self.item(id)?;
            let metadata = self.metadata(id)?;
            if !filter.admits(&item, &metadata) {
                continue;
            }
            out.push(ItemView {
                cases: self.cases_of(id)?,
                item,
                metadata,
            });
        }
        Ok(out)
    }

    pub fn show(&self, r: &ItemRef) -> Result<ItemDetail> {
        self.detail(self.resolve(r)?)
    }

    /// Every item a reference names, each with its whole story: one for an `EV-` id, and
    /// for a hash, every item holding those bytes (the same file in two cases).
    pub fn show_all(&self, r: &ItemRef) -> Result<Vec<ItemDetail>> {
        self.resolve_all(r)?
            .into_iter()
            .map(|item| self.detail(item))
            .collect()
    }

    fn detail(&self, item: ItemRecord) -> Result<ItemDetail> {
        let id = item.id;
        Ok(ItemDetail {
            attachments: self.children_of(id)?,
            custody: self.events_of(id)?,
            view: ItemView {
                cases: self.cases_of(id)?,
                metadata: self.metadata(id)?,
                item,
            },
        })
    }

    /// Counts of what the archive holds; reads every item, content and event record once.
    pub fn stats(&self) -> Result<Stats> {
        let mut stats = Stats {
            cases: self.catalog.case_count() as u64,
            ..Stats::default()
        };
        for item in self.catalog.items() {
            stats.items += 1;
            stats.item_bytes += item?.size;
        }
        for content in self.catalog.contents() {
            stats.contents += 1;
            stats.stored_bytes += content?.size;
        }
        for logged in self.log(None, None)? {
            stats.events += 1;
            *stats.actors.entry(logged.event.actor).or_default() += 1;
        }
        stats.volume_bytes = bytes_under(&self.root().join(crate::store::VOLUMES_DIR))?;
        stats.db_bytes = bytes_under(&self.root().join(crate::archive::DB_DIR))?;
        Ok(stats)
    }

    /// The events that name an item, oldest first.
    pub fn events_of(&self, id: EvidenceId) -> Result<Vec<Event>> {
        self.catalog
            .event_seqs_of(id)?
            .into_iter()
            .map(|seq| self.event(seq))
            .collect()
    }

    /// Event `seq` with its committed values shown (never for hashing: see `Event::revealed`).
    pub fn event(&self, seq: u64) -> Result<Event> {
        self.logged(seq).map(|l| l.event)
    }

    /// One event with the SHA-256 of its exact stored bytes.
    fn logged(&self, seq: u64) -> Result<Logged> {
        let bytes = self
            .catalog
            .event_bytes(seq)?
            .ok_or_else(|| Error::Damaged(format!("custody event {seq} is missing")))?;
        Logged::decode(seq, &bytes, &self.catalog.openings(seq)?)
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
                events
                    .retain(|l| l.event.case_id() == Some(case.as_str()) || l.event.case.is_none());
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
            let openings = self.catalog.openings(seq)?;
            let logged = Logged::decode(seq, codec::decode_event(&value)?, &openings)?;
            let event = &logged.event;
            let keep = match (case, &members) {
                (Some(c), Some(m)) => {
                    event.case_id() == Some(c.as_str())
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
    /// The event with its committed values shown from the archive's openings (issue 11.7):
    /// what `log` prints, as text and as JSON, so that its keys keep their types.
    pub event: Event,
    pub sha256: EventDigest,
}

impl Logged {
    /// The event as stored, its committed values shown: the archive holds every opening,
    /// so `show` and `log` print what happened (a bundle shows only what it reveals).
    fn decode(seq: u64, bytes: &[u8], openings: &Openings) -> Result<Logged> {
        let event =
            Event::parse(bytes).map_err(|e| Error::Damaged(format!("custody event {seq}: {e}")))?;
        Ok(Logged {
            event: event.revealed(openings),
            sha256: EventDigest::of(bytes),
        })
    }
}

/// The bytes of every file under a directory (none when it does not exist).
fn bytes_under(dir: &Path) -> Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    let mut total = 0;
    for entry in entries {
        let entry = entry.map_err(Error::io(dir))?;
        let meta = entry.metadata().map_err(Error::io(entry.path()))?;
        total += if meta.is_dir() {
            bytes_under(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
