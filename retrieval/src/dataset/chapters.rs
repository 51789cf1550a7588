//! Which chapters may be trained on, and which are kept for evaluation.
//!
//! Fine-tuning ([`nodefusion_udfs::finetune`]) must never see what it is
//! evaluated on. The rule is fixed, so that every dataset, builder and run
//! agrees on it without being told:
//!
//! | chapter number | use |
//! |---|---|
//! | odd | reserved for evaluation elsewhere: never trained on, never used here |
//! | 2, 6, 10, … (2 mod 4) | held out: the ASV evaluation queries come from these |
//! | 4, 8, 12, … (0 mod 4) | training: cross-lingual pairs and passage spans |
//!
//! A chapter is in exactly one row, so no chapter is both trained on and
//! evaluated.

/// What a chapter may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChapterUse {
    /// Odd chapters: neither trained on nor evaluated here.
    Reserved,
    /// Even chapters 2 mod 4: evaluation only.
    HeldOut,
    /// Even chapters 0 mod 4: training only.
    Training,
}

impl ChapterUse {
    /// The use of chapter `chapter` (1-based).
    ///
    /// ```
    /// use nodefusion_retrieval::dataset::ChapterUse;
    /// assert_eq!(ChapterUse::of(3), ChapterUse::Reserved);
    /// assert_eq!(ChapterUse::of(6), ChapterUse::HeldOut);
    /// assert_eq!(ChapterUse::of(8), ChapterUse::Training);
    /// ```
    pub fn of(chapter: u32) -> Self {
        match chapter % 4 {
            1 | 3 => Self::Reserved,
            2 => Self::HeldOut,
            _ => Self::Training,
        }
    }

    /// The use of the chapter of a passage id `book:chapter:verse` (the
    /// datasets' ids, e.g. `Deuteronomy:6:7`); `None` for an id of another
    /// form, whose chapter is unknown.
    ///
    /// ```
    /// use nodefusion_retrieval::dataset::ChapterUse;
    /// assert_eq!(ChapterUse::of_passage("Song of Songs:4:1"), Some(ChapterUse::Training));
    /// assert_eq!(ChapterUse::of_passage("doc-17"), None);
    /// ```
    pub fn of_passage(uuid: &str) -> Option<Self> {
        let mut parts = uuid.rsplit(':');
        let _verse: u32 = parts.next()?.parse().ok()?;
        let chapter: u32 = parts.next()?.parse().ok()?;
        parts.next().filter(|book| !book.is_empty())?;
        Some(Self::of(chapter))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A passage id's use is its chapter's, and exactly one of the three.
        #[test]
        fn a_passage_has_its_chapters_use(book in "[A-Za-z ]{1,12}", chapter in 1u32..200, verse in 1u32..200) {
            let uuid = format!("{book}:{chapter}:{verse}");
            let found = ChapterUse::of_passage(&uuid);
            prop_assert_eq!(found, Some(ChapterUse::of(chapter)));
            let uses = [chapter % 2 == 1, chapter % 4 == 2, chapter % 4 == 0];
            prop_assert_eq!(uses.iter().filter(|&&u| u).count(), 1);
        }
    }
}
