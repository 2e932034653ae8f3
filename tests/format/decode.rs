//! Hand-written decoders of custodia's stored records (docs/FORMAT.md), sharing no code with
//! custodia: the meta, case, item, content, link and chunk records, chunk locations, packs.

use super::*;

// ---------------------------------------------------------------------------------------
// A hand-written decoder for FORMAT.md's "Record encoding".

/// Reads one record: the version byte, then bincode's standard configuration with
/// little-endian fixed-width integers, decoded field by field.
pub(super) struct Rec<'a> {
    pub(super) what: String,
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Rec<'a> {
    pub(super) fn new(what: impl Into<String>, bytes: &'a [u8]) -> Self {
        let what = what.into();
        assert_eq!(
            bytes.first(),
            Some(&RECORD_VERSION),
            "{what}: a record starts with version byte 1"
        );
        Rec { what, bytes, at: 1 }
    }

    pub(super) fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.at + n <= self.bytes.len(),
            "{}: record ends at {} but {} more bytes are needed at {}",
            self.what,
            self.bytes.len(),
            n,
            self.at
        );
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        out
    }

    pub(super) fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    pub(super) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }

    pub(super) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }

    pub(super) fn digest(&mut self) -> [u8; 32] {
        self.take(32).try_into().unwrap()
    }

    pub(super) fn len(&mut self) -> usize {
        usize::try_from(self.u64()).unwrap()
    }

    pub(super) fn bytes(&mut self) -> Vec<u8> {
        let n = self.len();
        self.take(n).to_vec()
    }

    pub(super) fn string(&mut self) -> String {
        let what = self.what.clone();
        String::from_utf8(self.bytes()).unwrap_or_else(|_| panic!("{what}: a string is UTF-8"))
    }

    pub(super) fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> T) -> Option<T> {
        match self.u8() {
            0 => None,
            1 => Some(read(self)),
            tag => panic!("{}: option tag {tag} is neither 0 nor 1", self.what),
        }
    }

    pub(super) fn vec<T>(&mut self, mut read: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.len();
        (0..n).map(|_| read(self)).collect()
    }

    /// Every byte must be used: a record has no trailing bytes.
    pub(super) fn end(self) {
        assert_eq!(
            self.at,
            self.bytes.len(),
            "{}: {} bytes left after the last field",
            self.what,
            self.bytes.len() - self.at
        );
    }
}

#[derive(Debug)]
pub(super) struct Meta {
    pub(super) format: u32,
    pub(super) archive_id: String,
    pub(super) created_at: String,
    pub(super) chunk_size: u32,
    pub(super) tool: String,
}

pub(super) fn decode_meta(bytes: &[u8]) -> Meta {
    let mut r = Rec::new("meta/archive", bytes);
    let meta = Meta {
        format: r.u32(),
        archive_id: r.string(),
        created_at: r.string(),
        chunk_size: r.u32(),
        tool: r.string(),
    };
    r.end();
    meta
}

/// `meta/key:<fingerprint>`: (public key, actors, registered at, revoked at, reason).
pub(super) type KeyRec = (String, Vec<String>, u64, Option<u64>, Option<String>);

pub(super) fn decode_key(bytes: &[u8]) -> KeyRec {
    let mut r = Rec::new("meta/key", bytes);
    let key = (
        r.string(),
        r.vec(Rec::string),
        r.u64(),
        r.option(Rec::u64),
        r.option(Rec::string),
    );
    r.end();
    key
}

/// The 32-byte Ed25519 key of an OpenSSH public key line (`ssh-ed25519 <base64 blob>`):
/// the blob is string "ssh-ed25519" then string key, each a u32 BE length and bytes.
pub(super) fn ed25519_from_openssh(line: &str) -> [u8; 32] {
    use base64::Engine as _;
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some("ssh-ed25519"), "{line}");
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next().expect("key blob"))
        .expect("base64 blob");
    let len = |at: usize| u32::from_be_bytes(blob[at..at + 4].try_into().unwrap()) as usize;
    let name_len = len(0);
    assert_eq!(&blob[4..4 + name_len], b"ssh-ed25519");
    let at = 4 + name_len;
    assert_eq!(len(at), 32);
    blob[at + 4..at + 36].try_into().unwrap()
}

/// `SHA256:` and the unpadded base64 of SHA-256 of the key blob: what ssh-keygen -l prints.
pub(super) fn openssh_fingerprint(line: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(line.split_whitespace().nth(1).expect("key blob"))
        .unwrap();
    let digest = sha2::Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

pub(super) fn decode_head(bytes: &[u8]) -> (u64, [u8; 32]) {
    let mut r = Rec::new("meta/head", bytes);
    let head = (r.u64(), r.digest());
    r.end();
    head
}

pub(super) fn decode_u64(what: &str, bytes: &[u8]) -> u64 {
    let mut r = Rec::new(what, bytes);
    let n = r.u64();
    r.end();
    n
}

#[derive(Debug)]
pub(super) struct Case {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) created_at: String,
    pub(super) actor: String,
    pub(super) seq: u64,
}

pub(super) fn decode_case(bytes: &[u8]) -> Case {
    let mut r = Rec::new("case", bytes);
    let case = Case {
        id: r.string(),
        title: r.string(),
        description: r.option(Rec::string),
        created_at: r.string(),
        actor: r.string(),
        seq: r.u64(),
    };
    r.end();
    case
}

#[derive(Debug)]
pub(super) struct Item {
    pub(super) id: u64,
    pub(super) blake3: [u8; 32],
    pub(super) sha256: [u8; 32],
    pub(super) size: u64,
    pub(super) name: Vec<u8>,
    pub(super) path: Vec<u8>,
    pub(super) source: Option<String>,
    pub(super) note: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) captured_at: Option<String>,
    pub(super) modified_at: Option<String>,
    pub(super) ingested_at: String,
    pub(super) actor: String,
    pub(super) parent: Option<u64>,
    pub(super) case: String,
    pub(super) seq: u64,
}

pub(super) fn decode_item(bytes: &[u8]) -> Item {
    let mut r = Rec::new("item", bytes);
    let item = Item {
        id: r.u64(),
        blake3: r.digest(),
        sha256: r.digest(),
        size: r.u64(),
        name: r.bytes(),
        path: r.bytes(),
        source: r.option(Rec::string),
        note: r.option(Rec::string),
        tags: r.vec(Rec::string),
        captured_at: r.option(Rec::string),
        modified_at: r.option(Rec::string),
        ingested_at: r.string(),
        actor: r.string(),
        parent: r.option(Rec::u64),
        case: r.string(),
        seq: r.u64(),
    };
    r.end();
    item
}

#[derive(Debug)]
pub(super) struct Content {
    pub(super) size: u64,
    pub(super) sha256: [u8; 32],
    pub(super) chunks: Vec<([u8; 32], u32)>,
}

pub(super) fn decode_content(bytes: &[u8]) -> Content {
    let mut r = Rec::new("content", bytes);
    let content = Content {
        size: r.u64(),
        sha256: r.digest(),
        chunks: r.vec(|r| (r.digest(), r.u32())),
    };
    r.end();
    content
}

pub(super) fn decode_link(bytes: &[u8]) -> (String, u64) {
    let mut r = Rec::new("link", bytes);
    let link = (r.string(), r.u64());
    r.end();
    link
}

/// A stored chunk: `[1][compression][raw_len u32 LE][payload]`, decoded and checked against its key.
pub(super) fn decode_chunk(key: &[u8], stored: &[u8]) -> (u8, Vec<u8>) {
    assert_eq!(stored[0], RECORD_VERSION, "chunk version byte");
    assert!(stored.len() >= 6, "chunk record shorter than its header");
    let compression = stored[1];
    let raw_len = u32::from_le_bytes(stored[2..6].try_into().unwrap()) as usize;
    assert!(raw_len <= MAX_CHUNK, "chunk claims {raw_len} bytes");
    let payload = &stored[6..];
    let raw = match compression {
        0 => payload.to_vec(),
        1 => zstd::stream::decode_all(payload).expect("one zstd frame"),
        other => panic!("unknown compression byte {other}"),
    };
    assert_eq!(raw.len(), raw_len, "chunk holds the length its header says");
    assert_eq!(
        blake3::hash(&raw).as_bytes().as_slice(),
        key,
        "a chunk's key is the BLAKE3 of its uncompressed bytes"
    );
    (compression, raw)
}

/// A chunk location (value of `chunk_volumes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Location {
    /// Format 1, `[1][volume u32 LE]`: the record is `chunks[id]` in the volume.
    Record(u32),
    /// Format 2, `[2][volume u32 LE][pack u32 LE][offset u32 LE]`: the entry at `offset`
    /// of `packs[pack u32 BE]` in the volume.
    Packed(u32, u32, u32),
}

impl Location {
    pub(super) fn volume(self) -> u32 {
        match self {
            Location::Record(v) | Location::Packed(v, _, _) => v,
        }
    }
}

pub(super) fn decode_location(bytes: &[u8]) -> Location {
    match bytes[0] {
        1 => {
            let mut r = Rec::new("chunk location", bytes);
            let volume = r.u32();
            r.end();
            Location::Record(volume)
        }
        2 => {
            assert_eq!(bytes.len(), 13, "a packed location is 13 bytes");
            let n = |i: usize| u32::from_le_bytes(bytes[1 + 4 * i..5 + 4 * i].try_into().unwrap());
            Location::Packed(n(0), n(1), n(2))
        }
        v => panic!("chunk location version {v}"),
    }
}

/// A pack: `[1]`, then entries `[chunk id 32][record length u32 LE][chunk record]` to its end.
/// Returns `(offset, id, record)` per entry.
pub(super) fn decode_pack(pack: &[u8]) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
    assert_eq!(pack[0], RECORD_VERSION, "pack version byte");
    let mut out = Vec::new();
    let mut at = 1;
    while at < pack.len() {
        assert!(at + 36 <= pack.len(), "a whole entry header at {at}");
        let id = pack[at..at + 32].to_vec();
        let len = u32::from_le_bytes(pack[at + 32..at + 36].try_into().unwrap()) as usize;
        let end = at + 36 + len;
        assert!(end <= pack.len(), "a whole record at {at}");
        out.push((at as u32, id, pack[at + 36..end].to_vec()));
        at = end;
    }
    out
}

/// `ARCHIVE/volumes/NNNNNN`: six decimal digits.
pub(super) fn volume_dir(archive: &Path, number: u32) -> PathBuf {
    archive.join(VOLUMES_DIR).join(format!("{number:06}"))
}

/// Chunk records found the way FORMAT.md says: the chunk's `chunk_volumes` entry names the
/// volume and, in format 2, the pack and offset. Each volume is opened once (sled locks a
/// database against a second opening, even in the same process).
pub(super) struct ChunkStore {
    pub(super) archive: PathBuf,
    pub(super) locations: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(super) open: BTreeMap<u32, sled::Db>,
}

impl ChunkStore {
    pub(super) fn new(archive: &Path, index_db: &sled::Db) -> Self {
        ChunkStore {
            archive: archive.to_path_buf(),
            locations: tree_map(index_db, "chunk_volumes"),
            open: BTreeMap::new(),
        }
    }

    pub(super) fn location(&self, id: &[u8]) -> Location {
        decode_location(
            self.locations
                .get(id)
                .unwrap_or_else(|| panic!("chunk {} has a chunk_volumes entry", hex::encode(id))),
        )
    }

    pub(super) fn volume_of(&self, id: &[u8]) -> u32 {
        self.location(id).volume()
    }

    pub(super) fn volume(&mut self, number: u32) -> &sled::Db {
        let dir = volume_dir(&self.archive, number);
        self.open.entry(number).or_insert_with(|| {
            assert!(dir.is_dir(), "{} exists", dir.display());
            sled::open(&dir).expect("a volume is a sled database")
        })
    }

    /// The stored record of a chunk.
    pub(super) fn record(&mut self, id: &[u8]) -> Vec<u8> {
        match self.location(id) {
            Location::Record(number) => {
                let tree = self.volume(number).open_tree(VOLUME_TREE).unwrap();
                tree.get(id)
                    .unwrap()
                    .unwrap_or_else(|| panic!("volume {number} holds chunk {}", hex::encode(id)))
                    .to_vec()
            }
            Location::Packed(number, pack, offset) => {
                let tree = self.volume(number).open_tree(PACK_TREE).unwrap();
                let bytes = tree
                    .get(pack.to_be_bytes())
                    .unwrap()
                    .unwrap_or_else(|| panic!("volume {number} holds pack {pack}"));
                let (_, found, record) = decode_pack(&bytes)
                    .into_iter()
                    .find(|(at, _, _)| *at == offset)
                    .unwrap_or_else(|| panic!("an entry starts at offset {offset}"));
                assert_eq!(found, id, "the entry at the location is the chunk's");
                record
            }
        }
    }

    /// Every volume directory, by number, with the chunk records it holds by id (from its
    /// `chunks` tree, or from every entry of every pack).
    pub(super) fn all_volumes(&mut self) -> BTreeMap<u32, BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut out = BTreeMap::new();
        for number in self.volume_numbers() {
            let volume = self.volume(number);
            let names = volume.tree_names();
            let has = |tree: &str| names.iter().any(|n| n == tree.as_bytes());
            let mut records = if has(VOLUME_TREE) {
                tree_map(volume, VOLUME_TREE)
            } else {
                BTreeMap::new()
            };
            if has(PACK_TREE) {
                for (_, pack) in tree_map(volume, PACK_TREE) {
                    for (_, id, record) in decode_pack(&pack) {
                        assert!(
                            records.insert(id, record).is_none(),
                            "a chunk is in one entry"
                        );
                    }
                }
            }
            out.insert(number, records);
        }
        out
    }

    /// Every volume's packs by number (format 2).
    pub(super) fn packs(&mut self, number: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
        tree_map(self.volume(number), PACK_TREE)
    }

    pub(super) fn volume_numbers(&self) -> Vec<u32> {
        let dir = self.archive.join(VOLUMES_DIR);
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let number: u32 = name.parse().expect("a volume is named by its number");
            assert_eq!(name, format!("{number:06}"), "six decimal digits");
            numbers.push(number);
        }
        numbers.sort_unstable();
        numbers
    }
}

/// FORMAT.md "Compression": whether a chunk is stored as one zstd frame (level 3) rather
/// than raw: 64 bytes or more, a probe of the first 64 KiB that saves 1/32 when the chunk is
/// over 128 KiB, and a frame of the whole that saves 1/32.
pub(super) fn stored_as_zstd(raw: &[u8]) -> bool {
    let saves = |input: &[u8]| {
        let packed = zstd::bulk::compress(input, ZSTD_LEVEL).unwrap();
        packed.len() < input.len() - input.len() / 32
    };
    raw.len() >= 64 && (raw.len() <= 2 * PROBE || saves(&raw[..PROBE])) && saves(raw)
}

pub(super) fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub(super) fn ev(n: u64) -> String {
    format!("EV-{n:06}")
}

pub(super) fn ev_number(id: &str) -> u64 {
    id.strip_prefix("EV-").unwrap().parse().unwrap()
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(super) fn tree_map(db: &sled::Db, name: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.open_tree(name)
        .unwrap()
        .iter()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}
