//! The JSON contract of docs/CLI.md: one rule for paths in every document.

use crate::util::{Env, write};

/// issue 10, finding 5: `extract --json` escaped a backslash that `ingest --json` kept, so
/// the same path was two different strings. Now every document shows a UTF-8 path as is.
#[test]
fn issue10_a_path_with_a_backslash_is_the_same_text_in_every_json_document() {
    let mut env = Env::new();
    env.archive = env.path(r"arch\ive");
    let init = env.json(&["init"]);
    assert_eq!(init["archive"], env.archive.to_str().unwrap());
    env.ok(&["case", "create", "BY-2024-017", "--title", "t"]);
    let source = env.path(r"in\dir/a\b.txt");
    write(&source, b"statement");
    let ingested = env.json(&["ingest", "--case", "BY-2024-017", source.to_str().unwrap()]);
    let item = &ingested["items"][0];
    let id = item["id"].as_str().unwrap();
    assert_eq!(item["path"], source.to_str().unwrap());

    let copy = env.path(r"out\copy.txt");
    let extracted = env.json(&["extract", id, "--out", copy.to_str().unwrap()]);
    let real = std::fs::canonicalize(env.dir.path())
        .unwrap()
        .join(r"out\copy.txt");
    assert_eq!(extracted["path"], real.to_str().unwrap());

    let bundle = env.path(r"b\undle");
    let exported = env.json(&[
        "export",
        "--case",
        "BY-2024-017",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(exported["bundle"], bundle.to_str().unwrap());
    assert!(exported["event"].as_u64().is_some(), "{exported}");
}
