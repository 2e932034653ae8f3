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
    let json = std::env::args_os().any(|a| a == "--json");
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand && !json {
        // The help, on stderr: a usage error all the same (exit 2), so stdout stays empty.
        let _ = e.print();
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
