//! Court bundles: `export` writes a BagIt bag of a case, `verify --bundle` checks one without the archive.

mod bagit;
mod check;
pub mod court;
mod export;
/// Where things are in a bag: kept below the bundle code, so that findings can name files.
pub use crate::bag_layout as layout;
/// The typed findings of a bag live with the others, below the bundle code.
pub(crate) use crate::findings::bag as finding;

pub use check::{BundleTrust, verify_bundle};
pub use export::{
    ExportOptions, ExportPlan, ExportProgress, ExportReport, LeftOut, LeftOutReason, PlannedItem,
};
