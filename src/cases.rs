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

    /// Adds an existing item to another case.
    pub fn link(
        &mut self,
        item: &ItemRef,
        case: &CaseId,
        reason: Option<String>,
    ) -> Result<EvidenceId> {
        let item = self.resolve(item)?;
        self.case(case)?;
        let id = item.id;
        if self.catalog.in_case(id, case)? {
            return Err(Error::AlreadyLinked(id, case.clone()));
        }
        let draft = Draft::new(Action::Link)
            .case(case)
            .item(id)
            .reason(reason)
            .with(&LinkDetails {
                blake3: item.blake3.to_hex(),
            });
        self.commit(|tx| {
            if tx.in_case(id, case)? {
                return abort(Error::AlreadyLinked(id, case.clone()));
            }
            let (seq, _) = tx.append(&draft)?;
            let link = LinkRecord {
                linked_at: tx.time().to_owned(),
                seq,
            };
            tx.put_link(id, &item.blake3, case, &link)?;
            Ok(id)
        })
    }
}
