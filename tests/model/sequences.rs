//! Random and directed operation sequences: the archive agrees with the model after every step.

use super::*;

/// The files sled keeps beside each database of the archive (snapshots, log), with sizes:
/// what to look at when a database no longer opens.
fn sled_files(archive: &Path) -> String {
    let mut dbs = vec![archive.join("db")];
    if let Ok(dir) = std::fs::read_dir(archive.join("volumes")) {
        dbs.extend(dir.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    let mut out = String::new();
    for db in dbs {
        let Ok(dir) = std::fs::read_dir(&db) else {
            continue;
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok())
            .map(|e| {
                let len = e.metadata().map_or(0, |m| m.len());
                format!("{} ({len} bytes)", e.file_name().to_string_lossy())
            })
            .collect();
        names.sort();
        out.push_str(&format!("  {}: {}\n", db.display(), names.join(", ")));
    }
    out
}

/// Runs one op sequence on a fresh archive; the error names the failing step.
fn run_ops(ops: &[Op], kills: &Cell<u64>, steps: &Cell<u64>) -> Check {
    let mut run = Run::new()?;
    run.check().map_err(|e| format!("after init: {e}"))?;
    for (n, op) in ops.iter().enumerate() {
        run.step(n, op).and_then(|()| run.check()).map_err(|e| {
            format!(
                "step {n} {op:?}: {e}\nfiles of the archive's databases:\n{}",
                sled_files(&run.env.archive)
            )
        })?;
        steps.set(steps.get() + 1);
    }
    kills.set(kills.get() + run.kills);
    Ok(())
}

#[test]
fn archive_agrees_with_model_after_every_step() {
    let cases = std::env::var("CUSTODIA_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let defaults = Config::default();
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        // Each case is a whole archive's life: shrink for a while, not forever.
        max_shrink_iters: if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_some() {
            defaults.max_shrink_iters
        } else {
            300
        },
        ..defaults
    };
    let started = Instant::now();
    let (kills, steps) = (Cell::new(0), Cell::new(0));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op(), 8..=20), |ops| {
        run_ops(&ops, &kills, &steps).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => eprintln!(
            "model: {cases} sequences, {} steps, {} ingests killed mid-run, {:?} (seed {seed})",
            steps.get(),
            kills.get(),
            started.elapsed()
        ),
        Err(TestError::Fail(reason, ops)) => {
            let listing: String = ops
                .iter()
                .enumerate()
                .filter(|(_, op)| !matches!(op, Op::Nop))
                .map(|(n, op)| format!("  {n:2}: {op:?}\n"))
                .collect();
            panic!(
                "the archive disagrees with the model.\nminimal sequence (no-ops left out):\n{listing}\
                 failure: {reason}\nreplay: PROPTEST_RNG_SEED={seed} CUSTODIA_MODEL_CASES={cases}"
            );
        }
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason} (seed {seed})"),
    }
}

/// Sequences the random search reaches only rarely, run every time: each a corner of the
/// ingest semantics of docs/CLI.md (which item an acquisition attaches to, duplicates within one
/// ingest and across cases) or of the refusals, checked against the same model after every step.
#[test]
fn directed_sequences_agree_with_the_model() {
    for (what, ops) in &directed_scenarios() {
        if let Err(e) = run_ops(ops, &Cell::new(0), &Cell::new(0)) {
            panic!("{what}:\n{e}");
        }
    }
}

/// The directed sequences, each with what it is about.
fn directed_scenarios() -> Vec<(&'static str, Vec<Op>)> {
    [
        ingest_scenarios(),
        link_scenarios(),
        refusal_scenarios(),
        content_scenarios(),
    ]
    .concat()
}

/// Duplicates within one ingest and across cases.
fn ingest_scenarios() -> Vec<(&'static str, Vec<Op>)> {
    let f = |name, content| FileSpec { name, content };
    let [by, two, _] = CASES;
    vec![
        (
            "the same bytes twice in one ingest: one item, the second file a duplicate of it",
            vec![
                Op::CreateCase(by),
                Op::Ingest {
                    case: by,
                    files: vec![
                        f("a.txt", Content::Text),
                        f("B.bin", Content::Text),
                        f("sub/c.txt", Content::Empty),
                        f("sub/deep/d.dat", Content::Empty),
                    ],
                },
                Op::Extract {
                    item: 0,
                    by_prefix: true,
                },
                Op::Extract {
                    item: 1,
                    by_prefix: true,
                },
            ],
        ),
        (
            "stored bytes new to a case: a new item with status duplicate; a shared prefix is ambiguous",
            vec![
                Op::CreateCase(by),
                Op::CreateCase(two),
                Op::Ingest {
                    case: by,
                    files: vec![f("a.txt", Content::Mib1)],
                },
                Op::Ingest {
                    case: two,
                    files: vec![f("B.bin", Content::Mib1)],
                },
                Op::Extract {
                    item: 0,
                    by_prefix: true,
                },
                Op::Extract {
                    item: 1,
                    by_prefix: false,
                },
                Op::Export(two),
                Op::Reacquire {
                    item: 1,
                    case: by,
                    name: "photo 1.jpg",
                },
            ],
        ),
    ]
}

/// Which item an acquisition attaches to once an item is linked.
fn link_scenarios() -> Vec<(&'static str, Vec<Op>)> {
    let f = |name, content| FileSpec { name, content };
    let [_, two, k3] = CASES;
    vec![
        (
            "linked into a case that holds the same bytes: acquisitions still attach to the case's first item",
            vec![
                Op::CreateCase(two),
                Op::CreateCase(k3),
                Op::Ingest {
                    case: two,
                    files: vec![f("a.txt", Content::Text)],
                },
                Op::Reacquire {
                    item: 0,
                    case: k3,
                    name: "B.bin",
                },
                Op::Link { item: 0, case: k3 },
                Op::Reacquire {
                    item: 0,
                    case: k3,
                    name: "sub.txt",
                },
                Op::Export(k3),
            ],
        ),
        (
            "linked before the case had the bytes: acquisitions attach to the linked item",
            vec![
                Op::CreateCase(two),
                Op::CreateCase(k3),
                Op::Ingest {
                    case: two,
                    files: vec![f("a.txt", Content::OneByte)],
                },
                Op::Link { item: 0, case: k3 },
                Op::Reacquire {
                    item: 0,
                    case: k3,
                    name: "sub/c.txt",
                },
                Op::Reacquire {
                    item: 0,
                    case: two,
                    name: "B.bin",
                },
            ],
        ),
    ]
}

/// Refusals, each of which changes nothing.
fn refusal_scenarios() -> Vec<(&'static str, Vec<Op>)> {
    let f = |name, content| FileSpec { name, content };
    let [by, two, k3] = CASES;
    vec![(
        "refusals change nothing",
        vec![
            Op::Extract {
                item: 0,
                by_prefix: false,
            },
            Op::Extract {
                item: 0,
                by_prefix: true,
            },
            Op::Link { item: 0, case: by },
            Op::Ingest {
                case: by,
                files: vec![f("a.txt", Content::Text)],
            },
            Op::Export(by),
            Op::CreateCase(by),
            Op::CreateCase(by),
            Op::Ingest {
                case: by,
                files: vec![f("a.txt", Content::Text)],
            },
            Op::Link { item: 0, case: two },
            Op::Link { item: 0, case: by },
            Op::Link { item: 60, case: by },
            Op::Extract {
                item: 60,
                by_prefix: true,
            },
            Op::Extract {
                item: 60,
                by_prefix: false,
            },
            Op::Export(k3),
            Op::KillDuringIngest {
                case: k3,
                files: vec![f("a.txt", Content::Text)],
                delay_us: 200_000,
            },
        ],
    )]
}

/// Shared and repeated chunks, empty ingests and exports, a killed ingest.
fn content_scenarios() -> Vec<(&'static str, Vec<Op>)> {
    let f = |name, content| FileSpec { name, content };
    let [by, _, _] = CASES;
    vec![
        (
            "contents sharing chunks, a chunk repeated in one content, multi-chunk noise",
            vec![
                Op::CreateCase(by),
                Op::Ingest {
                    case: by,
                    files: vec![
                        f("a.txt", Content::Mib1),
                        f("B.bin", Content::Mib1Plus1),
                        f("sub.txt", Content::Zeros2Mib),
                        f("photo 1.jpg", Content::Noise2_5Mib),
                    ],
                },
                Op::Extract {
                    item: 0,
                    by_prefix: false,
                },
                Op::Extract {
                    item: 1,
                    by_prefix: false,
                },
                Op::Extract {
                    item: 2,
                    by_prefix: true,
                },
                Op::Extract {
                    item: 3,
                    by_prefix: true,
                },
                Op::Export(by),
            ],
        ),
        (
            "an empty ingest, an empty case exported",
            vec![
                Op::CreateCase(by),
                Op::Ingest {
                    case: by,
                    files: Vec::new(),
                },
                Op::Export(by),
                Op::Reopen,
            ],
        ),
        (
            "an ingest killed at once, then run again",
            vec![
                Op::CreateCase(by),
                Op::KillDuringIngest {
                    case: by,
                    files: vec![f("a.txt", Content::Noise2_5Mib), f("B.bin", Content::Text)],
                    delay_us: 0,
                },
                Op::Ingest {
                    case: by,
                    files: vec![f("a.txt", Content::Noise2_5Mib), f("B.bin", Content::Text)],
                },
                Op::Reopen,
            ],
        ),
    ]
}
