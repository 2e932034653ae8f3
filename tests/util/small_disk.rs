//! A small tmpfs for a test that needs a real "no space left on device", unmounted when
//! dropped (also when the test fails).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `kib` KiB at `dir`; an error says why it could not (not root, no
    /// `mount`), for `skip_outside_ci`.
    pub fn mount(dir: &Path, kib: u64) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount: {}", super::text(&out.stderr).trim()));
        }
        Ok(SmallDisk {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}
