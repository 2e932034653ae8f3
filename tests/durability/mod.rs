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

mod commands;
mod ingest;
mod order_checks;
mod strace;

use strace::*;

const CASE: &str = "BY-2024-017";

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

    check_db_synced(t, p, window_start, head_open, rename);

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

/// The database: written in this window and fsynced, with db/db and db/ itself, before HEAD.tmp.
fn check_db_synced(t: &Trace, p: &Paths, window_start: usize, head_open: &Op, rename: &Op) {
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

/// The stdout writes that report items, grouped by the HEAD rename whose commit holds them;
/// `None` when no HEAD was written.
fn group_reports<'a>(
    t: &'a Trace,
    p: &Paths,
    renames: &[&'a Op],
) -> Option<Vec<(&'a Op, Reports<'a>)>> {
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
        return None;
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
    Some(groups)
}

/// (1) Chunks first, for one batch: returns the commit's first write to db/, the storer's
/// last fsync of volumes/ before it (if any) and the batch's volume writes.
fn check_chunks_first<'a>(
    t: &'a Trace,
    p: &Paths,
    rename: &'a Op,
    acks: &Reports<'a>,
    (commit_start, chunks_start): (usize, usize),
) -> (&'a Op, Option<&'a Op>, usize) {
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
    (c0, storer_end, vol_writes.len())
}

/// The reported files were read (opened) before the batch's transaction.
fn check_reported_files_read(t: &Trace, rename: &Op, c0: &Op, acks: &Reports) {
    for (w, list) in acks {
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
}

/// Checks "Write order" 1–5 for every batch of a traced ingest and returns the batches.
fn check_ingest<'a>(t: &'a Trace, p: &Paths) -> Vec<Batch<'a>> {
    let renames = head_renames(t, p);
    let Some(groups) = group_reports(t, p, &renames) else {
        return Vec::new();
    };
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
        let (c0, storer_end, volume_writes) =
            check_chunks_first(t, p, rename, &acks, (commit_start, chunks_start));
        if let Some(end) = storer_end {
            chunks_start = end.exit;
        }
        commit_start = rename.exit;
        check_reported_files_read(t, rename, c0, &acks);
        batches.push(Batch {
            commit,
            acks,
            volume_writes,
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
