#!/usr/bin/env python3
"""Checks a custodia bundle's custody proof without custodia: every event's Ed25519
signature, every event in the signed checkpoint's RFC 9162 tree, each time-stamped
checkpoint consistent with it, each item's chain, each revealed value, and that each
evidence.json entry is the one the export event recorded. From the bag's top directory:
python3 data/proof/check.py [TRUSTED_KEY.pub ...]   (needs: pip install cryptography)"""
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

H = lambda b: hashlib.sha256(b).digest()
node = lambda l, r: H(b"\x01" + l + r)
canon = lambda o: json.dumps(o, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
fails, heads = [], {}
lines = lambda path: [l for l in open(path, "rb").read().split(b"\n") if l]
raw_key = lambda openssh: base64.b64decode(openssh.split()[1])[-32:]  # last 32 bytes of the blob
fingerprint = lambda openssh: "SHA256:" + base64.b64encode(H(base64.b64decode(openssh.split()[1]))).decode().rstrip("=")

def ed_ok(raw, msg, sig):
    try: return Ed25519PublicKey.from_public_bytes(raw).verify(sig, msg) is None
    except Exception: return False

def inclusion_ok(index, size, leaf, path, root):  # RFC 9162 2.1.3.2
    if index >= size: return False
    f, s, r = index, size - 1, leaf
    for p in path:
        if s == 0: return False
        if f & 1 or f == s:
            r = node(p, r)
            while not f & 1 and f: f, s = f >> 1, s >> 1
        else: r = node(r, p)
        f, s = f >> 1, s >> 1
    return s == 0 and r == root

def consistency_ok(m, n, old, new, proof):  # RFC 9162 2.1.4.2
    if m == n: return not proof and old == new
    if m == 0 or m > n or not proof and m & (m - 1): return False
    path = ([old] if m & (m - 1) == 0 else []) + proof
    f, s = m - 1, n - 1
    while f & 1: f, s = f >> 1, s >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if s == 0: return False
        if f & 1 or f == s:
            fr, sr = node(c, fr), node(c, sr)
            while not f & 1 and f: f, s = f >> 1, s >> 1
        else: sr = node(sr, c)
        f, s = f >> 1, s >> 1
    return fr == old and sr == new and s == 0

events = {}
for name in ("data/custody.jsonl", "data/proof/keys.jsonl", "data/proof/anchors.jsonl"):
    for raw in lines(name):
        events[json.loads(raw)["seq"]] = raw
keys, signers = {}, set()
for seq in sorted(events):
    e = json.loads(events[seq])
    if e["v"] < 2: continue
    d, fp = e["details"], e["signer"]
    msg, sig = canon({k: v for k, v in e.items() if k != "sig"}), base64.b64decode(e["sig"])
    if e["action"] in ("init", "key_register") and d.get("public_key"):
        if fingerprint(d["public_key"]) != fp: fails.append(f"event {seq}: registers another key")
        k = keys.setdefault(fp, {"raw": raw_key(d["public_key"]), "actors": set(), "revoked": None})
        k["actors"].add(e["actor"])
    k = keys.get(fp)
    if not k or e["actor"] not in k["actors"] or k["revoked"]:
        fails.append(f"event {seq}: signer {fp} may not sign for {e['actor']}")
    elif not ed_ok(k["raw"], msg, sig):
        fails.append(f"event {seq}: signature does not hold")
    signers.add(fp)
    if e["action"] == "key_revoke" and d["fingerprint"] in keys:
        keys[d["fingerprint"]]["revoked"] = seq

note = open("data/proof/checkpoint", encoding="utf-8").read()
body, sigs = note.split("\n\n", 1)
size, root = int(body.split("\n")[1]), base64.b64decode(body.split("\n")[2])
trusted = [raw_key(open(p).read()) for p in sys.argv[1:]]
candidates = trusted or [k["raw"] for k in keys.values()]
good = False
for line in sigs.strip("\n").split("\n"):
    name, blob = line.split(" ")[1], base64.b64decode(line.split(" ")[2])
    for raw in candidates:
        kid = H(name.encode() + b"\n\x01" + raw)[:4]
        good |= kid == blob[:4] and ed_ok(raw, (body + "\n").encode(), blob[4:])
if not good: fails.append("checkpoint: not signed by " + ("a trusted key" if trusted else "a registered key"))
for raw in lines("data/proof/inclusion.jsonl"):
    p = json.loads(raw)
    leaf = H(b"\x00" + events.get(p["seq"], b""))
    if not inclusion_ok(p["seq"] - 1, size, leaf, [bytes.fromhex(h) for h in p["path"]], root):
        fails.append(f"event {p['seq']}: not in the checkpoint's tree")
proved = {json.loads(r)["seq"] for r in lines("data/proof/inclusion.jsonl")}
fails += [f"event {s}: no inclusion proof" for s in events if s not in proved]
for raw in lines("data/proof/consistency.jsonl"):
    c = json.loads(raw)
    old = bytes.fromhex(json.loads(events[c["seq"]])["details"]["checkpoint_root"])
    if not consistency_ok(c["size"], size, old, root, [bytes.fromhex(h) for h in c["proof"]]):
        fails.append(f"time-stamp of event {c['seq']}: its checkpoint is not a prefix of this one")
last = json.loads(lines("data/custody.jsonl")[-1])
if last["action"] != "export" or last["seq"] != size:
    fails.append("checkpoint: it does not end at the export event")
for r in map(json.loads, lines("data/proof/reveals.jsonl")):  # salt, value -> commitment
    e, f, salt = json.loads(events.get(r["seq"], b"{}")), r["field"], bytes.fromhex(r["salt"])
    c = e.get("details", {}).get(f[8:]) if f.startswith("details.") else e.get(f)
    if len(salt) < 16 or c != {"commit": "sha256:" + H(salt + canon(r["value"])).hex()}:
        fails.append(f"event {r['seq']}: its revealed {f} does not open its commitment")
for raw in lines("data/custody.jsonl"):
    e = json.loads(raw)
    for link in e["items"]:
        if link["prev"] != heads.get(link["id"]): fails.append(f"{link['id']}: chain broken")
        heads[link["id"]] = hashlib.sha256(raw).hexdigest()
recorded = last["details"].get("evidence_sha256") or {}
try: entries = json.load(open("data/evidence.json", encoding="utf-8"))["items"]
except Exception as x: entries = []; fails.append(f"data/evidence.json cannot be read: {x}")
for entry in entries:
    i = entry.get("id")
    if i in recorded and hashlib.sha256(canon(entry)).hexdigest() != recorded[i]:
        fails.append(f"{i}: its evidence.json entry is not the one the export event recorded")
print("\n".join(fails) or f"OK: {len(events)} events signed by {len(signers)} key(s), in checkpoint {size}")
sys.exit(1 if fails else 0)
