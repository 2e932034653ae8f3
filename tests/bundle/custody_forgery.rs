//! Forged custody logs in a resealed bundle (edited, dropped, reordered or inserted events):
//! every manifest is right again, so only the hash chain can give them away.

use super::*;

/// One forged custody log: what was done to the lines, and the findings verify --bundle must report.
struct Forgery {
    what: &'static str,
    lines: Vec<Vec<u8>>,
    expected: BTreeSet<(String, String)>,
}

/// Replaces `from` by `to` in a line, once, keeping it valid JSON.
fn edit(line: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = std::str::from_utf8(line).unwrap();
    assert!(s.contains(from), "{from:?} not in {s}");
    let edited = s.replacen(from, to, 1);
    parse_line(edited.as_bytes());
    edited.into_bytes()
}

/// Replaces the commitment a line records for details `key` by another (all zeros).
fn recommit(line: &[u8], key: &str) -> Vec<u8> {
    let s = std::str::from_utf8(line).unwrap();
    let marker = format!("\"{key}\":{{\"commit\":\"sha256:");
    let at = s.find(&marker).expect("a committed field") + marker.len();
    let edited = format!("{}{}{}", &s[..at], "0".repeat(64), &s[at + 64..]);
    parse_line(edited.as_bytes());
    edited.into_bytes()
}

/// The fixture bag's custody lines, and which of them the forgeries touch.
struct Lines {
    lines: Vec<Vec<u8>>,
    n: usize,
    notes: String,
    ruling: String,
    notes_ingest: usize,
    extract: usize,
    ruling_ingest: usize,
    photo_ingest: usize,
}

impl Lines {
    /// The finding id of line `i`'s event.
    fn seq(&self, i: usize) -> String {
        format!("event {}", parse_line(&self.lines[i])["seq"])
    }

    /// The lines without line `i`.
    fn without(&self, i: usize) -> Vec<Vec<u8>> {
        let mut l = self.lines.clone();
        l.remove(i);
        l
    }

    /// The lines with line `i` replaced.
    fn with(&self, i: usize, line: Vec<u8>) -> Vec<Vec<u8>> {
        let mut l = self.lines.clone();
        l[i] = line;
        l
    }

    /// The lines with lines `i` and `j` swapped.
    fn swapped(&self, i: usize, j: usize) -> Vec<Vec<u8>> {
        let mut l = self.lines.clone();
        l.swap(i, j);
        l
    }
}

/// Findings as (kind, id) pairs.
fn set(f: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    f.iter()
        .map(|(k, i)| finding(k, i))
        .collect::<BTreeSet<_>>()
}

/// The custody lines of the fixture bag, with the lines the forgeries touch located.
fn forgery_lines(x: &Exported) -> Lines {
    let lines = custody_lines(&x.bag);
    let n = lines.len();
    let notes = x.id(EXTRACTED).to_owned();
    let ruling_fixture = "documents/court-ruling.pdf";
    let ruling = x.id(ruling_fixture).to_owned();
    let notes_ingest = x.line_of(&lines, "ingest", EXTRACTED);
    let extract = x.line_of(&lines, "extract", EXTRACTED);
    let ruling_ingest = x.line_of(&lines, "ingest", ruling_fixture);
    let photo_ingest = x.line_of(&lines, "ingest", "photos/detention-site.png");
    assert!(
        ruling_ingest < photo_ingest
            && photo_ingest < notes_ingest
            && notes_ingest < extract
            && extract == n - 2
    );
    Lines {
        lines,
        n,
        notes,
        ruling,
        notes_ingest,
        extract,
        ruling_ingest,
        photo_ingest,
    }
}

/// Every chain forgery of the fixture bag: removed, edited, reordered and inserted lines.
fn forgeries(x: &Exported) -> Vec<Forgery> {
    let l = forgery_lines(x);
    let mut all = removals(&l);
    all.extend(edits(&l));
    all.extend(moves(&l));
    all
}

/// Removed events: the extract, an ingest, the export (the last line).
fn removals(l: &Lines) -> Vec<Forgery> {
    let Lines {
        n,
        extract,
        ruling_ingest,
        ..
    } = *l;
    let notes = l.notes.clone();
    let ruling = l.ruling.clone();
    let seq = |i| l.seq(i);
    let without = |i| l.without(i);
    vec![
        Forgery {
            what: "removed the extract event (between ingest and export)",
            lines: without(extract),
            expected: set(&[("item_chain_broken", &notes)]),
        },
        Forgery {
            what: "removed an ingest event",
            lines: without(ruling_ingest),
            // Its revealed case (the exported one) now opens no event of the bag.
            expected: set(&[
                ("item_chain_broken", &ruling),
                ("metadata_mismatch", &seq(ruling_ingest)),
            ]),
        },
        Forgery {
            what: "removed the export event (the last line)",
            lines: without(n - 1),
            expected: set(&[
                ("chain_broken", &seq(extract)),
                ("head_mismatch", "bag-info.txt"),
                ("metadata_mismatch", "data/evidence.json"),
                ("metadata_mismatch", &seq(n - 1)),
            ]),
        },
    ]
}

/// Edited events: the extract's reason, an ingest's source, the export's reason.
fn edits(l: &Lines) -> Vec<Forgery> {
    let Lines {
        n,
        extract,
        ruling_ingest,
        ..
    } = *l;
    let lines = &l.lines;
    let notes = l.notes.clone();
    let ruling = l.ruling.clone();
    let with = |i, line| l.with(i, line);
    vec![
        Forgery {
            what: "edited the extract event's reason",
            lines: with(
                extract,
                edit(
                    &lines[extract],
                    "\"reason\":\"translation\"",
                    "\"reason\":\"routine\"",
                ),
            ),
            expected: set(&[("item_chain_broken", &notes)]),
        },
        Forgery {
            // The source is committed (issue 11.7): the forger changes the commitment.
            what: "edited an ingest event's source",
            lines: with(ruling_ingest, recommit(&lines[ruling_ingest], "source")),
            // The chain breaks, and evidence.json no longer agrees with the edited event.
            expected: set(&[
                ("item_chain_broken", &ruling),
                ("metadata_mismatch", &ruling),
            ]),
        },
        Forgery {
            what: "edited the export event's reason",
            lines: with(n - 1, edit(&lines[n - 1], "order 17/2024", "order 18/2024")),
            expected: set(&[("head_mismatch", "bag-info.txt")]),
        },
    ]
}

/// Reordered, moved and inserted events.
fn moves(l: &Lines) -> Vec<Forgery> {
    let Lines {
        notes_ingest,
        extract,
        ruling_ingest,
        photo_ingest,
        ..
    } = *l;
    let lines = &l.lines;
    let notes = l.notes.clone();
    let ruling = l.ruling.clone();
    let seq = |i| l.seq(i);
    let swapped = |i, j| l.swapped(i, j);
    vec![
        Forgery {
            what: "reordered an item's ingest and extract events",
            lines: swapped(notes_ingest, extract),
            expected: set(&[
                ("item_chain_broken", &notes),
                ("chain_broken", &seq(notes_ingest)),
                ("chain_broken", &seq(notes_ingest + 1)),
            ]),
        },
        Forgery {
            what: "reordered the ingest events of two different items",
            lines: swapped(ruling_ingest, photo_ingest),
            expected: set(&[("chain_broken", &seq(ruling_ingest))]),
        },
        Forgery {
            what: "moved the export event to the top",
            lines: {
                let mut l = lines.clone();
                let export = l.pop().unwrap();
                l.insert(0, export);
                l
            },
            expected: BTreeSet::new(), // many findings; checked below by kind only
        },
        Forgery {
            what: "inserted a second copy of an ingest event",
            lines: {
                let mut l = lines.clone();
                l.insert(ruling_ingest + 1, lines[ruling_ingest].clone());
                l
            },
            expected: set(&[
                ("item_chain_broken", &ruling),
                ("chain_broken", &seq(ruling_ingest)),
            ]),
        },
    ]
}

/// The kinds the proof a bundle carries adds to the chains' findings.
const PROOF_KINDS: [&str; 3] = ["signature_invalid", "signer_unknown", "checkpoint_mismatch"];

#[test]
fn custody_forgeries_with_manifests_recomputed_are_caught_by_the_chain_alone() {
    require_tools();
    let x = exported();
    let clean = x.env.path("clean");
    copy_tree(&x.bag, &clean);
    for forgery in forgeries(&x) {
        let what = forgery.what;
        let bag = x.env.path("forged");
        if bag.exists() {
            std::fs::remove_dir_all(&bag).unwrap();
        }
        copy_tree(&clean, &bag);
        write_custody(&bag, &forgery.lines);
        reseal_bag(&bag);
        // Every manifest is right again: bagit-python and b3sum see nothing wrong.
        let (valid, log) = bagit_validate(&bag);
        assert!(
            valid,
            "{what}: the resealed bag should pass bagit-python:\n{log}"
        );
        checksum_ok(&bag, "b3sum", "manifest-blake3.txt");

        let found = damaged(&bag, what);
        if forgery.expected.is_empty() {
            has(&found, "head_mismatch", "bag-info.txt", what);
            only_kinds(
                &found,
                &[
                    "chain_broken",
                    "item_chain_broken",
                    "head_mismatch",
                    "metadata_mismatch",
                    "signature_invalid",
                    "signer_unknown",
                    "checkpoint_mismatch",
                ],
                what,
            );
        } else {
            // What the chains alone find, exactly; beside it, only what the proof layer
            // (issue 11: signatures and the signed checkpoint) adds about the same edit.
            let chains: BTreeSet<(String, String)> = found
                .iter()
                .filter(|(k, _)| !PROOF_KINDS.contains(&k.as_str()))
                .cloned()
                .collect();
            assert_eq!(chains, forgery.expected, "{what}");
        }
        let (rust, python_ok, said) = independent_checks(&bag);
        assert!(
            !rust.is_empty(),
            "{what}: the independent Rust check missed it"
        );
        assert!(!python_ok, "{what}: check_custody.py missed it:\n{said}");
    }
    // The untouched copy still passes all three.
    let (code, report, _) = verify_bundle(&clean);
    assert_eq!(code, 0, "{report:#}");
    let (rust, python_ok, said) = independent_checks(&clean);
    assert!(rust.is_empty() && python_ok, "{rust:?}\n{said}");
}
