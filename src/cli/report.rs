//! Failures on stderr: one sentence, or with --json one `{"error": {"kind", "message"}}` object.

use custodia::Error;

use super::wire;

/// Prints a failure on stderr.
pub fn report_error(e: &Error, json: bool) {
    emit(e.kind(), e.to_string(), json);
}

/// Prints an internal error (a panic nobody caught) as one sentence or one JSON object.
pub fn report_internal(what: &str, json: bool) {
    emit(
        "internal",
        format!("internal error, please report it ({what})"),
        json,
    );
}

/// Prints a usage error as one sentence (or one JSON error object with --json), with
/// clap's suggestion for a typo (`lst`: "a similar subcommand exists: 'list'"). A command
/// given without its subcommand (`custodia`, `custodia case`) prints its help instead.
pub fn report_usage(e: &clap::Error) {
    use clap::error::ErrorKind::{DisplayHelpOnMissingArgumentOrSubcommand, MissingSubcommand};
    let json = std::env::args_os().any(|a| a == "--json");
    let missing = matches!(
        e.kind(),
        DisplayHelpOnMissingArgumentOrSubcommand | MissingSubcommand
    );
    if missing && !json {
        // The help, on stderr: a usage error all the same (exit 2), so stdout stays empty.
        // Also when $CUSTODIA_ARCHIVE or --archive is given, which clap counts as arguments.
        eprint!("{}", help_of_given_command());
        return;
    }
    let text = e.to_string();
    // clap's first paragraph, as one line; its usage hint is replaced by a pointer to --help.
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    let first = joined.strip_prefix("error: ").unwrap_or(&joined);
    let tips: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tip:"))
        .collect();
    let message = if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "a command is required (see --help)".to_owned()
    } else if tips.is_empty() {
        format!("{first} (see --help)")
    } else {
        format!("{first} ({}; see --help)", tips.join("; "))
    };
    emit("usage", message, json);
}

/// The help of the deepest (sub)command named on the command line (`custodia case` →
/// `case`'s help).
fn help_of_given_command() -> String {
    use clap::CommandFactory;
    let mut root = super::args::Cli::command();
    root.build();
    let mut current = &root;
    for arg in std::env::args().skip(1) {
        if let Some(sub) = current.find_subcommand(&arg) {
            current = sub;
        }
    }
    current.clone().render_help().to_string()
}

fn emit(kind: &str, message: String, json: bool) {
    if json {
        let body = wire::ErrorOut {
            error: wire::ErrorBody { kind, message },
        };
        eprintln!("{}", serde_json::to_string(&body).unwrap_or_default());
    } else {
        eprintln!("custodia: {message}");
    }
}
