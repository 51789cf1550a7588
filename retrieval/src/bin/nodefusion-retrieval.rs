//! Runs the hybrid retrieval pipeline and prints its metrics.
//!
//! With no data arguments it runs on the Mishnah-citation dataset
//! (fetched and built into the cache on first use) with multilingual-e5-small
//! (converted into the cache on first use). See `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{ArgGroup, Parser, ValueEnum};
use nodefusion::cache::Cache;
use nodefusion_retrieval::app::{self, AppError, EncoderKind, EngineKind, FineTuneOptions, RunOptions};
use nodefusion_retrieval::dataset::default_cache_dir;
use nodefusion_retrieval::pipeline::training::{FINE_TUNED, kept_models};
use nodefusion_udfs::colbert::Precision;
use nodefusion_udfs::finetune::{FineTuneConfig, SpanOptions};

/// jemalloc hands freed memory back to the system; glibc's malloc keeps
/// much of what encoding and collecting free (README, "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(group(ArgGroup::new("fine_tune_on").args(["fine_tune", "fine_tune_pairs"]).multiple(true)))]
#[command(
    version,
    about = "The hybrid (late interaction + BM25) retrieval pipeline of nodefusion"
)]
struct Cli {
    /// Passages Parquet (path, directory of shards, file://, s3://, http(s):// URL).
    #[arg(long)]
    passages: Option<String>,
    /// Queries Parquet.
    #[arg(long)]
    queries: Option<String>,
    /// Ground truths Parquet.
    #[arg(long)]
    ground_truths: Option<String>,
    /// Which engine runs the pipeline. `ballista` runs on the cluster of
    /// --scheduler, or on an in-process one without it.
    #[arg(long, value_enum, default_value_t = Engine::Datafusion)]
    engine: Engine,
    /// The Ballista scheduler (`df://HOST:PORT`) of a cluster of
    /// `nodefusion-cluster` executors that see the same data, model and
    /// index paths as this client.
    #[arg(long)]
    scheduler: Option<String>,
    /// With --engine ballista: the partitions (and so tasks) each mapped
    /// node is spread over; about the cluster's task slots. This machine's
    /// core count by default.
    #[arg(long)]
    partitions: Option<usize>,
    /// Encoder family: `e5` (multilingual-e5-small: text prefixes, no query
    /// augmentation) or `colbert` (a BERT checkpoint used ColBERT-style,
    /// e.g. all-MiniLM-L6-v2).
    #[arg(long, value_enum, default_value_t = Encoder::E5)]
    encoder: Encoder,
    /// The encoder's dense layers in `f32`, or in `bf16` on Intel AMX
    /// (Sapphire Rapids or later): about twice as fast, within 0.6 points
    /// of nDCG@10 on both benchmark sets (README, "Encoder speed"); refused
    /// at the start where the CPU lacks AMX.
    #[arg(long, default_value = "f32")]
    encoder_precision: Precision,
    /// Fine-tune the encoder before encoding, on spans of the passages
    /// (only those of chapters numbered 0 mod 4 where ids name chapters;
    /// never a query's text). The trained model is kept in the cache and
    /// reused by runs with the same corpus and settings (README,
    /// "Fine-tuning").
    #[arg(long)]
    fine_tune: bool,
    /// Also train on aligned pairs from this Parquet file (`uuid`, `query`,
    /// `positive`), e.g. the ASV dataset's `training_pairs.parquet`.
    /// Implies --fine-tune.
    #[arg(long, value_name = "PARQUET")]
    fine_tune_pairs: Option<String>,
    /// A queries file (`uuid`, `text`) of another evaluation set whose
    /// texts must never be trained on, like the run's own queries
    /// (repeatable).
    #[arg(long, value_name = "PARQUET", requires = "fine_tune_on")]
    fine_tune_exclude: Vec<String>,
    /// Train on the aligned pairs only, without span pairs.
    #[arg(long, requires = "fine_tune_pairs")]
    fine_tune_no_spans: bool,
    /// Optimiser steps.
    #[arg(long, default_value_t = 200, requires = "fine_tune_on")]
    fine_tune_steps: usize,
    /// Pairs per step (each pair's passage is a negative for the others).
    #[arg(long, default_value_t = 32, requires = "fine_tune_on")]
    fine_tune_batch: usize,
    /// Pairs per forward and backward pass (gradients are summed over a
    /// step); must divide --fine-tune-batch.
    #[arg(long, default_value_t = 16, requires = "fine_tune_on")]
    fine_tune_micro_batch: usize,
    /// Peak learning rate (AdamW, linear warm-up over a tenth of the steps,
    /// then linear decay).
    #[arg(long, default_value_t = 3e-5, requires = "fine_tune_on")]
    fine_tune_lr: f64,
    /// Seed of the spans and of the order of the pairs.
    #[arg(long, default_value_t = 17, requires = "fine_tune_on")]
    fine_tune_seed: u64,
    /// Temperature of the contrastive loss: scores (mean token MaxSim) are
    /// divided by it before the softmax over a query's documents.
    #[arg(long, default_value_t = 0.05, requires = "fine_tune_on")]
    fine_tune_temperature: f64,
    /// AdamW's weight decay, on weight matrices only.
    #[arg(long, default_value_t = 0.01, requires = "fine_tune_on")]
    fine_tune_weight_decay: f64,
    /// Train the word embeddings too (three quarters of e5-small's weights;
    /// frozen by default).
    #[arg(long, requires = "fine_tune_on")]
    fine_tune_train_embeddings: bool,
    /// Model directory (config.json, tokenizer.json, model.safetensors);
    /// default: the cached model of --encoder (multilingual-e5-small or
    /// all-MiniLM-L6-v2), fetched on first use.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Where the indexes are written (path or URL); default: the cache.
    #[arg(long)]
    index_folder: Option<String>,
    /// Replace existing indexes.
    #[arg(long = "override")]
    overwrite: bool,
    /// Candidates each retriever returns.
    #[arg(long, default_value_t = 100)]
    top_k: usize,
    /// Results kept after reranking.
    #[arg(long, default_value_t = 100)]
    rerank_k: usize,
    /// Use only the first N passages (plus every passage a kept query is
    /// judged on). Default on the built-in dataset: 2000, unless --full.
    #[arg(long)]
    limit_passages: Option<usize>,
    /// Use only the first N queries. Default on the built-in dataset: 100,
    /// unless --full.
    #[arg(long)]
    limit_queries: Option<usize>,
    /// Run the whole built-in dataset (23,206 verses): minutes of encoding.
    #[arg(long)]
    full: bool,
    /// Where predictions.parquet and metrics.parquet are written.
    #[arg(long)]
    output: Option<PathBuf>,
    /// A SQL query over the tables `predictions` and `metrics`.
    #[arg(long)]
    sql: Option<String>,
    /// Hide progress bars.
    #[arg(long)]
    no_progress: bool,
    /// Where encodings are cached, so a run never encodes a passage or
    /// query twice with one model; default: `$NODEFUSION_CACHE/nodes`, else
    /// `~/.cache/nodefusion/nodes`.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Encode everything afresh, reading and writing no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Print the cache's entries and size per node, and the models trained
    /// by --fine-tune as `fine-tuned`, and exit.
    #[arg(long, conflicts_with = "no_cache")]
    cache_stats: bool,
    /// Remove every cached result (or only those of the node with this id,
    /// as --cache-stats names it), and exit. Models trained by --fine-tune
    /// (in `$NODEFUSION_CACHE/models`, whatever --cache-dir) are removed
    /// only by name: `--clear-cache fine-tuned`.
    #[arg(long, value_name = "NODE", num_args = 0..=1, default_missing_value = "", conflicts_with = "no_cache")]
    clear_cache: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Runs a SQL script with the retrieval functions registered instead
    /// of the node pipeline (retrieval/sql/hybrid.sql is the benchmark),
    /// printing what each statement returns. Its ${passages}, ${queries},
    /// ${ground_truths}, ${model}, ${encoder_style}, ${encoder_precision},
    /// ${index_folder}, ${top_k} and ${rerank_k} come from the flags before
    /// `sql`.
    Sql {
        /// The script.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Encoder {
    E5,
    Colbert,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Engine {
    Sequential,
    Datafusion,
    Ballista,
}

fn main() -> ExitCode {
    // Warnings (a corrupt cache entry, an index that could not be reused)
    // go to stderr; `RUST_LOG` shows more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run_cli(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--cache-stats` and `--clear-cache`: the cache's contents, then exit.
fn manage_cache(dir: PathBuf, stats: bool, clear: Option<String>) -> Result<(), AppError> {
    let models_dir = default_cache_dir().join("models");
    let models_error = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| AppError::KeptModels { path, source }
    };
    let cache = Cache::in_dir(&dir)?;
    match clear.as_deref() {
        Some(FINE_TUNED) => {
            let models = kept_models(&models_dir).map_err(models_error(&models_dir))?;
            for (model, _) in &models {
                std::fs::remove_dir_all(model).map_err(models_error(model))?;
            }
            println!(
                "removed {} fine-tuned models from {}",
                models.len(),
                models_dir.display()
            );
        }
        Some(node) => {
            let removed = cache.clear((!node.is_empty()).then_some(node))?;
            println!("removed {removed} entries from {}", dir.display());
        }
        None => {}
    }
    if stats {
        println!("| node | entries | MB |\n|---|---:|---:|");
        for node in cache.stats()? {
            println!("| {} | {} | {:.1} |", node.node, node.entries, node.bytes as f64 / 1e6);
        }
        let models = kept_models(&models_dir).map_err(models_error(&models_dir))?;
        if !models.is_empty() {
            let bytes: u64 = models.iter().map(|(_, bytes)| bytes).sum();
            println!("| {FINE_TUNED} | {} | {:.1} |", models.len(), bytes as f64 / 1e6);
        }
    }
    Ok(())
}

/// Checks the flags, runs the pipeline and prints what it produced.
fn run_cli(mut cli: Cli) -> Result<(), AppError> {
    let command = cli.command.take();
    if cli.cache_stats || cli.clear_cache.is_some() {
        let dir = cli.cache_dir.unwrap_or_else(Cache::default_dir);
        return manage_cache(dir, cli.cache_stats, cli.clear_cache);
    }
    if (cli.scheduler.is_some() || cli.partitions.is_some()) && !matches!(cli.engine, Engine::Ballista) {
        return Err(AppError::BallistaOnly);
    }
    if cli.partitions == Some(0) {
        return Err(AppError::AtLeastOne { flag: "--partitions" });
    }
    if let Some(sql) = &cli.sql {
        app::check_query(sql)?;
    }
    let fine_tune = (cli.fine_tune || cli.fine_tune_pairs.is_some()).then(|| FineTuneOptions {
        config: FineTuneConfig {
            steps: cli.fine_tune_steps,
            batch_size: cli.fine_tune_batch,
            micro_batch: cli.fine_tune_micro_batch,
            learning_rate: cli.fine_tune_lr,
            warmup_steps: cli.fine_tune_steps / 10,
            weight_decay: cli.fine_tune_weight_decay,
            temperature: cli.fine_tune_temperature,
            train_embeddings: cli.fine_tune_train_embeddings,
            seed: cli.fine_tune_seed,
            ..FineTuneConfig::default()
        },
        spans: (!cli.fine_tune_no_spans).then(|| SpanOptions {
            seed: cli.fine_tune_seed,
            ..SpanOptions::default()
        }),
        aligned_pairs: cli.fine_tune_pairs.clone(),
        excluded_queries: cli.fine_tune_exclude.clone(),
    });
    if fine_tune.is_some() && matches!(command, Some(Command::Sql { .. })) {
        return Err(AppError::FineTuneInScript);
    }
    let started = Instant::now();
    let built_in = cli.passages.is_none() && cli.queries.is_none() && cli.ground_truths.is_none();
    if built_in && !cli.full && cli.limit_passages.is_none() && cli.limit_queries.is_none() {
        cli.limit_passages = Some(2000);
        cli.limit_queries = Some(100);
    }
    let options = RunOptions {
        passages: cli.passages,
        queries: cli.queries,
        ground_truths: cli.ground_truths,
        engine: match cli.engine {
            Engine::Sequential => EngineKind::Sequential,
            Engine::Datafusion => EngineKind::DataFusion,
            Engine::Ballista => EngineKind::Ballista {
                scheduler: cli.scheduler.clone(),
                partitions: cli.partitions,
            },
        },
        encoder: match cli.encoder {
            Encoder::E5 => EncoderKind::E5,
            Encoder::Colbert => EncoderKind::Colbert,
        },
        model_dir: cli.model,
        precision: cli.encoder_precision,
        fine_tune,
        index_folder: cli.index_folder,
        overwrite: cli.overwrite,
        top_k: cli.top_k,
        rerank_k: cli.rerank_k,
        limit_passages: cli.limit_passages,
        limit_queries: cli.limit_queries,
        output: cli.output,
        cache: (!cli.no_cache).then(|| cli.cache_dir.unwrap_or_else(Cache::default_dir)),
        progress: !cli.no_progress,
    };
    if let Some(Command::Sql { file }) = command {
        return run_sql_script(&options, &file, started);
    }
    let result = app::run(&options)?;
    println!("{}", result.metrics_table());
    println!("{}", result.report);
    println!("predictions and metrics written to {}", result.output.display());
    for note in &result.notes {
        eprintln!("note: {note}");
    }
    if let Some(sql) = &cli.sql {
        println!("{}", app::query(&result, sql)?);
    }
    println!("total wall time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `sql FILE`: runs the script and prints each statement's time and rows.
fn run_sql_script(options: &RunOptions, file: &std::path::Path, started: Instant) -> Result<(), AppError> {
    let script = std::fs::read_to_string(file).map_err(|source| AppError::ScriptRead {
        path: file.to_owned(),
        source,
    })?;
    let output = app::run_script(options, &script)?;
    for (i, statement) in output.statements.iter().enumerate() {
        let head: String = statement.sql.chars().take(100).collect();
        println!("-- statement {} ({:.1} s): {head}", i + 1, statement.seconds);
        if statement.batches.iter().any(|b| b.num_rows() > 0) {
            let table =
                datafusion::arrow::util::pretty::pretty_format_batches(&statement.batches).map_err(AppError::Table)?;
            println!("{table}");
        }
    }
    println!("total wall time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
