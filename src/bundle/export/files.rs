//! How a file or directory of a bag is made: private (0600/0700), written in few large
//! writes while hashed, fsynced; and the temporary directory a bag is built in, marked so
//! that only custodia's own leftovers are ever removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::bundle::bagit::{FileDigests, TripleHasher};
use crate::durable;
use crate::error::{Error, Result};

/// Writes a new file (its directory exists), fsyncs it, and returns its digests.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<FileDigests> {
    let mut file = BagFile::create(path.to_path_buf())?;
    file.put(bytes)?;
    file.finish()
}

/// How much of a tag or metadata file is gathered before it is written: few writes for a
/// large case, little memory.
const BAG_FILE_BUFFER: usize = 256 << 10;

/// A new file of the bag written piece by piece: gathered into few large writes, hashed
/// as written, fsynced by `finish`.
pub(super) struct BagFile {
    pub(super) path: PathBuf,
    file: fs::File,
    buf: Vec<u8>,
    hasher: TripleHasher,
    /// The first error of a write made through `io::Write`, kept whole: serde_json hands
    /// back only an `io::Error` made of it.
    pub(super) failed: Option<Error>,
}

impl BagFile {
    pub(super) fn create(path: PathBuf) -> Result<BagFile> {
        let file = create_private_file(&path)?;
        Ok(BagFile {
            path,
            file,
            buf: Vec::new(),
            hasher: TripleHasher::default(),
            failed: None,
        })
    }

    pub(super) fn put(&mut self, bytes: &[u8]) -> Result<()> {
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
    pub(super) fn finish(mut self) -> Result<FileDigests> {
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

/// fsyncs the bag's directories but the items' own (which `write_items` fsynced), deepest first.
pub(super) fn sync_dirs(bag: &Path, data: &Path) -> Result<()> {
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
pub(super) const TEMPORARY_MARKER: &str = ".custodia-temporary";

pub(super) const TEMPORARY_MARKER_TEXT: &str = "custodia export in progress: this directory is custodia's own temporary, and may be removed once its process is gone\n";

/// Removes the marker before the bag is published (a bundle holds no file but its own),
/// and fsyncs the directory so the name goes with it.
pub(super) fn unmark(tmp: &Path) -> Result<()> {
    let marker = tmp.join(TEMPORARY_MARKER);
    fs::remove_file(&marker).map_err(Error::io(&marker))?;
    durable::sync_path(tmp)
}

/// Removes what killed exports left beside `--out`: directories named `<prefix><pid>`
/// whose process is gone and that hold custodia's marker, and nothing else.
pub(super) fn remove_stale_exports(parent: &Path, prefix: &str) {
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
        let gone = pid != std::process::id() && !durable::process_alive(pid);
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
pub(super) fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(Error::io(path))?;
    // The umask can only narrow the mode; this makes it exactly 0700 even then.
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(Error::io(path))
}

/// A new file only its owner can read (0600), whatever the umask (issue 9.4).
pub(super) fn create_private_file(path: &Path) -> Result<fs::File> {
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
