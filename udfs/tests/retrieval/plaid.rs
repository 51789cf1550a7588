use std::sync::OnceLock;
use std::time::Instant;

use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidError, PlaidIndex, SearchParams, default_num_centroids};
use nodefusion_udfs::rerank::{exhaustive_search_batch, rerank};

use crate::support::{MultiVectorCorpus, multivector_corpus, overlap};

pub struct Shared {
    pub corpus: MultiVectorCorpus,
    pub docs: DocEmbeddings,
}

/// A clustered corpus of 2,500 passages (dim 128, ~30 tokens) and 64
/// queries, generated once for the tests of this binary.
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let corpus = multivector_corpus(2500, 64, 128, 42);
        let docs = DocEmbeddings::from_docs(corpus.dim, &corpus.docs).unwrap();
        Shared { corpus, docs }
    })
}

fn build(nbits: u8) -> PlaidIndex {
    let s = shared();
    let t = Instant::now();
    let index = PlaidIndex::build(
        &s.docs,
        &PlaidBuildParams {
            nbits,
            ..Default::default()
        },
    )
    .unwrap();
    eprintln!(
        "built PLAID index (nbits {nbits}): {} docs, {} tokens, {} centroids in {:.2?}",
        index.num_docs(),
        index.num_tokens(),
        index.num_centroids(),
        t.elapsed()
    );
    index
}

/// The default (nbits 2) index of the shared corpus.
pub fn index_nbits2() -> &'static PlaidIndex {
    static INDEX: OnceLock<PlaidIndex> = OnceLock::new();
    INDEX.get_or_init(|| build(2))
}

fn exhaustive_top10() -> &'static Vec<Vec<u32>> {
    static TRUTH: OnceLock<Vec<Vec<u32>>> = OnceLock::new();
    TRUTH.get_or_init(|| {
        let s = shared();
        exhaustive_search_batch(&s.corpus.queries, &s.docs, 10)
            .unwrap()
            .iter()
            .map(|h| h.iter().map(|h| h.doc).collect())
            .collect()
    })
}

fn mean_recall(got: &[Vec<u32>]) -> f64 {
    let truth = exhaustive_top10();
    truth.iter().zip(got).map(|(t, g)| overlap(g, t)).sum::<f64>() / truth.len() as f64
}

fn plaid_top10(index: &PlaidIndex) -> Vec<Vec<u32>> {
    let hits = index
        .search_batch(&shared().corpus.queries, &SearchParams::for_k(10))
        .unwrap();
    hits.iter().map(|h| h.iter().map(|h| h.doc).collect()).collect()
}

#[test]
fn plaid_top10_agrees_with_exhaustive_maxsim_at_nbits4() {
    let recall = mean_recall(&plaid_top10(&build(4)));
    eprintln!("PLAID nbits 4 Recall@10 vs exhaustive MaxSim: {recall:.4}");
    assert!(recall >= 0.95, "Recall@10 = {recall}");
}

#[test]
fn plaid_top10_at_nbits2_loses_only_to_quantisation() {
    let index = index_nbits2();
    let recall = mean_recall(&plaid_top10(index));
    // Stages 1-3 then exact MaxSim on the full-precision embeddings.
    let s = shared();
    let reranked: Vec<Vec<u32>> = s
        .corpus
        .queries
        .iter()
        .map(|q| {
            let cands: Vec<u32> = index
                .candidates(q, &SearchParams::for_k(10))
                .unwrap()
                .iter()
                .map(|h| h.doc)
                .collect();
            rerank(q, &cands, &s.docs, 10).unwrap().iter().map(|h| h.doc).collect()
        })
        .collect();
    let candidates_recall = mean_recall(&reranked);
    eprintln!(
        "PLAID nbits 2 Recall@10 vs exhaustive MaxSim: {recall:.4}; candidates + exact rerank: {candidates_recall:.4}"
    );
    assert!(
        candidates_recall >= 0.99,
        "candidates + exact rerank Recall@10 = {candidates_recall}"
    );
    assert!(recall >= 0.90, "Recall@10 = {recall}");
}

#[test]
fn nbits2_at_dim128_stores_at_most_36_bytes_per_token() {
    let st = index_nbits2().storage();
    eprintln!(
        "storage per token: {:.2} bytes (codes {}, residuals {}, ivf lists {}, doclens {} over {} tokens); \
         per-centroid tables: centroids {} bytes, ivf offsets {} bytes; all files: {:.2} bytes per token",
        st.bytes_per_token(),
        st.codes,
        st.residuals,
        st.ivf,
        st.doclens,
        st.num_tokens,
        st.centroids,
        st.ivf_offsets,
        st.total() as f64 / st.num_tokens as f64
    );
    assert_eq!(st.residuals, st.num_tokens * 32);
    assert!(st.bytes_per_token() <= 36.0, "{} bytes per token", st.bytes_per_token());
}

#[test]
fn decompressed_embeddings_stay_close_to_the_originals() {
    let s = shared();
    let index = index_nbits2();
    let mut cos_sum = 0.0;
    let mut n = 0;
    for d in (0..s.docs.len() as u32).step_by(97) {
        let orig = s.docs.doc(d).unwrap();
        let dec = index.decompress(d).unwrap();
        for (a, b) in orig.chunks(128).zip(dec.chunks(128)) {
            cos_sum += a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() as f64;
            n += 1;
        }
    }
    let mean = cos_sum / n as f64;
    eprintln!("mean cosine(original, decompressed) = {mean:.4}");
    assert!(mean > 0.9, "{mean}");
}

#[test]
fn centroid_count_follows_colbertv2() {
    assert_eq!(
        index_nbits2().num_centroids(),
        default_num_centroids(shared().docs.num_tokens())
    );
    assert_eq!(default_num_centroids(1), 1);
    assert_eq!(default_num_centroids(1_000_000), 8192);
}

#[test]
fn search_defaults_follow_colbertv2() {
    let p = |k| {
        let p = SearchParams::for_k(k);
        (p.ncells, p.centroid_score_threshold, p.ndocs)
    };
    assert_eq!(p(10), (1, 0.5, 256));
    assert_eq!(p(100), (2, 0.45, 1024));
    assert_eq!(p(1000), (4, 0.4, 4096));
    assert_eq!(p(2000), (4, 0.4, 8000));
}

#[test]
fn every_nbits_builds_and_finds_an_exact_duplicate() {
    let c = multivector_corpus(300, 4, 128, 5);
    let docs = DocEmbeddings::from_docs(c.dim, &c.docs).unwrap();
    for nbits in [1u8, 2, 4] {
        let index = PlaidIndex::build(
            &docs,
            &PlaidBuildParams {
                nbits,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            index.storage().residuals as usize,
            docs.num_tokens() * 128 * nbits as usize / 8
        );
        // A document used as the query finds itself first.
        for d in [0u32, 150, 299] {
            let hits = index.search(docs.doc(d).unwrap(), 3).unwrap();
            assert_eq!(hits[0].doc, d, "nbits {nbits}");
        }
    }
}

#[test]
fn invalid_build_inputs_are_errors() {
    let docs = DocEmbeddings::from_docs(4, &[vec![1.0, 0.0, 0.0, 0.0]]).unwrap();
    let err = PlaidIndex::build(
        &docs,
        &PlaidBuildParams {
            nbits: 3,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid PLAID parameter nbits: expected 1, 2 or 4, found 3"
    );
    let empty = DocEmbeddings::from_docs(4, &[Vec::<f32>::new()]).unwrap();
    assert!(matches!(
        PlaidIndex::build(&empty, &PlaidBuildParams::default()),
        Err(PlaidError::NoTokens { docs: 1 })
    ));
    let index = PlaidIndex::build(&docs, &PlaidBuildParams::default()).unwrap();
    let err = index.search(&[1.0, 0.0], 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "query has 2 values, expected a multiple of the embedding dimension 4"
    );
}

#[test]
fn tiny_collections_work() {
    let docs = DocEmbeddings::from_docs(2, &[vec![1.0, 0.0], vec![], vec![0.0, 1.0, 0.6, 0.8]]).unwrap();
    let index = PlaidIndex::build(&docs, &PlaidBuildParams::default()).unwrap();
    assert_eq!(index.num_centroids(), 3);
    let hits = index.search(&[0.0, 1.0], 3).unwrap();
    assert_eq!(hits[0].doc, 2);
}

#[test]
fn a_corpus_within_the_candidate_budget_gives_min_k_corpus_hits() {
    for (n, seed) in [(8, 1), (40, 2), (300, 3)] {
        let corpus = multivector_corpus(n, 6, 32, seed);
        let docs = DocEmbeddings::from_docs(corpus.dim, &corpus.docs).unwrap();
        let index = PlaidIndex::build(&docs, &PlaidBuildParams::default()).unwrap();
        for query in &corpus.queries {
            let truth: Vec<u32> = exhaustive_search_batch(std::slice::from_ref(query), &docs, n).unwrap()[0]
                .iter()
                .map(|h| h.doc)
                .collect();
            for k in [100, usize::MAX] {
                let hits = index.search(query, k).unwrap();
                assert_eq!(hits.len(), n.min(k), "corpus of {n}, k {k}");
                if n <= k {
                    let found: Vec<u32> = hits.iter().map(|h| h.doc).collect();
                    // Residual compression may swap near-ties, never lose documents.
                    let mut sorted = found.clone();
                    sorted.sort_unstable();
                    let mut want = truth.clone();
                    want.sort_unstable();
                    assert_eq!(sorted, want, "corpus of {n}");
                    assert_eq!(found[0], truth[0], "corpus of {n}");
                }
            }
        }
    }
}
