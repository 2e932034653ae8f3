//! custodia: an evidence archive. Files are stored once under their BLAKE3 hash with SHA-256
//! beside it, linked to cases, and every action on them is a hash-chained custody event.
//!
//! [`Archive`] is the facade; each command's work lives in its own module.

mod anchors;
mod annotate;
mod archive;
pub mod bag_layout;
mod bundle;
mod cases;
pub mod catalog;
pub mod codec;
pub mod custody;
mod durable;
mod error;
mod extract;
mod fault;
pub mod findings;
pub mod ids;
mod ingest;
mod keyring;
pub mod keys;
mod query;
pub mod replica;
pub mod store;
pub mod text;
pub mod timestamp;
mod verify;
mod walk;

pub use anchors::{SignedCheckpoint, Timestamped};
pub use annotate::{AnnotateOptions, Annotated};
pub use archive::{
    Archive, DB_DIR, FORMAT_FILE, FORMAT_VERSION, HEAD_FILE, LOCK_FILE, OpenOptions, tool_version,
};
pub use bundle::{
    BundleTrust, ExportOptions, ExportPlan, ExportProgress, ExportReport, LeftOut, LeftOutReason,
    PlannedItem, verify_bundle,
};
pub use cases::Linked;
pub use catalog::{CaseRecord, KeyRecord};
pub use custody::disclosure::Reveal;
pub use error::{Error, Result};
pub use extract::Extracted;
pub use findings::{Checked, Finding, ProblemKind, VerifyReport};
pub use ingest::{IngestOptions, IngestProgress, IngestReport, Ingested, Skipped, Status};
pub use query::{ItemDetail, ItemView, ListFilter, Logged};
pub use text::{is_portable_name, safe_file_name};
pub use verify::{Chooser, Subset, VerifyOptions, VerifyProgress, verify_archive};
