//! nodefusion's PLAID against fast-plaid (lightonai, CPU) and exhaustive
//! MaxSim, on the same multilingual-e5-small token embeddings of the whole
//! Mishnah benchmark corpus, in one run, printed as a markdown table.
//!
//! ```text
//! scripts/fetch-e5.sh
//! cargo run -p nodefusion-retrieval --example build_mishnah   # the corpus and quotations
//! cargo run -p nodefusion-udfs --example bench_plaid_peers -- \
//!     [--python python3] [--no-peers] [--nbits 2,4] [--rounds 3] [--peer-rounds 1] \
//!     [--data DIR] [--work DIR] [--reencode]
//! ```
//!
//! 1. Encodes every passage and quotation of `--data` (`<cache>/data/mishnah`
//!    by default) with the pipeline's e5 settings, and keeps the token
//!    vectors in `--work` (`<cache>/bench/plaid_peers`), where a later run
//!    with the same texts and model finds them (`--reencode` forces it).
//! 2. Exhaustive MaxSim gives every quotation's true top 10.
//! 3. For each `--nbits`: nodefusion's PLAID is built (2 threads) and written
//!    to disk; `bench_plaid_peers.py` builds fast-plaid's index of the same
//!    vectors (needs `pip install fast-plaid` in `--python`; `--no-peers`
//!    leaves it out). Both search the top 10 of every quotation on 1 and 2
//!    threads (fast-plaid pinned to as many cores with `taskset`), each with
//!    its defaults and wider settings; each figure is the best of
//!    `--rounds` (fast-plaid: `--peer-rounds`) rounds after a warm-up.
//!
//! Overlap is the share of the exhaustive top 10 that a search returns.
//! Bytes per token are the index's bytes on disk over the corpus's tokens;
//! the rows that rerank PLAID's candidates exactly also keep the f32
//! vectors (4 bytes per dimension more).

mod corpus_texts;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use corpus_texts::read_texts;
use nodefusion_udfs::colbert::{ColbertEncoder, E5_MODEL_NAME, EncoderConfig, EncoderStyle, model_cache_dir};
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidIndex, SearchParams};
use nodefusion_udfs::rerank::{exhaustive_search_batch, rerank};
use nodefusion_udfs::store::IndexLocation;
use rayon::prelude::*;
use serde::Deserialize;

type BoxError = Box<dyn std::error::Error>;

/// Results per query, as in Recall@10.
const K: usize = 10;

struct Args {
    python: String,
    peers: bool,
    nbits: Vec<u8>,
    rounds: usize,
    peer_rounds: usize,
    data: PathBuf,
    work: PathBuf,
    reencode: bool,
}

fn parse_args() -> Result<Args, String> {
    let cache = model_cache_dir(E5_MODEL_NAME)
        .parent()
        .and_then(|models| models.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut args = Args {
        python: "python3".into(),
        peers: true,
        nbits: vec![2, 4],
        rounds: 3,
        peer_rounds: 1,
        data: cache.join("data/mishnah"),
        work: cache.join("bench/plaid_peers"),
        reencode: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--reencode" => {
                args.reencode = true;
                continue;
            }
            "--no-peers" => {
                args.peers = false;
                continue;
            }
            _ => {}
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--python" => args.python = value,
            "--nbits" => {
                args.nbits = value
                    .split(',')
                    .map(|n| match n.trim().parse() {
                        Ok(b @ (1 | 2 | 4)) => Ok(b),
                        _ => Err(format!("--nbits: '{n}' is not 1, 2 or 4")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--rounds" => args.rounds = value.parse::<usize>().map_err(|e| format!("--rounds: {e}"))?.max(1),
            "--peer-rounds" => {
                args.peer_rounds = value
                    .parse::<usize>()
                    .map_err(|e| format!("--peer-rounds: {e}"))?
                    .max(1)
            }
            "--data" => args.data = value.into(),
            "--work" => args.work = value.into(),
            other => {
                return Err(format!(
                    "unknown flag {other}; use --python, --no-peers, --nbits, --rounds, --peer-rounds, --data, --work, --reencode"
                ));
            }
        }
    }
    Ok(args)
}

/// Token vectors of many texts, one after another.
struct MultiVectors {
    dim: usize,
    lens: Vec<u32>,
    data: Vec<f32>,
}

impl MultiVectors {
    fn tokens(&self) -> usize {
        self.lens.iter().map(|&l| l as usize).sum()
    }

    /// Each text's vectors, as a slice.
    fn split(&self) -> Vec<&[f32]> {
        let mut at = 0;
        self.lens
            .iter()
            .map(|&l| {
                let end = at + l as usize * self.dim;
                let text = &self.data[at..end];
                at = end;
                text
            })
            .collect()
    }

    fn write(&self, folder: &Path, name: &str) -> std::io::Result<()> {
        let lens: Vec<u8> = self.lens.iter().flat_map(|l| l.to_le_bytes()).collect();
        let data: Vec<u8> = self.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(folder.join(format!("{name}.lens")), lens)?;
        std::fs::write(folder.join(format!("{name}.f32")), data)
    }

    fn read(folder: &Path, name: &str, dim: usize) -> std::io::Result<Self> {
        let lens = std::fs::read(folder.join(format!("{name}.lens")))?;
        let data = std::fs::read(folder.join(format!("{name}.f32")))?;
        let vectors = Self {
            dim,
            lens: lens
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            data: data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        };
        if vectors.tokens() * dim != vectors.data.len() {
            return Err(std::io::Error::other(format!("{name}.f32 does not match {name}.lens")));
        }
        Ok(vectors)
    }
}

/// What the stored vectors were made from; a different value re-encodes.
fn fingerprint(config: &EncoderConfig, passages: &[String], queries: &[String]) -> String {
    let mut hasher = DefaultHasher::new();
    format!("{config:?}").hash(&mut hasher);
    passages.hash(&mut hasher);
    queries.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn encode(encoder: &ColbertEncoder, texts: &[String], queries: bool) -> Result<MultiVectors, BoxError> {
    let mut vectors = MultiVectors {
        dim: encoder.dim(),
        lens: Vec::with_capacity(texts.len()),
        data: Vec::new(),
    };
    let start = Instant::now();
    for (i, chunk) in texts.chunks(1024).enumerate() {
        let encoded = if queries {
            encoder.encode_queries_batch(chunk)?
        } else {
            encoder.encode_documents_batch(chunk)?
        };
        for e in encoded {
            vectors.lens.push(e.tokens as u32);
            vectors.data.extend_from_slice(&e.data);
        }
        eprintln!(
            "encoded {} of {} {} ({:.0} s)",
            (i * 1024 + chunk.len()),
            texts.len(),
            if queries { "quotations" } else { "passages" },
            start.elapsed().as_secs_f64()
        );
    }
    Ok(vectors)
}

/// The corpus's and quotations' vectors: from `work` when they were made
/// from the same texts and model, else encoded and stored there.
fn vectors(args: &Args) -> Result<(MultiVectors, MultiVectors), BoxError> {
    let passages = read_texts(&args.data.join("passages.parquet"), "--data")?;
    let queries = read_texts(&args.data.join("queries.parquet"), "--data")?;
    let model_dir = model_cache_dir(E5_MODEL_NAME);
    let config = EncoderConfig {
        threads: Some(2),
        ..EncoderStyle::E5.config(&model_dir)
    };
    let stamp = fingerprint(&config, &passages, &queries);
    let meta_path = args.work.join("meta.json");
    if !args.reencode
        && let Ok(meta) = std::fs::read(&meta_path)
        && let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&meta)
        && meta["fingerprint"] == stamp.as_str()
    {
        let dim = meta["dim"].as_u64().ok_or("meta.json has no dim")? as usize;
        eprintln!("using the vectors in {}", args.work.display());
        return Ok((
            MultiVectors::read(&args.work, "docs", dim)?,
            MultiVectors::read(&args.work, "queries", dim)?,
        ));
    }
    let encoder = config
        .load()
        .map_err(|e| format!("{e} (run scripts/fetch-e5.sh to create {})", model_dir.display()))?;
    let docs = encode(&encoder, &passages, false)?;
    let queries = encode(&encoder, &queries, true)?;
    std::fs::create_dir_all(&args.work)?;
    std::fs::remove_file(&meta_path).ok();
    docs.write(&args.work, "docs")?;
    queries.write(&args.work, "queries")?;
    let meta = serde_json::json!({ "fingerprint": stamp, "dim": docs.dim, "k": K });
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta)?)?;
    Ok((docs, queries))
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

/// Share of each truth's documents that `got` holds, averaged.
fn overlap(truth: &[Vec<u32>], got: &[Vec<u32>]) -> f64 {
    let share = |t: &Vec<u32>, g: &Vec<u32>| t.iter().filter(|d| g.contains(d)).count() as f64 / t.len().max(1) as f64;
    truth.iter().zip(got).map(|(t, g)| share(t, g)).sum::<f64>() / truth.len().max(1) as f64
}

/// Best seconds of `rounds` runs of `search` after a warm-up, and its last
/// result.
fn timed<T>(rounds: usize, mut search: impl FnMut() -> T) -> (f64, T) {
    let mut result = search();
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let start = Instant::now();
        result = search();
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, result)
}

struct Row {
    name: String,
    build: Option<f64>,
    bytes_per_token: f64,
    qps: [Option<f64>; 2],
    overlap: Option<f64>,
}

#[derive(Deserialize)]
struct PeerBuild {
    seconds: f64,
    bytes: u64,
    torch: String,
    version: String,
}

#[derive(Deserialize)]
struct PeerSearch {
    seconds: f64,
    queries: usize,
    overlap: f64,
}

/// Runs `bench_plaid_peers.py` and parses its JSON line; pinned to the
/// first `threads` cores with `taskset`.
fn run_peer<T: serde::de::DeserializeOwned>(
    args: &Args,
    mode: &str,
    nbits: u8,
    threads: usize,
    extra: &[String],
) -> Result<T, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bench_plaid_peers.py");
    let cores = format!("0-{}", threads - 1);
    let output = Command::new("taskset")
        .args(["-c", &cores, &args.python, script, mode])
        .arg(&args.work)
        .args(["--nbits", &nbits.to_string(), "--threads", &threads.to_string()])
        .args(["--rounds", &args.peer_rounds.to_string()])
        .args(extra)
        .output()
        .map_err(|e| format!("could not run taskset {}: {e}", args.python))?;
    if !output.status.success() {
        return Err(format!(
            "{script} {mode} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("{script} {mode}: {e}"))
}

/// PLAID search settings for the top 10: ColBERTv2's defaults for k = 10,
/// then its wider defaults for k ≤ 100 and k > 100.
fn our_settings() -> [(&'static str, SearchParams); 3] {
    let top_10 = |p: SearchParams| SearchParams { k: K, ..p };
    [
        (
            "ncells 1, threshold 0.5, ndocs 256 (k=10 defaults)",
            SearchParams::for_k(K),
        ),
        ("ncells 2, threshold 0.45, ndocs 1024", top_10(SearchParams::for_k(100))),
        ("ncells 4, threshold 0.4, ndocs 4096", top_10(SearchParams::for_k(1000))),
    ]
}

/// fast-plaid's `(n_ivf_probe, n_full_scores)`: its defaults, then wider.
const PEER_SETTINGS: [(usize, usize); 2] = [(8, 4096), (32, 16384)];

/// nodefusion's PLAID at `nbits`: built on 2 threads, written to disk, and
/// searched with each of [`our_settings`], then with its widest candidates
/// reranked by exact MaxSim.
fn our_rows(
    args: &Args,
    pools: &[rayon::ThreadPool; 2],
    nbits: u8,
    corpus: &DocEmbeddings,
    queries: &[&[f32]],
    truth: &[Vec<u32>],
) -> Result<Vec<Row>, BoxError> {
    let params = PlaidBuildParams {
        nbits,
        ..PlaidBuildParams::default()
    };
    eprintln!("building nodefusion's PLAID, nbits {nbits}");
    let start = Instant::now();
    let index = pools[1].install(|| PlaidIndex::build(corpus, &params))?;
    let build = start.elapsed().as_secs_f64();
    let folder = args.work.join(format!("nodefusion-nbits{nbits}"));
    let manifest = index.write(&IndexLocation::parse(&folder.to_string_lossy())?, true)?;
    let on_disk = manifest.total_bytes() as f64 / corpus.num_tokens() as f64;
    let qps = |seconds: f64| queries.len() as f64 / seconds;
    let ids = |hits: Vec<Vec<nodefusion_udfs::hit::Hit>>| -> Vec<Vec<u32>> {
        hits.iter().map(|h| h.iter().map(|h| h.doc).collect()).collect()
    };

    let mut rows = Vec::new();
    let settings = our_settings();
    for (i, (label, search)) in settings.iter().enumerate() {
        let mut row = Row {
            name: format!("nodefusion PLAID nbits {nbits}, {label}"),
            build: (i == 0).then_some(build),
            bytes_per_token: on_disk,
            qps: [None, None],
            overlap: None,
        };
        for (slot, pool) in row.qps.iter_mut().zip(pools) {
            let (seconds, hits) = timed(args.rounds, || pool.install(|| index.search_batch(queries, search)));
            *slot = Some(qps(seconds));
            row.overlap = Some(overlap(truth, &ids(hits?)));
        }
        rows.push(row);
    }
    let (label, widest) = &settings[settings.len() - 1];
    let mut row = Row {
        name: format!("nodefusion PLAID nbits {nbits}, {label}, candidates reranked by exact MaxSim"),
        build: None,
        bytes_per_token: on_disk + (corpus.dim() * 4) as f64,
        qps: [None, None],
        overlap: None,
    };
    let search = |q: &&[f32]| -> Result<Vec<u32>, String> {
        let candidates = index.candidates(q, widest).map_err(|e| e.to_string())?;
        let candidates: Vec<u32> = candidates.iter().map(|h| h.doc).collect();
        let hits = rerank(q, &candidates, corpus, K).map_err(|e| e.to_string())?;
        Ok(hits.iter().map(|h| h.doc).collect())
    };
    for (slot, pool) in row.qps.iter_mut().zip(pools) {
        let (seconds, found) = timed(args.rounds, || {
            pool.install(|| queries.par_iter().map(search).collect::<Result<Vec<_>, _>>())
        });
        *slot = Some(qps(seconds));
        row.overlap = Some(overlap(truth, &found?));
    }
    rows.push(row);
    Ok(rows)
}

/// fast-plaid at `nbits`: built by `bench_plaid_peers.py` on 2 threads,
/// searched with each of [`PEER_SETTINGS`] on 1 and 2 threads.
fn peer_rows(args: &Args, nbits: u8, tokens: usize, queries: usize) -> Result<Vec<Row>, String> {
    eprintln!("building fast-plaid, nbits {nbits}");
    let built: PeerBuild = run_peer(args, "build", nbits, 2, &[])?;
    let mut rows = Vec::new();
    for (i, (probe, full)) in PEER_SETTINGS.into_iter().enumerate() {
        let mut row = Row {
            name: format!(
                "fast-plaid {} (torch {}) nbits {nbits}, n_ivf_probe {probe}, n_full_scores {full}{}",
                built.version,
                built.torch,
                if i == 0 { " (defaults)" } else { "" }
            ),
            build: (i == 0).then_some(built.seconds),
            bytes_per_token: built.bytes as f64 / tokens as f64,
            qps: [None, None],
            overlap: None,
        };
        let extra = [
            "--ivf-probe".to_owned(),
            probe.to_string(),
            "--full-scores".to_owned(),
            full.to_string(),
        ];
        for (threads, slot) in [1, 2].into_iter().zip(row.qps.iter_mut()) {
            eprintln!("fast-plaid searching: nbits {nbits}, n_ivf_probe {probe}, {threads} thread(s)");
            let found: PeerSearch = run_peer(args, "search", nbits, threads, &extra)?;
            if found.queries != queries {
                return Err(format!("fast-plaid searched {} of {queries} quotations", found.queries));
            }
            *slot = Some(found.queries as f64 / found.seconds);
            row.overlap = Some(found.overlap);
        }
        rows.push(row);
    }
    Ok(rows)
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let (docs, queries) = vectors(&args)?;
    let (dim, tokens) = (docs.dim, docs.tokens());
    let corpus = DocEmbeddings::from_docs(dim, &docs.split())?;
    let queries = queries.split();
    let pools = [pool(1), pool(2)];
    let qps = |seconds: f64| queries.len() as f64 / seconds;

    eprintln!("exhaustive MaxSim on 1 and 2 threads");
    let mut exhaustive = [None, None];
    let mut truth = Vec::new();
    for (slot, pool) in exhaustive.iter_mut().zip(&pools) {
        let (seconds, hits) = timed(1, || pool.install(|| exhaustive_search_batch(&queries, &corpus, K)));
        truth = hits?.iter().map(|h| h.iter().map(|h| h.doc).collect()).collect();
        *slot = Some(qps(seconds));
    }
    let truth: Vec<Vec<u32>> = truth;
    let flat: Vec<u8> = truth.iter().flatten().flat_map(|d| d.to_le_bytes()).collect();
    if truth.iter().any(|t| t.len() != K) {
        return Err(format!("the corpus has fewer than {K} passages").into());
    }
    std::fs::write(args.work.join("truth.u32"), flat)?;

    let mut rows = vec![Row {
        name: "exhaustive MaxSim (f32)".into(),
        build: None,
        bytes_per_token: (dim * 4) as f64,
        qps: exhaustive,
        overlap: Some(1.0),
    }];
    let mut notes = Vec::new();
    for &nbits in &args.nbits {
        rows.extend(our_rows(&args, &pools, nbits, &corpus, &queries, &truth)?);
        if args.peers {
            match peer_rows(&args, nbits, tokens, queries.len()) {
                Ok(peer) => rows.extend(peer),
                Err(e) => notes.push(format!("no fast-plaid rows: {e}")),
            }
        }
    }

    println!(
        "{} passages ({tokens} tokens of {dim}, multilingual-e5-small, e5 settings), {} quotations, top {K}\n",
        docs.lens.len(),
        queries.len()
    );
    println!(
        "| index, search settings | build s (2 threads) | bytes/token on disk | queries/s, 1 thread | queries/s, 2 threads | top-10 overlap with exhaustive |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let number = |v: Option<f64>, digits: usize| v.map_or("–".to_owned(), |v| format!("{v:.digits$}"));
    for row in &rows {
        println!(
            "| {} | {} | {:.1} | {} | {} | {} |",
            row.name,
            number(row.build, 1),
            row.bytes_per_token,
            number(row.qps[0], 1),
            number(row.qps[1], 1),
            number(row.overlap, 3)
        );
    }
    for note in notes {
        eprintln!("{note}");
    }
    Ok(())
}
