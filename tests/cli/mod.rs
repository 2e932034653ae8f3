//! User flows and bad input (issue 2), through the real binary: the fixture case from `init`
//! to `verify`, every item extracted byte for byte, dedup, hash-prefix lookups, each refusal a
//! user can meet (exit code, one sentence, nothing changed), skipped and oddly named files,
//! broken pipes, `--json` documents, and two custodia processes on one archive.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    self, Env, FIXTURE_ATTACHMENTS, FIXTURE_CAPTURED_AT, FIXTURE_NOTE, FIXTURE_SOURCE,
    FIXTURE_TOP_LEVEL, arg, assert_no_raw_controls, assert_oldest_first, assert_one_sentence,
    blake3_hex, dir_names, event_actions, fixture_rel, fixture_vectors, item_ids, json_documents,
    json_items, json_str, json_strings, run_with_timeout, sha256_hex, text, write,
};

mod flow;
mod names;
mod process;
mod refusals;
mod storage;

const CASE: &str = "BY-2024-017";
const SECOND: &str = "BY-2024-031";
