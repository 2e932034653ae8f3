#!/usr/bin/env python3
"""An independent check of a custodia bundle's custody chain, with json and hashlib only.

Usage: check_custody.py BAG

Follows the rule in the bundle's data/README-VERIFY.txt, written without custodia's code:
- data/custody.jsonl is one event per line, each line the exact bytes of the event, the
  file ending with a newline; events stand oldest first (their "seq" strictly increases);
  each names at least one exported item (the file holds the exported items' events only);
- for each exported item (the ids of data/evidence.json), the first event whose "items"
  list names it has "prev": null in its entry for that item, and every later one has
  "prev" equal to the lower-case hex SHA-256 of the exact bytes (without the newline) of
  the item's previous event; lines may also name items that were not exported (an earlier
  export of more items), whose chains a bundle does not carry, so those are not followed;
- the last line is the "export" event, names exactly the exported items, and its SHA-256
  is the Custodia-Custody-Head of bag-info.txt.

Prints "OK" and exits 0 when the chain holds; otherwise prints one "FAIL: ..." line per
failure and exits 1.
"""

import hashlib
import json
import os
import sys


def custody_head(bag):
    with open(os.path.join(bag, "bag-info.txt"), "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            label, sep, value = line.partition(":")
            if sep and label.strip() == "Custodia-Custody-Head":
                return value.strip()
    return None


def exported_ids(bag):
    with open(os.path.join(bag, "data", "evidence.json"), "rb") as f:
        evidence = json.loads(f.read().decode("utf-8"))
    return {item["id"] for item in evidence["items"]}


def check(bag):
    try:
        exported = exported_ids(bag)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, KeyError, TypeError) as e:
        return ["data/evidence.json does not list the exported items: %s" % e]
    with open(os.path.join(bag, "data", "custody.jsonl"), "rb") as f:
        data = f.read()
    if not data.endswith(b"\n"):
        return ["data/custody.jsonl does not end with a newline"]
    failures = []
    heads = {}  # exported item id -> hex SHA-256 of its newest event's line
    last_seq = None
    last = None  # (event, digest) of the last line, if it parsed
    for n, line in enumerate(data[:-1].split(b"\n"), start=1):
        digest = hashlib.sha256(line).hexdigest()
        try:
            event = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            failures.append("line %d is not a JSON event: %s" % (n, e))
            last = None
            continue
        if not isinstance(event, dict) or not isinstance(event.get("items"), list):
            failures.append("line %d has no items list" % n)
            last = None
            continue
        seq = event.get("seq")
        if not isinstance(seq, int) or (last_seq is not None and seq <= last_seq):
            failures.append("line %d: seq %r does not follow %r" % (n, seq, last_seq))
        if isinstance(seq, int):
            last_seq = seq
        ids = [l.get("id") for l in event["items"] if isinstance(l, dict)]
        if not any(isinstance(i, str) and i in exported for i in ids):
            failures.append("line %d is not an event of any exported item" % n)
        for link in event["items"]:
            item = link.get("id") if isinstance(link, dict) else None
            if not isinstance(item, str) or item not in exported:
                continue
            if link.get("prev") != heads.get(item):
                failures.append("line %d: prev of %s is not its previous event" % (n, item))
            heads[item] = digest
        last = (event, digest)
    if last is None:
        failures.append("the last line is not a readable event")
        return failures
    event, digest = last
    if event.get("action") != "export":
        failures.append("the last event is not the export")
    named = {l.get("id") for l in event["items"] if isinstance(l, dict) and isinstance(l.get("id"), str)}
    if named != exported:
        failures.append("the export event does not name exactly the exported items")
    if digest != custody_head(bag):
        failures.append("the last line is not bag-info's Custodia-Custody-Head")
    return failures


def main():
    if len(sys.argv) != 2:
        print("usage: check_custody.py BAG", file=sys.stderr)
        return 2
    failures = check(sys.argv[1])
    for f in failures:
        print("FAIL: " + f)
    if not failures:
        print("OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
