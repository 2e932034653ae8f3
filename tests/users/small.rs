//! The small things of issue 12 (point 12, and what of point 11 runs without a terminal):
//! `extract --out -`, no temporary names in errors, human sizes with exact bytes in JSON,
//! verify's summary saying what "contents" are, and no progress drawn off a terminal.

use super::*;
use crate::util::{noise, text};

const MIB3: usize = 3 << 20;

#[test]
fn extract_to_stdout_writes_the_bytes_only_and_records_the_event() {
    let env = Env::with_case();
    let bytes = noise(12, MIB3 + 17);
    let id = ingest_one(&env, CASE, "in/video.bin", &bytes, &[]);
    for flags in [vec![], vec!["--json"], vec!["--quiet"]] {
        let mut args = flags.clone();
        args.extend(["extract", &id, "--out", "-", "--reason", "court copy"]);
        let out = env.run(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?}: {}",
            text(&out.stderr)
        );
        assert!(
            out.stdout == bytes,
            "{flags:?}: stdout is the item's bytes and nothing else"
        );
        let said = text(&out.stderr).contains("written to standard output");
        assert_eq!(said, flags.is_empty(), "{flags:?}: {}", text(&out.stderr));
    }
    let log = env.json(&["log", "--evidence", &id, "--action", "extract"]);
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    let details = &events[0]["details"];
    assert_eq!(details["out"], "-");
    assert_eq!(details["size"], (MIB3 + 17) as u64);
    assert_eq!(details["sha256"], crate::util::sha256_hex(&bytes).as_str());
    assert_eq!(events[0]["reason"], "court copy");
    assert!(!env.path("-").exists(), "no file named -");
}

#[test]
fn extract_to_stdout_refuses_before_writing_anything() {
    let env = Env::with_case();
    env.ok(&["case", "create", SECOND, "--title", "Second"]);
    ingest_one(&env, CASE, "in/a.txt", b"a", &[]);
    ingest_one(&env, SECOND, "again/a.txt", b"a", &[]);
    let shared = crate::util::blake3_hex(b"a");
    for (args, kind) in [
        (vec!["extract", "EV-99", "--out", "-"], "unknown_item"),
        (vec!["extract", "ffffffffff", "--out", "-"], "unknown_item"),
        (
            vec!["extract", &shared[..8], "--out", "-"],
            "ambiguous_item",
        ),
    ] {
        let stderr = env.refused(&args, 1);
        crate::util::assert_one_sentence(&stderr);
        assert_eq!(error_kind(&env, &args, 1), kind);
    }
    env.refused(&["extract", "EV-1", "--out"], 2);
}

/// A real full disk (a small tmpfs): the error names the output asked for, never the
/// temporary file custodia wrote first.
#[test]
fn errors_name_the_output_not_the_temporary_file() {
    let env = Env::with_case();
    let id = ingest_one(&env, CASE, "in/video.bin", &noise(5, MIB3), &[]);
    let disk = match crate::util::SmallDisk::mount(&env.path("small"), 512) {
        Ok(disk) => disk,
        Err(why) => {
            return crate::util::skip_outside_ci("errors_name_the_output", &why);
        }
    };
    let target = disk.dir.join("copy.bin");
    let stderr = env.refused(&["extract", &id, "--out", arg(&target)], 1);
    crate::util::assert_one_sentence(&stderr);
    assert!(
        !stderr.contains(".custodia-extract-"),
        "a temporary name:\n{stderr}"
    );
    assert!(stderr.contains("copy.bin"), "names the output:\n{stderr}");
    assert_eq!(
        error_kind(&env, &["extract", &id, "--out", arg(&target)], 1),
        "no_space"
    );
    assert!(
        crate::util::dir_names(&disk.dir).is_empty(),
        "nothing left behind"
    );
}

#[test]
fn sizes_are_human_in_text_and_exact_in_json() {
    let env = Env::with_case();
    let id = ingest_one(&env, CASE, "in/video.bin", &noise(3, MIB3), &[]);
    assert_eq!(env.json(&["show", &id])["size"], MIB3 as u64);
    assert_eq!(env.json(&["list"])["items"][0]["size"], MIB3 as u64);
    let list = env.ok(&["list"]);
    assert!(list.contains("  3.0 MiB  video.bin"), "{list}");
    let show = env.ok(&["show", &id]);
    assert!(
        show.contains("size:        3.0 MiB (3145728 bytes)"),
        "{show}"
    );
    let extracted = env.ok(&["extract", &id, "--out", arg(&env.path("v.out"))]);
    assert!(
        extracted.contains("(3.0 MiB, BLAKE3 and SHA-256 checked)"),
        "{extracted}"
    );
    let bundle = env.path("bundle");
    let exported = env.ok(&["export", "--case", CASE, "--out", arg(&bundle)]);
    assert!(exported.contains(" MiB payload) to "), "{exported}");
    let verified = env.ok(&["verify"]);
    assert!(
        verified.contains("1 distinct stored contents (3.0 MiB re-read and re-hashed)"),
        "verify says what contents are:\n{verified}"
    );
    let bundle_check = env.ok(&["verify", "--bundle", arg(&bundle)]);
    assert!(bundle_check.contains("payload files ("), "{bundle_check}");
    assert_eq!(env.json(&["verify"])["checked"]["bytes"], MIB3 as u64);
}

#[test]
fn no_progress_is_drawn_when_stderr_is_not_a_terminal() {
    let env = Env::with_case();
    write(&env.path("in/big.bin"), &noise(4, MIB3));
    let bundle = env.path("bundle");
    for args in [
        vec!["ingest", "--case", CASE, arg(&env.path("in"))],
        vec!["verify"],
        vec!["export", "--case", CASE, "--out", arg(&bundle)],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(0));
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains('\r') && !stderr.contains('\u{1b}') && !stderr.contains('%'),
            "{args:?}: progress drawn off a terminal:\n{stderr:?}"
        );
    }
}
