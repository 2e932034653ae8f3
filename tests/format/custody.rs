//! The custody log by hand: canonical encoding, both hash chains, and the index rebuilt
//! from the log.

use super::*;

// ---------------------------------------------------------------------------------------
// The custody log, checked with serde_json, sha2, base64 and ed25519-dalek only.

/// docs/FORMAT.md, "Signed events": the signature is Ed25519 over the canonical bytes of
/// the event without `sig`, by the key an earlier (or this, for a registration) event
/// registers for the event's actor under the fingerprint `signer`.
fn check_signature(e: &Value, signers: &mut HashMap<String, [u8; 32]>) {
    use base64::Engine as _;
    let signer = e["signer"].as_str().expect("signer").to_owned();
    if let Some(public) = e["details"]["public_key"].as_str() {
        assert!(matches!(
            e["action"].as_str(),
            Some("init" | "key_register")
        ));
        assert_eq!(decode::openssh_fingerprint(public), signer);
        assert_eq!(e["details"]["fingerprint"], signer.as_str());
        signers.insert(signer.clone(), decode::ed25519_from_openssh(public));
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(&signers[&signer]).unwrap();
    let mut unsigned = e.clone();
    unsigned.as_object_mut().unwrap().remove("sig");
    let message = serde_json::to_vec(&unsigned).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(e["sig"].as_str().expect("sig"))
        .unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&sig.try_into().unwrap());
    key.verify_strict(&message, &sig)
        .unwrap_or_else(|_| panic!("event {} is not signed by {signer}", e["seq"]));
}

/// Event number `n` of the log (0-based) has seq n + 1, is signed (v 2), is stored as its
/// canonical JSON with no newline, and has exactly the documented fields.
fn check_canonical(n: usize, seq: &u64, bytes: &Vec<u8>, e: &Value) {
    assert_eq!(*seq, n as u64 + 1, "seq runs from 1 without gaps");
    assert_eq!(e["seq"], *seq);
    assert_eq!(e["v"], 2, "every event this release writes is signed");
    let canonical = serde_json::to_vec(e).unwrap();
    assert_eq!(
        &canonical,
        bytes,
        "event {seq} is canonical JSON: {}",
        String::from_utf8_lossy(bytes)
    );
    assert!(!bytes.ends_with(b"\n"));
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys, SIGNED_EVENT_FIELDS,
        "event {seq}: exactly the documented fields"
    );
}

/// The event's time is UTC with microseconds, its actor the tests' one, its tool custodia.
fn check_time_actor_tool(e: &Value) {
    let time = e["time"].as_str().unwrap();
    assert_eq!(time.len(), "2024-03-04T10:05:41.123456Z".len(), "{time}");
    assert!(time.ends_with('Z'));
    assert_eq!(e["actor"], "tester");
    assert!(e["tool"].as_str().unwrap().starts_with("custodia "));
}

/// The per-item chain: each of the event's `items` is exactly `{id, prev}`, `prev` the digest
/// of the item's previous event (null for its first); the event (of digest `digest`) becomes
/// the head of each.
fn link_items(seq: &u64, e: &Value, digest: &str, item_heads: &mut HashMap<String, String>) {
    for link in e["items"].as_array().unwrap() {
        let keys: Vec<&str> = link
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["id", "prev"]);
        let id = link["id"].as_str().unwrap().to_owned();
        assert_eq!(
            link["prev"],
            item_heads
                .get(&id)
                .cloned()
                .map_or(Value::Null, Value::String),
            "event {seq}: items[].prev of {id}"
        );
        item_heads.insert(id, digest.to_owned());
    }
}

/// The log starts with `init` and holds each action of the scenario as many times as it ran.
fn check_action_counts(actions: &[String]) {
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(actions[0], "init");
    assert_eq!(
        [
            count("case_create"),
            count("ingest"),
            count("acquire"),
            count("link"),
            count("extract"),
            count("export"),
            count("seal"),
            count("verify")
        ],
        [2, 12, 1, 1, 1, 1, 1, 1]
    );
}

/// HEAD names the last event; the index's item heads match the walk.
fn check_heads(
    s: &Scenario,
    db: &sled::Db,
    last: &(u64, Vec<u8>, Value),
    item_heads: &HashMap<String, String>,
) {
    let (last_seq, last_bytes, _) = last;
    let head = std::fs::read_to_string(s.env.archive.join("HEAD")).unwrap();
    assert_eq!(
        head,
        format!("seq {last_seq}\nsha256 {}\n", sha256_hex(last_bytes))
    );
    let index = tree_map(db, "index");
    for (id, digest) in item_heads {
        let mut key = vec![b'H'];
        key.extend(be(ev_number(id)));
        let value = &index[&key];
        assert_eq!(value[0], RECORD_VERSION, "H entry of {id}: version byte");
        assert_eq!(hex::encode(&value[1..]), *digest, "H entry of {id}");
    }
}

#[test]
fn the_custody_log_is_canonical_and_both_chains_link() {
    let s = Scenario::build();
    let db = s.db();
    let log = events(&db);
    let mut prev: Option<String> = None;
    let mut item_heads: HashMap<String, String> = HashMap::new();
    let mut actions = Vec::new();
    let mut signers = HashMap::new();
    for (n, (seq, bytes, e)) in log.iter().enumerate() {
        check_canonical(n, seq, bytes, e);
        check_signature(e, &mut signers);
        assert_eq!(e["prev"], prev.clone().map_or(Value::Null, Value::String));
        check_time_actor_tool(e);
        let digest = sha256_hex(bytes);
        link_items(seq, e, &digest, &mut item_heads);
        prev = Some(digest);
        actions.push(e["action"].as_str().unwrap().to_owned());
    }
    check_action_counts(&actions);
    check_heads(&s, &db, log.last().unwrap(), &item_heads);
}

/// An event with its committed fields replaced by the values its `openings` record (01 ‖
/// canonical JSON) gives, each checked by hand: SHA-256(salt ‖ canonical value) is the
/// event's `{"commit":"sha256:…"}` (docs/FORMAT.md, "Commitments").
fn opened_by_hand(mut e: Value, record: Option<&Vec<u8>>) -> Value {
    let Some(record) = record else {
        return e;
    };
    assert_eq!(record[0], RECORD_VERSION, "openings record version");
    let openings: Value = serde_json::from_slice(&record[1..]).expect("openings JSON");
    for (path, opening) in openings.as_object().unwrap() {
        let salt = hex::decode(opening["salt"].as_str().unwrap()).unwrap();
        assert!(salt.len() >= 16, "{path}: a 16-byte salt");
        let value = &opening["value"];
        let digest = Sha256::digest([salt, serde_json::to_vec(value).unwrap()].concat());
        let slot = match path.strip_prefix("details.") {
            Some(key) => &mut e["details"][key],
            None => &mut e[path.as_str()],
        };
        assert_eq!(
            slot["commit"],
            format!("sha256:{}", hex::encode(digest)),
            "{path} opens its commitment"
        );
        *slot = value.clone();
    }
    e
}

/// An index key: its parts concatenated.
fn ikey(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A `k` value: the record of an EvidenceId, 01 ‖ u64 LE.
fn k_record(id: u64) -> Vec<u8> {
    [&[RECORD_VERSION][..], &id.to_le_bytes()].concat()
}

/// The value of an index entry that is only a marker.
fn marker() -> Vec<u8> {
    vec![RECORD_VERSION]
}

/// One custody event, as the replay reads it.
struct Event<'e> {
    seq: &'e u64,
    e: &'e Value,
    d: &'e Value,
    case: &'e [u8],
    ids: Vec<u64>,
}

/// The records and index entries the custody log implies, built event by event.
struct Replay<'a> {
    s: &'a Scenario,
    items: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    cases: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    index: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    want: BTreeMap<Vec<u8>, Vec<u8>>,
    want_cases: BTreeSet<Vec<u8>>,
    want_items: BTreeSet<Vec<u8>>,
    export_seq: Option<u64>,
    /// Each annotated item's current values: source, note, tags, captured_at.
    now: BTreeMap<u64, Current>,
}

type Current = (Option<String>, Option<String>, Vec<String>, Option<String>);

/// A string as records lay it out: u64 LE length, then the UTF-8 bytes.
fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// An option as records lay it out: 0, or 1 and the value.
fn put_option(out: &mut Vec<u8>, s: &Option<String>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_string(out, s);
        }
    }
}

impl Replay<'_> {
    /// Every event's e entries and the H (head) entry of each item it names.
    fn chain(&mut self, seq: &u64, bytes: &[u8], ids: &[u64]) {
        for id in ids {
            self.want
                .insert(ikey(&[b"e", &be(*id), &be(*seq)]), marker());
            let mut head = vec![RECORD_VERSION];
            head.extend(Sha256::digest(bytes));
            self.want.insert(ikey(&[b"H", &be(*id)]), head);
        }
    }

    /// A case_create event: the case record, from its details.
    fn case_create(&mut self, event: Event) {
        let Event {
            seq, e, d, case, ..
        } = event;
        let c = decode_case(&self.cases[case]);
        assert_eq!(c.id.as_bytes(), case);
        assert_eq!(c.title, d["title"].as_str().unwrap());
        assert_eq!(c.description.as_deref(), d["description"].as_str());
        assert_eq!(
            (c.created_at.as_str(), c.actor.as_str()),
            (e["time"].as_str().unwrap(), e["actor"].as_str().unwrap())
        );
        assert_eq!(c.seq, *seq);
        self.want_cases.insert(case.to_vec());
    }

    /// An ingest event: the item record from its details; its c, i, h, k, t and p entries.
    fn ingest(&mut self, event: Event) {
        let Event {
            seq,
            e,
            d,
            case,
            ids,
        } = event;
        let id = ids[0];
        let item = decode_item(&self.items[&be(id).to_vec()]);
        assert_eq!(item.id, id);
        assert_eq!(hex::encode(item.blake3), d["blake3"].as_str().unwrap());
        assert_eq!(hex::encode(item.sha256), d["sha256"].as_str().unwrap());
        assert_eq!(item.size, d["size"].as_u64().unwrap());
        assert_eq!(hex::encode(&item.name), d["name_hex"].as_str().unwrap());
        assert_eq!(hex::encode(&item.path), d["path_hex"].as_str().unwrap());
        assert_eq!(item.name, d["name"].as_str().unwrap().as_bytes());
        assert_eq!(item.source.as_deref(), d["source"].as_str());
        assert_eq!(item.note.as_deref(), d["note"].as_str());
        assert_eq!(item.captured_at.as_deref(), d["captured_at"].as_str());
        assert_eq!(item.modified_at.as_deref(), d["modified_at"].as_str());
        assert_eq!(item.parent.map(ev), d["parent"].as_str().map(String::from));
        let tags: Vec<&str> = d["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(item.tags, tags);
        assert_eq!(item.ingested_at, e["time"].as_str().unwrap());
        assert_eq!(item.actor, e["actor"].as_str().unwrap());
        assert_eq!(item.case.as_bytes(), case);
        assert_eq!(item.seq, *seq);
        self.want_items.insert(be(id).to_vec());

        // LinkRecord { linked_at: String, seq: u64 }, laid out by hand.
        let linked_at = e["time"].as_str().unwrap();
        let mut c_value = vec![RECORD_VERSION];
        c_value.extend((linked_at.len() as u64).to_le_bytes());
        c_value.extend(linked_at.as_bytes());
        c_value.extend(seq.to_le_bytes());
        self.want
            .insert(ikey(&[b"c", case, &[0], &be(id)]), c_value);
        self.want.insert(ikey(&[b"i", &be(id), case]), marker());
        self.want
            .insert(ikey(&[b"h", &item.blake3, &be(id)]), marker());
        self.want
            .insert(ikey(&[b"k", case, &[0], &item.blake3]), k_record(id));
        for tag in &item.tags {
            self.want
                .insert(ikey(&[b"t", tag.as_bytes(), &[0], &be(id)]), marker());
        }
        if let Some(parent) = item.parent {
            self.want
                .insert(ikey(&[b"p", &be(parent), &be(id)]), marker());
        }
    }

    /// A link event: its c and i entries, and a k entry unless the case held the bytes.
    fn link(&mut self, event: Event) {
        let Event {
            seq,
            e,
            d,
            case,
            ids,
        } = event;
        let id = ids[0];
        let blake3 = hex::decode(d["blake3"].as_str().unwrap()).unwrap();
        let (linked_at, link_seq) = decode_link(&self.index[&ikey(&[b"c", case, &[0], &be(id)])]);
        assert_eq!(
            (linked_at.as_str(), link_seq),
            (e["time"].as_str().unwrap(), *seq)
        );
        self.want.insert(
            ikey(&[b"c", case, &[0], &be(id)]),
            self.index[&ikey(&[b"c", case, &[0], &be(id)])].clone(),
        );
        self.want.insert(ikey(&[b"i", &be(id), case]), marker());
        self.want
            .entry(ikey(&[b"k", case, &[0], &blake3]))
            .or_insert(k_record(id));
    }

    /// An acquire event: a second source of bytes the case already holds: the event and
    /// its chain, and, acquired as an attachment of another item, its `p` entry.
    fn acquire(&mut self, event: Event) {
        let Event { d, case, ids, .. } = event;
        assert!(self.items.contains_key(be(ids[0]).as_slice()));
        if let Some(parent) = d["parent"].as_str().and_then(|p| p.strip_prefix("EV-")) {
            let parent: u64 = parent.parse().unwrap();
            if parent != ids[0] {
                self.want
                    .insert(ikey(&[b"p", &be(parent), &be(ids[0])]), marker());
            }
        }
        assert_eq!(
            self.index[&ikey(&[
                b"k",
                case,
                &[0],
                &hex::decode(d["blake3"].as_str().unwrap()).unwrap()
            ])],
            k_record(ids[0])
        );
    }

    /// An annotate event: the item's current values as "Current values" applies it, in its
    /// `m` entry (a `CurrentRecord`, laid out by hand), and its `t` entries moved.
    fn annotate(&mut self, event: Event) {
        let Event { seq, e, d, ids, .. } = event;
        let id = ids[0];
        assert_eq!(e["reason"], "second review");
        assert_eq!(e["case"], Value::Null);
        let item = decode_item(&self.items[&be(id).to_vec()]);
        let (mut source, mut note, mut tags, mut captured) =
            self.now
                .remove(&id)
                .unwrap_or((item.source, item.note, item.tags, item.captured_at));
        let strings = |v: &Value| -> Vec<String> {
            let list = v.as_array().unwrap().iter();
            list.map(|t| t.as_str().unwrap().to_owned()).collect()
        };
        let removed = strings(&d["tags_removed"]);
        assert_eq!(removed, ["fixture"], "named as the item carried it");
        for t in tags.iter().filter(|t| removed.contains(t)) {
            self.want
                .remove(&ikey(&[b"t", t.as_bytes(), &[0], &be(id)]));
        }
        tags.retain(|t| !removed.contains(t));
        tags.extend(strings(&d["tags_added"]));
        for t in &tags {
            self.want
                .insert(ikey(&[b"t", t.as_bytes(), &[0], &be(id)]), marker());
        }
        for (now, key) in [
            (&mut source, "source"),
            (&mut note, "note"),
            (&mut captured, "captured_at"),
        ] {
            if let Some(v) = d[key].as_str() {
                *now = Some(v.to_owned());
            }
        }
        let mut m = vec![RECORD_VERSION];
        put_option(&mut m, &source);
        put_option(&mut m, &note);
        m.extend((tags.len() as u64).to_le_bytes());
        for t in &tags {
            put_string(&mut m, t);
        }
        put_option(&mut m, &captured);
        m.extend(seq.to_le_bytes());
        self.want.insert(ikey(&[b"m", &be(id)]), m);
        self.now.insert(id, (source, note, tags, captured));
    }

    /// An extract event: the item's hashes and size, the out path and reason.
    fn extract(&self, event: Event) {
        let Event { e, d, ids, .. } = event;
        let item = decode_item(&self.items[&be(ids[0]).to_vec()]);
        assert_eq!(d["blake3"], hex::encode(item.blake3));
        assert_eq!(d["sha256"], hex::encode(item.sha256));
        assert_eq!(d["size"], item.size);
        assert!(d["out"].as_str().unwrap().ends_with("out.bin"));
        assert_eq!(e["reason"], "court");
    }

    /// A verify event: clean, and what it checked.
    fn verify(&self, event: Event) {
        let Event { seq, d, .. } = event;
        assert_eq!(d["ok"], true);
        assert_eq!(d["problems"], 0);
        assert_eq!(
            [&d["items"], &d["contents"], &d["events"]],
            [&Value::from(12), &Value::from(11), &Value::from(*seq - 1)]
        );
    }

    /// An export event: the bundle's own event names every exported item of the case.
    fn export(&mut self, event: Event) {
        let Event {
            seq,
            e,
            d,
            case,
            ids,
        } = event;
        // The bundle's own event names every exported item of the case.
        assert_eq!(case, SECOND_CASE.as_bytes());
        assert_eq!(ids, [2, 12]);
        assert_eq!(d["items"], 2);
        assert_eq!(d["bundle"], "bundle-018");
        assert_eq!(e["reason"], "for the court");
        self.export_seq = Some(*seq);
    }

    /// A seal event: it follows its export and records the tag manifest's digest.
    fn seal(&self, event: Event) {
        let Event {
            seq, d, case, ids, ..
        } = event;
        assert_eq!(case, SECOND_CASE.as_bytes());
        assert!(ids.is_empty());
        assert_eq!(Some(d["export_event"].as_u64().unwrap()), self.export_seq);
        assert_eq!(
            self.export_seq,
            Some(seq - 1),
            "the seal follows its export"
        );
        let tagmanifest =
            std::fs::read(self.s.env.path("bundle-018/tagmanifest-sha256.txt")).unwrap();
        assert_eq!(d["tagmanifest_sha256"], sha256_hex(&tagmanifest));
    }

    /// The case and item records are exactly those the log made, and the index exactly
    /// the entries it implies.
    fn check_records_and_index(&self) {
        let (cases, items, index, want) = (self.cases, self.items, self.index, &self.want);
        assert_eq!(
            cases.keys().cloned().collect::<BTreeSet<_>>(),
            self.want_cases
        );
        assert_eq!(
            items.keys().cloned().collect::<BTreeSet<_>>(),
            self.want_items
        );
        let got: BTreeSet<&Vec<u8>> = index.keys().collect();
        let expected: BTreeSet<&Vec<u8>> = want.keys().collect();
        let extra: Vec<String> = got.difference(&expected).map(hex::encode).collect();
        let missing: Vec<String> = expected.difference(&got).map(hex::encode).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "index keys: extra {extra:?}, missing {missing:?}"
        );
        for (k, v) in want {
            assert_eq!(&index[k], v, "value of index key {}", hex::encode(k));
        }
    }
}

#[test]
fn records_and_the_whole_index_follow_from_the_custody_log() {
    let s = Scenario::build();
    let db = s.db();
    let openings = tree_map(&db, "openings");
    let log: Vec<(u64, Vec<u8>, Value)> = events(&db)
        .into_iter()
        .map(|(seq, bytes, e)| {
            let e = opened_by_hand(e, openings.get(be(seq).as_slice()));
            (seq, bytes, e)
        })
        .collect();
    let items = tree_map(&db, "items");
    let cases = tree_map(&db, "cases");
    let index = tree_map(&db, "index");
    let mut r = Replay {
        s: &s,
        items: &items,
        cases: &cases,
        index: &index,
        want: BTreeMap::new(),
        want_cases: BTreeSet::new(),
        want_items: BTreeSet::new(),
        export_seq: None,
        now: BTreeMap::new(),
    };
    for (seq, bytes, e) in &log {
        let d = &e["details"];
        let case = e["case"].as_str().unwrap_or_default().as_bytes();
        let ids: Vec<u64> = e["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| ev_number(l["id"].as_str().unwrap()))
            .collect();
        r.chain(seq, bytes, &ids);
        let event = Event {
            seq,
            e,
            d,
            case,
            ids,
        };
        match e["action"].as_str().unwrap() {
            "case_create" => r.case_create(event),
            "ingest" => r.ingest(event),
            "link" => r.link(event),
            "acquire" => r.acquire(event),
            "annotate" => r.annotate(event),
            "extract" => r.extract(event),
            "verify" => r.verify(event),
            "export" => r.export(event),
            "seal" => r.seal(event),
            "init" => {}
            other => panic!("action {other} is not expected here"),
        }
    }
    r.check_records_and_index();
}
