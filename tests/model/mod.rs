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

mod expected;
mod ops;
mod runner;
mod sequences;
mod snapshots;

use expected::*;
use ops::*;
use runner::*;
