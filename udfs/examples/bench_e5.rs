//! Encoder throughput of the two CPU models side by side: all-MiniLM-L6-v2
//! (BERT, 6 layers, WordPiece) against multilingual-e5-small (BERT, 12
//! layers, XLM-R SentencePiece, `query: `/`passage: ` prefixes), on the
//! deterministic passages of `bench_encoder` (English and Hebrew, 20–40
//! words) with the same threads, printed as a markdown table.
//!
//! ```text
//! scripts/fetch-model.sh && scripts/fetch-e5.sh
//! cargo run -p nodefusion-udfs --example bench_e5 -- [--passages N] [--threads N] [--batch N]
//! ```
//!
//! Tokens are each model's own (the tokenizers differ), markers and special
//! tokens included. The program checks that batched pooled vectors equal the
//! one-text ones before printing.

use std::time::Instant;

mod bench_support;

use bench_support::passages;
use nodefusion_udfs::colbert::{
    ColbertEncoder, E5_MODEL_NAME, EncoderConfig, Markers, TextKind, default_test_model_dir, model_cache_dir,
};

struct Args {
    passages: usize,
    threads: usize,
    batch: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        passages: 1000,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        batch: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let parsed: usize = value.parse().map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--passages" => args.passages = parsed,
            "--threads" => args.threads = parsed.max(1),
            "--batch" => args.batch = parsed.max(1),
            other => return Err(format!("unknown flag {other}; use --passages, --threads, --batch")),
        }
    }
    Ok(args)
}

struct Row {
    model: &'static str,
    tokens: usize,
    seconds: f64,
}

fn run(name: &'static str, encoder: &ColbertEncoder, texts: &[String]) -> Result<Row, Box<dyn std::error::Error>> {
    let tokens: usize = texts
        .iter()
        .map(|t| encoder.prepare(TextKind::Document, t).map(|p| p.input_ids.len()))
        .sum::<Result<usize, _>>()?;
    // Warm up caches and the thread pool.
    encoder.encode(TextKind::Document, &texts[..texts.len().min(16)])?;
    let start = Instant::now();
    let out = encoder.encode(TextKind::Document, texts)?;
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(out.len(), texts.len());
    for (text, batched) in texts.iter().zip(&out).take(4) {
        let one = &encoder.encode(TextKind::Document, &[text])?[0];
        let dot: f32 = one.pooled.iter().zip(&batched.pooled).map(|(a, b)| a * b).sum();
        assert!(dot > 0.9999, "{name}: batched pooled vector differs (cosine {dot})");
    }
    Ok(Row {
        model: name,
        tokens,
        seconds,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let texts = passages(args.passages);
    let common = |dir| EncoderConfig {
        threads: Some(args.threads),
        batch_size: args.batch,
        ..EncoderConfig::from_dir(dir)
    };
    let minilm = common(default_test_model_dir()?).load()?;
    let e5_dir = model_cache_dir(E5_MODEL_NAME);
    let e5 = EncoderConfig {
        markers: Markers::Prefix {
            query: "query: ".into(),
            document: "passage: ".into(),
        },
        ..common(e5_dir.clone())
    }
    .load()
    .map_err(|e| format!("{e} (run scripts/fetch-e5.sh to create {})", e5_dir.display()))?;

    let rows = [
        run("all-MiniLM-L6-v2", &minilm, &texts)?,
        run("multilingual-e5-small", &e5, &texts)?,
    ];
    println!(
        "encode(Document) on candle CPU, {} passages, own pool of {} threads, batch {}, doc_maxlen 180\n",
        texts.len(),
        args.threads,
        args.batch
    );
    println!("| model | tokens/passage | seconds | passages/s | tokens/s | passages/s vs MiniLM |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {:.1} | {:.2} | {:.1} | {:.0} | {:.2}x |",
            row.model,
            row.tokens as f64 / texts.len() as f64,
            row.seconds,
            texts.len() as f64 / row.seconds,
            row.tokens as f64 / row.seconds,
            rows[0].seconds / row.seconds
        );
    }
    Ok(())
}
