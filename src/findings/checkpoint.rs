//! Why a checkpoint is not borne out by the log: the findings of `verify --against`, and
//! of a bundle's proof.

use std::fmt;

/// Why a checkpoint is not borne out by the log (`verify --against`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointFinding {
    /// The file is not a checkpoint.
    Unreadable(String),
    /// A checkpoint of another log.
    OtherArchive { origin: String },
    /// No key this log registers signed it.
    Unsigned,
    /// It states more events than the log holds: the log was rolled back.
    Ahead { size: u64, have: u64 },
    /// The log's first `size` events are not the tree it states: the log was rewritten.
    Rewritten { size: u64 },
    /// A bundle's checkpoint does not end at its export event.
    NotAtExport { size: u64 },
    /// A bundle's event with no valid inclusion proof in its checkpoint's tree.
    NotIncluded { seq: u64 },
}

impl fmt::Display for CheckpointFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointFinding::Unreadable(why) => write!(f, "the checkpoint cannot be read: {why}"),
            CheckpointFinding::OtherArchive { origin } => {
                write!(
                    f,
                    "the checkpoint is of another log ({origin:?}), not of this archive"
                )
            }
            CheckpointFinding::Unsigned => {
                f.write_str("the checkpoint is not signed by any key this archive's log registers")
            }
            CheckpointFinding::Ahead { size, have } => write!(
                f,
                "the checkpoint covers {size} events but the log holds {have}: events {} to {size} are missing (the archive was rolled back or lost events)",
                have + 1
            ),
            CheckpointFinding::NotAtExport { size } => write!(
                f,
                "the bundle's checkpoint covers {size} events, which does not end at its export event"
            ),
            CheckpointFinding::NotIncluded { seq } => write!(
                f,
                "event {seq} is not in the checkpoint's tree (no valid inclusion proof): it was changed, added or its proof removed"
            ),
            CheckpointFinding::Rewritten { size } => write!(
                f,
                "the log's first {size} events are not the tree the checkpoint states: events among 1 to {size} were changed, removed or reordered"
            ),
        }
    }
}
