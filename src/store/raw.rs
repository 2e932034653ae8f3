//! Whole volumes as plain entries: what a replica copies out of an archive and back in.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::Path;

use super::{PACK_TREE, VOLUME_TREE, open_sled, volume_path};
use crate::durable;
use crate::error::{Error, Result};

/// Key and value pairs of a volume's tree, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The tree a volume keeps its chunks in and all its entries. sled writes to every
/// database it opens, but never to the tree: the volume's chunks are read, not changed.
pub fn volume_entries(volumes: &Path, number: u32) -> Result<(&'static str, Entries)> {
    let path = volume_path(volumes, number);
    if !path.is_dir() {
        return Err(Error::Damaged(format!(
            "volume {} is missing; run verify",
            path.display()
        )));
    }
    let db = open_sled(&path, 4 << 20)?;
    let names = db.tree_names();
    let tree = [PACK_TREE, VOLUME_TREE]
        .into_iter()
        .find(|t| names.iter().any(|n| n == t.as_bytes()))
        .ok_or_else(|| {
            Error::Damaged(format!(
                "volume {} holds no chunks; run verify",
                path.display()
            ))
        })?;
    let mut entries = Vec::new();
    for entry in db.open_tree(tree)?.iter() {
        let (k, v) = entry?;
        entries.push((k.to_vec(), v.to_vec()));
    }
    Ok((tree, entries))
}

/// Writes volume `number` under `volumes` with these entries in `tree`, and fsyncs it.
pub fn write_volume(volumes: &Path, number: u32, tree: &str, entries: Entries) -> Result<()> {
    let path = volume_path(volumes, number);
    let db = open_sled(&path, 4 << 20)?;
    let opened = db.open_tree(tree)?;
    for (k, value) in entries {
        opened.insert(k, value)?;
    }
    db.flush()?;
    drop(opened);
    drop(db);
    durable::sync_tree(&path, &mut HashSet::<OsString>::new())
}
