//! Fault injection for tests: makes the Nth write, fsync or rename of custodia's own I/O fail.
//!
//! Only with the `fault-injection` feature, which `cargo test` turns on (Cargo.toml's
//! dev-dependency on this crate) and no other build has: a custodia a user runs never obeys
//! `CUSTODIA_FAULT`. `CUSTODIA_FAULT=fsync:3` makes the third fsync of the process fail
//! with an I/O error; `write:N` and `rename:N` likewise. Without the feature every hook
//! compiles to nothing.

use std::io;
use std::path::Path;

/// The kinds of I/O a fault can be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Write,
    Fsync,
    Rename,
}

#[cfg(feature = "fault-injection")]
mod active {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::Op;

    static PLAN: OnceLock<Option<(Op, u64)>> = OnceLock::new();
    static COUNTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

    fn plan() -> Option<(Op, u64)> {
        *PLAN.get_or_init(|| {
            let text = std::env::var("CUSTODIA_FAULT").ok()?;
            let (op, n) = text.split_once(':')?;
            let op = match op {
                "write" => Op::Write,
                "fsync" => Op::Fsync,
                "rename" => Op::Rename,
                _ => return None,
            };
            Some((op, n.parse().ok()?))
        })
    }

    /// True when this call is the one the plan says must fail.
    pub fn hit(op: Op) -> bool {
        let Some((planned, n)) = plan() else {
            return false;
        };
        if planned != op {
            return false;
        }
        let count = COUNTS[op as usize].fetch_add(1, Ordering::SeqCst) + 1;
        count == n
    }
}

/// Fails when the fault plan says this operation on `path` must fail.
#[inline]
pub fn check(op: Op, path: &Path) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    if active::hit(op) {
        return Err(io::Error::other(format!(
            "injected {op:?} fault on {}",
            path.display()
        )));
    }
    let _ = (op, path);
    Ok(())
}
