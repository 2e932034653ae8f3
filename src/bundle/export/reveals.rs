//! What an export reveals of the committed values of the events it carries (issue 11.7):
//! the fields named with `--reveal`, and the exported case wherever an event names it.
//! Nothing else leaves the archive: another case, a local path or a host stays a commitment.

use std::collections::{BTreeMap, BTreeSet};

use crate::archive::Archive;
use crate::bundle::layout::RevealLine;
use crate::custody::Event;
use crate::custody::canonical_json;
use crate::custody::disclosure::{Openings, Reveal};
use crate::error::{Error, Result};
use crate::ids::CaseId;

/// The reveal choices of one export.
pub(super) struct Disclosure<'a> {
    pub reveal: &'a [Reveal],
    pub case: &'a CaseId,
}

impl Disclosure<'_> {
    /// The openings of `all` this export reveals.
    pub fn select(&self, all: &Openings) -> Openings {
        let mut out = Openings::default();
        for (path, opening) in all.iter() {
            let exported_case =
                path == "case" && opening.value.as_str() == Some(self.case.as_str());
            let named = Reveal::of_field(path).is_some_and(|r| self.reveal.contains(&r));
            if exported_case || named {
                out.insert(path.to_owned(), opening.clone());
            }
        }
        out
    }
}

impl Archive {
    /// Event `seq` as the bundle shows it: its committed values opened where `d` reveals
    /// them, with the openings revealed.
    pub(super) fn disclosed_event(&self, seq: u64, d: &Disclosure) -> Result<(Event, Openings)> {
        let bytes = self
            .catalog
            .event_bytes(seq)?
            .ok_or_else(|| Error::Damaged(format!("custody event {seq} is missing")))?;
        let event =
            Event::parse(&bytes).map_err(|e| Error::Damaged(format!("event {seq}: {e}")))?;
        let revealed = d.select(&self.catalog.openings(seq)?);
        Ok((event.revealed(&revealed), revealed))
    }

    /// `data/proof/reveals.jsonl`: one line per revealed value of the events `seqs` and the
    /// export event's own (`own`), in seq then field order.
    pub(super) fn reveals_jsonl(
        &self,
        seqs: &BTreeSet<u64>,
        own: (u64, &Openings),
        d: &Disclosure,
    ) -> Result<Vec<u8>> {
        let mut by_seq: BTreeMap<u64, Openings> = BTreeMap::new();
        for &seq in seqs {
            by_seq.insert(seq, d.select(&self.catalog.openings(seq)?));
        }
        by_seq.insert(own.0, d.select(own.1));
        let mut out = Vec::new();
        for (seq, openings) in by_seq {
            for (field, opening) in openings.iter() {
                let line = RevealLine {
                    seq,
                    field: field.to_owned(),
                    salt: opening.salt.clone(),
                    value: opening.value.clone(),
                };
                let value = serde_json::to_value(&line).expect("a reveal is plain JSON data");
                out.extend(canonical_json(&value));
                out.push(b'\n');
            }
        }
        Ok(out)
    }
}
