//! The metadata index: cases, evidence items, their links, tags and attachments, the
//! content records and the custody log, in sled trees only this module names.
//!
//! `Catalog` reads them (decoded records, and the raw entries `verify` checks); `Tx` writes
//! them inside one transaction. The key layout is in `keys`, the records in `records`.

pub mod keys;
mod read;
mod rebuild;
mod records;
mod restore;
mod tx;

pub use read::{Catalog, ChunkLocations, RawEntries};
pub use rebuild::{Rebuilt, VolumeScan, rebuild_index};
pub use records::{
    ArchiveMeta, CaseRecord, ChunkRef, ContentRecord, CurrentRecord, Head, ItemRecord, KeyRecord,
    LinkRecord,
};
pub use restore::Restoring;
pub(crate) use tx::{Sealed, Tx, TxResult, abort};
