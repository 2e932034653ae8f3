//! The command line, as docs/CLI.md fixes it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use custodia::ids::{CaseId, ItemRef};

#[derive(Parser, Debug)]
#[command(
    name = "custodia",
    version,
    about = "An evidence archive with a hash-chained chain of custody"
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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new archive (refuses to touch an existing one).
    Init,
    /// Create, list and show cases.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Ingest files and folders (recursively) into a case.
    Ingest(IngestArgs),
    /// Add an existing item to another case.
    Link {
        id: ItemRef,
        #[arg(long, value_parser = parse_case)]
        case: CaseId,
        #[arg(long)]
        reason: Option<String>,
    },
    /// List evidence items.
    List {
        #[arg(long, value_parser = parse_case)]
        case: Option<CaseId>,
        #[arg(long)]
        tag: Option<String>,
    },
    /// One item: metadata, both hashes, attachments, cases and custody history.
    Show { id: ItemRef },
    /// Write an item's original bytes, byte for byte.
    Extract {
        id: ItemRef,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Custody events, oldest first.
    Log {
        #[arg(long, value_parser = parse_case)]
        case: Option<CaseId>,
        #[arg(long)]
        evidence: Option<ItemRef>,
    },
    /// Check the whole archive: every byte, every index entry, every custody event.
    /// With --bundle, check an exported bundle instead (no archive needed).
    Verify {
        /// A bundle directory written by `export`.
        #[arg(long)]
        bundle: Option<PathBuf>,
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
        /// With --replica: download and re-hash a random PCT of the objects (e.g. 10%).
        #[arg(long, value_name = "PCT", requires = "replica", conflicts_with = "read_data", value_parser = super::replica::parse_pct)]
        read_data_subset: Option<f64>,
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
    #[command(subcommand)]
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
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Where to create the demo archive (a new directory); a fresh temporary one by default.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
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
        #[arg(long, value_name = "F.tsq")]
        out: PathBuf,
    },
    /// Check a TSA's response (.tsr) against the request made here and keep its token.
    Add {
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
        #[arg(value_parser = parse_case)]
        id: CaseId,
        #[arg(long, value_parser = parse_nonblank)]
        title: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List cases.
    List,
    /// One case with its items.
    Show {
        #[arg(value_parser = parse_case)]
        id: CaseId,
    },
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    #[arg(long, value_parser = parse_case)]
    pub case: CaseId,
    /// Where the material came from (person, device, URL).
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long = "tag", value_parser = parse_tag)]
    pub tags: Vec<String>,
    /// When the material was captured (RFC 3339, e.g. 2024-03-02T14:05:00Z).
    #[arg(long, value_parser = parse_date)]
    pub captured_at: Option<String>,
    /// The item these files are attachments of.
    #[arg(long)]
    pub parent: Option<ItemRef>,
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long, value_parser = parse_case)]
    pub case: CaseId,
    /// The bundle directory to create; it must not exist.
    #[arg(long)]
    pub out: PathBuf,
    /// Export only these items of the case (with their attachments); repeatable.
    #[arg(long)]
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
}

fn parse_case(s: &str) -> Result<CaseId, String> {
    s.parse()
        .map_err(|e: custodia::ids::ParseIdError| e.to_string())
}

fn parse_date(s: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|_| s.to_owned())
        .map_err(|_| custodia::Error::BadDate(s.to_owned()).to_string())
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
            captured_at: a.captured_at,
            parent: a.parent,
            paths: a.paths,
        }
    }
}

impl From<ExportArgs> for custodia::ExportOptions {
    fn from(a: ExportArgs) -> Self {
        custodia::ExportOptions {
            case: a.case,
            out: a.out,
            evidence: a.evidence,
            attachments: !a.no_attachments,
            reason: a.reason,
            organization: a.organization,
            contact: a.contact,
        }
    }
}
