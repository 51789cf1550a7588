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
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
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

/// (system, metric, value) rows.
type Metrics = Vec<(String, String, f64)>;

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
    let pipeline_metrics: Metrics = pipeline
        .metrics
        .iter()
        .map(|m| (m.system.clone(), m.metric.clone(), m.value))
        .collect();

    let started = Instant::now();
    let script = app::run_script(&options, include_str!("../sql/hybrid.sql"))?;
    let script_seconds = started.elapsed().as_secs_f64();
    eprintln!("SQL script: {script_seconds:.1} s");
    let last = script.statements.last().ok_or("the script has no statements")?;
    let sql_metrics = metrics_table(last)?;
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
    for (system, metric, value) in &pipeline_metrics {
        let sql = sql_metrics
            .iter()
            .find(|(s, m, _)| s == system && m == metric)
            .map_or("-".to_owned(), |(_, _, v)| format!("{v:.3}"));
        println!("| {system} | {metric} | {value:.3} | {sql} |");
    }

    println!("\n| SQL statement | wall time |\n|---|---:|");
    for statement in &script.statements {
        let head: String = statement.sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        println!("| `{head} …` | {:.1} s |", statement.seconds);
    }
    println!("\nnode pipeline, per node:\n{}", pipeline.report);
    Ok(())
}

/// The script's metrics table (system, then one column per metric) as rows.
fn metrics_table(statement: &app::StatementOutput) -> Result<Metrics, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for batch in &statement.batches {
        let systems = cast(batch.column(0), &DataType::Utf8)?;
        let systems = systems.as_string::<i32>();
        for (c, field) in batch.schema().fields().iter().enumerate().skip(1) {
            let values = batch.column(c).as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                if values.is_valid(row) {
                    rows.push((systems.value(row).to_owned(), field.name().clone(), values.value(row)));
                }
            }
        }
    }
    Ok(rows)
}
