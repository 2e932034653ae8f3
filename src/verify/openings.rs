//! Every commitment of the log against its stored opening (issue 11.7): the values `show`,
//! `log` and a bundle's reveals come from the openings, so one that no longer opens its
//! event's commitment, or is gone, is a finding like any altered record.

use std::collections::BTreeSet;

use crate::archive::Archive;
use crate::codec;
use crate::custody::Event;
use crate::custody::disclosure::Openings;
use crate::error::Result;
use crate::findings::{Finding, VerifyReport};

impl Archive {
    /// Each event that commits to a value has an opening for it that opens it, and each
    /// stored opening belongs to a commitment of its event.
    pub(super) fn check_openings(&self, report: &mut VerifyReport) -> Result<()> {
        // Events present, and those of them that commit to something.
        let (mut present, mut seen) = (BTreeSet::new(), BTreeSet::new());
        for entry in self.catalog.raw_events() {
            let (key, value) = entry?;
            let (Ok(seq), Ok(bytes)) = (
                codec::u64_from_key("custody", &key),
                codec::decode_event(&value),
            ) else {
                continue; // the chain check's finding
            };
            present.insert(seq);
            // Canonical JSON writes a commitment as {"commit":…}; other events have none.
            if !bytes.windows(10).any(|w| w == b"{\"commit\":") {
                continue;
            }
            let Ok(event) = Event::parse(bytes) else {
                continue;
            };
            seen.insert(seq);
            let openings = match self.catalog.openings(seq) {
                Ok(o) => o,
                Err(e) => {
                    let why = format!("event {seq}: its openings do not read ({e})");
                    report.found(Finding::OpeningWrong { seq, why });
                    continue;
                }
            };
            for why in wrong_openings(&event, &openings) {
                report.found(Finding::OpeningWrong { seq, why });
            }
        }
        for entry in self.catalog.raw_openings() {
            let (key, _) = entry?;
            // Openings of an event the log lacks: the chain check names that gap.
            if let Ok(seq) = codec::u64_from_key("openings", &key)
                && present.contains(&seq)
                && !seen.contains(&seq)
            {
                let why = format!("openings are stored for event {seq}, which commits to nothing");
                report.found(Finding::OpeningWrong { seq, why });
            }
        }
        Ok(())
    }
}

/// What is wrong between an event's commitments and its openings, one sentence each.
fn wrong_openings(event: &Event, openings: &Openings) -> Vec<String> {
    let seq = event.seq;
    let mut out = Vec::new();
    for path in committed_paths(event) {
        if openings.get(&path).is_none() {
            out.push(format!(
                "event {seq}: the opening of its committed {path} is missing, so its value is lost"
            ));
        }
    }
    for (path, opening) in openings.iter() {
        match event.commitment_at(path) {
            Some(c) if opening.opens(&c) => {}
            Some(_) => out.push(format!(
                "event {seq}: the stored value of {path} does not open the event's commitment (it was changed)"
            )),
            None => out.push(format!(
                "event {seq}: an opening is stored for {path}, which the event does not commit to"
            )),
        }
    }
    out
}

/// The field paths at which an event records a commitment.
fn committed_paths(event: &Event) -> Vec<String> {
    let mut paths: Vec<String> = ["host", "case"]
        .into_iter()
        .filter(|p| event.commitment_at(p).is_some())
        .map(str::to_owned)
        .collect();
    for key in event.details.keys() {
        let path = format!("details.{key}");
        if event.commitment_at(&path).is_some() {
            paths.push(path);
        }
    }
    paths
}
