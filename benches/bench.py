#!/usr/bin/env python3
"""custodia's side-by-side benchmark (issue 4).

Generates a deterministic, evidence-like corpus, then times, on the same corpus, warm
cache, alternating tools, several runs each:

  limits   cat (read), b3sum 1 thread, openssl sha256, zstd -3 -T1 over a tar, a fsync'd dd write
  peers    borg create (zstd,3, no encryption), borg check --verify-data, restic backup,
           restic check --read-data, restic restore
  custodia ingest, re-ingest (dedup path), verify, verify --read-data-subset 1/7, export of
           the whole case, extract of the largest file
  small    20,000 x 4 KiB files: custodia ingest vs restic backup vs borg create

and prints a Markdown table: median seconds, MB/s, files/s, peak RSS (/usr/bin/time -v)
and each row's ratio to custodia. Nothing here runs in `cargo test`.

    python3 benches/bench.py                 # ~2 GB corpus, 3 runs (needs ~10 GB free in --work)
    python3 benches/bench.py --scale 0.1     # ~200 MB corpus, the linearity check
    python3 benches/bench.py --smoke         # tiny corpus, 1 run: checks the script itself

Needs: cargo, b3sum, openssl, zstd, tar, borg and restic (`.ci/setup --bench` installs them).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20


# ---------------------------------------------------------------- corpus

WORDS = (
    "the witness stated that on the morning of the protest officers detained several people "
    "near the square and took them to the district department where they were held without "
    "access to a lawyer for two days before a court hearing that lasted ten minutes"
).split()


def text_bytes(rng: random.Random, size: int) -> bytes:
    out = []
    n = 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))) + ".\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def write_random(path: Path, rng: random.Random, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(rng.randbytes(n))
            left -= n


def make_corpus(root: Path, scale: float, seed: int = 2024) -> dict:
    """~2 GB at scale 1: one >= 1 GiB video, photos and videos, documents, ~14,000 files, ~10% duplicates."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    files = []
    big = max(int(1024 * MiB * scale), MiB) if scale < 1 else 1024 * MiB + 12345
    (root / "video").mkdir()
    write_random(root / "video" / "detention-2024-03-02.mp4", rng, big)
    files.append(root / "video" / "detention-2024-03-02.mp4")
    n_videos, n_photos, n_docs = int(12 * scale) or 1, int(1800 * scale) or 2, int(10800 * scale) or 5
    for i in range(n_videos):
        p = root / "video" / f"clip-{i:03}.mp4"
        write_random(p, rng, rng.randint(20, 40) * MiB)
        files.append(p)
    (root / "photos").mkdir()
    for i in range(n_photos):
        p = root / "photos" / f"IMG_{i:05}.jpg"
        write_random(p, rng, rng.randint(150, 450) * 1024)
        files.append(p)
    (root / "documents").mkdir()
    for i in range(n_docs):
        p = root / "documents" / f"statement-{i:05}.txt"
        p.write_bytes(text_bytes(rng, rng.randint(1, 24) * 1024))
        files.append(p)
    (root / "duplicates").mkdir()
    for i, src in enumerate(rng.sample(files[1:], max(len(files) // 10, 1))):
        shutil.copyfile(src, root / "duplicates" / f"copy-{i:05}-{src.name}")
    return stats(root)


def make_small(root: Path, count: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    for d in range(count // 1000 + 1):
        (root / f"d{d:03}").mkdir()
    for i in range(count):
        (root / f"d{i // 1000:03}" / f"f{i:05}.bin").write_bytes(rng.randbytes(4096))
    return stats(root)


def stats(root: Path) -> dict:
    n = size = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            n += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return {"files": n, "bytes": size}


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


# ---------------------------------------------------------------- timing

def timed(cmd, env=None, cwd=None, prepare=None, shell=False):
    """Runs cmd under /usr/bin/time -v; returns (seconds, peak RSS KiB)."""
    if prepare:
        prepare()
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-v", "-o", tf.name] + (["bash", "-c", cmd] if shell else cmd)
        start = time.perf_counter()
        r = subprocess.run(full, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        secs = time.perf_counter() - start
        if r.returncode not in (0,):
            raise SystemExit(f"benchmark command failed ({r.returncode}): {cmd}\n{r.stderr.decode()[-2000:]}")
        rss = 0
        for line in open(tf.name):
            if "Maximum resident set size" in line:
                rss = int(line.split(":")[1])
    return secs, rss


class Row:
    def __init__(self, group, name, nbytes, nfiles):
        self.group, self.name, self.nbytes, self.nfiles = group, name, nbytes, nfiles
        self.times, self.rss = [], []

    def add(self, secs, rss):
        self.times.append(secs)
        self.rss.append(rss)

    @property
    def median(self):
        return statistics.median(self.times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="corpus size factor (1.0 = ~2 GB)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--small-files", type=int, default=20000)
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--smoke", action="store_true", help="tiny corpus, one run, peers optional")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--only", default=None,
                    help="run only the rows whose name contains one of these |-separated texts")
    args = ap.parse_args()
    if args.smoke:
        args.scale, args.runs, args.small_files = 0.002, 1, 200

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    custodia = str(REPO / "target" / "release" / "custodia")
    work = Path(tempfile.mkdtemp(prefix="custodia-bench-", dir=args.work))
    have = {t: shutil.which(t) is not None for t in ["b3sum", "openssl", "zstd", "borg", "restic"]}
    missing = [t for t, ok in have.items() if not ok]
    if missing and not args.smoke:
        raise SystemExit(f"missing tools: {', '.join(missing)} (run .ci/setup --bench)")
    try:
        run(args, work, custodia, have)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path, custodia: str, have: dict):
    corpus, small = work / "corpus", work / "small"
    print(f"generating corpus (scale {args.scale}) in {work} ...", file=sys.stderr)
    c = make_corpus(corpus, args.scale)
    s = make_small(small, args.small_files)
    largest = corpus / "video" / "detention-2024-03-02.mp4"
    big = os.path.getsize(largest)
    env = dict(os.environ, CUSTODIA_ACTOR="bench", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
               BORG_RELOCATED_REPO_ACCESS_IS_OK="yes", RESTIC_PASSWORD="bench", BORG_PASSPHRASE="")
    subprocess.run(["cat"] + [str(p) for p in corpus.rglob("*") if p.is_file()][:1], stdout=subprocess.DEVNULL)
    subprocess.run(f"tar -cf - -C {work} corpus > /dev/null", shell=True, check=True)  # warm the cache

    cb, cf = c["bytes"], c["files"]
    rows = []

    def row(group, name, nbytes, nfiles, cmd, prepare=None, shell=False, cwd=None):
        r = Row(group, name, nbytes, nfiles)
        rows.append((r, cmd, prepare, shell, cwd))
        return r

    A = work / "archive"
    B = work / "borg"
    R = work / "restic"

    def fresh_custodia():
        shutil.rmtree(A, ignore_errors=True)
        subprocess.run([custodia, "--archive", str(A), "--quiet", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([custodia, "--archive", str(A), "--quiet", "case", "create", "BENCH", "--title", "bench"],
                       env=env, check=True, stdout=subprocess.DEVNULL)

    def custodia_ingested():
        fresh_custodia()
        subprocess.run([custodia, "--archive", str(A), "--quiet", "ingest", "--case", "BENCH", str(corpus)],
                       env=env, check=True, stdout=subprocess.DEVNULL)

    def rm(p):
        return lambda: shutil.rmtree(p, ignore_errors=True)

    def fresh_borg():
        shutil.rmtree(B, ignore_errors=True)
        subprocess.run(["borg", "init", "--encryption=none", str(B)], env=env, check=True, capture_output=True)

    def borg_created():
        fresh_borg()
        subprocess.run(["borg", "create", "--compression", "zstd,3", f"{B}::a", str(corpus)], env=env, check=True,
                       capture_output=True)

    def fresh_restic():
        shutil.rmtree(R, ignore_errors=True)
        subprocess.run(["restic", "init", "--repo", str(R)], env=env, check=True, capture_output=True)

    def restic_backed_up():
        fresh_restic()
        subprocess.run(["restic", "--repo", str(R), "backup", "--quiet", str(corpus)], env=env, check=True,
                       capture_output=True)

    # limits
    row("limit", "read (cat)", cb, cf, f"find {corpus} -type f -print0 | xargs -0 cat > /dev/null", shell=True)
    if have["b3sum"]:
        row("limit", "BLAKE3, 1 thread (b3sum)", cb, cf,
            f"find {corpus} -type f -print0 | xargs -0 b3sum --no-mmap --num-threads 1 > /dev/null", shell=True)
    if have["openssl"]:
        row("limit", "SHA-256 (openssl)", cb, cf,
            f"find {corpus} -type f -print0 | xargs -0 openssl dgst -sha256 > /dev/null", shell=True)
    if have["zstd"]:
        row("limit", "zstd -3 -T1 over tar", cb, cf, f"tar -cf - -C {work} corpus | zstd -3 -T1 -q -c > /dev/null",
            shell=True)
    row("limit", "fsync'd write (dd)", cb, 1,
        f"dd if=/dev/zero of={work}/dd.out bs=8M count={max(cb // (8 * MiB), 1)} conv=fsync status=none; rm {work}/dd.out",
        shell=True)
    # peers
    if have["borg"]:
        row("peer", "borg create --compression zstd,3", cb, cf,
            ["borg", "create", "--compression", "zstd,3", f"{B}::a", str(corpus)], prepare=fresh_borg)
        row("peer", "borg check --verify-data", cb, cf, ["borg", "check", "--verify-data", str(B)],
            prepare=borg_created)
    if have["restic"]:
        row("peer", "restic backup", cb, cf, ["restic", "--repo", str(R), "backup", "--quiet", str(corpus)],
            prepare=fresh_restic)
        row("peer", "restic check --read-data", cb, cf, ["restic", "--repo", str(R), "check", "--read-data"],
            prepare=restic_backed_up)
        row("peer", "restic restore", cb, cf,
            ["restic", "--repo", str(R), "restore", "latest", "--target", str(work / "restored")],
            prepare=lambda: (restic_backed_up(), shutil.rmtree(work / "restored", ignore_errors=True)))
    # custodia
    cust = [custodia, "--archive", str(A), "--quiet"]
    ing = row("custodia", "custodia ingest", cb, cf, cust + ["ingest", "--case", "BENCH", str(corpus)],
              prepare=fresh_custodia)
    row("custodia", "custodia ingest again (dedup)", cb, cf, cust + ["ingest", "--case", "BENCH", str(corpus)],
        prepare=custodia_ingested)
    ver = row("custodia", "custodia verify", cb, cf, cust + ["verify"], prepare=custodia_ingested)
    # A scheduled audit's nightly share: its bytes are about a seventh of the corpus.
    row("custodia", "custodia verify --read-data-subset 1/7", cb // 7, cf // 7,
        cust + ["verify", "--read-data-subset", "1/7"], prepare=custodia_ingested)
    exp = row("custodia", "custodia export (whole case)", cb, cf,
              cust + ["export", "--case", "BENCH", "--out", str(work / "bundle")],
              prepare=lambda: (custodia_ingested(), shutil.rmtree(work / "bundle", ignore_errors=True)))
    def largest_first():
        # The largest file ingested on its own first, so that it is EV-000001.
        fresh_custodia()
        subprocess.run([custodia, "--archive", str(A), "--quiet", "ingest", "--case", "BENCH", str(largest)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        Path(work / "extracted.bin").unlink(missing_ok=True)

    row("custodia", "custodia extract (largest file)", big, 1,
        cust + ["extract", "EV-000001", "--out", str(work / "extracted.bin")], prepare=largest_first)
    # small files
    sb, sf = s["bytes"], s["files"]
    small_ing = row("small", "custodia ingest, 4 KiB files", sb, sf, cust + ["ingest", "--case", "BENCH", str(small)],
                    prepare=fresh_custodia)
    if have["restic"]:
        small_restic = row("small", "restic backup, 4 KiB files", sb, sf,
                           ["restic", "--repo", str(R), "backup", "--quiet", str(small)], prepare=fresh_restic)
    if have["borg"]:
        row("small", "borg create, 4 KiB files", sb, sf,
            ["borg", "create", "--compression", "zstd,3", f"{B}::s", str(small)], prepare=fresh_borg)

    if args.only:
        rows = [r for r in rows if any(t in r[0].name for t in args.only.split("|"))]
        if not rows:
            raise SystemExit(f"no row matches --only {args.only!r}")
        for i in range(args.runs):
            for r, cmd, prepare, shell, cwd in rows:
                print(f"run {i + 1}/{args.runs}: {r.name}", file=sys.stderr)
                r.add(*timed(cmd, env=env, prepare=prepare, shell=shell, cwd=cwd))
        print("| what | median s | MB/s | files/s | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|")
        for r, *_ in rows:
            print(f"| {r.name} | {r.median:.2f} | {r.nbytes / 1e6 / r.median:,.0f} | "
                  f"{r.nfiles / r.median:,.0f} | {max(r.rss) / 1024:.0f} |")
        return

    # alternate: every tool once per round
    for i in range(args.runs):
        for r, cmd, prepare, shell, cwd in rows:
            print(f"run {i + 1}/{args.runs}: {r.name}", file=sys.stderr)
            r.add(*timed(cmd, env=env, prepare=prepare, shell=shell, cwd=cwd))

    # sizes on disk
    custodia_ingested()
    size_custodia = du(A)
    subprocess.run(cust + ["ingest", "--case", "BENCH", str(corpus)], env=env, check=True, stdout=subprocess.DEVNULL)
    size_custodia_again = du(A)
    size_borg = None
    if have["borg"]:
        fresh_borg()
        subprocess.run(["borg", "create", "--compression", "zstd,3", f"{B}::a", str(corpus)], env=env, check=True)
        size_borg = du(B)
    size_restic = None
    if have["restic"]:
        restic_backed_up()
        size_restic = du(R)

    ref = {"limit": ing, "peer": None, "custodia": None, "small": small_ing}
    print(report(rows, c, s, ref, ing, ver, exp, size_custodia, size_custodia_again, size_borg, size_restic, args))


def report(rows, c, s, ref, ing, ver, exp, sz, sz2, szb, szr, args):
    peers = {r.name: r for r, *_ in rows}
    out = []
    out.append(f"Corpus: {c['files']:,} files, {c['bytes'] / 1e9:.2f} GB (scale {args.scale}); "
               f"small set: {s['files']:,} files of 4 KiB. Median of {args.runs} run(s), warm cache, "
               f"tools alternating. Machine: {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB.\n")
    out.append("| what | median s | MB/s | files/s | peak RSS MiB | custodia's speed vs this |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for r, *_ in rows:
        mbs = r.nbytes / 1e6 / r.median
        fps = r.nfiles / r.median
        versus = ""
        match = {
            "borg create --compression zstd,3": ing, "restic backup": ing,
            "restic check --read-data": ver, "borg check --verify-data": ver, "restic restore": exp,
            "restic backup, 4 KiB files": peers.get("custodia ingest, 4 KiB files"),
            "borg create, 4 KiB files": peers.get("custodia ingest, 4 KiB files"),
        }.get(r.name)
        if match is not None:
            versus = f"{r.median / match.median:.2f}x"
        out.append(f"| {r.name} | {r.median:.2f} | {mbs:,.0f} | {fps:,.0f} | {max(r.rss) / 1024:.0f} | {versus} |")
    out.append("")
    out.append(f"Archive size after ingest: custodia {sz / 1e6:,.0f} MB"
               + (f", borg {szb / 1e6:,.0f} MB (custodia/borg = {sz / szb:.2f})" if szb else "")
               + (f", restic {szr / 1e6:,.0f} MB" if szr else "")
               + f"; after a second ingest of the same corpus: custodia grew by {100 * (sz2 - sz) / sz:.2f}%.")
    return "\n".join(out)


if __name__ == "__main__":
    main()
