//! `verify --against`: the log must still hold, as a prefix, the tree an earlier signed
//! checkpoint states (RFC 9162 consistency), else it was rolled back or rewritten.

use crate::archive::Archive;
use crate::custody::checkpoint;
use crate::custody::merkle;
use crate::error::Result;
use crate::findings::{CheckpointFinding, Finding, VerifyReport};
use crate::keys;

impl Archive {
    pub(super) fn check_against(&self, note: &str, report: &mut VerifyReport) -> Result<()> {
        let mut found = |c| report.found(Finding::Checkpoint(c));
        let (cp, signatures) = match checkpoint::parse(note) {
            Ok(parsed) => parsed,
            Err(e) => {
                found(CheckpointFinding::Unreadable(e.to_string()));
                return Ok(());
            }
        };
        let ours = checkpoint::origin(&self.meta().archive_id);
        if cp.origin != ours {
            found(CheckpointFinding::OtherArchive { origin: cp.origin });
            return Ok(());
        }
        let known: Vec<_> = self
            .catalog
            .signing_keys()?
            .iter()
            .filter_map(|(_, k)| keys::parse_public(&k.public_key))
            .collect();
        let signed = signatures
            .iter()
            .any(|s| known.iter().any(|k| checkpoint::signed_by(&cp, s, k)));
        if !signed {
            found(CheckpointFinding::Unsigned);
        }
        let leaves = self.leaf_hashes(None)?;
        let have = leaves.len() as u64;
        if cp.size > have {
            found(CheckpointFinding::Ahead {
                size: cp.size,
                have,
            });
            return Ok(());
        }
        // The proof a recipient with only the two roots would check.
        let proof = merkle::consistency_proof(cp.size as usize, &leaves);
        let now = merkle::root(&leaves);
        if !merkle::verify_consistency(cp.size, have, &cp.root, &now, &proof) {
            found(CheckpointFinding::Rewritten { size: cp.size });
        }
        Ok(())
    }
}
