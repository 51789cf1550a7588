//! Hebrew retrieval quality, chosen by measurement: each encoder × Hebrew
//! normalisation × scoring mode, alone and combined with BM25, on the
//! Mishnah-citation set (Hebrew quotations → the cited verse) and the ASV
//! cross-lingual set (an English verse → the same Hebrew verse).
//!
//! Both sets search one corpus: the verses relevant to every query of both
//! sets plus randomly drawn other verses, `--passages` in all (a fixed draw).
//! Dense retrieval is exact (exhaustive MaxSim or cosine over the slice), so
//! the table compares scoring, not index approximations. A smaller corpus
//! than the full 23,206 verses makes every system look better; the ordering
//! between systems is what the table is for.
//!
//! Systems, each cut at 100 (candidates are always the top 100):
//!
//! | name | what |
//! |---|---|
//! | `bm25` | BM25 alone (Hebrew-normalised, final letters folded) |
//! | `S` | the encoder alone: `maxsim` (token late interaction) or `pooled` (mean-pooled vector, cosine) |
//! | `bm25>S` | BM25 top 100 reranked by S (pure rerank) |
//! | `bm25>S keep` | the same, order-keeping: RRF (k=60) of the BM25 order and the S order |
//! | `rrf(bm25,S)>S` | RRF of BM25 and S, reranked by S (the seed's shape) |
//! | `rrf(bm25,S)>S keep` | the same, order-keeping |
//! | `z(bm25,S)` | score-aware fusion (z-scores, see `nodefusion_udfs::fusion::FusionMethod`) |
//! | `z(bm25,S)>S keep` / `keep-z` | that, reranked by S order-keeping (RRF / z-scores of both lists) |
//! | `rrf(all)` / `z(all)` | fusion of BM25, maxsim and pooled |
//! | `z(maxsim,pooled)` | the two dense modes only |
//!
//! Encodings are cached under `<cache>/bench-hebrew/`, keyed by the encoder
//! config and the texts; `enc tok/s` is passage-encoding throughput measured
//! when they were computed (reported as cached otherwise).
//!
//! ```sh
//! cargo run -p nodefusion-retrieval --example build_mishnah
//! cargo run -p nodefusion-retrieval --example build_asv
//! cargo run -p nodefusion-retrieval --example bench_hebrew -- --passages 3000
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use nodefusion::BoxError;
use nodefusion_retrieval::app::EncoderKind;
use nodefusion_retrieval::data::{self, GroundTruth, Passage, Query};
use nodefusion_retrieval::dataset::{asv_data_dir, default_cache_dir, mishnah_data_dir};
use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::colbert::{E5_MODEL_NAME, EncoderConfig, TEST_MODEL_NAME, TextKind, model_cache_dir};
use nodefusion_udfs::fusion::{FusionMethod, FusionParams, fuse};
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::metrics::{Measure, Qrels, Run, evaluate};
use nodefusion_udfs::rerank::{exhaustive_search_batch, rerank};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// Candidates per retriever, and the depth of every evaluated list.
const DEPTH: usize = 100;

/// One ranked `(doc, score)` list per query.
type Lists = Vec<Vec<(u32, f64)>>;

#[derive(Parser)]
#[command(about = "Hebrew retrieval quality: encoder x normalisation x scoring on two datasets")]
struct Args {
    /// Corpus size: all relevant verses plus random others up to this many.
    #[arg(long, default_value_t = 3000)]
    passages: usize,
    /// Models to measure: `minilm` (all-MiniLM-L6-v2), `e5` (multilingual-e5-small).
    #[arg(long, value_delimiter = ',', default_value = "minilm,e5")]
    models: Vec<String>,
    /// Normalisation settings to measure: `on`, `off`.
    #[arg(long, value_delimiter = ',', default_value = "on,off")]
    normalization: Vec<String>,
    /// Seed of the corpus draw.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// One query set over the shared corpus.
struct QuerySet {
    name: &'static str,
    queries: Vec<Query>,
    qrels: Qrels,
}

/// Token and pooled vectors for a list of texts.
struct Encoded {
    dim: usize,
    tokens: Vec<f32>,
    /// `texts + 1` token offsets.
    offsets: Vec<usize>,
    pooled: Vec<f32>,
    hidden: usize,
    /// Seconds the encoding took, when it was not read from the cache.
    seconds: Option<f64>,
}

impl Encoded {
    fn text(&self, i: usize) -> &[f32] {
        &self.tokens[self.offsets[i] * self.dim..self.offsets[i + 1] * self.dim]
    }

    fn pooled(&self, i: usize) -> &[f32] {
        &self.pooled[i * self.hidden..(i + 1) * self.hidden]
    }

    fn doc_embeddings(&self) -> Result<DocEmbeddings, BoxError> {
        let docs: Vec<&[f32]> = (0..self.offsets.len() - 1).map(|i| self.text(i)).collect();
        Ok(DocEmbeddings::from_docs(self.dim, &docs)?)
    }
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let started = Instant::now();
    let cache = default_cache_dir();
    let runtime = tokio::runtime::Runtime::new()?;
    let (corpus, sets) = runtime.block_on(load_sets(&cache, args.passages, args.seed))?;
    println!(
        "corpus: {} verses; {}",
        corpus.len(),
        sets.iter()
            .map(|s| format!("{}: {} queries", s.name, s.queries.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let bm25 = Bm25Index::build(
        &corpus.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
        &Bm25Params::default(),
    )?;
    let ids: Vec<&str> = corpus.iter().map(|p| p.uuid.as_str()).collect();
    let mut rows = Vec::new();
    for set in &sets {
        let lists: Lists = set
            .queries
            .iter()
            .map(|q| {
                bm25.search(&q.text, DEPTH)
                    .iter()
                    .map(|h| (h.doc, f64::from(h.score)))
                    .collect()
            })
            .collect();
        rows.push(Row::new(set, "-", "-", "bm25", &lists, &ids, None)?);
    }

    for model in &args.models {
        for normalization in &args.normalization {
            let config = encoder_config(model, normalization == "on")?;
            let encoder = config.load()?;
            let texts: Vec<&str> = corpus.iter().map(|p| p.text.as_str()).collect();
            let docs = encode_cached(&cache, &encoder, TextKind::Document, &texts)?;
            let tokens_per_s = docs.seconds.map(|s| docs.offsets[texts.len()] as f64 / s);
            let doc_embeddings = docs.doc_embeddings()?;
            for set in &sets {
                let texts: Vec<&str> = set.queries.iter().map(|q| q.text.as_str()).collect();
                let queries = encode_cached(&cache, &encoder, TextKind::Query, &texts)?;
                let systems = systems(&bm25, &docs, &doc_embeddings, set, &queries)?;
                for (name, lists) in systems {
                    rows.push(Row::new(set, model, normalization, &name, &lists, &ids, tokens_per_s)?);
                }
            }
        }
    }
    print_table(&rows);
    println!(
        "\nwall {:.0} s; corpus {} verses; candidates and cut-off {DEPTH}",
        started.elapsed().as_secs_f64(),
        corpus.len()
    );
    Ok(())
}

/// The pipeline's encoder settings for `model`, with or without Hebrew
/// normalisation.
fn encoder_config(model: &str, normalize: bool) -> Result<EncoderConfig, BoxError> {
    let config = match model {
        "minilm" => EncoderKind::Colbert.config(&model_cache_dir(TEST_MODEL_NAME)),
        "e5" => EncoderKind::E5.config(&model_cache_dir(E5_MODEL_NAME)),
        other => return Err(format!("unknown model '{other}'; use minilm or e5").into()),
    };
    Ok(EncoderConfig {
        normalize_hebrew: if normalize { config.normalize_hebrew } else { None },
        ..config
    })
}

/// Every system of the table, as per-query lists of `(doc, score)`.
fn systems(
    bm25: &Bm25Index,
    docs: &Encoded,
    doc_embeddings: &DocEmbeddings,
    set: &QuerySet,
    queries: &Encoded,
) -> Result<Vec<(String, Lists)>, BoxError> {
    let n = set.queries.len();
    let query_tokens: Vec<&[f32]> = (0..n).map(|i| queries.text(i)).collect();
    let maxsim_hits = exhaustive_search_batch(&query_tokens, doc_embeddings, DEPTH)?;
    let maxsim: Lists = maxsim_hits.iter().map(|h| pairs(h)).collect();
    let pooled: Lists = (0..n)
        .map(|i| {
            let all: Vec<(u32, f64)> = (0..docs.offsets.len() - 1)
                .map(|d| (d as u32, dot(queries.pooled(i), docs.pooled(d))))
                .collect();
            best(all, DEPTH)
        })
        .collect();
    let lexical: Lists = set
        .queries
        .iter()
        .map(|q| pairs(&bm25.search(&q.text, DEPTH)))
        .collect();

    let rrf = FusionParams {
        top_k: Some(DEPTH),
        ..FusionParams::default()
    };
    let z = FusionParams {
        method: FusionMethod::ZScore,
        ..rrf.clone()
    };
    let fused = |lists: &[&Vec<(u32, f64)>], params: &FusionParams| -> Result<Vec<(u32, f64)>, BoxError> {
        Ok(fuse(lists, params)?.into_iter().map(|f| (f.id, f.score)).collect())
    };
    // Rescoring a candidate list with one dense mode.
    let rescore = |i: usize, candidates: &[(u32, f64)], mode: &str| -> Result<Vec<(u32, f64)>, BoxError> {
        let ids: Vec<u32> = candidates.iter().map(|c| c.0).collect();
        Ok(match mode {
            "maxsim" => pairs(&rerank(query_tokens[i], &ids, doc_embeddings, ids.len())?),
            _ => best(
                ids.iter()
                    .map(|&d| (d, dot(queries.pooled(i), docs.pooled(d as usize))))
                    .collect(),
                ids.len(),
            ),
        })
    };

    let mut out: Vec<(String, Lists)> = Vec::new();
    for (mode, dense) in [("maxsim", &maxsim), ("pooled", &pooled)] {
        out.push((mode.to_string(), dense.clone()));
        let mut pure = Vec::new();
        let mut keep = Vec::new();
        let mut fused_pure = Vec::new();
        let mut fused_keep = Vec::new();
        let mut z_two = Vec::new();
        let mut z_keep_z = Vec::new();
        let mut z_keep_rrf = Vec::new();
        for i in 0..n {
            let reranked = rescore(i, &lexical[i], mode)?;
            keep.push(fused(&[&lexical[i], &reranked], &rrf)?);
            pure.push(reranked);
            let first = fused(&[&lexical[i], &dense[i]], &rrf)?;
            let reranked = rescore(i, &first, mode)?;
            fused_keep.push(fused(&[&first, &reranked], &rrf)?);
            fused_pure.push(reranked);
            let first = fused(&[&lexical[i], &dense[i]], &z)?;
            let reranked = rescore(i, &first, mode)?;
            z_keep_z.push(fused(&[&first, &reranked], &z)?);
            z_keep_rrf.push(fused(&[&first, &reranked], &rrf)?);
            z_two.push(first);
        }
        out.push((format!("bm25>{mode}"), pure));
        out.push((format!("bm25>{mode} keep"), keep));
        out.push((format!("rrf(bm25,{mode})>{mode}"), fused_pure));
        out.push((format!("rrf(bm25,{mode})>{mode} keep"), fused_keep));
        out.push((format!("z(bm25,{mode})"), z_two));
        out.push((format!("z(bm25,{mode})>{mode} keep"), z_keep_rrf));
        out.push((format!("z(bm25,{mode})>{mode} keep-z"), z_keep_z));
    }
    let mut all_rrf = Vec::new();
    let mut all_z = Vec::new();
    let mut dense_z = Vec::new();
    for i in 0..n {
        all_rrf.push(fused(&[&lexical[i], &maxsim[i], &pooled[i]], &rrf)?);
        all_z.push(fused(&[&lexical[i], &maxsim[i], &pooled[i]], &z)?);
        dense_z.push(fused(&[&maxsim[i], &pooled[i]], &z)?);
    }
    out.push(("rrf(all)".into(), all_rrf));
    out.push(("z(all)".into(), all_z));
    out.push(("z(maxsim,pooled)".into(), dense_z));
    Ok(out)
}

fn pairs(hits: &[nodefusion_udfs::hit::Hit]) -> Vec<(u32, f64)> {
    hits.iter().map(|h| (h.doc, f64::from(h.score))).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum()
}

/// The best `k` by score, ties by doc id.
fn best(mut all: Vec<(u32, f64)>, k: usize) -> Vec<(u32, f64)> {
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

/// One line of the table.
struct Row {
    set: &'static str,
    model: String,
    normalization: String,
    system: String,
    ndcg10: f64,
    recall10: f64,
    recall100: f64,
    tokens_per_s: Option<f64>,
}

impl Row {
    fn new(
        set: &QuerySet,
        model: &str,
        normalization: &str,
        system: &str,
        lists: &[Vec<(u32, f64)>],
        ids: &[&str],
        tokens_per_s: Option<f64>,
    ) -> Result<Row, BoxError> {
        let mut run = Run::new();
        for (query, list) in set.queries.iter().zip(lists) {
            // Rank-based scores: the list's order is the system's ranking.
            let entry = run.entry(query.uuid.clone()).or_default();
            for (rank, (doc, _)) in list.iter().enumerate() {
                entry.insert(ids[*doc as usize].to_string(), -(rank as f64));
            }
        }
        let measures = [Measure::Ndcg(10), Measure::Recall(10), Measure::Recall(100)];
        let evaluation = evaluate(&set.qrels, &run, &measures)?;
        let mean = |m: &Measure| evaluation.mean.get(&m.to_string()).copied().unwrap_or(0.0);
        Ok(Row {
            set: set.name,
            model: model.into(),
            normalization: normalization.into(),
            system: system.into(),
            ndcg10: mean(&measures[0]),
            recall10: mean(&measures[1]),
            recall100: mean(&measures[2]),
            tokens_per_s,
        })
    }
}

fn print_table(rows: &[Row]) {
    println!("\n| set | model | normalised | system | nDCG@10 | R@10 | R@100 | enc tok/s |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let speed = match (r.model.as_str(), r.tokens_per_s) {
            ("-", _) => "-".to_string(),
            (_, Some(t)) => format!("{t:.0}"),
            (_, None) => "cached".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {} |",
            r.set, r.model, r.normalization, r.system, r.ndcg10, r.recall10, r.recall100, speed
        );
    }
}

/// Loads both sets and draws the shared corpus.
async fn load_sets(cache: &Path, size: usize, seed: u64) -> Result<(Vec<Passage>, Vec<QuerySet>), BoxError> {
    let mut passages: Option<Vec<Passage>> = None;
    let mut sets = Vec::new();
    for (name, dir) in [("mishnah", mishnah_data_dir(cache)), ("asv", asv_data_dir(cache))] {
        let file = |f: &str| dir.join(f).display().to_string();
        if !dir.join("queries.parquet").exists() {
            return Err(format!(
                "{} is missing; build it with `cargo run -p nodefusion-retrieval --example build_{name}`",
                dir.display()
            )
            .into());
        }
        if passages.is_none() {
            passages = Some(data::load_passages(&file("passages.parquet"), 4).await?);
        }
        let queries = data::load_queries(&file("queries.parquet"), 4).await?;
        let truths: Vec<GroundTruth> = data::load_ground_truths(&file("ground_truths.parquet"), 4).await?;
        let mut qrels = Qrels::new();
        for g in truths {
            qrels
                .entry(g.query_uuid)
                .or_default()
                .insert(g.passage_uuid, g.relevance as i32);
        }
        sets.push(QuerySet { name, queries, qrels });
    }
    let passages = passages.ok_or("no passages")?;
    let relevant: HashSet<&str> = sets
        .iter()
        .flat_map(|s| s.qrels.values().flat_map(|m| m.keys().map(String::as_str)))
        .collect();
    let mut others: Vec<&Passage> = passages
        .iter()
        .filter(|p| !relevant.contains(p.uuid.as_str()))
        .collect();
    others.shuffle(&mut StdRng::seed_from_u64(seed));
    let extra = size.saturating_sub(relevant.len());
    let keep: HashSet<&str> = relevant
        .iter()
        .copied()
        .chain(others.iter().take(extra).map(|p| p.uuid.as_str()))
        .collect();
    let corpus: Vec<Passage> = passages
        .iter()
        .filter(|p| keep.contains(p.uuid.as_str()))
        .cloned()
        .collect();
    Ok((corpus, sets))
}

/// Encodes `texts`, or reads the encoding cached for the same config and texts.
fn encode_cached(
    cache: &Path,
    encoder: &nodefusion_udfs::colbert::ColbertEncoder,
    kind: TextKind,
    texts: &[&str],
) -> Result<Encoded, BoxError> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(encoder.config())?.hash(&mut hasher);
    format!("{kind:?}").hash(&mut hasher);
    texts.hash(&mut hasher);
    let path: PathBuf = cache
        .join("bench-hebrew")
        .join(format!("{:016x}.safetensors", hasher.finish()));
    if let Ok(bytes) = std::fs::read(&path) {
        return read_encoded(&bytes);
    }
    let started = Instant::now();
    let mut tokens = Vec::new();
    let mut offsets = vec![0];
    let mut pooled = Vec::new();
    let (mut dim, mut hidden) = (encoder.dim(), encoder.hidden_size());
    for (i, chunk) in texts.chunks(256).enumerate() {
        for e in encoder.encode(kind, chunk)? {
            dim = e.embeddings.dim;
            hidden = e.pooled.len();
            offsets.push(offsets.last().copied().unwrap_or(0) + e.embeddings.tokens);
            tokens.extend(e.embeddings.data);
            pooled.extend(e.pooled);
        }
        eprint!("\r{kind:?}: {}/{}", (i * 256 + chunk.len()), texts.len());
    }
    eprintln!();
    let encoded = Encoded {
        dim,
        tokens,
        offsets,
        pooled,
        hidden,
        seconds: Some(started.elapsed().as_secs_f64()),
    };
    write_encoded(&path, &encoded)?;
    Ok(encoded)
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write_encoded(path: &Path, e: &Encoded) -> Result<(), BoxError> {
    let offsets: Vec<u8> = e.offsets.iter().flat_map(|&o| (o as u64).to_le_bytes()).collect();
    let tokens = f32_bytes(&e.tokens);
    let pooled = f32_bytes(&e.pooled);
    let views = [
        (
            "tokens",
            TensorView::new(Dtype::F32, vec![e.tokens.len() / e.dim, e.dim], &tokens)?,
        ),
        ("offsets", TensorView::new(Dtype::U64, vec![e.offsets.len()], &offsets)?),
        (
            "pooled",
            TensorView::new(Dtype::F32, vec![e.pooled.len() / e.hidden, e.hidden], &pooled)?,
        ),
    ];
    let metadata: HashMap<String, String> = [("seconds".to_string(), format!("{}", e.seconds.unwrap_or(0.0)))].into();
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    safetensors::serialize_to_file(views, Some(metadata), path)?;
    Ok(())
}

fn read_encoded(bytes: &[u8]) -> Result<Encoded, BoxError> {
    let file = SafeTensors::deserialize(bytes)?;
    let floats = |name: &str| -> Result<(Vec<f32>, usize), BoxError> {
        let t = file.tensor(name)?;
        let values = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((values, t.shape()[1]))
    };
    let (tokens, dim) = floats("tokens")?;
    let (pooled, hidden) = floats("pooled")?;
    let offsets = file
        .tensor("offsets")?
        .data()
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize)
        .collect();
    Ok(Encoded {
        dim,
        tokens,
        offsets,
        pooled,
        hidden,
        seconds: None,
    })
}
