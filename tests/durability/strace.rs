//! Running custodia under `strace -f` and reading its log: the system calls, their arguments
//! and results, and the questions the order checks ask of them (written? synced? renamed?).

use super::*;

pub(super) const TRACED: &str = "openat,close,write,writev,pwrite64,pwritev,pwritev2,fsync,fdatasync,\
sync_file_range,rename,renameat,renameat2,mkdir,mkdirat,link,linkat,unlink,unlinkat";

// ---------------------------------------------------------------------------------------------
// Reading an strace log.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
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
pub(super) struct Op {
    pub(super) entry: usize,
    pub(super) exit: usize,
    pub(super) kind: Kind,
    /// The written bytes (for writes), as far as strace printed them.
    pub(super) bytes: Vec<u8>,
    pub(super) truncated: bool,
    pub(super) line: String,
    /// The thread that made the call.
    pub(super) tid: String,
}

pub(super) enum Arg {
    Str { bytes: Vec<u8>, truncated: bool },
    Other(String),
}

impl Arg {
    pub(super) fn text(&self) -> String {
        match self {
            Arg::Str { bytes, .. } => text(bytes),
            Arg::Other(s) => s.clone(),
        }
    }
}

/// A C string literal as strace prints it, from the byte after its opening quote: its bytes
/// with the escapes undone, `*at` moved past the closing quote; `None` if the call ends inside it.
fn c_string(call: &str, at: &mut usize) -> Option<Vec<u8>> {
    let b = call.as_bytes();
    let mut i = *at;
    let mut bytes = Vec::new();
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
    *at = i;
    Some(bytes)
}

/// Splits `name(arg, arg, ...) = ret ...` into its parts; `None` for a call with no numeric result.
pub(super) fn parse_call(call: &str) -> Option<(String, Vec<Arg>, i64)> {
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
                i += 1;
                let bytes = c_string(call, &mut i)?;
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

/// A path as the traced command meant it: relative ones against its working directory.
fn absolute(cwd: &Path, p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        cwd.join(p).to_string_lossy().into_owned()
    }
}

/// One log line as (pid, line the call began on, the whole call), an `<unfinished ...>` call
/// joined with its `resumed>`; `None` for a line that completes no call.
fn whole_call<'l>(
    line: &'l str,
    pos: usize,
    pending: &mut HashMap<String, (usize, String)>,
) -> Option<(&'l str, usize, String)> {
    // `PID TIME CALL`; strace pads short pids with spaces.
    let (pid, rest) = line.trim_start().split_once(' ')?;
    let (_time, rest) = rest.trim_start().split_once(' ')?;
    let rest = rest.trim();
    let (entry, call) = if let Some(resumed) = rest.strip_prefix("<... ") {
        let (_, tail) = resumed.split_once(" resumed>")?;
        let (entry, head) = pending.remove(pid)?;
        (entry, format!("{head}{tail}"))
    } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
        pending.insert(pid.to_owned(), (pos, head.to_owned()));
        return None;
    } else if rest.starts_with("+++") || rest.starts_with("---") {
        return None;
    } else {
        (pos, rest.to_owned())
    };
    Some((pid, entry, call))
}

/// What a successful call did, with the bytes it wrote and whether strace cut them short,
/// keeping `fds` up to date; `None` for a call the checks do not look at.
fn kind_of(
    name: &str,
    args: &[Arg],
    ret: i64,
    fds: &mut HashMap<i64, String>,
    cwd: &Path,
) -> Option<(Kind, Vec<u8>, bool)> {
    let fd_path = |fds: &HashMap<i64, String>, a: Option<&Arg>| -> String {
        let n: i64 = a
            .map(|a| a.text())
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        fds.get(&n).cloned().unwrap_or_else(|| format!("<fd {n}>"))
    };
    let str_at = |i: usize| {
        args.get(i)
            .map(|a| absolute(cwd, &a.text()))
            .unwrap_or_default()
    };
    let mut bytes = Vec::new();
    let mut truncated = false;
    let kind = match name {
        "openat" => {
            if args.first().map(Arg::text).as_deref() != Some("AT_FDCWD") {
                return None;
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
            return None;
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
                path: fd_path(fds, args.first()),
            }
        }
        "fsync" | "fdatasync" => Kind::Sync {
            path: fd_path(fds, args.first()),
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
        _ => return None,
    };
    Some((kind, bytes, truncated))
}

/// The log of one traced command, as operations on paths.
pub(super) struct Trace {
    pub(super) ops: Vec<Op>,
    pub(super) log: String,
}

impl Trace {
    pub(super) fn parse(log: &str, cwd: &Path) -> Trace {
        let mut fds: HashMap<i64, String> = HashMap::new();
        fds.insert(1, "<stdout>".into());
        fds.insert(2, "<stderr>".into());
        let mut pending: HashMap<String, (usize, String)> = HashMap::new();
        let mut ops = Vec::new();
        for (pos, line) in log.lines().enumerate() {
            let Some((pid, entry, call)) = whole_call(line, pos, &mut pending) else {
                continue;
            };
            let Some((name, args, ret)) = parse_call(&call) else {
                continue;
            };
            if ret < 0 {
                continue;
            }
            let Some((kind, bytes, truncated)) = kind_of(&name, &args, ret, &mut fds, cwd) else {
                continue;
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
    pub(super) fn fail(&self, what: &str, around: &[&Op]) -> ! {
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
    pub(super) fn between(&self, after: usize, before: usize) -> impl Iterator<Item = &Op> {
        self.ops
            .iter()
            .filter(move |o| o.entry > after && o.exit < before)
    }

    pub(super) fn writes_under(&self, dir: &str, after: usize, before: usize) -> Vec<&Op> {
        self.between(after, before)
            .filter(|o| matches!(&o.kind, Kind::Write { path } if under(path, dir)))
            .collect()
    }

    /// Files and directories created under `dir` (by open with O_CREAT, mkdir, rename or link).
    pub(super) fn created_under(
        &self,
        dir: &str,
        after: usize,
        before: usize,
    ) -> Vec<(&Op, String)> {
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
    pub(super) fn synced(&self, path: &str, after: usize, before: usize) -> Option<&Op> {
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
    pub(super) fn check_synced_under(
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
    pub(super) fn at(&self, pos: usize) -> &Op {
        self.ops
            .iter()
            .find(|o| o.entry == pos || o.exit == pos)
            .expect("a position of an operation")
    }

    pub(super) fn last_before(&self, before: usize, f: impl Fn(&Kind) -> bool) -> Option<&Op> {
        self.ops
            .iter()
            .filter(|o| o.exit < before && f(&o.kind))
            .last()
    }

    pub(super) fn first_after(&self, after: usize, f: impl Fn(&Kind) -> bool) -> Option<&Op> {
        self.ops.iter().find(|o| o.entry > after && f(&o.kind))
    }

    pub(super) fn stdout_writes(&self) -> Vec<&Op> {
        self.ops
            .iter()
            .filter(|o| matches!(&o.kind, Kind::Write { path } if path == "<stdout>"))
            .collect()
    }
}

pub(super) fn under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

pub(super) fn parent(path: &str) -> String {
    Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Running custodia under strace.

/// Runs `custodia ARGS` on the env's archive under strace; asserts exit 0; returns the trace
/// and stdout.
pub(super) fn traced(env: &Env, args: &[&str]) -> (Trace, String) {
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
        .env("XDG_CONFIG_HOME", env.config_home())
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
