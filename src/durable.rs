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
/// network and FAT mounts), a hard link then unlink for a file, and for a directory (or a
/// file where hard links are refused too) a check-then-rename whose short race is the best
/// such a file system allows.
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
                return check_then_rename(from, to);
            }
            match fs::hard_link(from, to) {
                Ok(()) => fs::remove_file(from).map_err(Error::io(from)),
                Err(e) if links_refused(&e) => check_then_rename(from, to),
                Err(e) => Err(exists(e)),
            }
        }
        Err(e) => Err(exists(e)),
    }
}

/// The last resort, on a file system with neither the no-replace rename nor (for a file)
/// hard links: only something another process makes between the check and the rename
/// could be replaced.
fn check_then_rename(from: &Path, to: &Path) -> Result<()> {
    if fs::symlink_metadata(to).is_ok() {
        return Err(Error::OutputExists(to.to_path_buf()));
    }
    fs::rename(from, to).map_err(Error::io(to))
}

/// A hard link the file system does not do (FAT, exFAT and SMB answer EPERM or ENOTSUP).
fn links_refused(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::ENOTSUP) | Some(libc::ENOSYS)
    )
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

/// Removes what killed custodia processes left behind: regular files of `dir` named
/// `<prefix><pid><suffix>`, owned by this user, whose process is gone. Live processes'
/// temporaries are kept, and nothing else is touched: a directory or a link of that name
/// is the user's, never custodia's (issue 9, finding 13).
pub fn remove_stale_temporaries(dir: &Path, prefix: &str, suffix: &str) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
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
        let path = entry.path();
        let ours = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.uid() == me);
        if ours && pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Whether a process of that id exists (signal 0 asks without sending anything).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Creates a directory and any missing parents; the directory itself is private (0700).
pub fn create_private_dir_all(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(Error::io(path))
}

/// Creates a directory and its missing parents, each new one private (0700): a place
/// for private keys.
pub fn create_private_dir_all_parents(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(Error::io(path))
}

/// Takes every permission away from group and others on a file or directory this user
/// owns (0700 for a directory, 0600 for a file), whatever the umask made it.
pub fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::symlink_metadata(path).map_err(Error::io(path))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.mode() & 0o077 == 0 || meta.uid() != me || meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.mode() & 0o700;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(Error::io(path))
}

/// The archive lock on `<archive>/lock`: exclusive for a writer, shared for a read-only
/// reader. Released when the process ends however it ends, so a killed process never
/// leaves the archive blocked.
#[derive(Debug)]
pub struct WriterLock {
    _file: Option<File>,
}

impl WriterLock {
    pub fn acquire(path: &Path, wait: bool) -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        // Private like the rest of the archive: whoever can open the lock can hold it, and
        // lock every custodia user out (issue 9, finding 5).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(Error::io(path))?;
        make_private(path)?;
        take(&file, path, wait, File::lock, File::try_lock)?;
        Ok(Self { _file: Some(file) })
    }

    /// A shared lock for a reader that writes nothing: it waits out (or, without `wait`,
    /// refuses) a writer, so it never reads a database mid-write. A lock file this user may
    /// not open gives no lock: `None` in place of the guard says so.
    pub fn shared(path: &Path, wait: bool) -> Result<Option<Self>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(None),
            Err(e) => return Err(Error::io(path)(e)),
        };
        take(&file, path, wait, File::lock_shared, File::try_lock_shared)?;
        Ok(Some(Self { _file: Some(file) }))
    }

    /// No lock at all, for a reader that could not open the lock file.
    pub fn none() -> Self {
        Self { _file: None }
    }
}

type Blocking = fn(&File) -> std::io::Result<()>;
type Trying = fn(&File) -> std::result::Result<(), std::fs::TryLockError>;

fn take(file: &File, path: &Path, wait: bool, block: Blocking, attempt: Trying) -> Result<()> {
    if wait {
        return block(file).map_err(Error::io(path));
    }
    match attempt(file) {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(Error::Locked(path.parent().unwrap_or(path).to_path_buf()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path)(e)),
    }
}

/// Copies a sled database directory (its files and its `blobs/`), for a reader that may not
/// write to the original: sled writes to any database it opens.
pub fn copy_database(from: &Path, to: &Path) -> Result<()> {
    create_private_dir_all(to)?;
    for entry in fs::read_dir(from).map_err(Error::io(from))? {
        let entry = entry.map_err(Error::io(from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(Error::io(&src))?;
        if kind.is_dir() {
            copy_database(&src, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst).map_err(Error::io(&src))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_noreplace_never_replaces_a_file_or_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::write(&from, b"new").unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"the user's").unwrap();
        let full = dir.path().join("full");
        fs::create_dir(&full).unwrap();
        fs::write(full.join("x"), b"kept").unwrap();
        for taken in [&file, &full] {
            assert!(matches!(
                rename_noreplace(&from, taken),
                Err(Error::OutputExists(_))
            ));
        }
        assert_eq!(fs::read(&file).unwrap(), b"the user's");
        assert_eq!(fs::read(full.join("x")).unwrap(), b"kept");
        let free = dir.path().join("free");
        rename_noreplace(&from, &free).unwrap();
        assert_eq!(fs::read(&free).unwrap(), b"new");
        assert!(!from.exists());
        // A directory moves the same way.
        let tree = dir.path().join("tree");
        fs::create_dir(&tree).unwrap();
        rename_noreplace(&tree, &dir.path().join("moved")).unwrap();
        assert!(dir.path().join("moved").is_dir());
    }
}
