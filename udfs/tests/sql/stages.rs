//! Encoding, fusion, rerank, metrics and index building in SQL, each
//! against its Rust stage on the same inputs.

use std::collections::BTreeMap;

use datafusion::arrow::array::StructArray;
use datafusion::arrow::datatypes::{Fields, Float64Type};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionConfig;
use nodefusion_udfs::colbert::{EncoderConfig, EncoderStyle, Precision, default_test_model_dir};
use nodefusion_udfs::fusion::{FusionMethod, FusionParams, fuse};
use nodefusion_udfs::lookup::EmbeddingLookup;
use nodefusion_udfs::metrics::{Measure, Qrels, Run, evaluate};

use super::*;

/// A column of `{uuid, score}` lists (`score` as Float32); `None` rows are
/// NULL.
fn hits_column(rows: &[Option<Vec<(String, f32)>>]) -> ArrayRef {
    let entries: Vec<&(String, f32)> = rows.iter().flatten().flatten().collect();
    let fields = Fields::from(vec![
        Field::new("uuid", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ]);
    let structs = StructArray::new(
        fields.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(entries.iter().map(|e| e.0.as_str()))),
            Arc::new(Float32Array::from_iter_values(entries.iter().map(|e| e.1))),
        ],
        None,
    );
    let lengths = rows.iter().map(|r| r.as_ref().map_or(0, Vec::len));
    let nulls: Vec<bool> = rows.iter().map(Option::is_some).collect();
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Struct(fields), false)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(structs),
        Some(nulls.into()),
    ))
}

/// `count` random hit lists over `doc-0..doc-50`, best first, some empty.
fn random_hits(count: usize, seed: u64) -> Vec<Option<Vec<(String, f32)>>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut docs: Vec<usize> = (0..50).collect();
            let len = rng.random_range(0..12);
            let mut hits: Vec<(String, f32)> = (0..len)
                .map(|_| {
                    let doc = docs.swap_remove(rng.random_range(0..docs.len()));
                    (format!("doc-{doc}"), rng.random_range(0.0..30.0))
                })
                .collect();
            hits.sort_by(|a, b| b.1.total_cmp(&a.1));
            Some(hits)
        })
        .collect()
}

fn fused(lists: &[&Vec<(String, f32)>], params: &FusionParams) -> Vec<(String, f32)> {
    let lists: Vec<Vec<(&str, f64)>> = lists
        .iter()
        .map(|l| l.iter().map(|(d, s)| (d.as_str(), f64::from(*s))).collect())
        .collect();
    fuse(&lists, params)
        .unwrap()
        .into_iter()
        .map(|f| (f.id.to_owned(), f.score as f32))
        .collect()
}

#[tokio::test]
async fn fuse_is_the_fusion_stage_with_and_without_weights() {
    let (mut a, mut b) = (random_hits(40, 1), random_hits(40, 2));
    a[5] = None;
    (a[6], b[6]) = (None, None);
    let ctx = context_with("runs", vec![("a", hits_column(&a)), ("b", hits_column(&b))]);
    let empty = Vec::new();
    let cases = [
        ("fuse('z_score', 5, a, b)", FusionMethod::ZScore, 5, None),
        (
            "fuse('rrf', 10, 2, a, 0.5, b)",
            FusionMethod::Rrf,
            10,
            Some(vec![2.0, 0.5]),
        ),
        ("fuse('min_max', 3, a, b)", FusionMethod::MinMax, 3, None),
    ];
    for (call, method, k, weights) in cases {
        let got = hits(&column(&ctx, &format!("SELECT {call} FROM runs")).await);
        let params = FusionParams {
            method,
            top_k: Some(k),
            weights,
            ..FusionParams::default()
        };
        for (row, got) in got.iter().enumerate() {
            match (&a[row], &b[row]) {
                (None, None) => assert!(got.is_none(), "{call}: row {row}: all NULL gives NULL"),
                (x, y) => {
                    let want = fused(&[x.as_ref().unwrap_or(&empty), y.as_ref().unwrap_or(&empty)], &params);
                    assert_eq!(got.as_ref().unwrap(), &want, "{call}: row {row}");
                }
            }
        }
    }
}

/// `(id, label)` judgements and the per-query value of `measure` computed
/// by [`evaluate`] the way the pipeline does (rank-based scores).
fn evaluated(ranked: &[(String, f32)], judged: &[(String, i64)], measure: Measure) -> f64 {
    let qrels: Qrels = [(
        "q".to_owned(),
        judged.iter().map(|(d, r)| (d.clone(), *r as i32)).collect(),
    )]
    .into();
    let run: Run = [(
        "q".to_owned(),
        ranked
            .iter()
            .enumerate()
            .map(|(i, (d, _))| (d.clone(), -(i as f64 + 1.0)))
            .collect(),
    )]
    .into();
    evaluate(&qrels, &run, &[measure]).unwrap().mean[&measure.to_string()]
}

#[tokio::test]
async fn ndcg_and_recall_are_trec_evals_per_query_values() {
    let mut runs = random_hits(30, 3);
    runs[4] = None;
    let mut rng = StdRng::seed_from_u64(4);
    let judgements: Vec<Option<Vec<(String, i64)>>> = (0..30)
        .map(|row| {
            (row != 7).then(|| {
                (0..rng.random_range(1..5))
                    .map(|i| (format!("doc-{}", i * 7 + row % 5), rng.random_range(0..3)))
                    .collect()
            })
        })
        .collect();
    // The judgements as a list of {uuid, relevance: Int64}, made in SQL
    // from rows, as a qrels table would be.
    let ctx = context_with("runs", vec![("hits", hits_column(&runs))]);
    let (queries, (uuids, labels)): (Vec<i64>, (Vec<String>, Vec<i64>)) = judgements
        .iter()
        .enumerate()
        .flat_map(|(q, j)| j.iter().flatten().map(move |(d, r)| (q as i64, (d.clone(), *r))))
        .unzip();
    let qrels = RecordBatch::try_from_iter(vec![
        ("query", Arc::new(Int64Array::from(queries)) as ArrayRef),
        ("uuid", Arc::new(StringArray::from(uuids)) as ArrayRef),
        ("relevance", Arc::new(Int64Array::from(labels)) as ArrayRef),
    ])
    .unwrap();
    ctx.register_batch("qrels", qrels).unwrap();
    let rows = Int64Array::from_iter_values(0..30);
    ctx.register_batch(
        "numbered",
        RecordBatch::try_from_iter(vec![("row", Arc::new(rows) as ArrayRef), ("hits", hits_column(&runs))]).unwrap(),
    )
    .unwrap();
    let sql = |f: &str, k: usize| {
        format!(
            "SELECT {f}(n.hits, j.judged, {k}) FROM numbered n LEFT JOIN \
             (SELECT query, array_agg(named_struct('uuid', uuid, 'relevance', relevance)) AS judged \
              FROM qrels GROUP BY query) j ON j.query = n.row ORDER BY n.row"
        )
    };
    for (f, measure) in [("ndcg", Measure::Ndcg(5)), ("recall", Measure::Recall(3))] {
        let k = match measure {
            Measure::Ndcg(k) | Measure::Recall(k) => k,
            _ => unreachable!(),
        };
        let got = column(&ctx, &sql(f, k)).await;
        let got = got.as_primitive::<Float64Type>();
        for row in 0..30 {
            match &judgements[row] {
                None => assert!(got.is_null(row), "{f}: row {row}: NULL judgements give NULL"),
                Some(judged) => {
                    let ranked = runs[row].clone().unwrap_or_default();
                    let want = evaluated(&ranked, judged, measure);
                    assert_eq!(got.value(row), want, "{f}: row {row}");
                }
            }
        }
        // A query the run missed counts 0, as trec_eval -c counts it.
        assert_eq!(got.value(4), 0.0);
    }
    let nulls = column(&ctx, "SELECT ndcg(hits, NULL, 10) FROM runs").await;
    assert_eq!(nulls.null_count(), runs.len());
}

/// A context with `target_partitions` partitions and a table `passages`
/// (`id`, `text`, `tokens`) spread over three partitions.
fn passages_context(texts: &[String], ids: &[String], docs: &[Vec<f32>]) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    nodefusion_udfs::sql::register(&ctx);
    let chunk = ids.len().div_ceil(3);
    let mut partitions = Vec::new();
    let mut schema = None;
    for start in (0..ids.len()).step_by(chunk) {
        let end = (start + chunk).min(ids.len());
        let rows: Vec<Option<&Vec<f32>>> = docs[start..end].iter().map(Some).collect();
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(StringArray::from(ids[start..end].to_vec())) as ArrayRef),
            (
                "text",
                Arc::new(StringArray::from(texts[start..end].to_vec())) as ArrayRef,
            ),
            ("tokens", matrix_column(&rows)),
        ])
        .unwrap();
        schema = Some(batch.schema());
        partitions.push(vec![batch]);
    }
    let table = MemTable::try_new(schema.unwrap(), partitions).unwrap();
    ctx.register_table("passages", Arc::new(table)).unwrap();
    ctx
}

/// The corpus in uuid order, as the builders index it.
fn by_uuid<T: Clone>(ids: &[String], values: &[T]) -> (Vec<String>, Vec<T>) {
    let sorted: BTreeMap<&String, &T> = ids.iter().zip(values).collect();
    (
        sorted.keys().map(|s| (*s).clone()).collect(),
        sorted.values().map(|v| (*v).clone()).collect(),
    )
}

#[tokio::test]
async fn the_builders_write_the_indexes_the_rust_stages_build_from_the_same_rows() {
    let (texts, ids) = corpus(150);
    let docs = matrices(150, 12, 5);
    let ctx = passages_context(&texts, &ids, &docs);
    let dir = tempfile::tempdir().unwrap();
    let uri = |name: &str| dir.path().join(name).display().to_string();
    let built = column(
        &ctx,
        &format!(
            "SELECT build_bm25_index('{}', id, text) AS bm25, build_plaid_index('{}', id, tokens) AS plaid, \
             build_passage_lookup('{}', id, tokens) AS lookup FROM passages",
            uri("bm25"),
            uri("plaid"),
            uri("lookup")
        ),
    )
    .await;
    assert_eq!(
        built.as_string::<i32>().value(0),
        uri("bm25"),
        "a builder returns its URI"
    );

    let (sorted_ids, sorted_texts) = by_uuid(&ids, &texts);
    let (_, sorted_docs) = by_uuid(&ids, &docs);
    let bm25 = Bm25Index::build(&sorted_texts, &Bm25Params::default())
        .unwrap()
        .with_external_ids(&sorted_ids)
        .unwrap();
    let embeddings = DocEmbeddings::from_docs(DIM, &sorted_docs).unwrap();
    let plaid = PlaidIndex::build(&embeddings, &PlaidBuildParams::default())
        .unwrap()
        .with_external_ids(&sorted_ids)
        .unwrap();
    let lookup = EmbeddingLookup::new(embeddings, &sorted_ids).unwrap();

    // Searches of the SQL-built indexes equal the Rust-built ones'.
    let queries: Vec<String> = texts
        .iter()
        .step_by(15)
        .map(|t| t.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    let query_matrices = matrices(queries.len(), 6, 6);
    let rows: Vec<Option<&Vec<f32>>> = query_matrices.iter().map(Some).collect();
    ctx.register_batch(
        "queries",
        RecordBatch::try_from_iter(vec![
            ("text", Arc::new(StringArray::from(queries.clone())) as ArrayRef),
            ("q", matrix_column(&rows)),
        ])
        .unwrap(),
    )
    .unwrap();
    let named = |found: Vec<nodefusion_udfs::hit::Hit>| -> Vec<(String, f32)> {
        found
            .iter()
            .map(|h| (sorted_ids[h.doc as usize].clone(), h.score))
            .collect()
    };
    let got = hits(
        &column(
            &ctx,
            &format!("SELECT bm25_search('{}', text, 7) FROM queries", uri("bm25")),
        )
        .await,
    );
    for (query, got) in queries.iter().zip(&got) {
        assert_eq!(got.as_ref().unwrap(), &named(bm25.search(query, 7)), "{query}");
    }
    let got = hits(
        &column(
            &ctx,
            &format!("SELECT plaid_search('{}', q, 7) FROM queries", uri("plaid")),
        )
        .await,
    );
    for (query, got) in query_matrices.iter().zip(&got) {
        let want = named(plaid.search_with(query, &SearchParams::for_k(7)).unwrap());
        assert_eq!(got.as_ref().unwrap(), &want);
    }

    // rerank: the best k of the candidates by exact MaxSim, from the lookup.
    let candidates = random_hits(query_matrices.len(), 7);
    ctx.register_batch(
        "first_stage",
        RecordBatch::try_from_iter(vec![("q", matrix_column(&rows)), ("hits", hits_column(&candidates))]).unwrap(),
    )
    .unwrap();
    let got = hits(
        &column(
            &ctx,
            &format!("SELECT rerank('{}', q, hits, 4) FROM first_stage", uri("lookup")),
        )
        .await,
    );
    for ((query, candidates), got) in query_matrices.iter().zip(&candidates).zip(&got) {
        let docs: Vec<u32> = candidates
            .iter()
            .flatten()
            .filter_map(|(d, _)| lookup.id_of(d))
            .collect();
        let want = nodefusion_udfs::rerank::rerank(query, &docs, lookup.docs(), 4).unwrap();
        let want: Vec<(String, f32)> = want
            .iter()
            .map(|h| (lookup.external_id(h.doc).unwrap().to_owned(), h.score))
            .collect();
        assert_eq!(got.as_ref().unwrap(), &want);
    }
}

#[tokio::test]
async fn a_builder_keeps_an_existing_index_unless_told_and_refuses_bad_rows() {
    let (texts, ids) = corpus(20);
    let docs = matrices(20, 4, 8);
    let ctx = passages_context(&texts, &ids, &docs);
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().join("bm25").display().to_string();
    let build = |overwrite: &str| format!("SELECT build_bm25_index('{uri}', id, text{overwrite}) FROM passages");
    column(&ctx, &build("")).await;
    let refused = error(&ctx, &build("")).await;
    assert!(
        refused.contains("build_bm25_index: argument 1 (uri)") && refused.contains("already holds an index"),
        "{refused}"
    );
    column(&ctx, &build(", true")).await;

    for (sql, expected) in [
        (
            format!("SELECT build_bm25_index('{uri}', 'same', text, true) FROM passages"),
            "the uuid 'same' is in two rows",
        ),
        (
            format!(
                "SELECT build_bm25_index('{uri}', id, CASE WHEN id = 'passage-3' THEN NULL ELSE text END, true) FROM passages"
            ),
            "the passage 'passage-3' has a NULL text",
        ),
        (
            "SELECT build_bm25_index(id, id, text) FROM passages".to_owned(),
            "build_bm25_index: argument 1 (uri) must be a literal text",
        ),
        (
            format!("SELECT build_plaid_index('{uri}x', id, text) FROM passages"),
            "build_plaid_index: argument 3 (tokens) must be a token matrix",
        ),
        (
            format!("SELECT build_bm25_index('{uri}', id, text, id = 'a') FROM passages"),
            "build_bm25_index: argument 4 (overwrite) must be a literal true or false",
        ),
        (
            format!("SELECT build_bm25_index('{uri}y', id, text) FROM passages WHERE id = 'none'"),
            "build_bm25_index: no rows to index",
        ),
    ] {
        let found = error(&ctx, &sql).await;
        assert!(found.contains(expected), "{sql}: {found}");
    }
}

#[tokio::test]
async fn the_encode_functions_are_the_encoder_batched_and_take_the_model_from_the_session() {
    let model = default_test_model_dir().unwrap_or_else(|e| panic!("{e}"));
    let model = model.display().to_string();
    let texts = [
        Some("In the beginning God created the heaven and the earth."),
        None,
        Some("בְּרֵאשִׁית בָּרָא אֱלֹהִים"),
        Some("a"),
    ];
    let ctx = context_with(
        "texts",
        vec![("text", Arc::new(StringArray::from(texts.to_vec())) as ArrayRef)],
    );
    let no_model = error(&ctx, "SELECT encode_query(text) FROM texts").await;
    assert!(no_model.contains("SET nodefusion.model"), "{no_model}");

    ctx.sql(&format!("SET nodefusion.model = '{model}'")).await.unwrap();
    ctx.sql("SET nodefusion.encoder_style = 'colbert'").await.unwrap();
    let encoder = EncoderStyle::Colbert.config(&model).load().unwrap();
    let present: Vec<&str> = texts.iter().flatten().copied().collect();
    for (function, want) in [
        ("encode_query", encoder.encode_queries_batch(&present).unwrap()),
        ("encode_passage", encoder.encode_documents_batch(&present).unwrap()),
    ] {
        for call in [
            format!("{function}(text)"),
            format!("{function}(text, '{model}')"),
            format!("{function}(text, '{model}', 'colbert')"),
            format!("{function}(text, '{model}', 'colbert', 'f32')"),
        ] {
            let got = column(&ctx, &format!("SELECT {call} FROM texts")).await;
            assert_eq!(
                got.data_type(),
                &nodefusion_udfs::sql::token_matrix_type(encoder.dim()),
                "{call}"
            );
            let got = got.as_list::<i32>();
            let mut want = want.iter();
            for (row, text) in texts.iter().enumerate() {
                if text.is_none() {
                    assert!(got.is_null(row), "{call}: a NULL text gives NULL");
                    continue;
                }
                let want = want.next().unwrap();
                let tokens = got.value(row);
                let floats: Vec<f32> = tokens
                    .as_fixed_size_list()
                    .values()
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec();
                assert_eq!(floats, want.data, "{call}: row {row}");
            }
        }
    }
    // The session's settings become literals of the plan, so that they
    // travel with it to executors.
    let explained = ctx.sql("EXPLAIN SELECT encode_query(text) FROM texts").await.unwrap();
    let explained = explained.collect().await.unwrap();
    let plan = datafusion::arrow::util::pretty::pretty_format_batches(&explained)
        .unwrap()
        .to_string();
    assert!(
        plan.contains(&format!(
            "encode_query(texts.text, Utf8(\"{model}\"), Utf8(\"colbert\"), Utf8(\"f32\"))"
        )),
        "{plan}"
    );

    // The query side is what maxsim scores.
    let scores = column(
        &ctx,
        "SELECT maxsim(encode_query(text), encode_passage(text)) FROM texts",
    )
    .await;
    assert!(scores.as_primitive::<Float32Type>().value(0) > 0.0);

    for (sql, expected) in [
        (
            "SELECT encode_query(text, '/no/such/model') FROM texts".to_owned(),
            "encode_query: argument 2 (model)",
        ),
        (
            "SELECT encode_passage(text, text) FROM texts".to_owned(),
            "encode_passage: argument 2 (model) must be a literal",
        ),
        (
            "SELECT encode_query(1) FROM texts".to_owned(),
            "encode_query: argument 1 (text) must be text",
        ),
        (
            format!("SELECT encode_query(text, '{model}', 'colbert', 'f16') FROM texts"),
            "encode_query: argument 4 (precision)",
        ),
    ] {
        let found = error(&ctx, &sql).await;
        assert!(found.contains(expected), "{sql}: {found}");
    }
    // bf16 from the session: encodes where the CPU has AMX (within the
    // encoder's bf16 tolerance of f32), and is refused by name elsewhere.
    ctx.sql("SET nodefusion.encoder_precision = 'bf16'").await.unwrap();
    let bf16 = EncoderConfig {
        precision: Precision::Bf16,
        ..EncoderStyle::Colbert.config(&model)
    };
    match bf16.load() {
        Ok(_) => {
            let got = column(&ctx, "SELECT encode_passage(text) FROM texts").await;
            assert_eq!(got.as_list::<i32>().len(), texts.len());
            let explained = ctx.sql("EXPLAIN SELECT encode_query(text) FROM texts").await.unwrap();
            let plan = datafusion::arrow::util::pretty::pretty_format_batches(&explained.collect().await.unwrap())
                .unwrap()
                .to_string();
            assert!(plan.contains("Utf8(\"bf16\")"), "{plan}");
        }
        Err(_) => {
            let found = error(&ctx, "SELECT encode_query(text) FROM texts").await;
            assert!(found.contains("precision") && found.contains("AMX"), "{found}");
        }
    }
    ctx.sql("SET nodefusion.encoder_precision = 'f32'").await.unwrap();

    ctx.sql("SET nodefusion.encoder_style = 'word2vec'").await.unwrap();
    let found = error(&ctx, "SELECT encode_query(text) FROM texts").await;
    assert!(
        found.contains("nodefusion.encoder_style") && found.contains("'e5' or 'colbert'"),
        "{found}"
    );
}
