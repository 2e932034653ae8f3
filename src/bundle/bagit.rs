//! The BagIt 1.0 (RFC 8493) text formats custodia writes and checks: manifests, bag-info, path rules.

use crate::ids::{ContentId, Sha256Digest};

pub use crate::bag_layout::{Algorithm, BAG_INFO, BAGIT_TXT};
pub const BAGIT_DECLARATION: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// The tag files a tag manifest must cover: the declaration, bag-info and every payload manifest.
pub fn covered_tag_files() -> Vec<String> {
    [BAGIT_TXT.to_owned(), BAG_INFO.to_owned()]
        .into_iter()
        .chain(Algorithm::PAYLOAD.iter().map(|a| a.manifest()))
        .collect()
}

/// The three digests of one file, computed in one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigests {
    pub sha256: Sha256Digest,
    pub sha512: String,
    pub blake3: ContentId,
    pub size: u64,
}

impl FileDigests {
    pub fn get(&self, a: Algorithm) -> String {
        match a {
            Algorithm::Sha256 => self.sha256.to_hex(),
            Algorithm::Sha512 => self.sha512.clone(),
            Algorithm::Blake3 => self.blake3.to_hex(),
        }
    }
}

/// SHA-256, SHA-512 and BLAKE3 over the same bytes, fed once.
pub struct TripleHasher {
    sha256: sha2::Sha256,
    sha512: sha2::Sha512,
    blake3: blake3::Hasher,
    size: u64,
}

impl Default for TripleHasher {
    fn default() -> Self {
        use sha2::Digest;
        Self {
            sha256: sha2::Sha256::new(),
            sha512: sha2::Sha512::new(),
            blake3: blake3::Hasher::new(),
            size: 0,
        }
    }
}

impl TripleHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.sha256.update(bytes);
        self.sha512.update(bytes);
        self.blake3.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn finish(self) -> FileDigests {
        use sha2::Digest;
        FileDigests {
            sha256: Sha256Digest::from_bytes(self.sha256.finalize().into()),
            sha512: hex::encode(self.sha512.finalize()),
            blake3: self.blake3.finalize().into(),
            size: self.size,
        }
    }
}

/// One manifest line: `<hex>  <path>`, the format `sha256sum -c` and `b3sum -c` read.
/// RFC 8493 §2.1.3: CR, LF and % in a path are percent-encoded.
pub fn manifest_line(hex: &str, path: &str) -> String {
    let encoded = path
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    format!("{hex}  {encoded}\n")
}

/// Parses a manifest: each line's digest and decoded path, or one sentence per bad line.
pub fn parse_manifest(bytes: &[u8], algorithm: Algorithm) -> (Vec<(String, String)>, Vec<String>) {
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    let Ok(text) = std::str::from_utf8(bytes) else {
        bad.push("is not valid UTF-8".to_owned());
        return (entries, bad);
    };
    for (n, (line, end)) in tag_lines(text).enumerate() {
        if let Some(why) = foreign_line_end(end) {
            bad.push(format!("line {} {why}", n + 1));
            continue;
        }
        let parsed = line
            .split_once(' ')
            .map(|(h, p)| (h, p.trim_start_matches([' ', '*'])));
        match parsed {
            Some((hex, path))
                if hex.len() == algorithm.hex_len()
                    && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    && !path.is_empty() =>
            {
                let path = path
                    .replace("%0A", "\n")
                    .replace("%0D", "\r")
                    .replace("%25", "%");
                entries.push((hex.to_ascii_lowercase(), path));
            }
            _ => bad.push(format!(
                "line {} is not `<{}-hex>  <path>`",
                n + 1,
                algorithm.name()
            )),
        }
    }
    (entries, bad)
}

/// Why a manifest path may not be used, if it may not: it must stay inside the bag on any OS.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Some("is absolute");
    }
    if path.contains('\\') {
        return Some("contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return Some("contains control characters");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some("has an empty, `.` or `..` component");
    }
    None
}

/// True for every character Python's `str.splitlines()` ends a line at (bagit-python reads
/// tag files through `codecs`, which splits so): LF, CR, VT, FF, FS, GS, RS, NEL, U+2028, U+2029.
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{b}'
            | '\u{c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// A value made safe for one tag-file line: every control character (each line break
/// bagit-python splits on among them) and U+2028/U+2029 becomes a space, so that no value
/// can end its line and start a field of its own (issue 9.8).
pub fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || is_line_break(c) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The lines of a tag file as bagit-python sees them: split at every `is_line_break` (CR LF
/// counting as one), each with the text that ended it (empty for a last line without one).
pub fn tag_lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, end, next) = match rest.char_indices().find(|(_, c)| is_line_break(*c)) {
            Some((i, '\r')) if rest[i + 1..].starts_with('\n') => {
                (&rest[..i], &rest[i..i + 2], &rest[i + 2..])
            }
            Some((i, c)) => {
                let j = i + c.len_utf8();
                (&rest[..i], &rest[i..j], &rest[j..])
            }
            None => (rest, "", ""),
        };
        rest = next;
        Some((line, end))
    })
}

/// Why a line ending is not one custodia writes (it writes LF only), if it is not.
fn foreign_line_end(end: &str) -> Option<String> {
    match end {
        "\n" | "" => None,
        other => Some(format!(
            "ends with {}, a line break custodia never writes and other BagIt readers split differently",
            other
                .chars()
                .map(|c| format!("U+{:04X}", c as u32))
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

/// White space as Python's `str.isspace()` sees it (it adds the separators FS, GS, RS, US).
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// bag-info.txt from its fields, in order, each value made one line by `one_line`.
pub fn bag_info(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", one_line(v).trim()))
        .collect()
}

/// Parses bagit.txt or bag-info.txt at least as strictly as bagit-python: its lines split as
/// `tag_lines` splits them; blank lines skipped; a line starting with white space continues
/// the previous value; any other line must hold a `:`. Stricter, as custodia writes only
/// such files: a line break other than LF, or a label given twice (two `Payload-Oxum`
/// values, of which bagit-python checks only the first), is an error.
pub fn parse_bag_info(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (n, (line, end)) in tag_lines(text).enumerate() {
        if let Some(why) = foreign_line_end(end) {
            return Err(format!("line {} {why}", n + 1));
        }
        if line.chars().all(python_space) {
            continue;
        }
        if line.starts_with(python_space)
            && let Some((_, v)) = fields.last_mut()
        {
            v.push(' ');
            v.push_str(line.trim_matches(python_space));
            continue;
        }
        match line.split_once(':') {
            Some((k, v)) => {
                let k = k.trim_matches(python_space);
                if fields.iter().any(|(f, _)| f == k) {
                    return Err(format!(
                        "line {} gives the label {k:?} a second time",
                        n + 1
                    ));
                }
                fields.push((k.to_owned(), v.trim_matches(python_space).to_owned()))
            }
            None => return Err(format!("line {} is not `Label: value`", n + 1)),
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_that_leave_the_bag_are_refused() {
        for bad in [
            "/etc/passwd",
            "../x",
            "data/../../x",
            "data//x",
            "C:/x",
            "data\\x",
            "data/./x",
            "data/a\nb",
        ] {
            assert!(unsafe_path(bad).is_some(), "{bad:?}");
        }
        assert_eq!(
            unsafe_path("data/evidence/EV-000001/witness statement.txt"),
            None
        );
    }

    #[test]
    fn manifest_lines_round_trip_with_percent_encoding() {
        let line = manifest_line(&"a".repeat(64), "data/50%\nx");
        assert_eq!(line, format!("{}  data/50%25%0Ax\n", "a".repeat(64)));
        let (entries, bad) = parse_manifest(line.as_bytes(), Algorithm::Sha256);
        assert!(bad.is_empty());
        assert_eq!(entries, vec![("a".repeat(64), "data/50%\nx".to_owned())]);
    }

    #[test]
    fn bag_info_parses_continuations() {
        let fields = parse_bag_info("A: 1\nB: two\n  lines\n").unwrap();
        assert_eq!(
            fields,
            vec![("A".into(), "1".into()), ("B".into(), "two lines".into())]
        );
        assert!(parse_bag_info("no colon here\n").is_err());
    }

    #[test]
    fn unicode_line_breaks_split_tag_lines_and_are_refused() {
        let injected = "External-Description: Title\u{2028}Payload-Oxum: 1.1\nPayload-Oxum: 5.1\n";
        assert!(parse_bag_info(injected).is_err());
        assert!(parse_bag_info("A: 1\r\nB: 2\r\n").is_err());
        assert!(parse_bag_info("A: 1\nA: 2\n").is_err());
        let lines: Vec<_> = tag_lines("a\u{85}b\r\nc").collect();
        assert_eq!(lines, vec![("a", "\u{85}"), ("b", "\r\n"), ("c", "")]);
        assert_eq!(one_line("a\u{2028}b\u{85}c\u{b}d\re\nf"), "a b c d e f");
        assert_eq!(
            bag_info(&[("Contact-Name", "x\u{2029}Payload-Oxum: 1.1".into())]),
            "Contact-Name: x Payload-Oxum: 1.1\n"
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes: Vec<u8>) {
            let _ = parse_manifest(&bytes, Algorithm::Sha512);
            let _ = parse_bag_info(&String::from_utf8_lossy(&bytes));
            let _ = unsafe_path(&String::from_utf8_lossy(&bytes));
        }
    }
}
