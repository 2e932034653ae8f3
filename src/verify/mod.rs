//! `verify`: re-reads every chunk, content, index entry and custody event, and names each problem it finds.
//!
//! Damage is a finding, not an error: verify keeps going so that one damaged item never
//! hides another. Only "could not check at all" (no archive, locked) is an error.

mod against;
mod contents;
mod current;
mod log;
mod openings;
mod records;
mod subset;

pub use subset::{Chooser, Subset};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::archive::{Archive, OpenOptions};
use crate::custody::details::VerifyDetails;
use crate::custody::{Action, Draft};
use crate::error::{Error, Result};
use crate::findings::{Finding, RecordAt, VerifyReport};
use crate::store::panic_text;

/// Progress of a verification: contents and bytes to re-read, then as they are re-read.
pub trait VerifyProgress {
    fn total(&mut self, _contents: u64, _bytes: u64) {}
    fn bytes(&mut self, _n: u64) {}
    /// One content re-read to its end, intact or not.
    fn content_done(&mut self) {}
}

impl VerifyProgress for () {}

/// What a verification checks beyond the archive itself.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// An earlier checkpoint (its signed note) the log must still hold as a prefix.
    pub against: Option<String>,
    /// Re-read only this share of the contents (every record and event is still checked).
    pub subset: Option<Subset>,
}

/// Verifies the archive at `root`, turning a database sled cannot open into a finding.
pub fn verify_archive(
    root: &Path,
    opts: &OpenOptions,
    checks: &VerifyOptions,
    progress: &mut dyn VerifyProgress,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut archive = match open(root, opts) {
        Ok(a) => a,
        Err(Error::DatabaseDamaged { path, detail }) => {
            report.found(Finding::DatabaseUnreadable {
                path: Some(path.display().to_string()),
                why: detail,
            });
            return Ok(report);
        }
        Err(Error::Damaged(detail)) => {
            report.found(Finding::RecordUnreadable {
                at: RecordAt::Archive,
                why: detail,
            });
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    match catch_unwind(AssertUnwindSafe(|| {
        let chooser = checks.subset.map(Subset::chooser).transpose();
        let chooser = chooser.map_err(Error::io("the operating system's random source"))?;
        report.subset = checks.subset.map(|s| (s.to_string(), 0));
        archive.check_all(&mut report, progress, chooser.as_ref())?;
        match &checks.against {
            Some(note) => archive.check_against(note, &mut report),
            None => Ok(()),
        }
    })) {
        Ok(Ok(())) => {}
        // Could not check (a full disk, an unreadable file): not a finding about the evidence.
        Ok(Err(e)) => return Err(e),
        Err(panic) => {
            report.found(Finding::DatabaseUnreadable {
                path: Some(root.join("db").display().to_string()),
                why: panic_text(&panic),
            });
            return Ok(report);
        }
    }
    report.read_only = archive.is_read_only();
    if !report.read_only {
        report.recorded = archive.record_verification(&report).ok();
    }
    Ok(report)
}

/// Opens the archive for verifying: read-only when asked, or when this user may not
/// write to it (an auditor with read access only, issue 9 finding 6).
fn open(root: &Path, opts: &OpenOptions) -> Result<Archive> {
    match Archive::open(root, opts) {
        Err(e) if !opts.read_only && cannot_write(&e) => {
            let read_only = OpenOptions {
                read_only: true,
                ..opts.clone()
            };
            Archive::open(root, &read_only)
        }
        other => other,
    }
}

/// Whether opening for writing failed only because this user may not write there.
fn cannot_write(e: &Error) -> bool {
    use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem};
    matches!(e, Error::Io { source, .. } if matches!(source.kind(), PermissionDenied | ReadOnlyFilesystem))
}

impl Archive {
    /// Runs every check. An I/O error means the check could not be made and ends verify;
    /// anything else a step meets is a finding, and the next step still runs.
    fn check_all(
        &self,
        report: &mut VerifyReport,
        progress: &mut dyn VerifyProgress,
        chooser: Option<&Chooser>,
    ) -> Result<()> {
        type Step<'a> = &'a dyn Fn(&mut VerifyReport, &mut dyn VerifyProgress) -> Result<()>;
        let steps: [Step; 5] = [
            &|r, p| self.check_contents(r, p, chooser),
            &|r, _| self.check_items(r),
            &|r, _| self.check_index(r),
            &|r, _| self.check_current(r),
            &|r, _| self.check_custody(r),
        ];
        for step in steps {
            match step(report, progress) {
                Ok(()) => {}
                Err(e) if e.is_environmental() => return Err(e),
                Err(e) => report.found(Finding::DatabaseUnreadable {
                    path: None,
                    why: format!("reading the database failed: {e}"),
                }),
            }
        }
        Ok(())
    }

    fn record_verification(&mut self, report: &VerifyReport) -> Result<u64> {
        let c = report.checked;
        let draft = Draft::new(Action::Verify).with(&VerifyDetails {
            ok: report.ok(),
            problems: report.problems.len() as u64,
            items: c.items,
            contents: c.contents,
            bytes: c.bytes,
            events: c.events,
            subset: report.subset.as_ref().map(|(s, _)| s.clone()),
            contents_read: report.subset.as_ref().map(|(_, read)| *read),
        });
        self.commit(|tx| tx.append(&draft).map(|(seq, _)| seq))
    }
}
