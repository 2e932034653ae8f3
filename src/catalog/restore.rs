//! The custody log and the content records written into a new, empty index, as a replica
//! holds them: what `restore` puts back before the rest is rebuilt from them.

use crate::codec;
use crate::custody::disclosure::Openings;
use crate::error::Result;

/// Writes events and content records into a new index's trees.
pub struct Restoring {
    custody: sled::Tree,
    contents: sled::Tree,
    openings: sled::Tree,
}

impl Restoring {
    pub fn new(db: &sled::Db) -> Result<Self> {
        Ok(Restoring {
            custody: db.open_tree("custody")?,
            contents: db.open_tree("contents")?,
            openings: db.open_tree(super::keys::OPENINGS_TREE)?,
        })
    }

    /// Event `seq`, its canonical line as stored.
    pub fn put_event(&self, seq: u64, line: &[u8]) -> Result<()> {
        self.custody
            .insert(codec::u64_key(seq), codec::encode_event(line))?;
        Ok(())
    }

    /// The openings of event `seq`'s committed fields, read back from a replica.
    pub fn put_openings(&self, seq: u64, openings: &Openings) -> Result<()> {
        self.openings
            .insert(codec::u64_key(seq), codec::encode_openings(openings))?;
        Ok(())
    }

    /// A content record, already checked to decode.
    pub fn put_content(&self, id: &[u8], record: &[u8]) -> Result<()> {
        self.contents.insert(id, record)?;
        Ok(())
    }
}
