//! Issue 12, point 11: progress people can plan by. Ingest, verify and export run on a real
//! pseudo-terminal (util-linux `script`); what they drew is replayed on a small terminal
//! model, so the test sees the screen a person would: a total, a percentage, the files done
//! and an ETA while working, and the last frame gone before the result lines.

use std::process::Command;

use super::*;
use crate::util::{text, write_noise_file};

/// Runs custodia with `args` on a pseudo-terminal; returns everything it drew, raw.
fn on_terminal(env: &Env, args: &[&str]) -> String {
    let mut line = shell_quote(env!("CARGO_BIN_EXE_custodia"));
    for a in ["--archive", arg(&env.archive)].iter().chain(args) {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let out = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("CUSTODIA_ACTOR", "tester")
        .env("XDG_CONFIG_HOME", env.config_home())
        .env("COLUMNS", "100")
        .env_remove("CUSTODIA_ARCHIVE")
        .output()
        .expect("util-linux `script` runs (installed by .ci/setup)");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&out.stdout)
    );
    text(&out.stdout)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The screen left by `raw`: carriage returns, newlines, erase-line and cursor up/down
/// applied as a terminal applies them; other escape sequences ignored.
fn screen(raw: &str) -> Vec<String> {
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut param = String::new();
                let mut end = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        end = c;
                        break;
                    }
                    param.push(c);
                }
                let n: usize = param.parse().unwrap_or(1);
                match end {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'K' => {
                        rows.resize(rows.len().max(row + 1), Vec::new());
                        rows[row].clear();
                    }
                    _ => {}
                }
            }
            c => {
                rows.resize(rows.len().max(row + 1), Vec::new());
                let line = &mut rows[row];
                line.resize(line.len().max(col + 1), ' ');
                line[col] = c;
                col += 1;
            }
        }
    }
    rows.into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The frames drawn with a total: what a person saw while the command worked.
fn frames_with_total(raw: &str, unit: &str) -> Vec<String> {
    raw.split(['\r', '\n'])
        .filter(|f| f.contains("ETA") && f.contains('%') && f.contains(unit))
        .map(str::to_owned)
        .collect()
}

/// An archive with one case holding a large file and two small ones.
fn three_files(env: &Env) {
    std::fs::create_dir_all(env.path("in")).expect("mkdir");
    write_noise_file(&env.path("in/video.bin"), 11, 48 << 20);
    write(&env.path("in/a.txt"), b"testimony one\n");
    write(&env.path("in/b.txt"), b"testimony two\n");
}

#[test]
fn ingest_on_a_terminal_shows_total_percent_files_and_eta_then_clears_it() {
    let env = Env::with_case();
    three_files(&env);
    let raw = on_terminal(&env, &["ingest", "--case", CASE, arg(&env.path("in"))]);
    let frames = frames_with_total(&raw, "/3 files");
    assert!(
        !frames.is_empty(),
        "no frame with a total was drawn:\n{raw:?}"
    );
    assert!(
        frames.iter().all(|f| f.contains("/48.00 MiB")),
        "the total is the size of the inputs, known before reading: {frames:?}"
    );
    let seen = screen(&raw);
    let results: Vec<_> = seen.iter().filter(|l| l.contains("  new  ")).collect();
    assert_eq!(results.len(), 3, "one result line per file: {seen:#?}");
    assert!(
        seen.iter().all(|l| !l.contains("ETA") && !l.contains('%')),
        "a frame is left on the screen, or shares a line with a result: {seen:#?}"
    );
}

#[test]
fn verify_and_export_on_a_terminal_count_contents_and_items_then_clear() {
    let env = Env::with_case();
    three_files(&env);
    env.ok(&["ingest", "--case", CASE, arg(&env.path("in"))]);
    let raw = on_terminal(&env, &["verify"]);
    assert!(
        !frames_with_total(&raw, "/3 contents").is_empty(),
        "verify drew no frame with a total:\n{raw:?}"
    );
    let seen = screen(&raw);
    assert!(seen.iter().all(|l| !l.contains("ETA")), "{seen:#?}");
    assert!(seen.iter().any(|l| l.contains("OK")), "{seen:#?}");

    let bundle = env.path("bundle");
    let raw = on_terminal(&env, &["export", "--case", CASE, "--out", arg(&bundle)]);
    assert!(
        !frames_with_total(&raw, "/3 items").is_empty(),
        "export drew no frame with a total:\n{raw:?}"
    );
    let seen = screen(&raw);
    assert!(seen.iter().all(|l| !l.contains("ETA")), "{seen:#?}");
}

#[test]
fn json_and_quiet_on_a_terminal_draw_no_progress() {
    let env = Env::with_case();
    three_files(&env);
    let raw = on_terminal(
        &env,
        &["--json", "ingest", "--case", CASE, arg(&env.path("in"))],
    );
    assert!(!raw.contains("ETA") && !raw.contains('\x1b'), "{raw:?}");
    let raw = on_terminal(&env, &["--quiet", "verify"]);
    assert!(!raw.contains("ETA") && !raw.contains('\x1b'), "{raw:?}");
}
