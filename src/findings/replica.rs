//! What `verify --replica` finds about the objects of an off-site replica.

use std::fmt;

use super::ProblemKind;

/// A problem with one object of a replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaFinding {
    /// A push stored it; the server does not list it.
    Missing { object: String, what: String },
    /// The server lists it; no push of this archive's recorded it.
    Extra { object: String, size: u64 },
    /// It has another size than the one stored.
    Truncated {
        object: String,
        what: String,
        size: u64,
        stored: u64,
    },
    /// Its bytes (or its ETag) are not the ones stored, or it does not decrypt.
    Altered {
        object: String,
        what: String,
        why: String,
    },
}

impl ReplicaFinding {
    pub fn kind(&self) -> ProblemKind {
        match self {
            ReplicaFinding::Missing { .. } => ProblemKind::ReplicaObjectMissing,
            ReplicaFinding::Extra { .. } => ProblemKind::ReplicaObjectExtra,
            ReplicaFinding::Truncated { .. } => ProblemKind::ReplicaObjectTruncated,
            ReplicaFinding::Altered { .. } => ProblemKind::ReplicaObjectAltered,
        }
    }

    /// The object's name under the replica's prefix.
    pub fn subject(&self) -> String {
        match self {
            ReplicaFinding::Missing { object, .. }
            | ReplicaFinding::Extra { object, .. }
            | ReplicaFinding::Truncated { object, .. }
            | ReplicaFinding::Altered { object, .. } => object.clone(),
        }
    }
}

impl fmt::Display for ReplicaFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaFinding::Missing { what, .. } if what.starts_with("push/") => write!(
                f,
                "the replica lacks this object ({what}), the push event's own record, which its push was to store after committing it; push again to send it"
            ),
            ReplicaFinding::Missing { what, .. } => write!(
                f,
                "the replica lacks this object ({what}), which a push stored; push again to send it"
            ),
            ReplicaFinding::Extra { size, .. } => write!(
                f,
                "the replica holds this object ({size} bytes), which no push of this archive recorded (left by an interrupted push, or put there by someone else)"
            ),
            ReplicaFinding::Truncated {
                what, size, stored, ..
            } => write!(
                f,
                "this object ({what}) has {size} bytes where a push stored {stored}"
            ),
            ReplicaFinding::Altered { what, why, .. } => {
                write!(f, "this object ({what}) is not what a push stored: {why}")
            }
        }
    }
}
