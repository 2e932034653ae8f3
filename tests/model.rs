//! Model-based test in the style of sled's `fuzz_model` (issue 5, item 1): random sequences
//! of operations run against the real archive, through the real binary, and against an
//! in-memory model of what the archive must hold. After every step `list`, `case list`,
//! `verify` (clean, with the model's counts) and the custody log agree with the model.
//!
//! Operations: case create (ids from a small pool, so duplicates are refused), ingest (names
//! and contents from small pools: empty, one byte, exactly 1 MiB, 1 MiB + 1, multi-chunk noise,
//! repeated zero chunks), link, extract (by id or by hash prefix), export (checked with
//! `verify --bundle`, and once per run with bagit-python), verify, reopen, and an ingest killed
//! with SIGKILL after a random delay: the model keeps exactly what was acknowledged plus what a
//! committed batch holds, never anything else.
//!
//! `CUSTODIA_MODEL_CASES=500 cargo test --test tests -- model::` runs longer; a failure prints
//! the shrunk op sequence and the seed (`PROPTEST_RNG_SEED`) that replays it.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

use crate::util::{Env, arg, blake3_hex, noise, sha256_hex, spawn, text, write};

/// Case ids the operations draw from (the first also used by the other modules).
const CASES: [&str; 3] = ["BY-2024-017", "case.two", "K_3"];

/// Relative file names an ingest draws from: nested folders, a space, upper case, and
/// `sub.txt` beside the folder `sub` (name order differs from plain string order there).
const NAMES: [&str; 6] = [
    "a.txt",
    "B.bin",
    "photo 1.jpg",
    "sub.txt",
    "sub/c.txt",
    "sub/deep/d.dat",
];

const MIB: usize = 1 << 20;

/// The contents an ingest draws from; every variant's bytes differ from every other's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Content {
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

const CONTENTS: [Content; 7] = [
    Content::Empty,
    Content::OneByte,
    Content::Text,
    Content::Mib1,
    Content::Mib1Plus1,
    Content::Noise2_5Mib,
    Content::Zeros2Mib,
];

/// A content's bytes and their hashes, computed here with the blake3 and sha2 crates.
struct Blob {
    bytes: Vec<u8>,
    blake3: String,
    sha256: String,
}

impl Content {
    fn blob(self) -> &'static Blob {
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

    fn make(self) -> Vec<u8> {
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

    fn size(self) -> u64 {
        self.blob().bytes.len() as u64
    }
}

/// One file of an ingest: where it goes in the op's fresh folder, and its bytes.
#[derive(Clone, Copy)]
struct FileSpec {
    name: &'static str,
    content: Content,
}

impl fmt::Debug for FileSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}={:?}", self.name, self.content)
    }
}

#[derive(Clone, Debug)]
enum Op {
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

fn case_id() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&CASES[..])
}

/// Small contents come up more often: more duplicates, across cases and within one.
fn content() -> impl Strategy<Value = Content> {
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

fn files() -> impl Strategy<Value = Vec<FileSpec>> {
    let file = (prop::sample::select(&NAMES[..]), content())
        .prop_map(|(name, content)| FileSpec { name, content });
    prop_oneof![
        1 => Just(Vec::new()),
        8 => prop::collection::vec(file, 1..=4),
    ]
}

fn kill_delay() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0..=40_000u64,
        1 => 0..=200_000u64,
    ]
}

fn op() -> impl Strategy<Value = Op> {
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

// ---------------------------------------------------------------------------------------------
// The model

/// One evidence item as the archive must hold it.
#[derive(Clone, Debug)]
struct Item {
    id: u64,
    content: Content,
    name: String,
    path: PathBuf,
    cases: BTreeSet<&'static str>,
}

/// What one file of an ingest must report, in the order the ingest reads them.
#[derive(Clone, Debug)]
struct Outcome {
    id: u64,
    status: &'static str,
    path: PathBuf,
    content: Content,
    /// The file makes a new item (false: the case already holds these bytes).
    new_item: bool,
}

#[derive(Default)]
struct Model {
    cases: BTreeSet<&'static str>,
    /// In id order.
    items: Vec<Item>,
    /// The item that acquisitions of these bytes into this case attach to: the first one of
    /// that content to enter the case (by ingest or link).
    case_content: BTreeMap<(&'static str, Content), u64>,
    /// Custody events in the log.
    events: u64,
    /// bagit-python has checked one bundle of this run (it is slow: once is enough).
    bagit_checked: bool,
}

fn ev(id: u64) -> String {
    format!("EV-{id:06}")
}

impl Model {
    fn next_id(&self) -> u64 {
        self.items.last().map_or(1, |i| i.id + 1)
    }

    /// The distinct contents stored: content is only ever recorded with an item.
    fn contents(&self) -> BTreeSet<Content> {
        self.items.iter().map(|i| i.content).collect()
    }

    /// Predicts an ingest of `files` (absolute path -> content) into a case the archive has.
    fn plan_ingest(&self, case: &'static str, files: &BTreeMap<PathBuf, Content>) -> Vec<Outcome> {
        let mut stored = self.contents();
        let mut in_case = self.case_content.clone();
        let mut next = self.next_id();
        // Walk order: name order at each level, folders walked where they sort, which is the
        // component-wise order of `Path`.
        files
            .iter()
            .map(|(path, &content)| {
                let status = if stored.insert(content) {
                    "new"
                } else {
                    "duplicate"
                };
                let (id, new_item) = match in_case.get(&(case, content)) {
                    Some(&id) => (id, false),
                    None => {
                        let id = next;
                        next += 1;
                        in_case.insert((case, content), id);
                        (id, true)
                    }
                };
                Outcome {
                    id,
                    status,
                    path: path.clone(),
                    content,
                    new_item,
                }
            })
            .collect()
    }

    /// Records the first `outcomes` of an ingest as committed: new items, and one custody
    /// event per file (an ingest event, or an acquisition of an item the case holds).
    fn apply_ingest(&mut self, case: &'static str, outcomes: &[Outcome]) {
        for o in outcomes {
            if o.new_item {
                assert_eq!(o.id, self.next_id(), "model: ids are given in order");
                self.items.push(Item {
                    id: o.id,
                    content: o.content,
                    name: o
                        .path
                        .file_name()
                        .expect("file name")
                        .to_str()
                        .expect("UTF-8")
                        .to_owned(),
                    path: o.path.clone(),
                    cases: BTreeSet::from([case]),
                });
                self.case_content.insert((case, o.content), o.id);
            }
            self.events += 1;
        }
    }

    /// The item an op's `item` number picks, if any.
    fn pick(&self, item: usize) -> Option<usize> {
        (item < 60 && !self.items.is_empty()).then(|| item % self.items.len())
    }

    /// `list --json` as the model says it must read (the fields compared).
    fn listing(&self) -> Vec<Value> {
        self.items
            .iter()
            .map(|i| {
                let blob = i.content.blob();
                json!({
                    "id": ev(i.id),
                    "blake3": blob.blake3,
                    "sha256": blob.sha256,
                    "size": i.content.size(),
                    "name": i.name,
                    "path": arg(&i.path),
                    "cases": i.cases.iter().collect::<Vec<_>>(),
                    "parent": null,
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Running the binary

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn same<T: PartialEq + fmt::Debug>(what: &str, got: T, want: T) -> Check {
    ensure!(got == want, "{what}: got {got:?}, the model says {want:?}");
    Ok(())
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "custodia {args:?} exited {:?} (signal {:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        out.status.signal(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Runs `custodia --json ARGS`; returns the output.
fn run_json(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    env.run(&all)
}

/// Runs `custodia --json ARGS`, which must exit 0 with one JSON object on stdout.
fn json_ok(env: &Env, args: &[&str]) -> Result<Value, String> {
    let out = run_json(env, args);
    ensure!(out.status.code() == Some(0), "{}", describe(args, &out));
    ensure!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        describe(args, &out)
    );
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", describe(args, &out)))
}

/// Runs `custodia --json ARGS`, which must be refused: exit 1, nothing on stdout, and the
/// error object of the given kind on stderr.
fn refused(env: &Env, args: &[&str], kind: &str) -> Check {
    let out = run_json(env, args);
    let report = describe(args, &out);
    ensure!(
        out.status.code() == Some(1),
        "expected exit 1 ({kind}): {report}"
    );
    ensure!(out.stdout.is_empty(), "refused but printed: {report}");
    let err: Value = serde_json::from_slice(&out.stderr)
        .map_err(|e| format!("stderr is not one JSON error ({e}): {report}"))?;
    same("error kind", err["error"]["kind"].as_str(), Some(kind))
}

/// Writes an op's files into a fresh folder; returns absolute path -> content (a name given
/// twice keeps its last content).
fn write_files(folder: &Path, files: &[FileSpec]) -> BTreeMap<PathBuf, Content> {
    std::fs::create_dir_all(folder).expect("mkdir");
    let mut out = BTreeMap::new();
    for f in files {
        out.insert(folder.join(f.name), f.content);
    }
    for (path, content) in &out {
        write(path, &content.blob().bytes);
    }
    out
}

/// Compares the items of an ingest's JSON report with the model's prediction.
fn check_ingest_report(report: &Value, plan: &[Outcome]) -> Check {
    let items = report["items"]
        .as_array()
        .ok_or_else(|| format!("no items in {report}"))?;
    let got: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"id": i["id"], "path": i["path"], "blake3": i["blake3"], "sha256": i["sha256"],
                   "size": i["size"], "status": i["status"]})
        })
        .collect();
    let want: Vec<Value> = plan
        .iter()
        .map(|o| {
            let blob = o.content.blob();
            json!({"id": ev(o.id), "path": arg(&o.path), "blake3": blob.blake3,
                   "sha256": blob.sha256, "size": o.content.size(), "status": o.status})
        })
        .collect();
    ensure!(
        got == want,
        "ingest report disagrees with the model:\n got: {}\nwant: {}",
        Value::from(got),
        Value::from(want)
    );
    same("skipped", &report["skipped"], &json!([]))
}

/// One acknowledged line of a human ingest: `EV-000123  new        <16 hex>  <path>`.
fn check_ack(line: &str, o: &Outcome) -> Check {
    let want = format!(
        "{}  {:<9}  {}  {}",
        ev(o.id),
        o.status,
        &o.content.blob().blake3[..16],
        arg(&o.path)
    );
    same("acknowledged line", line, want.as_str())
}

// ---------------------------------------------------------------------------------------------
// The steps

struct Run {
    env: Env,
    model: Model,
    /// Kills that landed while the ingest was still running, for the summary.
    kills: u64,
}

impl Run {
    fn new() -> Result<Self, String> {
        let env = Env::new();
        json_ok(&env, &["init"])?;
        let model = Model {
            events: 1,
            ..Model::default()
        };
        Ok(Run {
            env,
            model,
            kills: 0,
        })
    }

    fn step(&mut self, n: usize, op: &Op) -> Check {
        match op {
            Op::Nop => Ok(()),
            Op::CreateCase(case) => self.create_case(case),
            Op::Ingest { case, files } => self.ingest(n, case, files),
            Op::Reacquire { item, case, name } => {
                let content = self
                    .model
                    .pick(*item)
                    .map_or(Content::Text, |i| self.model.items[i].content);
                self.ingest(n, case, &[FileSpec { name, content }])
            }
            Op::Link { item, case } => self.link(*item, case),
            Op::Extract { item, by_prefix } => self.extract(n, *item, *by_prefix),
            Op::Export(case) => self.export(n, case),
            Op::Verify => self.verify(),
            Op::Reopen => self.reopen(),
            Op::KillDuringIngest {
                case,
                files,
                delay_us,
            } => self.kill_during_ingest(n, case, files, *delay_us),
        }
    }

    fn create_case(&mut self, case: &'static str) -> Check {
        let args = ["case", "create", case, "--title", "Model case"];
        if self.model.cases.contains(case) {
            return refused(&self.env, &args, "case_exists");
        }
        let out = json_ok(&self.env, &args)?;
        same("created case id", out["id"].as_str(), Some(case))?;
        self.model.cases.insert(case);
        self.model.events += 1;
        Ok(())
    }

    fn ingest(&mut self, n: usize, case: &'static str, files: &[FileSpec]) -> Check {
        let folder = self.env.path(&format!("ingest-{n:02}"));
        let files = write_files(&folder, files);
        let args = ["ingest", "--case", case, arg(&folder)];
        if !self.model.cases.contains(case) {
            return refused(&self.env, &args, "unknown_case");
        }
        let plan = self.model.plan_ingest(case, &files);
        let report = json_ok(&self.env, &args)?;
        check_ingest_report(&report, &plan)?;
        self.model.apply_ingest(case, &plan);
        Ok(())
    }

    /// The argument naming an op's item, and the model item it names (if any).
    fn item_ref(&self, item: usize, by_prefix: bool) -> (String, Option<usize>) {
        match self.model.pick(item) {
            Some(i) if by_prefix => (
                self.model.items[i].content.blob().blake3[..16].into(),
                Some(i),
            ),
            Some(i) => (ev(self.model.items[i].id), Some(i)),
            // Bytes the archive does not hold, or an id not yet given.
            None if by_prefix => {
                let stored = self.model.contents();
                match CONTENTS.iter().find(|c| !stored.contains(c)) {
                    Some(c) => (c.blob().blake3[..16].into(), None),
                    None => (ev(self.model.next_id()), None),
                }
            }
            None => (ev(self.model.next_id()), None),
        }
    }

    fn link(&mut self, item: usize, case: &'static str) -> Check {
        let (id, picked) = self.item_ref(item, false);
        let args = ["link", &id, "--case", case];
        let Some(i) = picked else {
            return refused(&self.env, &args, "unknown_item");
        };
        if !self.model.cases.contains(case) {
            return refused(&self.env, &args, "unknown_case");
        }
        if self.model.items[i].cases.contains(case) {
            return refused(&self.env, &args, "already_linked");
        }
        let out = json_ok(&self.env, &args)?;
        same("linked id", out["id"].as_str(), Some(id.as_str()))?;
        let it = &mut self.model.items[i];
        it.cases.insert(case);
        let (content, id) = (it.content, it.id);
        self.model.case_content.entry((case, content)).or_insert(id);
        self.model.events += 1;
        Ok(())
    }

    fn extract(&mut self, n: usize, item: usize, by_prefix: bool) -> Check {
        let (r, picked) = self.item_ref(item, by_prefix);
        let out_path = self.env.path(&format!("extract-{n:02}.bin"));
        let args = ["extract", &r, "--out", arg(&out_path)];
        let Some(i) = picked else {
            return refused(&self.env, &args, "unknown_item");
        };
        let it = &self.model.items[i];
        let holders = self.model.items.iter().filter(|x| x.content == it.content);
        if by_prefix && holders.count() > 1 {
            refused(&self.env, &args, "ambiguous_item")?;
            ensure!(!out_path.exists(), "a refused extract wrote {r}");
            return Ok(());
        }
        let blob = it.content.blob();
        let out = json_ok(&self.env, &args)?;
        same("extracted id", out["id"].as_str(), Some(ev(it.id).as_str()))?;
        same(
            "extract blake3",
            out["blake3"].as_str(),
            Some(blob.blake3.as_str()),
        )?;
        same(
            "extract sha256",
            out["sha256"].as_str(),
            Some(blob.sha256.as_str()),
        )?;
        same(
            "extract size",
            out["size"].as_u64(),
            Some(it.content.size()),
        )?;
        let got = std::fs::read(&out_path).map_err(|e| format!("extracted file: {e}"))?;
        ensure!(
            got == blob.bytes,
            "extract of {r} wrote {} bytes that differ from {:?} ({} bytes)",
            got.len(),
            it.content,
            blob.bytes.len()
        );
        self.model.events += 1;
        Ok(())
    }

    fn export(&mut self, n: usize, case: &'static str) -> Check {
        let bag = self.env.path(&format!("bag-{n:02}"));
        let args = ["export", "--case", case, "--out", arg(&bag)];
        if !self.model.cases.contains(case) {
            refused(&self.env, &args, "unknown_case")?;
            ensure!(!bag.exists(), "a refused export left {}", bag.display());
            return Ok(());
        }
        let members: Vec<&Item> = self
            .model
            .items
            .iter()
            .filter(|i| i.cases.contains(case))
            .collect();
        let report = json_ok(&self.env, &args)?;
        self.model.events += 2; // the export, then its seal
        same(
            "exported items",
            report["items"].as_u64(),
            Some(members.len() as u64),
        )?;

        // The payload: one folder per item of the case, holding its original bytes.
        let evidence = bag.join("data/evidence");
        let mut got = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(&evidence) {
            for entry in dir {
                let entry = entry.map_err(|e| e.to_string())?;
                let id = entry.file_name().to_string_lossy().into_owned();
                let files: Vec<String> = std::fs::read_dir(entry.path())
                    .map_err(|e| e.to_string())?
                    .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                got.insert(id, files);
            }
        }
        let want: BTreeMap<String, Vec<String>> = members
            .iter()
            .map(|i| (ev(i.id), vec![i.name.clone()]))
            .collect();
        same("bundle's data/evidence", &got, &want)?;
        for i in &members {
            let bytes = std::fs::read(evidence.join(ev(i.id)).join(&i.name))
                .map_err(|e| format!("bundle file of {}: {e}", ev(i.id)))?;
            ensure!(
                bytes == i.content.blob().bytes,
                "the bundle's copy of {} differs from {:?}",
                ev(i.id),
                i.content
            );
        }

        // verify --bundle, with no archive at hand.
        let nowhere = self.env.path("no-archive-here");
        let args = ["--json", "verify", "--bundle", arg(&bag)];
        let out = Command::new(env!("CARGO_BIN_EXE_custodia"))
            .arg("--archive")
            .arg(&nowhere)
            .args(args)
            .output()
            .expect("run custodia");
        ensure!(out.status.code() == Some(0), "{}", describe(&args, &out));
        let checked: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        same("verify --bundle ok", &checked["ok"], &json!(true))?;

        if !self.model.bagit_checked {
            self.model.bagit_checked = true;
            let out = Command::new("python3")
                .args(["-m", "bagit", "--validate", arg(&bag)])
                .output()
                .map_err(|e| format!("cannot run bagit-python ({e}); run .ci/setup"))?;
            ensure!(
                out.status.success(),
                "bagit-python rejects the bundle of {case}:\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        Ok(())
    }

    fn verify(&mut self) -> Check {
        let out = run_json(&self.env, &["verify"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        ensure!(
            out.status.code() == Some(0) && report["ok"] == json!(true),
            "verify is not clean: {}",
            describe(&["verify"], &out)
        );
        same("verify problems", &report["problems"], &json!([]))?;
        let c = &report["checked"];
        let contents = self.model.contents();
        let bytes: u64 = contents.iter().map(|c| c.size()).sum();
        same(
            "verify checked.items",
            c["items"].as_u64(),
            Some(self.model.items.len() as u64),
        )?;
        same(
            "verify checked.contents",
            c["contents"].as_u64(),
            Some(contents.len() as u64),
        )?;
        same("verify checked.bytes", c["bytes"].as_u64(), Some(bytes))?;
        same(
            "verify checked.events",
            c["events"].as_u64(),
            Some(self.model.events),
        )?;
        self.model.events += 1; // verify records itself
        Ok(())
    }

    /// Every command reopens the archive; this one looks at it through more commands.
    fn reopen(&mut self) -> Check {
        let log = json_ok(&self.env, &["log"])?;
        let events = log["events"].as_array().ok_or("no events in log")?;
        same("events in the log", events.len() as u64, self.model.events)?;
        let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
        ensure!(
            seqs.len() == events.len() && seqs.windows(2).all(|w| w[0] < w[1]),
            "log seqs not increasing: {seqs:?}"
        );
        for case in &self.model.cases {
            let listed = json_ok(&self.env, &["list", "--case", case])?;
            let got: Vec<&str> = listed["items"]
                .as_array()
                .ok_or("no items")?
                .iter()
                .filter_map(|i| i["id"].as_str())
                .collect();
            let want: Vec<String> = self
                .model
                .items
                .iter()
                .filter(|i| i.cases.contains(case))
                .map(|i| ev(i.id))
                .collect();
            same(
                &format!("list --case {case}"),
                got,
                want.iter().map(String::as_str).collect(),
            )?;
        }
        Ok(())
    }

    fn kill_during_ingest(
        &mut self,
        n: usize,
        case: &'static str,
        files: &[FileSpec],
        delay_us: u64,
    ) -> Check {
        let folder = self.env.path(&format!("killed-{n:02}"));
        let files = write_files(&folder, files);
        let known = self.model.cases.contains(case);
        let plan = if known {
            self.model.plan_ingest(case, &files)
        } else {
            Vec::new()
        };
        let mut child = spawn(&self.env, &["ingest", "--case", case, arg(&folder)]);
        std::thread::sleep(Duration::from_micros(delay_us));
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait for custodia");
        let what = describe(&["ingest", "--case", case, arg(&folder)], &out);
        ensure!(!text(&out.stderr).contains("panicked"), "{what}");
        // Only whole lines count: the kill may cut the last one short.
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout
            .split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .collect();
        ensure!(lines.len() <= plan.len(), "more lines than files: {what}");
        for (line, o) in lines.iter().zip(&plan) {
            check_ack(line, o).map_err(|e| format!("{e}\n{what}"))?;
        }
        match (out.status.code(), out.status.signal()) {
            (Some(0), _) => {
                ensure!(known, "ingest into unknown case succeeded: {what}");
                ensure!(
                    lines.len() == plan.len(),
                    "a finished ingest lists every file: {what}"
                );
                self.model.apply_ingest(case, &plan);
                Ok(())
            }
            (Some(1), _) => {
                ensure!(!known, "{what}");
                Ok(())
            }
            (None, Some(9)) => {
                self.kills += 1;
                self.reconcile_killed(case, &plan, lines.len())
                    .map_err(|e| format!("{e}\nthe killed ingest: {what}"))
            }
            _ => Err(format!("unexpected end: {what}")),
        }
    }

    /// After a kill: the acknowledged outcomes (`acked`, a prefix of `plan`) must be in the
    /// archive; beyond them, a batch may have been committed without its lines being printed.
    /// Batches commit in walk order, so what is there must be a prefix of the plan: its new
    /// items in `list`, one custody event per file in the log.
    fn reconcile_killed(&mut self, case: &'static str, plan: &[Outcome], acked: usize) -> Check {
        let next = self.model.next_id();
        let listed = json_ok(&self.env, &["list"])?;
        let extra: Vec<String> = listed["items"]
            .as_array()
            .ok_or("no items in list")?
            .iter()
            .filter_map(|i| i["id"].as_str())
            .filter(|id| id[3..].parse::<u64>().is_ok_and(|n| n >= next))
            .map(str::to_owned)
            .collect();
        let new_positions: Vec<usize> = plan
            .iter()
            .enumerate()
            .filter(|(_, o)| o.new_item)
            .map(|(p, _)| p)
            .collect();
        let j = extra.len();
        ensure!(
            j <= new_positions.len(),
            "{j} items appeared, the killed ingest had only {} new ones: {extra:?}",
            new_positions.len()
        );
        let want: Vec<String> = new_positions[..j].iter().map(|&p| ev(plan[p].id)).collect();
        same("items left by the killed ingest", &extra, &want)?;
        // Which prefix of the plan is committed: it holds exactly j new items and all acked.
        let lo = if j == 0 { 0 } else { new_positions[j - 1] + 1 }.max(acked);
        let hi = new_positions.get(j).copied().unwrap_or(plan.len());
        let log = json_ok(&self.env, &["log"])?;
        let events = log["events"].as_array().ok_or("no events in log")?.len() as u64;
        let m = events
            .checked_sub(self.model.events)
            .ok_or_else(|| format!("the log shrank to {events} events"))? as usize;
        ensure!(
            lo <= m && m <= hi,
            "{m} custody events appeared for the killed ingest; {acked} files acknowledged, \
             {j} new items: expected between {lo} and {hi}"
        );
        self.model.apply_ingest(case, &plan[..m]);
        Ok(())
    }

    /// After every step: the archive as the read-only commands show it equals the model,
    /// and verify is clean with the model's counts.
    fn check(&mut self) -> Check {
        let listed = json_ok(&self.env, &["list"])?;
        let got: Vec<Value> = listed["items"]
            .as_array()
            .ok_or("no items in list")?
            .iter()
            .map(|i| {
                json!({"id": i["id"], "blake3": i["blake3"], "sha256": i["sha256"], "size": i["size"],
                       "name": i["name"], "path": i["path"], "cases": i["cases"], "parent": i["parent"]})
            })
            .collect();
        let want = self.model.listing();
        if got != want {
            let mut diff = String::new();
            for k in 0..got.len().max(want.len()) {
                let (g, w) = (got.get(k), want.get(k));
                if g != w {
                    diff.push_str(&format!(
                        "  got  {}\n  want {}\n",
                        g.map_or("-".into(), Value::to_string),
                        w.map_or("-".into(), Value::to_string)
                    ));
                }
            }
            return Err(format!("list disagrees with the model:\n{diff}"));
        }
        let cases = json_ok(&self.env, &["case", "list"])?;
        let got: BTreeSet<&str> = cases["cases"]
            .as_array()
            .ok_or("no cases in case list")?
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        same("case list", got, self.model.cases.clone())?;
        self.verify()
    }
}

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

/// The newest snapshot file of a sled database directory (`snap.<16 hex LSN>`), if any.
fn newest_snapshot(db: &Path) -> Option<(u64, PathBuf)> {
    std::fs::read_dir(db)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let lsn = u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()?;
            Some((lsn, e.path()))
        })
        .max()
}

/// Leaves in `db` what SIGKILL leaves while sled 0.34.7 writes the snapshot it takes when a
/// database opens: `snap.<higher LSN>.generating`, created, not yet (or half) written, never
/// renamed. `partial` copies half of the current snapshot into it; otherwise it is empty.
fn plant_interrupted_snapshot(db: &Path, partial: bool) -> PathBuf {
    let newest = newest_snapshot(db);
    let lsn = newest.as_ref().map_or(1, |(lsn, _)| lsn + 1);
    let bytes = match (&newest, partial) {
        (Some((_, path)), true) => {
            let full = std::fs::read(path).expect("read snapshot");
            full[..full.len() / 2].to_vec()
        }
        _ => Vec::new(),
    };
    let path = db.join(format!("snap.{lsn:016X}.generating"));
    write(&path, &bytes);
    path
}

/// Found by the model (a kill during an ingest, then every command refused with "the archive
/// database … is damaged and cannot be opened: Read corrupted data at file offset None"):
/// each time custodia opens a sled database that was written since its last snapshot, sled
/// writes a new snapshot to `snap.<lsn>.generating` and renames it when complete. A kill in
/// between leaves the `.generating` file, which sled 0.34.7 takes for the newest snapshot
/// (its `get_snapshot_files` does not exclude it; sled issue #1527) and refuses to open with
/// `Corruption { at: None }`. Nothing of the archive is lost, so the archive must still open,
/// verify clean and serve its items, for the index database and for a volume alike.
#[test]
fn interrupted_sled_snapshot_leaves_the_archive_readable() {
    let env = Env::with_case();
    let bytes = noise(90, 2 * MIB + 5);
    let file = env.path("evidence/video.bin");
    write(&file, &bytes);
    let report = env.json(&["ingest", "--case", CASES[0], arg(&file)]);
    let id = report["items"][0]["id"]
        .as_str()
        .expect("ingest id")
        .to_owned();
    // Open both databases once more, so each has a snapshot of its own to be newer than.
    env.ok(&["extract", &id, "--out", arg(&env.path("first.bin"))]);
    let before = env.json(&["list"]);

    let volume = env.chunk_volume(blake3::hash(&bytes[..MIB]).as_bytes());
    let volume_dir = env.archive.join("volumes").join(format!("{volume:06}"));
    let planted = [
        plant_interrupted_snapshot(&env.archive.join("db"), false),
        plant_interrupted_snapshot(&volume_dir, true),
    ];

    for what in ["list", "verify"] {
        let out = env.run(&["--json", what]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "`{what}` with interrupted snapshots {planted:?} left by a kill:\n{}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        env.json(&["list"])["items"],
        before["items"],
        "the items after the kill"
    );
    let (code, verify) = env.verify();
    assert_eq!(code, 0, "{verify:#}");
    assert_eq!(verify["checked"]["items"], 1, "{verify:#}");
    let out = env.path("again.bin");
    let done = env.json(&["extract", &id, "--out", arg(&out)]);
    assert_eq!(done["sha256"], sha256_hex(&bytes));
    assert!(
        std::fs::read(&out).unwrap() == bytes,
        "extracted bytes differ"
    );
    // And the archive takes new evidence.
    let more = env.path("evidence/note.txt");
    write(&more, b"a later statement\n");
    let report = env.json(&["ingest", "--case", CASES[0], arg(&more)]);
    assert_eq!(report["items"][0]["status"], "new", "{report}");
}

/// Sequences the random search reaches only rarely, run every time: each a corner of the
/// ingest semantics of docs/CLI.md (which item an acquisition attaches to, duplicates within one
/// ingest and across cases) or of the refusals, checked against the same model after every step.
#[test]
fn directed_sequences_agree_with_the_model() {
    let f = |name, content| FileSpec { name, content };
    let [by, two, k3] = CASES;
    let scenarios: Vec<(&str, Vec<Op>)> = vec![
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
        (
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
        ),
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
    ];
    for (what, ops) in &scenarios {
        if let Err(e) = run_ops(ops, &Cell::new(0), &Cell::new(0)) {
            panic!("{what}:\n{e}");
        }
    }
}
