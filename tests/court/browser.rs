//! index.html rendered by a real browser (issue 12, "Done means"): headless Chromium from
//! Debian's package takes a screenshot and dumps the DOM it built; the item rows it shows
//! must be evidence.json's ids and names (hidden characters shown as marks).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{HOSTILE, case, evidence_items, opt, require_chromium};
use crate::util::{arg, run_within, text};

/// How long one Chromium run may take (a cold start on a busy two-core machine).
const CHROMIUM_LIMIT: Duration = Duration::from_secs(120);

/// Runs headless Chromium on `page` with `extra` (e.g. `--dump-dom`); fails on a hang.
fn chromium(page: &Path, profile: &Path, extra: &[String]) -> std::process::Output {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1200,1600",
    ])
    .arg(format!("--user-data-dir={}", arg(profile)))
    .args(extra)
    .arg(format!("file://{}", arg(page)));
    let out = run_within(&mut cmd, CHROMIUM_LIMIT).unwrap_or_else(|e| panic!("chromium {e}"));
    assert!(
        out.status.success(),
        "chromium failed: {}",
        text(&out.stderr)
    );
    out
}

/// The text a browser shows for a name: control and bidirectional-formatting characters
/// as `⟨U+XXXX⟩` marks (docs/FORMAT.md, "data/inventory.csv and data/index.html").
fn shown(name: &str) -> String {
    name.chars()
        .map(|c| {
            let hidden = c.is_control()
                || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
            if hidden {
                format!("⟨U+{:04X}⟩", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Undoes the escaping of the DOM serialization in a text node.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The text between `open` and the next `close` in `s`, after `open`'s end.
fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let len = s[start..].find(close)?;
    Some(&s[start..start + len])
}

#[test]
fn issue_12_7_index_html_renders_in_chromium_with_the_items_of_evidence_json() {
    if !require_chromium(
        "issue_12_7_index_html_renders_in_chromium_with_the_items_of_evidence_json",
    ) {
        return;
    }
    let c = case();
    let (bag, _) = c.export("bundle", &["--reason", "court order 17/2024"]);
    let page = bag.join("data/index.html");
    // The screenshot: a PNG of the rendered page, not a blank one.
    let png = c.env.path("index.png");
    chromium(
        &page,
        &c.env.path("profile-shot"),
        &[format!("--screenshot={}", arg(&png))],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a {}-byte screenshot is a blank page",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("CUSTODIA_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
    // The DOM Chromium built: its item rows are evidence.json's items, in order.
    let out = chromium(&page, &c.env.path("profile-dom"), &["--dump-dom".into()]);
    let dom = text(&out.stdout);
    assert!(!dom.contains("<script"), "the rendered DOM holds a script");
    let rows: Vec<(String, String)> = dom
        .split("<tr class=\"item\">")
        .skip(1)
        .map(|row| {
            let id = between(row, "<td class=\"id\">", "</td>").expect("an id cell");
            let name = between(row, "<td class=\"name\"><bdi>", "</bdi>").expect("a name cell");
            (unescape(id), unescape(name))
        })
        .collect();
    let want: Vec<(String, String)> = evidence_items(&bag)
        .iter()
        .map(|i| (opt(&i["id"]), shown(&opt(&i["name"]))))
        .collect();
    assert_eq!(rows, want);
    for name in HOSTILE {
        assert!(
            rows.iter().any(|(_, n)| *n == shown(name)),
            "{name:?} not shown"
        );
    }
}
