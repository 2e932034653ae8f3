//! The `custodia` binary: parse, run, map the result to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::{Failure, Out, Outcome};

fn main() -> ExitCode {
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
    match cli::run(args, &mut out) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Damage) => ExitCode::from(3),
        // The reader of stdout went away: it has what it wanted.
        Err(Failure::Pipe) => ExitCode::SUCCESS,
        Err(Failure::Error(e)) => {
            cli::report_error(&e, json);
            ExitCode::from(if e.is_damage() { 3 } else { 1 })
        }
    }
}
