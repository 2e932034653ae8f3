#!/usr/bin/env python3
"""custodia's long crash loop (issue 5 item 8).

Builds custodia (release), writes a deterministic mixed folder (~60 files: empty, small text,
100 KB-3 MB of noise, duplicates, one 20 MB file), then for N rounds picks an operation at
random (seeded):

  ingest  ~60%  a fresh subfolder: hard links to a random subset of the mixed folder plus files
                new to this round (a note, a capture of 0-6 MB, sometimes 40-700 small
                messages, i.e. several batches), so new items keep appearing
  export  ~20%  the whole case to a new directory
  verify  ~20%  the whole archive

starts it and kills it with SIGKILL after a random delay (0-400 ms; sometimes it finishes
first). A share of rounds (`--finish-share`, default 10%) is let run to completion instead,
so that the checks on finished exports and verifies run too: with a folder this size, an
export or verify takes longer than 400 ms once the case holds it. Such a run still going
after `--hang-seconds` (default 300) is a hang: a failure, with its stacks saved by gdb.
Every item an ingest acknowledged on stdout (`EV-000123  new|duplicate  <16 hex>  <path>`,
whole lines only) is recorded. A finished export must pass `verify --bundle`; a
killed one must leave nothing under its name (or, killed after its final rename, a bundle
that passes `verify --bundle`); its temporary `.NAME.custodia-export-*` directories are
counted. A finished verify must exit 0.

At the end: `verify` must exit 0, and every acknowledged item is checked against `list`
(BLAKE3 prefix, SHA-256 computed here, size) and extracted and compared byte for byte with
every file it was acknowledged for. Prints a summary; exits 1 on any failure.

    python3 benches/crash_loop.py                      # 200 rounds, seed 1
    python3 benches/crash_loop.py --rounds 500 --seed 7
    python3 benches/crash_loop.py --rounds 5 --keep    # a quick look, work dir kept

Python 3 standard library only. Not part of `cargo test`.
"""

import argparse
import filecmp
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20
CASE = "CRASH-LOOP"

WORDS = (
    "the witness stated that on the morning of the protest officers detained several people "
    "near the square and took them to the district department where they were held without "
    "access to a lawyer for two days before a court hearing that lasted ten minutes"
).split()


# ---------------------------------------------------------------- inputs

def text_bytes(rng: random.Random, size: int) -> bytes:
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))) + ".\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def write_noise(path: Path, rng: random.Random, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(rng.randbytes(n))
            left -= n


def make_mixed(root: Path, seed: int) -> list:
    """The mixed folder: 59 files, ~60 MB. Returns the files' paths relative to root."""
    rng = random.Random(seed)
    files = []

    def add(rel: str, data: bytes = None, noise: int = None):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if noise is not None:
            write_noise(p, rng, noise)
        else:
            p.write_bytes(data)
        files.append(rel)

    for i in range(4):
        add(f"empty/empty-{i}.txt", b"")
    for i in range(24):
        add(f"documents/statement-{i:02}.txt", text_bytes(rng, rng.randint(200, 40_000)))
    for i in range(24):
        add(f"photos/IMG_{i:04}.jpg", noise=rng.randint(100_000, 3_000_000))
    for i, src in enumerate(rng.sample(files[4:], 6)):
        add(f"duplicates/copy-{i}-{Path(src).name}", (root / src).read_bytes())
    add("video/interview.mp4", noise=20 * MiB)
    return files


def make_round_folder(base: Path, files: list, dest: Path, rng: random.Random, n: int) -> int:
    """A fresh folder for one ingest round: hard links to a random subset of the mixed folder
    and files new to this round. Returns the number of files in it."""
    chosen = rng.sample(files, rng.randint(1, len(files)))
    for rel in chosen:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(base / rel, target)
        except OSError:
            shutil.copyfile(base / rel, target)
    new = dest / "new"
    new.mkdir(parents=True)
    (new / f"note-{n:04}.txt").write_bytes(
        f"Round {n}: received from the field office.\n".encode() + text_bytes(rng, rng.randint(0, 4000))
    )
    write_noise(new / f"capture-{n:04}.bin", rng,
                rng.choice([0, 1, 5_000, 300_000, 1_500_000, 2_500_000, 6 * MiB + 12_345]))
    # Sometimes more files than one batch (256) holds: an ingest killed after its first batch
    # has acknowledged items that must survive.
    many = rng.choice([0, 0, 0, 40, 300, 700])
    if many:
        (new / "many").mkdir()
        for i in range(many):
            (new / "many" / f"msg-{n:04}-{i:04}.eml").write_bytes(
                f"Message {i} of round {n}\n".encode() + rng.randbytes(rng.randint(0, 1500)))
    return len(chosen) + 2 + many


# ---------------------------------------------------------------- running custodia

def backtrace(pid: int) -> str:
    """The threads' stacks of a hung process, when gdb is there to read them."""
    if not shutil.which("gdb"):
        return "(no gdb: no stacks)"
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 30"],
                       capture_output=True, text=True, timeout=120)
    return "\n".join(line for line in r.stdout.splitlines() if line.startswith(("Thread", "#")))


class Run:
    """A custodia process whose stdout lines and stderr are collected as it writes them."""

    def __init__(self, cmd: list, env: dict):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines = []
        self.err = b""
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            if line.endswith(b"\n"):  # a kill may cut the last line short: only whole lines count
                self.lines.append(line[:-1].decode("utf-8", "replace"))

    def _read_err(self):
        self.err = self.proc.stderr.read()

    def finish(self, kill_after, hang_after: float):
        """Waits up to kill_after seconds (None: up to hang_after), then SIGKILLs.
        Returns (killed, hung, returncode); a run killed because it hung is not "killed"."""
        killed = hung = False
        try:
            self.proc.wait(timeout=hang_after if kill_after is None else kill_after)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                hung = True
                self.stacks = backtrace(self.proc.pid)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            killed = not hung and self.proc.returncode == -signal.SIGKILL
        self.t_out.join()
        self.t_err.join()
        return killed, hung, self.proc.returncode


class Loop:
    def __init__(self, args, custodia: str, work: Path):
        self.args = args
        self.custodia = custodia
        self.work = work
        self.archive = work / "archive"
        self.env = dict(os.environ, CUSTODIA_ACTOR="crash-loop")
        self.env.pop("CUSTODIA_ARCHIVE", None)
        self.failures = []
        self.acks = {}  # id -> {"hash16": str, "paths": set}
        self.ack_lines = 0
        self.kills = 0
        self.started = {"ingest": 0, "export": 0, "verify": 0}
        self.completed = {"ingest": 0, "export": 0, "verify": 0}
        self.killed_export_renamed = 0
        self.leftover_temp = 0
        self.unkilled = 0
        self.acks_from_killed = 0
        self.killed_ingests_with_acks = 0

    def cmd(self, *args) -> list:
        return [self.custodia, "--archive", str(self.archive), *args]

    def run(self, *args) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(self.cmd(*args), capture_output=True, env=self.env,
                                  timeout=self.args.hang_seconds)
        except subprocess.TimeoutExpired:
            self.fail(f"custodia {' '.join(args)} still running after {self.args.hang_seconds:.0f} s (hung)")
            return subprocess.CompletedProcess(args, -1, b"", b"hung")

    def fail(self, what: str):
        self.failures.append(what)
        print(f"FAILURE: {what}", file=sys.stderr, flush=True)

    def record_acks(self, n: int, lines: list, killed: bool):
        for line in lines:
            if not line.startswith("EV-"):
                continue
            tokens = line.split()
            if len(tokens) < 4 or tokens[1] not in ("new", "duplicate") or len(tokens[2]) != 16:
                self.fail(f"round {n}: not an item line: {line!r}")
                continue
            item, hash16, path = tokens[0], tokens[2], " ".join(tokens[3:])
            self.ack_lines += 1
            self.acks_from_killed += killed
            known = self.acks.setdefault(item, {"hash16": hash16, "paths": set()})
            if known["hash16"] != hash16:
                self.fail(f"round {n}: {item} acknowledged with hash {hash16}, earlier {known['hash16']}")
            known["paths"].add(path)

    def temp_exports(self, exports: Path, name: str) -> list:
        return sorted(exports.glob(f".{name}.custodia-export-*"))

    def round(self, n: int, rng: random.Random, base: Path, files: list):
        roll = rng.random()
        op = "ingest" if roll < 0.6 else "export" if roll < 0.8 else "verify"
        delay = rng.uniform(0, self.args.max_delay_ms / 1000)
        if rng.random() < self.args.finish_share:
            delay = None  # this one runs to completion
        self.started[op] += 1
        self.unkilled += delay is None
        if op == "ingest":
            folder = self.work / "rounds" / f"r{n:04}"
            expected = make_round_folder(base, files, folder, rng, n)
            args = ["ingest", "--case", CASE, str(folder)]
        elif op == "export":
            out = self.work / "exports" / f"e{n:04}"
            args = ["export", "--case", CASE, "--out", str(out), "--reason", f"round {n}"]
        else:
            args = ["verify"]
        r = Run(self.cmd(*args), self.env)
        killed, hung, code = r.finish(delay, self.args.hang_seconds)
        self.kills += killed
        stderr = r.err.decode("utf-8", "replace").strip()
        if hung:
            where = REPO / "target" / f"crash-loop-hang-seed{self.args.seed}-round{n}.txt"
            where.parent.mkdir(exist_ok=True)
            where.write_text(f"custodia {' '.join(args)}\n{r.stacks}\n")
            self.fail(f"round {n}: {op} still running after {self.args.hang_seconds:.0f} s "
                      f"(hung; stacks in {where})")
        elif not killed:
            if code == 0:
                self.completed[op] += 1
            else:
                self.fail(f"round {n}: {op} exited {code} without being killed: {stderr[-500:]}")
        if op == "ingest":
            self.record_acks(n, r.lines, killed)
            acked = sum(1 for line in r.lines if line.startswith("EV-"))
            self.killed_ingests_with_acks += killed and acked > 0
            if not killed and code == 0 and acked != expected:
                self.fail(f"round {n}: ingest finished with {acked} items acknowledged of {expected} files")
        elif op == "export":
            temps = self.temp_exports(out.parent, out.name)
            self.leftover_temp += len(temps)
            if out.exists():
                if killed:
                    self.killed_export_renamed += 1  # killed after the final rename: must be whole
                check = subprocess.run([self.custodia, "verify", "--bundle", str(out)],
                                       capture_output=True, env=self.env, timeout=self.args.hang_seconds)
                if check.returncode != 0:
                    self.fail(f"round {n}: bundle {out} ({'killed' if killed else 'finished'} export) "
                              f"fails verify --bundle ({check.returncode}): "
                              f"{check.stdout.decode()[-800:]} {check.stderr.decode()[-300:]}")
            elif not killed and code == 0:
                self.fail(f"round {n}: export exited 0 but {out} does not exist")
            if not self.args.keep:
                for p in temps + ([out] if out.exists() else []):
                    shutil.rmtree(p, ignore_errors=True)
        if self.args.verbose:
            state = "killed" if killed else f"exit {code}"
            when = "unkilled" if delay is None else f"kill at {delay * 1000:3.0f} ms"
            print(f"round {n:4}: {op:6} {when}: {state}"
                  + (f", {sum(1 for line in r.lines if line.startswith('EV-'))} acknowledged"
                     if op == "ingest" else ""), flush=True)

    def final_checks(self):
        v = self.run("--json", "verify")
        if v.returncode != 0:
            self.fail(f"final verify exited {v.returncode}: {v.stdout.decode()[-3000:]} {v.stderr.decode()[-500:]}")
        else:
            checked = json.loads(v.stdout).get("checked", {})
            print(f"final verify: ok ({checked.get('items')} items, {checked.get('contents')} contents, "
                  f"{checked.get('bytes')} bytes, {checked.get('events')} events)", flush=True)
        listing = self.run("--json", "list", "--case", CASE)
        if listing.returncode != 0:
            self.fail(f"list exited {listing.returncode}: {listing.stderr.decode()[-500:]}")
            return
        items = {i["id"]: i for i in json.loads(listing.stdout)["items"]}
        out_dir = self.work / "extracted"
        out_dir.mkdir(exist_ok=True)
        compared = 0
        for item, ack in sorted(self.acks.items()):
            rec = items.get(item)
            if rec is None:
                self.fail(f"{item} was acknowledged but is not in the case")
                continue
            if not rec["blake3"].startswith(ack["hash16"]):
                self.fail(f"{item}: acknowledged as {ack['hash16']}, stored as {rec['blake3']}")
            for path in sorted(ack["paths"]):
                data = Path(path).read_bytes()
                if hashlib.sha256(data).hexdigest() != rec["sha256"] or len(data) != rec["size"]:
                    self.fail(f"{item}: SHA-256/size of the stored item differ from its source {path}")
            out = out_dir / item
            x = self.run("extract", item, "--out", str(out), "--reason", "crash-loop check")
            if x.returncode != 0:
                self.fail(f"extract {item} exited {x.returncode}: {x.stderr.decode()[-500:]}")
                continue
            for path in sorted(ack["paths"]):
                compared += 1
                if not filecmp.cmp(out, path, shallow=False):
                    self.fail(f"{item}: extracted bytes differ from its source {path}")
            out.unlink()
        self.compared = compared


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-delay-ms", type=float, default=400.0)
    ap.add_argument("--finish-share", type=float, default=0.1,
                    help="share of rounds let run to completion (default 0.1)")
    ap.add_argument("--hang-seconds", type=float, default=300.0,
                    help="a run not meant to be killed that takes longer has hung (default 300)")
    ap.add_argument("--work", type=Path, help="work directory (a new temporary one by default)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and leftover bundles")
    ap.add_argument("--no-build", action="store_true", help="use target/release/custodia as it is")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per round")
    args = ap.parse_args()

    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    custodia = str(REPO / "target" / "release" / "custodia")
    work = args.work or Path(tempfile.mkdtemp(prefix="custodia-crash-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    loop = Loop(args, custodia, work)
    try:
        base = work / "mixed"
        files = make_mixed(base, args.seed)
        size = sum((base / f).stat().st_size for f in files)
        print(f"crash loop: {args.rounds} rounds, seed {args.seed}, kill after 0-{args.max_delay_ms:.0f} ms; "
              f"mixed folder {len(files)} files, {size / MiB:.1f} MiB; work {work}", flush=True)
        (work / "exports").mkdir()
        for setup in (["init"], ["case", "create", CASE, "--title", "Crash loop"]):
            r = loop.run(*setup)
            if r.returncode != 0:
                raise SystemExit(f"custodia {' '.join(setup)} failed: {r.stderr.decode()}")
        rng = random.Random(args.seed)
        for n in range(1, args.rounds + 1):
            loop.round(n, rng, base, files)
            if n % 25 == 0 and not args.verbose:
                print(f"  {n} rounds, {loop.kills} kills, {len(loop.acks)} items acknowledged, "
                      f"{len(loop.failures)} failures ({time.monotonic() - start:.0f} s)", flush=True)
        loop.final_checks()
    finally:
        elapsed = time.monotonic() - start
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)

    s, c = loop.started, loop.completed
    print()
    print(f"rounds: {args.rounds} (seed {args.seed}), kills: {loop.kills}, ran to completion: "
          f"{sum(c.values())} (of which {loop.unkilled} not meant to be killed)")
    print(f"completed ops: ingest {c['ingest']}/{s['ingest']}, export {c['export']}/{s['export']}, "
          f"verify {c['verify']}/{s['verify']}")
    print(f"acknowledged: {loop.ack_lines} item lines, {len(loop.acks)} distinct items; "
          f"{getattr(loop, 'compared', 0)} (item, source) pairs extracted and compared byte for byte")
    print(f"acknowledged by ingests that were then killed: {loop.acks_from_killed} item lines "
          f"from {loop.killed_ingests_with_acks} killed ingests")
    print(f"exports killed after their rename (complete bundle under its name): {loop.killed_export_renamed}")
    print(f"leftover export temp dirs (.NAME.custodia-export-*): {loop.leftover_temp}")
    print(f"failures: {len(loop.failures)}")
    for f in loop.failures[:20]:
        print(f"  - {f}")
    print(f"elapsed: {elapsed:.1f} s")
    sys.exit(1 if loop.failures else 0)


if __name__ == "__main__":
    main()
