//! Every item and case record against its content and its creating event, and every index
//! entry against what it points at.

use std::collections::HashSet;

use crate::archive::Archive;
use crate::catalog::{CaseRecord, ContentRecord, ItemRecord, keys};
use crate::codec;
use crate::custody::Action;
use crate::custody::details::{CaseCreateDetails, IngestFacts};
use crate::error::Result;
use crate::findings::{Finding, RecordAt, Unindexed, VerifyReport};
use crate::ids::EvidenceId;

impl Archive {
    pub(super) fn check_items(&self, report: &mut VerifyReport) -> Result<()> {
        for entry in self.catalog.raw_items() {
            let (key, value) = entry?;
            report.checked.items += 1;
            let at = EvidenceId::from_key(&key)
                .map_or_else(|| RecordAt::ItemKey(hex::encode(&key)), RecordAt::Item);
            let label = match &at {
                RecordAt::Item(id) => id.to_string(),
                _ => hex::encode(&key),
            };
            match codec::decode::<ItemRecord>(&format!("item {label}"), &value) {
                Ok(item) => {
                    self.check_item(report, &key, &item)?;
                    report.problems.extend(self.altered_item(&item));
                }
                Err(e) => report.found(Finding::RecordUnreadable {
                    at,
                    why: e.to_string(),
                }),
            }
        }
        Ok(())
    }

    /// An item record differing from its ingest event, the record's source of truth: a
    /// record edited in place shows here.
    fn altered_item(&self, item: &ItemRecord) -> Option<Finding> {
        let (id, seq) = (item.id, item.seq);
        let event = self.event(seq).ok();
        let event = event.filter(|e| e.names_item(id));
        let Some(recorded) = event.as_ref().and_then(IngestFacts::of_event) else {
            return Some(Finding::IngestEventMissing { item: id, seq });
        };
        let case_differs = event.as_ref().and_then(|e| e.case_id()) != Some(item.case.as_str());
        let field = if case_differs {
            Some("case")
        } else {
            item.ingest_facts().first_difference(&recorded)
        };
        field.map(|field| Finding::ItemAltered {
            item: id,
            seq,
            field,
        })
    }

    fn case_matches_event(&self, case: &CaseRecord) -> bool {
        let Ok(e) = self.event(case.seq) else {
            return false;
        };
        let recorded = CaseCreateDetails {
            title: case.title.clone(),
            description: case.description.clone(),
        };
        e.action == Action::CaseCreate
            && e.case_id() == Some(case.id.as_str())
            && e.actor == case.actor
            && e.time == case.created_at
            && e.details_as::<CaseCreateDetails>() == Some(recorded)
    }

    fn check_item(&self, report: &mut VerifyReport, key: &[u8], item: &ItemRecord) -> Result<()> {
        let id = item.id;
        if key != id.to_key() {
            report.found(Finding::ItemMisfiled {
                item: id,
                key_hex: hex::encode(key),
            });
        }
        match self.catalog.raw_content(&item.blake3)? {
            None => report.found(Finding::ContentMissing {
                item: id,
                content: item.blake3,
            }),
            Some(bytes) => {
                if let Ok(content) = codec::decode::<ContentRecord>("content", &bytes)
                    && (content.size != item.size || content.sha256 != item.sha256)
                {
                    report.found(Finding::ItemDisagreesWithContent { item: id });
                }
            }
        }
        let mut unindexed = |what| report.found(Finding::ItemUnindexed { item: id, what });
        if let Some(parent) = item.parent
            && !self.catalog.has_item(parent)?
        {
            unindexed(Unindexed::Parent(parent));
        }
        if !self.catalog.in_case(id, &item.case)? {
            unindexed(Unindexed::CaseLink(item.case.clone()));
        }
        if !self
            .catalog
            .has_index_key(&keys::content_item(&item.blake3, id))?
        {
            unindexed(Unindexed::ContentEntry);
        }
        Ok(())
    }

    /// Every case record against its event, then every index entry against what it points at.
    pub(super) fn check_index(&self, report: &mut VerifyReport) -> Result<()> {
        let mut known_cases = HashSet::new();
        for entry in self.catalog.raw_cases() {
            let (key, value) = entry?;
            let name = String::from_utf8_lossy(&key).into_owned();
            match codec::decode::<CaseRecord>(&format!("case {name}"), &value) {
                Ok(case) => {
                    if !self.case_matches_event(&case) {
                        let seq = case.seq;
                        report.found(Finding::CaseAltered { case: name, seq });
                    }
                    known_cases.insert(key.to_vec());
                }
                Err(e) => report.found(Finding::RecordUnreadable {
                    at: RecordAt::Case(name),
                    why: e.to_string(),
                }),
            }
        }
        for entry in self.catalog.raw_index() {
            let (key, value) = entry?;
            if let Some(why) = self.dangling(&key, &value, &known_cases)? {
                report.found(Finding::IndexDangling {
                    item: keys::item_of(&key, &value),
                    key_hex: hex::encode(&key),
                    why,
                });
            }
        }
        Ok(())
    }

    /// Why an index entry points at nothing, if it does (docs/FORMAT.md, "The index tree").
    fn dangling(
        &self,
        key: &[u8],
        value: &[u8],
        cases: &HashSet<Vec<u8>>,
    ) -> Result<Option<&'static str>> {
        let item_exists = |bytes: &[u8]| self.catalog.has_item_key(bytes);
        let case_part = |rest: &[u8]| {
            rest.iter()
                .position(|b| *b == 0)
                .map(|at| rest[..at].to_vec())
        };
        let (tag, rest) = match key.split_first() {
            Some((t, r)) => (*t, r),
            None => return Ok(Some("empty key")),
        };
        let last_item = &key[key.len().saturating_sub(8)..];
        let found = match tag {
            keys::CASE_ITEM => match case_part(rest) {
                Some(case) if cases.contains(&case) => item_exists(last_item)?,
                _ => false,
            },
            keys::ITEM_CASE if rest.len() > 8 => {
                item_exists(&rest[..8])? && cases.contains(&rest[8..])
            }
            keys::CONTENT_ITEM | keys::TAG_ITEM => item_exists(last_item)?,
            keys::PARENT_CHILD if rest.len() == 16 => {
                item_exists(&rest[..8])? && item_exists(&rest[8..])?
            }
            keys::ITEM_EVENT if rest.len() == 16 => {
                item_exists(&rest[..8])? && self.catalog.has_event_key(&rest[8..])?
            }
            keys::ITEM_HEAD | keys::ITEM_METADATA if rest.len() == 8 => item_exists(rest)?,
            keys::CASE_CONTENT => {
                matches!(case_part(rest), Some(c) if cases.contains(&c))
                    && match keys::item_of(key, value) {
                        Some(i) => self.catalog.has_item(i)?,
                        None => false,
                    }
            }
            _ => return Ok(Some("not a key custodia writes")),
        };
        Ok((!found).then_some("points at a case, item or event that does not exist"))
    }
}
