//! The proof a bundle carries (issue 11): the registrations of every key that signed, a
//! checkpoint of the log up to the export event signed by the exporter, an inclusion proof
//! for every event the bag holds, and each earlier time-stamp with its consistency proof.

use super::reveals::Disclosure;
use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::Written;
use super::files::{BagFile, write_file};
use crate::archive::{Archive, Sealed};
use crate::bundle::layout::proof;
use crate::codec;
use crate::custody::checkpoint::{self, Checkpoint};
use crate::custody::details::{InitDetails, KeyRegisterDetails, TimestampDetails};
use crate::custody::merkle::{self, Levels};
use crate::custody::{Action, Event};
use crate::error::{Error, Result};
use crate::keys::SSHSIG_NAMESPACE;

/// What of the log the proof needs, gathered in one pass over it.
struct LogScan {
    leaves: Vec<merkle::Hash>,
    /// `init` (with a key), `key_register` and `key_revoke` events: (seq, bytes, event).
    keys: Vec<(u64, Vec<u8>, Event)>,
    /// `timestamp` events: (seq, bytes, details).
    anchors: Vec<(u64, Vec<u8>, TimestampDetails)>,
}

impl Archive {
    /// Writes `data/proof/`; `included` are the seqs of the events custody.jsonl holds.
    pub(super) fn write_proof(
        &self,
        bag: &Path,
        included: &BTreeSet<u64>,
        sealed: &Sealed,
        disclosure: &Disclosure,
    ) -> Result<Vec<Written>> {
        let signer = self
            .ctx
            .signer
            .clone()
            .ok_or_else(|| Error::Database("an export needs the acting key".into()))?;
        let scan = self.scan_log(sealed)?;
        let size = scan.leaves.len() as u64;
        let levels = Levels::new(scan.leaves.clone());
        let cp = Checkpoint {
            origin: checkpoint::origin(&self.meta.archive_id),
            size,
            root: levels.root(),
        };
        let note = cp.sign(&signer);
        crate::durable::create_private_dir_all(&bag.join(proof::DIR))?;
        let mut files = signing_files(&signer, &note, &scan)?;
        let mut proved: BTreeSet<u64> = included.clone();
        proved.extend(scan.keys.iter().map(|k| k.0));
        proved.extend(scan.anchors.iter().map(|a| a.0));
        files.push((proof::CONSISTENCY.to_owned(), consistency(&scan)?));
        // Reveals are for the events of custody.jsonl only (keys.jsonl and anchors.jsonl
        // events name no case, and their hosts stay hidden).
        let earlier: BTreeSet<u64> = included.range(..sealed.seq).copied().collect();
        let own = (sealed.seq, &sealed.openings);
        files.push((
            proof::REVEALS.to_owned(),
            self.reveals_jsonl(&earlier, own, disclosure)?,
        ));
        for (seq, _, d) in &scan.anchors {
            let token = B64.decode(&d.token).map_err(|e| {
                Error::Damaged(format!("event {seq}: its token is not base64: {e}"))
            })?;
            files.push((proof::token_file(*seq), token));
        }
        let mut written = files
            .into_iter()
            .map(|(rel, bytes)| {
                let digests = write_file(&bag.join(&rel), &bytes)?;
                Ok(Written { rel, digests })
            })
            .collect::<Result<Vec<_>>>()?;
        written.push(write_inclusion(bag, &levels, &proved)?);
        // The files' names are durable with their directory.
        crate::durable::sync_path(&bag.join(proof::DIR))?;
        Ok(written)
    }

    /// The leaf hashes of the log up to and including the sealed export event, and the
    /// events the proof carries whole.
    fn scan_log(&self, sealed: &Sealed) -> Result<LogScan> {
        let mut scan = LogScan {
            leaves: Vec::new(),
            keys: Vec::new(),
            anchors: Vec::new(),
        };
        for entry in self.catalog.raw_events() {
            let (key, value) = entry?;
            let seq = codec::u64_from_key("custody", &key)?;
            let bytes = codec::decode_event(&value)?;
            scan.leaves.push(merkle::leaf_hash(bytes));
            let event =
                Event::parse(bytes).map_err(|e| Error::Damaged(format!("event {seq}: {e}")))?;
            let registers = event
                .details_as::<InitDetails>()
                .is_some_and(|d| d.public_key.is_some())
                || event.details_as::<KeyRegisterDetails>().is_some()
                || event.action == Action::KeyRevoke;
            if registers {
                scan.keys.push((seq, bytes.to_vec(), event));
            } else if let Some(d) = event.details_as::<TimestampDetails>() {
                scan.anchors.push((seq, bytes.to_vec(), d));
            }
        }
        if scan.leaves.len() as u64 + 1 != sealed.seq {
            return Err(Error::Database(
                "the custody log moved while an export was being written".into(),
            ));
        }
        scan.leaves.push(merkle::leaf_hash(&sealed.bytes));
        Ok(scan)
    }
}

fn lines<'a>(events: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(e);
        out.push(b'\n');
    }
    out
}

/// `ssh-keygen -Y verify`'s allowed_signers: one line per (actor, key) the log registers.
fn allowed_signers(keys: &[(u64, Vec<u8>, Event)]) -> Vec<u8> {
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    for (_, _, e) in keys {
        let public = e
            .details_as::<KeyRegisterDetails>()
            .map(|d| d.public_key)
            .or_else(|| e.details_as::<InitDetails>().and_then(|d| d.public_key));
        if let Some(public) = public
            && seen.insert((e.actor.clone(), public.clone()))
        {
            let principal = e
                .actor
                .replace(|c: char| c.is_whitespace() || c == ',', "_");
            out.push_str(&format!(
                "{principal} namespaces=\"{SSHSIG_NAMESPACE}\" {public}\n"
            ));
        }
    }
    out.into_bytes()
}

/// The files of `data/proof/` that the checkpoint and the keys make: the signed note and
/// its SSHSIG, the exporter's key, the key and time-stamp events, allowed_signers, check.py.
fn signing_files(
    signer: &crate::keys::Signer,
    note: &str,
    scan: &LogScan,
) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(vec![
        (proof::CHECKPOINT.to_owned(), note.as_bytes().to_vec()),
        (
            proof::CHECKPOINT_SIG.to_owned(),
            signer
                .sshsig(SSHSIG_NAMESPACE, note.as_bytes())?
                .into_bytes(),
        ),
        (
            proof::SIGNER_PEM.to_owned(),
            signer.public_pem().into_bytes(),
        ),
        (
            proof::KEYS.to_owned(),
            lines(scan.keys.iter().map(|k| &k.1)),
        ),
        (
            proof::ANCHORS.to_owned(),
            lines(scan.anchors.iter().map(|a| &a.1)),
        ),
        (
            proof::ALLOWED_SIGNERS.to_owned(),
            allowed_signers(&scan.keys),
        ),
        (
            proof::CHECK_PY.to_owned(),
            proof::CHECKER.as_bytes().to_vec(),
        ),
    ])
}

/// One line per proved event: `{"path":[hex…],"seq":n}` against the checkpoint's root.
fn write_inclusion(bag: &Path, levels: &Levels, seqs: &BTreeSet<u64>) -> Result<Written> {
    let rel = proof::INCLUSION.to_owned();
    // Line by line into the file: a proof per event of a large case is megabytes.
    let mut file = BagFile::create(bag.join(&rel))?;
    for seq in seqs {
        let path: Vec<String> = levels
            .path((*seq - 1) as usize)
            .iter()
            .map(hex::encode)
            .collect();
        let line = serde_json::json!({"path": path, "seq": seq});
        file.put(&crate::custody::canonical_json(&line))?;
        file.put(b"\n")?;
    }
    let digests = file.finish()?;
    Ok(Written { rel, digests })
}

/// One line per time-stamp: the consistency proof from its checkpoint to the export's.
fn consistency(scan: &LogScan) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (seq, _, d) in &scan.anchors {
        let m = d.checkpoint_size as usize;
        if m > scan.leaves.len() {
            return Err(Error::Damaged(format!(
                "event {seq} time-stamps events the log does not hold"
            )));
        }
        let proof: Vec<String> = merkle::consistency_proof(m, &scan.leaves)
            .iter()
            .map(hex::encode)
            .collect();
        let line = serde_json::json!({"proof": proof, "seq": seq, "size": m});
        out.extend(crate::custody::canonical_json(&line));
        out.push(b'\n');
    }
    Ok(out)
}
