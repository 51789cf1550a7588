//! The Ballista engine against the embedded DataFusion engine, measured side
//! by side in one run and printed as Markdown tables:
//!
//! - **CPU-bound map**: `--items` items through a node that burns about
//!   `--item-ms` ms of CPU each, on the embedded engine (all cores) and on
//!   local clusters of 1 and 2 executors, each executor pinned to one core
//!   with `taskset` and one task slot.
//! - **Fixed overhead**: a one-node pipeline on one integer, embedded vs on
//!   the 2-executor cluster (median of `--repeats` runs).
//! - **Retrieval**: the retrieval pipeline on a slice of the Mishnah
//!   dataset (`--passages`, `--queries`), embedded vs on the 2-executor
//!   cluster, with the largest difference between their metrics.
//!
//! The clusters are real processes on loopback: this example is its own
//! cluster binary (started with `NODEFUSION_BENCH_CLUSTER_PROCESS` set, it
//! runs the scheduler or an executor), so the executors carry the burn node
//! and the retrieval nodes.
//!
//! ```sh
//! cargo run --release -p nodefusion-retrieval --example bench_cluster
//! cargo run --release -p nodefusion-retrieval --example bench_cluster -- --passages 2000 --queries 100
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use nodefusion::{BoxError, DataFusionEngine, Engine, Inputs, Pipeline, node, pipeline};
use nodefusion_ballista::local::{LocalCluster, LocalClusterOptions};
use nodefusion_retrieval::app::{self, EncoderKind, EngineKind, RunOptions, RunResult};

const ROLE: &str = "NODEFUSION_BENCH_CLUSTER_PROCESS";

#[derive(Parser, Debug)]
struct Cli {
    /// Items of the CPU-bound map.
    #[arg(long, default_value_t = 64)]
    items: usize,
    /// CPU time per item of the CPU-bound map, in milliseconds.
    #[arg(long, default_value_t = 50)]
    item_ms: u64,
    /// Runs of the tiny pipeline (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Passages of the retrieval slice (0 skips the retrieval section).
    #[arg(long, default_value_t = 500)]
    passages: usize,
    /// Queries of the retrieval slice.
    #[arg(long, default_value_t = 50)]
    queries: usize,
}

/// Burns about `ms` milliseconds of CPU, then returns `x`.
#[node(output = "burnt")]
fn burn(x: i64, ms: u64) -> i64 {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut acc = x as u64;
    while Instant::now() < until {
        for i in 0..10_000u64 {
            acc = acc.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
    }
    std::hint::black_box(acc);
    x
}

#[node(output = "y")]
fn plus_one(x: i64) -> i64 {
    x + 1
}

fn burn_all() -> Pipeline {
    pipeline![
        pipeline![burn::node()]
            .expect("a valid pipeline")
            .as_node("burn_all")
            .rename_input("x", "xs")
            .rename_output("burnt", "all_burnt")
            .map_over(["xs"])
    ]
    .expect("a valid pipeline")
}

/// A cluster of `executors` executors, each pinned to its own core with one slot.
fn cluster(executors: usize) -> Result<LocalCluster, BoxError> {
    let mut options = LocalClusterOptions::new(std::env::current_exe()?, executors);
    options.env.push((ROLE.into(), "1".into()));
    options.vcores = 1;
    options.pin_to_cpus = Some((0..executors).collect());
    Ok(LocalCluster::start(options)?)
}

fn seconds(run: impl FnOnce() -> Result<(), BoxError>) -> Result<f64, BoxError> {
    let clock = Instant::now();
    run()?;
    Ok(clock.elapsed().as_secs_f64())
}

fn bench_map(cli: &Cli) -> Result<(), BoxError> {
    let p = burn_all();
    let inputs = || {
        Inputs::new()
            .with("xs", (0..cli.items as i64).collect::<Vec<_>>())
            .with("ms", cli.item_ms)
    };
    let want: Vec<i64> = (0..cli.items as i64).collect();
    let check = |out: nodefusion::Outputs| -> Result<(), BoxError> {
        if out.get::<Vec<i64>>("all_burnt")? != &want {
            return Err("wrong results".into());
        }
        Ok(())
    };
    let embedded = seconds(|| check(DataFusionEngine::new().with_progress(false).run(&p, inputs(), None)?))?;
    let shuffled = seconds(|| {
        check(
            DataFusionEngine::new()
                .with_progress(false)
                .with_shuffled_maps(true)
                .run(&p, inputs(), None)?,
        )
    })?;
    let mut rows = vec![
        ("embedded DataFusion, all cores".to_string(), embedded),
        ("embedded DataFusion, shuffled maps, all cores".to_string(), shuffled),
    ];
    for executors in [1, 2] {
        let cluster = cluster(executors)?;
        let engine = cluster.engine().with_target_partitions(2 * executors);
        let secs = seconds(|| check(engine.run(&p, inputs(), None)?))?;
        rows.push((format!("Ballista, {executors} executor(s) × 1 core"), secs));
    }
    println!(
        "## CPU-bound map: {} items × {} ms of CPU ({} cores here)\n",
        cli.items,
        cli.item_ms,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| engine | wall seconds | items/s | vs 1 executor |\n|---|---:|---:|---:|");
    let one = rows[2].1;
    for (name, secs) in &rows {
        println!(
            "| {name} | {secs:.2} | {:.1} | {:.2}x |",
            cli.items as f64 / secs,
            one / secs
        );
    }
    println!();
    Ok(())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn bench_overhead(cli: &Cli) -> Result<(), BoxError> {
    let p = pipeline![plus_one::node()]?;
    let cluster = cluster(2)?;
    let engine = cluster.engine();
    let embedded = DataFusionEngine::new().with_progress(false);
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..cli.repeats.max(1) {
        times[0].push(seconds(|| {
            embedded.run(&p, Inputs::new().with("x", 1i64), None)?;
            Ok(())
        })?);
        times[1].push(seconds(|| {
            engine.run(&p, Inputs::new().with("x", 1i64), None)?;
            Ok(())
        })?);
    }
    let [embedded, cluster] = times.map(median);
    println!(
        "## Fixed overhead: one node on one integer (median of {} runs)\n",
        cli.repeats
    );
    println!("| engine | milliseconds |\n|---|---:|");
    println!("| embedded DataFusion | {:.1} |", embedded * 1e3);
    println!("| Ballista, 2 local executors | {:.1} |", cluster * 1e3);
    println!();
    Ok(())
}

fn retrieval_options(cli: &Cli, engine: EngineKind, scratch: &Path, name: &str) -> RunOptions {
    RunOptions {
        passages: None,
        queries: None,
        ground_truths: None,
        engine,
        encoder: EncoderKind::E5,
        model_dir: None,
        precision: nodefusion_udfs::colbert::Precision::F32,
        fine_tune: None,
        index_folder: Some(scratch.join(format!("indexes-{name}")).display().to_string()),
        overwrite: true,
        top_k: 100,
        rerank_k: 100,
        limit_passages: Some(cli.passages),
        limit_queries: Some(cli.queries),
        output: Some(scratch.join(format!("run-{name}"))),
        progress: false,
        cache: None,
    }
}

fn bench_retrieval(cli: &Cli) -> Result<(), BoxError> {
    let scratch = std::env::temp_dir().join(format!("nodefusion-bench-cluster-{}", std::process::id()));
    let cluster = cluster(2)?;
    let mut runs: Vec<(String, f64, RunResult)> = Vec::new();
    for (short, name, engine) in [
        ("embedded", "embedded DataFusion, all cores", EngineKind::DataFusion),
        (
            "cluster",
            "Ballista, 2 executors × 1 core",
            EngineKind::Ballista {
                scheduler: Some(cluster.url()),
                partitions: Some(2),
            },
        ),
    ] {
        let options = retrieval_options(cli, engine, &scratch, short);
        let clock = Instant::now();
        let result = app::run(&options).map_err(|e| format!("{name}: {e}\n{}", cluster.logs()))?;
        runs.push((name.to_string(), clock.elapsed().as_secs_f64(), result));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "## Retrieval pipeline: {}+ passages, {} queries of the Mishnah dataset (e5-small)\n",
        cli.passages, cli.queries
    );
    println!("| engine | wall seconds | vs embedded |\n|---|---:|---:|");
    for (name, secs, _) in &runs {
        println!("| {name} | {secs:.1} | {:.2}x |", runs[0].1 / secs);
    }
    // Passages encoded in other batches (other padding) move scores by
    // ~1e-6, which can swap near-ties: report the largest metric change.
    let largest = runs[0]
        .2
        .metrics
        .iter()
        .zip(&runs[1].2.metrics)
        .map(|(a, b)| (a.value - b.value).abs())
        .fold(0.0, f64::max);
    println!("\nlargest metric difference between the engines: {largest:.4}\n");
    println!("{}", runs[0].2.metrics_table());
    if largest > 0.02 {
        println!("Ballista's metrics:\n\n{}", runs[1].2.metrics_table());
        return Err("the engines' metrics differ beyond float noise".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    if std::env::var_os(ROLE).is_some() {
        // The executors need the retrieval nodes: keep the crate linked.
        let _ = nodefusion_retrieval::pipeline::retrieval_pipeline;
        return nodefusion_ballista::cluster::main();
    }
    let cli = Cli::parse();
    let started = Instant::now();
    let mut outcome = bench_map(&cli).and_then(|()| bench_overhead(&cli));
    if cli.passages > 0 {
        outcome = outcome.and_then(|()| bench_retrieval(&cli));
    }
    println!("whole run: {:.1} s", started.elapsed().as_secs_f64());
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
