//! What investigators, lawyers and auditors asked for in issue 12, driven through the real
//! binary: items found by SHA-256, dates as people write them, list filters and `stats`,
//! the actor fallback said aloud, log filters and streams, a CLI that teaches itself, and
//! the small things (`extract --out -`, no temporary names in errors, human sizes), and
//! metadata corrected after ingest (`annotate`).

use serde_json::Value;

use crate::util::{Env, arg, json_items, json_str, write};

mod actor;
mod annotate;
mod attachments;
mod dates;
mod help;
mod log;
mod progress;
mod search;
mod sha256;
mod small;

const CASE: &str = "BY-2024-017";
const SECOND: &str = "BY-2024-031";

/// Ingests one file into `case` with extra arguments; returns its item id.
fn ingest_one(env: &Env, case: &str, rel: &str, bytes: &[u8], extra: &[&str]) -> String {
    let path = env.path(rel);
    write(&path, bytes);
    let mut args = vec!["ingest", "--case", case];
    args.extend_from_slice(extra);
    args.push(arg(&path));
    let report = env.json(&args);
    json_str(&json_items(&report)[0]["id"]).to_owned()
}

/// The ids of a `list` run with these filters, in order.
fn listed(env: &Env, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["list"];
    args.extend_from_slice(filters);
    json_items(&env.json(&args))
        .iter()
        .map(|i| json_str(&i["id"]).to_owned())
        .collect()
}

/// The `kind` of the JSON error object a refused `--json` run leaves on stderr's last line.
fn error_kind(env: &Env, args: &[&str], code: i32) -> String {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (_, stderr) = env.fails(&all, code);
    let last = stderr.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last stderr line is not JSON ({e}): {stderr}"));
    json_str(&v["error"]["kind"]).to_owned()
}
