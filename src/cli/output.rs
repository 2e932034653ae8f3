//! Where output goes: results on stdout, diagnostics on stderr, a closed pipe treated as the reader being done.

use std::io::{self, Write};

use serde::Serialize;

/// Why output stopped: the reader went away (`custodia list | head -1`: stop quietly), or
/// stdout itself failed (a full disk under `> out.json`: a real error).
#[derive(Debug)]
pub enum BrokenPipe {
    Closed,
    Failed(io::Error),
}

pub struct Out {
    stdout: io::BufWriter<io::Stdout>,
    pub json: bool,
    pub quiet: bool,
}

impl Out {
    pub fn new(json: bool, quiet: bool) -> Self {
        Self {
            stdout: io::BufWriter::new(io::stdout()),
            json,
            quiet,
        }
    }

    /// One line of human output on stdout.
    pub fn line(&mut self, text: &str) -> Result<(), BrokenPipe> {
        writeln!(self.stdout, "{text}").map_err(pipe)
    }

    /// Raw bytes on stdout: an item's content (`extract --out -`), a generated script or page.
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), BrokenPipe> {
        self.stdout.write_all(bytes).map_err(pipe)
    }

    /// One compact JSON object on one line (`log --json-lines`).
    pub fn json_line<T: Serialize>(&mut self, value: &T) -> Result<(), BrokenPipe> {
        serde_json::to_writer(&mut self.stdout, value).map_err(|e| pipe(e.into()))?;
        writeln!(self.stdout).map_err(pipe)
    }

    pub fn flush(&mut self) -> Result<(), BrokenPipe> {
        self.stdout.flush().map_err(pipe)
    }

    /// The one JSON document of a `--json` run.
    pub fn json<T: Serialize>(&mut self, value: &T) -> Result<(), BrokenPipe> {
        serde_json::to_writer_pretty(&mut self.stdout, value).map_err(|e| pipe(e.into()))?;
        writeln!(self.stdout).map_err(pipe)?;
        self.flush()
    }

    /// A note on stderr, unless --quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A warning on stderr, shown even with --quiet.
    pub fn warn(&self, text: &str) {
        eprintln!("custodia: {text}");
    }
}

fn pipe(e: io::Error) -> BrokenPipe {
    if e.kind() == io::ErrorKind::BrokenPipe {
        BrokenPipe::Closed
    } else {
        BrokenPipe::Failed(e)
    }
}
