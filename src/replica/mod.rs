//! Off-site replicas on S3-compatible object storage (issue 13): `replica add|list|remove`,
//! `push`, `verify --replica` and `restore`.
//!
//! A replica is a bucket prefix holding write-once objects, encrypted client-side to age
//! recipients: whole closed volumes, the custody log in append-only segments, the content
//! records the log's ingests introduced, and one manifest per push (docs/FORMAT.md,
//! "Replicas"). Which replicas exist and what each push stored is recorded in the custody
//! log only; credentials come from the environment or an AWS profile and are never recorded.

mod check;
mod credentials;
mod crypt;
mod layout;
mod push;
mod registry;
mod remote;
mod restore;
mod tail;

pub use crate::error::{RemoteError, RemoteFailure};
pub use crate::findings::ReplicaFinding;
pub use check::{ReadData, ReplicaVerifyOptions, ReplicaVerifyReport};
pub use crypt::AGE_MAGIC;
pub use layout::{DATA_DIR, MANIFEST_DIR, Manifest, Stored, What};
pub use push::PushReport;
pub use registry::{PushRecord, Replica, ReplicaOptions};
pub use remote::{Endpoint, Listed, Remote, parse_url};
pub use restore::{RestoreOptions, RestoreReport, restore};

/// Progress of a transfer, in bytes sent or received; called from several threads.
pub trait TransferProgress: Sync {
    fn bytes(&self, _n: u64) {}
}

impl TransferProgress for () {}
