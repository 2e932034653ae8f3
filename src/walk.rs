//! Turning ingest arguments into the files to read and the entries to skip, with the reason for each.

use std::fs::Metadata;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One entry met while walking the inputs.
pub enum Found {
    File(PathBuf),
    Skip { path: PathBuf, reason: String },
}

/// Checks every argument exists before any is read, so a typo changes nothing.
pub fn check_inputs(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        if let Err(e) = std::fs::symlink_metadata(p) {
            return Err(if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingInput(p.clone())
            } else {
                Error::io(p)(e)
            });
        }
    }
    Ok(())
}

/// Walks files and folders in name order, never following a symbolic link.
pub fn walk(paths: &[PathBuf]) -> impl Iterator<Item = Found> + '_ {
    paths.iter().flat_map(|root| {
        // A link given as an argument is reported, never walked into.
        let root_is_link =
            std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink());
        let link = root_is_link.then(|| Found::Skip {
            path: root.clone(),
            reason: "symbolic link (not followed)".into(),
        });
        let walked = (!root_is_link).then(|| walk_one(root));
        link.into_iter().chain(walked.into_iter().flatten())
    })
}

fn walk_one(root: &Path) -> impl Iterator<Item = Found> + '_ {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(move |entry| match entry {
            Ok(e) if e.file_type().is_dir() => None,
            Ok(e) => match e.metadata() {
                Ok(meta) => Some(classify(e.into_path(), &meta)),
                Err(err) => Some(Found::Skip {
                    path: e.into_path(),
                    reason: format!("cannot be read: {err}"),
                }),
            },
            Err(err) => {
                let path = err
                    .path()
                    .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
                let reason = match err.io_error() {
                    Some(io) => format!("cannot be read: {io}"),
                    None => format!("cannot be read: {err}"),
                };
                Some(Found::Skip { path, reason })
            }
        })
}

fn classify(path: PathBuf, meta: &Metadata) -> Found {
    let t = meta.file_type();
    let reason = if t.is_file() {
        return Found::File(path);
    } else if t.is_symlink() {
        "symbolic link (not followed)"
    } else if t.is_fifo() {
        "named pipe (FIFO)"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "not a regular file"
    };
    Found::Skip {
        path,
        reason: reason.into(),
    }
}
