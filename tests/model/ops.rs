//! The generated operations: contents, file sets, cases and the proptest strategies that
//! combine them into sequences.

use super::*;

/// Case ids the operations draw from (the first also used by the other modules).
pub(super) const CASES: [&str; 3] = ["BY-2024-017", "case.two", "K_3"];

/// Relative file names an ingest draws from: nested folders, a space, upper case, and
/// `sub.txt` beside the folder `sub` (name order differs from plain string order there).
pub(super) const NAMES: [&str; 6] = [
    "a.txt",
    "B.bin",
    "photo 1.jpg",
    "sub.txt",
    "sub/c.txt",
    "sub/deep/d.dat",
];

pub(super) const MIB: usize = 1 << 20;

/// The contents an ingest draws from; every variant's bytes differ from every other's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Content {
    Empty,
    OneByte,
    Text,
    /// Exactly one chunk.
    Mib1,
    /// `Mib1` plus one byte: shares its first chunk with `Mib1`.
    Mib1Plus1,
    /// About 2.5 MiB of incompressible noise: three chunks.
    Noise2_5Mib,
    /// 2 MiB + 7 zero bytes: the same chunk twice in one content, then a short tail.
    Zeros2Mib,
}

pub(super) const CONTENTS: [Content; 7] = [
    Content::Empty,
    Content::OneByte,
    Content::Text,
    Content::Mib1,
    Content::Mib1Plus1,
    Content::Noise2_5Mib,
    Content::Zeros2Mib,
];

/// A content's bytes and their hashes, computed here with the blake3 and sha2 crates.
pub(super) struct Blob {
    pub(super) bytes: Vec<u8>,
    pub(super) blake3: String,
    pub(super) sha256: String,
}

impl Content {
    pub(super) fn blob(self) -> &'static Blob {
        static POOL: OnceLock<Vec<Blob>> = OnceLock::new();
        let pool = POOL.get_or_init(|| {
            let pool: Vec<Blob> = CONTENTS
                .iter()
                .map(|c| {
                    let bytes = c.make();
                    Blob {
                        blake3: blake3_hex(&bytes),
                        sha256: sha256_hex(&bytes),
                        bytes,
                    }
                })
                .collect();
            let distinct: BTreeSet<&str> = pool.iter().map(|b| b.blake3.as_str()).collect();
            assert_eq!(
                distinct.len(),
                pool.len(),
                "the content pool repeats itself"
            );
            pool
        });
        &pool[self as usize]
    }

    pub(super) fn make(self) -> Vec<u8> {
        match self {
            Content::Empty => Vec::new(),
            Content::OneByte => b"x".to_vec(),
            Content::Text => "Statement of witness W-07: the van left at 21:40.\n"
                .repeat(9)
                .into_bytes(),
            Content::Mib1 => noise(71, MIB),
            Content::Mib1Plus1 => {
                let mut b = noise(71, MIB);
                b.push(0x42);
                b
            }
            Content::Noise2_5Mib => noise(72, 2 * MIB + MIB / 2 + 333),
            Content::Zeros2Mib => vec![0; 2 * MIB + 7],
        }
    }

    pub(super) fn size(self) -> u64 {
        self.blob().bytes.len() as u64
    }
}

/// One file of an ingest: where it goes in the op's fresh folder, and its bytes.
#[derive(Clone, Copy)]
pub(super) struct FileSpec {
    pub(super) name: &'static str,
    pub(super) content: Content,
}

impl fmt::Debug for FileSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}={:?}", self.name, self.content)
    }
}

#[derive(Clone, Debug)]
pub(super) enum Op {
    /// Does nothing: generated rarely, it is what shrinking turns an op into when the failure
    /// does not need it (a sequence cannot shrink below 8 ops by removing them).
    Nop,
    CreateCase(&'static str),
    Ingest {
        case: &'static str,
        files: Vec<FileSpec>,
    },
    /// A new file holding the bytes of a model item (picked as for `Link`; with no items,
    /// `Text`) into a case: the same evidence from a second source, here or elsewhere.
    Reacquire {
        item: usize,
        case: &'static str,
        name: &'static str,
    },
    /// `item` picks a model item (modulo their number); 60 and above, or with no items,
    /// an id that does not exist.
    Link {
        item: usize,
        case: &'static str,
    },
    Extract {
        item: usize,
        by_prefix: bool,
    },
    Export(&'static str),
    Verify,
    Reopen,
    KillDuringIngest {
        case: &'static str,
        files: Vec<FileSpec>,
        /// Microseconds between the spawn and SIGKILL (0 to 200 ms, mostly under 40 ms,
        /// where an ingest of a few files is still running).
        delay_us: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Strategies

pub(super) fn case_id() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&CASES[..])
}

/// Small contents come up more often: more duplicates, across cases and within one.
pub(super) fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        2 => Just(Content::Empty),
        3 => Just(Content::OneByte),
        3 => Just(Content::Text),
        1 => Just(Content::Mib1),
        1 => Just(Content::Mib1Plus1),
        1 => Just(Content::Noise2_5Mib),
        1 => Just(Content::Zeros2Mib),
    ]
}

pub(super) fn files() -> impl Strategy<Value = Vec<FileSpec>> {
    let file = (prop::sample::select(&NAMES[..]), content())
        .prop_map(|(name, content)| FileSpec { name, content });
    prop_oneof![
        1 => Just(Vec::new()),
        8 => prop::collection::vec(file, 1..=4),
    ]
}

pub(super) fn kill_delay() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0..=40_000u64,
        1 => 0..=200_000u64,
    ]
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Nop),
        3 => case_id().prop_map(Op::CreateCase),
        6 => (case_id(), files()).prop_map(|(case, files)| Op::Ingest { case, files }),
        3 => (0..64usize, case_id(), prop::sample::select(&NAMES[..]))
            .prop_map(|(item, case, name)| Op::Reacquire { item, case, name }),
        3 => (0..64usize, case_id()).prop_map(|(item, case)| Op::Link { item, case }),
        2 => (0..64usize, any::<bool>())
            .prop_map(|(item, by_prefix)| Op::Extract { item, by_prefix }),
        1 => case_id().prop_map(Op::Export),
        1 => Just(Op::Verify),
        1 => Just(Op::Reopen),
        3 => (case_id(), files(), kill_delay()).prop_map(|(case, files, delay_us)| {
            Op::KillDuringIngest {
                case,
                files,
                delay_us,
            }
        }),
    ]
}
