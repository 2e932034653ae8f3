//! Making writes durable: fsync of files and directories, atomic replacement, the writer lock.
//!
//! sled 0.34.7's `flush()` ends in `sync_file_range`, never fsyncs its `blobs/` files and
//! never fsyncs a directory (sled issues #1452, #1351, #1077). `sync_tree` closes that gap.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fault::{self, Op};

/// fsyncs one file or directory.
pub fn sync_path(path: &Path) -> Result<()> {
    let file = File::open(path).map_err(Error::io(path))?;
    sync_file(&file, path)
}

/// fsyncs an open file; every fsync of custodia goes through here.
pub fn sync_file(file: &File, path: &Path) -> Result<()> {
    fault::check(Op::Fsync, path).map_err(Error::io(path))?;
    file.sync_all().map_err(Error::io(path))
}

/// Writes all of `bytes`; every write of custodia's own files goes through here.
pub fn write_all(file: &mut File, path: &Path, bytes: &[u8]) -> Result<()> {
    fault::check(Op::Write, path).map_err(Error::io(path))?;
    file.write_all(bytes).map_err(Error::io(path))
}

/// Renames; every rename of custodia goes through here.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fault::check(Op::Rename, to).map_err(Error::io(to))?;
    fs::rename(from, to).map_err(Error::io(to))
}

/// Renames `from` (a file or a directory) to `to`, refusing to replace anything already
/// there: a rename that cannot clobber, so what a user created meanwhile is never lost.
///
/// Linux's `renameat2(RENAME_NOREPLACE)`; where the file system does not offer it (some
/// network and FAT mounts), a hard link then unlink for a file, and for a directory a
/// check-then-rename whose short race is the best such a file system allows.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    fault::check(Op::Rename, to).map_err(Error::io(to))?;
    let exists = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::OutputExists(to.to_path_buf())
        } else {
            Error::io(to)(e)
        }
    };
    match renameat2_noreplace(from, to) {
        Ok(()) => Ok(()),
        Err(e) if unsupported(&e) => {
            if fs::symlink_metadata(from)
                .map_err(Error::io(from))?
                .is_dir()
            {
                if fs::symlink_metadata(to).is_ok() {
                    return Err(Error::OutputExists(to.to_path_buf()));
                }
                fs::rename(from, to).map_err(Error::io(to))
            } else {
                fs::hard_link(from, to).map_err(exists)?;
                fs::remove_file(from).map_err(Error::io(from))
            }
        }
        Err(e) => Err(exists(e)),
    }
}

fn unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP)
    )
}

#[cfg(target_os = "linux")]
fn renameat2_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn renameat2_noreplace(_from: &Path, _to: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

/// fsyncs every file of a sled database directory and the directories themselves.
///
/// Blob files are immutable once sled has written them, so each is fsynced once per
/// process: `synced` remembers which, by full path.
pub fn sync_tree(db_dir: &Path, synced: &mut HashSet<OsString>) -> Result<()> {
    for entry in fs::read_dir(db_dir).map_err(Error::io(db_dir))? {
        let entry = entry.map_err(Error::io(db_dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(Error::io(&path))?;
        if kind.is_file() {
            sync_path(&path)?;
        } else if kind.is_dir() {
            sync_new_files(&path, synced)?;
            sync_path(&path)?;
        }
    }
    sync_path(db_dir)
}

fn sync_new_files(dir: &Path, synced: &mut HashSet<OsString>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        // Keyed by full path: sled names blob files by log position, which restarts in
        // every database, so two volumes hold files of the same name.
        let path = entry.path();
        if synced.contains(path.as_os_str()) {
            continue;
        }
        match sync_path(&path) {
            Ok(()) => {}
            // sled deletes blobs it no longer needs; one gone between listing and opening needs no sync.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => return Err(e),
        }
        synced.insert(path.into_os_string());
    }
    Ok(())
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one:
/// a temporary sibling, fsynced, renamed over, and the directory fsynced.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().map(OsString::from).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut file = File::create(&tmp).map_err(Error::io(&tmp))?;
    write_all(&mut file, &tmp, bytes)?;
    sync_file(&file, &tmp)?;
    drop(file);
    rename(&tmp, path)?;
    sync_path(dir)
}

/// Opens a file for reading without following a link or blocking on a FIFO: a file swapped
/// for a link after it was listed is refused, and one swapped for a pipe cannot hang a read.
pub fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Removes what killed custodia processes left behind: entries of `dir` named
/// `<prefix><pid><suffix>` whose process is gone. Live processes' temporaries are kept.
pub fn remove_stale_temporaries(dir: &Path, prefix: &str, suffix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let path = entry.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// The one-writer lock: an exclusive lock on `<archive>/lock`, released when the
/// process ends however it ends, so a killed process never leaves the archive blocked.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub fn acquire(path: &Path, wait: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::io(path))?;
        if wait {
            file.lock().map_err(Error::io(path))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked(path.parent().unwrap_or(path).to_path_buf()));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path)(e)),
            }
        }
        Ok(Self { _file: file })
    }
}
