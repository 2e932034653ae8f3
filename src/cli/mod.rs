//! The command-line front end: runs one parsed command against the library and renders its result.

pub mod args;
mod demo;
mod output;
mod progress;
mod wire;

use std::path::Path;

use custodia::text::{escape_bytes, escape_path, escape_text};
use custodia::{
    Archive, Error, ExportOptions, IngestOptions, ListFilter, OpenOptions, verify_archive,
};

use args::{CaseCommand, Cli, Command};
pub use output::{BrokenPipe, Out};

/// How a command ended, when it ran to the end.
pub enum Outcome {
    Success,
    /// `verify` ran and found damage.
    Damage,
    /// `ingest` stored what it could but skipped something it was given or found: a
    /// script must not take the inputs as archived (`ingest … && rm -rf usb/`).
    Partial,
}

/// A command that did not run to the end.
pub enum Failure {
    Error(Error),
    Pipe,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

impl From<BrokenPipe> for Failure {
    fn from(p: BrokenPipe) -> Self {
        if let BrokenPipe::Failed(source) = p {
            return Failure::Error(Error::Io {
                path: "standard output".into(),
                source,
            });
        }
        Failure::Pipe
    }
}

type Run = Result<Outcome, Failure>;

pub fn run(cli: Cli, out: &mut Out) -> Run {
    let opts = OpenOptions {
        actor: actor(cli.actor),
        wait: cli.wait,
        read_only: false,
    };
    let root = cli.archive.as_path();
    match cli.command {
        Command::Init => init(root, &opts, out),
        Command::Case(c) => case(root, &opts, c, out),
        Command::Ingest(a) => {
            let ingest = IngestOptions {
                case: a.case,
                source: a.source,
                note: a.note,
                tags: a.tags,
                captured_at: a.captured_at,
                parent: a.parent,
                paths: a.paths,
            };
            self::ingest(&mut Archive::open(root, &opts)?, &ingest, out)
        }
        Command::Link { id, case, reason } => {
            let id = Archive::open(root, &opts)?.link(&id, &case, reason)?;
            finish(
                out,
                &serde_json::json!({"id": id.to_string(), "case": case.to_string()}),
                &format!("{id} is now in case {case}"),
            )
        }
        Command::List { case, tag } => {
            let items = Archive::open(root, &opts)?.list(&ListFilter { case, tag })?;
            list(&items, out)
        }
        Command::Show { id } => show(&Archive::open(root, &opts)?.show(&id)?, out),
        Command::Extract {
            id,
            out: path,
            reason,
        } => {
            let done = Archive::open(root, &opts)?.extract(&id, &path, reason)?;
            let json = serde_json::json!({
                "id": done.id.to_string(), "path": escape_path(&done.path),
                "blake3": done.fixity.blake3.to_hex(), "sha256": done.fixity.sha256.to_hex(), "size": done.fixity.size,
            });
            finish(
                out,
                &json,
                &format!(
                    "{} written to {} ({} bytes, BLAKE3 and SHA-256 checked)",
                    done.id,
                    escape_path(&done.path),
                    done.fixity.size
                ),
            )
        }
        Command::Log { case, evidence } => {
            let archive = Archive::open(root, &opts)?;
            let item = evidence
                .map(|r| archive.resolve(&r))
                .transpose()?
                .map(|i| i.id);
            log(&archive.log(case.as_ref(), item)?, out)
        }
        Command::Verify {
            bundle: None,
            read_only,
        } => verify(root, &OpenOptions { read_only, ..opts }, out),
        Command::Verify {
            bundle: Some(dir), ..
        } => {
            let report = custodia::verify_bundle(&dir)?;
            render_verify(&report, out)
        }
        Command::Export(a) => export(root, &opts, a, out),
        Command::Demo { fixtures, workdir } => demo::run(&fixtures, workdir, &opts, out),
    }
}

/// Prints a failure on stderr: one sentence, or with --json one `{"error": {...}}` object.
pub fn report_error(e: &Error, json: bool) {
    if json {
        let body = wire::ErrorOut {
            error: wire::ErrorBody {
                kind: e.kind(),
                message: e.to_string(),
            },
        };
        eprintln!("{}", serde_json::to_string(&body).unwrap_or_default());
    } else {
        eprintln!("custodia: {e}");
    }
}

/// Prints an internal error (a panic nobody caught) as one sentence or one JSON object.
pub fn report_internal(what: &str, json: bool) {
    let message = format!("internal error, please report it ({what})");
    if json {
        let body = wire::ErrorOut {
            error: wire::ErrorBody {
                kind: "internal",
                message,
            },
        };
        eprintln!("{}", serde_json::to_string(&body).unwrap_or_default());
    } else {
        eprintln!("custodia: {message}");
    }
}

/// Prints a usage error as one sentence (or one JSON error object with --json).
pub fn report_usage(e: &clap::Error) {
    let text = e.to_string();
    // clap's first paragraph, as one line; its usage hint is replaced by a pointer to --help.
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    let message = format!(
        "{} (see --help)",
        joined.strip_prefix("error: ").unwrap_or(&joined)
    );
    if std::env::args_os().any(|a| a == "--json") {
        let body = wire::ErrorOut {
            error: wire::ErrorBody {
                kind: "usage",
                message,
            },
        };
        eprintln!("{}", serde_json::to_string(&body).unwrap_or_default());
    } else {
        eprintln!("custodia: {message}");
    }
}

fn actor(given: Option<String>) -> String {
    given
        .filter(|a| !a.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(os_user)
}

/// The OS user's name from the password database (cron and services often run without
/// $USER); `whoami` reads it with getpwuid_r.
fn os_user() -> String {
    whoami::fallible::username().unwrap_or_else(|_| "unknown".into())
}

/// Prints the JSON value with --json, the human line otherwise.
fn finish(out: &mut Out, json: &serde_json::Value, human: &str) -> Run {
    if out.json {
        out.json(json)?
    } else {
        out.line(human)?
    }
    Ok(Outcome::Success)
}

fn init(root: &Path, opts: &OpenOptions, out: &mut Out) -> Run {
    let archive = Archive::init(root, opts)?;
    let json = serde_json::json!({"archive": escape_path(root), "archive_id": archive.meta().archive_id, "format": custodia::FORMAT_VERSION});
    finish(
        out,
        &json,
        &format!(
            "created archive {} (id {})",
            escape_path(root),
            archive.meta().archive_id
        ),
    )
}

fn case(root: &Path, opts: &OpenOptions, cmd: CaseCommand, out: &mut Out) -> Run {
    let mut archive = Archive::open(root, opts)?;
    match cmd {
        CaseCommand::Create {
            id,
            title,
            description,
        } => {
            let case = archive.create_case(&id, &title, description.as_deref())?;
            finish(
                out,
                &serde_json::to_value(wire::CaseOut::from(&case)).unwrap_or_default(),
                &format!("created case {id}"),
            )
        }
        CaseCommand::List => {
            let cases = archive.cases()?;
            if out.json {
                out.json(&wire::CasesOut {
                    cases: cases.iter().map(wire::CaseOut::from).collect(),
                })?;
            } else {
                for c in &cases {
                    out.line(&format!("{}  {}", c.id, escape_text(&c.title)))?;
                }
            }
            Ok(Outcome::Success)
        }
        CaseCommand::Show { id } => {
            let case = archive.case(&id)?;
            let items = archive.list(&ListFilter {
                case: Some(id),
                tag: None,
            })?;
            if out.json {
                out.json(&wire::CaseShowOut {
                    case: (&case).into(),
                    items: items.iter().map(wire::ItemOut::from).collect(),
                })?;
                return Ok(Outcome::Success);
            }
            out.line(&format!("case:        {}", case.id))?;
            out.line(&format!("title:       {}", escape_text(&case.title)))?;
            if let Some(d) = &case.description {
                out.line(&format!("description: {}", escape_text(d)))?;
            }
            out.line(&format!(
                "created:     {} by {}",
                escape_text(&case.created_at),
                escape_text(&case.actor)
            ))?;
            out.line(&format!("items:       {}", items.len()))?;
            list(&items, out)
        }
    }
}

fn ingest(archive: &mut Archive, opts: &IngestOptions, out: &mut Out) -> Run {
    let mut view = progress::IngestView {
        bar: progress::Bar::new(out),
        out,
        pipe_closed: false,
    };
    let report = archive.ingest(opts, &mut view);
    view.bar.finish();
    let pipe_closed = view.pipe_closed;
    let report = report?;
    if out.json {
        out.json(&wire::IngestOut {
            items: report.items.iter().map(wire::IngestItem::from).collect(),
            skipped: report.skipped.iter().map(wire::SkippedOut::from).collect(),
        })?;
    } else if pipe_closed {
        return Err(Failure::Pipe);
    }
    let new = report
        .items
        .iter()
        .filter(|i| i.status == custodia::Status::New)
        .count();
    out.note(&format!(
        "ingested {} file(s) into {} ({} new, {} duplicate), {} skipped",
        report.items.len(),
        opts.case,
        new,
        report.items.len() - new,
        report.skipped.len()
    ));
    if report.skipped.is_empty() {
        return Ok(Outcome::Success);
    }
    out.warn(&format!(
        "{} input(s) were skipped and are NOT in the archive (exit code 4); see the reasons above",
        report.skipped.len()
    ));
    Ok(Outcome::Partial)
}

fn list(items: &[custodia::ItemView], out: &mut Out) -> Run {
    if out.json {
        out.json(&wire::ListOut {
            items: items.iter().map(wire::ItemOut::from).collect(),
        })?;
        return Ok(Outcome::Success);
    }
    for v in items {
        let i = &v.item;
        let cases: Vec<String> = v.cases.iter().map(|c| c.to_string()).collect();
        let parent = i
            .parent
            .map(|p| format!("  (attachment of {p})"))
            .unwrap_or_default();
        out.line(&format!(
            "{}  {}  {:>12}  {}  [{}]{}",
            i.id,
            &i.blake3.to_hex()[..16],
            i.size,
            escape_bytes(&i.name),
            cases.join(","),
            parent
        ))?;
    }
    Ok(Outcome::Success)
}

fn show(d: &custodia::ItemDetail, out: &mut Out) -> Run {
    if out.json {
        out.json(&wire::ShowOut::from(d))?;
        return Ok(Outcome::Success);
    }
    let i = &d.view.item;
    let opt = |v: &Option<String>| v.as_deref().map(escape_text).unwrap_or_else(|| "-".into());
    let rows = [
        ("id", i.id.to_string()),
        ("name", escape_bytes(&i.name)),
        ("path", escape_bytes(&i.path)),
        ("size", format!("{} bytes", i.size)),
        ("blake3", i.blake3.to_hex()),
        ("sha256", i.sha256.to_hex()),
        (
            "cases",
            d.view
                .cases
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("parent", i.parent.map_or("-".into(), |p| p.to_string())),
        (
            "attachments",
            if d.attachments.is_empty() {
                "-".into()
            } else {
                d.attachments
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        ("source", opt(&i.source)),
        ("note", opt(&i.note)),
        (
            "tags",
            if i.tags.is_empty() {
                "-".into()
            } else {
                escape_text(&i.tags.join(", "))
            },
        ),
        ("captured at", opt(&i.captured_at)),
        ("modified at", opt(&i.modified_at)),
        ("ingested at", escape_text(&i.ingested_at)),
        ("ingested by", escape_text(&i.actor)),
    ];
    for (k, v) in rows {
        out.line(&format!("{:<12} {}", format!("{k}:"), v))?;
    }
    out.line("custody:")?;
    for e in &d.custody {
        out.line(&format!("  {}", event_line(e)))?;
    }
    Ok(Outcome::Success)
}

fn event_line(e: &custodia::custody::Event) -> String {
    let items: Vec<&str> = e.item_ids().collect();
    let mut line = format!(
        "#{:<5} {}  {:<11} {}",
        e.seq,
        escape_text(&e.time),
        e.action.as_str(),
        escape_text(&e.actor)
    );
    if let Some(c) = &e.case {
        line.push_str(&format!("  case {}", escape_text(c)));
    }
    if !items.is_empty() {
        line.push_str(&format!("  {}", escape_text(&items.join(","))));
    }
    if let Some(r) = &e.reason {
        line.push_str(&format!("  reason: {}", escape_text(r)));
    }
    line
}

fn log(events: &[custodia::Logged], out: &mut Out) -> Run {
    if out.json {
        out.json(&wire::LogOut::from(events))?;
        return Ok(Outcome::Success);
    }
    for l in events {
        out.line(&format!("{}  sha256 {}", event_line(&l.event), l.sha256))?;
    }
    Ok(Outcome::Success)
}

fn verify(root: &Path, opts: &OpenOptions, out: &mut Out) -> Run {
    let mut bar = progress::Bar::new(out);
    let report = verify_archive(root, opts, &mut bar);
    bar.finish();
    let report = report?;
    if report.read_only {
        out.note("verified read-only: nothing was written and no custody event was recorded");
    } else if report.recorded.is_none() && report.ok() {
        out.warn("the verification could not be recorded in the custody log");
    }
    render_verify(&report, out)
}

fn render_verify(report: &custodia::VerifyReport, out: &mut Out) -> Run {
    if out.json {
        out.json(&wire::VerifyOut::from(report))?;
    } else {
        for p in &report.problems {
            let id = p
                .subject()
                .map(|i| format!("{}: ", escape_text(&i)))
                .unwrap_or_default();
            out.line(&format!(
                "DAMAGED {}: {id}{}",
                p.kind().as_str(),
                escape_text(&p.to_string())
            ))?;
        }
        let c = report.checked;
        let verdict = if report.ok() {
            "OK".to_string()
        } else {
            format!("{} PROBLEM(S)", report.problems.len())
        };
        out.line(&format!(
            "{verdict}: checked {} items, {} contents ({} bytes), {} custody events",
            c.items, c.contents, c.bytes, c.events
        ))?;
    }
    Ok(if report.ok() {
        Outcome::Success
    } else {
        Outcome::Damage
    })
}

fn export(root: &Path, opts: &OpenOptions, a: args::ExportArgs, out: &mut Out) -> Run {
    let export = ExportOptions {
        case: a.case,
        out: a.out,
        evidence: a.evidence,
        attachments: !a.no_attachments,
        reason: a.reason,
        organization: a.organization,
        contact: a.contact,
    };
    let done = Archive::open(root, opts)?.export(&export)?;
    let json = serde_json::json!({
        "bundle": escape_path(&done.bundle), "items": done.items, "bytes": done.bytes,
        "tagmanifest_sha256": done.tagmanifest_sha256, "event": done.event,
    });
    let human = format!(
        "exported {} item(s) of {} ({} payload bytes) to {}\ntag manifest SHA-256: {}\ncheck it with: bagit.py --validate {}   or   custodia verify --bundle {}",
        done.items,
        export.case,
        done.bytes,
        escape_path(&done.bundle),
        done.tagmanifest_sha256,
        escape_path(&done.bundle),
        escape_path(&done.bundle)
    );
    finish(out, &json, &human)
}
