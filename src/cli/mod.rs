//! The command-line front end: runs one parsed command against the library and hands its
//! result to `wire` (JSON) or `human` (text).

mod anchors;
pub mod args;
mod demo;
mod human;
mod keys;
mod output;
mod progress;
mod replica;
mod report;
mod wire;

use std::path::Path;

use serde::Serialize;

use custodia::keys::KeyChoice;
use custodia::{
    Archive, Error, ExportOptions, IngestOptions, ListFilter, OpenOptions, verify_archive,
};

use args::{CaseCommand, Cli, Command};
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
    let opts = OpenOptions {
        wait: cli.wait,
        key: cli.key.map_or(KeyChoice::Default, KeyChoice::Path),
        key_created: announce_key,
        ..OpenOptions::new(actor(cli.actor))
    };
    let root = cli.archive.as_path();
    let open = || Archive::open(root, &opts);
    match cli.command {
        Command::Init => init(root, &opts, out),
        Command::Case(c) => case(&mut open()?, c, out),
        Command::Ingest(a) => ingest(&mut open()?, &a.into(), out),
        Command::Link { id, case, reason } => {
            let id = open()?.link(&id, &case, reason)?;
            let json = wire::LinkOut {
                id: id.to_string(),
                case: case.to_string(),
            };
            emit(out, &json, |o| {
                o.line(&format!("{id} is now in case {case}"))
            })
        }
        Command::List { case, tag } => {
            let items = open()?.list(&ListFilter { case, tag })?;
            emit(out, &wire::ListOut::from(&items[..]), |o| {
                human::list(o, &items)
            })
        }
        Command::Show { id } => {
            let shown = open()?.show(&id)?;
            emit(out, &wire::ShowOut::from(&shown), |o| {
                human::show(o, &shown)
            })
        }
        Command::Extract {
            id,
            out: to,
            reason,
        } => {
            let done = open()?.extract(&id, &to, reason)?;
            emit(out, &wire::ExtractOut::from(&done), |o| {
                human::extracted(o, &done)
            })
        }
        Command::Log { case, evidence } => {
            let archive = open()?;
            let item = evidence.map(|r| archive.resolve(&r)).transpose()?;
            let events = archive.log(case.as_ref(), item.map(|i| i.id))?;
            emit(out, &wire::LogOut::from(&events[..]), |o| {
                human::log(o, &events)
            })
        }
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
            ..
        } => {
            let checks = custodia::VerifyOptions {
                against: against.map(|p| read_text(&p)).transpose()?,
            };
            verify(root, &OpenOptions { read_only, ..opts }, &checks, out)
        }
        Command::Checkpoint { out: to } => anchors::checkpoint(&mut open()?, to, out),
        Command::Timestamp(a) => anchors::timestamp(&mut open()?, a, out),
        Command::Verify {
            bundle: Some(dir), ..
        } => render_verify(&custodia::verify_bundle(&dir)?, out),
        Command::Export(a) => export(&mut open()?, a.into(), out),
        Command::Key(k) => keys::run(k, &opts, open, out),
        Command::Replica(r) => replica::replica(&mut open()?, r, out),
        Command::Push { name } => replica::push(&mut open()?, name, out),
        Command::Restore(a) => replica::restore(a, opts.actor.clone(), out),
        Command::Demo { fixtures, workdir } => {
            demo::run(&demo::fixtures_dir(fixtures), workdir, &opts, out)
        }
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
                tag: None,
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
        bar: progress::Bar::new(out),
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
    let mut bar = progress::Bar::new(out);
    let report = verify_archive(root, opts, checks, &mut bar);
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
    emit(out, &wire::VerifyOut::from(report), |o| {
        human::verify(o, report)
    })?;
    Ok(if report.ok() {
        Outcome::Success
    } else {
        Outcome::Damage
    })
}

fn export(archive: &mut Archive, export: ExportOptions, out: &mut Out) -> Run {
    let done = archive.export(&export)?;
    let case = export.case.to_string();
    emit(out, &wire::ExportOut::from(&done), |o| {
        human::exported(o, &done, &case)
    })
}
