//! Progress bars on stderr, drawn only on a terminal and never with --quiet or --json.
//!
//! A spinner until the total is known, then a bar with the percentage, bytes, files done
//! and an ETA: what a person watching a long ingest, verify or export can plan by.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use custodia::text::escape_path;
use custodia::{ExportProgress, IngestProgress, Ingested, Skipped, VerifyProgress};

use super::output::Out;

pub struct Bar {
    bar: ProgressBar,
    visible: bool,
    /// What is counted ("files", "contents", "items"), how many are done, and of how many.
    unit: &'static str,
    done: u64,
    of: Option<u64>,
}

/// The bar once its total is known; `{msg}` holds the count of files done.
/// Kept under 80 columns, so that a frame never wraps on a default terminal.
const WITH_TOTAL: &str = "{bar:20} {percent:>3}%  {bytes}/{total_bytes}  {msg}  ETA {eta}";

impl Bar {
    pub fn new(out: &Out, unit: &'static str) -> Self {
        let visible = !out.quiet && !out.json && std::io::stderr().is_terminal();
        let bar = if visible {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec} {wide_msg}")
        {
            bar.set_style(style);
        }
        Self {
            bar,
            visible,
            unit,
            done: 0,
            of: None,
        }
    }

    /// Switches from the spinner to a bar measured against `bytes`.
    fn set_total(&mut self, count: u64, bytes: u64) {
        self.of = Some(count);
        self.bar.set_length(bytes);
        if let Ok(style) = ProgressStyle::with_template(WITH_TOTAL) {
            self.bar.set_style(style);
        }
        self.count(0);
    }

    /// Adds `n` to the things done and shows the count.
    fn count(&mut self, n: u64) {
        self.done += n;
        if let Some(of) = self.of {
            let (done, unit) = (self.done.min(of), self.unit);
            self.bar.set_message(format!("{done}/{of} {unit}"));
        }
    }

    /// Removes the last frame, so that the result lines that follow start on a clean line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Ingest progress: the bar, plus the lines of items as they become durable.
pub struct IngestView<'a> {
    pub bar: Bar,
    pub out: &'a mut Out,
    pub pipe_closed: bool,
}

impl IngestProgress for IngestView<'_> {
    fn wants_total(&self) -> bool {
        self.bar.visible
    }

    fn total(&mut self, files: u64, bytes: u64) {
        self.bar.set_total(files, bytes);
    }

    fn file(&mut self, path: &Path, _size: u64) {
        if self.bar.of.is_none() {
            self.bar.bar.set_message(escape_path(path));
        }
    }

    fn bytes(&mut self, n: u64) {
        self.bar.bar.inc(n);
    }

    fn durable(&mut self, items: &[Ingested]) {
        // Files are done when durable: the count never runs ahead of what is kept.
        self.bar.count(items.len() as u64);
        if self.out.json || self.pipe_closed {
            return;
        }
        let lines: Vec<String> = items.iter().map(result_line).collect();
        let out = &mut *self.out;
        // Printed only once durable, and flushed at once: a line seen is an item kept. The
        // flush is inside the suspension, or the lines reach the terminal after the bar is
        // drawn again and share its line.
        let printed = self.bar.bar.suspend(|| {
            lines.iter().try_for_each(|l| out.line(l))?;
            out.flush()
        });
        if printed.is_err() {
            self.pipe_closed = true;
        }
    }

    fn skipped(&mut self, skip: &Skipped) {
        self.bar.count(1);
        let line = format!(
            "custodia: skipped {}: {}",
            escape_path(&skip.path),
            skip.reason
        );
        self.bar.bar.suspend(|| eprintln!("{line}"));
    }
}

impl VerifyProgress for Bar {
    fn total(&mut self, contents: u64, bytes: u64) {
        self.set_total(contents, bytes);
    }

    fn bytes(&mut self, n: u64) {
        self.bar.inc(n);
    }

    fn content_done(&mut self) {
        self.count(1);
    }
}

impl ExportProgress for Bar {
    fn total(&mut self, items: u64, bytes: u64) {
        self.set_total(items, bytes);
    }

    fn bytes(&mut self, n: u64) {
        self.bar.inc(n);
    }

    fn item_done(&mut self) {
        self.count(1);
    }
}

/// One ingested item as a line: id, new or duplicate, a BLAKE3 prefix, and its path.
fn result_line(i: &Ingested) -> String {
    let status = match i.status {
        custodia::Status::New => "new",
        custodia::Status::Duplicate => "duplicate",
    };
    let annotated = i
        .annotated
        .map(|seq| format!("  (its new metadata recorded as annotation #{seq})"))
        .unwrap_or_default();
    format!(
        "{}  {:<9}  {}  {}{annotated}",
        i.id,
        status,
        &i.fixity.blake3.to_hex()[..16],
        escape_path(&i.path)
    )
}
