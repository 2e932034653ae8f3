//! `log`: the custody log, filtered by time, action and actor (issue 12, point 9), as text
//! with aligned columns, one JSON document, or one JSON object per line.
//!
//! The filters select from the events the library returns for `--case`/`--evidence`; they
//! decide nothing about custody, only what is shown.

use custodia::Archive;
use custodia::custody::{Action, Event};
use custodia::ids::Moment;

use super::args::LogArgs;
use super::output::Out;
use super::{Outcome, Run, emit, human, wire};

/// The conditions of `--since`, `--until`, `--action` and `--by`: all given must hold.
struct Select {
    since: Option<Moment>,
    until: Option<Moment>,
    actions: Vec<Action>,
    by: Vec<String>,
}

impl Select {
    fn keeps(&self, e: &Event) -> bool {
        let timed = self.since.is_some() || self.until.is_some();
        let in_time = !timed
            || Moment::parse(&e.time).is_ok_and(|at| {
                self.since.is_none_or(|s| at.not_before(&s))
                    && self.until.is_none_or(|u| at.not_after(&u))
            });
        in_time
            && (self.actions.is_empty() || self.actions.contains(&e.action))
            && (self.by.is_empty() || self.by.contains(&e.actor))
    }
}

pub fn run(archive: &Archive, a: LogArgs, out: &mut Out) -> Run {
    let item = a.evidence.map(|r| archive.resolve(&r)).transpose()?;
    let select = Select {
        since: a.since.and_then(|w| w.moment()),
        until: a.until.and_then(|w| w.moment()),
        actions: a.actions,
        by: a.by,
    };
    let mut events = archive.log(a.case.as_ref(), item.map(|i| i.id))?;
    events.retain(|l| select.keeps(&l.event));
    if a.json_lines {
        for l in &events {
            out.json_line(&wire::LogLine {
                event: &l.event,
                sha256: l.sha256.to_hex(),
            })?;
        }
        return Ok(Outcome::Success);
    }
    emit(out, &wire::LogOut::from(&events[..]), |o| {
        human::log(o, &events)
    })
}
