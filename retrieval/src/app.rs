//! Running the retrieval pipeline end to end, as the `nodefusion-retrieval`
//! command line does: defaults (the cached dataset and model), slicing, the
//! engine choice, writing predictions and metrics as Parquet, and SQL over
//! them.
//!
//! | file | what |
//! |---|---|
//! | `app.rs` | [`run`]: validate, resolve the data and model, run the engine, publish |
//! | `options.rs` | what to run ([`RunOptions`], [`EngineKind`], [`EncoderKind`]) and what a run produced ([`RunResult`]) |
//! | `checks.rs` | [`validate`]: the checks made before any data is read |
//! | `input.rs` | the data a run reads ([`default_dataset`], slices) and the pipeline's [`inputs`] |
//! | `output.rs` | [`write_parquet`], and publishing outputs and indexes all or nothing |
//! | `reuse.rs` | where built indexes are kept for later runs, and which a run copied |
//! | `sql.rs` | [`check_query`] and [`query`]: one read-only query over the results |
//! | `script.rs` | [`run_script`]: the benchmark as a SQL script with the retrieval functions (`nodefusion-retrieval sql FILE`) |
//! | [`setup`] | the embedded scripts that fetch the encoders |
//! | `error.rs` | [`AppError`], the application's faults |

mod checks;
mod error;
mod input;
mod options;
mod output;
mod reuse;
mod script;
pub mod setup;
mod sql;

use std::path::Path;

use nodefusion::cache::Cache;
use nodefusion::{DataFusionEngine, Engine, Inputs, Outputs, Pipeline, SequentialEngine};
use nodefusion_ballista::BallistaEngine;
use nodefusion_udfs::colbert::{EncoderConfig, check_model_dir, model_digest};
use nodefusion_udfs::store::IndexSet;

pub use checks::validate;
pub use error::AppError;
pub use input::{default_dataset, inputs};
pub use options::{EncoderKind, EngineKind, FineTuneOptions, RunOptions, RunResult};
pub use output::write_parquet;
pub use script::{ScriptOutput, StatementOutput, run_script};
pub use sql::{check_query, query};

use crate::pipeline::{FineTuneSummary, IndexSettings, fine_tuned_retrieval_pipeline, retrieval_pipeline};
use options::index_folder;

/// A multi-threaded async runtime for the blocking parts of a run.
fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(AppError::Runtime)
}

/// Runs the pipeline as `options` say, after [`validate`]-ing them.
pub fn run(options: &RunOptions) -> Result<RunResult, AppError> {
    validate(options)?;
    let data = data(options)?;
    let model_dir = model_dir(options)?;
    let encoder = encoder_config(options, &model_dir)?;
    let pipeline = match options.fine_tune {
        Some(_) => fine_tuned_retrieval_pipeline()?,
        None => retrieval_pipeline()?,
    };
    // The indexes go to a generation of their own, published with the
    // outputs once the whole run has succeeded.
    let runtime = runtime()?;
    let set = IndexSet::new(&index_folder(options)).map_err(|e| AppError::IndexFolder(Box::new(e)))?;
    let staged = set.stage();
    let index_cache = reuse::index_cache(options);
    let index_settings = IndexSettings {
        index_folder: staged.folder().to_owned(),
        // The folder is this run's own generation: a task that a cluster
        // runs again replaces what its first run wrote.
        overwrite: true,
        index_cache: index_cache.clone(),
    };
    let inputs = inputs(options, &data, encoder, index_settings);
    let outcome = run_engine(options, &pipeline, inputs).and_then(|mut out| {
        let fine_tuned: Option<FineTuneSummary> = match options.fine_tune {
            Some(_) => Some(out.take("fine_tune_report")?),
            None => None,
        };
        let copied = reuse::copied(&staged, &runtime);
        let mut result = output::publish(options, out, &set, &staged, &runtime)?;
        result.notes.extend(fine_tuned.map(|summary| summary.to_string()));
        if let (false, Some(cache)) = (copied.is_empty(), index_cache) {
            result.notes.push(format!(
                "indexes {} were built before from the same passages, encodings and settings: copied from {cache}, not built again",
                copied.join(", ")
            ));
            result.copied_indexes = copied;
        }
        Ok(result)
    });
    if outcome.is_err() {
        runtime.block_on(set.discard(&staged));
    }
    outcome
}

/// The passages', queries' and ground truths' locations: the given files
/// or the default dataset, sliced when the run is limited.
fn data(options: &RunOptions) -> Result<(String, String, String), AppError> {
    let data = match (&options.passages, &options.queries, &options.ground_truths) {
        (Some(p), Some(q), Some(g)) => (p.clone(), q.clone(), g.clone()),
        (None, None, None) => default_dataset()?,
        _ => return Err(AppError::PartialData),
    };
    Ok(
        match options.limit_passages.is_some() || options.limit_queries.is_some() {
            true => input::slice(data, options.limit_passages, options.limit_queries)?,
            false => data,
        },
    )
}

/// The model directory: the given one, or the cached model of the encoder
/// kind (fetched on first use).
fn model_dir(options: &RunOptions) -> Result<std::path::PathBuf, AppError> {
    match &options.model_dir {
        Some(dir) => Ok(dir.clone()),
        None => options.encoder.default_model_dir(),
    }
}

/// The encoder's config, its model checked; with the cache on it names
/// the model's content (its digest), so that cached encodings of a model
/// replaced in place are not found.
fn encoder_config(options: &RunOptions, model_dir: &Path) -> Result<EncoderConfig, AppError> {
    let model_error = |e| AppError::ModelDir(Box::new(e));
    check_model_dir(model_dir).map_err(model_error)?;
    let mut config = EncoderConfig {
        precision: options.precision,
        ..options.encoder.config(model_dir)
    };
    if options.cache.is_some() {
        config.model_digest = Some(model_digest(model_dir).map_err(model_error)?);
    }
    Ok(config)
}

/// Runs `pipeline` on the engine `options` name, selecting the metrics and
/// the predictions.
fn run_engine(options: &RunOptions, pipeline: &Pipeline, inputs: Inputs) -> Result<Outputs, AppError> {
    let select = match options.fine_tune {
        Some(_) => Some(&["metrics", "all_predictions", "fine_tune_report"][..]),
        None => Some(&["metrics", "all_predictions"][..]),
    };
    let cache = match &options.cache {
        Some(dir) => Some(Cache::in_dir(dir)?),
        None => None,
    };
    Ok(match &options.engine {
        EngineKind::Sequential => {
            let engine = SequentialEngine::default().with_progress(options.progress);
            match cache {
                Some(cache) => engine.with_cache(cache).run(pipeline, inputs, select)?,
                None => engine.run(pipeline, inputs, select)?,
            }
        }
        EngineKind::DataFusion => {
            let engine = DataFusionEngine::new().with_progress(options.progress);
            match cache {
                Some(cache) => engine.with_cache(cache).run(pipeline, inputs, select)?,
                None => engine.run(pipeline, inputs, select)?,
            }
        }
        EngineKind::Ballista { scheduler, partitions } => {
            let mut engine = match scheduler {
                Some(url) => BallistaEngine::remote(url)?,
                None => BallistaEngine::standalone()?,
            };
            if let Some(partitions) = partitions {
                engine = engine.with_target_partitions(*partitions);
            }
            if let Some(cache) = cache {
                engine = engine.with_cache(cache)?;
            }
            engine.with_progress(options.progress).run(pipeline, inputs, select)?
        }
    })
}
