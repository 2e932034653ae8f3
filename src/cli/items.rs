//! The item commands beyond ingest: `list`, `show` of one or several items, `annotate`,
//! `extract` to a file or to standard output, and `stats`.

use custodia::ids::ItemRef;
use custodia::{Archive, Error};

use super::output::Out;
use super::{Failure, Outcome, Run, emit, human, wire};

/// `list`: the items the filters keep.
pub fn list(archive: &Archive, a: super::args::ListArgs, out: &mut Out) -> Run {
    let items = archive.list(&a.into())?;
    emit(out, &wire::ListOut::from(&items[..]), |o| {
        human::list(o, &items)
    })
}

/// `annotate ID …`: the corrected values, recorded as an `annotate` event.
pub fn annotate(archive: &mut Archive, a: super::args::AnnotateArgs, out: &mut Out) -> Run {
    let done = archive.annotate(&a.into())?;
    emit(out, &wire::AnnotateOut::from(&done), |o| {
        human::annotated(o, &done)
    })
}

/// `show ID`: one item in `show`'s shape; several (a hash that items in several cases
/// share) as `{"items": [...]}`, each in that shape (issue 12, point 1).
pub fn show(archive: &Archive, id: &ItemRef, out: &mut Out) -> Run {
    let mut shown = archive.show_all(id)?;
    if shown.len() == 1 {
        let one = shown.remove(0);
        return emit(out, &wire::ShowOut::from(&one), |o| human::show(o, &one));
    }
    let json = wire::ShowManyOut {
        items: shown.iter().map(wire::ShowOut::from).collect(),
    };
    let reference = match id {
        ItemRef::HashPrefix(p) => p.clone(),
        ItemRef::Id(i) => i.to_string(),
    };
    emit(out, &json, |o| human::show_all(o, &reference, &shown))
}

/// `extract ID --out PATH`, or `--out -`: the bytes on stdout and nothing else there; the
/// confirmation goes to stderr as a note.
pub fn extract(
    archive: &mut Archive,
    id: &ItemRef,
    to: &std::path::Path,
    reason: Option<String>,
    out: &mut Out,
) -> Run {
    if to.as_os_str() != "-" {
        let done = archive.extract(id, to, reason)?;
        return emit(out, &wire::ExtractOut::from(&done), |o| {
            human::extracted(o, &done)
        });
    }
    let mut closed = false;
    let mut sink = |bytes: &[u8]| {
        out.bytes(bytes).map_err(|e| {
            let source = match e {
                super::BrokenPipe::Closed => {
                    closed = true;
                    std::io::ErrorKind::BrokenPipe.into()
                }
                super::BrokenPipe::Failed(source) => source,
            };
            Error::Io {
                path: "standard output".into(),
                source,
            }
        })
    };
    let done = archive.extract_to_stream(id, reason, &mut sink);
    if closed {
        return Err(Failure::Pipe);
    }
    let done = done?;
    out.flush()?;
    if out.json {
        // stdout holds the bytes: there is no room for a document, and a script has the
        // exit code.
        return Ok(Outcome::Success);
    }
    out.note(&format!(
        "{} written to standard output ({}, BLAKE3 and SHA-256 checked)",
        done.id,
        human::size(done.fixity.size)
    ));
    Ok(Outcome::Success)
}

/// `stats`: what the archive holds, counted.
pub fn stats(archive: &Archive, out: &mut Out) -> Run {
    let s = archive.stats()?;
    let json = wire::StatsOut {
        items: s.items,
        contents: s.contents,
        bytes: wire::StatsBytes {
            items: s.item_bytes,
            stored: s.stored_bytes,
            saved_by_dedup: s.item_bytes.saturating_sub(s.stored_bytes),
            on_disk: s.volume_bytes + s.db_bytes,
            volumes: s.volume_bytes,
            db: s.db_bytes,
        },
        cases: s.cases,
        events: s.events,
        actors: s
            .actors
            .iter()
            .map(|(actor, events)| wire::ActorCount {
                actor: actor.clone(),
                events: *events,
            })
            .collect(),
    };
    emit(out, &json, |o| human::stats(o, &json))
}
