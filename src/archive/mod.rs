//! The archive facade: opening, locking, the transaction that pairs records with their custody event, and durability.

mod guard;
mod signing;

use guard::gap_text;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use std::sync::atomic::AtomicBool;

use crate::catalog::{ArchiveMeta, CaseRecord, Catalog, ContentRecord, Head, ItemRecord, keys};
pub(crate) use crate::catalog::{Sealed, Tx, TxResult, abort};
use crate::custody::details::InitDetails;
use crate::custody::{Action, Context, Draft};
use crate::durable::{self, WriterLock};
use crate::error::{Error, Result};
use crate::ids::{CaseId, ContentId, EventDigest, EvidenceId, ItemRef};
use crate::keys::KeyChoice;
use crate::store::CHUNK_SIZE;

/// The archive format this release creates. It reads and writes every format from 1 up to
/// this one, and keeps an archive in the format it was made with (see docs/FORMAT.md,
/// "Format versions").
pub const FORMAT_VERSION: u32 = 2;

/// The first format that stores chunks in packs.
pub const PACKED_FORMAT: u32 = 2;

fn supported(format: u32) -> bool {
    (1..=FORMAT_VERSION).contains(&format)
}
pub const FORMAT_FILE: &str = "FORMAT";
pub const HEAD_FILE: &str = "HEAD";
pub const LOCK_FILE: &str = "lock";
pub const DB_DIR: &str = "db";

/// sled's cache; its default of 1 GiB would dwarf everything else custodia holds.
const CACHE_BYTES: u64 = 16 << 20;

/// Who is acting, and whether to wait for another custodia process to finish.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub actor: String,
    pub wait: bool,
    /// Open without writing anything to the archive (see `Archive::open`).
    pub read_only: bool,
    /// The key that signs this command's events.
    pub key: KeyChoice,
    /// Told where a default key was just created (the user must learn it once).
    pub key_created: fn(&Path, &str),
}

impl OpenOptions {
    /// Options for `actor` with the default key and no notice of a created key.
    pub fn new(actor: impl Into<String>) -> OpenOptions {
        OpenOptions {
            actor: actor.into(),
            wait: false,
            read_only: false,
            key: KeyChoice::Default,
            key_created: |_, _| {},
        }
    }
}

/// An open archive, held by this process alone until dropped.
pub struct Archive {
    root: PathBuf,
    /// `None` only while dropping.
    db: Option<sled::Db>,
    pub(crate) catalog: Catalog,
    pub(crate) meta: ArchiveMeta,
    pub(crate) ctx: Context,
    synced: HashSet<OsString>,
    /// Set once the log has been found to agree with the HEAD file (`check_log_intact`):
    /// from then on this process is the only writer, so it stays so.
    log_intact: AtomicBool,
    /// Where the signing key comes from, and whether this process has registered it.
    key: KeyChoice,
    key_created: fn(&Path, &str),
    key_registered: bool,
    /// Opened read-only: the private copy of `db/` and of each volume read. Nothing of the
    /// archive itself is written, and every transaction is refused.
    staging: Option<tempfile::TempDir>,
    /// A commit failed: sled may wait forever on drop for writes that cannot complete
    /// (a full disk), so the database is then left to the end of the process.
    failed: bool,
    _lock: WriterLock,
}

impl Drop for Archive {
    fn drop(&mut self) {
        if self.failed {
            std::mem::forget(self.db.take());
        }
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Archive {
    /// Creates a new archive at `root`, which must not exist or be an empty directory.
    ///
    /// The directory is made private (0700) whatever the umask: evidence, names and the log
    /// are readable by their owner only (issue 9, finding 4).
    pub fn init(root: &Path, opts: &OpenOptions) -> Result<Archive> {
        match fs::read_dir(root) {
            // A lone lock file is what an `init` that failed, or is waiting, leaves.
            Ok(_) => {
                if holds_more_than_the_lock(root)? {
                    return Err(Error::ArchiveExists(root.to_path_buf()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                durable::create_private_dir_all(root)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(Error::ArchiveExists(root.to_path_buf()));
            }
            Err(e) => return Err(Error::io(root)(e)),
        }
        durable::make_private(root)?;
        let lock = WriterLock::acquire(&root.join(LOCK_FILE), opts.wait)?;
        // Checked again under the lock: two `init --wait` on one path both saw it empty,
        // and the second must not make a second archive over the first (finding 11).
        if holds_more_than_the_lock(root)? {
            return Err(Error::ArchiveExists(root.to_path_buf()));
        }
        let db = open_db(root)?;
        let meta = ArchiveMeta {
            format: FORMAT_VERSION,
            archive_id: new_archive_id()?,
            created_at: now(),
            chunk_size: CHUNK_SIZE as u32,
            tool: tool_version(),
        };
        let catalog = Catalog::open(&db)?;
        catalog.put_archive_meta(&meta)?;
        let mut archive = Archive::assemble(root, db, catalog, meta, opts, lock)?;
        let signer = archive.load_signer()?;
        // The init event registers its creator's key itself: it is event 1, and signed.
        let draft = Draft::new(Action::Init).with(&InitDetails {
            format: FORMAT_VERSION,
            chunk_size: CHUNK_SIZE as u64,
            public_key: Some(signer.public_openssh().to_owned()),
            fingerprint: Some(signer.fingerprint().to_owned()),
        });
        archive.key_registered = true;
        archive.commit(|tx| {
            let (seq, _) = tx.append(&draft)?;
            tx.record_registration(seq)
        })?;
        // The marker comes last: a directory without it was never a complete archive.
        durable::replace_file(&root.join(FORMAT_FILE), format_text().as_bytes())?;
        Ok(archive)
    }

    /// Opens an existing archive for this process alone.
    pub fn open(root: &Path, opts: &OpenOptions) -> Result<Archive> {
        check_format(root)?;
        if opts.read_only {
            return Archive::open_read_only(root, opts);
        }
        let lock = WriterLock::acquire(&root.join(LOCK_FILE), opts.wait)?;
        // An archive made under a loose umask by an earlier release becomes private too.
        durable::make_private(root)?;
        let db = open_db(root)?;
        let catalog = Catalog::open(&db)?;
        let meta = read_meta(&catalog)?;
        Archive::assemble(root, db, catalog, meta, opts, lock)
    }

    /// Opens an archive without writing to it, for an auditor who may not (a read-only
    /// mount, files owned by another user). sled writes to every database it opens, so
    /// `db/` is copied into a private temporary directory and opened there, and so is
    /// each volume as it is read. A shared lock keeps writers out while it reads, when the
    /// lock file can be opened at all.
    fn open_read_only(root: &Path, opts: &OpenOptions) -> Result<Archive> {
        let lock =
            WriterLock::shared(&root.join(LOCK_FILE), opts.wait)?.unwrap_or_else(WriterLock::none);
        let staging = tempfile::Builder::new()
            .prefix("custodia-read-only-")
            .tempdir()
            .map_err(Error::io(std::env::temp_dir()))?;
        let copy = staging.path().join(DB_DIR);
        durable::copy_database(&root.join(DB_DIR), &copy)?;
        let db = crate::store::open_sled(&copy, CACHE_BYTES).map_err(|e| match e {
            // Name the archive's database, not the copy's.
            Error::DatabaseDamaged { detail, .. } => Error::DatabaseDamaged {
                path: root.join(DB_DIR),
                detail,
            },
            other => other,
        })?;
        let catalog = Catalog::open(&db)?;
        let meta = read_meta(&catalog)?;
        let mut archive = Archive::assemble(root, db, catalog, meta, opts, lock)?;
        archive.staging = Some(staging);
        Ok(archive)
    }

    /// True when opened with `read_only`: nothing can be written.
    pub fn is_read_only(&self) -> bool {
        self.staging.is_some()
    }

    fn assemble(
        root: &Path,
        db: sled::Db,
        catalog: Catalog,
        meta: ArchiveMeta,
        opts: &OpenOptions,
        lock: WriterLock,
    ) -> Result<Archive> {
        let ctx = Context {
            actor: opts.actor.clone(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            tool: tool_version(),
            archive: meta.archive_id.clone(),
            signer: None,
        };
        Ok(Archive {
            root: root.to_path_buf(),
            db: Some(db),
            catalog,
            meta,
            ctx,
            synced: HashSet::new(),
            log_intact: AtomicBool::new(false),
            key: opts.key.clone(),
            key_created: opts.key_created,
            key_registered: false,
            staging: None,
            failed: false,
            _lock: lock,
        })
    }

    /// A reader of chunks, opening volumes as it needs them.
    pub(crate) fn chunk_reader(&self) -> crate::store::ChunkReader {
        let reader = crate::store::ChunkReader::new(&self.root, self.catalog.chunk_locations());
        match &self.staging {
            Some(dir) => reader.staged_in(dir.path().join(crate::store::VOLUMES_DIR)),
            None => reader,
        }
    }

    pub(crate) fn chunk_writer(&self) -> crate::store::ChunkWriter {
        crate::store::ChunkWriter::new(
            &self.root,
            self.catalog.chunk_locations(),
            self.meta.format >= PACKED_FORMAT,
        )
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn meta(&self) -> &ArchiveMeta {
        &self.meta
    }

    /// Runs `body` as one sled transaction over the index and custody trees, then makes it durable.
    ///
    /// The body may run more than once (sled retries on conflict), so it does no outside I/O.
    pub(crate) fn commit<R>(&mut self, body: impl Fn(&Tx) -> TxResult<R>) -> Result<R> {
        let out = self.transact(body)?;
        self.commit_durable().map(|()| out)
    }

    /// Runs `body` as one sled transaction, all or nothing, but does not make it durable:
    /// several of these followed by one `commit_durable` cost one fsync round. Nothing a
    /// transaction wrote may be reported before that.
    pub(crate) fn transact<R>(&mut self, body: impl Fn(&Tx) -> TxResult<R>) -> Result<R> {
        self.prepare_signing()?;
        self.transact_signed(body)
    }

    fn transact_signed<R>(&mut self, body: impl Fn(&Tx) -> TxResult<R>) -> Result<R> {
        if self.is_read_only() {
            return Err(Error::ReadOnly(self.root.clone()));
        }
        self.check_log_intact()?;
        let time = now();
        let out = self.catalog.transaction(&self.ctx, &time, body);
        out.map_err(|e| {
            self.failed |= matches!(e, sled::transaction::TransactionError::Storage(_));
            e.into()
        })
    }

    /// Makes every transaction so far durable, and records the head in `HEAD`.
    pub(crate) fn commit_durable(&mut self) -> Result<()> {
        let durable = self.make_durable();
        self.failed |= durable.is_err();
        durable
    }

    /// Flushes sled, fsyncs everything it wrote, then records the head in `HEAD`.
    fn make_durable(&mut self) -> Result<()> {
        let db_dir = self.root.join(DB_DIR);
        crate::fault::check(crate::fault::Op::Fsync, &db_dir).map_err(Error::io(&db_dir))?;
        if let Some(db) = &self.db {
            db.flush()?;
        }
        durable::sync_tree(&self.root.join(DB_DIR), &mut self.synced)?;
        let Some(head) = self.head()? else {
            return Ok(());
        };
        // HEAD only ever moves forward: a HEAD ahead of the log records lost events, and
        // is the evidence of that loss (issue 9, finding 2).
        if let Some(recorded) = self.head_file()?
            && recorded.seq > head.seq
        {
            return Err(Error::CustodyGap(gap_text(&recorded, Some(&head))));
        }
        durable::replace_file(&self.root.join(HEAD_FILE), head_text(&head).as_bytes())
    }

    /// Seals a draft as the next event without writing it, for an event whose bytes must be
    /// known before it is committed (an export carries its own event). The writer lock keeps
    /// the head where it is until `Tx::append_sealed` writes it.
    pub(crate) fn seal_next(&self, draft: &Draft) -> Result<Sealed> {
        self.check_log_intact()?;
        let head = self.head()?;
        let seq = head.map_or(1, |h| h.seq + 1);
        let mut item_prev = Vec::with_capacity(draft.items.len());
        for id in &draft.items {
            item_prev.push(self.catalog.item_head(*id)?);
        }
        let prev = head.map(|h| h.digest);
        let draft = self.ctx.disclose(draft)?;
        let bytes = self
            .ctx
            .seal_canonical(&draft, seq, prev, &item_prev, now());
        Ok(Sealed {
            seq,
            prev,
            bytes,
            items: draft.items,
            openings: draft.openings,
        })
    }

    pub(crate) fn head(&self) -> Result<Option<Head>> {
        self.catalog.head()
    }

    pub fn case(&self, id: &CaseId) -> Result<CaseRecord> {
        self.catalog
            .case(id)?
            .ok_or_else(|| Error::UnknownCase(id.clone()))
    }

    pub fn item(&self, id: EvidenceId) -> Result<ItemRecord> {
        self.catalog
            .item(id)?
            .ok_or_else(|| Error::UnknownItem(id.to_string()))
    }

    pub fn content(&self, id: &ContentId) -> Result<ContentRecord> {
        self.catalog
            .content(id)?
            .ok_or_else(|| Error::Damaged(format!("content {id} is missing")))
    }

    /// Finds the one item an id or hash prefix names; a hash that several items share
    /// (the same bytes in two cases) is `AmbiguousItem`, naming each candidate.
    pub fn resolve(&self, r: &ItemRef) -> Result<ItemRecord> {
        let mut found = self.resolve_all(r)?;
        if found.len() == 1 {
            return Ok(found.remove(0));
        }
        let prefix = match r {
            ItemRef::HashPrefix(prefix) => prefix.clone(),
            ItemRef::Id(id) => id.to_string(),
        };
        let mut matches = Vec::with_capacity(found.len());
        for item in &found {
            matches.push(format!(
                "{} {} in {}",
                item.id,
                crate::text::escape_bytes(&item.name),
                self.cases_of(item.id)?
                    .iter()
                    .map(CaseId::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        Err(Error::AmbiguousItem { prefix, matches })
    }

    /// Every item an id or hash prefix names, in id order: one for an `EV-` id; for a hash
    /// prefix, every item whose BLAKE3 (from the index) or SHA-256 (a pass over the item
    /// records, which the index does not key) starts with it. `UnknownItem` when none.
    pub fn resolve_all(&self, r: &ItemRef) -> Result<Vec<ItemRecord>> {
        let prefix = match r {
            ItemRef::Id(id) => return Ok(vec![self.item(*id)?]),
            ItemRef::HashPrefix(prefix) => prefix,
        };
        let mut ids = self.catalog.items_with_hash_prefix(prefix)?;
        ids.extend(self.catalog.items_with_sha256_prefix(prefix)?);
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Err(Error::UnknownItem(prefix.clone()));
        }
        ids.into_iter().map(|id| self.item(id)).collect()
    }

    /// The cases an item belongs to, in id order.
    pub fn cases_of(&self, id: EvidenceId) -> Result<Vec<CaseId>> {
        self.catalog.cases_of(id)
    }

    pub fn children_of(&self, id: EvidenceId) -> Result<Vec<EvidenceId>> {
        self.catalog.items_under(&keys::children_prefix(id))
    }

    pub fn items_of_case(&self, case: &CaseId) -> Result<Vec<EvidenceId>> {
        self.catalog.items_under(&keys::case_items_prefix(case))
    }
}

fn check_format(root: &Path) -> Result<()> {
    let meta = match fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NoArchive(root.to_path_buf()));
        }
        Err(e) => return Err(Error::io(root)(e)),
    };
    if !meta.is_dir() {
        return Err(Error::NotAnArchive(root.to_path_buf()));
    }
    let format_path = root.join(FORMAT_FILE);
    let text = match fs::read(&format_path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotAnArchive(root.to_path_buf()));
        }
        Err(e) => return Err(Error::io(&format_path)(e)),
    };
    let text = String::from_utf8_lossy(&text);
    let mut lines = text.lines();
    if lines.next() != Some("custodia archive") {
        return Err(Error::NotAnArchive(root.to_path_buf()));
    }
    let found = lines
        .next()
        .and_then(|l| l.strip_prefix("format "))
        .unwrap_or("?");
    if !found.parse().is_ok_and(supported) {
        return Err(Error::UnsupportedFormat {
            found: found.to_owned(),
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Whether a directory holds anything but custodia's lock file.
fn holds_more_than_the_lock(root: &Path) -> Result<bool> {
    for entry in fs::read_dir(root).map_err(Error::io(root))? {
        let entry = entry.map_err(Error::io(root))?;
        if entry.file_name() != LOCK_FILE {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn format_text() -> String {
    format!("custodia archive\nformat {FORMAT_VERSION}\n")
}

pub(crate) fn head_text(head: &Head) -> String {
    format!("seq {}\nsha256 {}\n", head.seq, head.digest)
}

/// Parses the `HEAD` file.
pub(crate) fn parse_head_text(text: &str) -> Option<Head> {
    let mut lines = text.lines();
    let seq = lines.next()?.strip_prefix("seq ")?.parse().ok()?;
    let digest = EventDigest::from_hex(lines.next()?.strip_prefix("sha256 ")?)?;
    Some(Head { seq, digest })
}

/// The archive record, in a format this release reads.
fn read_meta(catalog: &Catalog) -> Result<ArchiveMeta> {
    let meta = catalog.archive_meta()?;
    if !supported(meta.format) {
        return Err(Error::UnsupportedFormat {
            found: meta.format.to_string(),
            supported: FORMAT_VERSION,
        });
    }
    Ok(meta)
}

/// Opens the index database; damage becomes a finding that names it.
fn open_db(root: &Path) -> Result<sled::Db> {
    crate::store::open_sled(&root.join(DB_DIR), CACHE_BYTES)
}

/// A new archive's id: 128 bits from the operating system's random source. Unique, not a
/// secret; an archive cannot be created without it.
fn new_archive_id() -> Result<String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| {
        Error::io("the operating system's random source")(std::io::Error::other(e.to_string()))
    })?;
    Ok(hex::encode(random))
}

pub fn tool_version() -> String {
    format!("custodia {}", env!("CARGO_PKG_VERSION"))
}
