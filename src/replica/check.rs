//! `verify --replica`: is every object the pushes recorded on the server, with the size
//! and ETag recorded, and nothing else? With `--read-data` (or a subset), each object read
//! is also re-hashed against the SHA-256 its push recorded and, given an identity,
//! decrypted. Every problem is a finding; only "could not check" is an error.

use sha2::{Digest, Sha256};

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::findings::Finding;
use crate::findings::ReplicaFinding;

use super::TransferProgress;
use super::crypt::{OpenFailure, Opener, Sealing, open};
use super::layout::Stored;
use super::remote::Listed;
use super::remote::Remote;
use super::tail;
use crate::verify::{Chooser, Subset};

/// How much of the data to download.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ReadData {
    /// Listing only: presence, size and ETag.
    #[default]
    None,
    All,
    /// A slice `N/M` of the objects (by name), or a random percentage each run.
    Subset(Subset),
}

#[derive(Default)]
pub struct ReplicaVerifyOptions {
    pub read_data: ReadData,
    /// Also decrypt what is read, with this identity.
    pub identity: Option<std::path::PathBuf>,
}

/// What `verify --replica` checked and found.
#[derive(Debug, Default)]
pub struct ReplicaVerifyReport {
    pub replica: String,
    pub url: String,
    /// Objects the pushes recorded.
    pub expected: u64,
    /// Objects the server listed.
    pub listed: u64,
    /// Objects downloaded and re-hashed, and their bytes.
    pub read: u64,
    pub bytes: u64,
    /// Of those, decrypted with the identity.
    pub decrypted: u64,
    /// The push events' own objects (`push/S`, named by no push event) checked: listed,
    /// and with data read and an identity, holding exactly the archive's event.
    pub push_events: u64,
    pub problems: Vec<Finding>,
}

impl ReplicaVerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Archive {
    /// Checks a replica against what this archive's pushes recorded.
    pub fn verify_replica(
        &self,
        name: &str,
        opts: &ReplicaVerifyOptions,
        progress: &dyn TransferProgress,
    ) -> Result<ReplicaVerifyReport> {
        let replica = self.replica(name)?;
        let opener = opts.identity.as_deref().map(Opener::load).transpose()?;
        let remote = Remote::connect(&replica.url, &replica.endpoint())?;
        let listed = remote.list("")?;
        let expected = replica.stored();
        let mut report = ReplicaVerifyReport {
            replica: replica.name.clone(),
            url: replica.url.clone(),
            expected: expected.len() as u64,
            listed: listed.len() as u64,
            ..Default::default()
        };
        let on_server: std::collections::BTreeMap<_, _> =
            listed.iter().map(|l| (l.name.as_str(), l)).collect();
        let chooser = match opts.read_data {
            ReadData::Subset(s) => Some(
                s.chooser()
                    .map_err(Error::io("the operating system's random source"))?,
            ),
            _ => None,
        };
        for (object, stored) in &expected {
            let what = stored.what.clone();
            let Some(l) = on_server.get(object.as_str()) else {
                let object = object.clone();
                report
                    .problems
                    .push(Finding::Replica(ReplicaFinding::Missing { object, what }));
                continue;
            };
            if let Some(f) = listing_problem(object, stored, l) {
                report.problems.push(Finding::Replica(f));
                continue;
            }
            if chosen(opts.read_data, chooser.as_ref(), object) {
                let f = read_object(
                    &remote,
                    opener.as_ref(),
                    object,
                    stored,
                    &mut report,
                    progress,
                )?;
                report.problems.extend(f.map(Finding::Replica));
            }
        }
        let tails = self.check_push_events(&remote, &replica, opts, opener.as_ref(), &on_server)?;
        report.push_events = tails.0.len() as u64;
        report
            .problems
            .extend(tails.1.into_iter().map(Finding::Replica));
        let tails = tails.0;
        for l in &listed {
            if !expected.contains_key(&l.name) && !tails.contains(&l.name) {
                report
                    .problems
                    .push(Finding::Replica(ReplicaFinding::Extra {
                        object: l.name.clone(),
                        size: l.size,
                    }));
            }
        }
        Ok(report)
    }

    /// The push events' own objects (`tail.rs`), read as far as the options say: the names
    /// accounted for, and what is wrong with them.
    fn check_push_events(
        &self,
        remote: &Remote,
        replica: &super::registry::Replica,
        opts: &ReplicaVerifyOptions,
        opener: Option<&Opener>,
        on_server: &std::collections::BTreeMap<&str, &Listed>,
    ) -> Result<(Vec<String>, Vec<ReplicaFinding>)> {
        let sealing = Sealing::new(&replica.recipients, replica.plaintext)?;
        let read = match (opts.read_data, opener) {
            (ReadData::None, _) => tail::Read::None,
            (_, Some(o)) => tail::Read::Decrypted(o),
            (_, None) => tail::Read::Bytes(&sealing),
        };
        let mut found = Vec::new();
        let names = tail::check(remote, replica, &self.catalog, on_server, read, &mut found)?;
        Ok((names, found))
    }
}

/// What the listing alone shows wrong with a stored object: its size, or its ETag.
fn listing_problem(object: &str, stored: &Stored, l: &Listed) -> Option<ReplicaFinding> {
    let (object, what) = (object.to_owned(), stored.what.clone());
    if l.size != stored.size {
        let (size, stored) = (l.size, stored.size);
        return Some(ReplicaFinding::Truncated {
            object,
            what,
            size,
            stored,
        });
    }
    if !stored.etag.is_empty() && !l.etag.is_empty() && stored.etag != l.etag {
        let why = format!(
            "the server gives ETag {} where it gave {}",
            l.etag, stored.etag
        );
        return Some(ReplicaFinding::Altered { object, what, why });
    }
    None
}

/// Reads an object back: its bytes' SHA-256 against what the push stored and, with an
/// identity, that it decrypts. An identity the replica is not encrypted to is an error.
fn read_object(
    remote: &Remote,
    opener: Option<&Opener>,
    object: &str,
    stored: &Stored,
    report: &mut ReplicaVerifyReport,
    progress: &dyn TransferProgress,
) -> Result<Option<ReplicaFinding>> {
    let (name, what) = (object.to_owned(), stored.what.clone());
    let Some(bytes) = remote.get(object)? else {
        return Ok(Some(ReplicaFinding::Missing { object: name, what }));
    };
    report.read += 1;
    report.bytes += bytes.len() as u64;
    progress.bytes(bytes.len() as u64);
    let digest = hex::encode(Sha256::digest(&bytes));
    if bytes.len() as u64 != stored.size || digest != stored.sha256 {
        let why = format!(
            "its SHA-256 is {digest} where a push stored {}",
            stored.sha256
        );
        return Ok(Some(ReplicaFinding::Altered {
            object: name,
            what,
            why,
        }));
    }
    let Some(opener) = opener else {
        return Ok(None);
    };
    match open(Some(opener), &bytes) {
        Ok(_) => {
            report.decrypted += 1;
            Ok(None)
        }
        Err(OpenFailure::NotForUs) => Err(Error::Identity(format!(
            "the replica's objects are not encrypted to the identity {}",
            opener.path()
        ))),
        Err(OpenFailure::Damaged(why)) => {
            let why = format!("it does not decrypt: {why}");
            Ok(Some(ReplicaFinding::Altered {
                object: name,
                what,
                why,
            }))
        }
    }
}

/// Whether this run reads an object: all, none, or its share (restic's
/// `--read-data-subset n/t` or `N%`), by the object's name.
fn chosen(read: ReadData, chooser: Option<&Chooser>, object: &str) -> bool {
    match (read, chooser) {
        (ReadData::None, _) => false,
        (ReadData::Subset(_), Some(c)) => c.includes(object.as_bytes()),
        _ => true,
    }
}
