//! Walking the custody log: both chains checked event by event, every break collected.

use std::collections::HashMap;

use super::{EVENT_VERSION, Event, SIGNED_EVENT_VERSION, SignatureProblem, Signatures};
use crate::ids::EventDigest;

/// A break in a chain, found while walking it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// The bytes are not a custody event.
    Unreadable { seq: u64, detail: String },
    /// The event's `seq` is not the one its position calls for (an event removed or inserted).
    Sequence { seq: u64, expected: u64 },
    /// The event's `prev` does not name the previous event's bytes.
    Prev { seq: u64 },
    /// The event's `items[].prev` does not name that item's previous event.
    ItemPrev { seq: u64, item: String },
    /// The event's signature, or its signer's standing, does not hold.
    Signature { seq: u64, problem: SignatureProblem },
}

impl Break {
    pub fn seq(&self) -> u64 {
        match self {
            Break::Unreadable { seq, .. }
            | Break::Sequence { seq, .. }
            | Break::Prev { seq }
            | Break::ItemPrev { seq, .. }
            | Break::Signature { seq, .. } => *seq,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Break::Unreadable { seq, detail } => format!("event {seq} cannot be read: {detail}"),
            Break::Sequence { seq, expected } => {
                format!(
                    "event {seq} stands where event {expected} should: events are missing or were inserted"
                )
            }
            Break::Prev { seq } => format!(
                "event {seq} does not chain to the event before it (that event was edited, removed or reordered)"
            ),
            Break::ItemPrev { seq, item } => format!(
                "event {seq} does not chain to the previous event of {item} (an event of that item was edited, removed or reordered)"
            ),
            Break::Signature { seq, problem } => problem.describe(*seq),
        }
    }
}

/// Walks events in order and checks both chains, collecting every break.
#[derive(Default)]
pub struct ChainWalker {
    /// Check `seq` runs 1, 2, 3… and `prev` links every pair (the whole archive's log).
    /// Off for a bundle, which holds only some events of the log.
    whole_log: bool,
    expected_seq: u64,
    prev: Option<EventDigest>,
    item_heads: HashMap<String, EventDigest>,
    pub breaks: Vec<Break>,
    pub events: u64,
    /// The keys the log registers, and every signature checked against them.
    pub signatures: Signatures,
}

impl ChainWalker {
    /// A walker for the whole log of an archive, starting at event 1.
    pub fn whole_log() -> Self {
        Self {
            whole_log: true,
            expected_seq: 1,
            ..Self::default()
        }
    }

    /// A walker for a subset of a log: only the item chains are checked.
    pub fn item_chains() -> Self {
        Self::default()
    }

    /// Checks one event's exact bytes; returns the parsed event when it could be read.
    pub fn feed(&mut self, position_seq: u64, bytes: &[u8]) -> Option<Event> {
        self.events += 1;
        let digest = EventDigest::of(bytes);
        let parsed = Event::parse(bytes).and_then(|e| match e.v {
            EVENT_VERSION | SIGNED_EVENT_VERSION => Ok(e),
            v => Err(format!(
                "event format version {v} is not one this custodia reads ({EVENT_VERSION} or {SIGNED_EVENT_VERSION})"
            )),
        });
        let event = match parsed {
            Ok(e) => e,
            Err(detail) => {
                self.breaks.push(Break::Unreadable {
                    seq: position_seq,
                    detail,
                });
                // Chain on from the bytes as they are: the next event's check then tells
                // whether only this one was damaged.
                self.prev = Some(digest);
                self.expected_seq += 1;
                return None;
            }
        };
        if self.whole_log {
            if event.seq != self.expected_seq || position_seq != self.expected_seq {
                self.breaks.push(Break::Sequence {
                    seq: event.seq,
                    expected: self.expected_seq,
                });
            }
            if event.prev.as_deref() != self.prev.map(|d| d.to_hex()).as_deref() {
                self.breaks.push(Break::Prev { seq: event.seq });
            }
            self.expected_seq = position_seq.max(event.seq) + 1;
            self.prev = Some(digest);
        }
        // A bundle holds only some events; it does not yet carry the registrations of
        // their signers, so signatures are checked over a whole log only.
        if self.whole_log
            && let Err(problem) = self.signatures.check(&event)
        {
            self.breaks.push(Break::Signature {
                seq: event.seq,
                problem,
            });
        }
        for link in &event.items {
            let head = self.item_heads.get(&link.id).map(|d| d.to_hex());
            if link.prev != head {
                self.breaks.push(Break::ItemPrev {
                    seq: event.seq,
                    item: link.id.clone(),
                });
            }
            self.item_heads.insert(link.id.clone(), digest);
        }
        Some(event)
    }

    /// The digest of the last event fed (the head of the whole log).
    pub fn head(&self) -> Option<EventDigest> {
        self.prev
    }

    /// The digest of the newest event of an item's chain.
    pub fn item_head(&self, id: &str) -> Option<EventDigest> {
        self.item_heads.get(id).copied()
    }

    pub fn item_heads(&self) -> &HashMap<String, EventDigest> {
        &self.item_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::{Action, Context, Draft};
    use crate::ids::EvidenceId;

    fn ctx() -> Context {
        Context {
            actor: "a".into(),
            host: "h".into(),
            tool: "custodia test".into(),
            archive: "x".into(),
            signer: None,
        }
    }

    fn chain(drafts: &[Draft]) -> Vec<Vec<u8>> {
        let mut prev = None;
        let mut heads: HashMap<EvidenceId, EventDigest> = HashMap::new();
        let mut out = Vec::new();
        for (i, d) in drafts.iter().enumerate() {
            let item_prev: Vec<_> = d.items.iter().map(|id| heads.get(id).copied()).collect();
            let bytes = ctx()
                .seal(
                    d,
                    i as u64 + 1,
                    prev,
                    &item_prev,
                    "2024-01-01T00:00:00Z".into(),
                )
                .to_canonical();
            let digest = EventDigest::of(&bytes);
            for id in &d.items {
                heads.insert(*id, digest);
            }
            prev = Some(digest);
            out.push(bytes);
        }
        out
    }

    fn walk(events: &[Vec<u8>]) -> Vec<Break> {
        let mut w = ChainWalker::whole_log();
        for (i, e) in events.iter().enumerate() {
            w.feed(i as u64 + 1, e);
        }
        w.breaks
    }

    fn sample() -> Vec<Vec<u8>> {
        let one = EvidenceId::new(1);
        chain(&[
            Draft::new(Action::Init),
            Draft::new(Action::Ingest).item(one).detail("name", "a.txt"),
            Draft::new(Action::Extract).item(one),
        ])
    }

    #[test]
    fn canonical_bytes_have_sorted_keys_and_no_spaces() {
        let e = &sample()[1];
        let text = std::str::from_utf8(e).unwrap();
        assert!(text.starts_with(r#"{"action":"ingest","actor":"a","archive":"x","case":null,"details":{"name":"a.txt"}"#), "{text}");
        assert!(!text.contains(": ") && !text.contains(", "));
        let parsed = Event::parse(e).unwrap();
        assert_eq!(
            parsed.to_canonical(),
            *e,
            "parse and re-encode gives the same bytes"
        );
    }

    #[test]
    fn an_intact_chain_has_no_breaks() {
        assert_eq!(walk(&sample()), vec![]);
    }

    #[test]
    fn edits_removals_and_reorders_are_found() {
        let events = sample();
        let mut edited = events.clone();
        edited[1] = String::from_utf8(edited[1].clone())
            .unwrap()
            .replace("a.txt", "b.txt")
            .into_bytes();
        let found = walk(&edited);
        assert!(found.contains(&Break::Prev { seq: 3 }), "{found:?}");
        assert!(found.contains(&Break::ItemPrev {
            seq: 3,
            item: "EV-000001".into()
        }));

        let removed = vec![events[0].clone(), events[2].clone()];
        let found = walk(&removed);
        assert!(
            found.iter().any(|b| matches!(b, Break::Sequence { .. })),
            "{found:?}"
        );

        let reordered = vec![events[0].clone(), events[2].clone(), events[1].clone()];
        assert!(!walk(&reordered).is_empty());

        let mut garbage = events.clone();
        garbage[2] = b"{not json".to_vec();
        assert!(matches!(
            walk(&garbage)[0],
            Break::Unreadable { seq: 3, .. }
        ));
    }

    #[test]
    fn item_chains_alone_check_a_subset() {
        let events = sample();
        let mut w = ChainWalker::item_chains();
        w.feed(2, &events[1]);
        w.feed(3, &events[2]);
        assert_eq!(w.breaks, vec![]);

        let mut w = ChainWalker::item_chains();
        w.feed(3, &events[2]);
        assert_eq!(
            w.breaks,
            vec![Break::ItemPrev {
                seq: 3,
                item: "EV-000001".into()
            }]
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Fuzzing custody lines: any bytes, alone or after a valid event, are a break or an
        /// event, never a panic.
        #[test]
        fn no_line_makes_the_chain_walker_panic(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
            let mut whole = ChainWalker::whole_log();
            let mut items = ChainWalker::item_chains();
            for (i, line) in lines.iter().enumerate() {
                whole.feed(i as u64 + 1, line);
                items.feed(i as u64 + 1, line);
            }
            prop_assert_eq!(whole.events, lines.len() as u64);
        }

        /// JSON-shaped garbage gets further into the parser than random bytes do.
        #[test]
        fn json_shaped_lines_never_panic(seq: u64, v: u32, id in "[A-Z]{2}-[0-9]{1,8}", prev in proptest::option::of("[0-9a-f]{0,70}")) {
            let line = serde_json::json!({
                "action": "ingest", "actor": "a", "archive": "x", "case": null, "details": {},
                "host": "h", "items": [{"id": id, "prev": prev}], "prev": null, "reason": null,
                "seq": seq, "time": "t", "tool": "t", "v": v,
            });
            let bytes = serde_json::to_vec(&line).unwrap();
            let mut w = ChainWalker::whole_log();
            let parsed = w.feed(1, &bytes);
            prop_assert_eq!(parsed.is_some(), v == EVENT_VERSION);
        }
    }
}
