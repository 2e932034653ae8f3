#!/usr/bin/env python3
"""How custodia's index scales (issue 4, target 7; issue 14, targets 6 and 7): `list --case`
and `show` on an archive holding 100,000 items, or 1,000,000, and the index's size per item.

Ingests N tiny distinct files into case BIG and 10 into case SMALL, then times (median of
5, warm cache) `show` of one item, `list --case SMALL`, and `list --case BIG --json`, each
a whole process run as a user would. Prints a Markdown table. Not part of `cargo test`.

    python3 benches/index_scale.py              # 100,000 items
    python3 benches/index_scale.py --items 5000 # quicker
    python3 benches/index_scale.py --items 1000000  # the 1M run: several minutes, ~6 GB free
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(cmd, env):
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(cmd, env, runs=5):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(cmd, env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    custodia = str(REPO / "target" / "release" / "custodia")
    work = Path(tempfile.mkdtemp(prefix="custodia-index-", dir=args.work))
    env = dict(os.environ, CUSTODIA_ACTOR="bench")
    try:
        big, small, archive = work / "big", work / "small", work / "archive"
        for d in range(args.items // 1000 + 1):
            (big / f"d{d:03}").mkdir(parents=True)
        for i in range(args.items):
            (big / f"d{i // 1000:03}" / f"item-{i:06}.txt").write_bytes(f"statement {i}\n".encode())
        small.mkdir()
        for i in range(10):
            (small / f"small-{i}.txt").write_bytes(f"small case page {i}\n".encode())
        c = [custodia, "--archive", str(archive), "--quiet"]
        run(c + ["init"], env)
        run(c + ["case", "create", "BIG", "--title", "big"], env)
        run(c + ["case", "create", "SMALL", "--title", "small"], env)
        start = time.perf_counter()
        run(c + ["ingest", "--case", "BIG", str(big)], env)
        ingest = time.perf_counter() - start
        run(c + ["ingest", "--case", "SMALL", str(small)], env)
        middle = f"EV-{args.items // 2:06}"
        rows = [
            (f"show {middle}", timed(c + ["show", middle], env)),
            ("list --case SMALL (10 items)", timed(c + ["list", "--case", "SMALL"], env)),
            (f"list --case BIG --json ({args.items:,} items)", timed(c + ["list", "--case", "BIG", "--json"], env)),
        ]
        du = subprocess.run(["du", "-sb", str(archive / "db")], capture_output=True, text=True).stdout.split()[0]
        per_item = int(du) / (args.items + 10)
        print(f"Archive of {args.items + 10:,} items (index database {int(du) / 2**20:,.0f} MiB, "
              f"{per_item / 1000:.2f} KB per item; ingest of the {args.items:,} files took "
              f"{ingest:.1f} s). Median of 5 runs, warm cache, {os.cpu_count()} cores.\n")
        print("| command | median ms |")
        print("|---|---:|")
        for name, secs in rows:
            print(f"| `{name}` | {secs * 1000:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
