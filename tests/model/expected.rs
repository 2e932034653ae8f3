//! The in-memory model: what the archive must hold after each operation.

use super::*;

// ---------------------------------------------------------------------------------------------
// The model

/// One evidence item as the archive must hold it.
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub(super) id: u64,
    pub(super) content: Content,
    pub(super) name: String,
    pub(super) path: PathBuf,
    pub(super) cases: BTreeSet<&'static str>,
}

/// What one file of an ingest must report, in the order the ingest reads them.
#[derive(Clone, Debug)]
pub(super) struct Outcome {
    pub(super) id: u64,
    pub(super) status: &'static str,
    pub(super) path: PathBuf,
    pub(super) content: Content,
    /// The file makes a new item (false: the case already holds these bytes).
    pub(super) new_item: bool,
}

#[derive(Default)]
pub(super) struct Model {
    pub(super) cases: BTreeSet<&'static str>,
    /// In id order.
    pub(super) items: Vec<Item>,
    /// The item that acquisitions of these bytes into this case attach to: the first one of
    /// that content to enter the case (by ingest or link).
    pub(super) case_content: BTreeMap<(&'static str, Content), u64>,
    /// Custody events in the log.
    pub(super) events: u64,
    /// bagit-python has checked one bundle of this run (it is slow: once is enough).
    pub(super) bagit_checked: bool,
}

pub(super) fn ev(id: u64) -> String {
    format!("EV-{id:06}")
}

impl Model {
    pub(super) fn next_id(&self) -> u64 {
        self.items.last().map_or(1, |i| i.id + 1)
    }

    /// The distinct contents stored: content is only ever recorded with an item.
    pub(super) fn contents(&self) -> BTreeSet<Content> {
        self.items.iter().map(|i| i.content).collect()
    }

    /// Predicts an ingest of `files` (absolute path -> content) into a case the archive has.
    pub(super) fn plan_ingest(
        &self,
        case: &'static str,
        files: &BTreeMap<PathBuf, Content>,
    ) -> Vec<Outcome> {
        let mut stored = self.contents();
        let mut in_case = self.case_content.clone();
        let mut next = self.next_id();
        // Walk order: name order at each level, folders walked where they sort, which is the
        // component-wise order of `Path`.
        files
            .iter()
            .map(|(path, &content)| {
                let status = if stored.insert(content) {
                    "new"
                } else {
                    "duplicate"
                };
                let (id, new_item) = match in_case.get(&(case, content)) {
                    Some(&id) => (id, false),
                    None => {
                        let id = next;
                        next += 1;
                        in_case.insert((case, content), id);
                        (id, true)
                    }
                };
                Outcome {
                    id,
                    status,
                    path: path.clone(),
                    content,
                    new_item,
                }
            })
            .collect()
    }

    /// Records the first `outcomes` of an ingest as committed: new items, and one custody
    /// event per file (an ingest event, or an acquisition of an item the case holds).
    pub(super) fn apply_ingest(&mut self, case: &'static str, outcomes: &[Outcome]) {
        for o in outcomes {
            if o.new_item {
                assert_eq!(o.id, self.next_id(), "model: ids are given in order");
                self.items.push(Item {
                    id: o.id,
                    content: o.content,
                    name: o
                        .path
                        .file_name()
                        .expect("file name")
                        .to_str()
                        .expect("UTF-8")
                        .to_owned(),
                    path: o.path.clone(),
                    cases: BTreeSet::from([case]),
                });
                self.case_content.insert((case, o.content), o.id);
            }
            self.events += 1;
        }
    }

    /// The item an op's `item` number picks, if any.
    pub(super) fn pick(&self, item: usize) -> Option<usize> {
        (item < 60 && !self.items.is_empty()).then(|| item % self.items.len())
    }

    /// `list --json` as the model says it must read (the fields compared).
    pub(super) fn listing(&self) -> Vec<Value> {
        self.items
            .iter()
            .map(|i| {
                let blob = i.content.blob();
                json!({
                    "id": ev(i.id),
                    "blake3": blob.blake3,
                    "sha256": blob.sha256,
                    "size": i.content.size(),
                    "name": i.name,
                    "path": arg(&i.path),
                    "cases": i.cases.iter().collect::<Vec<_>>(),
                    "parent": null,
                })
            })
            .collect()
    }
}
