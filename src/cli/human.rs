//! Human output: the lines a person reads for each result, every name and free text escaped.
//!
//! Only rendering lives here; what is shown comes from the library's results.

use custodia::custody::Event;
use custodia::text::{escape_bytes, escape_path, escape_text};
use custodia::{CaseRecord, ExportReport, Extracted, ItemDetail, ItemView, Logged, VerifyReport};

use super::output::{BrokenPipe, Out};

type Shown = Result<(), BrokenPipe>;

pub fn case_line(out: &mut Out, c: &CaseRecord) -> Shown {
    out.line(&format!("{}  {}", c.id, escape_text(&c.title)))
}

pub fn case(out: &mut Out, case: &CaseRecord, items: &[ItemView]) -> Shown {
    out.line(&format!("case:        {}", case.id))?;
    out.line(&format!("title:       {}", escape_text(&case.title)))?;
    if let Some(d) = &case.description {
        out.line(&format!("description: {}", escape_text(d)))?;
    }
    out.line(&format!(
        "created:     {} by {}",
        escape_text(&case.created_at),
        escape_text(&case.actor)
    ))?;
    out.line(&format!("items:       {}", items.len()))?;
    list(out, items)
}

pub fn list(out: &mut Out, items: &[ItemView]) -> Shown {
    for v in items {
        let i = &v.item;
        let cases: Vec<String> = v.cases.iter().map(|c| c.to_string()).collect();
        let parent = i
            .parent
            .map(|p| format!("  (attachment of {p})"))
            .unwrap_or_default();
        out.line(&format!(
            "{}  {}  {:>12}  {}  [{}]{}",
            i.id,
            &i.blake3.to_hex()[..16],
            i.size,
            escape_bytes(&i.name),
            cases.join(","),
            parent
        ))?;
    }
    Ok(())
}

/// A list of things, or `-` for none.
fn joined<T: ToString>(things: &[T]) -> String {
    if things.is_empty() {
        return "-".into();
    }
    let texts: Vec<String> = things.iter().map(ToString::to_string).collect();
    texts.join(", ")
}

pub fn show(out: &mut Out, d: &ItemDetail) -> Shown {
    let i = &d.view.item;
    let opt = |v: &Option<String>| v.as_deref().map(escape_text).unwrap_or_else(|| "-".into());
    let tags = if i.tags.is_empty() {
        "-".into()
    } else {
        escape_text(&i.tags.join(", "))
    };
    let rows = [
        ("id", i.id.to_string()),
        ("name", escape_bytes(&i.name)),
        ("path", escape_bytes(&i.path)),
        ("size", format!("{} bytes", i.size)),
        ("blake3", i.blake3.to_hex()),
        ("sha256", i.sha256.to_hex()),
        (
            "cases",
            d.view
                .cases
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("parent", i.parent.map_or("-".into(), |p| p.to_string())),
        ("attachments", joined(&d.attachments)),
        ("source", opt(&i.source)),
        ("note", opt(&i.note)),
        ("tags", tags),
        ("captured at", opt(&i.captured_at)),
        ("modified at", opt(&i.modified_at)),
        ("ingested at", escape_text(&i.ingested_at)),
        ("ingested by", escape_text(&i.actor)),
    ];
    for (k, v) in rows {
        out.line(&format!("{:<12} {}", format!("{k}:"), v))?;
    }
    out.line("custody:")?;
    for e in &d.custody {
        out.line(&format!("  {}", event_line(e)))?;
    }
    Ok(())
}

fn event_line(e: &Event) -> String {
    let items: Vec<&str> = e.item_ids().collect();
    let mut line = format!(
        "#{:<5} {}  {:<11} {}",
        e.seq,
        escape_text(&e.time),
        e.action.as_str(),
        escape_text(&e.actor)
    );
    if let Some(c) = &e.case {
        line.push_str(&format!("  case {}", escape_text(c)));
    }
    if !items.is_empty() {
        line.push_str(&format!("  {}", escape_text(&items.join(","))));
    }
    if let Some(r) = &e.reason {
        line.push_str(&format!("  reason: {}", escape_text(r)));
    }
    line
}

pub fn log(out: &mut Out, events: &[Logged]) -> Shown {
    for l in events {
        out.line(&format!("{}  sha256 {}", event_line(&l.event), l.sha256))?;
    }
    Ok(())
}

/// What a bundle's proof established, in words.
fn trust_lines(out: &mut Out, t: &custodia::findings::Trust) -> Shown {
    let who = if t.checkpoint_signer.is_empty() {
        "no key it could check".to_string()
    } else if t.trusted_keys {
        format!("{} (a key you trust)", t.checkpoint_signer)
    } else {
        format!(
            "{} (registered in the log; name keys you trust with --trust-key)",
            t.checkpoint_signer
        )
    };
    out.line(&format!(
        "checkpoint: {} events, root {}, signed by {who}",
        t.checkpoint_size, t.checkpoint_root
    ))?;
    out.line(&format!("events signed by: {}", t.signed_by.join(", ")))?;
    for s in &t.timestamps {
        let trusted = if s.trusted {
            "a TSA you trust"
        } else {
            "a TSA not checked against a CA (--tsa-ca)"
        };
        out.line(&format!(
            "time-stamped: the first {} events existed by {}, per {} ({trusted})",
            s.checkpoint_size,
            s.time,
            escape_text(&s.tsa)
        ))?;
    }
    if t.timestamps.is_empty() {
        out.line("time-stamped: no (the bundle carries no RFC 3161 token)")?;
    }
    Ok(())
}

pub fn verify(out: &mut Out, report: &VerifyReport) -> Shown {
    if let Some(t) = &report.trust {
        trust_lines(out, t)?;
    }
    for p in &report.problems {
        let id = p
            .subject()
            .map(|i| format!("{}: ", escape_text(&i)))
            .unwrap_or_default();
        out.line(&format!(
            "DAMAGED {}: {id}{}",
            p.kind().as_str(),
            escape_text(&p.to_string())
        ))?;
    }
    let c = report.checked;
    let verdict = if report.ok() {
        "OK".to_string()
    } else {
        format!("{} PROBLEM(S)", report.problems.len())
    };
    let unsigned = match c.unsigned_events {
        0 => String::new(),
        n => format!(", {n} from before signing"),
    };
    out.line(&format!(
        "{verdict}: checked {} items, {} contents ({} bytes), {} custody events ({} signed{unsigned})",
        c.items, c.contents, c.bytes, c.events, c.signed_events
    ))
}

pub fn extracted(out: &mut Out, done: &Extracted) -> Shown {
    out.line(&format!(
        "{} written to {} ({} bytes, BLAKE3 and SHA-256 checked)",
        done.id,
        escape_path(&done.path),
        done.fixity.size
    ))
}

pub fn exported(out: &mut Out, done: &ExportReport, case: &str) -> Shown {
    let bundle = escape_path(&done.bundle);
    out.line(&format!(
        "exported {} item(s) of {case} ({} payload bytes) to {bundle}",
        done.items, done.bytes
    ))?;
    out.line(&format!(
        "tag manifest SHA-256: {}",
        done.tagmanifest_sha256
    ))?;
    out.line(&format!(
        "check it with: bagit.py --validate {bundle}   or   custodia verify --bundle {bundle}"
    ))
}
