//! data/proof/reveals.jsonl (issue 11.7): each revealed value must open the commitment its
//! event records, or it is a finding. A value not revealed stays hidden, which is no finding:
//! the events' signatures and the checkpoint cover the commitments, not the values.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, MAX_TAG_FILE};
use crate::bundle::finding::BagFinding;
use crate::bundle::layout::{self, RevealLine};
use crate::custody::Event;
use crate::custody::disclosure::{Opening, Openings};

/// The bag's reveals by event seq, and the seqs whose events were found and checked.
#[derive(Default)]
pub(super) struct Reveals {
    by_seq: BTreeMap<u64, Openings>,
    seen: BTreeSet<u64>,
}

impl Reveals {
    /// Checks the reveals of `event` and returns it with them opened, and what is wrong.
    pub fn open(&mut self, event: Event) -> (Event, Vec<BagFinding>) {
        let Some(openings) = self.by_seq.get(&event.seq) else {
            return (event, Vec::new());
        };
        self.seen.insert(event.seq);
        let mut found = Vec::new();
        for (field, opening) in openings.iter() {
            let why = match committed_at(&event, field) {
                None => Some("names no committed field of its event"),
                Some(c) if !opening.opens(&c) => Some("does not open the event's commitment"),
                Some(_) => None,
            };
            if let Some(why) = why {
                let (seq, field) = (event.seq, field.to_owned());
                found.push(BagFinding::RevealWrong { seq, field, why });
            }
        }
        (event.revealed(openings), found)
    }

    /// Reveals for events the log does not hold.
    pub fn unclaimed(&self) -> Vec<BagFinding> {
        let mut found = Vec::new();
        for (seq, openings) in &self.by_seq {
            if !self.seen.contains(seq) {
                for (field, _) in openings.iter() {
                    let (seq, field) = (*seq, field.to_owned());
                    let why = "is for an event data/custody.jsonl does not hold";
                    found.push(BagFinding::RevealWrong { seq, field, why });
                }
            }
        }
        found
    }
}

/// The commitment `event` records at a field path: `host`, `case` or `details.<key>`.
fn committed_at(event: &Event, field: &str) -> Option<crate::custody::disclosure::Commitment> {
    event.commitment_at(field)
}

impl Checker<'_> {
    /// Reads data/proof/reveals.jsonl, when the bag has one; each malformed or repeated line
    /// is a finding.
    pub(super) fn load_reveals(&mut self) -> Reveals {
        let mut reveals = Reveals::default();
        let Some(bytes) = self.read(layout::proof::REVEALS, MAX_TAG_FILE) else {
            return reveals;
        };
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let line_no = n as u64 + 1;
            match serde_json::from_slice::<RevealLine>(line) {
                Ok(r) => {
                    let openings = reveals.by_seq.entry(r.seq).or_default();
                    if openings.get(&r.field).is_some() {
                        let why = "a field revealed twice".to_owned();
                        self.found(BagFinding::RevealsMalformed { line: line_no, why });
                    }
                    let (salt, value) = (r.salt, r.value);
                    openings.insert(r.field, Opening { salt, value });
                }
                Err(e) => {
                    let why = e.to_string();
                    self.found(BagFinding::RevealsMalformed { line: line_no, why });
                }
            }
        }
        reveals
    }
}
