//! Synthetic data shared by the retrieval tests and `examples/bench_retrieval.rs`.
//!
//! Multi-vector corpora imitate ColBERT's token embeddings: a vocabulary of
//! word vectors grouped by topic, token = word vector + context + noise
//! (unit-normalised), documents drawn from one or two topics with Zipfian
//! word choice, queries of 32 tokens built from a target document's words.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Standard normal sample (Box–Muller).
pub fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

pub fn random_unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| gaussian(rng)).collect();
    normalize(&mut v);
    v
}

pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// `normalize(Σ w_i · v_i)`.
fn mix(parts: &[(f32, &[f32])], dim: usize) -> Vec<f32> {
    let mut out = vec![0.0; dim];
    for (w, v) in parts {
        for (o, x) in out.iter_mut().zip(v.iter()) {
            *o += w * x;
        }
    }
    normalize(&mut out);
    out
}

/// Zipf(1) rank in `0..n`.
pub fn zipf(rng: &mut StdRng, n: usize) -> usize {
    // Inverse CDF of a continuous 1/x law on [1, n+1).
    let u: f64 = rng.random();
    let x = ((n as f64 + 1.0).ln() * u).exp();
    (x as usize).saturating_sub(1).min(n - 1)
}

pub struct MultiVectorCorpus {
    pub dim: usize,
    /// One flat row-major matrix per document.
    pub docs: Vec<Vec<f32>>,
    /// One flat row-major 32-token matrix per query.
    pub queries: Vec<Vec<f32>>,
}

/// A clustered corpus of `num_docs` documents (~30 tokens) and `num_queries` queries.
pub fn multivector_corpus(num_docs: usize, num_queries: usize, dim: usize, seed: u64) -> MultiVectorCorpus {
    let mut rng = StdRng::seed_from_u64(seed);
    let num_topics = 64;
    let words_per_topic = 60;
    let general_words = 200;
    let topics: Vec<Vec<f32>> = (0..num_topics).map(|_| random_unit(&mut rng, dim)).collect();
    let general_center = random_unit(&mut rng, dim);
    // Word vectors: topic words near their topic, general words spread out.
    let mut words: Vec<Vec<f32>> = Vec::new();
    for t in &topics {
        for _ in 0..words_per_topic {
            let g = random_unit(&mut rng, dim);
            words.push(mix(&[(0.55, t), (0.85, &g)], dim));
        }
    }
    for _ in 0..general_words {
        let g = random_unit(&mut rng, dim);
        words.push(mix(&[(0.3, &general_center), (0.95, &g)], dim));
    }
    let topic_word = |t: usize, r: usize| t * words_per_topic + r;
    let general_word = |r: usize| num_topics * words_per_topic + r;

    let token = |rng: &mut StdRng, w: usize, ctx: &[f32]| -> Vec<f32> {
        let noise = random_unit(rng, dim);
        mix(&[(0.85, &words[w]), (0.3, ctx), (0.35, &noise)], dim)
    };

    let mut doc_words: Vec<Vec<usize>> = Vec::with_capacity(num_docs);
    let mut doc_topics: Vec<usize> = Vec::with_capacity(num_docs);
    let mut docs = Vec::with_capacity(num_docs);
    for _ in 0..num_docs {
        let t1 = rng.random_range(0..num_topics);
        let t2 = if rng.random_bool(0.3) {
            Some(rng.random_range(0..num_topics))
        } else {
            None
        };
        let len = rng.random_range(20..=40);
        let ctx = mix(&[(1.0, &topics[t1]), (0.8, &random_unit(&mut rng, dim))], dim);
        let mut ws = Vec::with_capacity(len);
        let mut m = Vec::with_capacity(len * dim);
        for _ in 0..len {
            let w = if rng.random_bool(0.25) {
                general_word(zipf(&mut rng, general_words))
            } else {
                let t = match t2 {
                    Some(t2) if rng.random_bool(0.35) => t2,
                    _ => t1,
                };
                topic_word(t, zipf(&mut rng, words_per_topic))
            };
            ws.push(w);
            m.extend(token(&mut rng, w, &ctx));
        }
        doc_words.push(ws);
        doc_topics.push(t1);
        docs.push(m);
    }

    let mut queries = Vec::with_capacity(num_queries);
    for _ in 0..num_queries {
        let target = rng.random_range(0..num_docs);
        let ws = &doc_words[target];
        let ctx = mix(
            &[(1.0, &topics[doc_topics[target]]), (0.8, &random_unit(&mut rng, dim))],
            dim,
        );
        let mut q = Vec::with_capacity(32 * dim);
        for i in 0..32 {
            if i < 12 {
                // Content tokens: words of the target document (or an unrelated word).
                let w = if rng.random_bool(0.85) {
                    ws[rng.random_range(0..ws.len())]
                } else {
                    topic_word(doc_topics[target], zipf(&mut rng, words_per_topic))
                };
                q.extend(token(&mut rng, w, &ctx));
            } else {
                // Query augmentation ([MASK]) tokens: blurred copies of content words.
                let w = ws[rng.random_range(0..ws.len())];
                let noise = random_unit(&mut rng, dim);
                q.extend(mix(&[(0.8, &words[w]), (0.45, &ctx), (0.5, &noise)], dim));
            }
        }
        queries.push(q);
    }
    MultiVectorCorpus { dim, docs, queries }
}

/// A Hebrew-like corpus: `num_docs` verses of Zipfian words over a
/// vocabulary of `vocab` pseudo-words written in Hebrew letters (with final
/// forms at word ends), plus `num_queries` short queries.
pub fn hebrew_like_corpus(num_docs: usize, num_queries: usize, vocab: usize, seed: u64) -> (Vec<String>, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let letters: Vec<char> = "אבגדהוזחטיכלמנסעפצקרשת".chars().collect();
    let finals = |c: char| match c {
        'כ' => 'ך',
        'מ' => 'ם',
        'נ' => 'ן',
        'פ' => 'ף',
        'צ' => 'ץ',
        c => c,
    };
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(vocab);
    while words.len() < vocab {
        let len = rng.random_range(2..=7);
        let mut w: Vec<char> = (0..len).map(|_| letters[rng.random_range(0..letters.len())]).collect();
        let last = w.len() - 1;
        w[last] = finals(w[last]);
        let w: String = w.into_iter().collect();
        if seen.insert(w.clone()) {
            words.push(w);
        }
    }
    let doc = |rng: &mut StdRng, n: usize| -> String {
        (0..n)
            .map(|_| words[zipf(rng, vocab)].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let docs = (0..num_docs)
        .map(|_| {
            let n = rng.random_range(8..=40);
            doc(&mut rng, n)
        })
        .collect();
    let queries = (0..num_queries)
        .map(|_| {
            let n = rng.random_range(2..=6);
            doc(&mut rng, n)
        })
        .collect();
    (docs, queries)
}

/// |a - b| <= eps, with a message naming the values.
pub fn assert_close(a: f64, b: f64, eps: f64, what: &str) {
    assert!((a - b).abs() <= eps, "{what}: {a} vs {b} (eps {eps})");
}

/// Recall of `got` against `truth` (fraction of `truth` ids present in `got`).
pub fn overlap(got: &[u32], truth: &[u32]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    truth.iter().filter(|t| got.contains(t)).count() as f64 / truth.len() as f64
}
