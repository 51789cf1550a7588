//! What a dataset build produced and what it left out, and why.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Why a parenthesised group of the Mishnah gave no query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The group is no reference: a textual variant (`(נוסח אחר מפני)`), a
    /// gloss (`(בן נבט)`) or a quoted verse without its address.
    NotACitation,
    /// `<words> <chapter>, <verse>` where the words name no known book.
    UnknownBook,
    /// The group names a book (and maybe a chapter) but no verse:
    /// `(במדבר ה)`.
    MissingVerse,
    /// The book is known but the chapter or verse is not a Hebrew numeral.
    MalformedNumber,
    /// The book has fewer chapters than cited.
    ChapterOutOfRange,
    /// The chapter has fewer verses than cited.
    VerseOutOfRange,
    /// `(שם)` with no citation before it in its mishnah.
    SameWithoutPrevious,
    /// `(שם)` after a citation that did not resolve to a verse.
    SameAfterUnresolved,
    /// The citation resolved but no quoted words stand around it.
    EmptyQuote,
}

impl SkipReason {
    /// Whether the group was meant as a citation (every reason but
    /// [`SkipReason::NotACitation`]).
    pub fn is_citation(self) -> bool {
        self != Self::NotACitation
    }

    /// A short description for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotACitation => "not a citation (variant reading or gloss)",
            Self::UnknownBook => "unknown book",
            Self::MissingVerse => "chapter without a verse",
            Self::MalformedNumber => "chapter or verse not a Hebrew numeral",
            Self::ChapterOutOfRange => "chapter out of range",
            Self::VerseOutOfRange => "verse out of range",
            Self::SameWithoutPrevious => "(שם) without a previous citation",
            Self::SameAfterUnresolved => "(שם) after an unresolved citation",
            Self::EmptyQuote => "no quoted words",
        }
    }
}

/// A parenthesised group and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupAt {
    /// `tractate:chapter:mishnah:ordinal`, the id its query would have had.
    pub location: String,
    /// The text inside the parentheses.
    pub group: String,
}

/// The outcome of [`build_mishnah_dataset`](super::build_mishnah_dataset).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MishnahReport {
    /// Where the Parquet files were written.
    pub out_dir: PathBuf,
    /// Books of the Bible read.
    pub books: usize,
    /// Passages written (one per verse).
    pub passages: usize,
    /// Tractates read.
    pub tractates: usize,
    /// Mishnayot read.
    pub mishnayot: usize,
    /// Parenthesised groups found in the Mishnah.
    pub parentheses: usize,
    /// Queries written (one per resolved citation with quoted words).
    pub queries: usize,
    /// Of the queries, those whose citation was `(שם)`.
    pub same_queries: usize,
    /// Ground-truth rows written (one per query).
    pub ground_truths: usize,
    /// The groups that gave no query, by reason.
    pub skipped: BTreeMap<SkipReason, Vec<GroupAt>>,
    /// Queries whose quote shares no word with the verse they cite, spelling
    /// variants aside: a miscited verse in the source, or a quote taken from
    /// the wrong side of its citation. They are kept; this is a diagnostic.
    pub quotes_not_in_verse: Vec<GroupAt>,
}

impl MishnahReport {
    /// Groups that are citations, resolved or not.
    pub fn citations(&self) -> usize {
        self.parentheses - self.skipped_for(SkipReason::NotACitation)
    }

    /// Citations that gave no query.
    pub fn unresolved(&self) -> usize {
        self.skipped
            .iter()
            .filter(|(r, _)| r.is_citation())
            .map(|(_, g)| g.len())
            .sum()
    }

    /// How many groups were skipped for `reason`.
    pub fn skipped_for(&self, reason: SkipReason) -> usize {
        self.skipped.get(&reason).map_or(0, Vec::len)
    }
}

impl fmt::Display for MishnahReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Mishnah-citation dataset in {}", self.out_dir.display())?;
        writeln!(
            f,
            "  passages        {:>6}  (verses of {} books)",
            self.passages, self.books
        )?;
        writeln!(
            f,
            "  mishnayot       {:>6}  (in {} tractates)",
            self.mishnayot, self.tractates
        )?;
        writeln!(
            f,
            "  parentheses     {:>6}  ({} citations)",
            self.parentheses,
            self.citations()
        )?;
        writeln!(
            f,
            "  queries         {:>6}  ({} by (שם))",
            self.queries, self.same_queries
        )?;
        writeln!(f, "  ground truths   {:>6}", self.ground_truths)?;
        writeln!(
            f,
            "  unresolved      {:>6}  citations, and {} groups that are none:",
            self.unresolved(),
            { self.skipped_for(SkipReason::NotACitation) }
        )?;
        for (reason, groups) in &self.skipped {
            let examples: Vec<String> = groups
                .iter()
                .take(3)
                .map(|g| format!("{} ({})", g.location, g.group))
                .collect();
            writeln!(
                f,
                "    {:<40} {:>4}  e.g. {}",
                reason.describe(),
                groups.len(),
                examples.join("; ")
            )?;
        }
        write!(
            f,
            "  quotes sharing no word with their verse (kept): {}",
            self.quotes_not_in_verse.len()
        )
    }
}
