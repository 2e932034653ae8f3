//! Issue 9.3 and 9.8: swapped, planted and replaced bundle content, and Unicode line breaks
//! that try to inject bag-info fields, are all found.

use super::*;

// ---------------------------------------------------------------------------------------------
// 9.3: relabelled or added payload.

#[test]
fn issue_9_3_swapped_items_with_their_file_fields_are_found() {
    let x = exported();
    let bag = x.copy("swapped");
    let (a, b) = (x.payload(0), x.payload(1));
    let (ba, bb) = (
        std::fs::read(bag.join(&a)).unwrap(),
        std::fs::read(bag.join(&b)).unwrap(),
    );
    // Each item's bytes move into the other's folder, and its `file` follows them.
    let (a2, b2) = (
        format!("data/evidence/{}/{}", x.items[1].0, x.items[0].1),
        format!("data/evidence/{}/{}", x.items[0].0, x.items[1].1),
    );
    std::fs::remove_file(bag.join(&a)).unwrap();
    std::fs::remove_file(bag.join(&b)).unwrap();
    write(&bag.join(&a2), &ba);
    write(&bag.join(&b2), &bb);
    edit_evidence(&bag, &x.items[0].0, |i| i["file"] = a2.clone().into());
    edit_evidence(&bag, &x.items[1].0, |i| i["file"] = b2.clone().into());
    reseal_bag(&bag);
    let (valid, log) = bagit_validate(&bag);
    assert!(valid, "the forger's bag passes bagit-python:\n{log}");
    let found = finds(
        &bag,
        &[
            ("metadata_mismatch", &x.items[0].0),
            ("metadata_mismatch", &x.items[1].0),
        ],
        "swapped with file fields",
    );
    // The files at paths no ingest event gives are not part of the bundle.
    assert!(found.contains(&("file_unlisted".into(), a2)), "{found:#?}");
}

#[test]
fn issue_9_3_a_file_planted_anywhere_in_the_bag_is_found() {
    let x = exported();
    for planted in [
        "data/annex/instructions.txt",
        "data/evidence/readme-first.txt",
        "NOTICE.txt",
        "data/annex/deeper/still/x.bin",
    ] {
        let bag = x.copy(&format!("planted-{}", planted.replace('/', "-")));
        write(&bag.join(planted), b"trust this file instead");
        reseal_bag(&bag);
        let (valid, log) = bagit_validate(&bag);
        assert!(valid, "{planted}: bagit-python accepts it:\n{log}");
        finds(&bag, &[("file_unlisted", planted)], planted);
    }
}

#[test]
fn issue_9_3_replaced_readme_case_title_and_evidence_fields_are_found() {
    let x = exported();
    let id = x.items[0].0.clone();
    type Forge<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Forge<'_>, (&str, String))> = vec![
        (
            "README-VERIFY.txt rewritten",
            Box::new(|bag: &Path| {
                let readme = bag.join("data/README-VERIFY.txt");
                let text = std::fs::read_to_string(&readme).unwrap();
                let forged = text.replace("bagit.py --validate .", "echo OK           .");
                assert_ne!(text, forged);
                std::fs::write(readme, forged).unwrap();
            }),
            ("metadata_mismatch", "data/README-VERIFY.txt".into()),
        ),
        (
            "README-VERIFY.txt replaced by a shorter text",
            Box::new(|bag: &Path| {
                std::fs::write(bag.join("data/README-VERIFY.txt"), "No need to check.\n").unwrap()
            }),
            ("metadata_mismatch", "data/README-VERIFY.txt".into()),
        ),
        (
            "case.json title",
            Box::new(|bag: &Path| {
                let path = bag.join("data/case.json");
                let mut case: Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                case["title"] = "Another investigation".into();
                std::fs::write(path, serde_json::to_vec_pretty(&case).unwrap()).unwrap();
            }),
            ("metadata_mismatch", "data/case.json".into()),
        ),
        (
            "evidence.json name",
            Box::new(|bag: &Path| edit_evidence(bag, &id, |i| i["name"] = "confession.txt".into())),
            ("metadata_mismatch", id.clone()),
        ),
        (
            "evidence.json path",
            Box::new(|bag: &Path| edit_evidence(bag, &id, |i| i["path"] = "/home/w/x.txt".into())),
            ("metadata_mismatch", id.clone()),
        ),
        (
            // The other case is hidden (issue 11.7): listing it is claiming what the bag
            // does not reveal.
            "evidence.json cases",
            Box::new(|bag: &Path| {
                edit_evidence(bag, &id, |i| {
                    i["cases"] = serde_json::json!([CASE, "BY-2024-018"])
                })
            }),
            ("metadata_mismatch", id.clone()),
        ),
        (
            "evidence.json attachments",
            Box::new(|bag: &Path| {
                edit_evidence(bag, &id, |i| {
                    i["attachments"] = serde_json::json!(["EV-000009"])
                })
            }),
            ("metadata_mismatch", id.clone()),
        ),
    ];
    for (n, (what, forge, (kind, named))) in cases.into_iter().enumerate() {
        let bag = x.copy(&format!("forged{n}"));
        forge(&bag);
        reseal_bag(&bag);
        let (valid, log) = bagit_validate(&bag);
        assert!(valid, "{what}: bagit-python accepts it:\n{log}");
        finds(&bag, &[(kind, &named)], what);
    }
}

// ---------------------------------------------------------------------------------------------
// 9.8: bag-info injection through Unicode line breaks.

/// Python's `str.splitlines()` line breaks, as bagit-python reads tag files.
fn python_lines(text: &str) -> Vec<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, json; print(json.dumps(sys.stdin.read().splitlines()))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3 runs");
    serde_json::from_slice(&out.stdout).expect("a JSON list of lines")
}

#[test]
fn issue_9_8_unicode_line_breaks_cannot_inject_bag_info_fields() {
    let x = exported_with(
        "Title\u{2028}Payload-Oxum: 1.1",
        &[
            "--contact",
            "Legal\u{85}team\u{2029}x",
            "--organization",
            "Centre\u{b}Other-Label\u{c}y\u{1e}z",
        ],
    );
    let info = std::fs::read_to_string(x.bag.join("bag-info.txt")).unwrap();
    let lines = python_lines(&info);
    let oxum = lines
        .iter()
        .filter(|l| l.starts_with("Payload-Oxum"))
        .count();
    assert_eq!(oxum, 1, "one Payload-Oxum for bagit-python: {lines:#?}");
    assert_eq!(
        lines.len(),
        info.matches('\n').count(),
        "no value splits a line: {lines:#?}"
    );
    let (valid, log) = bagit_validate(&x.bag);
    assert!(valid, "bagit-python accepts the bag:\n{log}");

    // A forger puts the breaks back: custodia must read bag-info as bagit-python does.
    let template = x.copy("template");
    let forged: Vec<(&str, String, bool)> = vec![
        (
            "a second Payload-Oxum after U+2028",
            info.replacen(
                "External-Description: Title",
                "External-Description: Title\u{2028}Payload-Oxum: 1.1",
                1,
            ),
            true,
        ),
        (
            "a Contact-Name broken by U+0085",
            info.replacen("Contact-Name: Legal", "Contact-Name: Legal\u{85}team", 1),
            false,
        ),
        (
            "a Contact-Name broken by U+2028",
            info.replacen("Contact-Name: Legal", "Contact-Name: Legal\u{2028}team", 1),
            false,
        ),
    ];
    for (n, (what, text, bagit_accepts)) in forged.into_iter().enumerate() {
        let bag = x.env.path(&format!("info{n}"));
        copy_tree(&template, &bag);
        std::fs::write(bag.join("bag-info.txt"), text).unwrap();
        reseal_bag(&bag);
        let (valid, log) = bagit_validate(&bag);
        assert_eq!(valid, bagit_accepts, "{what}: bagit-python says {log}");
        finds(&bag, &[("bag_invalid", "bag-info.txt")], what);
    }
}
