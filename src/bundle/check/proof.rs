//! data/proof/: who signed each event the bag holds, that every one is in the exporter's
//! signed checkpoint, and each time-stamp over an earlier checkpoint consistent with it.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{Checker, MAX_TAG_FILE};
use crate::bundle::layout::proof;
use crate::custody::checkpoint::{self, Checkpoint};
use crate::custody::details::TimestampDetails;
use crate::custody::merkle::{self, Hash};
use crate::custody::{Break, Event, Signatures};
use crate::findings::{CheckpointFinding, Finding, StampTrust, Trust};
use crate::keys;

/// What the recipient trusts: the keys it knows, and the CAs of the TSAs it accepts.
#[derive(Clone, Debug, Default)]
pub struct BundleTrust {
    /// Public keys in OpenSSH form (`ssh-ed25519 AAAA…`).
    pub keys: Vec<String>,
    /// DER certificates of trusted time-stamping CAs.
    pub tsa_ca: Vec<Vec<u8>>,
}

/// The events of data/proof/ merged, in seq order, with custody.jsonl as it streams.
#[derive(Default)]
pub(super) struct ProofWalk {
    pending: BTreeMap<u64, Vec<u8>>,
    signatures: Signatures,
    leaves: HashMap<u64, Hash>,
    anchors: Vec<(u64, TimestampDetails)>,
    breaks: Vec<Break>,
}

impl ProofWalk {
    /// Checks every proof event older than this custody line, then the line itself.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        let Ok(event) = Event::parse(bytes) else {
            return; // reported by the custody checks
        };
        let older: Vec<u64> = self.pending.range(..event.seq).map(|(s, _)| *s).collect();
        for seq in older {
            if let Some(b) = self.pending.remove(&seq) {
                self.check(&b);
            }
        }
        self.pending.remove(&event.seq);
        self.check(bytes);
    }

    fn finish(&mut self) {
        for b in std::mem::take(&mut self.pending).into_values() {
            self.check(&b);
        }
    }

    fn check(&mut self, bytes: &[u8]) {
        let Ok(event) = Event::parse(bytes) else {
            return;
        };
        self.leaves.insert(event.seq, merkle::leaf_hash(bytes));
        if let Err(problem) = self.signatures.check(&event) {
            self.breaks.push(Break::Signature {
                seq: event.seq,
                problem,
            });
        }
        if let Some(d) = event.details_as::<TimestampDetails>() {
            self.anchors.push((event.seq, d));
        }
    }
}

impl Checker<'_> {
    /// The proof's events, ready to be merged with custody.jsonl; `None` for a bundle made
    /// before signatures, which carries no proof.
    pub(super) fn load_proof(&mut self) -> Option<ProofWalk> {
        if !self.files.contains_key(proof::CHECKPOINT) {
            return None;
        }
        let mut walk = ProofWalk::default();
        for rel in [proof::KEYS, proof::ANCHORS] {
            let bytes = self.read(rel, MAX_TAG_FILE).unwrap_or_default();
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                if let Ok(e) = Event::parse(line) {
                    walk.pending.insert(e.seq, line.to_vec());
                }
            }
        }
        Some(walk)
    }

    /// Checks the proof once custody.jsonl has been streamed through it.
    pub(super) fn check_proof(
        &mut self,
        mut walk: ProofWalk,
        export_seq: Option<u64>,
        trust: &BundleTrust,
    ) {
        walk.finish();
        self.report.checked.signed_events = walk.signatures.signed;
        self.report.checked.unsigned_events = walk.signatures.unsigned;
        self.report
            .problems
            .extend(walk.breaks.iter().cloned().map(Finding::Chain));
        let Some((cp, signed_by)) = self.checkpoint(&walk, trust) else {
            return;
        };
        if Some(cp.size) != export_seq {
            self.report
                .found(Finding::Checkpoint(CheckpointFinding::NotAtExport {
                    size: cp.size,
                }));
        }
        self.check_inclusion(&walk, &cp);
        let timestamps = self.check_anchors(&walk, &cp, trust);
        let mut signers: Vec<String> = walk.signatures.keys.keys().cloned().collect();
        signers.sort();
        self.report.trust = Some(Trust {
            signed_by: signers,
            checkpoint_signer: signed_by,
            checkpoint_size: cp.size,
            checkpoint_root: hex::encode(cp.root),
            timestamps,
            unsigned_events: walk.signatures.unsigned,
            trusted_keys: !trust.keys.is_empty(),
        });
    }

    /// The checkpoint, and the fingerprint of the key that signed it: a key the recipient
    /// trusts when they named any, else one the proof registers.
    fn checkpoint(
        &mut self,
        walk: &ProofWalk,
        trust: &BundleTrust,
    ) -> Option<(Checkpoint, String)> {
        let text = self.read(proof::CHECKPOINT, MAX_TAG_FILE)?;
        let parsed = checkpoint::parse(&String::from_utf8_lossy(&text));
        let (cp, sigs) = match parsed {
            Ok(p) => p,
            Err(e) => {
                let why = e.to_string();
                self.report
                    .found(Finding::Checkpoint(CheckpointFinding::Unreadable(why)));
                return None;
            }
        };
        let candidates: Vec<(String, ed25519_dalek::VerifyingKey)> = if trust.keys.is_empty() {
            walk.signatures
                .keys
                .iter()
                .map(|(f, k)| (f.clone(), k.public))
                .collect()
        } else {
            trust
                .keys
                .iter()
                .filter_map(|k| Some((keys::fingerprint_of(k)?, keys::parse_public(k)?)))
                .collect()
        };
        let signer = candidates
            .iter()
            .find(|(_, k)| sigs.iter().any(|s| checkpoint::signed_by(&cp, s, k)))
            .map(|(f, _)| f.clone());
        match signer {
            Some(f) => Some((cp, f)),
            None => {
                self.report
                    .found(Finding::Checkpoint(CheckpointFinding::Unsigned));
                Some((cp, String::new()))
            }
        }
    }

    /// Every event the bag holds is in the checkpoint's tree, by its inclusion proof.
    fn check_inclusion(&mut self, walk: &ProofWalk, cp: &Checkpoint) {
        let text = self
            .read(proof::INCLUSION, MAX_TAG_FILE)
            .unwrap_or_default();
        let mut proved = std::collections::BTreeSet::new();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(p) = serde_json::from_slice::<InclusionLine>(line) else {
                continue;
            };
            let path: Option<Vec<Hash>> = p.path.iter().map(|h| hash_of(h)).collect();
            let leaf = walk.leaves.get(&p.seq);
            let ok = match (leaf, path) {
                (Some(leaf), Some(path)) => {
                    merkle::verify_inclusion(p.seq.wrapping_sub(1), cp.size, leaf, &path, &cp.root)
                }
                _ => false,
            };
            if ok {
                proved.insert(p.seq);
            }
        }
        for seq in walk
            .leaves
            .keys()
            .filter(|s| !proved.contains(s))
            .copied()
            .collect::<Vec<_>>()
        {
            self.report
                .found(Finding::Checkpoint(CheckpointFinding::NotIncluded { seq }));
        }
    }

    /// Each time-stamp: its token over its checkpoint, and that checkpoint a prefix of this one.
    fn check_anchors(
        &mut self,
        walk: &ProofWalk,
        cp: &Checkpoint,
        trust: &BundleTrust,
    ) -> Vec<StampTrust> {
        let text = self
            .read(proof::CONSISTENCY, MAX_TAG_FILE)
            .unwrap_or_default();
        let proofs: HashMap<u64, ConsistencyLine> = text
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice::<ConsistencyLine>(l).ok())
            .map(|c| (c.seq, c))
            .collect();
        let tokens: Vec<(String, u64)> = self
            .files
            .keys()
            .filter_map(|r| Some((r.clone(), proof::token_seq(r)?)))
            .collect();
        for (rel, seq) in tokens {
            let kept = walk.anchors.iter().find(|(s, _)| *s == seq);
            let want = kept.and_then(|(_, d)| B64.decode(&d.token).ok());
            if want.is_none() || self.read(&rel, MAX_TAG_FILE) != want {
                self.report.found(Finding::TimestampInvalid {
                    seq,
                    why: format!("{rel} is not the token its event keeps"),
                });
            }
        }
        if !self
            .read(proof::CHECK_PY, MAX_TAG_FILE)
            .is_some_and(|b| proof::is_a_checker(&b))
        {
            self.report
                .found(Finding::Checkpoint(CheckpointFinding::Unreadable(
                "data/proof/check.py is not the checker this release (or an earlier one) writes"
                    .into(),
            )));
        }
        let mut out = Vec::new();
        for (seq, d) in &walk.anchors {
            match self.check_anchor(d, proofs.get(seq), cp, trust) {
                Ok(stamp) => out.push(stamp),
                Err(why) => self
                    .report
                    .found(Finding::TimestampInvalid { seq: *seq, why }),
            }
        }
        out
    }

    fn check_anchor(
        &self,
        d: &TimestampDetails,
        consistency: Option<&ConsistencyLine>,
        cp: &Checkpoint,
        trust: &BundleTrust,
    ) -> Result<StampTrust, String> {
        let root = hash_of(&d.checkpoint_root).ok_or("its checkpoint root is not a hash")?;
        let earlier = Checkpoint {
            origin: cp.origin.clone(),
            size: d.checkpoint_size,
            root,
        };
        let path: Option<Vec<Hash>> = consistency
            .ok_or("no consistency proof to the export's checkpoint")?
            .proof
            .iter()
            .map(|h| hash_of(h))
            .collect();
        let path = path.ok_or("its consistency proof is malformed")?;
        if !merkle::verify_consistency(earlier.size, cp.size, &root, &cp.root, &path) {
            return Err(
                "its checkpoint is not a prefix of the export's: the log was rewritten in between"
                    .into(),
            );
        }
        let token = B64
            .decode(&d.token)
            .map_err(|e| format!("its token is not base64: {e}"))?;
        let chain: Vec<Vec<u8>> = d.chain.iter().filter_map(|c| B64.decode(c).ok()).collect();
        let info = crate::timestamp::verify_token(&token, &earlier.digest(), &chain, &trust.tsa_ca)
            .map_err(|e| e.to_string())?;
        Ok(StampTrust {
            time: info.time,
            tsa: info.tsa,
            checkpoint_size: earlier.size,
            trusted: matches!(info.chain, crate::timestamp::Chain::Trusted { .. }),
        })
    }
}

#[derive(serde::Deserialize)]
struct InclusionLine {
    seq: u64,
    path: Vec<String>,
}

#[derive(serde::Deserialize)]
struct ConsistencyLine {
    seq: u64,
    proof: Vec<String>,
}

fn hash_of(text: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}
