//! Three claims about the retrieval pipeline, measured side by side in one
//! run on the Mishnah-citation dataset and printed as Markdown tables:
//!
//! - **(a) batch encoding** — the same N verses (the first `--encode-passages`
//!   of the dataset passages) encoded with one `encode_document` call each,
//!   then in chunks of each `--batch-sizes` value through
//!   `encode_documents_batch` (as the pipeline's batch node does, with the
//!   encoder's `batch_size` set to the chunk size). Passages/s, the speed-up,
//!   and the largest difference between the batched and one-call vectors.
//! - **(b) engines** — the whole retrieval pipeline (`app::run`: slice, load,
//!   encode, index, retrieve, fuse, rerank, evaluate) on the same slice with
//!   the sequential and the DataFusion engine, each with its own index folder
//!   in a temporary directory (`override`). The encoder is loaded once before
//!   both runs, so neither pays for it. Wall seconds, the ratio, and whether
//!   the metric tables (and predictions) are identical.
//! - **(c) concurrent loading** — the dataset's passages split into
//!   `--shards` Parquet files, served by a local HTTP server on a random port
//!   of 127.0.0.1 (started by this program), read (1) one shard after another
//!   with `data::load_passages(<shard URL>, 1)` and (2) in one call on the
//!   directory URL with `--partitions` partitions: object_store lists it with
//!   a WebDAV `PROPFIND` and DataFusion reads the files concurrently. Loopback
//!   has no latency, so the server sleeps `--latency-ms` before answering each
//!   request (emulated object-store time to first byte); 0 ms is measured too.
//!   Both ways must return the same rows.
//!
//! It ends with the whole run's wall time and its peak resident memory
//! (`VmHWM`, which covers the whole process, all sections together). Exits
//! non-zero when a check fails.
//!
//! ```sh
//! cargo run -p nodefusion-retrieval --example bench_pipeline
//! cargo run -p nodefusion-retrieval --example bench_pipeline -- --help
//! cargo run -p nodefusion-retrieval --example bench_pipeline -- --only loading --latency-ms 50
//! ```
//!
//! The model (multilingual-e5-small by default, `--encoder colbert` for
//! all-MiniLM-L6-v2) and the dataset are fetched into the cache on first
//! use, as for the CLI. Timings are single runs: on a shared machine
//! treat differences of a few percent as noise (the load average is printed).

mod bench_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use nodefusion::{BoxError, Res};
use nodefusion_retrieval::app::{self, EncoderKind, EngineKind, RunOptions, RunResult};
use nodefusion_retrieval::data::{self, Passage};
use nodefusion_retrieval::pipeline::Encoder;
use nodefusion_udfs::colbert::{EncoderConfig, TokenEmbeddings};

use bench_support::http_server::HttpServer;
use bench_support::{ScratchDir, format_mib, peak_memory_bytes, write_shards};

/// Batched vectors may differ from one-call vectors by float rounding only.
const ENCODING_TOLERANCE: f32 = 1e-4;

#[derive(Parser, Debug)]
#[command(about = "Batch encoding, sequential vs DataFusion engine, and concurrent Parquet loading, side by side")]
struct Cli {
    /// (a) Verses to encode.
    #[arg(long, default_value_t = 200)]
    encode_passages: usize,
    /// (a) Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [8, 32, 128])]
    batch_sizes: Vec<usize>,
    /// (b) Passages of the pipeline slice (plus every passage a kept query is judged on).
    #[arg(long, default_value_t = 300)]
    pipeline_passages: usize,
    /// (b) Queries of the pipeline slice.
    #[arg(long, default_value_t = 30)]
    pipeline_queries: usize,
    /// (c) Parquet shards the passages are split into.
    #[arg(long, default_value_t = 100)]
    shards: usize,
    /// (c) DataFusion partitions (concurrent file reads) of the directory read.
    #[arg(long, default_value_t = 32)]
    partitions: usize,
    /// (c) Emulated latency the server waits before answering each request,
    /// in milliseconds; 0 ms is always measured as well.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Encoder family, with the pipeline's settings for it.
    #[arg(long, value_enum, default_value_t = EncoderChoice::E5)]
    encoder: EncoderChoice,
    /// Model directory; default: the cached model of --encoder.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Sections to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Section::Encoding, Section::Engines, Section::Loading])]
    only: Vec<Section>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EncoderChoice {
    E5,
    Colbert,
}

impl EncoderChoice {
    fn kind(self) -> EncoderKind {
        match self {
            EncoderChoice::E5 => EncoderKind::E5,
            EncoderChoice::Colbert => EncoderKind::Colbert,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Section {
    /// (a) per-item vs batch encoding.
    Encoding,
    /// (b) sequential vs DataFusion engine.
    Engines,
    /// (c) sequential vs concurrent shard loading over HTTP.
    Loading,
}

/// One line of the closing summary.
struct Claim {
    claim: String,
    baseline: String,
    alternative: String,
    ratio: f64,
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    match run(&cli, started) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: a consistency check failed (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_args(cli: &Cli) -> Result<(), BoxError> {
    let positive = [
        ("--encode-passages", cli.encode_passages),
        ("--pipeline-passages", cli.pipeline_passages),
        ("--pipeline-queries", cli.pipeline_queries),
        ("--shards", cli.shards),
        ("--partitions", cli.partitions),
    ];
    for (flag, value) in positive {
        if value == 0 {
            return Err(format!("{flag} must be at least 1").into());
        }
    }
    if cli.batch_sizes.is_empty() || cli.batch_sizes.contains(&0) {
        return Err("--batch-sizes must be one or more sizes of at least 1".into());
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "n/a".into())
}

fn run(cli: &Cli, started: Instant) -> Result<bool, BoxError> {
    check_args(cli)?;
    let model_dir = match &cli.model {
        Some(dir) => dir.clone(),
        None => cli.encoder.kind().default_model_dir()?,
    };
    let (passages_path, _, _) = app::default_dataset()?;
    let passages = runtime()?
        .block_on(data::load_passages(&passages_path, 8))
        .map_err(|e| format!("loading the dataset passages: {e}"))?;
    let scratch = ScratchDir::new()?;
    println!("# nodefusion pipeline benchmark\n");
    println!(
        "{} cores; model {}; {} dataset passages; load average (1 min) at start {}\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        model_dir.display(),
        passages.len(),
        load_average(),
    );

    let mut ok = true;
    let mut claims = Vec::new();
    if cli.only.contains(&Section::Encoding) {
        ok &= bench_encoding(&passages, cli, &model_dir, &mut claims)?;
    }
    if cli.only.contains(&Section::Engines) {
        ok &= bench_engines(cli, &model_dir, scratch.path(), &mut claims)?;
    }
    if cli.only.contains(&Section::Loading) {
        ok &= bench_loading(&passages, cli, scratch.path(), &mut claims)?;
    }

    println!("## Summary (ratio = baseline seconds / alternative seconds; > 1 means the alternative is faster)\n");
    println!("| claim | baseline | alternative | ratio |\n|---|---:|---:|---:|");
    for c in &claims {
        println!("| {} | {} | {} | {:.2}x |", c.claim, c.baseline, c.alternative, c.ratio);
    }
    println!(
        "\nwhole run: {:.1} s wall; peak resident memory (VmHWM, whole process, all sections) {}; \
         load average (1 min) at end {}; checks {}",
        started.elapsed().as_secs_f64(),
        format_mib(peak_memory_bytes()),
        load_average(),
        if ok { "passed" } else { "FAILED" },
    );
    Ok(ok)
}

/// The largest absolute difference between two encodings of the same texts;
/// an error when token counts differ.
fn max_difference(a: &[TokenEmbeddings], b: &[TokenEmbeddings]) -> Result<f32, BoxError> {
    if a.len() != b.len() {
        return Err(format!("{} encodings vs {}", a.len(), b.len()).into());
    }
    let mut max = 0f32;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if (x.tokens, x.dim) != (y.tokens, y.dim) || x.data.len() != y.data.len() {
            return Err(format!(
                "text {i}: {}x{} vectors one by one, {}x{} batched",
                x.tokens, x.dim, y.tokens, y.dim
            )
            .into());
        }
        for (u, v) in x.data.iter().zip(&y.data) {
            max = max.max((u - v).abs());
        }
    }
    Ok(max)
}

fn bench_encoding(
    passages: &[Passage],
    cli: &Cli,
    model_dir: &Path,
    claims: &mut Vec<Claim>,
) -> Result<bool, BoxError> {
    let texts: Vec<&str> = passages
        .iter()
        .take(cli.encode_passages)
        .map(|p| p.text.as_str())
        .collect();
    let n = texts.len();
    let Some(first) = texts.first() else {
        return Err("no passages to encode".into());
    };
    let config = cli.encoder.kind().config(model_dir);
    let load = |config: &EncoderConfig| {
        config
            .load()
            .map_err(|e| format!("loading the encoder from {}: {e}", model_dir.display()))
    };
    let encoder = load(&config)?;
    // Warm-up: the first call starts candle's thread pool.
    encoder.encode_document(first)?;
    let clock = Instant::now();
    let one_by_one = texts
        .iter()
        .map(|t| encoder.encode_document(t))
        .collect::<Result<Vec<_>, _>>()?;
    let base = clock.elapsed().as_secs_f64();
    drop(encoder);

    println!("## (a) Encoding {n} verses: one call per verse vs batched\n");
    println!("| mode | seconds | passages/s | speed-up | max abs difference |\n|---|---:|---:|---:|---:|");
    println!(
        "| one `encode_document` call per verse | {base:.2} | {:.1} | 1.00x | - |",
        n as f64 / base
    );
    let mut ok = true;
    for &size in &cli.batch_sizes {
        let encoder = load(&EncoderConfig {
            batch_size: size,
            ..config.clone()
        })?;
        encoder.encode_documents_batch(&texts[..n.min(2)])?;
        let clock = Instant::now();
        let mut batched = Vec::with_capacity(n);
        for chunk in texts.chunks(size) {
            batched.extend(encoder.encode_documents_batch(chunk)?);
        }
        let secs = clock.elapsed().as_secs_f64();
        let difference = max_difference(&one_by_one, &batched).map_err(|e| format!("batch size {size}: {e}"))?;
        let same = difference <= ENCODING_TOLERANCE;
        ok &= same;
        println!(
            "| `encode_documents_batch`, batches of {size} | {secs:.2} | {:.1} | {:.2}x | {difference:.1e}{} |",
            n as f64 / secs,
            base / secs,
            if same { "" } else { " MISMATCH" },
        );
        claims.push(Claim {
            claim: format!("(a) batch encoding, batches of {size} ({n} verses)"),
            baseline: format!("{:.1} passages/s", n as f64 / base),
            alternative: format!("{:.1} passages/s", n as f64 / secs),
            ratio: base / secs,
        });
    }
    let tokens: Vec<usize> = one_by_one.iter().map(|e| e.tokens).collect();
    println!(
        "\nVectors per verse (tokens kept after punctuation removal, doc_maxlen {}): mean {:.0}, max {}. \
         The encoder runs in candle's CPU pool (all cores); batched vectors must agree with one-call \
         vectors within {ENCODING_TOLERANCE:.0e}.\n",
        config.doc_maxlen,
        tokens.iter().sum::<usize>() as f64 / n as f64,
        tokens.iter().max().unwrap_or(&0),
    );
    Ok(ok)
}

/// Predictions in a canonical order, for comparing runs.
fn sorted_predictions(result: &RunResult) -> Vec<(String, String, u32, String, u32)> {
    let mut rows: Vec<_> = result
        .predictions
        .iter()
        .map(|p| {
            (
                p.system.clone(),
                p.query_uuid.clone(),
                p.rank,
                p.passage_uuid.clone(),
                p.score.to_bits(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn bench_engines(cli: &Cli, model_dir: &Path, scratch: &Path, claims: &mut Vec<Claim>) -> Result<bool, BoxError> {
    // Load the pipeline's encoder resource now, so that neither run pays for it.
    Res::new(Encoder(cli.encoder.kind().config(model_dir)))
        .get()
        .map_err(|e| format!("loading the encoder: {e}"))?;
    let mut runs = Vec::new();
    for (engine, name) in [
        (EngineKind::Sequential, "sequential"),
        (EngineKind::DataFusion, "datafusion"),
    ] {
        let options = RunOptions {
            passages: None,
            queries: None,
            ground_truths: None,
            engine,
            encoder: cli.encoder.kind(),
            model_dir: Some(model_dir.to_path_buf()),
            precision: nodefusion_udfs::colbert::Precision::F32,
            fine_tune: None,
            index_folder: Some(scratch.join(format!("indexes-{name}")).display().to_string()),
            overwrite: true,
            top_k: 100,
            rerank_k: 100,
            limit_passages: Some(cli.pipeline_passages),
            limit_queries: Some(cli.pipeline_queries),
            output: Some(scratch.join(format!("run-{name}"))),
            progress: false,
            cache: None,
        };
        let clock = Instant::now();
        let result = app::run(&options).map_err(|e| format!("the {name} engine: {e}"))?;
        runs.push((name, clock.elapsed().as_secs_f64(), result));
    }
    let [(_, seq_secs, seq), (_, df_secs, df)] = &runs[..] else {
        return Err("expected two runs".into());
    };
    let tables_equal = seq.metrics_table() == df.metrics_table();
    let values_equal = seq.metrics == df.metrics;
    let predictions_equal = sorted_predictions(seq) == sorted_predictions(df);
    println!(
        "## (b) The whole retrieval pipeline: sequential vs DataFusion engine\n\n\
         Slice: the first {} passages (plus every judged passage of the kept queries) and the first {} \
         queries; top_k 100, rerank_k 100.\n",
        cli.pipeline_passages, cli.pipeline_queries
    );
    println!(
        "| engine | wall seconds | speed-up | passages encoded | `encode_passage` calls | `encode_passage` seconds |\n\
         |---|---:|---:|---:|---:|---:|"
    );
    for (name, secs, result) in &runs {
        let encode = result.report.nodes.iter().find(|n| n.node.ends_with("encode_passage"));
        println!(
            "| {name} | {secs:.2} | {:.2}x | {} | {} | {} |",
            seq_secs / secs,
            encode.map_or("-".into(), |n| n.items.to_string()),
            encode.map_or("-".into(), |n| n.calls.to_string()),
            encode.map_or("-".into(), |n| format!("{:.2}", n.total.as_secs_f64())),
        );
    }
    println!(
        "\nmetrics tables identical: {}; metric values bit-identical: {}; predictions identical: {}\n",
        yes_no(tables_equal),
        yes_no(values_equal),
        yes_no(predictions_equal),
    );
    println!("{}", seq.metrics_table());
    if !tables_equal {
        println!("DataFusion engine's table (differs):\n\n{}", df.metrics_table());
    }
    claims.push(Claim {
        claim: format!(
            "(b) DataFusion vs sequential engine, whole pipeline ({}+ passages, {} queries)",
            cli.pipeline_passages, cli.pipeline_queries
        ),
        baseline: format!("{seq_secs:.1} s"),
        alternative: format!("{df_secs:.1} s"),
        ratio: seq_secs / df_secs,
    });
    Ok(tables_equal)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn counts_text(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(method, n)| format!("{n} {method}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sorted_rows(mut rows: Vec<Passage>) -> Vec<Passage> {
    rows.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    rows
}

fn bench_loading(passages: &[Passage], cli: &Cli, scratch: &Path, claims: &mut Vec<Claim>) -> Result<bool, BoxError> {
    let root = scratch.join("served");
    let names = write_shards(passages, &root.join("shards"), cli.shards)?;
    let server = HttpServer::start(&root).map_err(|e| format!("starting the HTTP server: {e}"))?;
    let base = server.url();
    let expected = sorted_rows(passages.to_vec());
    let rt = runtime()?;
    let mut latencies = vec![0];
    if cli.latency_ms > 0 {
        latencies.push(cli.latency_ms);
    }

    println!(
        "## (c) Loading {} Parquet shards ({} passages) over HTTP: one after another vs concurrently\n\n\
         Server: {base}, started by this benchmark. **Latency is emulated**: the server sleeps the \
         given time before answering each request (loopback itself has none).\n",
        names.len(),
        passages.len(),
    );
    println!(
        "| emulated latency / request | mode | requests | seconds | rows | speed-up |\n|---:|---|---|---:|---:|---:|"
    );
    let mut ok = true;
    for &latency in &latencies {
        server.set_latency(Duration::from_millis(latency));
        server.take_request_counts();

        let clock = Instant::now();
        let one_by_one = rt.block_on(async {
            let mut rows = Vec::with_capacity(passages.len());
            for name in &names {
                let url = format!("{base}/shards/{name}");
                rows.extend(
                    data::load_passages(&url, 1)
                        .await
                        .map_err(|e| format!("reading {url}: {e}"))?,
                );
            }
            Ok::<_, BoxError>(rows)
        })?;
        let seq_secs = clock.elapsed().as_secs_f64();
        let seq_counts = server.take_request_counts();

        let url = format!("{base}/shards/");
        let clock = Instant::now();
        let together = rt
            .block_on(data::load_passages(&url, cli.partitions))
            .map_err(|e| format!("reading {url}: {e}"))?;
        let conc_secs = clock.elapsed().as_secs_f64();
        let conc_counts = server.take_request_counts();

        let (seq_rows, conc_rows) = (one_by_one.len(), together.len());
        let same = sorted_rows(one_by_one) == expected && sorted_rows(together) == expected;
        ok &= same;
        println!(
            "| {latency} ms | one shard after another: `load_passages(<shard URL>, 1)` × {} | {} | {seq_secs:.2} | {seq_rows} | 1.00x |",
            names.len(),
            counts_text(&seq_counts),
        );
        println!(
            "| {latency} ms | directory URL: `load_passages(\"{base}/shards/\", {})` | {} | {conc_secs:.2} | {conc_rows} | {:.2}x |",
            cli.partitions,
            counts_text(&conc_counts),
            seq_secs / conc_secs,
        );
        if !same {
            println!("| {latency} ms | MISMATCH: the two ways (or the source table) hold different rows | | | | |");
        }
        claims.push(Claim {
            claim: format!(
                "(c) concurrent loading of {} shards over HTTP, {latency} ms emulated latency",
                names.len()
            ),
            baseline: format!("{seq_secs:.2} s"),
            alternative: format!("{conc_secs:.2} s"),
            ratio: seq_secs / conc_secs,
        });
    }
    println!(
        "\nrows identical both ways (and equal to the source table): {}\n",
        yes_no(ok)
    );
    Ok(ok)
}
