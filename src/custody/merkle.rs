//! The custody log as an RFC 9162 (Certificate Transparency 2.0) Merkle tree: events are
//! the leaves in seq order; roots, inclusion proofs and consistency proofs, made and checked.
//!
//! Leaf hash `SHA-256(0x00 ‖ event bytes)`, node hash `SHA-256(0x01 ‖ left ‖ right)`
//! (RFC 9162 §2.1.1). Proof generation follows the recursive definitions of §2.1.3.1 and
//! §2.1.4.1; verification the iterative algorithms of §2.1.3.2 and §2.1.4.2, so a verifier
//! written from the RFC alone agrees with this one.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The hash of one leaf: an event's exact bytes.
pub fn leaf_hash(event: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(event);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]): the root of the tree over these leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `m` (0-based) in the tree over `leaves`.
pub fn inclusion_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 || m >= leaves.len() {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (mut path, sibling) = if m < k {
        (inclusion_proof(m, &leaves[..k]), root(&leaves[k..]))
    } else {
        (inclusion_proof(m - k, &leaves[k..]), root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// PROOF(m, D[n]): that the tree of the first `m` leaves is a prefix of the tree of all.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    let k = split(n);
    let (mut proof, other) = if m <= k {
        (subproof(m, &leaves[..k], whole), root(&leaves[k..]))
    } else {
        (subproof(m - k, &leaves[k..], false), root(&leaves[..k]))
    };
    proof.push(other);
    proof
}

/// Every level of the tree over some leaves, for many audit paths at once: each path is
/// then read off the levels instead of recomputing subtrees. Pairing the nodes of each
/// level and carrying an odd last node up unchanged builds exactly RFC 9162's tree.
pub struct Levels {
    levels: Vec<Vec<Hash>>,
}

impl Levels {
    pub fn new(leaves: Vec<Hash>) -> Levels {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node_hash(l, r),
                    [odd] => *odd,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            levels.push(up);
        }
        Levels { levels }
    }

    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|l| l.first()) {
            Some(top) => *top,
            None => Sha256::digest([]).into(),
        }
    }

    /// The audit path of leaf `index`: `inclusion_proof`, without recomputing subtrees.
    pub fn path(&self, mut index: usize) -> Vec<Hash> {
        let mut path = Vec::new();
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            let sibling = if index % 2 == 1 {
                level.get(index - 1)
            } else {
                level.get(index + 1)
            };
            path.extend(sibling.copied());
            index /= 2;
        }
        path
    }
}

/// RFC 9162 §2.1.3.2: whether `path` proves leaf `index` (0-based) of a tree of `size`
/// leaves, with this leaf hash, under `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `first` leaves under `first_root`
/// to be a prefix of the tree of `second` leaves under `second_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let Some((start, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("event {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn known_answers_for_small_trees() {
        // The empty tree is SHA-256 of nothing; one leaf is its own root; two leaves are
        // one node over both (RFC 9162 §2.1.1).
        let l = leaves(3);
        assert_eq!(root(&[]), <[u8; 32]>::from(Sha256::digest([])));
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(root(&l[..2]), node_hash(&l[0], &l[1]));
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        let mut expected = Sha256::new();
        expected.update([0u8]);
        expected.update(b"event 0");
        assert_eq!(l[0], <[u8; 32]>::from(expected.finalize()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn every_leaf_is_proved_included_and_no_other(n in 1usize..70, pick in 0usize..70, flip in 0usize..32) {
            let l = leaves(n);
            let m = pick % n;
            let r = root(&l);
            let path = inclusion_proof(m, &l);
            prop_assert!(verify_inclusion(m as u64, n as u64, &l[m], &path, &r));
            let other = (m + 1) % n;
            if other != m {
                prop_assert!(!verify_inclusion(other as u64, n as u64, &l[m], &path, &r));
            }
            let mut bad = r;
            bad[flip] ^= 1;
            prop_assert!(!verify_inclusion(m as u64, n as u64, &l[m], &path, &bad));
        }

        #[test]
        fn paths_read_off_the_levels_are_the_rfc_paths(n in 1usize..90, pick in 0usize..90) {
            let l = leaves(n);
            let levels = Levels::new(l.clone());
            prop_assert_eq!(levels.root(), root(&l));
            let m = pick % n;
            prop_assert_eq!(levels.path(m), inclusion_proof(m, &l));
        }

        #[test]
        fn every_prefix_is_proved_consistent_and_a_changed_one_is_not(n in 2usize..70, pick in 1usize..70, changed in 0usize..70) {
            let l = leaves(n);
            let m = 1 + pick % (n - 1);
            let (old, new) = (root(&l[..m]), root(&l));
            let proof = consistency_proof(m, &l);
            prop_assert!(verify_consistency(m as u64, n as u64, &old, &new, &proof));
            // A log rewritten inside the old tree: its new root is not consistent with the old.
            let mut rewritten = l.clone();
            rewritten[changed % m] = leaf_hash(b"forged");
            let proof = consistency_proof(m, &rewritten);
            prop_assert!(!verify_consistency(m as u64, n as u64, &old, &root(&rewritten), &proof));
        }
    }
}
