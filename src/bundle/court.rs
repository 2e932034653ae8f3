//! The two files of a bundle written for people rather than programs (issue 12, point 7):
//! `data/inventory.csv`, one row per item for a spreadsheet, and `data/index.html`, the
//! case, its items and each item's custody history in plain words, for a browser or paper.
//!
//! Both are pure functions of the bundle's own metadata (case.json, evidence.json and the
//! custody events naming the items), so that `export` and `verify --bundle` produce the same
//! bytes from the same documents and nothing from outside the bag can enter them.

use crate::custody::disclosure::{Disclosed, NOT_DISCLOSED};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::layout::{CaseJson, EvidenceEntry};
use crate::custody::details::AnnotateEvent;
use crate::custody::{Action, Event};

/// inventory.csv's header line; the columns in this order.
pub const INVENTORY_HEADER: &str = "id,name,size,sha256,blake3,captured_at,source,tags,parent";

/// `data/inventory.csv`: RFC 4180 (CRLF line ends, a field with `,` `"` CR or LF quoted and
/// its `"` doubled), the header then one row per entry in the order given (id order).
/// Names are the text evidence.json gives (`name`: exact, or escaped when not UTF-8), tags
/// joined with `;`.
pub fn inventory_csv<'a>(entries: impl IntoIterator<Item = &'a EvidenceEntry>) -> String {
    let mut out = String::new();
    out.push_str(INVENTORY_HEADER);
    out.push_str("\r\n");
    for e in entries {
        let size = e.size.to_string();
        let tags = e.tags.join(";");
        let fields: [&str; 9] = [
            &e.id,
            &e.name,
            &size,
            &e.sha256,
            &e.blake3,
            e.captured_at.as_deref().unwrap_or(""),
            e.source.plain().and_then(|s| s.as_deref()).unwrap_or(""),
            &tags,
            e.parent.as_deref().unwrap_or(""),
        ];
        for (n, field) in fields.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            push_csv_field(&mut out, field);
        }
        out.push_str("\r\n");
    }
    out
}

fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// Each exported item's custody history (as the bundle's custody.jsonl holds it, before
/// the export's own event), as the sentences index.html prints, by item id, oldest first.
/// Sentences, not events: an export of many items holds a line per event and item, not
/// every parsed event at once.
pub struct Histories(BTreeMap<String, Vec<String>>);

impl Histories {
    /// Empty histories for the items of `entries`.
    pub fn new(entries: &[EvidenceEntry]) -> Histories {
        Histories(entries.iter().map(|e| (e.id.clone(), Vec::new())).collect())
    }

    /// Adds an event (in log order) to the history of each exported item it names.
    pub fn add(&mut self, event: &Event) {
        let mut said = None;
        for id in event.item_ids() {
            if let Some(list) = self.0.get_mut(id) {
                list.push(said.get_or_insert_with(|| sentence(event)).clone());
            }
        }
    }

    fn of(&self, id: &str) -> &[String] {
        self.0.get(id).map_or(&[], Vec::as_slice)
    }
}

/// `data/index.html`: one self-contained page (no scripts, no external resources; the
/// style inline, with print rules), every value HTML-escaped and every control or
/// bidirectional-formatting character shown as a visible `⟨U+XXXX⟩` mark, so a hostile
/// name can neither run, nor hide, nor reorder the text around it.
pub fn write_index_html(
    out: &mut impl std::io::Write,
    case: &CaseJson,
    entries: &[EvidenceEntry],
    history: &Histories,
) -> std::io::Result<()> {
    // Written out as it grows: a case of many items never holds its whole page.
    let mut h = String::with_capacity(2 * PAGE_PIECE);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Case {} — evidence bundle</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        esc(&case.id)
    );
    let _ = writeln!(
        h,
        "<header>\n<p class=\"kicker\">Evidence bundle</p>\n<h1>Case <span class=\"case-id\">{}</span>: {}</h1>",
        esc(&case.id),
        esc(&case.title)
    );
    if let Some(d) = &case.description {
        let _ = writeln!(h, "<p class=\"description\">{}</p>", esc(d));
    }
    let _ = writeln!(
        h,
        "<dl class=\"facts\">\n<dt>Case opened</dt><dd>{} by {}</dd>\n<dt>Items in this bundle</dt><dd>{} ({})</dd>\n<dt>Archive</dt><dd><code>{}</code></dd>\n</dl>\n</header>",
        esc(&when(&case.created_at)),
        esc(&case.created_by),
        entries.len(),
        esc(&size_text(entries.iter().map(|e| e.size).sum())),
        esc(&case.archive_id),
    );
    h.push_str(
        "<section>\n<h2>Items</h2>\n<table class=\"items\">\n<thead><tr><th>ID</th><th>Name</th>\
         <th>Size</th><th>SHA-256</th><th>Captured at</th><th>Source</th><th>Tags</th>\
         <th>Attachment of</th></tr></thead>\n<tbody>\n",
    );
    for e in entries {
        let _ = writeln!(
            h,
            "<tr class=\"item\"><td class=\"id\">{id}</td><td class=\"name\"><bdi>{name}</bdi></td>\
             <td class=\"size\">{human}</td>\
             <td class=\"hash\"><code>{sha}</code></td><td>{captured}</td><td>{source}</td>\
             <td>{tags}</td><td>{parent}</td></tr>",
            id = esc(&e.id),
            name = esc(&e.name),
            human = size_cell(e.size),
            sha = esc(&e.sha256),
            captured = esc(e.captured_at.as_deref().unwrap_or("—")),
            source = esc(match &e.source {
                Disclosed::Plain(s) => s.as_deref().unwrap_or("—"),
                Disclosed::Hidden(_) => NOT_DISCLOSED,
            }),
            tags = esc(&e.tags.join(", ")),
            parent = esc(e.parent.as_deref().unwrap_or("—")),
        );
        drain(&mut h, out, PAGE_PIECE)?;
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
    write_histories(&mut h, out, entries, history)?;
    h.push_str(HOW_TO_CHECK);
    h.push_str("</body>\n</html>\n");
    drain(&mut h, out, 0)
}

/// The page's custody-history section: each item's events in plain words, oldest first.
fn write_histories(
    h: &mut String,
    out: &mut impl std::io::Write,
    entries: &[EvidenceEntry],
    history: &Histories,
) -> std::io::Result<()> {
    h.push_str("<section>\n<h2>Custody history</h2>\n");
    h.push_str(
        "<p>Every recorded event of each item, oldest first, as the custody log \
         (<code>custody.jsonl</code>) holds it. The export that made this bundle is its last event.</p>\n",
    );
    for e in entries {
        let _ = writeln!(
            h,
            "<article class=\"history\">\n<h3>{} — <bdi>{}</bdi></h3>\n<ol>",
            esc(&e.id),
            esc(&e.name)
        );
        for said in history.of(&e.id) {
            let _ = writeln!(h, "<li>{}</li>", esc(said));
        }
        h.push_str("</ol>\n</article>\n");
        drain(h, out, PAGE_PIECE)?;
    }
    Ok(())
}

/// How much of index.html is gathered before it is written out.
const PAGE_PIECE: usize = 64 << 10;

/// Writes out what `h` gathered once it holds more than `over` bytes.
fn drain(h: &mut String, out: &mut impl std::io::Write, over: usize) -> std::io::Result<()> {
    if h.len() > over {
        out.write_all(h.as_bytes())?;
        h.clear();
    }
    Ok(())
}

const STYLE: &str = "body{font-family:Georgia,'Times New Roman',serif;color:#111;background:#fff;margin:2em auto;max-width:75em;padding:0 1em;line-height:1.4}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;border-bottom:2px solid #333;margin-top:1.6em}h3{font-size:1.05em;margin:1em 0 .3em}
.kicker{text-transform:uppercase;letter-spacing:.1em;color:#555;margin:0}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.facts dt{font-weight:bold}dl.facts dd{margin:0}
table.items{border-collapse:collapse;width:100%;font-size:.9em}
table.items th,table.items td{border:1px solid #999;padding:.3em .4em;vertical-align:top;text-align:left}
table.items th{background:#eee}td.id{white-space:nowrap}
td.hash code{font-size:.8em;word-break:break-all}.bytes{color:#555;font-size:.85em}
code{font-family:'DejaVu Sans Mono',Consolas,monospace}
.history ol{margin:.2em 0 .8em 1.5em;padding:0}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{page-break-after:avoid}
table.items thead{display:table-header-group}tr,.history{page-break-inside:avoid}a{color:#000}}
";

const HOW_TO_CHECK: &str = "<section>\n<h2>How to check this bundle</h2>\n<p>This page is a \
     reading aid: the evidence itself is in the folder <code>evidence</code> beside it, and \
     the authoritative record is in <code>evidence.json</code> and <code>custody.jsonl</code>. \
     To check that every file is exactly as the archive recorded it, and that its history was \
     not changed, follow <code>README-VERIFY.txt</code> in this folder: it gives the commands \
     for Linux, macOS and Windows, and needs nothing outside the bundle.</p>\n</section>\n";

/// One custody event in plain words, e.g. "2024-03-02 14:05:00 UTC — ingested by A into
/// case C from S (event 3)".
fn sentence(event: &Event) -> String {
    let text = |k: &str| event.details.get(k).and_then(|v| v.as_str());
    let actor = &event.actor;
    let case = event.case_id().unwrap_or(NOT_DISCLOSED);
    let mut s = format!("{} — ", when(&event.time));
    match event.action {
        Action::Ingest | Action::Acquire => {
            let verb = if event.action == Action::Ingest {
                "ingested"
            } else {
                "acquired again"
            };
            let _ = write!(s, "{verb} by {actor} into case {case}");
            if let Some(name) = text("name") {
                let _ = write!(s, " as “{name}”");
            }
            if let Some(source) = text("source") {
                let _ = write!(s, " from {source}");
            }
            if let Some(parent) = text("parent") {
                let _ = write!(s, ", attached to {parent}");
            }
        }
        Action::Link => {
            let _ = write!(s, "filed also in case {case} by {actor}");
        }
        Action::Annotate => {
            let _ = write!(s, "description corrected by {actor}");
            if let Some(change) = event.details_as::<AnnotateEvent>() {
                let _ = write!(s, "{}", corrected(&change));
            }
        }
        Action::Extract => {
            let _ = write!(s, "a copy extracted by {actor}");
        }
        Action::Export => {
            let _ = write!(s, "exported by {actor} from case {case}");
            if let Some(bundle) = text("bundle") {
                let _ = write!(s, " in bundle {bundle}");
            }
        }
        Action::Verify => {
            let _ = write!(s, "checked by {actor}");
        }
        Action::Import => {
            let _ = write!(s, "imported by {actor}");
        }
        other => {
            let _ = write!(s, "{} by {actor}", other.as_str().replace('_', " "));
        }
    }
    if let Some(reason) = &event.reason {
        let _ = write!(s, "; reason given: {reason}");
    }
    let _ = write!(s, " (event {})", event.seq);
    s
}

/// What an annotation changed, in words: ": tags added …; source now …".
fn corrected(c: &AnnotateEvent) -> String {
    let mut parts = Vec::new();
    if !c.tags_added.is_empty() {
        parts.push(format!("tags added {}", c.tags_added.join(", ")));
    }
    if !c.tags_removed.is_empty() {
        parts.push(format!("tags removed {}", c.tags_removed.join(", ")));
    }
    // A source or note the bundle does not reveal is said to have changed, not what to.
    let shown = |d: &Disclosed<Option<String>>| match d {
        Disclosed::Plain(v) => v.clone(),
        Disclosed::Hidden(_) => Some(NOT_DISCLOSED.to_owned()),
    };
    for (label, value) in [
        ("source", shown(&c.source)),
        ("note", shown(&c.note)),
        ("captured at", c.captured_at.clone()),
    ] {
        if let Some(v) = value {
            parts.push(format!("{label} now {v}"));
        }
    }
    format!(": {}", parts.join("; "))
}

/// An RFC 3339 time as people read it ("2024-03-02 14:05:00 UTC"); anything else as found.
fn when(time: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(time) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => time.to_owned(),
    }
}

/// A size cell: binary units, and the exact bytes below them when they differ.
fn size_cell(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    format!(
        "{}<br><span class=\"bytes\">{bytes} bytes</span>",
        esc(&size_text(bytes))
    )
}

/// A size in binary units with one decimal ("30.0 MiB"), bytes below 1 KiB.
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// HTML-escapes text for an element or a quoted attribute, and shows every control and
/// bidirectional-formatting character as a visible mark.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => {
                let _ = write!(out, "⟨U+{:04X}⟩", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Characters that would be invisible or reorder the text around them.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_exactly_the_fields_that_need_it() {
        let mut out = String::new();
        push_csv_field(&mut out, "plain");
        push_csv_field(&mut out, "a,b");
        push_csv_field(&mut out, "say \"hi\"");
        push_csv_field(&mut out, "two\nlines");
        assert_eq!(out, "plain\"a,b\"\"say \"\"hi\"\"\"\"two\nlines\"");
    }

    #[test]
    fn html_escapes_markup_and_shows_hidden_characters() {
        assert_eq!(
            esc("<script>&\"'\u{202E}\n"),
            "&lt;script&gt;&amp;&quot;&#39;⟨U+202E⟩⟨U+000A⟩"
        );
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(size_text(5), "5 B");
        assert_eq!(size_text(30 << 20), "30.0 MiB");
    }
}
