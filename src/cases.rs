//! `case create` and `link`: the case records and the many-to-many links between items and cases.

use crate::archive::{Archive, abort};
use crate::catalog::{CaseRecord, LinkRecord, keys};
use crate::codec;
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
        if self.trees.cases.contains_key(id.as_str())? {
            return Err(Error::CaseExists(id.clone()));
        }
        let draft = Draft::new(Action::CaseCreate)
            .case(id)
            .with(&CaseCreateDetails {
                title: title.to_owned(),
                description: description.map(str::to_owned),
            });
        self.commit(|tx| {
            if tx.cases.get(id.as_str())?.is_some() {
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
            tx.cases.insert(id.as_str(), codec::encode(&record))?;
            Ok(record)
        })
    }

    pub fn cases(&self) -> Result<Vec<CaseRecord>> {
        let mut out = Vec::new();
        for entry in self.trees.cases.iter() {
            let (key, value) = entry?;
            out.push(codec::decode(
                &format!("case {}", String::from_utf8_lossy(&key)),
                &value,
            )?);
        }
        Ok(out)
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
        if self.trees.index.contains_key(keys::item_case(id, case))? {
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
            if tx.index.get(keys::item_case(id, case))?.is_some() {
                return abort(Error::AlreadyLinked(id, case.clone()));
            }
            let (seq, _) = tx.append(&draft)?;
            let link = LinkRecord {
                linked_at: tx.time().to_owned(),
                seq,
            };
            tx.index
                .insert(keys::case_item(case, id), codec::encode(&link))?;
            tx.index
                .insert(keys::item_case(id, case), &keys::marker())?;
            // The first item of this content in the case stays the one acquisitions attach to.
            if tx
                .index
                .get(keys::case_content(case, &item.blake3))?
                .is_none()
            {
                tx.index
                    .insert(keys::case_content(case, &item.blake3), codec::encode(&id))?;
            }
            Ok(id)
        })
    }
}
