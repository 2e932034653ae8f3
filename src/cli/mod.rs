//! The command-line front end: runs one parsed command against the library and hands its
//! result to `wire` (JSON) or `human` (text).

mod anchors;
pub mod args;
mod demo;
mod generate;
mod human;
mod items;
mod keys;
mod logs;
mod output;
mod progress;
mod replica;
mod report;
mod when;
mod wire;

use std::path::Path;

use serde::Serialize;

use custodia::keys::KeyChoice;
use custodia::{
    Archive, Error, ExportOptions, IngestOptions, ListFilter, OpenOptions, verify_archive,
};

use args::{CaseCommand, Cli, Command, KeyCommand};
pub use output::{BrokenPipe, Out};
pub use report::{report_error, report_internal, report_usage};

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
    let opts = options(cli.actor, cli.wait, cli.key, &cli.command, out);
    let root = cli.archive.as_path();
    let open = || Archive::open(root, &opts);
    match cli.command {
        Command::Init => init(root, &opts, out),
        Command::Case(c) => case(&mut open()?, c, out),
        Command::Ingest(a) => ingest(&mut open()?, &a.0.into(), out),
        Command::Link {
            id,
            case,
            reason,
            no_attachments,
        } => link(&mut open()?, &id, &case, reason, !no_attachments, out),
        Command::Annotate(a) => items::annotate(&mut open()?, a.0, out),
        Command::List(a) => items::list(&open()?, a.0, out),
        Command::Show { id } => items::show(&open()?, &id, out),
        Command::Stats => items::stats(&open()?, out),
        Command::Extract {
            id,
            out: to,
            reason,
        } => items::extract(&mut open()?, &id, &to, reason, out),
        Command::Log(a) => logs::run(&open()?, a.0, out),
        Command::Verify {
            replica: Some(name),
            read_data,
            read_data_subset,
            identity,
            ..
        } => {
            let a = replica::VerifyReplicaArgs {
                name,
                read_data,
                subset: read_data_subset,
                identity,
            };
            replica::verify(&open()?, a, out)
        }
        Command::Verify {
            bundle: None,
            read_only,
            against,
            read_data_subset: subset,
            ..
        } => {
            let against = against.map(|p| read_text(&p)).transpose()?;
            let checks = custodia::VerifyOptions { against, subset };
            verify(root, &OpenOptions { read_only, ..opts }, &checks, out)
        }
        Command::Checkpoint { out: to } => anchors::checkpoint(&mut open()?, to, out),
        Command::Timestamp(a) => anchors::timestamp(&mut open()?, a, out),
        Command::Verify {
            bundle: Some(dir),
            trust_keys,
            tsa_ca,
            ..
        } => verify_bundle(&dir, &trust_keys, tsa_ca.as_deref(), out),
        Command::Export(a) if a.dry_run => export_plan(&open()?, (&a).into(), out),
        Command::Export(a) => export(&mut open()?, (&a).into(), out),
        Command::Key(k) => keys::run(k, &opts, open, out),
        Command::Replica(r) => replica::replica(&mut open()?, r, out),
        Command::Push { name } => replica::push(&mut open()?, name, out),
        Command::Restore(a) => replica::restore(a, opts.actor.clone(), out),
        Command::Demo { fixtures, workdir } => {
            demo::run(&demo::fixtures_dir(fixtures), workdir, &opts, out)
        }
        Command::Completions { shell } => generate::completions(shell, out),
        Command::Man => generate::man(out),
    }
}

/// The options every command opens the archive with; says once when the actor is the
/// login name nobody chose (issue 12, point 6), for commands that record events.
fn options(
    given: Option<String>,
    wait: bool,
    key: Option<std::path::PathBuf>,
    command: &Command,
    out: &mut Out,
) -> OpenOptions {
    let (actor, fallback) = actor(given);
    if let Some(how) = fallback
        && records_events(command)
    {
        out.warn(&format!(
            "acting as {} ({how}, as neither --actor nor CUSTODIA_ACTOR is set); every event this command records names that actor: pass --actor NAME or set CUSTODIA_ACTOR to record who you are",
            custodia::text::escape_text(&actor)
        ));
    }
    OpenOptions {
        wait,
        key: key.map_or(KeyChoice::Default, KeyChoice::Path),
        key_created: announce_key,
        ..OpenOptions::new(actor)
    }
}

fn link(
    archive: &mut Archive,
    id: &custodia::ids::ItemRef,
    case: &custodia::ids::CaseId,
    reason: Option<String>,
    attachments: bool,
    out: &mut Out,
) -> Run {
    let linked = archive.link(id, case, reason, attachments)?;
    let json = wire::LinkOut::from((&linked, case));
    emit(out, &json, |o| human::linked(o, &linked, case))
}

fn verify_bundle(
    dir: &Path,
    keys: &[std::path::PathBuf],
    tsa_ca: Option<&Path>,
    out: &mut Out,
) -> Run {
    let trust = bundle_trust(keys, tsa_ca)?;
    let report = custodia::verify_bundle(dir, &trust)?;
    render_verify(&report, human::Checked::Bundle, out)
}

/// Whether a command records custody events in the archive (and so names the actor).
fn records_events(command: &Command) -> bool {
    match command {
        Command::Init
        | Command::Ingest(_)
        | Command::Link { .. }
        | Command::Annotate(_)
        | Command::Extract { .. }
        | Command::Export(_)
        | Command::Checkpoint { .. }
        | Command::Timestamp(_) => true,
        Command::Case(c) => matches!(c, CaseCommand::Create { .. }),
        Command::Key(k) => matches!(k, KeyCommand::Revoke { .. }),
        Command::Verify {
            bundle, read_only, ..
        } => bundle.is_none() && !read_only,
        _ => false,
    }
}

/// Prints `json` with --json, the human rendering otherwise.
fn emit<T: Serialize>(
    out: &mut Out,
    json: &T,
    human: impl FnOnce(&mut Out) -> Result<(), BrokenPipe>,
) -> Run {
    if out.json {
        out.json(json)?
    } else {
        human(out)?
    }
    Ok(Outcome::Success)
}

/// Says once, on stderr, where a new default key was made: its owner must know it exists.
fn announce_key(path: &Path, fingerprint: &str) {
    eprintln!(
        "custodia: created your signing key {fingerprint} at {} (keep it private: it signs every event you record)",
        custodia::text::escape_path(path)
    );
}

/// The acting actor and, when it was not chosen (`--actor`, `$CUSTODIA_ACTOR`), where the
/// fallback came from.
fn actor(given: Option<String>) -> (String, Option<&'static str>) {
    if let Some(a) = given.filter(|a| !a.trim().is_empty()) {
        return (a, None);
    }
    let env = |name| std::env::var(name).ok().filter(|u: &String| !u.is_empty());
    if let Some(u) = env("USER") {
        return (u, Some("the login name in $USER"));
    }
    if let Some(u) = env("LOGNAME") {
        return (u, Some("the login name in $LOGNAME"));
    }
    (os_user(), Some("the operating system's user name"))
}

/// The OS user's name from the password database (cron and services often run without
/// $USER); `whoami` reads it with getpwuid_r.
fn os_user() -> String {
    whoami::fallible::username().unwrap_or_else(|_| "unknown".into())
}

fn init(root: &Path, opts: &OpenOptions, out: &mut Out) -> Run {
    let archive = Archive::init(root, opts)?;
    let id = archive.meta().archive_id.clone();
    let json = wire::InitOut {
        archive: wire::path_text(root),
        archive_id: id.clone(),
        format: custodia::FORMAT_VERSION,
    };
    let shown = custodia::text::escape_path(root);
    emit(out, &json, |o| {
        o.line(&format!("created archive {shown} (id {id})"))
    })
}

fn case(archive: &mut Archive, cmd: CaseCommand, out: &mut Out) -> Run {
    match cmd {
        CaseCommand::Create {
            id,
            title,
            description,
        } => {
            let case = archive.create_case(&id, &title, description.as_deref())?;
            emit(out, &wire::CaseOut::from(&case), |o| {
                o.line(&format!("created case {id}"))
            })
        }
        CaseCommand::List => {
            let cases = archive.cases()?;
            let json = wire::CasesOut {
                cases: cases.iter().map(wire::CaseOut::from).collect(),
            };
            emit(out, &json, |o| {
                cases.iter().try_for_each(|c| human::case_line(o, c))
            })
        }
        CaseCommand::Show { id } => {
            let case = archive.case(&id)?;
            let items = archive.list(&ListFilter {
                case: Some(id),
                ..ListFilter::default()
            })?;
            let json = wire::CaseShowOut {
                case: (&case).into(),
                items: items.iter().map(wire::ItemOut::from).collect(),
            };
            emit(out, &json, |o| human::case(o, &case, &items))
        }
    }
}

fn ingest(archive: &mut Archive, opts: &IngestOptions, out: &mut Out) -> Run {
    let mut view = progress::IngestView {
        bar: progress::Bar::new(out, "files"),
        out,
        pipe_closed: false,
    };
    let report = archive.ingest(opts, &mut view);
    view.bar.finish();
    let pipe_closed = view.pipe_closed;
    let report = report?;
    if out.json {
        out.json(&wire::IngestOut::from(&report))?;
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

/// What the recipient trusts, read from the files they named.
fn bundle_trust(
    keys: &[std::path::PathBuf],
    tsa_ca: Option<&Path>,
) -> Result<custodia::BundleTrust, Error> {
    let mut trust = custodia::BundleTrust::default();
    for path in keys {
        let text = read_text(path)?;
        if custodia::keys::parse_public(&text).is_none() {
            return Err(Error::KeyUnusable {
                path: path.clone(),
                why: "it is not an OpenSSH Ed25519 public key (ssh-ed25519 AAAA…)".into(),
            });
        }
        trust.keys.push(text.trim().to_owned());
    }
    if let Some(path) = tsa_ca {
        let pem = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        trust.tsa_ca = custodia::timestamp::pem_certs(&pem)?;
    }
    Ok(trust)
}

/// A small text file the user names (a checkpoint): its bytes as UTF-8.
fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingInput(path.to_path_buf()),
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    // Not UTF-8 is not a checkpoint: a finding, so pass it on as text that will not parse.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn verify(root: &Path, opts: &OpenOptions, checks: &custodia::VerifyOptions, out: &mut Out) -> Run {
    let mut bar = progress::Bar::new(out, "contents");
    let report = verify_archive(root, opts, checks, &mut bar);
    bar.finish();
    let report = report?;
    if report.read_only {
        out.note("verified read-only: nothing was written and no custody event was recorded");
    } else if report.recorded.is_none() && report.ok() {
        out.warn("the verification could not be recorded in the custody log");
    }
    render_verify(&report, human::Checked::Archive, out)
}

fn render_verify(report: &custodia::VerifyReport, what: human::Checked, out: &mut Out) -> Run {
    emit(out, &wire::VerifyOut::from(report), |o| {
        human::verify(o, report, what)
    })?;
    Ok(if report.ok() {
        Outcome::Success
    } else {
        Outcome::Damage
    })
}

fn export(archive: &mut Archive, export: ExportOptions, out: &mut Out) -> Run {
    let mut bar = progress::Bar::new(out, "items");
    let done = archive.export_with(&export, &mut bar);
    bar.finish();
    let done = done?;
    let case = export.case.to_string();
    emit(out, &wire::ExportOut::from(&done), |o| {
        human::exported(o, &done, &case)
    })
}

/// `export --dry-run`: what would go, and what would stay out; nothing written or recorded.
fn export_plan(archive: &Archive, export: ExportOptions, out: &mut Out) -> Run {
    let plan = archive.plan_export(&export)?;
    let case = export.case.to_string();
    emit(out, &wire::ExportPlanOut::new(&plan, &export.out), |o| {
        human::export_plan(o, &plan, &case, &export.out)
    })
}
