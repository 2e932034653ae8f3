//! Issue 12, point 3: a stored file ingested again with `--parent` is attached; `link`
//! brings an item's attachments unless told otherwise; and a bundle marks plainly every
//! item it names but does not hold, which `verify --bundle` holds it to.

use super::*;
use crate::util::{reseal_bag, verify_bundle_json};

/// An e-mail in CASE with an attachment, and that attachment's own attachment.
fn mail_with_attachments(env: &Env) -> (String, String, String) {
    let mail = ingest_one(env, CASE, "in/mail.eml", b"From: a\n\nsee attached\n", &[]);
    let pdf = ingest_one(
        env,
        CASE,
        "in/order.pdf",
        b"%PDF order",
        &["--parent", &mail],
    );
    let img = ingest_one(env, CASE, "in/stamp.png", b"PNG stamp", &["--parent", &pdf]);
    env.ok(&["case", "create", SECOND, "--title", "Referral"]);
    (mail, pdf, img)
}

fn link_events(env: &Env, case: &str) -> Vec<String> {
    let log = env.json(&["log", "--action", "link"]);
    log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["case"] == case)
        .flat_map(|e| e["items"].as_array().cloned().unwrap_or_default())
        .map(|i| json_str(&i["id"]).to_owned())
        .collect()
}

#[test]
fn link_brings_every_attachment_below_the_item_each_with_its_event() {
    let env = Env::with_case();
    let (mail, pdf, img) = mail_with_attachments(&env);
    let out = env.json(&["link", &mail, "--case", SECOND, "--reason", "referral"]);
    assert_eq!(out["attachments"], serde_json::json!([pdf, img]), "{out}");
    let shown = env.json(&["case", "show", SECOND]);
    let mut ids: Vec<&str> = json_items(&shown)
        .iter()
        .map(|i| json_str(&i["id"]))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [&mail, &pdf, &img], "{shown}");
    assert_eq!(link_events(&env, SECOND), [mail.clone(), pdf, img]);
    assert_eq!(env.verify().0, 0);
}

#[test]
fn link_with_no_attachments_links_the_item_alone_and_says_so() {
    let env = Env::with_case();
    let (mail, _, _) = mail_with_attachments(&env);
    let human = env.ok(&["link", &mail, "--case", SECOND, "--no-attachments"]);
    assert!(!human.contains("attachment"), "{human}");
    assert_eq!(link_events(&env, SECOND), [mail]);
    let shown = env.json(&["case", "show", SECOND]);
    assert_eq!(json_items(&shown).len(), 1, "{shown}");
}

/// The e-mail alone in SECOND: its bundle holds no attachment, and says which it names.
fn bundle_without_attachments(env: &Env) -> (std::path::PathBuf, String, String) {
    let (mail, pdf, _) = mail_with_attachments(env);
    env.ok(&["link", &mail, "--case", SECOND, "--no-attachments"]);
    let bag = env.path("referral");
    env.ok(&["export", "--case", SECOND, "--out", arg(&bag)]);
    (bag, mail, pdf)
}

fn evidence_json(bag: &std::path::Path) -> Value {
    let bytes = std::fs::read(bag.join("data/evidence.json")).expect("evidence.json");
    serde_json::from_slice(&bytes).expect("evidence.json is JSON")
}

#[test]
fn a_bundle_marks_the_attachments_it_does_not_hold() {
    let env = Env::with_case();
    let (bag, mail, pdf) = bundle_without_attachments(&env);
    let doc = evidence_json(&bag);
    let entry = &json_items(&doc)[0];
    assert_eq!(json_str(&entry["id"]), mail);
    assert_eq!(entry["attachments"], serde_json::json!([pdf]));
    assert_eq!(entry["not_exported"], serde_json::json!([pdf]), "{entry}");
    let (code, report, stderr) = verify_bundle_json(&bag);
    assert_eq!(code, 0, "{report} {stderr}");
}

#[test]
fn verify_bundle_flags_a_reference_to_an_item_the_bundle_does_not_hold() {
    let env = Env::with_case();
    let (bag, mail, pdf) = bundle_without_attachments(&env);
    let mut doc = evidence_json(&bag);
    doc["items"][0]["not_exported"] = serde_json::json!([]);
    let text = serde_json::to_vec_pretty(&doc).expect("json");
    std::fs::write(bag.join("data/evidence.json"), text).expect("write");
    reseal_bag(&bag);
    let (code, report, _) = verify_bundle_json(&bag);
    assert_eq!(code, 3, "{report}");
    let named = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .any(|p| {
            p["kind"] == "metadata_mismatch"
                && p["id"] == mail.as_str()
                && p["detail"].as_str().unwrap_or("").contains(&pdf)
        });
    assert!(named, "no finding names the missing {pdf}: {report}");
}

#[test]
fn a_duplicate_ingested_as_an_attachment_is_attached_and_exported_with_its_parent() {
    let env = Env::with_case();
    let mail = ingest_one(&env, CASE, "in/mail.eml", b"From: a\n\nsee attached\n", &[]);
    let pdf = ingest_one(&env, CASE, "in/order.pdf", b"%PDF order", &[]);
    let again = env.path("in/attachment-copy.pdf");
    write(&again, b"%PDF order");
    let out = env.json(&["ingest", "--case", CASE, "--parent", &mail, arg(&again)]);
    let item = &json_items(&out)[0];
    assert_eq!(json_str(&item["id"]), pdf);
    assert_eq!(json_str(&item["status"]), "duplicate");
    let attachments = |env: &Env| env.json(&["show", &mail])["attachments"].clone();
    assert_eq!(attachments(&env), serde_json::json!([pdf]));
    let bag = env.path("bundle");
    env.ok(&[
        "export",
        "--case",
        CASE,
        "--out",
        arg(&bag),
        "--evidence",
        &mail,
    ]);
    let doc = evidence_json(&bag);
    let ids: Vec<&str> = json_items(&doc)
        .iter()
        .map(|i| json_str(&i["id"]))
        .collect();
    assert_eq!(
        ids,
        [mail.as_str(), pdf.as_str()],
        "the attachment goes with it"
    );
    assert_eq!(verify_bundle_json(&bag).0, 0);
    assert_eq!(env.verify().0, 0);
}
