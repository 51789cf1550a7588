//! The first functions: normalisation, MaxSim and the two searches.

use super::*;

#[tokio::test]
async fn hebrew_normalize_is_the_stage_and_keeps_nulls() {
    let texts = ["שָׁלוֹם עוֹלָם", "בְּרֵאשִׁית בָּרָא", "plain text", "מַה־נִּשְׁתַּנָּה׃"];
    let rows: ArrayRef = Arc::new(StringArray::from(
        texts.iter().map(|t| Some(*t)).chain([None]).collect::<Vec<_>>(),
    ));
    let ctx = context_with("t", vec![("text", rows)]);
    let got = column(&ctx, "SELECT hebrew_normalize(text) FROM t").await;
    let got = got.as_string::<i32>();
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(got.value(i), nodefusion_udfs::hebrew::normalize(text));
    }
    assert!(got.is_null(texts.len()));
}

#[tokio::test]
async fn maxsim_is_the_stage_row_by_row_and_null_in_null_out() {
    let queries = matrices(40, 6, 1);
    let docs = matrices(40, 30, 2);
    let mut query_rows: Vec<Option<&Vec<f32>>> = queries.iter().map(Some).collect();
    query_rows[7] = None;
    let ctx = context_with(
        "pairs",
        vec![
            ("q", matrix_column(&query_rows)),
            ("d", matrix_column(&docs.iter().map(Some).collect::<Vec<_>>())),
        ],
    );
    let got = column(&ctx, "SELECT maxsim(q, d) FROM pairs").await;
    let got = got.as_primitive::<Float32Type>();
    for (row, (q, d)) in queries.iter().zip(&docs).enumerate() {
        if row == 7 {
            assert!(got.is_null(row));
        } else {
            let want = nodefusion_udfs::maxsim::maxsim(q, d, DIM).unwrap();
            assert_eq!(got.value(row), want, "row {row}");
        }
    }
}

#[tokio::test]
async fn bm25_search_gives_the_indexs_own_hits_and_unnests_into_rows() {
    let (texts, ids) = corpus(200);
    let index = Bm25Index::build(&texts, &Bm25Params::default())
        .unwrap()
        .with_external_ids(&ids)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().join("bm25").display().to_string();
    index
        .write(&nodefusion_udfs::store::IndexLocation::parse(&uri).unwrap(), false)
        .unwrap();

    let queries: Vec<String> = texts
        .iter()
        .step_by(20)
        .map(|t| t.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    let mut rows: Vec<Option<&str>> = queries.iter().map(|q| Some(q.as_str())).collect();
    rows.push(None);
    let ctx = context_with("queries", vec![("text", Arc::new(StringArray::from(rows)) as ArrayRef)]);
    let got = hits(&column(&ctx, &format!("SELECT bm25_search('{uri}', text, 5) FROM queries")).await);
    for (query, got) in queries.iter().zip(&got) {
        let want: Vec<(String, f32)> = index
            .search(query, 5)
            .iter()
            .map(|h| (ids[h.doc as usize].clone(), h.score))
            .collect();
        assert_eq!(got.as_ref().unwrap(), &want, "{query}");
    }
    assert!(got.last().unwrap().is_none(), "a NULL text gives NULL");

    // One row per hit, as the README's query writes it.
    let passages = column(
        &ctx,
        &format!(
            "SELECT hit['uuid'] AS passage, hit['score'] AS score \
             FROM (SELECT text AS query, unnest(bm25_search('{uri}', text, 5)) AS hit FROM queries)"
        ),
    )
    .await;
    let want: Vec<&str> = got.iter().flatten().flatten().map(|(uuid, _)| uuid.as_str()).collect();
    let passages = passages.as_string::<i32>();
    assert_eq!((0..passages.len()).map(|i| passages.value(i)).collect::<Vec<_>>(), want);
}

#[tokio::test]
async fn plaid_search_gives_the_indexs_own_hits() {
    let docs = matrices(300, 20, 3);
    let ids: Vec<String> = (0..docs.len()).map(|i| format!("doc-{i}")).collect();
    let index = PlaidIndex::build(
        &DocEmbeddings::from_docs(DIM, &docs).unwrap(),
        &PlaidBuildParams::default(),
    )
    .unwrap()
    .with_external_ids(&ids)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().join("plaid").display().to_string();
    index
        .write(&nodefusion_udfs::store::IndexLocation::parse(&uri).unwrap(), false)
        .unwrap();

    let queries = matrices(12, 8, 4);
    let ctx = context_with(
        "queries",
        vec![("q", matrix_column(&queries.iter().map(Some).collect::<Vec<_>>()))],
    );
    let got = hits(&column(&ctx, &format!("SELECT plaid_search('{uri}', q, 10) FROM queries")).await);
    for (query, got) in queries.iter().zip(&got) {
        let want: Vec<(String, f32)> = index
            .search_with(query, &SearchParams::for_k(10))
            .unwrap()
            .iter()
            .map(|h| (ids[h.doc as usize].clone(), h.score))
            .collect();
        assert_eq!(got.as_ref().unwrap(), &want);
    }
}

#[tokio::test]
async fn bad_arguments_are_refused_at_planning_naming_function_and_argument() {
    let (texts, ids) = corpus(30);
    let dir = tempfile::tempdir().unwrap();
    let bm25 = dir.path().join("bm25").display().to_string();
    Bm25Index::build(&texts, &Bm25Params::default())
        .unwrap()
        .with_external_ids(&ids)
        .unwrap()
        .write(&nodefusion_udfs::store::IndexLocation::parse(&bm25).unwrap(), false)
        .unwrap();
    let missing = dir.path().join("nothing").display().to_string();
    let ctx = context_with(
        "t",
        vec![
            ("text", Arc::new(StringArray::from(vec!["א"])) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![3])) as ArrayRef),
            ("q", matrix_column(&[Some(&matrices(1, 3, 5)[0])])),
        ],
    );
    let cases = [
        (
            format!("SELECT bm25_search('{bm25}', text, 0) FROM t"),
            "bm25_search: argument 3 (k) must be at least 1",
        ),
        (
            format!("SELECT bm25_search('{bm25}', text, -2) FROM t"),
            "bm25_search: argument 3 (k) must be at least 1",
        ),
        (
            format!("SELECT bm25_search('{bm25}', text, n) FROM t"),
            "bm25_search: argument 3 (k) must be a literal",
        ),
        (
            format!("SELECT bm25_search('{bm25}', text) FROM t"),
            "bm25_search takes 3 arguments",
        ),
        (
            format!("SELECT bm25_search('{bm25}', 7, 3) FROM t"),
            "bm25_search: argument 2 (text) must be text",
        ),
        (
            format!("SELECT bm25_search('{missing}', text, 3) FROM t"),
            "bm25_search: argument 1 (index_uri)",
        ),
        (
            format!("SELECT plaid_search('{bm25}', q, 3) FROM t"),
            "holds a 'bm25' index, not a 'plaid' one",
        ),
        (
            format!("SELECT plaid_search('{bm25}', text, 3) FROM t"),
            "plaid_search: argument 2 (query) must be a token matrix",
        ),
        (
            "SELECT maxsim(q, text) FROM t".to_owned(),
            "maxsim: argument 2 (doc) must be a token matrix",
        ),
        (
            "SELECT hebrew_normalize(n) FROM t".to_owned(),
            "hebrew_normalize: argument 1 (text) must be text",
        ),
    ];
    for (sql, want) in cases {
        let got = error(&ctx, &sql).await;
        assert!(got.contains(want), "{sql}:\n{got}");
    }
    let got = error(&ctx, &format!("SELECT bm25_search('{missing}', text, 3) FROM t")).await;
    assert!(got.contains("no nodefusion index"), "{got}");
}

#[tokio::test]
async fn registration_keeps_a_users_tables_and_functions() {
    let ctx = SessionContext::new();
    let double = create_udf(
        "double_it",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let values = args[0].to_array(1)?;
            let doubled: Int64Array = values
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .iter()
                .map(|v| v.map(|v| v * 2))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(doubled)))
        }),
    );
    ctx.register_udf(double);
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("t", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![21])),
            Arc::new(StringArray::from(vec!["שָׁלוֹם"])),
        ],
    )
    .unwrap();
    ctx.register_batch("mine", batch).unwrap();
    nodefusion_udfs::sql::register(&ctx);
    let got = column(&ctx, "SELECT double_it(x) FROM mine").await;
    assert_eq!(
        got.as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(0),
        42
    );
    let got = column(&ctx, "SELECT hebrew_normalize(t) FROM mine").await;
    assert_eq!(got.as_string::<i32>().value(0), "שלום");
}
