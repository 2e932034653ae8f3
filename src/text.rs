//! Showing untrusted names safely: bytes kept exact, shown with anything deceptive escaped.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Escapes a file name or path for display: invalid UTF-8 as `\xNN`, control characters,
/// ANSI escapes and bidirectional overrides as `\u{…}`, backslash as `\\`.
///
/// A name must never be able to move the cursor, recolour a line or reorder text to fake
/// an "OK" on an auditor's terminal.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if is_deceptive(c) {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

pub fn escape_path(path: &Path) -> String {
    escape_bytes(path.as_os_str().as_bytes())
}

pub fn escape_os(s: &OsStr) -> String {
    escape_bytes(s.as_bytes())
}

/// Escapes free text (notes, sources, actors) for a terminal; same rules as names.
pub fn escape_text(s: &str) -> String {
    escape_bytes(s.as_bytes())
}

fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' // zero-width and directional marks
            | '\u{2028}'..='\u{202e}' // line/paragraph separators, bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{feff}')
}

/// The exact text of a name when it is valid UTF-8, for JSON (which escapes control characters itself).
pub fn exact_or_escaped(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => escape_bytes(bytes),
    }
}

/// The original name when it is one safe, portable path component; otherwise a derived one.
pub fn safe_file_name(name: &[u8], fallback: &str) -> String {
    match std::str::from_utf8(name) {
        Ok(s) if is_portable_name(s) => s.to_owned(),
        _ => fallback.to_owned(),
    }
}

/// A name that is one path component on every common OS and shows no control or bidi characters.
pub fn is_portable_name(s: &str) -> bool {
    let reserved = [
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "LPT1", "LPT2", "LPT3",
    ];
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    !s.is_empty()
        && s.len() <= 200
        && s != "."
        && s != ".."
        && !s.starts_with('.')
        && !s.ends_with(['.', ' '])
        && !reserved.contains(&stem.as_str())
        && !s
            .chars()
            // `%`: sha256sum and b3sum read manifest paths literally; BagIt percent-encodes it.
            .any(|c| {
                matches!(
                    c,
                    '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '%'
                )
            })
        && escape_text(s) == s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deceptive_names_are_escaped() {
        assert_eq!(escape_bytes(b"plain name.txt"), "plain name.txt");
        assert_eq!(escape_bytes("свидетель.txt".as_bytes()), "свидетель.txt");
        assert_eq!(
            escape_bytes(b"a\x1b[32mOK\x1b[0m"),
            "a\\u{1b}[32mOK\\u{1b}[0m"
        );
        assert_eq!(escape_bytes(b"bad\xff\xfe"), "bad\\xff\\xfe");
        assert_eq!(
            escape_bytes("x\u{202e}txt.exe".as_bytes()),
            "x\\u{202e}txt.exe"
        );
        assert_eq!(escape_bytes(b"line\nbreak\\"), "line\\u{a}break\\\\");
    }
}
