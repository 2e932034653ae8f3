//! An exported bundle byte by byte: every file, label, field and manifest line as
//! docs/FORMAT.md describes the bundle.

use super::*;

// ---------------------------------------------------------------------------------------
// Bundles: the scenario's export, file by file, against the archive it came from.

/// A manifest line as FORMAT.md gives it: hex, two spaces, the path with `%`, CR and LF
/// percent-encoded.
fn manifest_line(hex: &str, path: &str) -> String {
    let path = path
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    format!("{hex}  {path}\n")
}

/// A manifest's digest function: bytes to lower-case hex.
type Digester = fn(&[u8]) -> String;

fn pretty_json(bytes: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(bytes).unwrap();
    let mut want = serde_json::to_vec_pretty(&value).unwrap();
    want.push(b'\n');
    assert_eq!(
        bytes,
        want.as_slice(),
        "pretty-printed, keys sorted, a final newline"
    );
    value
}

/// The scenario's archive and its exported bundle, as the bundle checks read them.
struct Exported {
    log: Vec<(u64, Vec<u8>, Value)>,
    meta: Meta,
    index: BTreeMap<Vec<u8>, Vec<u8>>,
    case: Case,
    files: BTreeMap<String, Vec<u8>>,
    export_seq: u64,
    export_bytes: Vec<u8>,
    export: Value,
    exported: Vec<u64>,
    exported_items: Vec<Item>,
}

/// An item's file in the bundle, relative to the bag.
fn evidence_rel(item: &Item) -> String {
    format!(
        "data/evidence/{}/{}",
        ev(item.id),
        String::from_utf8(item.name.clone()).unwrap()
    )
}

/// The payload files (under `data/`) with their bytes, in path order.
fn payload_of(files: &BTreeMap<String, Vec<u8>>) -> Vec<(&String, &Vec<u8>)> {
    files
        .iter()
        .filter(|(p, _)| p.starts_with("data/"))
        .collect()
}

fn sha512_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(b))
}

fn b3_hex(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}

/// Reads the archive and the bundle; the export event names every item of the case (its
/// `c` entries), in number order.
fn read_export(s: &Scenario) -> Exported {
    let db = s.db();
    let log = events(&db);
    let meta = decode_meta(&tree_map(&db, "meta")[&b"archive"[..]]);
    let items = tree_map(&db, "items");
    let index = tree_map(&db, "index");
    let case = decode_case(&tree_map(&db, "cases")[SECOND_CASE.as_bytes()]);
    let bag = s.env.path("bundle-018");
    let files: BTreeMap<String, Vec<u8>> = walk(&bag)
        .into_iter()
        .map(|(p, b)| {
            (
                p.strip_prefix(&bag).unwrap().to_str().unwrap().to_owned(),
                b,
            )
        })
        .collect();

    // The export event names every item of the case (its `c` entries), in number order.
    let (export_seq, export_bytes, export) = log
        .iter()
        .find(|(_, _, e)| e["action"] == "export")
        .cloned()
        .unwrap();
    let exported: Vec<u64> = export["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| ev_number(l["id"].as_str().unwrap()))
        .collect();
    let prefix = [&b"c"[..], SECOND_CASE.as_bytes(), &[0]].concat();
    let in_case: Vec<u64> = index
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .map(|k| u64::from_be_bytes(k[prefix.len()..].try_into().unwrap()))
        .collect();
    assert_eq!(exported, in_case);
    let exported_items: Vec<Item> = exported
        .iter()
        .map(|n| decode_item(&items[be(*n).as_slice()]))
        .collect();
    Exported {
        log,
        meta,
        index,
        case,
        files,
        export_seq,
        export_bytes,
        export,
        exported,
        exported_items,
    }
}

/// The layout: the seven tag files, the four metadata files, one file per item.
fn check_layout(x: &Exported) {
    let files = &x.files;
    let mut want: BTreeSet<String> = BUNDLE_FILES.iter().map(|f| f.to_string()).collect();
    want.extend(x.exported_items.iter().map(evidence_rel));
    assert_eq!(files.keys().cloned().collect::<BTreeSet<_>>(), want);
    for item in &x.exported_items {
        let bytes = &files[&evidence_rel(item)];
        assert_eq!(
            blake3::hash(bytes).as_bytes(),
            &item.blake3,
            "{}",
            ev(item.id)
        );
        assert_eq!(<[u8; 32]>::from(Sha256::digest(bytes)), item.sha256);
    }
    assert_eq!(
        files["bagit.txt"],
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    );
}

/// custody.jsonl: the exact bytes of every event naming an exported item, in log order,
/// the export event last; each item's lines chain from its ingest to the export.
fn check_custody(x: &Exported) {
    let exported = &x.exported;
    let names_exported = |e: &Value| {
        e["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| exported.contains(&ev_number(l["id"].as_str().unwrap())))
    };
    let mut want_custody = Vec::new();
    for (_, bytes, _) in x.log.iter().filter(|(_, _, e)| names_exported(e)) {
        want_custody.extend(bytes);
        want_custody.push(b'\n');
    }
    assert_eq!(x.files["data/custody.jsonl"], want_custody);
    let lines: Vec<&[u8]> = want_custody[..want_custody.len() - 1]
        .split(|b| *b == b'\n')
        .collect();
    assert_eq!(
        *lines.last().unwrap(),
        x.export_bytes.as_slice(),
        "the export is the last line"
    );
    for id in exported {
        let mut prev = Value::Null;
        let mut actions = Vec::new();
        for line in &lines {
            let e: Value = serde_json::from_slice(line).unwrap();
            if let Some(link) = e["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["id"] == ev(*id))
            {
                assert_eq!(link["prev"], prev, "{}: item chain", ev(*id));
                prev = Value::String(sha256_hex(line));
                actions.push(e["action"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(actions.first().map(String::as_str), Some("ingest"));
        assert_eq!(actions.last().map(String::as_str), Some("export"));
    }
}

/// bag-info.txt: `Label: value` lines in the documented order (no --organization or
/// --contact were given).
fn check_bag_info(x: &Exported) {
    let files = &x.files;
    let info: Vec<(String, String)> = String::from_utf8(files["bag-info.txt"].clone())
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let labels: Vec<&str> = info.iter().map(|(k, _)| k.as_str()).collect();
    let want_labels: Vec<&str> = BAG_INFO_LABELS
        .into_iter()
        .filter(|l| !["Source-Organization", "Contact-Name"].contains(l))
        .collect();
    assert_eq!(labels, want_labels);
    let field = |k: &str| info.iter().find(|(l, _)| l == k).unwrap().1.clone();
    let payload = payload_of(files);
    let payload_bytes: usize = payload.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(
        field("Payload-Oxum"),
        format!("{payload_bytes}.{}", payload.len())
    );
    let date = field("Bagging-Date");
    assert!(
        date.len() == 10
            && date.char_indices().all(|(i, c)| if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }),
        "{date}"
    );
    assert_eq!(field("External-Identifier"), SECOND_CASE);
    assert_eq!(field("External-Description"), x.case.title);
    assert_eq!(field("Bag-Software-Agent"), x.meta.tool);
    assert_eq!(field("Custodia-Archive-Id"), x.meta.archive_id);
    assert_eq!(field("Custodia-Export-Event"), x.export_seq.to_string());
    assert_eq!(field("Custodia-Custody-Head"), sha256_hex(&x.export_bytes));
}

/// The manifests: every payload file in path order; the tag manifests: five tag files.
fn check_manifests(x: &Exported) {
    let files = &x.files;
    let payload = payload_of(files);
    let algorithms: [(&str, Digester); 3] = [
        ("sha256", sha256_hex),
        ("sha512", sha512_hex),
        ("blake3", b3_hex),
    ];
    for (name, digest) in algorithms {
        let want: String = payload
            .iter()
            .map(|(path, bytes)| manifest_line(&digest(bytes), path))
            .collect();
        assert_eq!(
            String::from_utf8(files[&format!("manifest-{name}.txt")].clone()).unwrap(),
            want,
            "manifest-{name}.txt"
        );
    }
    let tag_files = [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "manifest-blake3.txt",
    ];
    for (name, digest) in &algorithms[..2] {
        let want: String = tag_files
            .iter()
            .map(|t| manifest_line(&digest(&files[*t]), t))
            .collect();
        assert_eq!(
            String::from_utf8(files[&format!("tagmanifest-{name}.txt")].clone()).unwrap(),
            want,
            "tagmanifest-{name}.txt"
        );
    }
}

/// The export and seal events in the archive.
fn check_export_and_seal(x: &Exported) {
    let (files, exported, export_seq) = (&x.files, &x.exported, &x.export_seq);
    let payload_bytes: usize = payload_of(files).iter().map(|(_, b)| b.len()).sum();
    let d = &x.export["details"];
    let item_bytes: u64 = x.exported_items.iter().map(|i| i.size).sum();
    assert_eq!(
        [
            &d["bundle"],
            &d["items"],
            &d["bytes"],
            &d["organization"],
            &d["contact"]
        ],
        [
            &Value::from("bundle-018"),
            &Value::from(exported.len()),
            &Value::from(item_bytes),
            &Value::Null,
            &Value::Null
        ]
    );
    let (seal_seq, _, seal) = x
        .log
        .iter()
        .find(|(_, _, e)| e["action"] == "seal")
        .unwrap();
    assert_eq!(*seal_seq, export_seq + 1);
    let details: Vec<&str> = seal["details"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(details, SEAL_DETAILS);
    let d = &seal["details"];
    assert_eq!(d["export_event"], *export_seq);
    assert_eq!(d["bundle"], "bundle-018");
    assert_eq!(
        d["tagmanifest_sha256"],
        sha256_hex(&files["tagmanifest-sha256.txt"])
    );
    assert_eq!(d["items"], exported.len());
    assert_eq!(d["bytes"], payload_bytes, "the Payload-Oxum bytes");
}

/// data/case.json, from the case record.
fn check_case_json(x: &Exported) {
    let case_json = pretty_json(&x.files["data/case.json"]);
    assert_eq!(
        case_json,
        serde_json::json!({
            "id": SECOND_CASE,
            "title": x.case.title,
            "description": x.case.description,
            "created_at": x.case.created_at,
            "created_by": x.case.actor,
            "archive_id": x.meta.archive_id,
            "exported_items": x.exported.iter().map(|n| ev(*n)).collect::<Vec<_>>(),
        })
    );
}

/// The index entries under `tag` + the item's number, as what follows the prefix.
fn index_after(x: &Exported, tag: &[u8], item: &Item) -> Vec<Vec<u8>> {
    let prefix = [tag, &be(item.id)].concat();
    x.index
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .map(|k| k[prefix.len()..].to_vec())
        .collect()
}

/// What data/evidence.json lists for one item, from its record and the index; its path,
/// source and note as its ingest event commits to them (a default export hides them), and
/// of its cases only the exported one (issue 11.7).
fn want_evidence_entry(x: &Exported, item: &Item) -> Value {
    let cases: Vec<String> = index_after(x, b"i", item)
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .filter(|c| c == SECOND_CASE)
        .collect();
    let ingest = &x
        .log
        .iter()
        .find(|(seq, _, _)| *seq == item.seq)
        .expect("the item's ingest event")
        .2["details"];
    for key in ["path", "path_hex", "source", "note"] {
        let absent = ingest[key].is_null() && matches!(key, "source" | "note");
        assert!(
            ingest[key]["commit"].is_string() || absent,
            "{key} is committed"
        );
    }
    let attachments: Vec<String> = index_after(x, b"p", item)
        .into_iter()
        .map(|k| ev(u64::from_be_bytes(k.as_slice().try_into().unwrap())))
        .collect();
    let held: Vec<String> = x.exported.iter().map(|n| ev(*n)).collect();
    let mut not_exported: Vec<String> = item
        .parent
        .map(ev)
        .into_iter()
        .chain(attachments.iter().cloned())
        .filter(|r| !held.contains(r))
        .collect();
    not_exported.sort();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    serde_json::json!({
        "id": ev(item.id),
        "file": evidence_rel(item),
        "blake3": hex::encode(item.blake3),
        "sha256": hex::encode(item.sha256),
        "sha512": sha512_hex(&x.files[&evidence_rel(item)]),
        "size": item.size,
        "name": text(&item.name),
        "name_hex": hex::encode(&item.name),
        "path": ingest["path"],
        "path_hex": ingest["path_hex"],
        "source": ingest["source"],
        "note": ingest["note"],
        "tags": item.tags,
        "captured_at": item.captured_at,
        "modified_at": item.modified_at,
        "ingested_at": item.ingested_at,
        "ingested_by": item.actor,
        "parent": item.parent.map(ev),
        "attachments": attachments,
        "not_exported": not_exported,
        "cases": cases,
    })
}

/// data/evidence.json, from the records.
fn check_evidence_json(x: &Exported) {
    let evidence = pretty_json(&x.files["data/evidence.json"]);
    assert_eq!(evidence["case"], SECOND_CASE);
    let listed = evidence["items"].as_array().unwrap();
    assert_eq!(listed.len(), x.exported_items.len());
    for (item, got) in x.exported_items.iter().zip(listed) {
        let keys: Vec<&str> = got
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, EVIDENCE_FIELDS);
        let want = want_evidence_entry(x, item);
        assert_eq!(got, &want, "{}", ev(item.id));
    }
    assert!(
        listed
            .iter()
            .all(|i| i["cases"] == serde_json::json!([SECOND_CASE])),
        "no item lists a case other than the exported one"
    );
}

#[test]
fn the_bundle_is_laid_out_as_format_md_says() {
    let s = Scenario::build();
    let x = read_export(&s);
    check_layout(&x);
    check_custody(&x);
    check_bag_info(&x);
    check_manifests(&x);
    check_export_and_seal(&x);
    check_case_json(&x);
    check_evidence_json(&x);
}
