//! Chunk volumes and packs read and rewritten through sled directly, as a tamperer would
//! (docs/FORMAT.md, "Volumes" and "Finding a chunk").

use super::*;

/// Where a chunk's record is, from its `chunk_volumes` entry (docs/FORMAT.md, "Finding a chunk").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkAt {
    /// Format 1, `[1][volume u32 LE]`: `chunks[id]` of the volume.
    Record(u32),
    /// Format 2, `[2][volume][pack][offset]`: the entry at `offset` of `packs[pack BE]`.
    Packed { volume: u32, pack: u32, offset: u32 },
}

impl ChunkAt {
    pub fn volume(self) -> u32 {
        match self {
            ChunkAt::Record(v) | ChunkAt::Packed { volume: v, .. } => v,
        }
    }

    fn encode(self) -> Vec<u8> {
        match self {
            ChunkAt::Record(v) => [&[1u8][..], &v.to_le_bytes()].concat(),
            ChunkAt::Packed {
                volume,
                pack,
                offset,
            } => [
                &[2u8][..],
                &volume.to_le_bytes(),
                &pack.to_le_bytes(),
                &offset.to_le_bytes(),
            ]
            .concat(),
        }
    }
}

/// The entries of a pack: `[1]` then `(id [32], len u32 LE, record)` to the end.
pub fn pack_entries(pack: &[u8]) -> Vec<([u8; 32], Vec<u8>)> {
    assert_eq!(pack[0], 1, "pack version byte");
    let mut out = Vec::new();
    let mut at = 1;
    while at < pack.len() {
        let id: [u8; 32] = pack[at..at + 32].try_into().unwrap();
        let len = u32::from_le_bytes(pack[at + 32..at + 36].try_into().unwrap()) as usize;
        out.push((id, pack[at + 36..at + 36 + len].to_vec()));
        at += 36 + len;
    }
    out
}

impl Env {
    /// Where the index says a chunk is. Open only while no custodia runs.
    pub fn chunk_at(&self, chunk_id: &[u8]) -> ChunkAt {
        let db = self.sled();
        let v = db
            .open_tree("chunk_volumes")
            .expect("tree")
            .get(chunk_id)
            .expect("get")
            .expect("chunk has a location");
        close_sled(db, &self.archive.join("db"));
        let n = |i: usize| u32::from_le_bytes(v[1 + 4 * i..5 + 4 * i].try_into().unwrap());
        match (v[0], v.len()) {
            (1, 5) => ChunkAt::Record(n(0)),
            (2, 13) => ChunkAt::Packed {
                volume: n(0),
                pack: n(1),
                offset: n(2),
            },
            other => panic!("chunk location record {other:?}"),
        }
    }

    /// The volume recorded for a chunk.
    pub fn chunk_volume(&self, chunk_id: &[u8]) -> u32 {
        self.chunk_at(chunk_id).volume()
    }

    pub fn volume_dir(&self, number: u32) -> PathBuf {
        self.archive.join("volumes").join(format!("{number:06}"))
    }

    /// The sled database of one volume: `ARCHIVE/volumes/NNNNNN`.
    pub fn volume_db(&self, number: u32) -> sled::Db {
        sled::open(self.volume_dir(number)).expect("open volume")
    }

    /// A chunk's stored record, read through sled directly.
    pub fn chunk_record(&self, chunk_id: &[u8]) -> Vec<u8> {
        let at = self.chunk_at(chunk_id);
        let db = self.volume_db(at.volume());
        let record = match at {
            ChunkAt::Record(_) => db
                .open_tree("chunks")
                .unwrap()
                .get(chunk_id)
                .unwrap()
                .expect("chunk record")
                .to_vec(),
            ChunkAt::Packed { pack, offset, .. } => {
                let bytes = db
                    .open_tree("packs")
                    .unwrap()
                    .get(pack.to_be_bytes())
                    .unwrap()
                    .expect("pack");
                let at = offset as usize;
                assert_eq!(&bytes[at..at + 32], chunk_id, "the entry holds the chunk");
                let len = u32::from_le_bytes(bytes[at + 32..at + 36].try_into().unwrap()) as usize;
                bytes[at + 36..at + 36 + len].to_vec()
            }
        };
        close_sled(db, &self.volume_dir(at.volume()));
        record
    }

    /// Replaces a chunk's stored record (or, with `None`, removes it) through sled directly,
    /// as a tamperer would. In a pack the entry is rewritten (or dropped) and the locations
    /// of the entries after it in the same pack follow, so only this chunk is damaged.
    pub fn set_chunk_record(&self, chunk_id: &[u8], record: Option<&[u8]>) {
        let at = self.chunk_at(chunk_id);
        let dir = self.volume_dir(at.volume());
        let db = self.volume_db(at.volume());
        let ChunkAt::Packed { volume, pack, .. } = at else {
            let tree = db.open_tree("chunks").unwrap();
            let old = match record {
                Some(r) => tree.insert(chunk_id, r).unwrap(),
                None => tree.remove(chunk_id).unwrap(),
            };
            assert!(old.is_some(), "chunk {} was stored", hex::encode(chunk_id));
            drop(tree);
            close_sled(db, &dir);
            return;
        };
        let tree = db.open_tree("packs").unwrap();
        let bytes = tree.get(pack.to_be_bytes()).unwrap().expect("pack");
        let mut rebuilt = vec![1u8];
        let mut moved = Vec::new();
        let mut found = false;
        for (id, old) in pack_entries(&bytes) {
            let new = if id.as_slice() == chunk_id {
                found = true;
                match record {
                    Some(r) => r.to_vec(),
                    None => continue,
                }
            } else {
                old
            };
            moved.push((id, rebuilt.len() as u32));
            rebuilt.extend_from_slice(&id);
            rebuilt.extend_from_slice(&(new.len() as u32).to_le_bytes());
            rebuilt.extend_from_slice(&new);
        }
        assert!(found, "chunk {} was in its pack", hex::encode(chunk_id));
        tree.insert(pack.to_be_bytes(), rebuilt).unwrap();
        drop(tree);
        close_sled(db, &dir);
        let index = self.sled();
        let locations = index.open_tree("chunk_volumes").unwrap();
        for (id, offset) in moved {
            let at = ChunkAt::Packed {
                volume,
                pack,
                offset,
            };
            locations.insert(id, at.encode()).unwrap();
        }
        drop(locations);
        close_sled(index, &self.archive.join("db"));
    }
}

/// Flushes and closes a sled database opened directly by a test (`Env::sled`, or a volume
/// under `dir`), and waits until sled has really let go of it: its background threads keep
/// the file, and sled's lock on it, for a moment after the drop, and a custodia started
/// meanwhile would find the database locked.
pub fn close_sled(db: sled::Db, dir: &Path) {
    db.flush().expect("flush sled");
    drop(db);
    let file = dir.join("db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let probe = std::fs::File::open(&file).expect("open sled's file");
        match probe.try_lock() {
            Ok(()) => return,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("sled still holds {}: {e:?}", file.display()),
        }
    }
}
