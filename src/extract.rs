//! `extract`: an item's original bytes written out, checked chunk by chunk and as a whole before they are kept.

use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::archive::Archive;
use crate::catalog::ItemRecord;
use crate::custody::details::ExtractDetails;
use crate::custody::disclosure::Openings;
use crate::custody::{Action, Draft};
use crate::durable;
use crate::error::{Error, Result};
use crate::ids::{ContentId, ItemRef};
use crate::store::{Fixity, read_content};
use crate::text::safe_file_name;

#[derive(Debug)]
pub struct Extracted {
    pub id: crate::ids::EvidenceId,
    pub path: PathBuf,
    pub fixity: Fixity,
}

impl Archive {
    /// Writes an item's bytes to `out` (a new file, or a new file named after the item inside an existing directory).
    pub fn extract(
        &mut self,
        item: &ItemRef,
        out: &Path,
        reason: Option<String>,
    ) -> Result<Extracted> {
        let item = self.resolve(item)?;
        let target = output_path(out, &item)?;
        if fs::symlink_metadata(&target).is_ok() {
            return Err(Error::OutputExists(target));
        }
        let dir = target.parent().unwrap_or(Path::new("/"));
        durable::remove_stale_temporaries(dir, ".custodia-extract-", ".tmp");
        let tmp = dir.join(format!(".custodia-extract-{}.tmp", std::process::id()));
        // The temporary file goes whatever happens; the output stays only on success.
        let result = self.extract_via(&item, &tmp, &target, dir, reason);
        let _ = fs::remove_file(&tmp);
        // The temporary name is custodia's business: an error names the output asked for
        // (issue 12, point 12).
        let fixity = result.map_err(|e| name_target(e, &tmp, &target))?;
        Ok(Extracted {
            id: item.id,
            path: target,
            fixity,
        })
    }

    /// Writes an item's bytes to a stream (`extract --out -`): the `extract` event, with
    /// `out` = `-`, is made durable first, so the log over-states, never under-states, what
    /// left the archive; then each chunk is checked as it is written, and the whole against
    /// both hashes at the end. Damage found part-way is `Damaged` after some bytes went out:
    /// the caller must heed the error, as with any stream.
    pub fn extract_to_stream(
        &mut self,
        item: &ItemRef,
        reason: Option<String>,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<Extracted> {
        let item = self.resolve(item)?;
        let record = self.content(&item.blake3)?;
        let mut openings = Openings::default();
        let draft = Draft::new(Action::Extract)
            .item(item.id)
            .reason(reason)
            .with(&ExtractDetails {
                blake3: item.blake3.to_hex(),
                sha256: item.sha256.to_hex(),
                size: item.size,
                out: openings.commit("details.out", STREAM_OUT.to_owned())?,
            })
            .openings(openings);
        self.commit(|tx| tx.append(&draft).map(|_| ()))?;
        let mut chunks = self.chunk_reader();
        let fixity = read_content(&mut chunks, &record, &item.blake3, sink)?;
        Ok(Extracted {
            id: item.id,
            path: PathBuf::from(STREAM_OUT),
            fixity,
        })
    }

    /// Writes and checks the bytes in `tmp`, records the extraction, then puts the file in
    /// place: the custody event is durable before the copy exists under its name.
    fn extract_via(
        &mut self,
        item: &ItemRecord,
        tmp: &Path,
        target: &Path,
        dir: &Path,
        reason: Option<String>,
    ) -> Result<Fixity> {
        let fixity = self.write_content(&item.blake3, tmp)?;
        let out = crate::text::exact_or_escaped(target.as_os_str().as_bytes());
        let mut openings = Openings::default();
        let draft = Draft::new(Action::Extract)
            .item(item.id)
            .reason(reason)
            .with(&ExtractDetails {
                blake3: fixity.blake3.to_hex(),
                sha256: fixity.sha256.to_hex(),
                size: fixity.size,
                out: openings.commit("details.out", out)?,
            })
            .openings(openings);
        self.commit(|tx| tx.append(&draft).map(|_| ()))?;
        durable::rename_noreplace(tmp, target)?;
        if let Err(e) = durable::sync_path(dir) {
            let _ = fs::remove_file(target);
            return Err(e);
        }
        Ok(fixity)
    }

    /// Writes a content to `tmp` (a new file), checks it against both hashes and fsyncs it.
    fn write_content(&self, content: &ContentId, tmp: &Path) -> Result<Fixity> {
        let record = self.content(content)?;
        // The copy is as private as the archive it came from; its owner may widen it.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .map_err(Error::io(tmp))?;
        let mut chunks = self.chunk_reader();
        let fixity = read_content(&mut chunks, &record, content, &mut |bytes| {
            durable::write_all(&mut file, tmp, bytes)
        })?;
        durable::sync_file(&file, tmp)?;
        Ok(fixity)
    }
}

/// The `out` an `extract` event records for bytes written to standard output.
pub const STREAM_OUT: &str = "-";

/// An error about the temporary file, told about the output it was to become.
fn name_target(e: Error, tmp: &Path, target: &Path) -> Error {
    match e {
        Error::Io { path, source } if path == tmp => Error::Io {
            path: target.to_path_buf(),
            source,
        },
        other => other,
    }
}

/// Where an extract writes: inside `out` when it is a directory, else `out` itself; either
/// way under the real path of its directory, so the custody event records where the bytes
/// went even when `out` goes through a symbolic link (issue 9, finding 14).
fn output_path(out: &Path, item: &ItemRecord) -> Result<PathBuf> {
    let (dir, name) = if out.is_dir() {
        let name = safe_file_name(&item.name, &item.id.to_string());
        (out, std::ffi::OsString::from(name))
    } else {
        let name = out
            .file_name()
            .ok_or_else(|| Error::OutputExists(out.to_path_buf()))?;
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (dir, name.to_owned())
    };
    let real = fs::canonicalize(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
            Error::NoOutputDir(dir.to_path_buf())
        }
        _ => Error::io(dir)(e),
    })?;
    Ok(real.join(name))
}
