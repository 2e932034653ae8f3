//! Every item's current values in the index (its `m` entry) against its ingest and
//! annotate events, applied in seq order as `Metadata::apply` applies them: an index
//! edited to show other tags, source, note or capture time shows here.

use std::collections::BTreeMap;

use crate::archive::Archive;
use crate::catalog::{CurrentRecord, keys};
use crate::codec;
use crate::custody::details::AnnotateDetails;
use crate::custody::{Action, Event};
use crate::error::Result;
use crate::findings::{Finding, VerifyReport};
use crate::ids::EvidenceId;

/// The annotate events of each item, in seq order (`None`: details that do not read).
type Annotations = BTreeMap<EvidenceId, Vec<(u64, Option<AnnotateDetails>)>>;

impl Archive {
    pub(super) fn check_current(&self, report: &mut VerifyReport) -> Result<()> {
        let mut annotations = self.annotations()?;
        for entry in self.catalog.raw_index_under(&[keys::ITEM_METADATA]) {
            let (key, value) = entry?;
            // Another key under this tag is reported by the index check.
            let Some(item) = key.get(1..).and_then(EvidenceId::from_key) else {
                continue;
            };
            let events = annotations.remove(&item).unwrap_or_default();
            let recorded = codec::decode::<CurrentRecord>("index: current values", &value).ok();
            if let Some(field) = self.current_differs(item, recorded.as_ref(), &events)? {
                report.found(Finding::CurrentAltered { item, field });
            }
        }
        for (item, events) in annotations {
            if let Some((seq, _)) = events.last() {
                let seq = *seq;
                report.found(Finding::CurrentMissing { item, seq });
            }
        }
        Ok(())
    }

    /// Every annotate event of the log, by item. Canonical JSON starts with the action
    /// (keys are sorted), so only annotate events are parsed.
    fn annotations(&self) -> Result<Annotations> {
        let mut out = Annotations::new();
        for entry in self.catalog.raw_events() {
            let (_, value) = entry?;
            let Ok(bytes) = codec::decode_event(&value) else {
                continue;
            };
            if !bytes.starts_with(br#"{"action":"annotate""#) {
                continue;
            }
            // An unreadable event is the chain check's finding.
            let Ok(event) = Event::parse(bytes) else {
                continue;
            };
            if event.action != Action::Annotate {
                continue;
            }
            // Its source and note may be commitments: read it with their openings. An
            // opening that does not read leaves them hidden, and the details unreadable.
            let event = match self.catalog.openings(event.seq) {
                Ok(openings) => event.revealed(&openings),
                Err(_) => event,
            };
            for id in event.item_ids().filter_map(EvidenceId::parse) {
                let details = event.details_as::<AnnotateDetails>();
                out.entry(id).or_default().push((event.seq, details));
            }
        }
        Ok(out)
    }

    /// The first field of an item's current values that its events do not give.
    fn current_differs(
        &self,
        item: EvidenceId,
        recorded: Option<&CurrentRecord>,
        events: &[(u64, Option<AnnotateDetails>)],
    ) -> Result<Option<&'static str>> {
        let Some(recorded) = recorded else {
            return Ok(Some("record"));
        };
        let Some((last, _)) = events.last() else {
            return Ok(Some("annotate event"));
        };
        // An item record that is missing is the index check's finding.
        let Some(record) = self.catalog.item(item).ok().flatten() else {
            return Ok(None);
        };
        let mut expected = record.ingest_metadata();
        for (_, change) in events {
            match change {
                Some(change) => expected.apply(change),
                None => return Ok(Some("annotate event")),
            }
        }
        if recorded.seq != *last {
            return Ok(Some("annotate event"));
        }
        Ok(recorded.metadata.first_difference(&expected))
    }
}
