//! Anchoring the log outside the archive: signed checkpoints of its Merkle tree, and
//! RFC 3161 time-stamps over them, kept as custody events.
//!
//! A checkpoint handed to a partner, a lawyer or a notary proves later that the log still
//! holds that tree as a prefix (`verify --against`); a time-stamp token proves the tree
//! existed by the time a third party signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::archive::Archive;
use crate::catalog::keys;
use crate::codec;
use crate::custody::checkpoint::{self, Checkpoint};
use crate::custody::details::TimestampDetails;
use crate::custody::merkle::{self, Hash};
use crate::custody::{Action, Draft};
use crate::error::{Error, Result};
use crate::timestamp::{self, TimestampError};

/// A checkpoint, signed, and the artifacts a recipient checks it with.
#[derive(Clone, Debug)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The C2SP signed note (body, blank line, signature line).
    pub note: String,
    /// An SSHSIG (armored) over the whole note: `ssh-keygen -Y verify -n custodia`.
    pub sshsig: String,
    pub signer: String,
    pub public_key: String,
}

/// A time-stamp kept in the log.
#[derive(Clone, Debug)]
pub struct Timestamped {
    pub event: u64,
    pub checkpoint: Checkpoint,
    pub info: timestamp::TokenInfo,
}

impl Archive {
    /// The leaf hashes of the log's first `size` events (all of them with `None`).
    pub(crate) fn leaf_hashes(&self, size: Option<u64>) -> Result<Vec<Hash>> {
        let mut leaves = Vec::new();
        for entry in self.catalog.raw_events() {
            let (key, value) = entry?;
            let seq = codec::u64_from_key("custody", &key)?;
            if size.is_some_and(|n| seq > n) {
                break;
            }
            leaves.push(merkle::leaf_hash(codec::decode_event(&value)?));
        }
        Ok(leaves)
    }

    /// The checkpoint of the whole log as it stands.
    pub fn current_checkpoint(&self) -> Result<Checkpoint> {
        let leaves = self.leaf_hashes(None)?;
        Ok(Checkpoint {
            origin: checkpoint::origin(&self.meta().archive_id),
            size: leaves.len() as u64,
            root: merkle::root(&leaves),
        })
    }

    /// The current checkpoint, signed by the acting key (registered first if it is not).
    pub fn checkpoint(&mut self) -> Result<SignedCheckpoint> {
        self.prepare_signing()?;
        self.commit_durable()?;
        let signer = self.signer()?;
        let checkpoint = self.current_checkpoint()?;
        let note = checkpoint.sign(&signer);
        let sshsig = signer.sshsig(crate::keys::SSHSIG_NAMESPACE, note.as_bytes())?;
        Ok(SignedCheckpoint {
            checkpoint,
            note,
            sshsig,
            signer: signer.fingerprint().to_owned(),
            public_key: signer.public_openssh().to_owned(),
        })
    }

    /// Makes an RFC 3161 request over the current checkpoint and keeps it (`meta/tsq:…`)
    /// until its response is added. Returns the request's DER (the `.tsq`).
    pub fn timestamp_request(&mut self) -> Result<(Checkpoint, Vec<u8>)> {
        let checkpoint = self.current_checkpoint()?;
        let request = timestamp::request(&checkpoint.digest())?;
        let pending = codec::encode(&(request.der.clone(), checkpoint.size));
        self.catalog
            .put_meta(&keys::pending_timestamp(&checkpoint.digest()), &pending)?;
        self.commit_durable()?;
        Ok((checkpoint, request.der))
    }

    /// Checks a `.tsr` against a request made here and keeps its token as a `timestamp` event.
    pub fn timestamp_add(&mut self, tsr: &[u8], chain_pem: Option<&[u8]>) -> Result<Timestamped> {
        let chain = chain_pem
            .map(timestamp::pem_certs)
            .transpose()?
            .unwrap_or_default();
        let mut wrong = None;
        for (digest, (der, size)) in self.catalog.pending_timestamps()? {
            let request = timestamp::parse_request(&der)?;
            match timestamp::accept_response(tsr, &request, &chain) {
                Ok((token, info)) => {
                    return self.record_timestamp(size, &digest, token, &chain, info);
                }
                Err(Error::Timestamp(e @ TimestampError::WrongImprint { .. })) => wrong = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(wrong.map_or(Error::NoPendingTimestamp, Error::Timestamp))
    }

    /// Asks a TSA over HTTP for a token over the current checkpoint, and keeps it.
    pub fn timestamp_from(&mut self, url: &str, chain_pem: Option<&[u8]>) -> Result<Timestamped> {
        let chain = chain_pem
            .map(timestamp::pem_certs)
            .transpose()?
            .unwrap_or_default();
        let checkpoint = self.current_checkpoint()?;
        let digest = checkpoint.digest();
        let request = timestamp::request(&digest)?;
        let reply = timestamp::fetch(url, &request, std::time::Duration::from_secs(30))?;
        let (token, info) = timestamp::accept_response(&reply, &request, &chain)?;
        self.record_timestamp(checkpoint.size, &digest, token, &chain, info)
    }

    fn record_timestamp(
        &mut self,
        size: u64,
        digest: &[u8; 32],
        token: Vec<u8>,
        chain: &[Vec<u8>],
        info: timestamp::TokenInfo,
    ) -> Result<Timestamped> {
        let leaves = self.leaf_hashes(Some(size))?;
        let checkpoint = Checkpoint {
            origin: checkpoint::origin(&self.meta().archive_id),
            size,
            root: merkle::root(&leaves),
        };
        if checkpoint.digest() != *digest {
            return Err(Error::Damaged(format!(
                "the log's first {size} events no longer hash to the checkpoint this time-stamp was requested for"
            )));
        }
        let draft = Draft::new(Action::Timestamp).with(&TimestampDetails {
            checkpoint_size: size,
            checkpoint_root: hex::encode(checkpoint.root),
            digest: hex::encode(digest),
            token: B64.encode(&token),
            chain: chain.iter().map(|c| B64.encode(c)).collect(),
            time: info.time.clone(),
            tsa: info.tsa.clone(),
        });
        let pending = keys::pending_timestamp(digest);
        let event = self.commit(|tx| {
            tx.remove_meta(&pending)?;
            tx.append(&draft).map(|(seq, _)| seq)
        })?;
        Ok(Timestamped {
            event,
            checkpoint,
            info,
        })
    }
}
