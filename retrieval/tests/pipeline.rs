//! The whole retrieval pipeline on a small slice of the Mishnah-citation
//! dataset, with the real encoders (fetched by `scripts/setup.sh`).

use std::sync::Mutex;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float32Type};
use nodefusion_retrieval::app::{self, EncoderKind, EngineKind, RunOptions, RunResult};
use nodefusion_retrieval::pipeline::{MetricValue, SYSTEMS};
use nodefusion_udfs::store::INDEX_SET_FILE;

/// The runs share the cache (dataset files, slices): one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn options(engine: EngineKind, index_folder: &std::path::Path, overwrite: bool) -> RunOptions {
    RunOptions {
        passages: None,
        queries: None,
        ground_truths: None,
        engine,
        encoder: EncoderKind::E5,
        model_dir: None,
        precision: nodefusion_udfs::colbert::Precision::F32,
        fine_tune: None,
        index_folder: Some(index_folder.display().to_string()),
        overwrite,
        top_k: 50,
        rerank_k: 50,
        limit_passages: Some(150),
        limit_queries: Some(8),
        output: Some(index_folder.join("out")),
        progress: false,
        cache: None,
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nodefusion-pipeline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(options: &RunOptions) -> RunResult {
    app::run(options).unwrap_or_else(|e| panic!("pipeline run failed: {e}"))
}

#[test]
fn both_engines_agree_and_metrics_are_sane() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("engines");
    let sequential = run(&options(EngineKind::Sequential, &dir.join("seq"), true));
    let datafusion = run(&options(EngineKind::DataFusion, &dir.join("df"), true));
    assert_eq!(sequential.predictions, datafusion.predictions);
    assert_eq!(sequential.metrics, datafusion.metrics);
    for m in &sequential.metrics {
        assert!((0.0..=1.0).contains(&m.value), "{m:?}");
    }
    for system in SYSTEMS {
        assert!(sequential.metric(system, "ndcg_cut_10").is_some(), "{system}");
    }
    let ndcg = |s| sequential.metric(s, "ndcg_cut_10").unwrap();
    let worst_single = ndcg("colbert").min(ndcg("bm25"));
    assert!(ndcg("fused+rerank") >= worst_single, "{}", sequential.metrics_table());
    assert!(dir.join("seq/out/predictions.parquet").exists());
    assert!(dir.join("seq/out/metrics.parquet").exists());
    let text = app::query(&sequential, "SELECT count(DISTINCT system) AS systems FROM predictions").unwrap();
    assert!(text.contains("| 4 "), "{text}");
}

#[test]
fn the_colbert_style_encoder_runs_end_to_end_too() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("colbert");
    let result = run(&RunOptions {
        encoder: EncoderKind::Colbert,
        ..options(EngineKind::DataFusion, &dir, true)
    });
    for m in &result.metrics {
        assert!((0.0..=1.0).contains(&m.value), "{m:?}");
    }
    let ndcg = |s| result.metric(s, "ndcg_cut_10").unwrap();
    assert!(
        ndcg("fused+rerank") >= ndcg("colbert").min(ndcg("bm25")),
        "{}",
        result.metrics_table()
    );
}

/// The generation folders in an index folder.
fn generations(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("set-"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_indexes_of_a_run_are_published_together_or_not_at_all() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("override");
    let first = run(&options(EngineKind::Sequential, &dir, false));
    let published = generations(&dir);
    assert_eq!(published.len(), 1, "{published:?}");
    assert!(dir.join(INDEX_SET_FILE).exists());
    let message = app::run(&options(EngineKind::Sequential, &dir, false))
        .err()
        .expect("an existing index is an error")
        .to_string();
    assert!(message.contains("indexes already exist"), "{message}");
    assert!(message.contains("plaid, bm25, passages"), "{message}");
    assert!(message.contains("--override"), "{message}");
    assert_eq!(generations(&dir), published, "a refused run stages nothing");

    // A run that fails at its very end (its predictions cannot be put in
    // place) publishes nothing: the old outputs and indexes stay.
    let out = dir.join("out");
    let metrics_before = std::fs::read(out.join("metrics.parquet")).unwrap();
    std::fs::remove_file(out.join("predictions.parquet")).unwrap();
    std::fs::create_dir_all(out.join("predictions.parquet/in-the-way")).unwrap();
    let message = app::run(&options(EngineKind::Sequential, &dir, true))
        .err()
        .expect("the predictions cannot be written")
        .to_string();
    assert!(message.contains("predictions.parquet"), "{message}");
    assert_eq!(std::fs::read(out.join("metrics.parquet")).unwrap(), metrics_before);
    assert_eq!(generations(&dir), published);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".previous"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(out.join("predictions.parquet")).unwrap();

    // A folder of the older layout holding some of the indexes: refused as
    // a whole before any encoding, and the missing one is not built.
    let generation = dir.join(&published[0]);
    std::fs::remove_file(dir.join(INDEX_SET_FILE)).unwrap();
    std::fs::rename(generation.join("plaid"), dir.join("plaid")).unwrap();
    std::fs::rename(generation.join("passages"), dir.join("passages")).unwrap();
    std::fs::remove_dir_all(&generation).unwrap();
    let message = app::run(&options(EngineKind::Sequential, &dir, false))
        .err()
        .expect("the other indexes still exist")
        .to_string();
    assert!(message.contains("(plaid, passages)"), "{message}");
    assert!(!dir.join("bm25").exists() && generations(&dir).is_empty());

    let replaced = run(&options(EngineKind::Sequential, &dir, true));
    assert_eq!(replaced.predictions, first.predictions);
    assert_eq!(generations(&dir).len(), 1);
    assert!(!dir.join("plaid").exists() && !dir.join("passages").exists());
}

/// The `source` recorded in the manifest of the published index `name`.
fn published_source(dir: &std::path::Path, name: &str) -> String {
    let generation = &generations(dir)[0];
    let manifest = std::fs::read_to_string(dir.join(generation).join(name).join("MANIFEST.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    manifest["source"].as_str().expect("a recorded source").to_owned()
}

#[test]
fn a_run_with_the_cache_encodes_nothing_and_builds_no_index_it_built_before() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("reuse");
    let indexes = dir.join("indexes");
    let cached = |limit_passages| RunOptions {
        cache: Some(dir.join("cache")),
        limit_passages: Some(limit_passages),
        ..options(EngineKind::DataFusion, &indexes, true)
    };
    let encoded = |r: &RunResult| {
        let n = r.report.nodes.iter().find(|n| n.node.ends_with("encode_passage"));
        let n = n.unwrap_or_else(|| panic!("no encoding node in {}", r.report));
        n.items - n.cache_hits
    };
    let first = run(&cached(150));
    assert!(first.copied_indexes.is_empty(), "{:?}", first.notes);
    let plaid = published_source(&indexes, "plaid");

    let copied_all = |r: &RunResult| assert_eq!(r.copied_indexes, ["plaid", "bm25", "passages"], "{:?}", r.notes);
    let second = run(&cached(150));
    copied_all(&second);
    assert!(
        second.notes.iter().any(|n| n.contains("not built again")),
        "{:?}",
        second.notes
    );
    assert_eq!(encoded(&second), 0, "every passage from the cache");
    assert_eq!(second.predictions, first.predictions);
    assert_eq!(second.metrics, first.metrics);
    assert_eq!(generations(&indexes).len(), 1, "the earlier set is replaced");
    assert_eq!(published_source(&indexes, "plaid"), plaid);

    // Other passages: every index is built, the known passages' encodings
    // still come from the cache.
    let third = run(&cached(140));
    assert!(third.copied_indexes.is_empty(), "{:?}", third.notes);
    assert_ne!(published_source(&indexes, "plaid"), plaid);
    assert_eq!(encoded(&third), 0, "a subset of the passages encoded before");

    // Back to the first passages: their indexes are still in the cache,
    // though another set was published since.
    let fourth = run(&cached(150));
    copied_all(&fourth);
    assert_eq!(fourth.predictions, first.predictions);

    // Without the cache nothing is copied.
    let uncached = run(&RunOptions {
        cache: None,
        ..cached(140)
    });
    assert!(uncached.copied_indexes.is_empty());
    assert_eq!(uncached.predictions, third.predictions);
}

#[test]
fn bad_options_are_refused_before_any_work() {
    let dir = temp_dir("validate");
    let base = options(EngineKind::Sequential, &dir.join("indexes"), false);
    let refused = |options: RunOptions| app::validate(&options).unwrap_err().to_string();
    assert!(
        refused(RunOptions {
            top_k: 0,
            ..base.clone()
        })
        .contains("--top-k must be at least 1")
    );
    assert!(
        refused(RunOptions {
            rerank_k: 0,
            ..base.clone()
        })
        .contains("--rerank-k must be at least 1")
    );
    let empty = refused(RunOptions {
        index_folder: Some(" ".into()),
        ..base.clone()
    });
    assert!(empty.contains("--index-folder is empty"), "{empty}");
    let root = refused(RunOptions {
        index_folder: Some("/".into()),
        ..base.clone()
    });
    assert!(root.contains("filesystem's root"), "{root}");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let output = refused(RunOptions {
        output: Some(file.clone()),
        ..base.clone()
    });
    assert!(output.contains("--output") && output.contains("a-file"), "{output}");
    app::validate(&base).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    app::check_query("WITH m AS (SELECT * FROM metrics) SELECT count(*) FROM m").unwrap();
    for (sql, why) in [
        ("SELEC 1", "does not parse"),
        ("SELECT 1; SELECT 2", "one query, found 2"),
        ("COPY predictions TO 'predictions.parquet'", "read-only query"),
        ("INSERT INTO metrics VALUES ('a', 'b', 1.0)", "read-only query"),
        ("SET datafusion.execution.batch_size = 1", "read-only query"),
    ] {
        let err = app::check_query(sql).unwrap_err().to_string();
        assert!(err.contains(why), "{sql}: {err}");
    }
}

/// `got` ranks as `want` does, up to float noise: encoding passages in other
/// batches (other padding) moves scores by ~1e-6, which may swap two
/// passages whose scores tie within that noise, and so nudge a metric.
fn assert_same_rankings(got: &RunResult, want: &RunResult) {
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0);
    assert_eq!(got.predictions.len(), want.predictions.len());
    for (g, w) in got.predictions.iter().zip(&want.predictions) {
        assert_eq!((&g.system, &g.query_uuid, g.rank), (&w.system, &w.query_uuid, w.rank));
        assert!(close(g.score, w.score), "{g:?} vs {w:?}");
        if g.passage_uuid != w.passage_uuid {
            let tie = want.predictions.iter().any(|o| {
                (&o.system, &o.query_uuid, &o.passage_uuid) == (&g.system, &g.query_uuid, &g.passage_uuid)
                    && close(o.score, w.score)
            });
            assert!(tie, "{g:?} is not a near-tie of {w:?}");
        }
    }
    assert_eq!(got.metrics.len(), want.metrics.len());
    for (g, w) in got.metrics.iter().zip(&want.metrics) {
        assert_eq!((&g.system, &g.metric), (&w.system, &w.metric));
        assert!((g.value - w.value).abs() <= 0.02, "{g:?} vs {w:?}");
    }
}

#[test]
fn the_standalone_ballista_engine_gives_the_datafusion_engines_results() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("ballista");
    let ballista = run(&options(
        EngineKind::Ballista {
            scheduler: None,
            partitions: None,
        },
        &dir.join("ballista"),
        true,
    ));
    let datafusion = run(&options(EngineKind::DataFusion, &dir.join("df"), true));
    assert_same_rankings(&ballista, &datafusion);
}

#[test]
fn two_executor_processes_encode_and_retrieve_with_the_datafusion_engines_results() {
    use nodefusion_ballista::local::{LocalCluster, LocalClusterOptions};
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("cluster");
    let cluster = LocalCluster::start(LocalClusterOptions::new(env!("CARGO_BIN_EXE_nodefusion-cluster"), 2))
        .unwrap_or_else(|e| panic!("cannot start the cluster: {e}"));
    let engine = EngineKind::Ballista {
        scheduler: Some(cluster.url()),
        partitions: Some(4),
    };
    let ballista =
        app::run(&options(engine, &dir.join("ballista"), true)).unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let datafusion = run(&options(EngineKind::DataFusion, &dir.join("df"), true));
    assert_same_rankings(&ballista, &datafusion);
    // The encoder loads lazily, where passages are encoded: on both.
    for executor in 0..2 {
        let log = cluster.executor_log(executor);
        assert!(
            log.contains("loaded resource") && log.contains("Encoder"),
            "executor {executor} encoded nothing:\n{}",
            cluster.logs()
        );
    }
}

/// Builds two indexes and searches them with the retrieval SQL functions
/// in `ctx`, where `passages` is a table; the hits of both searches, by
/// passage.
async fn sql_retrieval(ctx: &datafusion::prelude::SessionContext, dir: &std::path::Path) -> Vec<RecordBatch> {
    let (bm25, plaid) = (
        dir.join("bm25").display().to_string(),
        dir.join("plaid").display().to_string(),
    );
    let run = |sql: String| async move { ctx.sql(&sql).await?.collect().await };
    run(format!(
        "SELECT build_bm25_index('{bm25}', uuid, text, true), \
                build_plaid_index('{plaid}', uuid, encode_passage(text), true) FROM passages"
    ))
    .await
    .unwrap();
    run(format!(
        "SELECT uuid, bm25_search('{bm25}', text, 3) AS bm25, plaid_search('{plaid}', encode_query(text), 3) AS plaid \
         FROM passages ORDER BY uuid"
    ))
    .await
    .unwrap()
}

#[test]
fn the_sql_functions_run_on_executor_processes_as_in_process() {
    use nodefusion_ballista::local::{LocalCluster, LocalClusterOptions};
    use nodefusion_retrieval::data::Passage;
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("sql-cluster");
    let topics = ["water", "bread", "light", "stone", "song", "field", "wine"];
    let passages: Vec<Passage> = (0..60)
        .map(|i| Passage {
            uuid: format!("p{i:03}"),
            text: format!("the {} of day {} and the {}", topics[i % 7], i, topics[(i * 3) % 7]),
        })
        .collect();
    let file = dir.join("passages.parquet");
    app::write_parquet(&passages, &file).unwrap();
    let model = nodefusion_udfs::colbert::default_test_model_dir()
        .unwrap()
        .display()
        .to_string();
    let setup = format!(
        "CREATE EXTERNAL TABLE passages STORED AS PARQUET LOCATION '{}';\
         SET nodefusion.model = '{model}';\
         SET nodefusion.encoder_style = 'colbert';",
        file.display()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let prepare = |ctx: datafusion::prelude::SessionContext| {
        let setup = setup.clone();
        async move {
            nodefusion_udfs::sql::register(&ctx);
            for statement in setup.split(';').filter(|s| !s.trim().is_empty()) {
                ctx.sql(statement).await.unwrap().collect().await.unwrap();
            }
            ctx
        }
    };

    let cluster = LocalCluster::start(LocalClusterOptions::new(env!("CARGO_BIN_EXE_nodefusion-cluster"), 2))
        .unwrap_or_else(|e| panic!("cannot start the cluster: {e}"));
    // The engine owns a runtime: made and dropped outside async code.
    let engine = cluster.engine();
    let on_cluster = runtime.block_on(async {
        let ctx = prepare(engine.sql_context().await.unwrap()).await;
        sql_retrieval(&ctx, &dir.join("cluster")).await
    });
    let in_process = runtime.block_on(async {
        let ctx = prepare(datafusion::prelude::SessionContext::new()).await;
        sql_retrieval(&ctx, &dir.join("local")).await
    });
    let rows = |batches: &[RecordBatch]| {
        let all = concat_batches(&batches[0].schema(), batches).unwrap();
        let hits = |c: usize| -> Vec<Vec<(String, f32)>> {
            let lists = all.column(c).as_list::<i32>();
            (0..all.num_rows())
                .map(|row| {
                    let list = lists.value(row);
                    let uuids = cast(list.as_struct().column(0), &DataType::Utf8).unwrap();
                    let scores = list.as_struct().column(1).as_primitive::<Float32Type>().clone();
                    (0..list.len())
                        .map(|i| (uuids.as_string::<i32>().value(i).to_owned(), scores.value(i)))
                        .collect()
                })
                .collect()
        };
        (hits(1), hits(2))
    };
    let ((bm25, plaid), (want_bm25, want_plaid)) = (rows(&on_cluster), rows(&in_process));
    assert_eq!(bm25.len(), passages.len(), "{}", cluster.logs());
    assert_eq!(bm25, want_bm25);
    // Other encoding batches pad otherwise: scores agree to float noise.
    for (got, want) in plaid.iter().zip(&want_plaid) {
        assert_eq!(got.len(), want.len());
        for ((g, gs), (w, ws)) in got.iter().zip(want) {
            assert!((gs - ws).abs() <= 1e-4, "{g} {gs} vs {w} {ws}");
        }
        assert_eq!(got[0].0, want[0].0);
    }
}

#[test]
fn the_sql_script_gives_the_pipelines_metrics() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("sql");
    let options = options(EngineKind::DataFusion, &dir, true);
    let pipeline = run(&options);
    // The script, then its BM25 lists to compare with the pipeline's.
    let script = format!(
        "{}\nSELECT uuid, bm25 FROM runs ORDER BY uuid;",
        include_str!("../sql/hybrid.sql")
    );
    let output = app::run_script(&options, &script).unwrap_or_else(|e| panic!("{e}"));
    let statements = &output.statements;
    let metrics = statements[statements.len() - 2].metrics().unwrap();
    assert_eq!(metrics.len(), SYSTEMS.len() * 3, "{metrics:?}");
    for MetricValue { system, metric, value } in &metrics {
        let want = pipeline
            .metric(system, metric)
            .unwrap_or_else(|| panic!("{system} {metric}"));
        // The builders index passages in uuid order, the pipeline in file
        // order: PLAID's k-means samples other tokens, and ties break
        // otherwise, so values agree closely rather than exactly.
        assert!(
            (value - want).abs() <= 0.02,
            "{system} {metric}: SQL {value}, pipeline {want}"
        );
    }
    // BM25 scores do not depend on the order: rank by rank they are the
    // pipeline's.
    let bm25 = statements.last().unwrap();
    let mut checked = 0;
    for batch in &bm25.batches {
        let queries = cast(batch.column(0), &DataType::Utf8).unwrap();
        let (queries, lists) = (queries.as_string::<i32>(), batch.column(1).as_list::<i32>());
        for row in 0..batch.num_rows() {
            let list = lists.value(row);
            let scores = list.as_struct().column(1).as_primitive::<Float32Type>();
            let want: Vec<f32> = pipeline
                .predictions
                .iter()
                .filter(|p| p.system == "bm25" && p.query_uuid == queries.value(row))
                .map(|p| p.score)
                .collect();
            assert_eq!(scores.values().to_vec(), want, "query {}", queries.value(row));
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

/// `--fine-tune`: the encoder is trained first (MiniLM, two steps), the
/// run reports it, a second run with the same inputs reuses the model, and
/// both engines give the same results with it.
#[test]
fn a_fine_tuned_encoder_is_trained_once_and_used_by_both_engines() {
    use nodefusion_retrieval::app::FineTuneOptions;
    use nodefusion_udfs::finetune::{FineTuneConfig, SpanOptions};

    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("fine-tune");
    let fine_tune = FineTuneOptions {
        config: FineTuneConfig {
            steps: 2,
            batch_size: 4,
            micro_batch: 2,
            warmup_steps: 1,
            // A seed of this test's own, so that no earlier run's model is found.
            seed: u64::from(std::process::id()),
            ..FineTuneConfig::default()
        },
        spans: Some(SpanOptions::default()),
        aligned_pairs: None,
        excluded_queries: Vec::new(),
    };
    let options = |engine, name: &str| RunOptions {
        encoder: EncoderKind::Colbert,
        fine_tune: Some(fine_tune.clone()),
        ..options(engine, &dir.join(name), true)
    };
    let first = run(&options(EngineKind::Sequential, "seq"));
    let second = run(&options(EngineKind::DataFusion, "df"));
    let note = |result: &RunResult| {
        result
            .notes
            .iter()
            .find(|n| n.starts_with("fine-tuned encoder"))
            .cloned()
            .unwrap_or_else(|| panic!("no fine-tuning note in {:?}", result.notes))
    };
    assert!(note(&first).contains("trained in this run"), "{}", note(&first));
    assert!(note(&second).contains("reused, not trained again"), "{}", note(&second));
    assert!(note(&first).contains("2 steps"), "{}", note(&first));
    assert_eq!(first.predictions, second.predictions);
    assert_eq!(first.metrics, second.metrics);

    // The model differs from the base: its predictions do too.
    let base = run(&RunOptions {
        fine_tune: None,
        ..options(EngineKind::DataFusion, "base")
    });
    assert_ne!(base.predictions, first.predictions);

    let model_dir = note(&first)
        .split_whitespace()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap();
    assert!(
        model_dir.join("nodefusion-fine-tune.json").is_file(),
        "{}",
        model_dir.display()
    );
    std::fs::remove_dir_all(&model_dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fine_tuning_settings_out_of_range_fail_before_any_work() {
    use nodefusion_retrieval::app::FineTuneOptions;
    use nodefusion_udfs::finetune::FineTuneConfig;

    let dir = temp_dir("fine-tune-bad");
    let bad = |config: FineTuneConfig, spans| {
        let options = RunOptions {
            fine_tune: Some(FineTuneOptions {
                config,
                spans,
                aligned_pairs: None,
                excluded_queries: Vec::new(),
            }),
            ..options(EngineKind::Sequential, &dir, true)
        };
        app::run(&options).map(|_| ()).unwrap_err().to_string()
    };
    let lr = bad(
        FineTuneConfig {
            learning_rate: 0.0,
            ..FineTuneConfig::default()
        },
        Some(Default::default()),
    );
    assert!(lr.contains("learning_rate"), "{lr}");
    let nothing = bad(FineTuneConfig::default(), None);
    assert!(nothing.contains("no aligned pairs file"), "{nothing}");
    let _ = std::fs::remove_dir_all(&dir);
}
