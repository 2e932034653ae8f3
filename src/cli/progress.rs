//! Progress bars on stderr, drawn only on a terminal and never with --quiet or --json.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use custodia::text::escape_path;
use custodia::{IngestProgress, Ingested, Skipped, VerifyProgress};

use super::output::Out;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(out: &Out) -> Self {
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
        Self { bar }
    }

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
    fn file(&mut self, path: &Path, _size: u64) {
        self.bar.bar.set_message(escape_path(path));
    }

    fn bytes(&mut self, n: u64) {
        self.bar.bar.inc(n);
    }

    fn durable(&mut self, items: &[Ingested]) {
        if self.out.json || self.pipe_closed {
            return;
        }
        for i in items {
            let status = match i.status {
                custodia::Status::New => "new",
                custodia::Status::Duplicate => "duplicate",
            };
            let line = format!(
                "{}  {:<9}  {}  {}",
                i.id,
                status,
                &i.fixity.blake3.to_hex()[..16],
                escape_path(&i.path)
            );
            if self.bar.bar.suspend(|| self.out.line(&line)).is_err() {
                self.pipe_closed = true;
                return;
            }
        }
        // Printed only once durable, and flushed at once: a line seen is an item kept.
        if self.out.flush().is_err() {
            self.pipe_closed = true;
        }
    }

    fn skipped(&mut self, skip: &Skipped) {
        let line = format!(
            "custodia: skipped {}: {}",
            escape_path(&skip.path),
            skip.reason
        );
        self.bar.bar.suspend(|| eprintln!("{line}"));
    }
}

impl VerifyProgress for Bar {
    fn bytes(&mut self, n: u64) {
        self.bar.inc(n);
    }
}
