//! What an export takes: refusals (existing output, unknown case, items of another case),
//! attachments with or without `--no-attachments`, and re-exports of part of a case.

use super::*;

/// `--out` exists: a directory with something in it, an empty directory, a plain file, a
/// dangling link. Each is refused and left as it was; nothing is written through the link.
fn check_existing_out_refused(env: &Env, outs: &Path) {
    let dir = outs.join("bundle");
    write(&dir.join("keep.txt"), b"someone else's work");
    export_refused(env, &dir, &[], 1);
    assert_eq!(
        std::fs::read(dir.join("keep.txt")).unwrap(),
        b"someone else's work"
    );
    assert_eq!(files_under(&dir), BTreeSet::from(["keep.txt".to_owned()]));
    let empty = outs.join("empty");
    std::fs::create_dir(&empty).unwrap();
    export_refused(env, &empty, &[], 1);
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "an existing empty --out must stay empty"
    );
    let file = outs.join("file");
    write(&file, b"not a bundle");
    export_refused(env, &file, &[], 1);
    assert_eq!(std::fs::read(&file).unwrap(), b"not a bundle");
    let link = outs.join("link");
    std::os::unix::fs::symlink(env.path("nowhere"), &link).unwrap();
    export_refused(env, &link, &[], 1);
    assert!(
        !env.path("nowhere").exists(),
        "export wrote through a dangling --out link"
    );
}

/// An unknown case is refused by name, and `fresh` is not created.
fn check_unknown_case_refused(env: &Env, fresh: &Path) {
    let stderr = env.refused(
        &["export", "--case", "NO-SUCH-CASE", "--out", arg(fresh)],
        1,
    );
    assert!(
        stderr.contains("NO-SUCH-CASE"),
        "the message names the case: {stderr}"
    );
    assert!(!fresh.exists());
}

/// An item of another case beside one of this case, and an unknown item: each refused by
/// its id, and `fresh` is not created.
fn check_items_outside_the_case_refused(env: &Env, ids: &BTreeMap<String, String>, fresh: &Path) {
    env.ok(&["case", "create", "BY-2024-018", "--title", "Another case"]);
    write(
        &env.path("other/elsewhere.txt"),
        b"evidence of another case only",
    );
    let other = env.json(&[
        "ingest",
        "--case",
        "BY-2024-018",
        arg(&env.path("other/elsewhere.txt")),
    ]);
    let other_id = other["items"][0]["id"].as_str().unwrap().to_owned();
    let stderr = export_refused(
        env,
        fresh,
        &[
            "--evidence",
            ids["documents/court-ruling.pdf"].as_str(),
            "--evidence",
            &other_id,
        ],
        1,
    );
    assert!(
        stderr.contains(&other_id),
        "the message names the item outside the case: {stderr}"
    );
    assert!(!fresh.exists());
    let stderr = export_refused(env, fresh, &["--evidence", "EV-999999"], 1);
    assert!(stderr.contains("EV-999999"), "{stderr}");
    assert!(!fresh.exists());
}

#[test]
fn export_refuses_existing_out_unknown_case_and_items_outside_the_case() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    let outs = env.path("outs");
    std::fs::create_dir(&outs).unwrap();
    check_existing_out_refused(&env, &outs);
    let fresh = outs.join("fresh");
    check_unknown_case_refused(&env, &fresh);
    check_items_outside_the_case_refused(&env, &ids, &fresh);

    // The same archive still exports fine afterwards.
    let report = env.json(&["export", "--case", CASE, "--out", arg(&fresh)]);
    assert_eq!(report["items"], 10);
}

/// The ids in a bag's evidence.json, the ids its payload directories are named after, and the
/// ids its custody.jsonl names.
fn bag_ids(bag: &Path) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/evidence.json")).unwrap()).unwrap();
    let listed = evidence["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let dirs = std::fs::read_dir(bag.join("data/evidence"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let chained = custody_lines(bag)
        .iter()
        .flat_map(|l| named(&parse_line(l)))
        .collect();
    (listed, dirs, chained)
}

/// The fixture ids of a case, by fixture path.
type Ids = BTreeMap<String, String>;

/// Exports the selection `args` gives in an archive of its own (so its custody holds no
/// earlier export) and checks that the bag holds, lists and chains exactly the items `want`
/// gives, ends with an export event naming them, and passes `verify --bundle` and the
/// independent checks.
fn check_selection(
    name: &str,
    args: &dyn Fn(&Ids) -> Vec<String>,
    want: &dyn Fn(&Ids) -> BTreeSet<String>,
) {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    let want = want(&ids);
    let bag = env.path(name);
    let extra = args(&ids);
    let mut all = vec!["export", "--case", CASE, "--out", arg(&bag)];
    all.extend(extra.iter().map(String::as_str));
    let report = env.json(&all);
    assert_eq!(report["items"], want.len(), "{name}: {report}");
    let (listed, dirs, chained) = bag_ids(&bag);
    assert_eq!(listed, want, "{name}: evidence.json");
    assert_eq!(dirs, want, "{name}: data/evidence/");
    assert_eq!(
        chained, want,
        "{name}: custody.jsonl names only the exported items"
    );
    check_selection_export_event(name, &bag, &want);
    let (code, verify, stderr) = verify_bundle(&bag);
    assert_eq!(code, 0, "{name}: {verify:#}\n{stderr}");
    let (rust, python_ok, said) = independent_checks(&bag);
    assert!(
        rust.is_empty() && python_ok,
        "{name}: independent checks: {rust:?}\n{said}"
    );
}

/// The bag's custody: one ingest per item of `want`, then the export event naming them all.
fn check_selection_export_event(name: &str, bag: &Path, want: &BTreeSet<String>) {
    let lines = custody_lines(bag);
    assert_eq!(
        lines.len(),
        want.len() + 1,
        "{name}: one ingest per item, then the export"
    );
    let last = parse_line(lines.last().unwrap());
    assert_eq!(last["action"], "export");
    assert_eq!(
        named(&last).into_iter().collect::<BTreeSet<_>>(),
        *want,
        "{name}: the export event"
    );
}

/// The one item ingested from `fixture`.
fn one(fixture: &'static str) -> impl Fn(&Ids) -> BTreeSet<String> {
    move |ids: &Ids| BTreeSet::from([ids[fixture].clone()])
}

/// The e-mail and its attachments.
fn email(ids: &Ids) -> BTreeSet<String> {
    ids.iter()
        .filter(|(f, _)| f.starts_with("email/"))
        .map(|(_, id)| id.clone())
        .collect()
}

/// The e-mail brings its two attachments, unless `--no-attachments` is given.
fn check_email_with_and_without_attachments() {
    check_selection(
        "message",
        &|ids| vec!["--evidence".into(), ids["email/message.eml"].clone()],
        &|ids| {
            let all = email(ids);
            assert_eq!(all.len(), 3);
            all
        },
    );
    check_selection(
        "message-only",
        &|ids| {
            vec![
                "--evidence".into(),
                ids["email/message.eml"].clone(),
                "--no-attachments".into(),
            ]
        },
        &one("email/message.eml"),
    );
}

/// Two items, one by a unique BLAKE3 prefix (as every command taking an ID accepts) and one
/// by id.
fn check_by_prefix_and_by_id() {
    let prefix = blake3_hex(&std::fs::read(fixtures().join("photos/detention-site.png")).unwrap())
        [..12]
        .to_owned();
    check_selection(
        "two",
        &|ids| {
            vec![
                "--evidence".into(),
                prefix.clone(),
                "--evidence".into(),
                ids["documents/court-ruling.pdf"].clone(),
            ]
        },
        &|ids| {
            BTreeSet::from([
                ids["photos/detention-site.png"].clone(),
                ids["documents/court-ruling.pdf"].clone(),
            ])
        },
    );
}

#[test]
fn export_selection_takes_attachments_unless_told_not_to() {
    check_email_with_and_without_attachments();
    check_by_prefix_and_by_id();
    // An attachment alone does not pull in its parent.
    check_selection(
        "attachment",
        &|ids| {
            vec![
                "--evidence".into(),
                ids["email/attachments/scan.png"].clone(),
            ]
        },
        &one("email/attachments/scan.png"),
    );
}

/// `--no-attachments` on a whole-case export: the flag says "leave out the attachments", and a
/// user who gives it expects no attachment in the bundle, not a silently ignored flag.
#[test]
fn no_attachments_applies_to_a_whole_case_export() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    let bag = env.path("no-attachments");
    let report = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bag),
        "--no-attachments",
    ]);
    let top: BTreeSet<String> = ids
        .iter()
        .filter(|(f, _)| !f.starts_with(FIXTURE_ATTACHMENTS))
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(top.len(), 8);
    let (listed, dirs, _) = bag_ids(&bag);
    assert_eq!(
        listed, top,
        "--no-attachments left attachments in evidence.json: {report}"
    );
    assert_eq!(dirs, top, "data/evidence/");
    assert_eq!(report["items"], 8, "{report}");
    assert_eq!(verify_bundle(&bag).0, 0);
}

/// A second export of part of a case carries the first export's event, which is in the
/// history of every item it names, but also names items this bundle does not hold. Their
/// chains are not in the bundle and must not be followed; the exported item's chain is
/// complete and the bundle is intact.
#[test]
fn re_export_of_part_of_an_exported_case_verifies() {
    let env = Env::with_case();
    let ids = env.ingest_fixture_case();
    env.json(&["export", "--case", CASE, "--out", arg(&env.path("whole"))]);
    let ruling = ids["documents/court-ruling.pdf"].clone();
    let bag = env.path("ruling");
    let report = env.json(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bag),
        "--evidence",
        &ruling,
    ]);
    assert_eq!(report["items"], 1);
    let lines: Vec<Value> = custody_lines(&bag).iter().map(|l| parse_line(l)).collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["ingest", "export", "export"],
        "the ruling's history"
    );
    assert_eq!(
        named(&lines[1]).len(),
        10,
        "the first export names the whole case"
    );
    assert_eq!(named(&lines[2]), std::slice::from_ref(&ruling));
    let (rust, python_ok, said) = independent_checks(&bag);
    assert!(rust.is_empty(), "independent Rust check: {rust:?}");
    assert!(python_ok, "check_custody.py:\n{said}");
    let (code, verify, stderr) = verify_bundle(&bag);
    assert_eq!(
        code, 0,
        "verify --bundle on a re-export of one item:\n{verify:#}\n{stderr}"
    );
    assert_eq!(verify["ok"], true);
}

/// An attachment filed only in another case is not exported with its parent's case.
#[test]
fn attachments_of_another_case_stay_out_of_the_bundle() {
    let env = Env::with_case();
    env.ok(&[
        "case",
        "create",
        "OTHER",
        "--title",
        "Another investigation",
    ]);
    crate::util::write(&env.path("mail/message.eml"), b"the e-mail\n");
    let parent = env.ingest(&[&env.path("mail")])["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    crate::util::write(
        &env.path("att/secret.txt"),
        b"belongs to the other case only\n",
    );
    env.ok(&[
        "ingest",
        "--case",
        "OTHER",
        "--parent",
        &parent,
        arg(&env.path("att")),
    ]);
    let bag = env.path("bag");
    let done = env.json(&["export", "--case", "BY-2024-017", "--out", arg(&bag)]);
    assert_eq!(done["items"], 1, "only the e-mail: {done}");
    assert!(
        !files_under(&bag).iter().any(|f| f.contains("secret")),
        "{:?}",
        files_under(&bag)
    );
}
