//! The library's error type: each failure a command can meet, with a stable `kind` for scripts.

use std::io;
use std::path::{Path, PathBuf};

mod remote;
mod timestamp;

pub use remote::{RemoteError, RemoteFailure};
pub use timestamp::TimestampError;

use crate::ids::{CaseId, EvidenceId, ParseIdError};
use crate::text::escape_path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a command could not do its work. Findings of `verify` are not errors: see `findings::Finding`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no custodia archive at {} (create one with `custodia init`)", escape_path(.0))]
    NoArchive(PathBuf),
    #[error("{} is not a custodia archive (no FORMAT file in it)", escape_path(.0))]
    NotAnArchive(PathBuf),
    #[error("{} already exists and is not empty; init creates a new archive only", escape_path(.0))]
    ArchiveExists(PathBuf),
    #[error("archive is in use by another custodia process ({}); retry later or pass --wait", escape_path(.0))]
    Locked(PathBuf),
    #[error(
        "archive format {found} is not supported by this custodia (it reads formats 1 to {supported})"
    )]
    UnsupportedFormat { found: String, supported: u32 },
    #[error("the archive database {} is damaged and cannot be opened: {detail}", escape_path(.path))]
    DatabaseDamaged { path: PathBuf, detail: String },
    #[error("stored data is damaged: {0}")]
    Damaged(String),
    #[error(
        "the custody log is not whole: {0}; nothing is written until it is recovered (docs/FORMAT.md, \"Recovering a log that lost events\")"
    )]
    CustodyGap(String),
    #[error("{}", io_message(.path, .source))]
    Io { path: PathBuf, source: io::Error },
    #[error("database error: {0}")]
    Database(String),
    #[error("no case {0} in this archive")]
    UnknownCase(CaseId),
    #[error("case {0} already exists")]
    CaseExists(CaseId),
    #[error("no evidence item {0} in this archive")]
    UnknownItem(String),
    #[error("{prefix} matches several items ({}); name one by its EV- id (a hash shared by several items cannot)", .matches.join(", "))]
    AmbiguousItem {
        prefix: String,
        matches: Vec<String>,
    },
    #[error("{0} is not in case {1}")]
    NotInCase(EvidenceId, CaseId),
    #[error("{0} is already in case {1}")]
    AlreadyLinked(EvidenceId, CaseId),
    #[error("{0} already has these values; nothing was recorded")]
    NoChange(EvidenceId),
    #[error("an annotation needs a reason (--reason), and it must not be blank")]
    NoReason,
    #[error(transparent)]
    BadId(#[from] ParseIdError),
    #[error("{0:?} is not an RFC 3339 date and time (e.g. 2024-03-02T14:05:00Z)")]
    BadDate(String),
    #[error("{0:?} is not a valid tag (1 to 128 characters, no control characters)")]
    BadTag(String),
    #[error("{} does not exist", escape_path(.0))]
    MissingInput(PathBuf),
    #[error("{} is not a bundle directory", escape_path(.0))]
    NotABundle(PathBuf),
    #[error("{} already exists; choose a new output path", escape_path(.0))]
    OutputExists(PathBuf),
    #[error("the output directory {} does not exist", escape_path(.0))]
    NoOutputDir(PathBuf),
    #[error("the archive {} was opened read-only; nothing can be recorded", escape_path(.0))]
    ReadOnly(PathBuf),
    #[error("no signing key at {} (create one with `custodia key generate --out PATH`)", escape_path(.0))]
    KeyMissing(PathBuf),
    #[error("the key {} cannot be used: {why}", escape_path(.path))]
    KeyUnusable { path: PathBuf, why: String },
    #[error(
        "the signing key {fingerprint} was revoked at event {seq} ({reason}); sign with another key (--key)"
    )]
    KeyRevoked {
        fingerprint: String,
        seq: u64,
        reason: String,
    },
    #[error(
        "no home or config directory to keep a signing key in; pass --key PATH or set CUSTODIA_KEY"
    )]
    NoKeyHome,
    #[error("no key {0} is registered in this archive (see `custodia key list`)")]
    UnknownKey(String),
    #[error(
        "this archive made no time-stamp request that the response answers (run `custodia timestamp request` first)"
    )]
    NoPendingTimestamp,
    #[error(transparent)]
    Timestamp(TimestampError),
    #[error("no replica {0} in this archive (see `custodia replica list`)")]
    UnknownReplica(String),
    #[error("a replica named {0} already exists; remove it first or choose another name")]
    ReplicaExists(String),
    #[error("{0}")]
    BadReplica(String),
    #[error(
        "say how the replica's objects are encrypted: --encrypt-to age1… (repeatable), or --plaintext to store them unencrypted on someone else's server"
    )]
    EncryptionUnspecified,
    #[error("{0}")]
    Remote(RemoteError),
    #[error("the replica object {object} is damaged: {why}")]
    ReplicaDamaged { object: String, why: String },
    #[error("{0}")]
    Identity(String),
}

fn io_message(path: &Path, source: &io::Error) -> String {
    if source.kind() == io::ErrorKind::StorageFull {
        return format!(
            "no space left on the device while writing {}",
            escape_path(path)
        );
    }
    format!("{}: {}", escape_path(path), source)
}

impl Error {
    /// A stable, machine-readable name for the failure; messages may change, kinds may not.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NoArchive(_) => "no_archive",
            Error::NotAnArchive(_) => "not_an_archive",
            Error::ArchiveExists(_) => "archive_exists",
            Error::Locked(_) => "locked",
            Error::UnsupportedFormat { .. } => "unsupported_format",
            Error::DatabaseDamaged { .. } | Error::Damaged(_) => "damaged",
            Error::CustodyGap(_) => "custody_gap",
            Error::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull => "no_space",
            Error::Io { .. } => "io",
            Error::Database(_) => "database",
            Error::UnknownCase(_) => "unknown_case",
            Error::CaseExists(_) => "case_exists",
            Error::UnknownItem(_) => "unknown_item",
            Error::AmbiguousItem { .. } => "ambiguous_item",
            Error::AlreadyLinked(..) => "already_linked",
            Error::NoChange(_) => "no_change",
            Error::NoReason => "bad_input",
            Error::NotInCase(..) => "not_in_case",
            Error::BadId(_) | Error::BadDate(_) | Error::BadTag(_) => "bad_input",
            Error::MissingInput(_) => "missing_input",
            Error::NotABundle(_) => "not_a_bundle",
            Error::OutputExists(_) => "output_exists",
            Error::NoOutputDir(_) => "no_output_dir",
            Error::ReadOnly(_) => "read_only",
            Error::KeyMissing(_) => "key_missing",
            Error::KeyUnusable { .. } => "key_unusable",
            Error::KeyRevoked { .. } => "key_revoked",
            Error::NoKeyHome => "key_missing",
            Error::UnknownKey(_) => "unknown_key",
            Error::NoPendingTimestamp => "no_pending_timestamp",
            Error::Timestamp(e) => e.kind(),
            Error::UnknownReplica(_) => "unknown_replica",
            Error::ReplicaExists(_) => "replica_exists",
            Error::BadReplica(_) => "bad_input",
            Error::EncryptionUnspecified => "encryption_unspecified",
            Error::Remote(e) => e.kind(),
            Error::ReplicaDamaged { .. } => "replica_damaged",
            Error::Identity(_) => "wrong_identity",
        }
    }

    /// True for failures of the machine rather than of the data (no space, no permission,
    /// a read-only file system): verify then could not check, which is not a finding.
    pub fn is_environmental(&self) -> bool {
        use io::ErrorKind::*;
        matches!(self, Error::Io { source, .. }
            if matches!(source.kind(), StorageFull | PermissionDenied | ReadOnlyFilesystem | QuotaExceeded | OutOfMemory))
    }

    /// True when the failure means stored data was found damaged (exit code 3).
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            Error::DatabaseDamaged { .. }
                | Error::Damaged(_)
                | Error::CustodyGap(_)
                | Error::ReplicaDamaged { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(source) => Error::Io {
                path: PathBuf::from("archive database"),
                source,
            },
            sled::Error::Corruption { .. } => Error::Damaged(format!("database: {e}")),
            other => Error::Database(other.to_string()),
        }
    }
}

impl From<sled::transaction::TransactionError<Error>> for Error {
    fn from(e: sled::transaction::TransactionError<Error>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(inner) => inner,
            sled::transaction::TransactionError::Storage(s) => s.into(),
        }
    }
}
