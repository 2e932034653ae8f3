//! An item's current source, note, tags and capture time: the values of its `ingest` event
//! with each of its `annotate` events applied in seq order (docs/FORMAT.md, "Current
//! values"). The index keeps the result, `verify` and `verify --bundle` recompute it from
//! the events, and `annotate` asks it what a request would change.

use serde::{Deserialize, Serialize};

use super::details::AnnotateDetails;

/// The part of an item's context that annotations change. Field order is the byte order
/// of its record (`codec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub source: Option<String>,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub captured_at: Option<String>,
}

impl Metadata {
    /// The values after one more annotation. Removal is exact (the event names the tags as
    /// the item carried them), so a reader without custodia applies it the same way.
    pub fn apply(&mut self, change: &AnnotateDetails) {
        self.tags.retain(|t| !change.tags_removed.contains(t));
        self.tags.extend(change.tags_added.iter().cloned());
        let replace = |now: &mut Option<String>, new: &Option<String>| {
            if new.is_some() {
                now.clone_from(new);
            }
        };
        replace(&mut self.source, &change.source);
        replace(&mut self.note, &change.note);
        replace(&mut self.captured_at, &change.captured_at);
    }

    /// What of `wanted` would change these values, as the event records it: tags already
    /// carried (in any case of letters) are not added again, tags to remove are named as
    /// the item carries them, and a value equal to the current one is left out. Empty
    /// (`is_empty`) when nothing would change.
    pub fn change(&self, wanted: &AnnotateDetails) -> AnnotateDetails {
        let folded = |t: &str| t.to_lowercase();
        let removing: Vec<String> = wanted.tags_removed.iter().map(|t| folded(t)).collect();
        let tags_removed: Vec<String> = self
            .tags
            .iter()
            .filter(|t| removing.contains(&folded(t)))
            .cloned()
            .collect();
        let mut kept: Vec<String> = self
            .tags
            .iter()
            .filter(|t| !tags_removed.contains(t))
            .map(|t| folded(t))
            .collect();
        let mut tags_added = Vec::new();
        for tag in &wanted.tags_added {
            if !kept.contains(&folded(tag)) {
                kept.push(folded(tag));
                tags_added.push(tag.clone());
            }
        }
        let differs = |now: &Option<String>, new: &Option<String>| {
            new.as_ref().filter(|n| now.as_ref() != Some(*n)).cloned()
        };
        AnnotateDetails {
            tags_added,
            tags_removed,
            source: differs(&self.source, &wanted.source),
            note: differs(&self.note, &wanted.note),
            captured_at: differs(&self.captured_at, &wanted.captured_at),
        }
    }

    /// The first field whose value differs from `other`'s, by its JSON name.
    pub fn first_difference(&self, other: &Metadata) -> Option<&'static str> {
        [
            ("source", self.source == other.source),
            ("note", self.note == other.note),
            ("tags", self.tags == other.tags),
            ("captured_at", self.captured_at == other.captured_at),
        ]
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(field, _)| field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    fn item() -> Metadata {
        Metadata {
            source: Some("witness W-3".into()),
            note: None,
            tags: tags(&["Testimony", "march"]),
            captured_at: Some("2024-03-02".into()),
        }
    }

    #[test]
    fn a_change_names_removed_tags_as_carried_and_skips_what_is_already_so() {
        let wanted = AnnotateDetails {
            tags_added: tags(&["MARCH", "video", "Video"]),
            tags_removed: tags(&["testimony", "absent"]),
            source: Some("witness W-3".into()),
            note: Some("blurred".into()),
            captured_at: None,
        };
        let change = item().change(&wanted);
        assert_eq!(change.tags_added, tags(&["video"]));
        assert_eq!(change.tags_removed, tags(&["Testimony"]));
        assert_eq!(change.source, None, "the same source is no change");
        assert_eq!(change.note.as_deref(), Some("blurred"));
        let mut now = item();
        now.apply(&change);
        assert_eq!(now.tags, tags(&["march", "video"]));
        assert_eq!(now.source.as_deref(), Some("witness W-3"));
        assert_eq!(now.note.as_deref(), Some("blurred"));
        assert_eq!(now.captured_at.as_deref(), Some("2024-03-02"));
        assert_eq!(item().first_difference(&now), Some("note"));
    }

    #[test]
    fn asking_for_what_is_already_so_is_no_change() {
        let wanted = AnnotateDetails {
            tags_added: tags(&["TESTIMONY"]),
            tags_removed: tags(&["never-there"]),
            captured_at: Some("2024-03-02".into()),
            ..AnnotateDetails::default()
        };
        assert!(item().change(&wanted).is_empty());
    }

    #[test]
    fn a_tag_removed_and_added_again_in_another_case_is_a_change() {
        let wanted = AnnotateDetails {
            tags_added: tags(&["testimony"]),
            tags_removed: tags(&["Testimony"]),
            ..AnnotateDetails::default()
        };
        let change = item().change(&wanted);
        let mut now = item();
        now.apply(&change);
        assert_eq!(now.tags, tags(&["march", "testimony"]));
    }
}
