//! Side-by-side retrieval benchmark on synthetic data; prints markdown tables.
//!
//! 1. PLAID vs exhaustive MaxSim on the same clustered multi-vector corpus
//!    (dim 128, ~30 tokens per passage, 32-token queries): per-query latency
//!    on one thread, Recall@10 of PLAID against the exhaustive top 10, ratio.
//! 2. BM25 on a Hebrew-like corpus (Zipfian pseudo-words, default 23k
//!    verses): index build time and queries per second.
//!
//! ```text
//! cargo run -p nodefusion-udfs --example bench_retrieval            # dev profile (opt-level 2)
//! cargo run -p nodefusion-udfs --example bench_retrieval -- --docs 5000 --sweep
//! cargo run -p nodefusion-udfs --example bench_retrieval -- --bm25s-out /tmp/bm25s.json
//! python udfs/examples/bench_bm25s.py /tmp/bm25s.json                 # bm25s on the same tokens
//! ```

#[path = "../tests/retrieval/support.rs"]
mod support;

use std::time::{Duration, Instant};

use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidIndex, SearchParams};
use nodefusion_udfs::rerank::{exhaustive_search, rerank};

struct Args {
    docs: usize,
    queries: usize,
    sweep: bool,
    nbits: u8,
    lloyd: Option<usize>,
    kmeans_iters: Option<usize>,
    bm25_docs: usize,
    bm25_queries: usize,
    bm25s_out: Option<String>,
    skip_plaid: bool,
    skip_bm25: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        docs: 3000,
        queries: 200,
        sweep: false,
        nbits: 2,
        lloyd: None,
        kmeans_iters: None,
        bm25_docs: 23_000,
        bm25_queries: 5000,
        bm25s_out: None,
        skip_plaid: false,
        skip_bm25: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match flag.as_str() {
            "--docs" => a.docs = num("--docs"),
            "--queries" => a.queries = num("--queries"),
            "--bm25-docs" => a.bm25_docs = num("--bm25-docs"),
            "--bm25-queries" => a.bm25_queries = num("--bm25-queries"),
            "--sweep" => a.sweep = true,
            "--nbits" => a.nbits = num("--nbits") as u8,
            "--lloyd" => a.lloyd = Some(num("--lloyd")),
            "--kmeans-iters" => a.kmeans_iters = Some(num("--kmeans-iters")),
            "--skip-plaid" => a.skip_plaid = true,
            "--skip-bm25" => a.skip_bm25 = true,
            "--bm25s-out" => a.bm25s_out = it.next(),
            other => panic!(
                "unknown flag {other}; expected --docs N, --queries N, --sweep, --nbits 1|2|4, --lloyd N, --kmeans-iters N, --bm25-docs N, --bm25-queries N, --bm25s-out PATH, --skip-plaid, --skip-bm25"
            ),
        }
    }
    a
}

fn per_query(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e3 / n.max(1) as f64
}

fn recall_at_10(truth: &[Vec<u32>], got: &[Vec<u32>]) -> f64 {
    truth.iter().zip(got).map(|(t, g)| support::overlap(g, t)).sum::<f64>() / truth.len().max(1) as f64
}

fn bench_plaid(args: &Args) -> f64 {
    let corpus = support::multivector_corpus(args.docs, args.queries, 128, 42);
    let docs = DocEmbeddings::from_docs(corpus.dim, &corpus.docs).unwrap();
    let t = Instant::now();
    let defaults = PlaidBuildParams::default();
    let build_params = PlaidBuildParams {
        nbits: args.nbits,
        lloyd_iters: args.lloyd.unwrap_or(defaults.lloyd_iters),
        kmeans_iters: args.kmeans_iters.unwrap_or(defaults.kmeans_iters),
        ..defaults
    };
    let index = PlaidIndex::build(&docs, &build_params).unwrap();
    let build = t.elapsed();
    let st = index.storage();

    // One query at a time on this thread, for both.
    let t = Instant::now();
    let truth: Vec<Vec<u32>> = corpus
        .queries
        .iter()
        .map(|q| exhaustive_search(q, &docs, 10).unwrap().iter().map(|h| h.doc).collect())
        .collect();
    let exhaustive = t.elapsed();
    if std::env::var_os("BENCH_SHOW_SCORES").is_some() {
        for q in corpus.queries.iter().take(5) {
            let hits = exhaustive_search(q, &docs, 12).unwrap();
            let s: Vec<String> = hits.iter().map(|h| format!("{:.2}", h.score)).collect();
            eprintln!("top-12 exhaustive scores: {}", s.join(" "));
        }
    }
    let run = |p: &SearchParams| -> (Duration, Vec<Vec<u32>>) {
        let t = Instant::now();
        let got = corpus
            .queries
            .iter()
            .map(|q| index.search_with(q, p).unwrap().iter().map(|h| h.doc).collect())
            .collect();
        (t.elapsed(), got)
    };
    let default = SearchParams::for_k(10);
    let _ = run(&default); // warm-up
    let (plaid, got) = run(&default);
    let recall = recall_at_10(&truth, &got);
    // PLAID stages 1-3, then exact MaxSim on the full-precision embeddings.
    let t = Instant::now();
    let reranked: Vec<Vec<u32>> = corpus
        .queries
        .iter()
        .map(|q| {
            let cands: Vec<u32> = index.candidates(q, &default).unwrap().iter().map(|h| h.doc).collect();
            rerank(q, &cands, &docs, 10).unwrap().iter().map(|h| h.doc).collect()
        })
        .collect();
    let plaid_rerank = t.elapsed();
    let mut cos = (0.0f64, 0usize);
    for d in (0..docs.len() as u32).step_by(7) {
        let dec = index.decompress(d).unwrap();
        for (a, b) in docs.doc(d).unwrap().chunks(128).zip(dec.chunks(128)) {
            cos.0 += a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() as f64;
            cos.1 += 1;
        }
    }

    println!(
        "### PLAID vs exhaustive MaxSim\n\n{} passages, {} tokens, dim 128, nbits 2, {} centroids; {} queries × 32 tokens; one thread per query.\n",
        docs.len(),
        docs.num_tokens(),
        index.num_centroids(),
        corpus.queries.len()
    );
    println!("| variant | ms / query | Recall@10 vs exhaustive | speed-up |");
    println!("|---|---:|---:|---:|");
    println!(
        "| exhaustive MaxSim (gemm) | {:.3} | 1.000 | 1.0× |",
        per_query(exhaustive, truth.len())
    );
    println!(
        "| PLAID k=10 defaults (ncells {}, threshold {}, ndocs {}) | {:.3} | {:.3} | {:.1}× |",
        default.ncells,
        default.centroid_score_threshold,
        default.ndocs,
        per_query(plaid, truth.len()),
        recall,
        exhaustive.as_secs_f64() / plaid.as_secs_f64()
    );
    println!(
        "| PLAID stages 1-3 + exact MaxSim rerank (full-precision embeddings) | {:.3} | {:.3} | {:.1}× |",
        per_query(plaid_rerank, truth.len()),
        recall_at_10(&truth, &reranked),
        exhaustive.as_secs_f64() / plaid_rerank.as_secs_f64()
    );
    if args.sweep {
        for ncells in [1, 2, 4] {
            for thr in [0.5f32, 0.4, 0.3] {
                for ndocs in [256, 512, 1024, 2048] {
                    let p = SearchParams {
                        k: 10,
                        ncells,
                        centroid_score_threshold: thr,
                        ndocs,
                    };
                    let (d, got) = run(&p);
                    println!(
                        "| PLAID ncells {ncells}, threshold {thr}, ndocs {ndocs} | {:.3} | {:.3} | {:.1}× |",
                        per_query(d, truth.len()),
                        recall_at_10(&truth, &got),
                        exhaustive.as_secs_f64() / d.as_secs_f64()
                    );
                }
            }
        }
    }
    println!(
        "\nindex build {:.2?} on {} threads; nbits {}, Lloyd iterations {}: storage {:.2} bytes/token (codes + residuals + ivf lists + doclens), {:.2} bytes/token for all files; mean cosine(original, decompressed) {:.4}\n",
        build,
        rayon::current_num_threads(),
        args.nbits,
        build_params.lloyd_iters,
        st.bytes_per_token(),
        st.total() as f64 / st.num_tokens as f64,
        cos.0 / cos.1 as f64
    );
    recall
}

fn bench_bm25(args: &Args) {
    let (docs, queries) = support::hebrew_like_corpus(args.bm25_docs, args.bm25_queries, 40_000, 7);
    let params = Bm25Params::default();
    // Warm-up build (allocator, thread pool), then timed builds.
    let _ = Bm25Index::build(&docs[..docs.len().min(1000)], &params).unwrap();
    let t = Instant::now();
    let index = Bm25Index::build(&docs, &params).unwrap();
    let build = t.elapsed();
    let tokenized: Vec<Vec<String>> = docs.iter().map(|d| params.tokenizer.tokenize(d)).collect();
    let query_tokens: Vec<Vec<String>> = queries.iter().map(|q| params.tokenizer.tokenize(q)).collect();
    let t = Instant::now();
    let from_terms = Bm25Index::build_from_terms(&tokenized, &params).unwrap();
    let build_terms = t.elapsed();

    let t = Instant::now();
    let seq: Vec<_> = queries.iter().map(|q| index.search(q, 10)).collect();
    let seq_time = t.elapsed();
    let t = Instant::now();
    let seq_terms: Vec<_> = query_tokens.iter().map(|q| from_terms.search_terms(q, 10)).collect();
    let seq_terms_time = t.elapsed();
    let t = Instant::now();
    let batch = index.search_batch(&queries, 10);
    let batch_time = t.elapsed();
    assert_eq!(seq, batch, "batch and sequential search disagree");
    assert_eq!(seq, seq_terms, "text and token search disagree");

    let qps = |d: Duration| queries.len() as f64 / d.as_secs_f64();
    println!(
        "### BM25 (Lucene idf, k1 1.5, b 0.75)\n\n{} Hebrew-like docs ({} terms, {} postings, avg {:.1} terms/doc), {} queries, top 10.\n",
        index.num_docs(),
        index.num_terms(),
        index.num_postings(),
        index.avg_doc_len(),
        queries.len()
    );
    println!("| step | time | queries/s |");
    println!("|---|---:|---:|");
    println!(
        "| build from text (tokenise + index, {} threads) | {:.1} ms | |",
        rayon::current_num_threads(),
        build.as_secs_f64() * 1e3
    );
    println!("| build from tokens | {:.1} ms | |", build_terms.as_secs_f64() * 1e3);
    println!(
        "| search text, 1 thread | {:.1} ms | {:.0} |",
        seq_time.as_secs_f64() * 1e3,
        qps(seq_time)
    );
    println!(
        "| search tokens, 1 thread | {:.1} ms | {:.0} |",
        seq_terms_time.as_secs_f64() * 1e3,
        qps(seq_terms_time)
    );
    println!(
        "| search text, batch ({} threads) | {:.1} ms | {:.0} |",
        rayon::current_num_threads(),
        batch_time.as_secs_f64() * 1e3,
        qps(batch_time)
    );

    if let Some(path) = &args.bm25s_out {
        let json = serde_json::json!({ "corpus_tokens": tokenized, "query_tokens": query_tokens, "k": 10 });
        std::fs::write(path, serde_json::to_vec(&json).unwrap()).unwrap();
        println!("\nwrote the tokenised corpus and queries to {path} for bench_bm25s.py");
    }
    println!();
}

fn main() {
    let args = parse_args();
    if !args.skip_plaid {
        let recall = bench_plaid(&args);
        assert!(recall > 0.8, "PLAID recall collapsed: {recall}");
    }
    if !args.skip_bm25 {
        bench_bm25(&args);
    }
}
