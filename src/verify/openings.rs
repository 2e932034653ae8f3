//! Every commitment of the log against its stored opening (issue 11.7): the values `show`,
//! `log` and a bundle's reveals come from the openings, so one that no longer opens its
//! event's commitment, or is gone, is a finding like any altered record.
//!
//! The openings tree is keyed by seq like the log, so it is walked beside the custody pass
//! (`log.rs`) in one merge: each event is parsed once, each record read once.

use std::iter::Peekable;

use crate::catalog::RawEntries;
use crate::codec;
use crate::custody::Event;
use crate::custody::disclosure::Openings;
use crate::error::Result;
use crate::findings::{Finding, VerifyReport};

/// The openings records not yet matched with an event, in seq order.
pub(super) struct OpeningsCursor {
    records: Peekable<RawEntries>,
}

impl OpeningsCursor {
    pub(super) fn new(records: RawEntries) -> OpeningsCursor {
        OpeningsCursor {
            records: records.peekable(),
        }
    }

    /// Event `seq` (parsed, or `None` when it does not parse: the chain check's finding)
    /// against its openings record. Records of seqs before it belong to events the log
    /// lacks, which the chain check names; they are passed over.
    pub(super) fn check(
        &mut self,
        seq: u64,
        event: Option<&Event>,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let record = self.take_up_to(seq)?;
        let Some(event) = event else {
            return Ok(());
        };
        let openings = match record {
            None => Openings::default(),
            Some(bytes) => {
                match codec::decode_openings(&format!("openings of event {seq}"), &bytes) {
                    Ok(o) => o,
                    Err(e) => {
                        let why = format!("event {seq}: its openings do not read ({e})");
                        report.found(Finding::OpeningWrong { seq, why });
                        return Ok(());
                    }
                }
            }
        };
        for why in wrong_openings(event, &openings) {
            report.found(Finding::OpeningWrong { seq, why });
        }
        Ok(())
    }

    /// The record stored for `seq`, after passing over those of earlier seqs.
    fn take_up_to(&mut self, seq: u64) -> Result<Option<sled::IVec>> {
        while let Some(entry) = self.records.peek() {
            let key = match entry {
                Ok((key, _)) => codec::u64_from_key("openings", key).ok(),
                Err(_) => return self.records.next().transpose().map(|_| None),
            };
            match key {
                Some(k) if k > seq => return Ok(None),
                Some(k) if k == seq => {
                    return Ok(self.records.next().transpose()?.map(|(_, v)| v));
                }
                _ => {
                    self.records.next();
                }
            }
        }
        Ok(None)
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
    // Only an object with `commit` can be one: other values are not copied to be tried.
    for (key, value) in &event.details {
        let path = format!("details.{key}");
        if value.get("commit").is_some() && event.commitment_at(&path).is_some() {
            paths.push(path);
        }
    }
    paths
}
