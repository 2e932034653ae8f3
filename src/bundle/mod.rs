//! Court bundles: `export` writes a BagIt bag of a case, `verify --bundle` checks one without the archive.

mod bagit;
mod check;
pub mod court;
mod export;
pub(crate) mod finding;
pub mod layout;

pub use check::{BundleTrust, verify_bundle};
pub use export::{ExportOptions, ExportPlan, ExportReport, LeftOut, LeftOutReason, PlannedItem};
