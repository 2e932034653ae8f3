//! Power loss, simulated by reading the order of writes (issue 5 item 4): each command runs under
//! `strace`, and the log of its opens, writes, fsyncs, renames and links is checked against the
//! write order and durability steps of docs/FORMAT.md. Nothing may be reported before the data
//! and the custody event it depends on are fsynced, and HEAD only moves after both.
//!
//! Positions are line numbers in the strace log. With `-f`, strace prints a call on one line only
//! when no other thread's call came between its entry and exit; otherwise it splits it into
//! `<unfinished ...>` and `<... resumed>`. So "A completed before B started" is
//! `A.exit < B.entry`, exactly. All threads of custodia share one fd table (no process is forked).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Env, blake3_hex, noise, text, write};

const CASE: &str = "BY-2024-017";
const TRACED: &str = "openat,close,write,writev,pwrite64,pwritev,pwritev2,fsync,fdatasync,\
sync_file_range,rename,renameat,renameat2,mkdir,mkdirat,link,linkat,unlink,unlinkat";

// ---------------------------------------------------------------------------------------------
// Reading an strace log.

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// A successful `openat`; `created` when the flags held O_CREAT.
    Open {
        path: String,
        created: bool,
    },
    /// Any successful write; the path is `<stdout>`, `<stderr>` or `<fd N>` for fds not opened by path.
    Write {
        path: String,
    },
    /// A successful fsync or fdatasync (sync_file_range is not one: it neither flushes the
    /// disk's cache nor writes metadata).
    Sync {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Link {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
    },
}

#[derive(Debug, Clone)]
struct Op {
    entry: usize,
    exit: usize,
    kind: Kind,
    /// The written bytes (for writes), as far as strace printed them.
    bytes: Vec<u8>,
    truncated: bool,
    line: String,
    /// The thread that made the call.
    tid: String,
}

enum Arg {
    Str { bytes: Vec<u8>, truncated: bool },
    Other(String),
}

impl Arg {
    fn text(&self) -> String {
        match self {
            Arg::Str { bytes, .. } => text(bytes),
            Arg::Other(s) => s.clone(),
        }
    }
}

/// Splits `name(arg, arg, ...) = ret ...` into its parts; `None` for a call with no numeric result.
fn parse_call(call: &str) -> Option<(String, Vec<Arg>, i64)> {
    let b = call.as_bytes();
    let open = call.find('(')?;
    let name = call[..open].trim().to_owned();
    let mut args = Vec::new();
    let mut raw = String::new();
    let mut string: Option<(Vec<u8>, bool)> = None;
    let mut depth = 0;
    let mut i = open + 1;
    let finish = |raw: &mut String, string: &mut Option<(Vec<u8>, bool)>, args: &mut Vec<Arg>| {
        match string.take() {
            Some((bytes, truncated)) => args.push(Arg::Str { bytes, truncated }),
            None => args.push(Arg::Other(raw.trim().to_owned())),
        }
        raw.clear();
    };
    loop {
        let c = *b.get(i)?;
        match c {
            b'"' => {
                let mut bytes = Vec::new();
                i += 1;
                loop {
                    let c = *b.get(i)?;
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = *b.get(i)?;
                            i += 1;
                            bytes.push(match e {
                                b'n' => b'\n',
                                b't' => b'\t',
                                b'r' => b'\r',
                                b'v' => 0x0b,
                                b'f' => 0x0c,
                                b'x' => {
                                    let v = u8::from_str_radix(call.get(i..i + 2)?, 16).ok()?;
                                    i += 2;
                                    v
                                }
                                b'0'..=b'7' => {
                                    let mut v = u32::from(e - b'0');
                                    for _ in 0..2 {
                                        match b.get(i) {
                                            Some(d @ b'0'..=b'7') => {
                                                v = v * 8 + u32::from(d - b'0');
                                                i += 1;
                                            }
                                            _ => break,
                                        }
                                    }
                                    v as u8
                                }
                                other => other,
                            });
                        }
                        other => bytes.push(other),
                    }
                }
                let truncated = call[i..].starts_with("...");
                if truncated {
                    i += 3;
                }
                string = Some((bytes, truncated));
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth > 0 => depth -= 1,
            b')' => {
                finish(&mut raw, &mut string, &mut args);
                i += 1;
                break;
            }
            b',' if depth == 0 => {
                finish(&mut raw, &mut string, &mut args);
                i += 1;
                continue;
            }
            _ => {}
        }
        raw.push(c as char);
        i += 1;
    }
    let ret = call[i..]
        .trim_start()
        .strip_prefix('=')?
        .split_whitespace()
        .next()?;
    Some((name, args, ret.parse().ok()?))
}

/// The log of one traced command, as operations on paths.
struct Trace {
    ops: Vec<Op>,
    log: String,
}

impl Trace {
    fn parse(log: &str, cwd: &Path) -> Trace {
        let absolute = |p: &str| -> String {
            if p.starts_with('/') {
                p.to_owned()
            } else {
                cwd.join(p).to_string_lossy().into_owned()
            }
        };
        let mut fds: HashMap<i64, String> = HashMap::new();
        fds.insert(1, "<stdout>".into());
        fds.insert(2, "<stderr>".into());
        let mut pending: HashMap<String, (usize, String)> = HashMap::new();
        let mut ops = Vec::new();
        for (pos, line) in log.lines().enumerate() {
            // `PID TIME CALL`; strace pads short pids with spaces.
            let Some((pid, rest)) = line.trim_start().split_once(' ') else {
                continue;
            };
            let Some((_time, rest)) = rest.trim_start().split_once(' ') else {
                continue;
            };
            let rest = rest.trim();
            let (entry, call) = if let Some(resumed) = rest.strip_prefix("<... ") {
                let Some((_, tail)) = resumed.split_once(" resumed>") else {
                    continue;
                };
                let Some((entry, head)) = pending.remove(pid) else {
                    continue;
                };
                (entry, format!("{head}{tail}"))
            } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
                pending.insert(pid.to_owned(), (pos, head.to_owned()));
                continue;
            } else if rest.starts_with("+++") || rest.starts_with("---") {
                continue;
            } else {
                (pos, rest.to_owned())
            };
            let Some((name, args, ret)) = parse_call(&call) else {
                continue;
            };
            if ret < 0 {
                continue;
            }
            let fd_path = |fds: &HashMap<i64, String>, a: Option<&Arg>| -> String {
                let n: i64 = a
                    .map(|a| a.text())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(-1);
                fds.get(&n).cloned().unwrap_or_else(|| format!("<fd {n}>"))
            };
            let str_at = |i: usize| args.get(i).map(|a| absolute(&a.text())).unwrap_or_default();
            let mut bytes = Vec::new();
            let mut truncated = false;
            let kind = match name.as_str() {
                "openat" => {
                    if args.first().map(Arg::text).as_deref() != Some("AT_FDCWD") {
                        continue;
                    }
                    let path = str_at(1);
                    let created = args.get(2).is_some_and(|a| a.text().contains("O_CREAT"));
                    fds.insert(ret, path.clone());
                    Kind::Open { path, created }
                }
                "close" => {
                    let n = args
                        .first()
                        .and_then(|a| a.text().parse().ok())
                        .unwrap_or(-1);
                    fds.remove(&n);
                    continue;
                }
                "write" | "writev" | "pwrite64" | "pwritev" | "pwritev2" => {
                    if let Some(Arg::Str {
                        bytes: b,
                        truncated: t,
                    }) = args.get(1)
                    {
                        bytes = b.clone();
                        truncated = *t;
                    }
                    Kind::Write {
                        path: fd_path(&fds, args.first()),
                    }
                }
                "fsync" | "fdatasync" => Kind::Sync {
                    path: fd_path(&fds, args.first()),
                },
                "rename" => Kind::Rename {
                    from: str_at(0),
                    to: str_at(1),
                },
                "renameat" | "renameat2" => Kind::Rename {
                    from: str_at(1),
                    to: str_at(3),
                },
                "link" => Kind::Link {
                    from: str_at(0),
                    to: str_at(1),
                },
                "linkat" => Kind::Link {
                    from: str_at(1),
                    to: str_at(3),
                },
                "unlink" => Kind::Unlink { path: str_at(0) },
                "unlinkat" => Kind::Unlink { path: str_at(1) },
                "mkdir" => Kind::Mkdir { path: str_at(0) },
                "mkdirat" => Kind::Mkdir { path: str_at(1) },
                _ => continue,
            };
            ops.push(Op {
                entry,
                exit: pos,
                kind,
                bytes,
                truncated,
                line: line.to_owned(),
                tid: pid.to_owned(),
            });
        }
        ops.sort_by_key(|o| o.exit);
        Trace {
            ops,
            log: log.to_owned(),
        }
    }

    /// Fails the test, quoting the log lines that matter (or the log's tail).
    fn fail(&self, what: &str, around: &[&Op]) -> ! {
        let quoted: Vec<String> = if around.is_empty() {
            let lines: Vec<&str> = self.log.lines().collect();
            lines[lines.len().saturating_sub(60)..]
                .iter()
                .map(|l| l.to_string())
                .collect()
        } else {
            around
                .iter()
                .map(|o| format!("[line {}] {}", o.exit + 1, o.line))
                .collect()
        };
        panic!("durability order broken: {what}\n{}", quoted.join("\n"))
    }

    /// Operations that started after `after` and ended before `before`.
    fn between(&self, after: usize, before: usize) -> impl Iterator<Item = &Op> {
        self.ops
            .iter()
            .filter(move |o| o.entry > after && o.exit < before)
    }

    fn writes_under(&self, dir: &str, after: usize, before: usize) -> Vec<&Op> {
        self.between(after, before)
            .filter(|o| matches!(&o.kind, Kind::Write { path } if under(path, dir)))
            .collect()
    }

    /// Files and directories created under `dir` (by open with O_CREAT, mkdir, rename or link).
    fn created_under(&self, dir: &str, after: usize, before: usize) -> Vec<(&Op, String)> {
        self.between(after, before)
            .filter_map(|o| match &o.kind {
                Kind::Open {
                    path,
                    created: true,
                }
                | Kind::Mkdir { path }
                | Kind::Rename { to: path, .. }
                | Kind::Link { to: path, .. } => Some((o, path.clone())),
                _ => None,
            })
            .filter(|(_, p)| under(p, dir))
            .collect()
    }

    /// An fsync of `path` (or of a name it was renamed to since) that started after `after`
    /// and returned before `before`.
    fn synced(&self, path: &str, after: usize, before: usize) -> Option<&Op> {
        let mut names: BTreeSet<String> = BTreeSet::from([path.to_owned()]);
        for o in self.between(after, before) {
            match &o.kind {
                Kind::Rename { from, to } if names.contains(from) => {
                    names.insert(to.clone());
                }
                Kind::Sync { path } if names.contains(path) => return Some(o),
                _ => {}
            }
        }
        None
    }

    /// Every file written under `dir` between `after` and `until` has an fsync after its last
    /// write there, returning before `deadline`; every name created under `dir` in that window
    /// has its directory fsynced after the creation, before `deadline`.
    fn check_synced_under(
        &self,
        dir: &str,
        after: usize,
        until: usize,
        deadline: usize,
        what: &str,
    ) {
        let mut last_write: BTreeMap<String, &Op> = BTreeMap::new();
        for w in self.writes_under(dir, after, until) {
            if let Kind::Write { path } = &w.kind {
                last_write.insert(path.clone(), w);
            }
        }
        for (path, w) in &last_write {
            if self.synced(path, w.exit, deadline).is_none() {
                self.fail(
                    &format!("{what}: {path} was written and not fsynced before the next step"),
                    &[w, self.at(deadline)],
                );
            }
        }
        for (o, path) in self.created_under(dir, after, until) {
            let parent = parent(&path);
            if self.synced(&parent, o.exit, deadline).is_none() {
                self.fail(
                    &format!(
                        "{what}: {path} was created and its directory {parent} not fsynced \
                         before the next step"
                    ),
                    &[o, self.at(deadline)],
                );
            }
        }
    }

    /// The operation at a position (a position taken from an op's entry or exit).
    fn at(&self, pos: usize) -> &Op {
        self.ops
            .iter()
            .find(|o| o.entry == pos || o.exit == pos)
            .expect("a position of an operation")
    }

    fn last_before(&self, before: usize, f: impl Fn(&Kind) -> bool) -> Option<&Op> {
        self.ops
            .iter()
            .filter(|o| o.exit < before && f(&o.kind))
            .last()
    }

    fn first_after(&self, after: usize, f: impl Fn(&Kind) -> bool) -> Option<&Op> {
        self.ops.iter().find(|o| o.entry > after && f(&o.kind))
    }

    fn stdout_writes(&self) -> Vec<&Op> {
        self.ops
            .iter()
            .filter(|o| matches!(&o.kind, Kind::Write { path } if path == "<stdout>"))
            .collect()
    }
}

fn under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

fn parent(path: &str) -> String {
    Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Running custodia under strace.

/// Runs `custodia ARGS` on the env's archive under strace; asserts exit 0; returns the trace
/// and stdout.
fn traced(env: &Env, args: &[&str]) -> (Trace, String) {
    match Command::new("strace").arg("-V").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "strace missing: run .ci/setup (strace -V: {})",
            text(&out.stderr)
        ),
        Err(e) => panic!("strace missing: run .ci/setup ({e})"),
    }
    let log = env.path("strace.log");
    // KEEP_TRACE=DIR keeps every strace log in DIR, to read after a failure.
    let _keep = std::env::var_os("KEEP_TRACE").map(|d| (d, log.clone()));
    let out = Command::new("strace")
        .args(["-f", "-tt", "-s", "16384", "-e"])
        .arg(format!("trace={TRACED}"))
        .arg("-o")
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_custodia"))
        .arg("--archive")
        .arg(&env.archive)
        .args(args)
        .current_dir(env.dir.path())
        .env("CUSTODIA_ACTOR", "tester")
        .env_remove("CUSTODIA_ARCHIVE")
        .output()
        .expect("run strace");
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("PTRACE_TRACEME") && !stderr.contains("ptrace(PTRACE"),
        "strace cannot trace on this machine (ptrace refused): {stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "custodia {args:?} under strace failed:\nstdout: {}\nstderr: {stderr}",
        text(&out.stdout)
    );
    let log = std::fs::read_to_string(&log).expect("read the strace log");
    if let Some((dir, _)) = &_keep {
        let _ = std::fs::write(
            Path::new(dir).join(format!("trace-{}.log", std::process::id())),
            &log,
        );
    }
    let trace = Trace::parse(&log, env.dir.path());
    assert!(
        trace
            .ops
            .iter()
            .any(|o| matches!(&o.kind, Kind::Sync { .. })),
        "the strace log shows no fsync at all; was it written?\n{log}"
    );
    (trace, text(&out.stdout))
}

/// The archive's paths as custodia names them (the strings it was given).
struct Paths {
    root: String,
    db: String,
    volumes: String,
    head: String,
    head_tmp: String,
}

impl Paths {
    fn of(env: &Env) -> Paths {
        let root = env.archive.to_string_lossy().into_owned();
        Paths {
            db: format!("{root}/db"),
            volumes: format!("{root}/volumes"),
            head: format!("{root}/HEAD"),
            head_tmp: format!("{root}/HEAD.tmp"),
            root,
        }
    }
}

/// One commit's durability steps, as found in the log.
struct Commit<'a> {
    /// The `HEAD.tmp` → `HEAD` rename.
    rename: &'a Op,
    /// The fsync of the archive directory after that rename: everything after it is reportable.
    durable: &'a Op,
    /// What was written to `HEAD.tmp`.
    head_text: String,
}

/// Checks steps 3 and 4 of "Write order" for the commit whose HEAD rename is `rename`, looking
/// back to `window_start`: (a) sled's files in `db/` written in the window, `db/db` among them,
/// fsynced after their last write; the directories of names created in `db/` and `db/` itself
/// fsynced; all before `HEAD.tmp` is opened; (b) `HEAD.tmp` written, fsynced, then renamed;
/// (c) the archive directory fsynced after the rename.
fn check_commit<'a>(t: &'a Trace, p: &Paths, window_start: usize, rename: &'a Op) -> Commit<'a> {
    let head_open = t
        .last_before(
            rename.entry,
            |k| matches!(k, Kind::Open { path, created: true } if *path == p.head_tmp),
        )
        .filter(|o| o.entry > window_start)
        .unwrap_or_else(|| t.fail("HEAD renamed with no HEAD.tmp created before it", &[rename]));
    let head_writes: Vec<&Op> = t
        .between(head_open.exit, rename.entry)
        .filter(|o| matches!(&o.kind, Kind::Write { path } if *path == p.head_tmp))
        .collect();
    let Some(last_head_write) = head_writes.last() else {
        t.fail(
            "HEAD.tmp renamed over HEAD without being written",
            &[head_open, rename],
        );
    };
    // (3) HEAD.tmp is fsynced before it is renamed.
    if t.synced(&p.head_tmp, last_head_write.exit, rename.entry)
        .is_none()
    {
        t.fail(
            "HEAD.tmp renamed over HEAD before it was fsynced",
            &[last_head_write, rename],
        );
    }
    let head_text: String = head_writes.iter().map(|o| text(&o.bytes)).collect();
    assert!(
        head_text.starts_with("seq ") && head_text.contains("\nsha256 "),
        "HEAD.tmp holds {head_text:?}"
    );

    // The database: written in this window and fsynced, with db/db and db/ itself, before HEAD.tmp.
    let db_writes = t.writes_under(&p.db, window_start, head_open.entry);
    let Some(last_db_write) = db_writes.last() else {
        t.fail("a commit that wrote nothing to db/ before HEAD", &[rename]);
    };
    t.check_synced_under(
        &p.db,
        window_start,
        head_open.entry,
        head_open.entry,
        "sled's files",
    );
    let db_file = format!("{}/db", p.db);
    if t.synced(&db_file, last_db_write.exit, head_open.entry)
        .is_none()
    {
        t.fail(
            "no fsync of db/db between the commit's last write to db/ and HEAD.tmp",
            &[last_db_write, head_open],
        );
    }
    if t.synced(&p.db, last_db_write.exit, head_open.entry)
        .is_none()
    {
        t.fail(
            "no fsync of the db/ directory between the commit's last write to db/ and HEAD.tmp",
            &[last_db_write, head_open],
        );
    }

    // (2) The archive directory, fsynced after the rename: the new HEAD is durable.
    let durable = t
        .first_after(
            rename.exit,
            |k| matches!(k, Kind::Sync { path } if *path == p.root),
        )
        .unwrap_or_else(|| {
            t.fail(
                "the archive directory is not fsynced after HEAD.tmp is renamed over HEAD",
                &[rename],
            )
        });
    Commit {
        rename,
        durable,
        head_text,
    }
}

/// The HEAD renames of the log.
fn head_renames<'a>(t: &'a Trace, p: &Paths) -> Vec<&'a Op> {
    t.ops
        .iter()
        .filter(|o| matches!(&o.kind, Kind::Rename { from, to } if *from == p.head_tmp && *to == p.head))
        .collect()
}

/// The event a HEAD rename installs: `seq N` in the last write to HEAD.tmp before it.
fn head_seq(t: &Trace, p: &Paths, rename: &Op) -> u64 {
    let write = t
        .ops
        .iter()
        .rfind(|o| {
            o.exit < rename.entry && matches!(&o.kind, Kind::Write { path } if *path == p.head_tmp)
        })
        .unwrap_or_else(|| t.fail("HEAD renamed with no write of HEAD.tmp before", &[rename]));
    text(&write.bytes)
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("seq "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| t.fail("HEAD.tmp does not start with `seq N`", &[write]))
}

// ---------------------------------------------------------------------------------------------
// Ingest.

/// One reported item: a line `EV-000123  new|duplicate  <16 hex>  <path>` written to stdout.
#[derive(Debug)]
struct Ack {
    id: String,
    hash16: String,
    path: String,
}

/// The items a stdout write reports (none for other output).
fn acks_of(o: &Op) -> Vec<Ack> {
    let written = text(&o.bytes);
    assert!(
        !o.truncated,
        "a stdout write longer than strace printed: {}",
        o.line
    );
    written
        .lines()
        .filter(|l| l.starts_with("EV-"))
        .map(|l| {
            let tokens: Vec<&str> = l.split_whitespace().collect();
            assert!(
                tokens.len() >= 4 && matches!(tokens[1], "new" | "duplicate"),
                "not an item line: {l:?}"
            );
            Ack {
                id: tokens[0].to_owned(),
                hash16: tokens[2].to_owned(),
                path: tokens[3..].join(" "),
            }
        })
        .collect()
}

/// The batches of an ingest as the log shows them: every stdout write that reports items,
/// grouped by the last HEAD rename before it.
struct Batch<'a> {
    commit: Commit<'a>,
    acks: Reports<'a>,
    volume_writes: usize,
}

/// Stdout writes that report items, each with the items it reports.
type Reports<'a> = Vec<(&'a Op, Vec<Ack>)>;

/// Checks "Write order" 1–5 for every batch of a traced ingest and returns the batches.
fn check_ingest<'a>(t: &'a Trace, p: &Paths) -> Vec<Batch<'a>> {
    let renames = head_renames(t, p);
    // Which commit holds which item: ingest writes one event per reported item, in the
    // order it reports them, so the k-th of n items has event `last - n + 1 + k`, where
    // `last` is the event the last HEAD names; its commit is the first HEAD naming an event
    // at or after it. (Items are reported by the reading thread between files, so a report
    // may come several commits after its own.)
    let reports: Vec<(&Op, Vec<Ack>)> = t
        .stdout_writes()
        .into_iter()
        .map(|w| (w, acks_of(w)))
        .filter(|(_, acks)| !acks.is_empty())
        .collect();
    let total: u64 = reports.iter().map(|(_, a)| a.len() as u64).sum();
    let seqs: Vec<u64> = renames.iter().map(|r| head_seq(t, p, r)).collect();
    let Some(&last) = seqs.last() else {
        if let Some((w, _)) = reports.first() {
            t.fail("items reported before any HEAD was written", &[w]);
        }
        return Vec::new();
    };
    let mut groups: Vec<(&Op, Reports)> = Vec::new();
    let mut k = 0;
    for (w, acks) in reports {
        // One write may report the items of several commits.
        for ack in acks {
            let seq = (last + 1 + k).saturating_sub(total);
            k += 1;
            let Some(at) = seqs.iter().position(|s| *s >= seq) else {
                t.fail("an item reported whose event no HEAD names", &[w]);
            };
            let rename = renames[at];
            if rename.exit > w.entry {
                t.fail(
                    "items reported before the HEAD naming their events was written",
                    &[rename, w],
                );
            }
            match groups.last_mut() {
                Some((r, list)) if std::ptr::eq(*r, rename) => match list.last_mut() {
                    Some((last_w, acks)) if std::ptr::eq(*last_w, w) => acks.push(ack),
                    _ => list.push((w, vec![ack])),
                },
                _ => groups.push((rename, vec![(w, vec![ack])])),
            }
        }
    }
    let mut batches = Vec::new();
    // Where the next batch's commit and chunks start (see (1) below).
    let mut commit_start = 0;
    let mut chunks_start = 0;
    for (rename, acks) in groups {
        // The committer writes a batch's records after the previous batch's HEAD rename; the
        // items of that batch may be reported later (the reading thread reports between files).
        let commit = check_commit(t, p, commit_start, rename);
        // (2) Reported only after the commit is durable and HEAD names it.
        for (w, _) in &acks {
            if w.entry <= commit.durable.exit {
                t.fail(
                    "items reported before the archive directory was fsynced after the HEAD rename",
                    &[rename, commit.durable, w],
                );
            }
        }

        // (1) Chunks first. Ingest is a pipeline (src/ingest/pipeline.rs): the storer thread
        // writes a batch's chunks, makes the volume it is filling durable (ending with an
        // fsync of volumes/), and only then hands the batch to the committer thread, which
        // syncs the volumes the batch filled and then commits. The storer goes on with the
        // next batch meanwhile, so volume writes after that fsync of volumes/ belong to later
        // batches; every volume write before it must be durable before the commit's first
        // write to db/. The committer is the thread that renames HEAD.
        // sled writes its log from its own threads too: the commit's first write to db/ is
        // the first by any thread but the reading one (which opened the archive and reports).
        let committer = &rename.tid;
        let reader = &acks[0].0.tid;
        let c0 = t
            .ops
            .iter()
            .find(|o| {
                o.entry > commit_start
                    && o.tid != *reader
                    && matches!(&o.kind, Kind::Write { path } if under(path, &p.db))
            })
            .unwrap_or_else(|| t.fail("a batch reported with no write to db/", &[rename]));
        let storer_end = t.ops.iter().rfind(|o| {
            o.entry > chunks_start
                && o.exit < c0.entry
                && o.tid != *committer
                && matches!(&o.kind, Kind::Sync { path } if *path == p.volumes)
        });
        let chunks_end = storer_end.map_or(chunks_start, |o| o.entry);
        let vol_writes = t.writes_under(&p.volumes, chunks_start, chunks_end);
        t.check_synced_under(
            &p.volumes,
            chunks_start,
            chunks_end,
            c0.entry,
            "chunk volumes",
        );
        // A `volumes/` this ingest created is a name in the archive directory.
        for made in t
            .between(chunks_start, chunks_end)
            .filter(|o| matches!(&o.kind, Kind::Mkdir { path } if *path == p.volumes))
        {
            if t.synced(&p.root, made.exit, c0.entry).is_none() {
                t.fail(
                    "volumes/ created and the archive directory not fsynced before the commit",
                    &[made, c0],
                );
            }
        }
        if let Some(end) = storer_end {
            chunks_start = end.exit;
        }
        commit_start = rename.exit;
        // The reported files were read (opened) before the batch's transaction.
        for (w, list) in &acks {
            for ack in list {
                let opened = t.between(0, c0.entry).any(
                    |o| matches!(&o.kind, Kind::Open { path, created: false } if *path == ack.path),
                );
                if !opened {
                    t.fail(
                        &format!(
                            "{} reported in a batch that did not read {} before its commit",
                            ack.id, ack.path
                        ),
                        &[w, rename],
                    );
                }
            }
        }
        batches.push(Batch {
            commit,
            acks,
            volume_writes: vol_writes.len(),
        });
    }
    // Every chunk a batch holds was written before that batch's volumes were made durable:
    // nothing is written to a volume after the last batch's.
    if let Some(late) = t.writes_under(&p.volumes, chunks_start, usize::MAX).first() {
        t.fail(
            "a chunk written after the last batch's volumes were made durable",
            &[late],
        );
    }
    batches
}

/// Every reported item matches the file it names (an independent BLAKE3), each file once.
fn check_acks_against_files(batches: &[Batch], files: &BTreeMap<String, Vec<u8>>) {
    let mut seen = BTreeSet::new();
    for b in batches {
        for (_, acks) in &b.acks {
            for a in acks {
                let bytes = files
                    .get(&a.path)
                    .unwrap_or_else(|| panic!("{} reports an unknown path {}", a.id, a.path));
                assert_eq!(
                    a.hash16,
                    blake3_hex(bytes)[..16],
                    "{} reports the wrong hash for {}",
                    a.id,
                    a.path
                );
                assert!(seen.insert(a.path.clone()), "{} reported twice", a.path);
            }
        }
    }
    let expected: BTreeSet<String> = files.keys().cloned().collect();
    assert_eq!(seen, expected, "not every file was reported once");
}

fn verify_clean(env: &Env) {
    let (code, v) = env.verify();
    assert_eq!(code, 0, "verify after the traced command: {v}");
    assert_eq!(v["ok"], true, "{v}");
}

fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            write(&path, bytes);
            (path.to_string_lossy().into_owned(), bytes.clone())
        })
        .collect()
}

#[test]
fn ingest_reports_items_only_after_chunks_records_and_head_are_fsynced() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let folder = env.path("seized");
    let files = write_files(
        &folder,
        &[
            ("note.txt", b"Seized at 09:40, bag 7.\n".to_vec()),
            ("empty.txt", Vec::new()),
            ("disk.img", noise(41, (5 << 20) / 2)),
        ],
    );
    let (trace, stdout) = traced(&env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    let batches = check_ingest(&trace, &p);
    assert_eq!(
        batches.len(),
        1,
        "three small files are one batch:\n{stdout}"
    );
    check_acks_against_files(&batches, &files);
    let b = &batches[0];
    // The 2.5 MiB file is stored as chunks in a volume: the chunk checks above were not vacuous.
    assert!(
        b.volume_writes >= 3,
        "expected the chunks of disk.img written to a volume, saw {} writes",
        b.volume_writes
    );
    // The first ingest of the archive creates volumes/ (checked above to be made durable).
    assert!(
        trace
            .ops
            .iter()
            .any(|o| matches!(&o.kind, Kind::Mkdir { path } if *path == p.volumes)),
        "the first ingest did not create volumes/"
    );
    // HEAD on disk is what the last commit wrote to HEAD.tmp, and names the last event.
    let head = std::fs::read_to_string(&p.head).expect("HEAD");
    assert_eq!(head, b.commit.head_text);
    let log = env.json(&["log"]);
    let events = log
        .as_array()
        .or_else(|| log["events"].as_array())
        .unwrap_or_else(|| panic!("log JSON: {log}"));
    let last_seq = events
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .max()
        .expect("events have seq");
    assert!(
        head.starts_with(&format!("seq {last_seq}\n")),
        "HEAD {head:?} does not name the last event {last_seq}"
    );
    // The fsync that makes the blob of the first 1 MiB chunk durable names a file under blobs/.
    assert!(
        trace
            .ops
            .iter()
            .any(|o| matches!(&o.kind, Kind::Sync { path }
            if under(path, &p.volumes) && path.contains("/blobs/"))),
        "no blob file of a volume was fsynced (sled writes values over ~128 KiB to blobs/)"
    );
    verify_clean(&env);
}

#[test]
fn each_ingest_batch_is_fsynced_before_its_items_are_reported() {
    const FILES: u64 = 2100;
    let env = Env::with_case();
    let p = Paths::of(&env);
    let folder = env.path("many");
    // 2,100 files: three batches of up to 1,024 (src/ingest/pipeline.rs), each file new
    // content, so the storer fills the next batch while the committer commits the last.
    let owned: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|i| {
            (
                format!("f{i:04}.bin"),
                noise(7000 + i, 2000 + (i as usize * 37) % 3000),
            )
        })
        .collect();
    let named: Vec<(&str, Vec<u8>)> = owned.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let files = write_files(&folder, &named);
    let (trace, stdout) = traced(&env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    let batches = check_ingest(&trace, &p);
    assert!(
        batches.len() >= 3,
        "{FILES} files must be committed in at least three batches, saw {}:\n{stdout}",
        batches.len()
    );
    assert!(
        batches.iter().map(|b| b.volume_writes).sum::<usize>() > 0,
        "the batches stored new chunks"
    );
    check_acks_against_files(&batches, &files);
    let ids: BTreeSet<&str> = batches
        .iter()
        .flat_map(|b| {
            b.acks
                .iter()
                .flat_map(|(_, a)| a.iter().map(|a| a.id.as_str()))
        })
        .collect();
    assert_eq!(ids.len() as u64, FILES, "distinct ids");
    verify_clean(&env);
}

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

/// `extract`: the copy is written to a temporary file and fsynced before the event that records
/// its hashes reaches db/; the event is durable (HEAD replaced) before the copy is linked to its
/// name, so no copy ever exists without its record (commit 232a2cf); the directory is fsynced
/// after the link, and only then is the extraction reported.
#[test]
fn extract_fsyncs_the_copy_before_its_event_and_reports_after() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let src = env.path("in/recording.wav");
    let bytes = noise(99, (3 << 20) / 2);
    write(&src, &bytes);
    let report = env.ingest(&[&src]);
    let id = report["items"][0]["id"].as_str().expect("id").to_owned();
    let out_dir = env.path("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("recording.wav");
    let (trace, _) = traced(
        &env,
        &[
            "extract",
            &id,
            "--out",
            out.to_str().unwrap(),
            "--reason",
            "court",
        ],
    );
    let out_s = out.to_string_lossy().into_owned();
    let out_dir_s = out_dir.to_string_lossy().into_owned();
    // Published without clobbering: renameat2(RENAME_NOREPLACE), or a hard link where the
    // file system has no such rename.
    let link = trace
        .first_after(
            0,
            |k| matches!(k, Kind::Link { to, .. } | Kind::Rename { to, .. } if *to == out_s),
        )
        .unwrap_or_else(|| trace.fail("the output is not published from a temporary file", &[]));
    let (Kind::Link { from: tmp, .. } | Kind::Rename { from: tmp, .. }) = &link.kind else {
        unreachable!()
    };
    assert_eq!(
        parent(tmp),
        out_dir_s,
        "the temporary file is beside the output"
    );
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
    let renames = head_renames(&trace, &p);
    assert_eq!(renames.len(), 1, "extract commits one event");
    let commit = check_commit(&trace, &p, 0, renames[0]);
    // The event records hashes of bytes that are already durable.
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
    let reports = trace.stdout_writes();
    assert!(!reports.is_empty(), "extract printed nothing");
    let first_report = reports[0];
    // The output's name is durable before the report.
    if trace
        .synced(&out_dir_s, link.exit, first_report.entry)
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
    assert_eq!(std::fs::read(&out).expect("extracted file"), bytes);
    assert!(
        !Path::new(tmp).exists(),
        "the temporary file {tmp} is left behind"
    );
    verify_clean(&env);
}

#[test]
fn export_publishes_the_bundle_then_commits_its_events_then_reports() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let src = env.path("in");
    write(&src.join("a.txt"), b"statement A\n");
    write(&src.join("b.bin"), &noise(5, 1_300_000));
    env.ingest(&[&src]);
    let out: PathBuf = env.path("bundle");
    let (trace, stdout) = traced(
        &env,
        &["export", "--case", CASE, "--out", out.to_str().unwrap()],
    );
    let out_s = out.to_string_lossy().into_owned();
    let parent_s = parent(&out_s);
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
    let renames = head_renames(&trace, &p);
    assert_eq!(
        renames.len(),
        1,
        "export commits once (export and seal together)"
    );
    let commit = check_commit(&trace, &p, 0, renames[0]);
    // The bundle's files and directories are durable before it takes its name.
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
    // Published first (without replacing anything), its name made durable, and only then
    // the events that describe it committed (issue 9, finding 10): no event is ever
    // committed for a bundle that does not exist. Reported after both.
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
// The checks themselves: a real log, made wrong in the ways a durability bug would, must fail.

/// The log with the lines of some operations removed and, optionally, the lines of one
/// operation moved to just before line `to`.
fn edited(t: &Trace, remove: &[&Op], mv: Option<(&Op, usize)>) -> String {
    let mut gone: BTreeSet<usize> = BTreeSet::new();
    for o in remove {
        gone.insert(o.entry);
        gone.insert(o.exit);
    }
    let mut moved = Vec::new();
    if let Some((op, _)) = mv {
        gone.insert(op.entry);
        gone.insert(op.exit);
        moved.push(op.entry);
        if op.exit != op.entry {
            moved.push(op.exit);
        }
    }
    let all: Vec<&str> = t.log.lines().collect();
    let mut out = Vec::new();
    for (i, line) in all.iter().enumerate() {
        if let Some((_, to)) = mv
            && i == to
        {
            out.extend(moved.iter().map(|&m| all[m]));
        }
        if !gone.contains(&i) {
            out.push(*line);
        }
    }
    out.join("\n")
}

fn check_fails(name: &str, log: &str, cwd: &Path, p: &Paths, expected: &str) {
    let t = Trace::parse(log, cwd);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_ingest(&t, p);
    }));
    let Err(panic) = outcome else {
        panic!("the checks accepted a log with {name}");
    };
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains(expected),
        "a log with {name} failed for another reason than {expected:?}:\n{message}"
    );
}

#[test]
fn the_order_checks_reject_logs_that_break_the_order() {
    let env = Env::with_case();
    let p = Paths::of(&env);
    let folder = env.path("seized");
    write_files(
        &folder,
        &[
            ("a.txt", b"a\n".to_vec()),
            ("disk.img", noise(3, 2_500_000)),
        ],
    );
    let (t, _) = traced(&env, &["ingest", "--case", CASE, folder.to_str().unwrap()]);
    let cwd = env.dir.path();
    check_ingest(&t, &p);
    let syncs_of = |f: &dyn Fn(&str) -> bool| -> Vec<&Op> {
        t.ops
            .iter()
            .filter(|o| matches!(&o.kind, Kind::Sync { path } if f(path)))
            .collect()
    };
    let rename = head_renames(&t, &p)[0];
    let ack = t
        .stdout_writes()
        .into_iter()
        .find(|o| !acks_of(o).is_empty())
        .expect("an ack");
    let db_file = format!("{}/db", p.db);

    check_fails(
        "HEAD.tmp never fsynced",
        &edited(&t, &syncs_of(&|path| path == p.head_tmp), None),
        cwd,
        &p,
        "HEAD.tmp renamed over HEAD before it was fsynced",
    );
    let root_syncs_after: Vec<&Op> = syncs_of(&|path| path == p.root)
        .into_iter()
        .filter(|o| o.entry > rename.exit)
        .collect();
    check_fails(
        "no fsync of the archive directory after the HEAD rename",
        &edited(&t, &root_syncs_after, None),
        cwd,
        &p,
        "archive directory",
    );
    check_fails(
        "items reported before the HEAD rename",
        &edited(&t, &[], Some((ack, rename.entry))),
        cwd,
        &p,
        "reported",
    );
    check_fails(
        "the volume's blob files never fsynced",
        &edited(
            &t,
            &syncs_of(&|path| under(path, &p.volumes) && path.contains("/blobs/")),
            None,
        ),
        cwd,
        &p,
        "chunk volumes",
    );
    let root_syncs_before: Vec<&Op> = syncs_of(&|path| path == p.root)
        .into_iter()
        .filter(|o| o.exit < rename.entry)
        .collect();
    check_fails(
        "volumes/ created with no fsync of the archive directory",
        &edited(&t, &root_syncs_before, None),
        cwd,
        &p,
        "volumes/ created",
    );
    check_fails(
        "db/db never fsynced",
        &edited(&t, &syncs_of(&|path| path == db_file), None),
        cwd,
        &p,
        "db/db",
    );
    // A blob file of the volume written only once the batch is committed: its open and its
    // write move after the HEAD rename (the write alone would land where its fd no longer
    // names the file).
    let blob_open = t
        .ops
        .iter()
        .find(|o| {
            matches!(&o.kind, Kind::Open { path, created: true }
                if under(path, &p.volumes) && path.contains("/blobs/"))
        })
        .expect("a blob file of a volume");
    let Kind::Open { path: blob, .. } = &blob_open.kind else {
        unreachable!("found as an open")
    };
    let blob_write = t
        .first_after(
            blob_open.exit,
            |k| matches!(k, Kind::Write { path } if path == blob),
        )
        .expect("the blob file's write");
    let once = Trace::parse(&edited(&t, &[], Some((blob_open, rename.exit + 1))), cwd);
    let write_line = once
        .ops
        .iter()
        .find(|o| o.line == blob_write.line)
        .expect("the write, moved past");
    let renamed = head_renames(&once, &p)[0];
    check_fails(
        "a chunk written after the index records that point at it",
        &edited(&once, &[], Some((write_line, renamed.exit + 2))),
        cwd,
        &p,
        "after the last batch's volumes were made durable",
    );
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
