//! The whole custody log in order: both chains, and the head as the database and the
//! `HEAD` file record it.

use crate::archive::{Archive, HEAD_FILE, parse_head_text};
use crate::catalog::{Head, KeyRecord, keys};
use crate::codec;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::openings::OpeningsCursor;
use crate::custody::ChainWalker;
use crate::custody::checkpoint::{self, Checkpoint};
use crate::custody::details::TimestampDetails;
use crate::custody::merkle;
use crate::error::Result;
use crate::findings::{Finding, VerifyReport};
use crate::ids::{EventDigest, EvidenceId};

impl Archive {
    pub(super) fn check_custody(&self, report: &mut VerifyReport) -> Result<()> {
        let head_file = std::fs::read_to_string(self.root().join(HEAD_FILE))
            .ok()
            .and_then(|t| parse_head_text(&t));
        let mut at_head_file_seq = None;
        let mut walker = ChainWalker::whole_log();
        let mut leaves = Vec::new();
        let mut stamps = Vec::new();
        let mut last_seq = 0;
        let mut openings = OpeningsCursor::new(self.catalog.raw_openings());
        for entry in self.catalog.raw_events() {
            let (key, value) = entry?;
            let seq = match codec::u64_from_key("custody", &key) {
                Ok(s) => s,
                Err(e) => {
                    let why = e.to_string();
                    report.found(Finding::EventUnreadable { seq: None, why });
                    continue;
                }
            };
            last_seq = seq;
            let bytes = match codec::decode_event(&value) {
                Ok(b) => b,
                Err(e) => {
                    let why = e.to_string();
                    report.found(Finding::EventUnreadable {
                        seq: Some(seq),
                        why,
                    });
                    continue;
                }
            };
            if head_file.is_some_and(|h| h.seq == seq) {
                at_head_file_seq = Some(EventDigest::of(bytes));
            }
            leaves.push(merkle::leaf_hash(bytes));
            let event = walker.feed(seq, bytes);
            openings.check(seq, event.as_ref(), report)?;
            stamps.extend(event.and_then(|e| Some((seq, e.details_as::<TimestampDetails>()?))));
        }
        report.checked.events = walker.events;
        report.checked.signed_events = walker.signatures.signed;
        report.checked.unsigned_events = walker.signatures.unsigned;
        report
            .problems
            .extend(walker.breaks.iter().cloned().map(Finding::Chain));
        for (seq, stamp) in stamps {
            if let Err(why) = self.check_timestamp(&stamp, &leaves) {
                report.found(Finding::TimestampInvalid { seq, why });
            }
        }
        self.check_heads(report, &walker, last_seq, head_file, at_head_file_seq)
    }

    /// A kept token: over the checkpoint of the log's first `checkpoint_size` events, and
    /// signed by the TSA whose certificate it (or its kept chain) carries.
    fn check_timestamp(
        &self,
        stamp: &TimestampDetails,
        leaves: &[merkle::Hash],
    ) -> std::result::Result<(), String> {
        let size = stamp.checkpoint_size as usize;
        let Some(prefix) = leaves.get(..size) else {
            return Err(format!("it covers {size} events, more than the log holds"));
        };
        let checkpoint = Checkpoint {
            origin: checkpoint::origin(&self.meta().archive_id),
            size: stamp.checkpoint_size,
            root: merkle::root(prefix),
        };
        if hex::encode(checkpoint.digest()) != stamp.digest {
            return Err(format!(
                "the log's first {size} events are not the checkpoint it was made for"
            ));
        }
        let decode = |b: &str| {
            B64.decode(b)
                .map_err(|e| format!("its token is not base64: {e}"))
        };
        let token = decode(&stamp.token)?;
        let chain = stamp
            .chain
            .iter()
            .map(|c| decode(c))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        crate::timestamp::verify_token(&token, &checkpoint.digest(), &chain, &[])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn check_heads(
        &self,
        report: &mut VerifyReport,
        walker: &ChainWalker,
        last_seq: u64,
        head_file: Option<Head>,
        at_head_file_seq: Option<EventDigest>,
    ) -> Result<()> {
        match self.head()? {
            Some(h) if h.seq == last_seq && Some(h.digest) == walker.head() => {}
            Some(h) => report.found(Finding::DatabaseHeadWrong {
                recorded: h.seq,
                last: last_seq,
            }),
            None => report.found(Finding::DatabaseHeadMissing),
        }
        match head_file {
            Some(h) if at_head_file_seq == Some(h.digest) => {}
            Some(h) => report.found(Finding::HeadFileWrong {
                seq: h.seq,
                digest: h.digest,
            }),
            None => report.found(Finding::HeadFileMissing),
        }
        self.check_key_records(report, walker)?;
        self.check_item_heads(report, walker)
    }

    /// Every signing key's record says what the log's registrations and revocations say.
    fn check_key_records(&self, report: &mut VerifyReport, walker: &ChainWalker) -> Result<()> {
        let mut recorded: std::collections::BTreeMap<String, KeyRecord> =
            self.catalog.signing_keys()?.into_iter().collect();
        for (fingerprint, known) in &walker.signatures.keys {
            let matches = recorded.remove(fingerprint).is_some_and(|r| {
                r.public_key == known.public_openssh
                    && r.actors == known.actors
                    && r.registered_at == known.registered_at
                    && r.revoked_at == known.revoked_at
            });
            if !matches {
                let fingerprint = fingerprint.clone();
                report.found(Finding::KeyRecordAltered { fingerprint });
            }
        }
        for fingerprint in recorded.into_keys() {
            report.found(Finding::KeyRecordAltered { fingerprint });
        }
        Ok(())
    }

    /// Each item's recorded newest event is the last of its chain, and every item has one.
    fn check_item_heads(&self, report: &mut VerifyReport, walker: &ChainWalker) -> Result<()> {
        for entry in self.catalog.raw_index_under(&[keys::ITEM_HEAD]) {
            let (key, value) = entry?;
            let Some(item) = EvidenceId::from_key(&key[1..]) else {
                continue;
            };
            let recorded = codec::decode::<EventDigest>("index: item head", &value).ok();
            if recorded.is_none() || walker.item_head(&item.to_string()) != recorded {
                report.found(Finding::ItemHeadWrong { item });
            }
        }
        for id in self.catalog.item_ids()? {
            if walker.item_head(&id.to_string()).is_none() {
                report.found(Finding::ItemUnlogged { item: id });
            }
        }
        Ok(())
    }
}
