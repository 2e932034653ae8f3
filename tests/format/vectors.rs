//! Known-answer custody vectors: bytes made by Python (fixtures/make_custody_vectors.py,
//! `fixtures/custody-vectors.jsonl`), which custodia's chain walker and parser must accept
//! as they are and reject once tampered with.

use super::*;

fn custody_vectors() -> Vec<Vec<u8>> {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/custody-vectors.jsonl"))
            .unwrap();
    assert!(bytes.ends_with(b"\n"), "every line ends with a newline");
    let lines: Vec<Vec<u8>> = bytes[..bytes.len() - 1]
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), 4);
    lines
}

fn walk_vectors(lines: &[Vec<u8>]) -> Vec<custodia::custody::Break> {
    let mut walker = custodia::custody::ChainWalker::whole_log();
    for (n, line) in lines.iter().enumerate() {
        walker.feed(n as u64 + 1, line);
    }
    assert_eq!(walker.events, lines.len() as u64);
    walker.breaks
}

#[test]
fn custody_vectors_chain_and_are_canonical_in_custodia() {
    use custodia::custody::Event;
    let lines = custody_vectors();
    assert_eq!(walk_vectors(&lines), vec![]);
    for line in &lines {
        let event = Event::parse(line).unwrap();
        assert_eq!(
            event.to_canonical(),
            *line,
            "Python's canonical form is custodia's: {}",
            String::from_utf8_lossy(line)
        );
    }
    // The same chain, checked with sha2 alone, and the facts the lines pin.
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    for n in 1..lines.len() {
        assert_eq!(parsed[n]["prev"], sha256_hex(&lines[n - 1]));
    }
    assert_eq!(parsed[0]["prev"], Value::Null);
    assert_eq!(parsed[2]["items"][0]["prev"], Value::Null);
    assert_eq!(parsed[3]["items"][0]["prev"], sha256_hex(&lines[2]));
    let en = vectors()["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "testimonies/witness-statement-en.txt")
        .unwrap()
        .clone();
    for e in &parsed[2..] {
        assert_eq!(e["details"]["blake3"], en["blake3"]);
        assert_eq!(e["details"]["sha256"], en["sha256"]);
        assert_eq!(e["details"]["size"], en["size"]);
    }
    let actions: Vec<&str> = parsed
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["init", "case_create", "ingest", "extract"]);
    // Pinned so that a change in the Python script or the file shows up here.
    assert_eq!(
        sha256_hex(lines.last().unwrap()),
        "b83cad93c780027c5b1d55848bbbc45ea7ac5aefbc553ba60329b3bc1d5b052b"
    );
}

#[test]
fn a_tampered_custody_vector_is_caught() {
    use custodia::custody::{Break, Event};
    let lines = custody_vectors();

    // One changed byte in the ingest event: both of the extract's links break.
    let mut edited = lines.clone();
    let text = String::from_utf8(edited[2].clone()).unwrap();
    assert!(text.contains(r#""size":3082"#));
    edited[2] = text
        .replace(r#""size":3082"#, r#""size":3083"#)
        .into_bytes();
    let found = walk_vectors(&edited);
    assert!(found.contains(&Break::Prev { seq: 4 }), "{found:?}");
    assert!(
        found.contains(&Break::ItemPrev {
            seq: 4,
            item: "EV-000001".into()
        }),
        "{found:?}"
    );
    assert!(found.iter().all(|b| b.seq() == 4), "{found:?}");

    // The same event, re-spaced: the same JSON value but other bytes, so the chain breaks.
    let mut respaced = lines.clone();
    let value: Value = serde_json::from_slice(&lines[2]).unwrap();
    respaced[2] = serde_json::to_vec_pretty(&value).unwrap();
    assert_ne!(
        Event::parse(&respaced[2]).unwrap().to_canonical(),
        respaced[2]
    );
    assert!(walk_vectors(&respaced).contains(&Break::Prev { seq: 4 }));

    // A removed event.
    let removed = [lines[0].clone(), lines[1].clone(), lines[3].clone()];
    let found = walk_vectors(&removed);
    assert!(
        found.iter().any(|b| matches!(b, Break::Sequence { .. })),
        "{found:?}"
    );
}
