//! The write order of init, extract, export and annotate, and an extract whose write fails
//! mid-item.

use super::*;

// ---------------------------------------------------------------------------------------------
// The other commands that write.

#[test]
fn init_writes_format_last_after_its_event_is_durable() {
    let env = Env::new();
    let p = Paths::of(&env);
    let (trace, _) = traced(&env, &["init"]);
    let renames = head_renames(&trace, &p);
    assert_eq!(renames.len(), 1, "init commits one event");
    let commit = check_commit(&trace, &p, 0, renames[0]);
    let format = format!("{}/FORMAT", p.root);
    let format_tmp = format!("{format}.tmp");
    let rename = trace
        .first_after(
            0,
            |k| matches!(k, Kind::Rename { from, to } if *from == format_tmp && *to == format),
        )
        .unwrap_or_else(|| trace.fail("FORMAT is not written by tmp + rename", &[]));
    if rename.entry <= commit.durable.exit {
        trace.fail(
            "FORMAT appears before the init event is durable",
            &[commit.rename, commit.durable, rename],
        );
    }
    let write = trace
        .last_before(
            rename.entry,
            |k| matches!(k, Kind::Write { path } if *path == format_tmp),
        )
        .unwrap_or_else(|| trace.fail("FORMAT.tmp renamed without being written", &[rename]));
    if trace
        .synced(&format_tmp, write.exit, rename.entry)
        .is_none()
    {
        trace.fail("FORMAT.tmp renamed before it was fsynced", &[write, rename]);
    }
    let dir_sync = trace
        .first_after(
            rename.exit,
            |k| matches!(k, Kind::Sync { path } if *path == p.root),
        )
        .unwrap_or_else(|| {
            trace.fail(
                "the archive directory is not fsynced after FORMAT",
                &[rename],
            )
        });
    for w in trace.stdout_writes() {
        if w.entry <= dir_sync.exit {
            trace.fail("init reports before FORMAT is durable", &[dir_sync, w]);
        }
    }
    assert!(
        !trace.stdout_writes().is_empty(),
        "init printed nothing on stdout"
    );
    assert_eq!(
        std::fs::read_to_string(&format).expect("FORMAT"),
        "custodia archive\nformat 2\n"
    );
}

/// Ingests a 1.5 MiB recording and extracts it under strace to `out`: the trace and the
/// recording's bytes.
fn traced_extract(env: &Env, out: &Path) -> (Trace, Vec<u8>) {
    let src = env.path("in/recording.wav");
    let bytes = noise(99, (3 << 20) / 2);
    write(&src, &bytes);
    let report = env.ingest(&[&src]);
    let id = report["items"][0]["id"].as_str().expect("id").to_owned();
    let (trace, _) = traced(
        env,
        &[
            "extract",
            &id,
            "--out",
            out.to_str().unwrap(),
            "--reason",
            "court",
        ],
    );
    (trace, bytes)
}

/// The call that gives the copy its name `out_s`, and the temporary file it was written to.
/// Published without clobbering: renameat2(RENAME_NOREPLACE), or a hard link where the file
/// system has no such rename; so the temporary file must be beside the output.
fn published_copy<'a>(trace: &'a Trace, out_s: &str, out_dir_s: &str) -> (&'a Op, &'a str) {
    let link = trace
        .first_after(
            0,
            |k| matches!(k, Kind::Link { to, .. } | Kind::Rename { to, .. } if *to == out_s),
        )
        .unwrap_or_else(|| trace.fail("the output is not published from a temporary file", &[]));
    let (Kind::Link { from: tmp, .. } | Kind::Rename { from: tmp, .. }) = &link.kind else {
        unreachable!()
    };
    // Issue 9.10: where the file system has the no-replace rename (the tests' own do), it is
    // used: FAT, exFAT and SMB refuse the hard link an earlier release published with.
    if matches!(link.kind, Kind::Link { .. }) {
        trace.fail(
            "the output is published by a hard link, not renameat2(RENAME_NOREPLACE)",
            &[link],
        );
    }
    assert_eq!(
        parent(tmp),
        out_dir_s,
        "the temporary file is beside the output"
    );
    (link, tmp)
}

/// The copy is fsynced before the event that records its hashes reaches db/ (the event
/// records hashes of bytes that are already durable), and that one event is durable before
/// the copy is linked to its name. Returns the event's commit.
fn check_copy_then_event_then_link<'a>(
    trace: &'a Trace,
    p: &Paths,
    link: &'a Op,
    tmp: &str,
) -> Commit<'a> {
    let last_write = trace
        .last_before(
            link.entry,
            |k| matches!(k, Kind::Write { path } if path == tmp),
        )
        .unwrap_or_else(|| trace.fail("the temporary file was never written", &[link]));
    let copy_synced = trace
        .synced(tmp, last_write.exit, link.entry)
        .unwrap_or_else(|| {
            trace.fail(
                "the extracted copy is linked before it is fsynced",
                &[last_write, link],
            )
        });
    let renames = head_renames(trace, p);
    assert_eq!(renames.len(), 1, "extract commits one event");
    let commit = check_commit(trace, p, 0, renames[0]);
    let event_write = trace
        .first_after(
            last_write.exit,
            |k| matches!(k, Kind::Write { path } if under(path, &p.db)),
        )
        .unwrap_or_else(|| trace.fail("no write to db/ after the copy was written", &[last_write]));
    if copy_synced.exit > event_write.entry {
        trace.fail(
            "the extract event reaches db/ before the copy it describes is fsynced",
            &[last_write, event_write, copy_synced],
        );
    }
    if link.entry <= commit.durable.exit {
        trace.fail(
            "the copy is linked to its name before the extract event is durable",
            &[commit.durable, link],
        );
    }
    commit
}

/// Something is reported, the output's name is durable (its directory fsynced after the
/// link) before the first report, and no report comes before the event is durable.
fn check_extract_reports(trace: &Trace, commit: &Commit, link: &Op, out_dir_s: &str) {
    let reports = trace.stdout_writes();
    assert!(!reports.is_empty(), "extract printed nothing");
    let first_report = reports[0];
    if trace
        .synced(out_dir_s, link.exit, first_report.entry)
        .is_none()
    {
        trace.fail(
            "the output directory is not fsynced between the link and the report",
            &[link, first_report],
        );
    }
    for w in reports {
        if w.entry <= commit.durable.exit {
            trace.fail(
                "extract reports before its event is durable",
                &[commit.durable, w],
            );
        }
    }
}

/// `extract`: the copy is written to a temporary file and fsynced before the event that records
/// its hashes reaches db/; the event is durable (HEAD replaced) before the copy is linked to its
/// name, so no copy ever exists without its record (commit 232a2cf); the directory is fsynced
/// after the link, and only then is the extraction reported.
#[test]
fn extract_fsyncs_the_copy_before_its_event_and_reports_after() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let out_dir = env.path("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("recording.wav");
    let (trace, bytes) = traced_extract(&env, &out);
    let out_s = out.to_string_lossy().into_owned();
    let out_dir_s = out_dir.to_string_lossy().into_owned();
    let (link, tmp) = published_copy(&trace, &out_s, &out_dir_s);
    let commit = check_copy_then_event_then_link(&trace, &p, link, tmp);
    check_extract_reports(&trace, &commit, link, &out_dir_s);
    assert_eq!(std::fs::read(&out).expect("extracted file"), bytes);
    assert!(
        !Path::new(tmp).exists(),
        "the temporary file {tmp} is left behind"
    );
    verify_clean(&env);
}

/// Ingests two files (one of 1.3 MB) and exports the case under strace to `bundle`: the
/// trace, what it printed and the bundle's path.
fn traced_export(env: &Env) -> (Trace, String, PathBuf) {
    let src = env.path("in");
    write(&src.join("a.txt"), b"statement A\n");
    write(&src.join("b.bin"), &noise(5, 1_300_000));
    env.ingest(&[&src]);
    let out: PathBuf = env.path("bundle");
    let (trace, stdout) = traced(
        env,
        &["export", "--case", CASE, "--out", out.to_str().unwrap()],
    );
    (trace, stdout, out)
}

/// The rename that gives the bundle its name `out_s`, and the temporary bundle it renames,
/// which is named as custodia names them.
fn bundle_rename<'a>(trace: &'a Trace, out_s: &str) -> (&'a Op, &'a str) {
    let rename = trace
        .first_after(0, |k| matches!(k, Kind::Rename { to, .. } if *to == out_s))
        .unwrap_or_else(|| trace.fail("the bundle is not renamed into place", &[]));
    let Kind::Rename { from: tmp, .. } = &rename.kind else {
        unreachable!()
    };
    assert!(
        Path::new(tmp)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".bundle.custodia-export-")),
        "the temporary bundle is named {tmp}"
    );
    (rename, tmp)
}

/// The bundle's files and directories are durable before it takes its name.
fn check_bundle_durable_before_rename(trace: &Trace, rename: &Op, tmp: &str) {
    let bundle_writes = trace.writes_under(tmp, 0, rename.entry);
    let last = bundle_writes
        .last()
        .unwrap_or_else(|| trace.fail("nothing written into the temporary bundle", &[rename]));
    trace.check_synced_under(tmp, 0, rename.entry, rename.entry, "the bundle");
    if trace.synced(tmp, last.exit, rename.entry).is_none() {
        trace.fail(
            "the temporary bundle directory is not fsynced before it is renamed",
            &[last, rename],
        );
    }
}

/// Published first (without replacing anything), its name made durable, and only then the
/// events that describe it committed (issue 9, finding 10): no event is ever committed for a
/// bundle that does not exist.
fn check_published_before_events(trace: &Trace, p: &Paths, rename: &Op, parent_s: &str) {
    let parent_sync = trace
        .first_after(
            rename.exit,
            |k| matches!(k, Kind::Sync { path } if *path == parent_s),
        )
        .unwrap_or_else(|| {
            trace.fail(
                "the bundle's parent is not fsynced after the rename",
                &[rename],
            )
        });
    let c0 = trace
        .first_after(
            rename.exit,
            |k| matches!(k, Kind::Write { path } if under(path, &p.db)),
        )
        .unwrap_or_else(|| trace.fail("no write to db/ after the bundle was published", &[rename]));
    if c0.entry <= parent_sync.exit {
        trace.fail(
            "the export's events reach db/ before the bundle's name is durable",
            &[parent_sync, c0],
        );
    }
}

#[test]
fn export_publishes_the_bundle_then_commits_its_events_then_reports() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let (trace, stdout, out) = traced_export(&env);
    let out_s = out.to_string_lossy().into_owned();
    let parent_s = parent(&out_s);
    let (rename, tmp) = bundle_rename(&trace, &out_s);
    let renames = head_renames(&trace, &p);
    assert_eq!(
        renames.len(),
        1,
        "export commits once (export and seal together)"
    );
    let commit = check_commit(&trace, &p, 0, renames[0]);
    check_bundle_durable_before_rename(&trace, rename, tmp);
    check_published_before_events(&trace, &p, rename, &parent_s);
    // Reported after both.
    let reports = trace.stdout_writes();
    assert!(!reports.is_empty(), "export printed nothing");
    for w in reports {
        if w.entry <= commit.durable.exit {
            trace.fail(
                "export reports before its events are durable",
                &[commit.durable, w],
            );
        }
    }
    assert!(stdout.contains(&out_s), "{stdout}");
    let check = env.run(&["--json", "verify", "--bundle", out.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    verify_clean(&env);
}

// ---------------------------------------------------------------------------------------------
// Found while building the crash loop: a failed write during extract must end the command.

/// `extract` of a multi-chunk item whose Nth write fails (`CUSTODIA_FAULT=write:N`, debug builds)
/// must exit 1 with one error, not wait for ever: the chunk-fetching thread of
/// `store::reader::read_content` may be blocked waiting for a buffer to come back when the
/// writing side gives up.
#[test]
fn extract_whose_write_fails_mid_item_exits_instead_of_hanging() {
    let env = Env::with_case();
    let src = env.path("in/long.bin");
    write(&src, &noise(12, 12 << 20));
    let report = env.ingest(&[&src]);
    let id = report["items"][0]["id"].as_str().expect("id").to_owned();
    for attempt in 0..4 {
        for n in 3..=6 {
            let out = env.path(&format!("out-{attempt}-{n}.bin"));
            let mut cmd = env.std_cmd();
            cmd.args(["extract", &id, "--out", out.to_str().unwrap()])
                .env("CUSTODIA_FAULT", format!("write:{n}"));
            let done = crate::util::run_with_timeout(&mut cmd, std::time::Duration::from_secs(20));
            assert_eq!(
                done.status.code(),
                Some(1),
                "extract with write {n} failing: {}",
                text(&done.stderr)
            );
            assert!(
                text(&done.stderr).contains("injected"),
                "the error names the failed write: {}",
                text(&done.stderr)
            );
            assert!(!out.exists(), "a failed extract left {}", out.display());
        }
    }
    verify_clean(&env);
}

/// `annotate` (issue 12.2) commits its event like every write: the database fsynced, then
/// HEAD, and only then the report.
#[test]
fn annotate_reports_only_after_its_event_is_durable() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let src = env.path("in/statement.txt");
    write(&src, b"statement\n");
    let report = env.ingest(&[&src]);
    let id = report["items"][0]["id"].as_str().expect("id").to_owned();
    let args = ["annotate", &id, "--tag", "reviewed", "--reason", "checked"];
    let (trace, _) = traced(&env, &args);
    let renames = head_renames(&trace, &p);
    assert_eq!(renames.len(), 1, "annotate commits one event");
    let commit = check_commit(&trace, &p, 0, renames[0]);
    assert!(
        commit.head_text.starts_with("seq 4\n"),
        "{}",
        commit.head_text
    );
    let reports = trace.stdout_writes();
    assert!(!reports.is_empty(), "annotate printed nothing");
    for w in reports {
        if w.entry <= commit.durable.exit {
            trace.fail(
                "annotate reports before its event is durable",
                &[commit.durable, w],
            );
        }
    }
    verify_clean(&env);
}
