//! `replica add|list|remove`, `push`, `verify --replica` and `restore`: their arguments,
//! JSON wire types (docs/CLI.md, "Replicas") and human lines.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use custodia::Archive;
use custodia::replica::{
    Endpoint, ReadData, Replica, ReplicaOptions, ReplicaVerifyOptions, RestoreOptions,
    TransferProgress,
};

use super::wire::{ProblemOut, path_text};
use super::{Out, Outcome, Run, emit};

#[derive(Subcommand, Debug)]
pub enum ReplicaCommand {
    /// Name an off-site replica: an S3-compatible bucket and prefix (recorded as a custody
    /// event; credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, never stored).
    Add {
        /// A short name for the replica (`offsite`), used by `push` and `verify --replica`.
        name: String,
        /// s3://BUCKET/PREFIX
        url: String,
        /// The server, for anything but AWS itself (http://127.0.0.1:8333).
        #[arg(long)]
        endpoint: Option<String>,
        /// The S3 region [default: $AWS_REGION, else us-east-1].
        #[arg(long)]
        region: Option<String>,
        /// Encrypt every object to this age recipient (age1…); repeatable.
        #[arg(long = "encrypt-to", value_name = "AGE_RECIPIENT")]
        encrypt_to: Vec<String>,
        /// Store objects unencrypted on the server (an explicit choice).
        #[arg(long, conflicts_with = "encrypt_to")]
        plaintext: bool,
    },
    /// The replicas the custody log names, with their last push.
    List,
    /// Stop pushing to a replica (recorded as a custody event; its objects stay).
    Remove {
        /// The replica's name, as `replica list` shows it.
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The replica: s3://BUCKET/PREFIX
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The server, for anything but AWS itself (http://127.0.0.1:8333).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The S3 region [default: $AWS_REGION, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// The age identity (key file) the replica is encrypted to.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The archive directory to create (it must not exist).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

/// A progress spinner in bytes, on a terminal only.
struct Transfer(ProgressBar);

impl Transfer {
    fn new(out: &Out, verb: &str) -> Self {
        use std::io::IsTerminal;
        let visible = !out.quiet && !out.json && std::io::stderr().is_terminal();
        let bar = if visible {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {msg} {bytes} {binary_bytes_per_sec}")
        {
            bar.set_style(style);
        }
        bar.set_message(verb.to_owned());
        Transfer(bar)
    }
}

impl TransferProgress for Transfer {
    fn bytes(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[derive(Serialize)]
struct ReplicaOut {
    name: String,
    url: String,
    endpoint: Option<String>,
    region: Option<String>,
    encrypted: bool,
    recipients: Vec<String>,
    added_at: u64,
    pushed_head: Option<u64>,
    last_push: Option<u64>,
}

impl From<&Replica> for ReplicaOut {
    fn from(r: &Replica) -> Self {
        ReplicaOut {
            name: r.name.clone(),
            url: r.url.clone(),
            endpoint: r.endpoint.clone(),
            region: r.region.clone(),
            encrypted: !r.plaintext,
            recipients: r.recipients.clone(),
            added_at: r.added_at,
            pushed_head: r.pushes.last().map(|p| p.details.head),
            last_push: r.pushes.last().map(|p| p.seq),
        }
    }
}

#[derive(Serialize)]
struct ReplicaAddedOut {
    replica: ReplicaOut,
    seq: u64,
}

#[derive(Serialize)]
struct ReplicasOut {
    replicas: Vec<ReplicaOut>,
}

#[derive(Serialize)]
struct RemovedOut {
    removed: String,
    seq: u64,
}

pub fn replica(archive: &mut Archive, cmd: ReplicaCommand, out: &mut Out) -> Run {
    match cmd {
        ReplicaCommand::Add {
            name,
            url,
            endpoint,
            region,
            encrypt_to,
            plaintext,
        } => {
            let (r, seq) = archive.add_replica(&ReplicaOptions {
                name,
                url,
                endpoint,
                region,
                recipients: encrypt_to,
                plaintext,
            })?;
            let how = if r.plaintext {
                "unencrypted".to_owned()
            } else {
                format!("encrypted to {} age recipient(s)", r.recipients.len())
            };
            let line = format!("added replica {} at {} ({how})", r.name, r.url);
            let json = ReplicaAddedOut {
                replica: (&r).into(),
                seq,
            };
            emit(out, &json, |o| o.line(&line))
        }
        ReplicaCommand::List => {
            let all = archive.replicas()?;
            let json = ReplicasOut {
                replicas: all.iter().map(ReplicaOut::from).collect(),
            };
            emit(out, &json, |o| {
                all.iter().try_for_each(|r| {
                    let pushed = r.pushes.last().map_or("never pushed".to_owned(), |p| {
                        format!("holds events up to {}", p.details.head)
                    });
                    let how = if r.plaintext {
                        "plaintext"
                    } else {
                        "encrypted"
                    };
                    o.line(&format!("{}\t{}\t{how}\t{pushed}", r.name, r.url))
                })
            })
        }
        ReplicaCommand::Remove { name } => {
            let seq = archive.remove_replica(&name)?;
            let json = RemovedOut {
                removed: name.clone(),
                seq,
            };
            emit(out, &json, |o| {
                o.line(&format!(
                    "removed replica {name} (its objects stay on the server)"
                ))
            })
        }
    }
}

#[derive(Serialize)]
struct PushOut {
    replica: String,
    url: String,
    head: u64,
    objects: u64,
    sent: u64,
    bytes: u64,
    found: u64,
    manifest: String,
    seq: u64,
    push_event_stored: bool,
    push_events_resent: u64,
}

pub fn push(archive: &mut Archive, name: Option<String>, out: &mut Out) -> Run {
    let bar = Transfer::new(out, "push");
    let report = archive.push(name.as_deref(), &bar);
    drop(bar);
    let r = report?;
    let json = PushOut {
        replica: r.replica.clone(),
        url: r.url.clone(),
        head: r.head,
        objects: r.objects,
        sent: r.sent,
        bytes: r.bytes,
        found: r.found,
        manifest: r.manifest.clone(),
        seq: r.seq,
        push_event_stored: r.push_event_stored,
        push_events_resent: r.push_events_resent,
    };
    emit(out, &json, |o| {
        o.line(&format!(
            "pushed to {} ({}): it holds events up to {}; {} object(s) sent ({} bytes), {} found already there",
            r.replica, r.url, r.head, r.sent, r.bytes, r.found
        ))?;
        if !r.push_event_stored {
            o.line(&format!(
                "the push event {} did not reach the replica; the next push sends it",
                r.seq
            ))?;
        }
        Ok(())
    })
}

#[derive(Serialize)]
struct ReplicaCheckedOut {
    expected: u64,
    listed: u64,
    read: u64,
    bytes: u64,
    decrypted: u64,
    push_events: u64,
}

#[derive(Serialize)]
struct ReplicaVerifyOut {
    ok: bool,
    replica: String,
    url: String,
    checked: ReplicaCheckedOut,
    problems: Vec<ProblemOut>,
}

pub struct VerifyReplicaArgs {
    pub name: String,
    pub read_data: bool,
    pub subset: Option<custodia::Subset>,
    pub identity: Option<PathBuf>,
}

pub fn verify(archive: &Archive, a: VerifyReplicaArgs, out: &mut Out) -> Run {
    let read_data = match (a.read_data, a.subset) {
        (_, Some(share)) => ReadData::Subset(share),
        (true, None) => ReadData::All,
        (false, None) => ReadData::None,
    };
    let opts = ReplicaVerifyOptions {
        read_data,
        identity: a.identity,
    };
    let bar = Transfer::new(out, "verify");
    let report = archive.verify_replica(&a.name, &opts, &bar);
    drop(bar);
    let r = report?;
    let json = ReplicaVerifyOut {
        ok: r.ok(),
        replica: r.replica.clone(),
        url: r.url.clone(),
        checked: ReplicaCheckedOut {
            expected: r.expected,
            listed: r.listed,
            read: r.read,
            bytes: r.bytes,
            decrypted: r.decrypted,
            push_events: r.push_events,
        },
        problems: r.problems.iter().map(ProblemOut::from).collect(),
    };
    emit(out, &json, |o| {
        for p in &r.problems {
            o.line(&format!(
                "{}: FAILED ({}: {})",
                p.subject().unwrap_or_default(),
                p.kind().as_str(),
                p
            ))?;
        }
        o.line(&format!(
            "replica {}: {} object(s) expected, {} listed, {} read ({} bytes): {}",
            r.replica,
            r.expected,
            r.listed,
            r.read,
            r.bytes,
            if r.ok() {
                "OK".to_owned()
            } else {
                format!("{} problem(s)", r.problems.len())
            }
        ))
    })?;
    Ok(if r.ok() {
        Outcome::Success
    } else {
        Outcome::Damage
    })
}

#[derive(Serialize)]
struct RestoreOut {
    archive: String,
    archive_id: String,
    head: u64,
    head_sha256: String,
    objects: u64,
    bytes: u64,
    items: u64,
    events: u64,
    push_event: bool,
    push_event_missing: bool,
}

pub fn restore(a: RestoreArgs, actor: String, out: &mut Out) -> Run {
    let opts = RestoreOptions {
        from: a.from,
        endpoint: Endpoint {
            endpoint: a.endpoint,
            region: a.region,
        },
        identity: a.identity,
        to: a.to,
        actor,
    };
    let bar = Transfer::new(out, "restore");
    let report = custodia::replica::restore(&opts, &bar);
    drop(bar);
    let r = report?;
    let json = RestoreOut {
        archive: path_text(&r.archive),
        archive_id: r.archive_id.clone(),
        head: r.head,
        head_sha256: r.head_sha256.clone(),
        objects: r.objects,
        bytes: r.bytes,
        items: r.items,
        events: r.events,
        push_event: r.push_event,
        push_event_missing: r.push_event_missing,
    };
    let shown = custodia::text::escape_path(&r.archive);
    emit(out, &json, |o| {
        o.line(&format!(
            "restored {shown} (archive {}): {} item(s), {} event(s), head {} sha256 {}; it verifies",
            r.archive_id, r.items, r.events, r.head, r.head_sha256
        ))?;
        if r.push_event_missing {
            o.line(&format!(
                "the replica lacks the event of its newest push (event {}): the restored log ends at {}",
                r.head.saturating_add(1),
                r.head
            ))?;
        }
        Ok(())
    })
}
