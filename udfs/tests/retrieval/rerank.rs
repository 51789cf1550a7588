use nodefusion_udfs::maxsim::{DocEmbeddings, MaxSimError, maxsim};
use nodefusion_udfs::rerank::{RerankError, exhaustive_search, rerank};

use crate::support::multivector_corpus;

fn naive_maxsim(q: &[f32], d: &[f32], dim: usize) -> f32 {
    q.chunks(dim)
        .map(|qt| {
            d.chunks(dim)
                .map(|dt| qt.iter().zip(dt).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .map(|m| if m.is_finite() { m } else { 0.0 })
        .sum()
}

#[test]
fn maxsim_is_the_sum_of_per_query_token_maxima() {
    let c = multivector_corpus(20, 3, 64, 1);
    for q in &c.queries {
        for d in &c.docs {
            let got = maxsim(q, d, c.dim).unwrap();
            assert!((got - naive_maxsim(q, d, c.dim)).abs() < 1e-4);
        }
    }
}

#[test]
fn rerank_orders_candidates_by_exact_maxsim() {
    let c = multivector_corpus(50, 1, 64, 2);
    let docs = DocEmbeddings::from_docs(c.dim, &c.docs).unwrap();
    let candidates = [40u32, 3, 17, 3, 25, 9];
    let hits = rerank(&c.queries[0], &candidates, &docs, 10).unwrap();
    assert_eq!(hits.len(), 5, "duplicates are scored once");
    let mut expect: Vec<(u32, f32)> = [40u32, 3, 17, 25, 9]
        .iter()
        .map(|&d| (d, naive_maxsim(&c.queries[0], &c.docs[d as usize], c.dim)))
        .collect();
    expect.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(
        hits.iter().map(|h| h.doc).collect::<Vec<_>>(),
        expect.iter().map(|e| e.0).collect::<Vec<_>>()
    );
}

#[test]
fn exhaustive_search_equals_reranking_every_document() {
    let c = multivector_corpus(400, 5, 64, 3);
    let docs = DocEmbeddings::from_docs(c.dim, &c.docs).unwrap();
    let all: Vec<u32> = (0..docs.len() as u32).collect();
    for q in &c.queries {
        let a = exhaustive_search(q, &docs, 10).unwrap();
        let b = rerank(q, &all, &docs, 10).unwrap();
        assert_eq!(
            a.iter().map(|h| h.doc).collect::<Vec<_>>(),
            b.iter().map(|h| h.doc).collect::<Vec<_>>()
        );
    }
}

#[test]
fn documents_without_tokens_score_zero() {
    let docs = DocEmbeddings::from_docs(2, &[vec![], vec![1.0, 0.0]]).unwrap();
    let hits = exhaustive_search(&[1.0, 0.0], &docs, 2).unwrap();
    assert_eq!(hits[1].doc, 0);
    assert_eq!(hits[1].score, 0.0);
}

#[test]
fn malformed_inputs_are_errors_with_clear_messages() {
    let docs = DocEmbeddings::from_docs(2, &[vec![1.0, 0.0]]).unwrap();
    let err = rerank(&[1.0, 0.0, 1.0], &[0], &docs, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "query has 3 values, expected a multiple of the embedding dimension 2"
    );
    let err = rerank(&[1.0, 0.0], &[5], &docs, 1).unwrap_err();
    assert_eq!(err, RerankError::UnknownDoc { doc: 5, num_docs: 1 });
    let err = DocEmbeddings::from_docs(2, &[vec![1.0, f32::NAN]]).unwrap_err();
    assert_eq!(err.to_string(), "document 0 contains a non-finite value at position 1");
    assert_eq!(DocEmbeddings::new(0).unwrap_err(), MaxSimError::ZeroDim);
}

#[test]
fn shared_token_matrices_are_viewed_in_place_and_checked_like_copies() {
    use std::sync::Arc;
    let tokens = Arc::new(vec![1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8]);
    let shared = DocEmbeddings::from_shared(2, tokens.clone(), &[2, 4]).unwrap();
    assert_eq!(shared.tokens().as_ptr(), tokens.as_ptr());
    assert_eq!(
        shared,
        DocEmbeddings::from_docs(2, &[vec![1.0, 0.0], vec![0.0, 1.0, 0.6, 0.8]]).unwrap()
    );
    // Pushing copies the shared values first; the shared matrix is untouched.
    let mut grown = shared.clone();
    grown.push(&[0.0, 1.0]).unwrap();
    assert_eq!(grown.len(), 3);
    assert_eq!(tokens.len(), 6);

    let short = DocEmbeddings::from_shared(2, tokens.clone(), &[2, 6]).unwrap_err();
    assert_eq!(
        short,
        MaxSimError::Extent {
            needed: 8,
            available: 6
        }
    );
    let long = DocEmbeddings::from_shared(2, tokens.clone(), &[2, 2]).unwrap_err();
    assert_eq!(
        long,
        MaxSimError::Extent {
            needed: 4,
            available: 6
        }
    );
    let misaligned = DocEmbeddings::from_shared(2, tokens.clone(), &[3, 3]).unwrap_err();
    assert_eq!(
        misaligned.to_string(),
        "document 0 has 3 values, expected a multiple of the embedding dimension 2"
    );
    let overflow = DocEmbeddings::from_shared(2, tokens, &[2, usize::MAX]).unwrap_err();
    assert!(matches!(overflow, MaxSimError::Extent { .. }), "{overflow}");
}
