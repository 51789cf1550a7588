//! multilingual-e5-small passage encoding, nodefusion against PyTorch, on
//! the same real Hebrew verses, the same token ids and the same threads, in
//! one run, printed as a markdown table.
//!
//! ```text
//! scripts/fetch-e5.sh
//! cargo run -p nodefusion-retrieval --example build_mishnah   # the verses
//! cargo run -p nodefusion-udfs --example bench_vs_torch -- \
//!     [--texts 1000] [--threads 2] [--batch 32] [--python python3] [--passages FILE.parquet] [--bf16]
//! ```
//!
//! `--bf16` adds a row for the encoder's bf16 dense layers on Intel AMX
//! ([`Precision::Bf16`]), with the lowest cosine between its pooled vectors
//! and the f32 encoder's.
//!
//! The verses are `--texts` rows spread evenly over the corpus's
//! `passages.parquet` (`<cache>/data/mishnah/` by default). The encoder
//! prepares them as the pipeline does (e5 style: `passage: ` prefix, Hebrew
//! normalised), encodes them, and writes each text's token ids and pooled
//! vector to a file. `bench_e5_torch.py`, run with `--python` (which needs
//! torch and transformers), then encodes the same ids with transformers in
//! f32 and checks that its pooled vectors agree. Without a working Python
//! the table has nodefusion's row only.

mod corpus_texts;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use corpus_texts::read_texts;
use nodefusion_udfs::colbert::{
    E5_MODEL_NAME, EncodedText, EncoderConfig, EncoderStyle, Precision, TextKind, model_cache_dir,
};
use serde::Deserialize;

type BoxError = Box<dyn std::error::Error>;

struct Args {
    texts: usize,
    threads: usize,
    batch: usize,
    python: String,
    passages: PathBuf,
    bf16: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        texts: 1000,
        threads: 2,
        batch: 32,
        python: "python3".into(),
        passages: model_cache_dir(E5_MODEL_NAME)
            .parent()
            .and_then(|models| models.parent())
            .map(|cache| cache.join("data/mishnah/passages.parquet"))
            .unwrap_or_default(),
        bf16: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bf16" {
            args.bf16 = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--texts" => args.texts = number()?.max(1),
            "--threads" => args.threads = number()?.max(1),
            "--batch" => args.batch = number()?.max(1),
            "--python" => args.python = value,
            "--passages" => args.passages = value.into(),
            other => {
                return Err(format!(
                    "unknown flag {other}; use --texts, --threads, --batch, --python, --passages, --bf16"
                ));
            }
        }
    }
    Ok(args)
}

/// `n` texts spread evenly over the `text` column of a passages file.
fn read_verses(path: &Path, n: usize) -> Result<Vec<String>, BoxError> {
    let all = read_texts(path, "--passages")?;
    if all.len() < n {
        return Err(format!("{} has {} texts, fewer than --texts {n}", path.display(), all.len()).into());
    }
    let step = all.len() / n;
    Ok(all.into_iter().step_by(step).take(n).collect())
}

#[derive(Deserialize)]
struct TorchRow {
    seconds: f64,
    tokens: usize,
    threads: usize,
    torch: String,
    transformers: String,
    min_cosine: f64,
    bf16: bool,
}

/// `bench_e5_torch.py` on the ids in `ids` (with `--bf16`: under bf16
/// autocast); `None`, said on stderr, when it cannot run.
fn run_torch(
    args: &Args,
    ids: &std::path::Path,
    model_dir: &std::path::Path,
    bf16: bool,
) -> Result<Option<TorchRow>, BoxError> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bench_e5_torch.py");
    let output = Command::new(&args.python)
        .arg(script)
        .arg(ids)
        .arg(model_dir)
        .args([
            "--threads",
            &args.threads.to_string(),
            "--batch",
            &args.batch.to_string(),
        ])
        .args(bf16.then_some("--bf16"))
        .output();
    Ok(match output {
        Ok(output) if output.status.success() => Some(serde_json::from_slice(&output.stdout)?),
        Ok(output) => {
            eprintln!(
                "{} {script} failed ({}); no PyTorch row:\n{}",
                args.python,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("could not run {}: {e}; no PyTorch row", args.python);
            None
        }
    })
}

/// Seconds of the bf16 encoder on `texts`, and the lowest cosine between its
/// pooled vectors and the f32 encoder's (`f32`).
fn bf16_row(config: &EncoderConfig, texts: &[String], f32: &[EncodedText]) -> Result<(f64, f64), BoxError> {
    let encoder = EncoderConfig {
        precision: Precision::Bf16,
        ..config.clone()
    }
    .load()?;
    encoder.encode(TextKind::Document, &texts[..texts.len().min(16)])?; // warm-up
    let start = Instant::now();
    let encoded = encoder.encode(TextKind::Document, texts)?;
    let seconds = start.elapsed().as_secs_f64();
    let cosine = |a: &[f32], b: &[f32]| {
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(x, y)| (x * y) as f64).sum::<f64>();
        dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
    };
    let lowest = encoded
        .iter()
        .zip(f32)
        .map(|(b, f)| cosine(&b.pooled, &f.pooled))
        .fold(f64::INFINITY, f64::min);
    Ok((seconds, lowest))
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let texts = read_verses(&args.passages, args.texts)?;
    let model_dir = model_cache_dir(E5_MODEL_NAME);
    let config = EncoderConfig {
        threads: Some(args.threads),
        batch_size: args.batch,
        ..EncoderStyle::E5.config(&model_dir)
    };
    let encoder = config
        .load()
        .map_err(|e| format!("{e} (run scripts/fetch-e5.sh to create {})", model_dir.display()))?;

    encoder.encode(TextKind::Document, &texts[..texts.len().min(16)])?; // warm-up
    let start = Instant::now();
    let encoded = encoder.encode(TextKind::Document, &texts)?;
    let seconds = start.elapsed().as_secs_f64();
    let bf16 = if args.bf16 {
        Some(bf16_row(&config, &texts, &encoded)?)
    } else {
        None
    };

    let ids_file = tempfile::NamedTempFile::new()?;
    let mut out = std::io::BufWriter::new(ids_file.as_file());
    let start = Instant::now();
    let prepared = texts
        .iter()
        .map(|t| encoder.prepare(TextKind::Document, t).map(|p| p.input_ids))
        .collect::<Result<Vec<_>, _>>()?;
    let tokenising = start.elapsed().as_secs_f64();
    let mut tokens = 0;
    for (ids, e) in prepared.iter().zip(&encoded) {
        tokens += ids.len();
        serde_json::to_writer(&mut out, &serde_json::json!({ "ids": ids, "pooled": e.pooled }))?;
        writeln!(out)?;
    }
    out.flush()?;
    drop(out);

    let torch = run_torch(&args, ids_file.path(), &model_dir, false)?;
    let torch_bf16 = if args.bf16 {
        run_torch(&args, ids_file.path(), &model_dir, true)?
    } else {
        None
    };

    println!(
        "multilingual-e5-small, encode(Document) of {} verses of {} ({tokens} tokens), \
         {} threads, batches of {}\n",
        texts.len(),
        args.passages.display(),
        args.threads,
        args.batch
    );
    println!("| engine | seconds | verses/s | tokens/s | vs PyTorch |");
    println!("|---|---:|---:|---:|---:|");
    let ratio = |s: f64| {
        torch
            .as_ref()
            .map_or("–".to_owned(), |t| format!("{:.2}x", t.seconds / s))
    };
    println!(
        "| nodefusion (candle, f32, tokenisation included) | {seconds:.2} | {:.1} | {:.0} | {} |",
        texts.len() as f64 / seconds,
        tokens as f64 / seconds,
        ratio(seconds)
    );
    if let Some((s, cosine)) = bf16 {
        println!(
            "| nodefusion, bf16 dense layers on AMX (lowest pooled cosine with f32: {cosine:.6}) | {s:.2} | {:.1} | {:.0} | {} |",
            texts.len() as f64 / s,
            tokens as f64 / s,
            ratio(s)
        );
    }
    for t in torch.iter().chain(&torch_bf16) {
        if t.tokens != tokens {
            return Err(format!("PyTorch ran {} tokens, nodefusion {tokens}", t.tokens).into());
        }
        println!(
            "| PyTorch {} + transformers {} ({}, {} threads; lowest pooled cosine with nodefusion f32: {:.6}) | {:.2} | {:.1} | {:.0} | {} |",
            t.torch,
            t.transformers,
            if t.bf16 { "bf16 autocast" } else { "f32" },
            t.threads,
            t.min_cosine,
            t.seconds,
            texts.len() as f64 / t.seconds,
            tokens as f64 / t.seconds,
            ratio(t.seconds)
        );
    }
    println!("Tokenising the verses alone (in nodefusion's time, not in PyTorch's): {tokenising:.2} s");
    Ok(())
}
