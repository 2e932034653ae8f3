//! Human output: the lines a person reads for each result, every name and free text escaped.
//!
//! Only rendering lives here; what is shown comes from the library's results.

use custodia::custody::details::AnnotateDetails;
use custodia::custody::disclosure::NOT_DISCLOSED;
use custodia::custody::{Action, Event};
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
            "{}  {}  {:>10}  {}  [{}]{}",
            i.id,
            &i.blake3.to_hex()[..16],
            size(i.size),
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
    let now = &d.view.metadata;
    let opt = |v: &Option<String>| v.as_deref().map(escape_text).unwrap_or_else(|| "-".into());
    let tags = if now.tags.is_empty() {
        "-".into()
    } else {
        escape_text(&now.tags.join(", "))
    };
    let rows = [
        ("id", i.id.to_string()),
        ("name", escape_bytes(&i.name)),
        ("path", escape_bytes(&i.path)),
        ("size", size_exact(i.size)),
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
        ("source", opt(&now.source)),
        ("note", opt(&now.note)),
        ("tags", tags),
        ("captured at", opt(&now.captured_at)),
        ("modified at", opt(&i.modified_at)),
        ("ingested at", escape_text(&i.ingested_at)),
        ("ingested by", escape_text(&i.actor)),
    ];
    for (k, v) in rows {
        out.line(&format!("{:<12} {}", format!("{k}:"), v))?;
    }
    annotations(out, d)?;
    out.line("custody:")?;
    let columns = Columns::of(d.custody.iter());
    for e in &d.custody {
        out.line(&format!("  {}", columns.line(e)))?;
    }
    Ok(())
}

/// `annotations:` and one line per annotation, oldest first, when the item has any.
fn annotations(out: &mut Out, d: &ItemDetail) -> Shown {
    let all: Vec<_> = d.annotations().collect();
    if all.is_empty() {
        return Ok(());
    }
    out.line("annotations:")?;
    for (e, change) in all {
        out.line(&format!(
            "  #{}  {}  {}  {}  reason: {}",
            e.seq,
            escape_text(&e.time),
            escape_text(&e.actor),
            changes(&change),
            e.reason.as_deref().map_or("-".into(), escape_text)
        ))?;
    }
    Ok(())
}

/// What an annotation changed, in words: `tags +a -b; source: S; note: N; captured at: T`.
pub fn changes(c: &AnnotateDetails) -> String {
    let mut parts = Vec::new();
    let tags: Vec<String> = c
        .tags_added
        .iter()
        .map(|t| format!("+{}", escape_text(t)))
        .chain(
            c.tags_removed
                .iter()
                .map(|t| format!("-{}", escape_text(t))),
        )
        .collect();
    if !tags.is_empty() {
        parts.push(format!("tags {}", tags.join(" ")));
    }
    for (label, value) in [
        ("source", &c.source),
        ("note", &c.note),
        ("captured at", &c.captured_at),
    ] {
        if let Some(v) = value {
            parts.push(format!("{label}: {}", escape_text(v)));
        }
    }
    parts.join("; ")
}

pub fn annotated(out: &mut Out, a: &custodia::Annotated) -> Shown {
    out.line(&format!(
        "{} annotated (event #{}): {}",
        a.id,
        a.seq,
        changes(&a.change)
    ))
}

/// Several items named by one hash (the same bytes in several cases): each in full.
pub fn show_all(out: &mut Out, reference: &str, details: &[ItemDetail]) -> Shown {
    let ids: Vec<String> = details.iter().map(|d| d.view.item.id.to_string()).collect();
    out.line(&format!(
        "{} items hold the bytes {reference} names: {}",
        details.len(),
        ids.join(", ")
    ))?;
    for d in details {
        out.line("")?;
        show(out, d)?;
    }
    Ok(())
}

/// The widths of a log's columns, so that every line lines up whatever the lengths of
/// actors' and hosts' names (issue 12, point 9). Widths count characters.
pub struct Columns {
    seq: usize,
    action: usize,
    actor: usize,
    host: usize,
}

impl Columns {
    pub fn of<'a>(events: impl Iterator<Item = &'a Event>) -> Columns {
        let mut c = Columns {
            seq: 1,
            action: 1,
            actor: 1,
            host: 1,
        };
        for e in events {
            c.seq = c.seq.max(e.seq.to_string().len());
            c.action = c.action.max(e.action.as_str().len());
            c.actor = c.actor.max(escape_text(&e.actor).chars().count());
            c.host = c.host.max(escape_text(host_of(e)).chars().count());
        }
        c
    }

    /// `#SEQ  TIME  ACTION  ACTOR  HOST`, then what the event concerns and its outcome.
    pub fn line(&self, e: &Event) -> String {
        let items: Vec<&str> = e.item_ids().collect();
        let mut line = format!(
            "#{:<seq$}  {}  {:<action$}  {:<actor$}  {:<host$}",
            e.seq,
            escape_text(&e.time),
            e.action.as_str(),
            escape_text(&e.actor),
            escape_text(host_of(e)),
            seq = self.seq,
            action = self.action,
            actor = self.actor,
            host = self.host,
        );
        if e.case.is_some() {
            let case = e.case_id().unwrap_or(NOT_DISCLOSED);
            line.push_str(&format!("  case {}", escape_text(case)));
        }
        if !items.is_empty() {
            line.push_str(&format!("  {}", escape_text(&items.join(","))));
        }
        if let Some(o) = outcome(e) {
            line.push_str(&format!("  {o}"));
        }
        if let Some(r) = &e.reason {
            line.push_str(&format!("  reason: {}", escape_text(r)));
        }
        line
    }
}

/// What an event came to, when its details say: a verification's result, where an
/// extract or export went, a sealed bundle's digest.
fn outcome(e: &Event) -> Option<String> {
    let text = |k: &str| e.details.get(k).and_then(|v| v.as_str()).map(escape_text);
    let number = |k: &str| e.details.get(k).and_then(|v| v.as_u64());
    match e.action {
        Action::Verify => {
            // A partial verify says so, and how much it re-read.
            let partial = match (text("subset"), number("contents_read")) {
                (Some(s), Some(n)) => format!(" (partial {s}: {n} contents re-read)"),
                (Some(s), None) => format!(" (partial {s})"),
                _ => String::new(),
            };
            match (
                e.details.get("ok").and_then(|v| v.as_bool()),
                number("problems"),
            ) {
                (Some(true), _) => Some(format!("result: OK{partial}")),
                (Some(false), Some(n)) => Some(format!("result: {n} PROBLEM(S){partial}")),
                _ => None,
            }
        }
        Action::Extract if text("out").as_deref() == Some("-") => {
            Some("to: standard output".into())
        }
        Action::Extract => text("out").map(|o| format!("to: {o}")),
        Action::Export => text("bundle").map(|b| format!("to: {b}")),
        Action::Seal => text("tagmanifest_sha256").map(|d| format!("tagmanifest sha256: {d}")),
        Action::Annotate => e.details_as::<AnnotateDetails>().map(|c| changes(&c)),
        _ => None,
    }
}

pub fn log(out: &mut Out, events: &[Logged]) -> Shown {
    let columns = Columns::of(events.iter().map(|l| &l.event));
    for l in events {
        out.line(&format!("{}  sha256 {}", columns.line(&l.event), l.sha256))?;
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

/// `export --dry-run`: each item that would go, then what would stay out.
pub fn export_plan(
    out: &mut Out,
    plan: &custodia::ExportPlan,
    case: &str,
    bundle: &std::path::Path,
) -> Shown {
    out.line(&format!(
        "dry run: nothing written or recorded; `export` would write {}",
        escape_path(bundle)
    ))?;
    for item in &plan.items {
        let attached = item
            .parent
            .map(|p| format!("  (attachment of {p})"))
            .unwrap_or_default();
        out.line(&format!(
            "  {}  {:>10}  {}{attached}",
            item.id,
            size(item.size),
            escape_bytes(&item.name)
        ))?;
    }
    out.line(&format!(
        "would export {} item(s) of {case}: {}, {} of them attachment(s)",
        plan.items.len(),
        size_exact(plan.bytes()),
        plan.attachments()
    ))?;
    left_out(out, &plan.left_out)
}

/// The items an export leaves out, one line each with the reason, or that none is.
fn left_out(out: &mut Out, left: &[custodia::LeftOut]) -> Shown {
    if left.is_empty() {
        return out.line("left out: nothing");
    }
    out.line(&format!("left out: {} item(s)", left.len()))?;
    for l in left {
        let of = l
            .parent
            .map(|p| format!(", attachment of {p}"))
            .unwrap_or_default();
        let why = match l.reason {
            custodia::LeftOutReason::NoAttachments => "attachments left out (--no-attachments)",
            custodia::LeftOutReason::OtherCase => "filed only in another case, not in this one",
        };
        out.line(&format!("  {}{of}: {why}", l.id))?;
    }
    Ok(())
}

/// A size for people with the exact count beside it: `30.0 MiB (31457280 bytes)`, `5 B`.
pub fn size_exact(bytes: u64) -> String {
    if bytes < 1024 {
        return size(bytes);
    }
    format!("{} ({bytes} bytes)", size(bytes))
}

/// A size for people: `512 B`, `30.0 MiB` (JSON keeps exact bytes).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.96 KiB would print as "1024.0 KiB": move up before rounding does.
    while value >= 1023.95 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// What a verification checked: `contents` are the distinct file bodies the archive stores
/// (items with the same bytes share one), or a bundle's payload files.
pub enum Checked {
    Archive,
    Bundle,
}

pub fn verify(out: &mut Out, report: &VerifyReport, what: Checked) -> Shown {
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
    let contents = match what {
        Checked::Archive => "distinct stored contents",
        Checked::Bundle => "payload files",
    };
    out.line(&format!(
        "{verdict}: checked {} items, {} {contents} ({} re-read and re-hashed), {} custody events ({} signed{unsigned})",
        c.items,
        c.contents,
        size(c.bytes),
        c.events,
        c.signed_events
    ))?;
    match &report.subset {
        Some((subset, read)) => out.line(&format!(
            "partial read ({subset}): {read} of {} contents re-read; every record and custody event checked",
            c.contents
        )),
        None => Ok(()),
    }
}

pub fn extracted(out: &mut Out, done: &Extracted) -> Shown {
    out.line(&format!(
        "{} written to {} ({}, BLAKE3 and SHA-256 checked)",
        done.id,
        escape_path(&done.path),
        size(done.fixity.size)
    ))
}

/// `link`: the item, and the attachments that joined the case with it.
pub fn linked(out: &mut Out, linked: &custodia::Linked, case: &custodia::ids::CaseId) -> Shown {
    out.line(&format!("{} is now in case {case}", linked.id))?;
    if !linked.attachments.is_empty() {
        let ids: Vec<String> = linked.attachments.iter().map(|a| a.to_string()).collect();
        out.line(&format!("with its attachment(s): {}", ids.join(", ")))?;
    }
    Ok(())
}

pub fn exported(out: &mut Out, done: &ExportReport, case: &str) -> Shown {
    let bundle = escape_path(&done.bundle);
    out.line(&format!(
        "exported {} item(s) of {case} ({} payload) to {bundle}",
        done.items,
        size(done.bytes)
    ))?;
    out.line(&format!(
        "evidence: {} item(s), {}, {} of them attachment(s)",
        done.items,
        size_exact(done.evidence_bytes),
        done.attachments
    ))?;
    left_out(out, &done.left_out)?;
    out.line(&format!(
        "tag manifest SHA-256: {}",
        done.tagmanifest_sha256
    ))?;
    out.line(&format!(
        "check it with: bagit.py --validate {bundle}   or   custodia verify --bundle {bundle}"
    ))
}

pub fn stats(out: &mut Out, s: &super::wire::StatsOut) -> Shown {
    let b = &s.bytes;
    let rows = [
        ("items", s.items.to_string()),
        (
            "contents",
            format!(
                "{} (distinct file bodies; items with the same bytes share one)",
                s.contents
            ),
        ),
        ("item bytes", size_exact(b.items)),
        (
            "stored",
            format!("{}, each content once", size_exact(b.stored)),
        ),
        ("saved by dedup", size_exact(b.saved_by_dedup)),
        (
            "on disk",
            format!(
                "{} (volumes {}, database {})",
                size(b.on_disk),
                size(b.volumes),
                size(b.db)
            ),
        ),
        ("cases", s.cases.to_string()),
        ("events", s.events.to_string()),
    ];
    for (k, v) in rows {
        out.line(&format!("{:<15} {v}", format!("{k}:")))?;
    }
    out.line(&format!("actors:         {}", s.actors.len()))?;
    let names: Vec<String> = s.actors.iter().map(|a| escape_text(&a.actor)).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for (name, a) in names.iter().zip(&s.actors) {
        out.line(&format!("  {name:<width$}  {} event(s)", a.events))?;
    }
    Ok(())
}

/// An event's host name, or that it is hidden (an opening the archive lacks).
fn host_of(e: &Event) -> &str {
    e.host_name().unwrap_or(NOT_DISCLOSED)
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(30 << 20), "30.0 MiB");
        assert_eq!(size((1 << 20) - 1), "1.0 MiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
    }
}
