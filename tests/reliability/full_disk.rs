//! A full disk (a small tmpfs): custodia fails cleanly and loses nothing it acknowledged.

use super::*;

// ---------------------------------------------------------------------------------------------
// 1. Disk full

/// A small tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Result<Tmpfs, String> {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount exited with {}: {}",
                out.status,
                text(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn resize(&self, mib: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount {}: {}",
            self.dir.display(),
            text(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a killed child not reaped yet): detach it now, the kernel frees it when idle.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Writes zeros to `path` until the file system refuses: no free page is left after it.
fn fill_up(path: &Path) {
    let mut file = fs::File::create(path).expect("create filler");
    let page = [0u8; 4096];
    loop {
        match file.write(&page) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

/// What a disk-full scenario expects of a command: an Output within the limit, with no panic.
fn bounded(f: &mut Findings, what: &str, cmd: &mut Command) -> Option<Output> {
    const LIMIT: Duration = Duration::from_secs(20);
    match run_within(cmd.stdin(Stdio::null()), LIMIT) {
        Ok(out) => {
            let stderr = text(&out.stderr);
            f.check(!stderr.contains("panicked"), || {
                format!("{what}: custodia panicked:\n{stderr}")
            });
            Some(out)
        }
        Err(hung) => {
            f.0.push(format!("{what}: {hung}"));
            None
        }
    }
}

/// Lists the archive; every item must have one of the known contents. Returns id -> blake3.
fn list_known(
    f: &mut Findings,
    env: &Env,
    what: &str,
    known: &BTreeMap<String, PathBuf>,
) -> Option<BTreeMap<String, String>> {
    let out = bounded(f, what, env.std_cmd().args(["--json", "list"]))?;
    if !f.check(out.status.code() == Some(0), || {
        format!(
            "{what}: `list` exit {:?}, expected 0 (the archive must still open):\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    }) {
        return None;
    }
    let listed = stdout_json(&out, what);
    let mut ids = BTreeMap::new();
    for item in json_items(&listed) {
        let b3 = json_str(&item["blake3"]).to_owned();
        f.check(known.contains_key(&b3), || {
            format!("{what}: an item with content nobody ingested: {item}")
        });
        ids.insert(json_str(&item["id"]).to_owned(), b3);
    }
    Some(ids)
}

/// Extracts every listed item to `out_dir` (outside the small disk) and compares it with its source.
fn extract_all(
    f: &mut Findings,
    env: &Env,
    what: &str,
    ids: &BTreeMap<String, String>,
    known: &BTreeMap<String, PathBuf>,
    out_dir: &Path,
) {
    fs::create_dir_all(out_dir).expect("mkdir out");
    for (id, b3) in ids {
        let target = out_dir.join(id);
        let Some(out) = bounded(
            f,
            &format!("{what}: extract {id}"),
            env.std_cmd()
                .args(["--json", "extract", id, "--out"])
                .arg(&target),
        ) else {
            continue;
        };
        if f.check(out.status.code() == Some(0), || {
            format!(
                "{what}: extract {id} exit {:?}:\n{}",
                out.status.code(),
                text(&out.stderr)
            )
        }) {
            let Some(source) = known.get(b3) else {
                continue; // list_known already reported it
            };
            f.check(file_hashes(&target) == file_hashes(source), || {
                format!(
                    "{what}: {id} extracted is not byte for byte {}",
                    source.display()
                )
            });
        }
    }
}

/// `verify --json` within the time limit: (exit code, report).
fn verify_bounded(f: &mut Findings, env: &Env, what: &str) -> Option<(Option<i32>, Value)> {
    let out = bounded(f, what, env.std_cmd().args(["--json", "verify"]))?;
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Some((out.status.code(), report))
}

/// Every content the test ingests, by BLAKE3, with the file it came from (off the small disk).
type Known = BTreeMap<String, PathBuf>;

/// Acknowledged first: a few small files; returns id -> BLAKE3 of what was acknowledged.
fn ingest_acknowledged(env: &Env, known: &mut Known) -> BTreeMap<String, String> {
    let first = env.path("first");
    for i in 0..4u64 {
        let path = first.join(format!("small-{i}.bin"));
        let bytes = noise(100 + i, 20_000 + 1000 * i as usize);
        write(&path, &bytes);
        known.insert(blake3_hex(&bytes), path);
    }
    let acked = env.ingest(&[&first]);
    let acked: BTreeMap<String, String> = json_items(&acked)
        .iter()
        .map(|i| {
            (
                json_str(&i["id"]).to_owned(),
                json_str(&i["blake3"]).to_owned(),
            )
        })
        .collect();
    assert_eq!(acked.len(), 4, "{acked:?}");
    assert!(acked.values().all(|b3| known.contains_key(b3)));

    acked
}

/// Then more than the disk holds: 6 × 8 MiB of noise (incompressible); returns the folder
/// and its contents' BLAKE3.
fn write_big_files(env: &Env, known: &mut Known) -> (PathBuf, BTreeSet<String>) {
    let big = env.path("big");
    fs::create_dir_all(&big).unwrap();
    let mut big_contents = BTreeSet::new();
    for i in 0..6u64 {
        let path = big.join(format!("big-{i}.bin"));
        let (_, b3) = write_noise_file(&path, 200 + i, 8 << 20);
        known.insert(b3.clone(), path);
        big_contents.insert(b3);
    }

    (big, big_contents)
}

/// With --json: exit 1 and one error object of kind no_space.
fn ingest_json_onto_full_disk(f: &mut Findings, env: &Env, big: &Path) {
    let what = "ingest --json onto a full disk";
    if let Some(out) = bounded(
        f,
        what,
        env.std_cmd()
            .args(["--json", "ingest", "--case", CASE])
            .arg(big),
    ) {
        let stderr = text(&out.stderr);
        if f.check(out.status.code() == Some(1), || {
            format!(
                "{what}: exit {:?}, expected 1:\n{stderr}",
                out.status.code()
            )
        }) {
            let (kind, message) = stderr_error(&stderr, what);
            f.check(kind == "no_space", || {
                format!("{what}: error kind {kind:?}, expected \"no_space\": {message}")
            });
            f.check(message.to_lowercase().contains("no space"), || {
                format!("{what}: the message does not say \"no space\": {message}")
            });
        }
    }
}

/// Without --json, as a user retrying it: one sentence saying there is no space.
fn ingest_retried_onto_full_disk(f: &mut Findings, env: &Env, big: &Path) {
    let what = "ingest retried onto a full disk";
    if let Some(out) = bounded(
        f,
        what,
        env.std_cmd().args(["ingest", "--case", CASE]).arg(big),
    ) {
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        f.check(out.status.code() == Some(1), || {
            format!(
                "{what}: exit {:?}, expected 1:\n{stderr}",
                out.status.code()
            )
        });
        f.check(
            lines.len() == 1
                && lines[0].starts_with("custodia: ")
                && lines[0].to_lowercase().contains("no space"),
            || format!("{what}: expected one line \"custodia: ... no space ...\", got:\n{stderr}"),
        );
    }
}

/// Still on the full disk: the archive opens and holds every acknowledged item; a full disk
/// is not damage: verify checks (exit 0) or says it cannot (exit 1), never exit 3.
fn check_still_on_full_disk(
    f: &mut Findings,
    env: &Env,
    known: &Known,
    acked: &BTreeMap<String, String>,
) {
    let what = "list on the full disk";
    if let Some(ids) = list_known(f, env, what, known) {
        for (id, b3) in acked {
            f.check(ids.get(id) == Some(b3), || {
                format!("{what}: acknowledged {id} ({b3}) is missing: {ids:?}")
            });
        }
    }
    // A full disk is not damage: verify checks (exit 0) or says it cannot (exit 1), never exit 3.
    let what = "verify on the full disk";
    if let Some((code, report)) = verify_bounded(f, env, what) {
        f.check(code == Some(0) || code == Some(1), || {
            format!("{what}: exit {code:?}; a full disk must not be reported as damaged evidence:\n{report:#}")
        });
    }
}

/// Every last page taken, then what a user does next: verify again, list. Opening sled
/// writes (a snapshot, the verify event); failing to must not damage the archive.
fn check_without_a_free_page(f: &mut Findings, env: &Env, small: &Path) {
    let filler = small.join("filler");
    fill_up(&filler);
    for round in 1..=2 {
        let what = format!("verify on a disk without one free page (round {round})");
        if let Some((code, report)) = verify_bounded(f, env, &what) {
            f.check(code == Some(0) || code == Some(1), || {
                format!("{what}: exit {code:?}; a full disk must not be reported as damaged evidence:\n{report:#}")
            });
        }
        let what = format!("list on a disk without one free page (round {round})");
        if let Some(out) = bounded(f, &what, env.std_cmd().arg("list")) {
            f.check(out.status.code() != Some(3), || {
                format!(
                    "{what}: exit 3, the archive is reported damaged:\n{}",
                    text(&out.stderr)
                )
            });
        }
    }
    fs::remove_file(&filler).expect("remove filler");
}

/// Space given back: everything acknowledged verifies and extracts byte for byte.
fn check_after_freeing(
    f: &mut Findings,
    env: &Env,
    known: &Known,
    acked: &BTreeMap<String, String>,
) {
    let what = "after freeing 4 MiB";
    let listed = list_known(f, env, &format!("{what}: list"), known);
    if let Some(ids) = &listed {
        for (id, b3) in acked {
            f.check(ids.get(id) == Some(b3), || {
                format!("{what}: acknowledged {id} ({b3}) is missing: {ids:?}")
            });
        }
    }
    if let Some((code, report)) = verify_bounded(f, env, &format!("{what}: verify")) {
        f.check(
            code == Some(0) && report["problems"] == Value::Array(vec![]),
            || format!("{what}: verify exit {code:?}, expected 0 and no problems:\n{report:#}"),
        );
    }
    if let Some(ids) = &listed {
        extract_all(f, env, what, ids, known, &env.path("out-1"));
    }
}

/// A second, smaller attempt fits in the space given back.
fn second_smaller_ingest(f: &mut Findings, env: &Env, known: &mut Known) {
    let second = env.path("second");
    for i in 0..2u64 {
        let path = second.join(format!("second-{i}.bin"));
        let bytes = noise(300 + i, 64 << 10);
        write(&path, &bytes);
        known.insert(blake3_hex(&bytes), path);
    }
    let what = "a second, smaller ingest after freeing space";
    if let Some(out) = bounded(
        f,
        what,
        env.std_cmd()
            .args(["--json", "ingest", "--case", CASE])
            .arg(&second),
    ) && f.check(out.status.code() == Some(0), || {
        format!(
            "{what}: exit {:?}:\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    }) {
        let report = stdout_json(&out, what);
        f.check(json_items(&report).len() == 2, || {
            format!("{what}: expected 2 items:\n{report:#}")
        });
    }
}

/// On a bigger disk the failed ingest, retried, now succeeds.
fn big_ingest_on_bigger_disk(
    f: &mut Findings,
    env: &Env,
    big: &Path,
    big_contents: &BTreeSet<String>,
) {
    let what = "the big ingest retried on a bigger disk";
    if let Some(out) = bounded(
        f,
        what,
        env.std_cmd()
            .args(["--json", "ingest", "--case", CASE])
            .arg(big),
    ) && f.check(out.status.code() == Some(0), || {
        format!(
            "{what}: exit {:?}:\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    }) {
        let report = stdout_json(&out, what);
        let got: BTreeSet<String> = json_items(&report)
            .iter()
            .map(|i| json_str(&i["blake3"]).to_owned())
            .collect();
        f.check(got == *big_contents, || {
            format!("{what}: expected the six big contents:\n{report:#}")
        });
    }
}

/// At the end: everything verifies, every acknowledged item is listed and extracts.
fn check_at_the_end(f: &mut Findings, env: &Env, known: &Known, acked: &BTreeMap<String, String>) {
    let what = "at the end";
    let listed = list_known(f, env, &format!("{what}: list"), known);
    if let Some((code, report)) = verify_bounded(f, env, &format!("{what}: verify")) {
        f.check(
            code == Some(0)
                && report["problems"] == Value::Array(vec![])
                && listed
                    .as_ref()
                    .is_some_and(|l| report["checked"]["items"] == l.len()),
            || format!("{what}: verify exit {code:?}, expected 0, no problems and every listed item checked:\n{report:#}"),
        );
    }
    if let Some(ids) = &listed {
        for (id, b3) in acked {
            f.check(ids.get(id) == Some(b3), || {
                format!("{what}: acknowledged {id} ({b3}) is missing: {ids:?}")
            });
        }
        f.check(ids.len() == 4 + 2 + 6, || {
            format!("{what}: expected 12 items, listed {ids:?}")
        });
        extract_all(f, env, what, ids, known, &env.path("out-2"));
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_loses_nothing_acknowledged() {
    let mut env = Env::new();
    let small = env.path("small");
    // Declared after `env`, so it is unmounted before the temp dir is removed.
    let disk = match Tmpfs::mount(&small, 24) {
        Ok(m) => m,
        // Under CI the full disk is always tested: a test that cannot run fails there.
        Err(why) => {
            skip_outside_ci(
                "a_full_disk_fails_cleanly_and_loses_nothing_acknowledged",
                &format!("cannot mount a tmpfs at {}: {why}", small.display()),
            );
            return;
        }
    };
    env.archive = small.join("archive");
    env.ok(&["init"]);
    env.ok(&["case", "create", CASE, "--title", "A disk that fills up"]);

    let mut known: Known = BTreeMap::new();
    let acked = ingest_acknowledged(&env, &mut known);

    // Space to give back later, taken before the disk fills: 4 MiB of real pages.
    let scratch = small.join("scratch");
    write(&scratch, &vec![0u8; 4 << 20]);

    let (big, big_contents) = write_big_files(&env, &mut known);

    let mut f = Findings::default();
    ingest_json_onto_full_disk(&mut f, &env, &big);
    ingest_retried_onto_full_disk(&mut f, &env, &big);
    check_still_on_full_disk(&mut f, &env, &known, &acked);
    check_without_a_free_page(&mut f, &env, &small);

    fs::remove_file(&scratch).expect("remove scratch");
    check_after_freeing(&mut f, &env, &known, &acked);
    second_smaller_ingest(&mut f, &env, &mut known);

    // A bigger disk: the failed ingest, retried, now succeeds and everything verifies.
    disk.resize(160);
    big_ingest_on_bigger_disk(&mut f, &env, &big, &big_contents);
    check_at_the_end(&mut f, &env, &known, &acked);
    drop(disk);
    f.finish();
}
