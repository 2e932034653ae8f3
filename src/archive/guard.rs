//! The log's guard: no write while the custody log and the `HEAD` file disagree, so lost
//! events are never replaced under their numbers (docs/OPERATIONS.md, "Recovering a log
//! that lost events").

use std::fs;
use std::io;
use std::sync::atomic::Ordering;

use super::{Archive, HEAD_FILE, parse_head_text};
use crate::catalog::Head;
use crate::error::{Error, Result};
use crate::ids::EventDigest;

impl Archive {
    /// The head the `HEAD` file records: `None` when there is no such file (a new archive).
    pub(super) fn head_file(&self) -> Result<Option<Head>> {
        let path = self.root.join(HEAD_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => parse_head_text(&text).map(Some).ok_or_else(|| {
                Error::CustodyGap(format!(
                    "the HEAD file {} is not readable as a head record",
                    crate::text::escape_path(&path)
                ))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    /// Refuses to write while the custody log and the `HEAD` file disagree: a log that lost
    /// its newest events (a damaged or rolled-back `db/`) would otherwise reuse their
    /// numbers, and the next `HEAD` would hide the loss. Checked once per process, before
    /// its first write; the lock keeps it true after.
    pub(super) fn check_log_intact(&self) -> Result<()> {
        if self.log_intact.load(Ordering::Relaxed) {
            return Ok(());
        }
        let db_head = self.head()?;
        let last = self.catalog.last_event()?;
        if db_head.map(|h| (h.seq, h.digest)) != last {
            return Err(Error::CustodyGap(format!(
                "the database records event {} as the newest but its log ends at event {}",
                db_head.map_or(0, |h| h.seq),
                last.map_or(0, |l| l.0)
            )));
        }
        match (self.head_file()?, db_head) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(Error::CustodyGap(
                    "the HEAD file is missing, so the log cannot be shown complete".into(),
                ));
            }
            (Some(recorded), db) => {
                let held = self
                    .catalog
                    .event_bytes(recorded.seq)?
                    .map(|bytes| EventDigest::of(&bytes));
                if held != Some(recorded.digest) {
                    return Err(Error::CustodyGap(gap_text(&recorded, db.as_ref())));
                }
            }
        }
        self.log_intact.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// The sentence for a HEAD file that names an event the log does not hold.
pub(super) fn gap_text(recorded: &Head, log: Option<&Head>) -> String {
    match log {
        Some(h) if h.seq < recorded.seq => format!(
            "the HEAD file records event {} but the log ends at event {}: events {} to {} were lost",
            recorded.seq,
            h.seq,
            h.seq + 1,
            recorded.seq
        ),
        Some(_) => format!(
            "the HEAD file records event {} with digest {}, which the log holds with other bytes: the log was changed",
            recorded.seq, recorded.digest
        ),
        None => format!(
            "the HEAD file records event {} but the log holds no events: events 1 to {} were lost",
            recorded.seq, recorded.seq
        ),
    }
}
