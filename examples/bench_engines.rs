//! Side-by-side engine benchmark: a trivial mapped node (x -> 2x) at 10k,
//! 100k and 1M items, and a CPU-bound mapped node (about 50 µs of arithmetic
//! per item), on the sequential and DataFusion engines. Each measurement
//! runs in a fresh process so its peak memory is its own.
//!
//! Run: `cargo run --example bench_engines` (dependencies and the library
//! are optimised in the dev profile).

use std::process::Command;
use std::time::Instant;

use nodefusion::{DataFusionEngine, Engine, Inputs, Pipeline, SequentialEngine, node, pipeline};

#[node(output = "doubled")]
fn double(x: i64) -> i64 {
    x * 2
}

/// About 50 µs of floating-point work on this machine.
#[node(output = "doubled")]
fn busy(x: i64) -> i64 {
    let mut acc = std::hint::black_box(x) as f64;
    for i in 0..8_000 {
        acc = (acc * 1.000_001 + i as f64).sqrt() + 1.0;
    }
    x * 2 + (std::hint::black_box(acc) < 0.0) as i64
}

fn mapped(cpu_bound: bool) -> Pipeline {
    let node = if cpu_bound { busy::node() } else { double::node() };
    pipeline![
        pipeline![node]
            .expect("valid")
            .as_node("map")
            .rename_input("x", "xs")
            .map_over(["xs"])
    ]
    .expect("valid")
}

/// Peak resident memory of this process, in MiB (Linux).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn measure(engine: &str, workload: &str, items: usize) -> (f64, f64) {
    let xs: Vec<i64> = (0..items as i64).collect();
    let pipeline = mapped(workload == "cpu");
    let inputs = Inputs::new().with("xs", xs);
    let started = Instant::now();
    let out = match engine {
        "sequential" => SequentialEngine::default()
            .with_progress(false)
            .run(&pipeline, inputs, None),
        "datafusion" => DataFusionEngine::new().run(&pipeline, inputs, None),
        other => panic!("unknown engine {other}"),
    }
    .expect("run succeeds");
    let elapsed = started.elapsed().as_secs_f64();
    let doubled = out.get::<Vec<i64>>("doubled").expect("output");
    assert_eq!(doubled.len(), items);
    assert!(doubled.iter().enumerate().all(|(i, d)| *d == 2 * i as i64));
    (elapsed, peak_mib())
}

fn in_child(engine: &str, workload: &str, items: usize) -> (f64, f64) {
    let me = std::env::args().next().expect("program name");
    let output = Command::new(me)
        .args(["--one", engine, workload, &items.to_string()])
        .output()
        .expect("re-run self");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace().map(|p| p.parse::<f64>().unwrap_or(f64::NAN));
    (parts.next().unwrap_or(f64::NAN), parts.next().unwrap_or(f64::NAN))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--one" {
        let (secs, peak) = measure(&args[2], &args[3], args[4].parse().expect("item count"));
        println!("{secs} {peak}");
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("cores: {cores}\n");
    println!(
        "| workload | items | sequential: total | per item | peak | datafusion: total | per item | peak | sequential / datafusion |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rows = [
        ("trivial", 10_000usize),
        ("trivial", 100_000),
        ("trivial", 1_000_000),
        ("cpu", 4_000),
    ];
    for (workload, items) in rows {
        let (s_secs, s_peak) = in_child("sequential", workload, items);
        let (d_secs, d_peak) = in_child("datafusion", workload, items);
        println!(
            "| {workload} | {items} | {:.3} s | {:.3} µs | {:.0} MiB | {:.3} s | {:.3} µs | {:.0} MiB | {:.2}x |",
            s_secs,
            s_secs * 1e6 / items as f64,
            s_peak,
            d_secs,
            d_secs * 1e6 / items as f64,
            d_peak,
            s_secs / d_secs,
        );
    }
}
