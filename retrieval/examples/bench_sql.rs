//! The benchmark two ways in one run, side by side: the node pipeline and
//! `retrieval/sql/hybrid.sql` (the same stages as SQL functions), on the
//! same slice, model and settings, neither with the node cache. Prints each
//! one's wall time and metrics, the script's time per statement and the
//! pipeline's time per node.
//!
//! ```sh
//! cargo run -p nodefusion-retrieval --example bench_sql                 # the default slice
//! cargo run -p nodefusion-retrieval --example bench_sql -- --passages 500 --queries 30
//! ```

use std::time::Instant;

use clap::Parser;
use nodefusion_retrieval::app::{self, EncoderKind, EngineKind, RunOptions};

#[derive(Parser)]
struct Args {
    /// Passages of the slice (plus every passage a kept query is judged on).
    #[arg(long, default_value_t = 2000)]
    passages: usize,
    /// Queries of the slice.
    #[arg(long, default_value_t = 100)]
    queries: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let work = std::env::temp_dir().join(format!("nodefusion-bench-sql-{}", std::process::id()));
    let options = RunOptions {
        passages: None,
        queries: None,
        ground_truths: None,
        engine: EngineKind::DataFusion,
        encoder: EncoderKind::E5,
        model_dir: None,
        precision: nodefusion_udfs::colbert::Precision::F32,
        fine_tune: None,
        index_folder: Some(work.join("indexes").display().to_string()),
        overwrite: true,
        top_k: 100,
        rerank_k: 100,
        limit_passages: Some(args.passages),
        limit_queries: Some(args.queries),
        output: Some(work.join("output")),
        progress: false,
        cache: None,
    };

    let started = Instant::now();
    let pipeline = app::run(&options)?;
    let pipeline_seconds = started.elapsed().as_secs_f64();
    eprintln!("node pipeline: {pipeline_seconds:.1} s");

    let started = Instant::now();
    let script = app::run_script(&options, include_str!("../sql/hybrid.sql"))?;
    let script_seconds = started.elapsed().as_secs_f64();
    eprintln!("SQL script: {script_seconds:.1} s");
    let last = script.statements.last().ok_or("the script has no statements")?;
    let sql_metrics = last.metrics()?;
    std::fs::remove_dir_all(&work).ok();

    println!("\n| run | wall time |");
    println!("|---|---:|");
    println!("| node pipeline | {pipeline_seconds:.1} s |");
    println!(
        "| SQL script | {script_seconds:.1} s ({:.2}x the pipeline's) |",
        script_seconds / pipeline_seconds
    );

    println!("\n| system | metric | node pipeline | SQL script |");
    println!("|---|---|---:|---:|");
    for m in &pipeline.metrics {
        let sql = sql_metrics
            .iter()
            .find(|s| s.system == m.system && s.metric == m.metric)
            .map_or("-".to_owned(), |s| format!("{:.3}", s.value));
        println!("| {} | {} | {:.3} | {sql} |", m.system, m.metric, m.value);
    }

    println!("\n| SQL statement | wall time |\n|---|---:|");
    for statement in &script.statements {
        let head: String = statement.sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        println!("| `{head} …` | {:.1} s |", statement.seconds);
    }
    println!("\nnode pipeline, per node:\n{}", pipeline.report);
    Ok(())
}
