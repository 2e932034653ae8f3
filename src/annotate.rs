//! `annotate`: an item's tags, source, note or capture time changed after ingest (issue 12,
//! point 2), recorded as a signed `annotate` event. Nothing is overwritten: the index keeps
//! the current values, the log every earlier one.

use crate::archive::{Archive, abort};
use crate::custody::annotation::Metadata;
use crate::custody::details::AnnotateDetails;
use crate::error::{Error, Result};
use crate::ids::{EvidenceId, ItemRef};

/// What to change of one item, and why.
#[derive(Clone, Debug)]
pub struct AnnotateOptions {
    pub item: ItemRef,
    /// Tags to add and remove (compared without regard to case, as `list --tag` does),
    /// the new source, note and capture time (as written: docs/CLI.md, "Times").
    pub change: AnnotateDetails,
    /// Why: required, recorded as the event's `reason`.
    pub reason: String,
}

/// What an annotation recorded.
#[derive(Clone, Debug)]
pub struct Annotated {
    pub id: EvidenceId,
    /// The `annotate` event.
    pub seq: u64,
    /// What changed, as the event records it.
    pub change: AnnotateDetails,
    /// The item's values now.
    pub metadata: Metadata,
}

impl Archive {
    /// Records an annotation, durable before it returns. A request that changes nothing
    /// (a tag already there, the same source) is refused with `NoChange`, nothing written.
    pub fn annotate(&mut self, opts: &AnnotateOptions) -> Result<Annotated> {
        if opts.reason.trim().is_empty() {
            return Err(Error::NoReason);
        }
        let id = self.resolve(&opts.item)?.id;
        // Asked before the transaction too, so that a refusal opens nothing for writing.
        if self.metadata(id)?.change(&opts.change).is_empty() {
            return Err(Error::NoChange(id));
        }
        let (seq, change) =
            self.commit(|tx| match tx.annotate(id, &opts.change, &opts.reason)? {
                Some(done) => Ok(done),
                None => abort(Error::NoChange(id)),
            })?;
        Ok(Annotated {
            id,
            seq,
            change,
            metadata: self.metadata(id)?,
        })
    }

    /// An item's current source, note, tags and capture time: as its last annotation left
    /// them, else as given at ingest.
    pub fn metadata(&self, id: EvidenceId) -> Result<Metadata> {
        match self.catalog.current(id)? {
            Some(current) => Ok(current.metadata),
            None => Ok(self.item(id)?.ingest_metadata()),
        }
    }
}
