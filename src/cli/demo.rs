//! `demo`: the whole flow on the bundled fixture case, in a new archive, narrated.

use std::path::{Path, PathBuf};

use custodia::ids::{CaseId, ItemRef};
use custodia::text::escape_path;
use custodia::{
    Archive, Error, ExportOptions, IngestOptions, OpenOptions, Status, verify_archive,
    verify_bundle,
};

use super::{Failure, Out, Outcome};

fn case_id(text: &str) -> Result<CaseId, Error> {
    Ok(text.parse()?)
}

pub fn run(
    fixtures: &Path,
    workdir: Option<PathBuf>,
    opts: &OpenOptions,
    out: &mut Out,
) -> Result<Outcome, Failure> {
    if !fixtures.is_dir() {
        return Err(Error::MissingInput(fixtures.to_path_buf()).into());
    }
    let workdir = workdir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("custodia-demo-{}", std::process::id()))
    });
    let root = workdir.join("archive");
    let mut say = |text: String| out.line(&text);
    say(format!("1. init: a new archive at {}", escape_path(&root)))?;
    let mut archive = Archive::init(&root, opts)?;

    let case = case_id("BY-2024-017")?;
    say(format!("2. case create {case}"))?;
    archive.create_case(
        &case,
        "Detentions after the March 2024 protest (synthetic)",
        Some("Fixture case: all content is invented"),
    )?;

    say("3. ingest testimonies, photos, documents and an empty file".into())?;
    let base = IngestOptions {
        case: case.clone(),
        source: Some("demo: fixtures/ (synthetic)".into()),
        note: None,
        tags: vec!["demo".into()],
        captured_at: Some("2024-03-02T14:05:00Z".into()),
        parent: None,
        paths: ["testimonies", "photos", "documents", "empty.txt"]
            .iter()
            .map(|p| fixtures.join(p))
            .collect(),
    };
    let report = archive.ingest(&base, &mut ())?;
    for i in &report.items {
        say(format!(
            "   {}  {}  {}",
            i.id,
            i.fixity.sha256,
            escape_path(&i.path)
        ))?;
    }

    say("4. ingest the e-mail, then its attachments as its children (--parent)".into())?;
    let email = archive.ingest(
        &IngestOptions {
            paths: vec![fixtures.join("email/message.eml")],
            ..base.clone()
        },
        &mut (),
    )?;
    let email_id = email
        .items
        .first()
        .map(|i| i.id)
        .ok_or_else(|| Error::MissingInput(fixtures.join("email/message.eml")))?;
    let attachments = IngestOptions {
        paths: vec![fixtures.join("email/attachments")],
        parent: Some(ItemRef::Id(email_id)),
        ..base.clone()
    };
    for i in archive.ingest(&attachments, &mut ())?.items {
        say(format!(
            "   {}  attachment of {email_id}  {}",
            i.id,
            escape_path(&i.path)
        ))?;
    }

    say("5. the same testimonies again: stored once, recorded as duplicates".into())?;
    let again = archive.ingest(
        &IngestOptions {
            paths: vec![fixtures.join("testimonies")],
            ..base.clone()
        },
        &mut (),
    )?;
    let dups = again
        .items
        .iter()
        .filter(|i| i.status == Status::Duplicate)
        .count();
    say(format!(
        "   {dups} of {} were already stored",
        again.items.len()
    ))?;

    let referral = case_id("UN-REFERRAL-1")?;
    say(format!(
        "6. a second case, {referral}, and the e-mail linked into it"
    ))?;
    archive.create_case(&referral, "Referral to a UN mechanism (synthetic)", None)?;
    archive.link(
        &ItemRef::Id(email_id),
        &referral,
        Some("relevant to the referral".into()),
    )?;

    let extracted = workdir.join("extracted");
    std::fs::create_dir_all(&extracted).map_err(|e| Error::Io {
        path: extracted.clone(),
        source: e,
    })?;
    let first = report
        .items
        .first()
        .map(|i| i.id)
        .ok_or_else(|| Error::MissingInput(fixtures.to_path_buf()))?;
    let done = archive.extract(
        &ItemRef::Id(first),
        &extracted,
        Some("demo: check the bytes".into()),
    )?;
    say(format!(
        "7. extract {first} to {}: SHA-256 {}",
        escape_path(&done.path),
        done.fixity.sha256
    ))?;

    let bundle = workdir.join("bundle-BY-2024-017");
    let export = ExportOptions {
        case: case.clone(),
        out: bundle.clone(),
        evidence: Vec::new(),
        attachments: true,
        reason: Some("demo: referral bundle".into()),
        organization: Some("Demo Human Rights Centre (fictional)".into()),
        contact: None,
    };
    let exported = archive.export(&export)?;
    say(format!(
        "8. export {case} to {}: {} items, a BagIt bag (tag manifest SHA-256 {})",
        escape_path(&exported.bundle),
        exported.items,
        exported.tagmanifest_sha256
    ))?;
    drop(archive);
    let checked = verify_bundle(&bundle)?;
    say(format!(
        "9. verify --bundle, with no archive: {} ({} files, {} custody events)",
        if checked.ok() { "OK" } else { "PROBLEMS FOUND" },
        checked.checked.contents,
        checked.checked.events
    ))?;

    let report = verify_archive(&root, opts, &mut ())?;
    let c = report.checked;
    say(format!(
        "10. verify the archive: {} ({} items, {} contents, {} bytes, {} custody events re-checked)",
        if report.ok() { "OK" } else { "PROBLEMS FOUND" },
        c.items,
        c.contents,
        c.bytes,
        c.events
    ))?;
    say(format!(
        "Explore it: custodia --archive {} log    and: bagit.py --validate {}",
        escape_path(&root),
        escape_path(&bundle)
    ))?;
    Ok(if report.ok() && checked.ok() {
        Outcome::Success
    } else {
        Outcome::Damage
    })
}
