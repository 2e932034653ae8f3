//! `case create` and `link`: the case records and the many-to-many links between items and cases.

use crate::archive::{Archive, abort};
use crate::catalog::{CaseRecord, LinkRecord};
use crate::custody::details::{CaseCreateDetails, LinkDetails};
use crate::custody::{Action, Draft};
use crate::error::{Error, Result};
use crate::ids::{CaseId, EvidenceId, ItemRef};

impl Archive {
    pub fn create_case(
        &mut self,
        id: &CaseId,
        title: &str,
        description: Option<&str>,
    ) -> Result<CaseRecord> {
        if self.catalog.has_case(id)? {
            return Err(Error::CaseExists(id.clone()));
        }
        let draft = Draft::new(Action::CaseCreate)
            .case(id)
            .with(&CaseCreateDetails {
                title: title.to_owned(),
                description: description.map(str::to_owned),
            });
        self.commit(|tx| {
            if tx.has_case(id)? {
                return abort(Error::CaseExists(id.clone()));
            }
            let (seq, _) = tx.append(&draft)?;
            let record = CaseRecord {
                id: id.clone(),
                title: title.to_owned(),
                description: description.map(str::to_owned),
                created_at: tx.time().to_owned(),
                actor: tx.actor().to_owned(),
                seq,
            };
            tx.put_case(&record)?;
            Ok(record)
        })
    }

    pub fn cases(&self) -> Result<Vec<CaseRecord>> {
        self.catalog.cases()
    }

    /// Adds an existing item to another case and, when `attachments`, every attachment
    /// below it that is not in the case yet (issue 12, point 3: an e-mail linked without its
    /// attachments left them behind). One link event each, committed together: the item's
    /// first, then its attachments' in id order. Returns the attachments linked.
    pub fn link(
        &mut self,
        item: &ItemRef,
        case: &CaseId,
        reason: Option<String>,
        attachments: bool,
    ) -> Result<Linked> {
        let item = self.resolve(item)?;
        self.case(case)?;
        let id = item.id;
        if self.catalog.in_case(id, case)? {
            return Err(Error::AlreadyLinked(id, case.clone()));
        }
        let mut links = vec![(id, item.blake3)];
        if attachments {
            for child in self.descendants(id)? {
                if !self.catalog.in_case(child, case)? {
                    links.push((child, self.item(child)?.blake3));
                }
            }
        }
        let drafts: Vec<Draft> = links
            .iter()
            .map(|(id, blake3)| {
                Draft::new(Action::Link)
                    .case(case)
                    .item(*id)
                    .reason(reason.clone())
                    .with(&LinkDetails {
                        blake3: blake3.to_hex(),
                    })
            })
            .collect();
        self.commit(|tx| {
            if tx.in_case(id, case)? {
                return abort(Error::AlreadyLinked(id, case.clone()));
            }
            for ((id, blake3), draft) in links.iter().zip(&drafts) {
                let (seq, _) = tx.append(draft)?;
                let link = LinkRecord {
                    linked_at: tx.time().to_owned(),
                    seq,
                };
                tx.put_link(*id, blake3, case, &link)?;
            }
            Ok(())
        })?;
        Ok(Linked {
            id,
            attachments: links[1..].iter().map(|(id, _)| *id).collect(),
        })
    }

    /// Every item below `id` (its attachments, theirs, and so on), in id order.
    fn descendants(&self, id: EvidenceId) -> Result<Vec<EvidenceId>> {
        let mut found = std::collections::BTreeSet::new();
        let mut queue = vec![id];
        while let Some(next) = queue.pop() {
            for child in self.children_of(next)? {
                if found.insert(child) {
                    queue.push(child);
                }
            }
        }
        Ok(found.into_iter().collect())
    }
}

/// What `link` did: the item linked, and the attachments linked with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    pub id: EvidenceId,
    pub attachments: Vec<EvidenceId>,
}
