//! `demo`: the whole flow on the bundled fixture case, in a new archive, narrated.

use std::path::{Path, PathBuf};

use custodia::ids::{CaseId, EvidenceId, ItemRef};
use custodia::text::escape_path;
use custodia::{
    Archive, Error, ExportOptions, IngestOptions, OpenOptions, Status, VerifyReport,
    verify_archive, verify_bundle,
};

use super::{BrokenPipe, Failure, Out, Outcome};

/// The fixture case as the repository ships it.
const FIXTURES: &str = "fixtures/case-BY-2024-017";

/// Where the fixtures are: as given, else under the working directory, else in the source
/// tree this binary was built from, so `demo` runs from any directory.
pub fn fixtures_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let here = PathBuf::from(FIXTURES);
        if here.is_dir() {
            here
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES)
        }
    })
}

/// One demo run: the archive it builds and what it has found out so far.
struct Demo<'a> {
    archive: Archive,
    fixtures: &'a Path,
    workdir: PathBuf,
    base: IngestOptions,
    out: &'a mut Out,
}

fn case_id(text: &str) -> Result<CaseId, Error> {
    Ok(text.parse()?)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "OK" } else { "PROBLEMS FOUND" }
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
    out.line(&format!("1. init: a new archive at {}", escape_path(&root)))?;
    let case = case_id("BY-2024-017")?;
    let mut demo = Demo {
        archive: Archive::init(&root, opts)?,
        fixtures,
        base: IngestOptions {
            case: case.clone(),
            source: Some("demo: fixtures/ (synthetic)".into()),
            note: None,
            tags: vec!["demo".into()],
            captured_at: Some("2024-03-02T14:05:00Z".into()),
            parent: None,
            paths: Vec::new(),
        },
        workdir,
        out,
    };
    let first = demo.cases_and_ingest()?;
    let email = demo.email_with_attachments()?;
    demo.duplicates()?;
    demo.second_case(email)?;
    demo.extract(first)?;
    let (bundle, checked) = demo.export_and_check(case)?;
    let Demo { archive, out, .. } = demo;
    drop(archive);
    let against = custodia::VerifyOptions {
        against: std::fs::read_to_string(workdir_of(&root).join("checkpoint")).ok(),
        subset: None,
    };
    let report = verify_archive(&root, opts, &against, &mut ())?;
    say_verified(out, &report)?;
    out.line(&format!(
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

fn workdir_of(root: &Path) -> PathBuf {
    root.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn say_verified(out: &mut Out, report: &VerifyReport) -> Result<(), BrokenPipe> {
    let c = report.checked;
    out.line(&format!(
        "10. verify the archive: {} ({} items, {} contents, {} bytes, {} custody events re-checked with their signatures; --against the checkpoint above)",
        verdict(report.ok()),
        c.items,
        c.contents,
        c.bytes,
        c.events
    ))
}

impl Demo<'_> {
    fn say(&mut self, text: String) -> Result<(), BrokenPipe> {
        self.out.line(&text)
    }

    fn ingest(
        &mut self,
        paths: Vec<PathBuf>,
        parent: Option<EvidenceId>,
    ) -> Result<custodia::IngestReport, Error> {
        let opts = IngestOptions {
            paths,
            parent: parent.map(ItemRef::Id),
            ..self.base.clone()
        };
        self.archive.ingest(&opts, &mut ())
    }

    /// Steps 2 and 3: the case, and the first files; returns the first item.
    fn cases_and_ingest(&mut self) -> Result<EvidenceId, Failure> {
        let case = self.base.case.clone();
        self.say(format!("2. case create {case}"))?;
        self.archive.create_case(
            &case,
            "Detentions after the March 2024 protest (synthetic)",
            Some("Fixture case: all content is invented"),
        )?;
        self.say("3. ingest testimonies, photos, documents and an empty file".into())?;
        let paths = ["testimonies", "photos", "documents", "empty.txt"]
            .iter()
            .map(|p| self.fixtures.join(p))
            .collect();
        let report = self.ingest(paths, None)?;
        for i in &report.items {
            let line = format!("   {}  {}  {}", i.id, i.fixity.sha256, escape_path(&i.path));
            self.say(line)?;
        }
        let first = report.items.first().map(|i| i.id);
        Ok(first.ok_or_else(|| Error::MissingInput(self.fixtures.to_path_buf()))?)
    }

    /// Step 4: the e-mail, then its attachments as its children; returns the e-mail.
    fn email_with_attachments(&mut self) -> Result<EvidenceId, Failure> {
        self.say("4. ingest the e-mail, then its attachments as its children (--parent)".into())?;
        let message = self.fixtures.join("email/message.eml");
        let email = self.ingest(vec![message.clone()], None)?;
        let email_id = email
            .items
            .first()
            .map(|i| i.id)
            .ok_or(Error::MissingInput(message))?;
        let attachments = self.ingest(
            vec![self.fixtures.join("email/attachments")],
            Some(email_id),
        )?;
        for i in attachments.items {
            let line = format!(
                "   {}  attachment of {email_id}  {}",
                i.id,
                escape_path(&i.path)
            );
            self.say(line)?;
        }
        Ok(email_id)
    }

    /// Step 5: the same bytes again are stored once.
    fn duplicates(&mut self) -> Result<(), Failure> {
        self.say("5. the same testimonies again: stored once, recorded as duplicates".into())?;
        let again = self.ingest(vec![self.fixtures.join("testimonies")], None)?;
        let dups = again
            .items
            .iter()
            .filter(|i| i.status == Status::Duplicate)
            .count();
        self.say(format!(
            "   {dups} of {} were already stored",
            again.items.len()
        ))?;
        Ok(())
    }

    /// Step 6: a second case, and the e-mail linked into it.
    fn second_case(&mut self, email: EvidenceId) -> Result<(), Failure> {
        let referral = case_id("UN-REFERRAL-1")?;
        self.say(format!(
            "6. a second case, {referral}, and the e-mail linked into it"
        ))?;
        self.archive
            .create_case(&referral, "Referral to a UN mechanism (synthetic)", None)?;
        let reason = Some("relevant to the referral".into());
        self.archive
            .link(&ItemRef::Id(email), &referral, reason, true)?;
        Ok(())
    }

    /// Step 7: one item's bytes back out, checked.
    fn extract(&mut self, first: EvidenceId) -> Result<(), Failure> {
        let extracted = self.workdir.join("extracted");
        std::fs::create_dir_all(&extracted).map_err(|e| Error::Io {
            path: extracted.clone(),
            source: e,
        })?;
        let reason = Some("demo: check the bytes".into());
        let done = self
            .archive
            .extract(&ItemRef::Id(first), &extracted, reason)?;
        let line = format!(
            "7. extract {first} to {}: SHA-256 {}",
            escape_path(&done.path),
            done.fixity.sha256
        );
        self.say(line)?;
        Ok(())
    }

    /// Steps 8 and 9: the case as a bundle, checked with no archive.
    fn export_and_check(&mut self, case: CaseId) -> Result<(PathBuf, VerifyReport), Failure> {
        let bundle = self.workdir.join("bundle-BY-2024-017");
        let export = ExportOptions {
            case: case.clone(),
            out: bundle.clone(),
            evidence: Vec::new(),
            attachments: true,
            reason: Some("demo: referral bundle".into()),
            organization: Some("Demo Human Rights Centre (fictional)".into()),
            contact: None,
            reveal: Vec::new(),
        };
        let exported = self.archive.export(&export)?;
        self.say(format!(
            "8. export {case} to {}: {} items, a BagIt bag (tag manifest SHA-256 {})",
            escape_path(&exported.bundle),
            exported.items,
            exported.tagmanifest_sha256
        ))?;
        // The exporter's public key, as a recipient would have it from them in person.
        let signed = self.archive.checkpoint()?;
        let note = self.workdir.join("checkpoint");
        std::fs::write(&note, &signed.note).map_err(|e| Error::Io {
            path: note.clone(),
            source: e,
        })?;
        let trust = custodia::BundleTrust {
            keys: vec![signed.public_key.clone()],
            tsa_ca: Vec::new(),
        };
        let checked = verify_bundle(&bundle, &trust)?;
        self.say(format!(
            "9. verify --bundle, with no archive: {} ({} files, {} custody events; --trust-key: the exporter's key)",
            verdict(checked.ok()),
            checked.checked.contents,
            checked.checked.events
        ))?;
        if let Some(t) = &checked.trust {
            self.say(format!(
                "   every event signed ({} key(s)); checkpoint of {} events signed by {} (trusted: {}); data/proof/check.py checks the same without custodia",
                t.signed_by.len(),
                t.checkpoint_size,
                t.checkpoint_signer,
                if t.trusted_keys { "yes" } else { "no" }
            ))?;
        }
        self.say(format!(
            "   checkpoint of the whole log ({} events) for a notary: {}",
            signed.checkpoint.size,
            escape_path(&note)
        ))?;
        Ok((bundle, checked))
    }
}
