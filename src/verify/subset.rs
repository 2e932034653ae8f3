//! Which contents (or replica objects) a partial read chooses: a deterministic slice `N/M`,
//! so that runs 1 to M together read everything exactly once (restic's
//! `--read-data-subset n/t`), or a random percentage drawn afresh on each run.

use std::fmt;

/// A share of the data to read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Subset {
    /// Slice `n` of `m` (1 ≤ n ≤ m): the same items on every run with the same `n/m`.
    Slice { n: u32, m: u32 },
    /// About this percentage (0 < p ≤ 100), chosen at random each run.
    Percent(f64),
}

impl Subset {
    /// `N/M` (e.g. `3/7`) or a percentage (`10%`, or `10`).
    pub fn parse(s: &str) -> Result<Subset, String> {
        if let Some((n, m)) = s.split_once('/') {
            let (Ok(n), Ok(m)) = (n.trim().parse::<u32>(), m.trim().parse::<u32>()) else {
                return Err(format!(
                    "{s:?} is not N/M (e.g. 3/7) or a percentage (e.g. 10%)"
                ));
            };
            if n == 0 || m == 0 || n > m {
                return Err(format!("{s:?}: N/M needs 1 <= N <= M (e.g. 3/7)"));
            }
            return Ok(Subset::Slice { n, m });
        }
        let number = s.trim();
        let p: f64 = number
            .strip_suffix('%')
            .unwrap_or(number)
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not N/M (e.g. 3/7) or a percentage (e.g. 10%)"))?;
        // At least a hundredth of a percent, so the share reads back as it was given.
        if (0.01..=100.0).contains(&p) {
            Ok(Subset::Percent(p))
        } else {
            Err(format!("{s:?} is not between 0.01% and 100%"))
        }
    }

    /// What chooses for one run: a slice needs nothing more; a percentage draws its salt.
    pub fn chooser(self) -> std::io::Result<Chooser> {
        let mut salt = [0u8; 32];
        if let Subset::Percent(_) = self {
            getrandom::fill(&mut salt).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(Chooser { subset: self, salt })
    }
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subset::Slice { n, m } => write!(f, "{n}/{m}"),
            Subset::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Decides, for one run, whether an object (by its key) is read.
#[derive(Clone, Debug)]
pub struct Chooser {
    subset: Subset,
    salt: [u8; 32],
}

impl Chooser {
    /// Whether the object with this key (a content address, an object name) is read. A
    /// keyed BLAKE3 of the key spreads any keys evenly over the slices.
    pub fn includes(&self, key: &[u8]) -> bool {
        let h = blake3::keyed_hash(&self.salt, key);
        let x = u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"));
        match self.subset {
            Subset::Slice { n, m } => x % u64::from(m) == u64::from(n - 1),
            Subset::Percent(p) => p >= 100.0 || (x as f64) < (p / 100.0) * (u64::MAX as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_and_bad_ones_are_refused() {
        assert_eq!(Subset::parse("3/7"), Ok(Subset::Slice { n: 3, m: 7 }));
        assert_eq!(Subset::parse("10%"), Ok(Subset::Percent(10.0)));
        assert_eq!(Subset::parse("2.5"), Ok(Subset::Percent(2.5)));
        assert_eq!(Subset::parse(" 10 %"), Ok(Subset::Percent(10.0)));
        for bad in [
            "0/7", "8/7", "1/0", "a/b", "3/", "0%", "101", "x", "-5", "50%%", "1e-300",
        ] {
            assert!(Subset::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Subset::Slice { n: 3, m: 7 }.to_string(), "3/7");
    }

    #[test]
    fn the_slices_of_a_whole_read_everything_exactly_once() {
        let m = 5;
        let choosers: Vec<Chooser> = (1..=m)
            .map(|n| Subset::Slice { n, m }.chooser().unwrap())
            .collect();
        let mut per_slice = vec![0; m as usize];
        for key in 0u32..2000 {
            let hits: Vec<usize> = (0..m as usize)
                .filter(|&i| choosers[i].includes(&key.to_le_bytes()))
                .collect();
            assert_eq!(hits.len(), 1, "key {key} in exactly one slice");
            per_slice[hits[0]] += 1;
        }
        for count in per_slice {
            assert!((300..500).contains(&count), "slices are even: {count}");
        }
        let again = Subset::Slice { n: 2, m }.chooser().unwrap();
        assert!((0u32..200).all(|k| again.includes(&k.to_le_bytes())
            == choosers[1].includes(&k.to_le_bytes())));
    }
}
