//! The command line, as docs/CLI.md fixes it.

use std::path::PathBuf;

use chrono::FixedOffset;
use clap::{Args, Parser, Subcommand};
use custodia::custody::Action;
use custodia::ids::{CaseId, ItemRef};

use super::when::{Check, Checked, Written, parse_tz, parse_written, zone_all};

#[derive(Parser, Debug)]
#[command(
    name = "custodia",
    version,
    about = "An evidence archive with a hash-chained chain of custody",
    arg_required_else_help = true,
    after_help = "Item references, exit codes and JSON documents: docs/CLI.md"
)]
pub struct Cli {
    /// The archive directory.
    #[arg(
        long,
        global = true,
        env = "CUSTODIA_ARCHIVE",
        default_value = "custodia-archive"
    )]
    pub archive: PathBuf,
    /// Who is acting (recorded in every custody event); defaults to the OS user name.
    #[arg(long, global = true, env = "CUSTODIA_ACTOR", value_parser = parse_nonblank)]
    pub actor: Option<String>,
    /// Print exactly one JSON object on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress and no summaries on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Wait for another custodia process to finish with the archive instead of failing.
    #[arg(long, global = true)]
    pub wait: bool,
    /// The acting actor's Ed25519 private key (OpenSSH format) that signs every event this
    /// command records [default: the actor's key under ~/.config/custodia/keys/, created
    /// on first write].
    #[arg(long, global = true, env = "CUSTODIA_KEY", value_name = "PATH")]
    pub key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// How every item argument is described: docs/CLI.md, "Item reference".
const ITEM: &str = "The item: an EV- id (EV-000042), or its BLAKE3 or SHA-256 hash, in full or a unique prefix of at least 8 hex characters";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new archive (refuses to touch an existing one).
    Init,
    /// Create, list and show cases.
    #[command(subcommand, arg_required_else_help = true)]
    Case(CaseCommand),
    /// Ingest files and folders (recursively) into a case.
    Ingest(Checked<IngestArgs>),
    /// Add an existing item to another case.
    Link {
        #[arg(help = ITEM)]
        id: ItemRef,
        /// The case the item joins.
        #[arg(long, value_parser = parse_case)]
        case: CaseId,
        /// Why (recorded in the link's custody event).
        #[arg(long)]
        reason: Option<String>,
        /// Link the item alone: its attachments stay out of the case (by default every
        /// attachment below it joins too, each with its own link event).
        #[arg(long)]
        no_attachments: bool,
    },
    /// Change an item's tags, source, note or capture time, recorded as a custody event
    /// (nothing is overwritten: `show` gives the current values, `log` every earlier one).
    Annotate(Checked<AnnotateArgs>),
    /// List evidence items; every filter given must match.
    List(Checked<ListArgs>),
    /// One item: metadata, both hashes, attachments, cases and custody history (every item
    /// holding the bytes, when a hash names several).
    Show {
        #[arg(help = ITEM)]
        id: ItemRef,
    },
    /// Counts: items, contents, bytes stored and saved, cases, events, actors.
    Stats,
    /// Write an item's original bytes, byte for byte, checked against both hashes.
    Extract {
        #[arg(help = ITEM)]
        id: ItemRef,
        /// A new file, an existing directory to write into, or - for standard output.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Why (recorded in the extract's custody event).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Custody events, oldest first; every filter given must match.
    Log(Checked<LogArgs>),
    /// Check the whole archive: every byte, every index entry, every custody event.
    /// With --bundle, check an exported bundle instead (no archive needed).
    Verify {
        /// A bundle directory written by `export`.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// With --bundle: a public key (OpenSSH .pub file) you trust; the bundle's checkpoint
        /// must be signed by one of them. Repeatable.
        #[arg(long = "trust-key", value_name = "PUBKEY_FILE", requires = "bundle")]
        trust_keys: Vec<PathBuf>,
        /// With --bundle: the CA certificate(s) (PEM) of time-stamping authorities you trust.
        #[arg(long, value_name = "PEM", requires = "bundle")]
        tsa_ca: Option<PathBuf>,
        /// Verify without writing anything to the archive: no lock taken for writing and no
        /// custody event recorded (for an auditor without write access; automatic when the
        /// archive is not writable).
        #[arg(long, conflicts_with = "bundle")]
        read_only: bool,
        /// A checkpoint written earlier by `custodia checkpoint`: exit 3 unless the log still
        /// holds its tree as a prefix (a rolled-back or rewritten archive does not).
        #[arg(long, value_name = "FILE", conflicts_with = "bundle")]
        against: Option<PathBuf>,
        /// Check a replica instead: every object its pushes stored is there, with the size
        /// and ETag stored, and nothing else.
        #[arg(long, value_name = "NAME", conflicts_with_all = ["bundle", "read_only", "against"])]
        replica: Option<String>,
        /// With --replica: also download every object and re-hash it.
        #[arg(long, requires = "replica")]
        read_data: bool,
        /// Re-read only a share of the data: N/M (e.g. 3/7), the same slice on every run, so
        /// that runs 1 to M read everything once; or a random PCT (e.g. 10%). Every record
        /// and custody event is still checked. With --replica: a share of the objects.
        #[arg(long, value_name = "N/M|PCT", conflicts_with_all = ["read_data", "bundle"], value_parser = custodia::Subset::parse)]
        read_data_subset: Option<custodia::Subset>,
        /// With --replica: decrypt what is read with this age identity, too.
        #[arg(long, value_name = "FILE", requires = "replica")]
        identity: Option<PathBuf>,
    },
    /// The current signed checkpoint of the custody log (C2SP tlog-checkpoint, Ed25519), to
    /// hand to a partner or a notary; `verify --against` checks the archive against it later.
    Checkpoint {
        /// Write it to FILE (and its SSHSIG signature to FILE.sig) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// RFC 3161 trusted time over the current checkpoint: `request` and `add` for an
    /// air-gapped machine, or `--tsa URL` in one step.
    Timestamp(TimestampArgs),
    /// Write a case (or some of its items) as a self-verifying BagIt bundle for a court.
    Export(ExportArgs),
    /// Signing keys: make one, list those the archive knows, revoke one.
    #[command(subcommand, arg_required_else_help = true)]
    Key(KeyCommand),
    /// Off-site replicas on S3-compatible storage: add, list, remove.
    #[command(subcommand)]
    Replica(super::replica::ReplicaCommand),
    /// Upload to a replica what it lacks (encrypted, create-only, resumable) and record it.
    Push {
        /// The replica [default: the only one].
        name: Option<String>,
    },
    /// Rebuild a working archive from a replica alone, verified before it is put in place.
    Restore(super::replica::RestoreArgs),
    /// Run the whole flow on the bundled fixture case in a new archive.
    Demo {
        /// The folder of the fixture case [default: fixtures/case-BY-2024-017 under the
        /// working directory, else in custodia's source tree].
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
        /// Where to create the demo archive (a new directory); a fresh temporary one by default.
        #[arg(long, value_name = "DIR")]
        workdir: Option<PathBuf>,
    },
    /// Print a shell completion script on stdout (e.g. `custodia completions bash >
    /// /etc/bash_completion.d/custodia`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout (e.g. `custodia man | man -l -`).
    Man,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TimestampArgs {
    #[command(subcommand)]
    pub step: Option<TimestampCommand>,
    /// Ask this time-stamping authority over HTTP (application/timestamp-query).
    #[arg(long, value_name = "URL", required = true)]
    pub tsa: Option<String>,
    /// PEM certificates of the TSA (its certificate and intermediates), kept with the token.
    #[arg(long, value_name = "PEM")]
    pub tsa_chain: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TimestampCommand {
    /// Write a request (.tsq) over the current checkpoint, to carry to a TSA.
    Request {
        /// Where to write the request.
        #[arg(long, value_name = "F.tsq")]
        out: PathBuf,
    },
    /// Check a TSA's response (.tsr) against the request made here and keep its token.
    Add {
        /// The TSA's response to the request made here.
        #[arg(value_name = "F.tsr")]
        response: PathBuf,
        /// PEM certificates of the TSA, kept with the token.
        #[arg(long, value_name = "PEM")]
        tsa_chain: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make a new Ed25519 key (OpenSSH format, private file 0600, public beside it as .pub).
    Generate {
        /// Where to write the private key [default: the actor's default key path].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The keys the archive's log registers: fingerprint, actors, registered, revoked.
    List,
    /// Withdraw a key: events it signs after this one are not trusted.
    Revoke {
        /// The key's fingerprint, as `key list` or `ssh-keygen -l` print it (SHA256:…).
        fingerprint: String,
        /// Why (lost, compromised, person left): recorded in the event.
        #[arg(long, value_parser = parse_nonblank)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum CaseCommand {
    /// Create a case; the id is 1 to 64 of A-Z a-z 0-9 . _ -
    Create {
        /// The new case's id.
        #[arg(value_parser = parse_case)]
        id: CaseId,
        /// Its title (required, not blank).
        #[arg(long, value_parser = parse_nonblank)]
        title: String,
        /// Free text about the case.
        #[arg(long)]
        description: Option<String>,
    },
    /// List cases.
    List,
    /// One case with its items.
    Show {
        /// The case's id.
        #[arg(value_parser = parse_case)]
        id: CaseId,
    },
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The case the items go into.
    #[arg(long, value_parser = parse_case)]
    pub case: CaseId,
    /// Where the material came from (person, device, URL).
    #[arg(long)]
    pub source: Option<String>,
    /// Free text kept with each item.
    #[arg(long)]
    pub note: Option<String>,
    /// A tag for each item (repeatable): 1 to 128 characters, no control characters.
    #[arg(long = "tag", value_name = "TAG", value_parser = parse_tag)]
    pub tags: Vec<String>,
    /// When the material was captured: a day (2024-03-02), or a time with a zone
    /// (2024-03-02T14:05+03:00, 2024-03-02T14:05:00Z) or with --tz; recorded as written.
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub captured_at: Option<Written>,
    /// The UTC offset of a --captured-at time written without one (+03:00, -05:30, UTC).
    #[arg(long, value_name = "OFFSET", value_parser = parse_tz, allow_hyphen_values = true)]
    pub tz: Option<FixedOffset>,
    /// The item these files are attachments of (EV- id, BLAKE3 or SHA-256).
    #[arg(long, value_name = "ID")]
    pub parent: Option<ItemRef>,
    /// Files and folders to ingest (folders recursively, in name order).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

impl Check for IngestArgs {
    fn check(&mut self) -> Result<(), String> {
        zone_all(self.tz, &mut [("--captured-at", &mut self.captured_at)])
    }
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true).args(["tags", "untags", "source", "note", "captured_at"]))]
pub struct AnnotateArgs {
    #[arg(help = ITEM)]
    pub id: ItemRef,
    /// A tag to add (repeatable); one the item carries, in any case of letters, is not
    /// added again.
    #[arg(long = "tag", value_name = "TAG", value_parser = parse_tag)]
    pub tags: Vec<String>,
    /// A tag to remove (repeatable), in any case of letters.
    #[arg(long = "untag", value_name = "TAG", value_parser = parse_tag)]
    pub untags: Vec<String>,
    /// The new source (the earlier one stays in the log).
    #[arg(long, value_parser = parse_nonblank)]
    pub source: Option<String>,
    /// The new note (the earlier one stays in the log).
    #[arg(long, value_parser = parse_nonblank)]
    pub note: Option<String>,
    /// The new capture time: a day (2024-03-02), or a time with a zone or with --tz, as
    /// for ingest; recorded as written.
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub captured_at: Option<Written>,
    /// The UTC offset of a --captured-at time written without one (+03:00, -05:30, UTC).
    #[arg(long, value_name = "OFFSET", value_parser = parse_tz, allow_hyphen_values = true)]
    pub tz: Option<FixedOffset>,
    /// Why (required; recorded in the annotate event).
    #[arg(long, value_parser = parse_nonblank)]
    pub reason: String,
}

impl Check for AnnotateArgs {
    fn check(&mut self) -> Result<(), String> {
        zone_all(self.tz, &mut [("--captured-at", &mut self.captured_at)])
    }
}

impl From<AnnotateArgs> for custodia::AnnotateOptions {
    fn from(a: AnnotateArgs) -> Self {
        custodia::AnnotateOptions {
            item: a.id,
            change: custodia::custody::details::AnnotateDetails {
                tags_added: a.tags,
                tags_removed: a.untags,
                source: a.source,
                note: a.note,
                captured_at: a.captured_at.map(|w| w.text().to_owned()),
            },
            reason: a.reason,
        }
    }
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only items in this case.
    #[arg(long, value_parser = parse_case)]
    pub case: Option<CaseId>,
    /// Only items with this tag, in any case of letters (repeatable: all must match).
    #[arg(long = "tag", value_name = "TAG", value_parser = parse_tag)]
    pub tags: Vec<String>,
    /// Only items whose source contains this text (in any case of letters).
    #[arg(long, value_name = "TEXT", value_parser = parse_nonblank)]
    pub source: Option<String>,
    /// Only items whose original file name contains this text (in any case of letters).
    #[arg(long, value_name = "TEXT", value_parser = parse_nonblank)]
    pub name: Option<String>,
    /// Only items captured on or after WHEN (a day or a time; a day takes in the whole day).
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub captured_from: Option<Written>,
    /// Only items captured on or before WHEN.
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub captured_to: Option<Written>,
    /// Only items ingested on or after WHEN.
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub ingested_from: Option<Written>,
    /// Only items ingested on or before WHEN.
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub ingested_to: Option<Written>,
    /// The UTC offset of times written without one (+03:00, -05:30, UTC).
    #[arg(long, value_name = "OFFSET", value_parser = parse_tz, allow_hyphen_values = true)]
    pub tz: Option<FixedOffset>,
}

impl Check for ListArgs {
    fn check(&mut self) -> Result<(), String> {
        zone_all(
            self.tz,
            &mut [
                ("--captured-from", &mut self.captured_from),
                ("--captured-to", &mut self.captured_to),
                ("--ingested-from", &mut self.ingested_from),
                ("--ingested-to", &mut self.ingested_to),
            ],
        )
    }
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Events whose `case` is CASE, and every event naming an item now in CASE.
    #[arg(long, value_parser = parse_case)]
    pub case: Option<CaseId>,
    /// Every event naming this item (EV- id, BLAKE3 or SHA-256).
    #[arg(long, value_name = "ID")]
    pub evidence: Option<ItemRef>,
    /// Events recorded on or after WHEN (a day or a time; a day takes in the whole day).
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub since: Option<Written>,
    /// Events recorded on or before WHEN.
    #[arg(long, value_name = "WHEN", value_parser = parse_written)]
    pub until: Option<Written>,
    /// Events of this action (repeatable: any of them), e.g. ingest, extract, export.
    #[arg(long = "action", value_name = "ACTION", value_parser = parse_action)]
    pub actions: Vec<Action>,
    /// Events recorded by this actor (repeatable: any of them; exact name).
    #[arg(long = "by", value_name = "ACTOR", value_parser = parse_nonblank)]
    pub by: Vec<String>,
    /// The UTC offset of times written without one (+03:00, -05:30, UTC).
    #[arg(long, value_name = "OFFSET", value_parser = parse_tz, allow_hyphen_values = true)]
    pub tz: Option<FixedOffset>,
    /// One JSON object per line, {"event": {...}, "sha256": "..."}, for large logs.
    #[arg(long)]
    pub json_lines: bool,
}

impl Check for LogArgs {
    fn check(&mut self) -> Result<(), String> {
        zone_all(
            self.tz,
            &mut [("--since", &mut self.since), ("--until", &mut self.until)],
        )
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The case to export.
    #[arg(long, value_parser = parse_case)]
    pub case: CaseId,
    /// The bundle directory to create; it must not exist.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Export only these items of the case (with their attachments); repeatable; EV- id,
    /// BLAKE3 or SHA-256.
    #[arg(long, value_name = "ID")]
    pub evidence: Vec<ItemRef>,
    /// Leave out the attachments of the selected items.
    #[arg(long)]
    pub no_attachments: bool,
    /// Why the bundle is made (recorded in the export's custody event).
    #[arg(long)]
    pub reason: Option<String>,
    /// Source-Organization in bag-info.txt.
    #[arg(long)]
    pub organization: Option<String>,
    /// Contact-Name in bag-info.txt.
    #[arg(long)]
    pub contact: Option<String>,
    /// List what would be exported, and what left out, without writing or recording anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Reveal a committed field in the bundle (repeatable): path, host, cases, source, note.
    /// By default only the exported case is revealed.
    /// An unknown name is a usage error (exit 2) that lists the accepted ones.
    #[arg(long, value_name = "FIELD",
          value_parser = clap::builder::PossibleValuesParser::new(custodia::Reveal::ALL.map(custodia::Reveal::name)))]
    pub reveal: Vec<String>,
}

fn parse_case(s: &str) -> Result<CaseId, String> {
    s.parse()
        .map_err(|e: custodia::ids::ParseIdError| e.to_string())
}

/// The action names of custody events (docs/FORMAT.md, "Custody events").
pub const ACTIONS: &[&str] = &[
    "init",
    "case_create",
    "ingest",
    "acquire",
    "link",
    "extract",
    "export",
    "seal",
    "verify",
    "import",
    "key_register",
    "key_revoke",
    "timestamp",
    "annotate",
];

/// An action name, read as the log stores it (so it cannot drift from the event layout).
fn parse_action(s: &str) -> Result<Action, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("the actions are {}", ACTIONS.join(", ")))
}

/// A value that says something: an empty or blank actor or title would record nobody.
fn parse_nonblank(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty or blank".into())
    } else {
        Ok(s.to_owned())
    }
}

fn parse_tag(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
    if ok {
        Ok(s.to_owned())
    } else {
        Err(custodia::Error::BadTag(s.to_owned()).to_string())
    }
}

impl From<IngestArgs> for custodia::IngestOptions {
    fn from(a: IngestArgs) -> Self {
        custodia::IngestOptions {
            case: a.case,
            source: a.source,
            note: a.note,
            tags: a.tags,
            captured_at: a.captured_at.map(|w| w.text().to_owned()),
            parent: a.parent,
            paths: a.paths,
        }
    }
}

impl From<ListArgs> for custodia::ListFilter {
    fn from(a: ListArgs) -> Self {
        let at = |w: Option<Written>| w.and_then(|w| w.moment());
        custodia::ListFilter {
            case: a.case,
            tags: a.tags,
            source: a.source,
            name: a.name,
            captured_from: at(a.captured_from),
            captured_to: at(a.captured_to),
            ingested_from: at(a.ingested_from),
            ingested_to: at(a.ingested_to),
        }
    }
}

impl From<&ExportArgs> for custodia::ExportOptions {
    fn from(a: &ExportArgs) -> Self {
        custodia::ExportOptions {
            case: a.case.clone(),
            out: a.out.clone(),
            evidence: a.evidence.clone(),
            attachments: !a.no_attachments,
            reason: a.reason.clone(),
            organization: a.organization.clone(),
            contact: a.contact.clone(),
            reveal: a
                .reveal
                .iter()
                .filter_map(|r| custodia::Reveal::parse(r))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// issue 12, point 10: every option and argument says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "custodia", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }

    #[test]
    fn every_action_name_parses() {
        for name in ACTIONS {
            assert_eq!(parse_action(name).map(Action::as_str), Ok(*name));
        }
        assert!(parse_action("ingested").is_err());
    }
}
