//! Encoder throughput: one `encode_document` call per passage against
//! `encode_documents_batch` at batch sizes 8, 32 and 128, on the same
//! deterministic passages (English and Hebrew, 20–40 words), printed as a
//! markdown table.
//!
//! ```text
//! scripts/fetch-model.sh
//! cargo run -p nodefusion-udfs --example bench_encoder -- [--passages N] [--threads N] [--out FILE]
//! python udfs/examples/bench_encoder_torch.py FILE --threads N   # same passages on PyTorch
//! ```
//!
//! `--out` (default `target/bench_encoder_passages.txt`) receives the
//! passages, one per line, for the PyTorch script. `--threads N` gives the
//! encoder its own rayon pool of N threads (default: all cores); `--threads
//! 0` uses candle's own CPU pool instead (`EncoderConfig::threads = None`). The program checks that
//! the batched vectors equal the one-call vectors before printing.

use std::path::PathBuf;
use std::time::Instant;

mod bench_support;

use bench_support::passages;
use nodefusion_udfs::colbert::{ColbertEncoder, EncoderConfig, TextKind, TokenEmbeddings, default_test_model_dir};

const BATCH_SIZES: [usize; 3] = [8, 32, 128];

struct Args {
    passages: usize,
    threads: usize,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        passages: 1000,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        out: PathBuf::from("target").join("bench_encoder_passages.txt"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--passages" => args.passages = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--threads" => args.threads = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--out" => args.out = PathBuf::from(value),
            other => return Err(format!("unknown flag {other}; use --passages, --threads, --out")),
        }
    }
    Ok(args)
}

fn load(threads: usize, batch_size: usize) -> Result<ColbertEncoder, Box<dyn std::error::Error>> {
    Ok(EncoderConfig {
        threads: (threads > 0).then_some(threads),
        batch_size,
        ..EncoderConfig::from_dir(default_test_model_dir()?)
    }
    .load()?)
}

struct Row {
    variant: String,
    seconds: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let texts = passages(args.passages);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, texts.join("\n") + "\n")?;

    let single = load(args.threads, 1)?;
    let tokens: usize = texts
        .iter()
        .map(|t| single.prepare(TextKind::Document, t).map(|p| p.input_ids.len()))
        .sum::<Result<usize, _>>()?;
    // Warm up caches and the thread pool.
    single.encode_documents_batch(&texts[..texts.len().min(16)])?;

    let mut rows = Vec::new();
    let start = Instant::now();
    let one_by_one: Vec<TokenEmbeddings> = texts
        .iter()
        .map(|t| single.encode_document(t))
        .collect::<Result<_, _>>()?;
    rows.push(Row {
        variant: "(a) encode_document per passage".into(),
        seconds: start.elapsed().as_secs_f64(),
    });

    for batch_size in BATCH_SIZES {
        let encoder = load(args.threads, batch_size)?;
        let start = Instant::now();
        let batched = encoder.encode_documents_batch(&texts)?;
        rows.push(Row {
            variant: format!("(b) encode_documents_batch, batch {batch_size}"),
            seconds: start.elapsed().as_secs_f64(),
        });
        // Self-check: batching must not change the vectors.
        for (a, b) in one_by_one.iter().zip(&batched) {
            assert_eq!((a.tokens, a.dim), (b.tokens, b.dim));
            let worst = a
                .data
                .iter()
                .zip(&b.data)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "batch {batch_size} differs by {worst}");
        }
    }

    let threads = match args.threads {
        0 => "candle's thread pool".to_owned(),
        n => format!("own pool of {n} threads"),
    };
    println!(
        "all-MiniLM-L6-v2 (candle, CPU), {} passages, {} model tokens ({:.1}/passage), \
         {threads}, doc_maxlen 180\n",
        texts.len(),
        tokens,
        tokens as f64 / texts.len() as f64,
    );
    println!("| variant | passages/s | tokens/s | vs (a) |");
    println!("|---|---:|---:|---:|");
    let base = rows[0].seconds;
    for row in &rows {
        println!(
            "| {} | {:.1} | {:.0} | {:.2}x |",
            row.variant,
            texts.len() as f64 / row.seconds,
            tokens as f64 / row.seconds,
            base / row.seconds
        );
    }
    println!(
        "\npassages written to {} (python udfs/examples/bench_encoder_torch.py {} --threads {})",
        args.out.display(),
        args.out.display(),
        args.threads
    );
    Ok(())
}
