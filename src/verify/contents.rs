//! Every content read back: every chunk decompressed and checked, the whole re-hashed.

use super::{Chooser, VerifyProgress};
use crate::archive::Archive;
use crate::catalog::{ContentRecord, keys};
use crate::codec;
use crate::error::{Error, Result};
use crate::findings::{Finding, RecordAt, VerifyReport};
use crate::ids::ContentId;
use crate::store::read_contents;

/// Contents whose records are held at once while verify reads them back.
const READ_WINDOW: usize = 512;

/// How a content failed: its record, or its bytes.
#[derive(Clone, Copy)]
enum Failed {
    Record,
    Bytes,
}

impl Archive {
    /// Every content: every chunk decompressed and checked, the whole re-hashed with both hashes.
    ///
    /// Contents are read in the order of the volume (and pack) of their first chunk, so each
    /// volume is opened about once.
    pub(super) fn check_contents(
        &self,
        report: &mut VerifyReport,
        progress: &mut dyn VerifyProgress,
        chooser: Option<&Chooser>,
    ) -> Result<()> {
        let mut chunks = self.chunk_reader();
        let mut order = Vec::new();
        let mut total: u64 = 0;
        for entry in self.catalog.raw_contents() {
            let (key, value) = entry?;
            report.checked.contents += 1;
            let Some(id) = ContentId::from_slice(&key) else {
                report.found(Finding::RecordUnreadable {
                    at: RecordAt::ContentKey(hex::encode(&key)),
                    why: format!("contents: key {} is not a BLAKE3 hash", hex::encode(&key)),
                });
                continue;
            };
            match codec::decode::<ContentRecord>(&format!("content {id}"), &value) {
                // A partial verify decodes every record but re-reads only its share.
                Ok(_) if chooser.is_some_and(|c| !c.includes(id.as_bytes())) => {}
                Ok(record) => {
                    total = total.saturating_add(record.size);
                    let first = record.chunks.first();
                    let at = first.and_then(|c| chunks.location(&c.id).ok());
                    order.push((at.map_or((0, 0), |l| l.volume_and_pack()), id));
                }
                Err(e) => self.blame_content(report, &id, Failed::Record, &e)?,
            }
        }
        progress.total(order.len() as u64, total);
        if let Some((_, read)) = report.subset.as_mut() {
            *read = order.len() as u64;
        }
        order.sort_unstable();
        // Both callbacks below report progress; only one runs at a time.
        let progress = std::cell::RefCell::new(progress);
        // A window of records at a time: memory stays bounded however many contents there
        // are, and the two reading threads stay busy however small each one is.
        for window in order.chunks(READ_WINDOW) {
            let mut records = Vec::with_capacity(window.len());
            for (_, id) in window {
                match self.content(id) {
                    Ok(record) => records.push((*id, record)),
                    Err(e) if e.is_environmental() => return Err(e),
                    Err(e) => self.blame_content(report, id, Failed::Bytes, &e)?,
                }
            }
            read_contents(
                &mut chunks,
                &records,
                &mut |bytes| progress.borrow_mut().bytes(bytes.len() as u64),
                &mut |id, result| match result {
                    Ok(fixity) => {
                        progress.borrow_mut().content_done();
                        report.checked.bytes += fixity.size;
                        Ok(())
                    }
                    Err(e) if e.is_environmental() => Err(e),
                    Err(e) => {
                        progress.borrow_mut().content_done();
                        self.blame_content(report, id, Failed::Bytes, &e)
                    }
                },
            )?;
        }
        Ok(())
    }

    /// One finding per item holding the content, so every affected item is named.
    fn blame_content(
        &self,
        report: &mut VerifyReport,
        content: &ContentId,
        failed: Failed,
        e: &Error,
    ) -> Result<()> {
        let mut prefix = vec![keys::CONTENT_ITEM];
        prefix.extend_from_slice(content.as_bytes());
        let items = self.catalog.items_under(&prefix)?;
        let holders: Vec<_> = if items.is_empty() {
            vec![None]
        } else {
            items.into_iter().map(Some).collect()
        };
        for item in holders {
            let (content, why) = (*content, e.to_string());
            report.found(match failed {
                Failed::Record => Finding::ContentRecordUnreadable { content, item, why },
                Failed::Bytes => Finding::ContentDamaged { content, item, why },
            });
        }
        Ok(())
    }
}
