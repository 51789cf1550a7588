use nodefusion_udfs::bm25::{Bm25Error, Bm25Index, Bm25Params, Tokenizer};

use crate::support::{assert_close, hebrew_like_corpus};

/// Genesis 1:1–5, pointed (niqqud, some cantillation, maqaf, sof pasuq).
const POINTED: [&str; 5] = [
    "בְּרֵאשִׁ֖ית בָּרָ֣א אֱלֹהִ֑ים אֵ֥ת הַשָּׁמַ֖יִם וְאֵ֥ת הָאָֽרֶץ׃",
    "וְהָאָרֶץ הָיְתָה תֹהוּ וָבֹהוּ וְחֹשֶׁךְ עַל־פְּנֵי תְהוֹם וְרוּחַ אֱלֹהִים מְרַחֶפֶת עַל־פְּנֵי הַמָּיִם׃",
    "וַיֹּאמֶר אֱלֹהִים יְהִי אוֹר וַיְהִי־אוֹר׃",
    "וַיַּרְא אֱלֹהִים אֶת־הָאוֹר כִּי־טוֹב וַיַּבְדֵּל אֱלֹהִים בֵּין הָאוֹר וּבֵין הַחֹשֶׁךְ׃",
    "וַיִּקְרָא אֱלֹהִים לָאוֹר יוֹם וְלַחֹשֶׁךְ קָרָא לָיְלָה וַיְהִי־עֶרֶב וַיְהִי־בֹקֶר יוֹם אֶחָד׃",
];

/// The same verses without points, as typed in modern Hebrew.
const PLAIN: [&str; 5] = [
    "בראשית ברא אלהים את השמים ואת הארץ",
    "והארץ היתה תהו ובהו וחשך על פני תהום ורוח אלהים מרחפת על פני המים",
    "ויאמר אלהים יהי אור ויהי אור",
    "וירא אלהים את האור כי טוב ויבדל אלהים בין האור ובין החשך",
    "ויקרא אלהים לאור יום ולחשך קרא לילה ויהי ערב ויהי בקר יום אחד",
];

#[test]
fn pointed_and_unpointed_hebrew_give_the_same_ranking() {
    let params = Bm25Params::default();
    let pointed = Bm25Index::build(&POINTED, &params).unwrap();
    let plain = Bm25Index::build(&PLAIN, &params).unwrap();
    assert_eq!(pointed.num_terms(), plain.num_terms());
    let queries = [
        ("אֱלֹהִים", "אלהים"),
        ("אוֹר", "אור"),
        ("הַחֹשֶׁךְ", "החשך"),
        ("יוֹם אֶחָד", "יום אחד"),
        ("עַל־פְּנֵי הַמָּיִם", "על פני המים"),
        ("וַיְהִי־אוֹר", "ויהי אור"),
    ];
    for (qp, qu) in queries {
        let reference = plain.search(qu, 5);
        assert!(!reference.is_empty(), "{qu} finds nothing");
        assert_eq!(pointed.search(qp, 5), reference, "pointed index, pointed query {qp}");
        assert_eq!(pointed.search(qu, 5), reference, "pointed index, plain query {qu}");
        assert_eq!(plain.search(qp, 5), reference, "plain index, pointed query {qp}");
    }
}

#[test]
fn scores_follow_the_lucene_bm25_formula() {
    let index = Bm25Index::build(&["a b", "a a c", "b"], &Bm25Params::default()).unwrap();
    assert_close(index.avg_doc_len(), 2.0, 0.0, "avgdl");
    let hits = index.search("a", 10);
    let idf = (1.0f64 + (3.0 - 2.0 + 0.5) / (2.0 + 0.5)).ln();
    let s0 = idf * 1.0 / (1.0 + 1.5 * (0.25 + 0.75 * 2.0 / 2.0));
    let s1 = idf * 2.0 / (2.0 + 1.5 * (0.25 + 0.75 * 3.0 / 2.0));
    assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), vec![1, 0]);
    assert_close(hits[0].score as f64, s1, 1e-6, "doc 1");
    assert_close(hits[1].score as f64, s0, 1e-6, "doc 0");
    // A query is the sum over its terms.
    let both = index.search("a c", 1);
    let idf_c = (1.0f64 + (3.0 - 1.0 + 0.5) / (1.0 + 0.5)).ln();
    let c1 = idf_c * 1.0 / (1.0 + 1.5 * (0.25 + 0.75 * 3.0 / 2.0));
    assert_close(both[0].score as f64, s1 + c1, 1e-6, "a c");
}

#[test]
fn documents_without_query_terms_are_not_returned() {
    let index = Bm25Index::build(&["alpha", "beta"], &Bm25Params::default()).unwrap();
    assert_eq!(index.search("alpha gamma", 10).len(), 1);
    assert!(index.search("gamma", 10).is_empty());
    assert!(index.search("", 10).is_empty());
}

#[test]
fn equal_scores_are_ranked_by_doc_id() {
    let index = Bm25Index::build(&["x y", "x y", "x y"], &Bm25Params::default()).unwrap();
    let docs: Vec<u32> = index.search("x", 2).iter().map(|h| h.doc).collect();
    assert_eq!(docs, vec![0, 1]);
}

#[test]
fn stopwords_are_not_indexed() {
    let params = Bm25Params {
        tokenizer: Tokenizer::default().with_stopwords(["של", "THE"]),
        ..Default::default()
    };
    let index = Bm25Index::build(&["the house של דוד", "a house"], &params).unwrap();
    assert_eq!(index.doc_freq("the"), 0);
    assert_eq!(index.doc_freq("של"), 0);
    assert_eq!(index.doc_freq("house"), 2);
    assert!(index.search("The", 10).is_empty());
}

#[test]
fn tokenizer_keeps_hebrew_abbreviations_and_splits_punctuation() {
    let t = Tokenizer::default();
    // UAX #29 keeps a Hebrew letter + geresh/apostrophe and letters around gershayim together.
    assert_eq!(
        t.tokenize("רמב״ם, ר' יוחנן (Rabbi) said: 3.14!"),
        vec!["רמב״מ", "ר'", "יוחננ", "rabbi", "said", "3.14"]
    );
}

#[test]
fn tokenizer_round_trips_through_serde() {
    let t = Tokenizer::default().with_stopwords(["את"]);
    let json = serde_json::to_string(&t).unwrap();
    let back: Tokenizer = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.tokenize("את הארץ"), vec!["הארצ"]);
}

#[test]
fn batch_search_equals_single_searches() {
    let (docs, queries) = hebrew_like_corpus(500, 50, 2000, 7);
    let index = Bm25Index::build(&docs, &Bm25Params::default()).unwrap();
    let batch = index.search_batch(&queries, 10);
    for (q, hits) in queries.iter().zip(&batch) {
        assert_eq!(&index.search(q, 10), hits);
    }
}

#[test]
fn search_on_tokens_equals_search_on_text() {
    let (docs, queries) = hebrew_like_corpus(300, 20, 1000, 8);
    let params = Bm25Params::default();
    let tokenized: Vec<Vec<String>> = docs.iter().map(|d| params.tokenizer.tokenize(d)).collect();
    let from_text = Bm25Index::build(&docs, &params).unwrap();
    let from_terms = Bm25Index::build_from_terms(&tokenized, &params).unwrap();
    for q in &queries {
        let terms = params.tokenizer.tokenize(q);
        assert_eq!(from_terms.search_terms(&terms, 10), from_text.search(q, 10));
    }
}

#[test]
fn external_ids_must_match_the_documents() {
    let index = Bm25Index::build(&["a", "b"], &Bm25Params::default()).unwrap();
    let err = index.clone().with_external_ids(&["only-one"]).unwrap_err();
    assert_eq!(err.to_string(), "expected one external id per document (2), found 1");
    let index = index.with_external_ids(&["x", "y"]).unwrap();
    assert_eq!(index.external_id(1), Some("y"));
    assert_eq!(index.external_id(2), None);
}

#[test]
fn invalid_parameters_are_rejected() {
    let err = Bm25Index::build(
        &["a"],
        &Bm25Params {
            b: 1.5,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Bm25Error::InvalidParam { name: "b", .. }));
    assert_eq!(
        err.to_string(),
        "invalid BM25 parameter b: expected a number in [0, 1], found 1.5"
    );
}
