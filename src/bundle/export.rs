//! `export`: a case (or part of it) written as a BagIt bag that proves itself with standard tools.
//!
//! The bag is built in a temporary sibling directory, every item re-read from the archive
//! and checked against its recorded hashes on the way out, everything fsynced, the export
//! recorded in the custody log, and only then renamed to the requested name.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::Serialize;

use super::bagit::{self, Algorithm, FileDigests, TripleHasher};
use super::layout::{self, CaseJson, EvidenceEntry, EvidenceJson};
use crate::archive::Archive;
use crate::custody::details::{ExportDetails, SealDetails};
use crate::custody::{Action, Draft};
use crate::durable;
use crate::error::{Error, Result};
use crate::ids::{CaseId, EventDigest, EvidenceId, ItemRef};
use crate::store::{BufferPool, read_content};
use crate::text::exact_or_escaped;

/// What to export, and the context the bundle carries.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub case: CaseId,
    pub out: PathBuf,
    /// Only these items (with their attachments); the whole case when empty.
    pub evidence: Vec<ItemRef>,
    pub attachments: bool,
    pub reason: Option<String>,
    pub organization: Option<String>,
    pub contact: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ExportReport {
    pub bundle: PathBuf,
    pub items: usize,
    /// Payload bytes (Payload-Oxum).
    pub bytes: u64,
    pub tagmanifest_sha256: String,
    /// The custody event of the export, which is also the last line of `data/custody.jsonl`.
    pub event: u64,
}

/// A payload file written into the bag, with its digests.
struct Written {
    rel: String,
    digests: FileDigests,
}

impl Archive {
    pub fn export(&mut self, opts: &ExportOptions) -> Result<ExportReport> {
        if fs::symlink_metadata(&opts.out).is_ok() {
            return Err(Error::OutputExists(opts.out.clone()));
        }
        let case = self.case(&opts.case)?;
        let ids = self.export_selection(opts)?;
        let name = opts
            .out
            .file_name()
            .ok_or_else(|| Error::OutputExists(opts.out.clone()))?;
        let parent = opts
            .out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let prefix = format!(".{}.custodia-export-", name.to_string_lossy());
        remove_stale_exports(parent, &prefix);
        let tmp = parent.join(format!("{prefix}{}", std::process::id()));
        create_private_dir(&tmp)?;
        let built = write_file(
            &tmp.join(TEMPORARY_MARKER),
            TEMPORARY_MARKER_TEXT.as_bytes(),
        )
        .and_then(|_| self.build_bag(&tmp, opts, &case, &ids));
        let (sealed, report) = match built.and_then(|b| unmark(&tmp).map(|()| b)) {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        // Published before the events are committed, never over anything (issue 9.10): an
        // output made meanwhile stays as it is and no event names a bundle that is not there.
        if let Err(e) = durable::rename_noreplace(&tmp, &opts.out) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let seal = Draft::new(Action::Seal)
            .case(&opts.case)
            .with(&SealDetails {
                export_event: sealed.seq,
                bundle: exact_or_escaped(name.as_encoded_bytes()),
                tagmanifest_sha256: report.tagmanifest_sha256.clone(),
                items: report.items as u64,
                bytes: report.bytes,
            });
        let committed = durable::sync_path(parent).and_then(|()| {
            self.commit(|tx| {
                tx.append_sealed(&sealed)?;
                tx.append(&seal).map(|_| ())
            })
        });
        // Exit 1 must leave no bundle under the name: one the archive did not record goes.
        if let Err(e) = committed {
            let _ = fs::remove_dir_all(&opts.out);
            let _ = durable::sync_path(parent);
            return Err(e);
        }
        Ok(ExportReport {
            bundle: opts.out.clone(),
            ..report
        })
    }

    /// The items to export, in id order: the selection (or the whole case) and, unless
    /// told otherwise, every attachment below them.
    fn export_selection(&self, opts: &ExportOptions) -> Result<Vec<EvidenceId>> {
        let mut chosen = BTreeSet::new();
        if opts.evidence.is_empty() {
            for id in self.items_of_case(&opts.case)? {
                // Without attachments, a whole-case export leaves out every item that is one.
                if opts.attachments || self.item(id)?.parent.is_none() {
                    chosen.insert(id);
                }
            }
        }
        for r in &opts.evidence {
            let item = self.resolve(r)?;
            if !self.cases_of(item.id)?.contains(&opts.case) {
                return Err(Error::NotInCase(item.id, opts.case.clone()));
            }
            chosen.insert(item.id);
        }
        if opts.attachments {
            let mut queue: Vec<EvidenceId> = chosen.iter().copied().collect();
            while let Some(id) = queue.pop() {
                for child in self.children_of(id)? {
                    // An attachment filed only in another case stays out of this case's bundle.
                    if !self.cases_of(child)?.contains(&opts.case) {
                        continue;
                    }
                    if chosen.insert(child) {
                        queue.push(child);
                    }
                }
            }
        }
        Ok(chosen.into_iter().collect())
    }

    fn build_bag(
        &self,
        bag: &Path,
        opts: &ExportOptions,
        case: &crate::catalog::CaseRecord,
        ids: &[EvidenceId],
    ) -> Result<(crate::archive::Sealed, ExportReport)> {
        let data = bag.join(layout::DATA);
        create_private_dir(&data)?;
        if !ids.is_empty() {
            // Created once here, so that each item needs only its own directory.
            create_private_dir(&bag.join(layout::EVIDENCE_DIR))?;
        }
        // Per item only what the manifests and evidence.json need: everything else is
        // looked up again when it is written, so memory does not grow with the items' metadata.
        let mut payload = self.write_items(bag, ids)?;
        let total: u64 = payload.iter().map(|w| w.digests.size).sum();
        // case.json and evidence.json come first: the export event records a digest of
        // each, so that every field of them is pinned by the custody head (issue 9.3).
        let case_doc = self.case_json(case, ids);
        let case_json = write_file(&bag.join(layout::CASE_JSON), &pretty(&case_doc)?)?;
        let (evidence_json, entry_digests) =
            self.write_evidence_json(bag, &opts.case, ids, &payload)?;
        let details = ExportDetails {
            bundle: exact_or_escaped(
                opts.out
                    .file_name()
                    .map(|n| n.as_encoded_bytes())
                    .unwrap_or_default(),
            ),
            items: ids.len() as u64,
            bytes: total,
            organization: opts.organization.clone(),
            contact: opts.contact.clone(),
            case_json_sha256: Some(layout::metadata_digest(&case_doc).to_hex()),
            evidence_sha256: Some(entry_digests),
        };
        let draft = Draft::new(Action::Export)
            .case(&opts.case)
            .reason(opts.reason.clone())
            .with(&details);
        let draft = ids.iter().fold(draft, |d, id| d.item(*id));
        let sealed = self.seal_next(&draft)?;

        let head = EventDigest::of(&sealed.bytes);

        let custody_jsonl = self.write_custody(bag, ids, &sealed)?;
        let readme = write_file(
            &bag.join(layout::README_VERIFY),
            layout::readme_verify(&opts.case).as_bytes(),
        )?;
        for (rel, digests) in [
            (layout::CASE_JSON, case_json),
            (layout::EVIDENCE_JSON, evidence_json),
            (layout::CUSTODY_JSONL, custody_jsonl),
            (layout::README_VERIFY, readme),
        ] {
            payload.push(Written {
                rel: rel.to_owned(),
                digests,
            });
        }
        payload.sort_by(|a, b| a.rel.cmp(&b.rel));
        let oxum_bytes: u64 = payload.iter().map(|w| w.digests.size).sum();

        let info = self.bag_info(opts, case, oxum_bytes, payload.len(), &head, &sealed);
        let mut tag_digests = vec![
            (
                bagit::BAGIT_TXT.to_owned(),
                write_file(
                    &bag.join(bagit::BAGIT_TXT),
                    bagit::BAGIT_DECLARATION.as_bytes(),
                )?,
            ),
            (
                bagit::BAG_INFO.to_owned(),
                write_file(&bag.join(bagit::BAG_INFO), info.as_bytes())?,
            ),
        ];
        for a in Algorithm::PAYLOAD {
            // Line by line: a manifest of a large case is megabytes.
            let mut manifest = BagFile::create(bag.join(a.manifest()))?;
            for w in &payload {
                manifest.put(bagit::manifest_line(&w.digests.get(a), &w.rel).as_bytes())?;
            }
            tag_digests.push((a.manifest(), manifest.finish()?));
        }
        let mut tagmanifest_sha256 = String::new();
        for a in Algorithm::TAG {
            let text: String = tag_digests
                .iter()
                .map(|(rel, d)| bagit::manifest_line(&d.get(a), rel))
                .collect();
            let d = write_file(&bag.join(a.tag_manifest()), text.as_bytes())?;
            if a == Algorithm::Sha256 {
                tagmanifest_sha256 = d.sha256.to_hex();
            }
        }
        sync_dirs(bag, &data)?;
        let report = ExportReport {
            bundle: bag.to_path_buf(),
            items: ids.len(),
            bytes: oxum_bytes,
            tagmanifest_sha256,
            event: sealed.seq,
        };
        Ok((sealed, report))
    }

    /// Writes every item's payload file, each re-read from the archive and checked against
    /// both recorded hashes; when it returns Ok, every file and its directory is fsynced.
    ///
    /// Two threads share the work: this one reads each item back (with BLAKE3 and SHA-256,
    /// and for a content of several chunks a third thread fetching them) and makes its
    /// directory; the other creates the files and writes them with SHA-512 on the way. Done
    /// on one thread, the loop kept one core busy and the other idle: most items are a
    /// single chunk, which `read_content` reads on the calling thread, and SHA-512 alone
    /// costs about as much as BLAKE3 and SHA-256 together. A third thread, mostly waiting
    /// for the disk, fsyncs each file and its directory once written, so that those waits
    /// overlap the work instead of following it in a pass of their own.
    fn write_items(&self, bag: &Path, ids: &[EvidenceId]) -> Result<Vec<Written>> {
        let (done_tx, done_rx) = mpsc::sync_channel::<PathBuf>(SYNCS_QUEUED);
        let (piece_tx, piece_rx) = mpsc::sync_channel::<Piece>(PIECES_IN_FLIGHT);
        let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::scope(|scope| {
            let syncer = scope.spawn(move || sync_files(done_rx));
            let writer = scope.spawn(move || write_files(piece_rx, spare_tx, done_tx));
            let read = self.read_items(bag, ids, piece_tx, spare_rx);
            let sha512 = writer
                .join()
                .map_err(|_| Error::Database(WRITER_STOPPED.into()));
            let synced = syncer
                .join()
                .map_err(|_| Error::Database(SYNCER_STOPPED.into()));
            // A later stage's failure explains an earlier stage's stop, so it is reported first.
            synced??;
            let sha512 = sha512??;
            let mut written = read?;
            if sha512.len() != written.len() {
                return Err(Error::Database(format!(
                    "{} payload files read, {} written",
                    written.len(),
                    sha512.len()
                )));
            }
            for (w, sha512) in written.iter_mut().zip(sha512) {
                w.digests.sha512 = sha512;
            }
            Ok(written)
        })
    }

    /// The reading side of `write_items`: each item's checked bytes, as pieces for the writer.
    /// The SHA-512 of each `Written` is left empty for the writer's.
    fn read_items(
        &self,
        bag: &Path,
        ids: &[EvidenceId],
        pieces: mpsc::SyncSender<Piece>,
        spare: mpsc::Receiver<Vec<u8>>,
    ) -> Result<Vec<Written>> {
        let stopped = || Error::Database(WRITER_STOPPED.into());
        let mut chunks = self.chunk_reader();
        let mut written = Vec::with_capacity(ids.len() + 4);
        let mut buffers = BufferPool::new(WRITE_BUFFERS, 0, spare);
        for id in ids {
            let item = self.item(*id)?;
            let rel = layout::evidence_path(&item);
            let record = self.content(&item.blake3)?;
            let path = bag.join(&rel);
            // `data/evidence/<id>/`: new, as ids are unique; its parent was made by build_bag.
            // Made here rather than by the writer, which has the more work of the two.
            create_private_dir(path.parent().unwrap_or(bag))?;
            pieces.send(Piece::Start(path)).map_err(|_| stopped())?;
            let damaged = |e: Error| match e {
                Error::Damaged(d) => {
                    Error::Damaged(format!("{}: {d}; nothing was exported", item.id))
                }
                other => other,
            };
            let fixity = read_content(&mut chunks, &record, &item.blake3, &mut |bytes| {
                // None: the writer gave up (it failed), and its error is the one reported.
                let mut buf = buffers.get().ok_or_else(stopped)?;
                // A copy: the reader reuses its buffer as soon as this returns.
                buf.clear();
                buf.extend_from_slice(bytes);
                pieces.send(Piece::Bytes(buf)).map_err(|_| stopped())
            })
            .map_err(damaged)?;
            if item.sha256 != record.sha256 || item.size != record.size {
                return Err(damaged(Error::Damaged(
                    "its record disagrees with its content".into(),
                )));
            }
            pieces.send(Piece::End).map_err(|_| stopped())?;
            written.push(Written {
                rel,
                digests: FileDigests {
                    sha256: fixity.sha256,
                    sha512: String::new(),
                    blake3: fixity.blake3,
                    size: fixity.size,
                },
            });
        }
        Ok(written)
    }

    /// Every custody event that names one of `ids`, in log order.
    fn event_seqs(&self, ids: &[EvidenceId]) -> Result<BTreeSet<u64>> {
        let mut seqs = BTreeSet::new();
        for id in ids {
            seqs.extend(self.catalog.event_seqs_of(*id)?);
        }
        Ok(seqs)
    }

    fn case_json(&self, case: &crate::catalog::CaseRecord, ids: &[EvidenceId]) -> CaseJson {
        CaseJson {
            id: case.id.to_string(),
            title: case.title.clone(),
            description: case.description.clone(),
            created_at: case.created_at.clone(),
            created_by: case.actor.clone(),
            archive_id: self.meta.archive_id.clone(),
            exported_items: ids.iter().map(|i| i.to_string()).collect(),
        }
    }

    /// Writes `data/evidence.json` one item at a time, each looked up as it is written: the
    /// same bytes serde_json's pretty printing of the whole document gives, without the
    /// whole document (or every item's record) in memory. `written` holds the items' payload
    /// files, in the order of `ids`. Returns with its digests each item's `metadata_digest`.
    fn write_evidence_json(
        &self,
        bag: &Path,
        case: &CaseId,
        ids: &[EvidenceId],
        written: &[Written],
    ) -> Result<(FileDigests, BTreeMap<String, String>)> {
        let mut out = BagFile::create(bag.join(layout::EVIDENCE_JSON))?;
        let doc = EvidenceJson {
            case: case.to_string(),
            items: EvidenceItems {
                archive: self,
                ids,
                written,
                failed: RefCell::new(None),
                digests: RefCell::new(BTreeMap::new()),
            },
        };
        let result = serde_json::to_writer_pretty(&mut out, &doc);
        // The lookup's or the write's own error, whole, rather than serde_json's wrapping of it.
        if let Some(e) = doc.items.failed.into_inner().or_else(|| out.failed.take()) {
            return Err(e);
        }
        result.map_err(|e| Error::Io {
            path: out.path.clone(),
            source: e.into(),
        })?;
        out.put(b"\n")?;
        Ok((out.finish()?, doc.items.digests.into_inner()))
    }

    /// One item of evidence.json.
    fn evidence_entry(&self, id: EvidenceId, written: &Written) -> Result<EvidenceEntry> {
        let item = self.item(id)?;
        let cases: Vec<String> = self.cases_of(id)?.iter().map(|c| c.to_string()).collect();
        let attachments: Vec<String> = self
            .children_of(id)?
            .iter()
            .map(|c| c.to_string())
            .collect();
        Ok(EvidenceEntry {
            id: item.id.to_string(),
            file: written.rel.clone(),
            blake3: item.blake3.to_hex(),
            sha256: item.sha256.to_hex(),
            sha512: written.digests.sha512.clone(),
            size: item.size,
            name: exact_or_escaped(&item.name),
            name_hex: hex::encode(&item.name),
            path: exact_or_escaped(&item.path),
            path_hex: hex::encode(&item.path),
            source: item.source,
            note: item.note,
            tags: item.tags,
            captured_at: item.captured_at,
            modified_at: item.modified_at,
            ingested_at: item.ingested_at,
            ingested_by: item.actor,
            parent: item.parent.map(|p| p.to_string()),
            attachments,
            cases,
        })
    }

    /// Writes `data/custody.jsonl` event by event: every event naming one of `ids`, in log
    /// order, then the export's own.
    fn write_custody(
        &self,
        bag: &Path,
        ids: &[EvidenceId],
        sealed: &crate::archive::Sealed,
    ) -> Result<FileDigests> {
        let mut out = BagFile::create(bag.join(layout::CUSTODY_JSONL))?;
        for seq in self.event_seqs(ids)? {
            let bytes = self
                .catalog
                .event_bytes(seq)?
                .ok_or_else(|| Error::Damaged(format!("custody event {seq} is missing")))?;
            out.put(&bytes)?;
            out.put(b"\n")?;
        }
        out.put(&sealed.bytes)?;
        out.put(b"\n")?;
        out.finish()
    }

    fn bag_info(
        &self,
        opts: &ExportOptions,
        case: &crate::catalog::CaseRecord,
        bytes: u64,
        files: usize,
        head: &EventDigest,
        sealed: &crate::archive::Sealed,
    ) -> String {
        let seq = sealed.seq;
        // The export event's own date (RFC 3339, UTC), so that the two cannot disagree.
        let date = crate::custody::Event::parse(&sealed.bytes)
            .ok()
            .and_then(|e| e.time.get(..10).map(str::to_owned))
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
        let mut fields = vec![
            ("Bagging-Date", date),
            ("Payload-Oxum", format!("{bytes}.{files}")),
            ("External-Identifier", case.id.to_string()),
            ("External-Description", case.title.clone()),
            ("Bag-Software-Agent", crate::archive::tool_version()),
        ];
        if let Some(o) = &opts.organization {
            fields.push(("Source-Organization", o.clone()));
        }
        if let Some(c) = &opts.contact {
            fields.push(("Contact-Name", c.clone()));
        }
        fields.push((layout::INFO_ARCHIVE, self.meta.archive_id.clone()));
        fields.push((layout::INFO_EVENT, seq.to_string()));
        fields.push((layout::INFO_HEAD, head.to_hex()));
        bagit::bag_info(&fields)
    }
}

/// A metadata document as custodia writes it: serde_json's pretty printing, and a newline.
fn pretty(document: &impl Serialize) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(document)
        .map_err(|e| Error::Database(format!("a metadata document does not encode: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Buffers of payload bytes in flight between the reading and the writing thread.
const WRITE_BUFFERS: usize = 4;
/// Messages in flight to the writing thread: the buffers, and the start and end of a few
/// small files around them.
const PIECES_IN_FLIGHT: usize = 2 * WRITE_BUFFERS;
const WRITER_STOPPED: &str = "the payload-writing thread stopped";
/// Payload files written and not yet fsynced, at most: the writer waits beyond this.
const SYNCS_QUEUED: usize = 1024;
const SYNCER_STOPPED: &str = "the payload-syncing thread stopped";

/// What the reading thread hands the writing thread, in order, for each payload file.
enum Piece {
    /// A new file at this path (its directory exists).
    Start(PathBuf),
    /// The next bytes of the file.
    Bytes(Vec<u8>),
    /// The file is complete.
    End,
}

/// The writing side of `write_items`: creates each payload file, writes
/// it with SHA-512 on the way and starts its writeback; returns each file's SHA-512 (hex),
/// in order. Stops at the first failure, which hangs up on the reading side.
fn write_files(
    pieces: mpsc::Receiver<Piece>,
    spare: mpsc::Sender<Vec<u8>>,
    done: mpsc::SyncSender<PathBuf>,
) -> Result<Vec<String>> {
    use sha2::Digest;
    let mut sums = Vec::new();
    let mut current: Option<(PathBuf, fs::File, sha2::Sha512)> = None;
    for piece in pieces {
        match piece {
            Piece::Start(path) => {
                let file = create_private_file(&path)?;
                current = Some((path, file, sha2::Sha512::new()));
            }
            Piece::Bytes(buf) => {
                if let Some((path, file, sha512)) = &mut current {
                    sha512.update(&buf);
                    durable::write_all(file, path, &buf)?;
                }
                // The reader may have stopped; then the buffer is simply dropped.
                let _ = spare.send(buf);
            }
            Piece::End => {
                if let Some((path, file, sha512)) = current.take() {
                    start_writeback(&file, &path)?;
                    sums.push(hex::encode(sha512.finalize()));
                    done.send(path)
                        .map_err(|_| Error::Database(SYNCER_STOPPED.into()))?;
                }
            }
        }
    }
    Ok(sums)
}

/// The syncing side of `write_items`: fsyncs each payload file the writer has finished,
/// reopened by path (an open file per item could exhaust the process's descriptors), then
/// its directory, which holds its name. Its writeback was started when it was written, so
/// each fsync mostly waits for the disk, on this thread while the others keep reading and
/// writing, rather than in a pass of its own at the end.
fn sync_files(done: mpsc::Receiver<PathBuf>) -> Result<()> {
    for path in done {
        durable::sync_path(&path)?;
        if let Some(dir) = path.parent() {
            durable::sync_path(dir)?;
        }
    }
    Ok(())
}

/// Writes a new file (its directory exists), fsyncs it, and returns its digests.
fn write_file(path: &Path, bytes: &[u8]) -> Result<FileDigests> {
    let mut file = BagFile::create(path.to_path_buf())?;
    file.put(bytes)?;
    file.finish()
}

/// How much of a tag or metadata file is gathered before it is written: few writes for a
/// large case, little memory.
const BAG_FILE_BUFFER: usize = 256 << 10;

/// A new file of the bag written piece by piece: gathered into few large writes, hashed
/// as written, fsynced by `finish`.
struct BagFile {
    path: PathBuf,
    file: fs::File,
    buf: Vec<u8>,
    hasher: TripleHasher,
    /// The first error of a write made through `io::Write`, kept whole: serde_json hands
    /// back only an `io::Error` made of it.
    failed: Option<Error>,
}

impl BagFile {
    fn create(path: PathBuf) -> Result<BagFile> {
        let file = create_private_file(&path)?;
        Ok(BagFile {
            path,
            file,
            buf: Vec::new(),
            hasher: TripleHasher::default(),
            failed: None,
        })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= BAG_FILE_BUFFER {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.hasher.update(&self.buf);
            durable::write_all(&mut self.file, &self.path, &self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is left, fsyncs, and returns the digests of everything written.
    fn finish(mut self) -> Result<FileDigests> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.drain()?;
        durable::sync_file(&self.file, &self.path)?;
        Ok(self.hasher.finish())
    }
}

impl io::Write for BagFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.failed.is_some() {
            return Err(io::Error::other("an earlier write to this file failed"));
        }
        match self.put(bytes) {
            Ok(()) => Ok(bytes.len()),
            Err(e) => {
                let message = e.to_string();
                self.failed = Some(e);
                Err(io::Error::other(message))
            }
        }
    }

    /// Nothing: `finish` writes what is gathered, and only then is the file complete.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// evidence.json's items, each looked up when serde_json asks for it.
struct EvidenceItems<'a> {
    archive: &'a Archive,
    ids: &'a [EvidenceId],
    written: &'a [Written],
    /// The first lookup's error, kept whole (serde only carries a message).
    failed: RefCell<Option<Error>>,
    /// Each entry's `metadata_digest`, by item id, gathered as the entries are written.
    digests: RefCell<BTreeMap<String, String>>,
}

impl Serialize for EvidenceItems<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.ids.len()))?;
        for (id, written) in self.ids.iter().zip(self.written) {
            let entry = match self.archive.evidence_entry(*id, written) {
                Ok(v) => v,
                Err(e) => {
                    let message = e.to_string();
                    *self.failed.borrow_mut() = Some(e);
                    return Err(S::Error::custom(message));
                }
            };
            self.digests
                .borrow_mut()
                .insert(id.to_string(), layout::metadata_digest(&entry).to_hex());
            seq.serialize_element(&entry)?;
        }
        seq.end()
    }
}

/// Asks the kernel to start writing a file's dirty pages to disk now, without waiting, so
/// that the fsync that follows later finds little left to write. This is no durability
/// step, only a head start: the fsync still decides. An error that says the data cannot be
/// written (no space, a failing disk) fails the export at once; any other (a file system
/// without the call) only loses the head start.
fn start_writeback(file: &fs::File, path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open and owned by `file` for the whole call; the call
    // reads no memory of this process.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EIO) => Err(Error::io(path)(e)),
        _ => Ok(()),
    }
}

/// fsyncs the bag's directories but the items' own (which `write_items` fsynced), deepest first.
fn sync_dirs(bag: &Path, data: &Path) -> Result<()> {
    let evidence = data.join("evidence");
    if evidence.exists() {
        durable::sync_path(&evidence)?;
    }
    durable::sync_path(data)?;
    durable::sync_path(bag)
}

/// The file a temporary export directory holds while custodia builds a bag in it, and its
/// text: the stale-temporary cleanup removes only a directory holding exactly this, so a
/// user's directory that happens to have the name is never touched (issue 9.13).
const TEMPORARY_MARKER: &str = ".custodia-temporary";
const TEMPORARY_MARKER_TEXT: &str = "custodia export in progress: this directory is custodia's own temporary, and may be removed once its process is gone\n";

/// Removes the marker before the bag is published (a bundle holds no file but its own),
/// and fsyncs the directory so the name goes with it.
fn unmark(tmp: &Path) -> Result<()> {
    let marker = tmp.join(TEMPORARY_MARKER);
    fs::remove_file(&marker).map_err(Error::io(&marker))?;
    durable::sync_path(tmp)
}

/// Removes what killed exports left beside `--out`: directories named `<prefix><pid>`
/// whose process is gone and that hold custodia's marker, and nothing else.
fn remove_stale_exports(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let gone = pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
        if gone && is_our_temporary(&path) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// True for a real directory (not a link) holding custodia's marker file with its text.
fn is_our_temporary(dir: &Path) -> bool {
    let is_dir = fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    let marker = dir.join(TEMPORARY_MARKER);
    let marked = fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file() && m.len() < 4096)
        && fs::read(&marker).is_ok_and(|t| t == TEMPORARY_MARKER_TEXT.as_bytes());
    is_dir && marked
}

/// A new directory only its owner can enter (0700), whatever the umask (issue 9.4).
fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(Error::io(path))?;
    // The umask can only narrow the mode; this makes it exactly 0700 even then.
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(Error::io(path))
}

/// A new file only its owner can read (0600), whatever the umask (issue 9.4).
fn create_private_file(path: &Path) -> Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(path))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(Error::io(path))?;
    Ok(file)
}
