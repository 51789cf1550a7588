//! Maps a trivial node (x -> 2x) and a CPU-bound node over many items and
//! prints time per item and peak memory, one process per measurement so
//! each peak is its own.
//!
//! Run: `cargo run --release --example bench_engines` (or in the dev profile,
//! whose dependencies are optimised, for a quick look).

use std::process::Command;
use std::time::Instant;

use nodefusion::{Engine, Inputs, Pipeline, SequentialEngine, node, pipeline};

#[node(output = "doubled")]
fn double(x: i64) -> i64 {
    x * 2
}

fn mapped() -> Pipeline {
    pipeline![
        pipeline![double::node()]
            .expect("valid")
            .as_node("double_all")
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

fn measure(engine: &str, items: usize) -> (f64, f64) {
    let xs: Vec<i64> = (0..items as i64).collect();
    let pipeline = mapped();
    let started = Instant::now();
    let out = match engine {
        "sequential" => {
            SequentialEngine::default()
                .with_progress(false)
                .run(&pipeline, Inputs::new().with("xs", xs), None)
        }
        other => panic!("unknown engine {other}"),
    }
    .expect("run succeeds");
    let elapsed = started.elapsed().as_secs_f64();
    let doubled = out.get::<Vec<i64>>("doubled").expect("output");
    assert_eq!(doubled.len(), items);
    assert_eq!(doubled.last().copied(), (items as i64).checked_sub(1).map(|x| x * 2));
    (elapsed, peak_mib())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--one" {
        let (secs, peak) = measure(&args[2], args[3].parse().expect("item count"));
        println!("{secs} {peak}");
        return;
    }
    println!("| engine | items | total | per item | peak memory |");
    println!("|---|---:|---:|---:|---:|");
    for engine in ["sequential"] {
        for items in [10_000usize, 100_000, 1_000_000] {
            let output = Command::new(&args[0])
                .args(["--one", engine, &items.to_string()])
                .output()
                .expect("re-run self");
            let text = String::from_utf8_lossy(&output.stdout);
            let mut parts = text.split_whitespace().map(|p| p.parse::<f64>().unwrap_or(f64::NAN));
            let (secs, peak) = (parts.next().unwrap_or(f64::NAN), parts.next().unwrap_or(f64::NAN));
            println!(
                "| {engine} | {items} | {:.3} s | {:.3} µs | {:.0} MiB |",
                secs,
                secs * 1e6 / items as f64,
                peak
            );
        }
    }
}
