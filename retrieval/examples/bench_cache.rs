//! The node cache on the retrieval pipeline, side by side in one run: the
//! same run with an empty cache (cold), again (warm), with 1% more passages
//! (the encodings of the others reused), and with only the retrieval
//! settings changed (`top_k` 100 → 50: nothing to encode). Each run builds
//! its indexes (index building is not cached yet) and computes the metrics;
//! every run must give the same metrics as a run without the cache.
//!
//! ```sh
//! cargo run -p nodefusion-retrieval --example bench_cache             # the default slice
//! cargo run -p nodefusion-retrieval --example bench_cache -- --full   # all 23,206 verses (an hour here)
//! ```

use std::time::Instant;

use clap::Parser;
use nodefusion::cache::Cache;
use nodefusion_retrieval::app::{self, EncoderKind, EngineKind, RunOptions};

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
}

/// A run's wall time, what was computed and what came from the cache.
struct Measured {
    name: &'static str,
    seconds: f64,
    encoded: u64,
    cached: u64,
    metrics: Vec<(String, String, f64)>,
}

fn run(name: &'static str, options: &RunOptions) -> Result<Measured, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let result = app::run(options)?;
    let seconds = started.elapsed().as_secs_f64();
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
        metrics,
    })
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
    let options = |limit_passages: Option<usize>, top_k: usize, cache: bool| RunOptions {
        passages: None,
        queries: None,
        ground_truths: None,
        engine: EngineKind::DataFusion,
        encoder: EncoderKind::E5,
        model_dir: None,
        index_folder: Some(work.join("indexes").display().to_string()),
        overwrite: true,
        top_k,
        rerank_k: 100,
        limit_passages,
        limit_queries: queries,
        output: Some(work.join("output")),
        progress: false,
        cache: cache.then(|| cache_dir.clone()),
    };
    let one_percent_more = passages.map(|n| n + n.div_ceil(100));
    let runs = [
        run("cold (empty cache)", &options(passages, 100, true))?,
        run("warm (same run again)", &options(passages, 100, true))?,
        run("1% more passages", &options(one_percent_more, 100, true))?,
        run("top_k 100 -> 50 only", &options(passages, 50, true))?,
    ];
    let uncached = run("same as warm, no cache", &options(passages, 100, false))?;
    let stats = Cache::in_dir(&cache_dir)?.stats()?;
    std::fs::remove_dir_all(&work).ok();

    println!("\n| run | wall time | vs cold | encoded | from cache |");
    println!("|---|---:|---:|---:|---:|");
    let cold = runs[0].seconds;
    for r in runs.iter().chain([&uncached]) {
        println!(
            "| {} | {:.1} s | {:.2}x | {} | {} |",
            r.name,
            r.seconds,
            cold / r.seconds,
            r.encoded,
            r.cached
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
    let same = runs[1].metrics == uncached.metrics && runs[0].metrics == uncached.metrics;
    println!(
        "\nmetrics of the cold and warm runs equal to the run without cache: {}",
        if same { "yes" } else { "NO" }
    );
    if !same {
        return Err("the cached runs' metrics differ from the uncached run's".into());
    }
    Ok(())
}
