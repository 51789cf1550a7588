//! The node cache on the retrieval pipeline, side by side in one run: the
//! same run with an empty cache (cold), again (warm), with 1% of the
//! passages edited (every 100th text gets a word more: the others'
//! encodings reused), and with only the retrieval settings changed
//! (`top_k` 100 → 50: nothing to encode). A run whose
//! passages and encodings are those of the published indexes copies them
//! instead of building them; every run computes the metrics, and the cold
//! and warm runs must give the same metrics as a run without the cache.
//!
//! ```sh
//! cargo run -p nodefusion-retrieval --example bench_cache             # the default slice
//! cargo run -p nodefusion-retrieval --example bench_cache -- --full   # all 23,206 verses (an hour here)
//! ```

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use nodefusion::cache::Cache;
use nodefusion_retrieval::app::{self, EncoderKind, EngineKind, RunOptions};
use nodefusion_retrieval::data;

#[derive(Parser)]
struct Args {
    /// Passages of the slice (plus every passage a kept query is judged on).
    #[arg(long, default_value_t = 2000)]
    passages: usize,
    /// Queries of the slice.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// The whole built-in dataset instead of a slice.
    #[arg(long)]
    full: bool,
    /// Skip the run without a cache (on the whole dataset it takes as long
    /// as the cold run); the warm run's metrics are then checked against
    /// the cold run's only.
    #[arg(long)]
    no_baseline: bool,
}

/// A run's wall time, what was computed and what came from the cache.
struct Measured {
    name: &'static str,
    seconds: f64,
    encoded: u64,
    cached: u64,
    /// Indexes copied from the published set rather than built (of 3).
    copied: usize,
    metrics: Vec<(String, String, f64)>,
}

fn run(name: &'static str, options: &RunOptions) -> Result<Measured, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let result = app::run(options)?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{name}: {seconds:.1} s");
    let encoding = result
        .report
        .nodes
        .iter()
        .filter(|n| n.node.ends_with("encode_passage") || n.node.ends_with("encode_query"));
    let (items, cached) = encoding.fold((0, 0), |(i, c), n| (i + n.items, c + n.cache_hits));
    let metrics = result
        .metrics
        .iter()
        .map(|m| (m.system.clone(), m.metric.clone(), m.value))
        .collect();
    Ok(Measured {
        name,
        seconds,
        encoded: items - cached,
        cached,
        copied: result.copied_indexes.len(),
        metrics,
    })
}

/// The built-in dataset with every 100th passage's text one word longer,
/// its passages written under `work`.
fn edited_dataset(work: &Path) -> Result<(String, String, String), Box<dyn std::error::Error>> {
    let (passages, queries, truths) = app::default_dataset()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut passages = runtime.block_on(data::load_passages(&passages, 8))?;
    for passage in passages.iter_mut().step_by(100) {
        passage.text.push_str(" ועוד");
    }
    let path = work.join("edited").join("passages.parquet");
    app::write_parquet(&passages, &path)?;
    Ok((path.display().to_string(), queries, truths))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let work = std::env::temp_dir().join(format!("nodefusion-bench-cache-{}", std::process::id()));
    let cache_dir = work.join("cache");
    let (passages, queries) = if args.full {
        (None, None)
    } else {
        (Some(args.passages), Some(args.queries))
    };
    let edited = edited_dataset(&work)?;
    let options = |edited: Option<&(String, String, String)>, top_k: usize, cache: bool| RunOptions {
        passages: edited.map(|d| d.0.clone()),
        queries: edited.map(|d| d.1.clone()),
        ground_truths: edited.map(|d| d.2.clone()),
        engine: EngineKind::DataFusion,
        encoder: EncoderKind::E5,
        model_dir: None,
        precision: nodefusion_udfs::colbert::Precision::F32,
        fine_tune: None,
        index_folder: Some(work.join("indexes").display().to_string()),
        overwrite: true,
        top_k,
        rerank_k: 100,
        limit_passages: passages,
        limit_queries: queries,
        output: Some(work.join("output")),
        progress: false,
        cache: cache.then(|| cache_dir.clone()),
    };
    let runs = [
        run("cold (empty cache)", &options(None, 100, true))?,
        run("warm (same run again)", &options(None, 100, true))?,
        run("1% of the passages edited", &options(Some(&edited), 100, true))?,
        run("top_k 100 -> 50 only", &options(None, 50, true))?,
    ];
    let uncached = match args.no_baseline {
        true => None,
        false => Some(run("same as warm, no cache", &options(None, 100, false))?),
    };
    let stats = Cache::in_dir(&cache_dir)?.stats()?;
    std::fs::remove_dir_all(&work).ok();

    println!("\n| run | wall time | vs cold | encoded | from cache | indexes copied |");
    println!("|---|---:|---:|---:|---:|---:|");
    let cold = runs[0].seconds;
    for r in runs.iter().chain(&uncached) {
        println!(
            "| {} | {:.1} s | {:.2}x | {} | {} | {} of 3 |",
            r.name,
            r.seconds,
            cold / r.seconds,
            r.encoded,
            r.cached,
            r.copied
        );
    }
    println!("\n| cached node | entries | MB | KB per entry |");
    println!("|---|---:|---:|---:|");
    for s in &stats {
        println!(
            "| {} | {} | {:.1} | {:.1} |",
            s.node,
            s.entries,
            s.bytes as f64 / 1e6,
            s.bytes as f64 / 1e3 / s.entries.max(1) as f64
        );
    }
    let reference = uncached
        .as_ref()
        .map_or(("the cold run's", &runs[0]), |r| ("the run without cache's", r));
    let same = runs[1].metrics == reference.1.metrics && runs[0].metrics == reference.1.metrics;
    println!(
        "\nmetrics of the cold and warm runs equal to {}: {}",
        reference.0,
        if same { "yes" } else { "NO" }
    );
    if !same {
        return Err(format!("the cached runs' metrics differ from {}", reference.0).into());
    }
    Ok(())
}
