//! The `custodia` binary: parse, run, map the result to an exit code.

mod cli;

/// jemalloc, not glibc's malloc: a quarter of a small-file ingest went to glibc's
/// allocation and consolidation of the leaf nodes sled's transactions clone and drop.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start: one arena (custodia runs a few threads, and
/// one arena per core held 25 MiB more on verify for no speed) and freed pages returned
/// after a second rather than ten, to keep the peak resident memory down.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(c"narenas:1,dirty_decay_ms:1000".as_ptr());

/// A C string pointer that may sit in a static: it points at a literal, never written.
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a 'static string literal, read only.
unsafe impl Sync for MallocConf {}

use std::process::ExitCode;

use clap::Parser;

use cli::{Failure, Out, Outcome};

/// The first panic of the process, for the one-line report of an uncaught one.
static LAST_PANIC: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    // Everything custodia creates (sled's files, volumes, extracted copies, bundles) is
    // its owner's alone, whatever the shell's umask: evidence is private by default.
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(0o077) };
    let args = match cli::args::Cli::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own text on stdout.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            cli::report_usage(&e);
            return ExitCode::from(2);
        }
    };
    let mut out = Out::new(args.json, args.quiet);
    let json = args.json;
    // The library catches panics inside sled and reports them as findings; the default
    // hook would still print them. An uncaught one is reported below, in one sentence.
    std::panic::set_hook(Box::new(|info| {
        let _ = LAST_PANIC.set(info.to_string());
    }));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cli::run(args, &mut out)));
    let Ok(run) = run else {
        // docs/CLI.md: an internal error is "could not do its work" (exit 1).
        let what = LAST_PANIC.get().map(String::as_str).unwrap_or("unknown");
        cli::report_internal(what, json);
        return ExitCode::from(1);
    };
    // Human output is buffered: a failure to write the last of it is still a failure.
    let run = run.and_then(|outcome| out.flush().map(|()| outcome).map_err(Failure::from));
    match run {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Damage) => ExitCode::from(3),
        Ok(Outcome::Partial) => ExitCode::from(4),
        // The reader of stdout went away: it has what it wanted.
        Err(Failure::Pipe) => ExitCode::SUCCESS,
        Err(Failure::Error(e)) => {
            cli::report_error(&e, json);
            ExitCode::from(if e.is_damage() { 3 } else { 1 })
        }
    }
}
