//! The metadata index: cases, evidence items, their links, tags and attachments.

pub mod keys;
mod records;

pub use records::{ArchiveMeta, CaseRecord, Head, ItemRecord, LinkRecord};
