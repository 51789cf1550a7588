//! What a run is asked to do and what it produced: the engine and encoder
//! choices, [`RunOptions`] with their defaults (the cached model, the index
//! and output folders under the cache), and [`RunResult`].

use std::path::{Path, PathBuf};

use nodefusion::RunReport;
use nodefusion_udfs::colbert::{E5_MODEL_NAME, EncoderConfig, EncoderStyle, Precision, TEST_MODEL_NAME};
use nodefusion_udfs::finetune::{FineTuneConfig, SpanOptions};

use super::AppError;
use crate::dataset::default_cache_dir;
use crate::pipeline::{MetricValue, Prediction, SYSTEMS};

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
    /// multilingual-e5-small (the default, chosen on both Hebrew datasets;
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
        let style = match self {
            EncoderKind::E5 => EncoderStyle::E5,
            EncoderKind::Colbert => EncoderStyle::Colbert,
        };
        style.config(model_dir)
    }

    /// The cached model of this kind (multilingual-e5-small or
    /// all-MiniLM-L6-v2), fetched on first use by its `scripts/fetch-*.sh`,
    /// embedded in the binary ([`super::setup`]).
    pub fn default_model_dir(self) -> Result<PathBuf, AppError> {
        let (name, script) = match self {
            EncoderKind::E5 => (E5_MODEL_NAME, "fetch-e5.sh"),
            EncoderKind::Colbert => (TEST_MODEL_NAME, "fetch-model.sh"),
        };
        let dir = default_cache_dir().join("models").join(name);
        if !dir.join("model.safetensors").exists() {
            super::setup::run_script(script)?;
        }
        Ok(dir)
    }
}

/// Fine-tuning the encoder within a run
/// ([`fine_tuned_retrieval_pipeline`](crate::pipeline::fine_tuned_retrieval_pipeline)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FineTuneOptions {
    /// The training run.
    pub config: FineTuneConfig,
    /// Train on spans of the passages; `None`: not.
    pub spans: Option<SpanOptions>,
    /// A Parquet file of aligned pairs (`uuid`, `query`, `positive`), such
    /// as the ASV dataset's
    /// [`TRAINING_PAIRS_FILE`](crate::dataset::TRAINING_PAIRS_FILE).
    pub aligned_pairs: Option<String>,
    /// Query files (`uuid`, `text`) of other evaluation sets: their texts
    /// are never trained on, like the run's own queries.
    pub excluded_queries: Vec<String>,
}

/// What to run, on what.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Passages location; default: the Mishnah-citation dataset.
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
    /// The number format of the encoder's dense layers.
    pub precision: Precision,
    /// Fine-tune the encoder on the run's passages before encoding;
    /// `None`: use it as it is.
    pub fine_tune: Option<FineTuneOptions>,
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
    /// The node cache's directory: encodings found there are not computed
    /// again (every engine; a cluster's executors open the same path, so
    /// they share it when they see one file system). `None`: no cache.
    pub cache: Option<PathBuf>,
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
    /// interrupted runs in the index folder, indexes copied).
    pub notes: Vec<String>,
    /// The indexes copied from the cache rather than built, having been
    /// built before from the same passages, encodings and settings.
    pub copied_indexes: Vec<String>,
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

/// The index folder `options` name, or the engine's default one.
pub(super) fn index_folder(options: &RunOptions) -> String {
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
pub(super) fn output_folder(options: &RunOptions) -> PathBuf {
    options
        .output
        .clone()
        .unwrap_or_else(|| default_cache_dir().join("runs").join("latest"))
}
