//! Exact late-interaction reranking of candidate lists and exhaustive
//! search, the oracle that PLAID is measured against. Documents are scored
//! by [MaxSim](crate::maxsim) over [`DocEmbeddings`].
//!
//! Reference: O. Khattab, M. Zaharia, *ColBERT: Efficient and Effective
//! Passage Search via Contextualized Late Interaction over BERT*, SIGIR 2020.
//!
//! ```
//! use nodefusion_udfs::maxsim::DocEmbeddings;
//! use nodefusion_udfs::rerank::rerank;
//! let dim = 2;
//! let docs = DocEmbeddings::from_docs(dim, &[vec![1.0, 0.0], vec![0.0, 1.0, 0.6, 0.8]]).unwrap();
//! let query = [0.0, 1.0, 1.0, 0.0]; // two query tokens
//! let hits = rerank(&query, &[0, 1], &docs, 1).unwrap();
//! assert_eq!(hits[0].doc, 1);
//! ```

use rayon::prelude::*;

use crate::hit::top_k;
use crate::hit::{DocId, Hit};
use crate::maxsim::kernels::matmul_abt;
use crate::maxsim::{DocEmbeddings, MaxSimError, check_matrix, max_rows_sum, maxsim_unchecked};

/// Errors of reranking and exhaustive search.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RerankError {
    /// The query or a document matrix is malformed.
    #[error(transparent)]
    Embeddings(#[from] MaxSimError),
    /// A candidate id outside the collection.
    #[error("candidate document {doc} does not exist: the collection has {num_docs} documents")]
    UnknownDoc {
        /// The id.
        doc: DocId,
        /// Collection size.
        num_docs: usize,
    },
}

type Result<T, E = RerankError> = std::result::Result<T, E>;

/// Reranks `candidates` by exact MaxSim against `query`; returns the best
/// `k` by score descending, ties by doc id ascending. Repeated candidates
/// are scored once.
pub fn rerank(query: &[f32], candidates: &[DocId], docs: &DocEmbeddings, k: usize) -> Result<Vec<Hit>> {
    let (dim, offsets, tokens) = (docs.dim(), docs.offsets(), docs.tokens());
    let nq = check_matrix("query", query, dim)?;
    if let Some(&doc) = candidates.iter().find(|&&d| d as usize >= docs.len()) {
        return Err(RerankError::UnknownDoc {
            doc,
            num_docs: docs.len(),
        });
    }
    let mut unique = candidates.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut scratch = Vec::new();
    let hits = unique.iter().map(|&d| {
        let (a, b) = (offsets[d as usize], offsets[d as usize + 1]);
        let score = maxsim_unchecked(query, nq, &tokens[a * dim..b * dim], b - a, dim, &mut scratch);
        Hit { doc: d, score }
    });
    Ok(top_k(hits.collect::<Vec<_>>(), k))
}

/// Exact MaxSim against every document: the exhaustive baseline. Token
/// matrices are multiplied in blocks of about 4096 tokens.
///
/// ```
/// use nodefusion_udfs::maxsim::DocEmbeddings;
/// use nodefusion_udfs::rerank::exhaustive_search;
/// let docs = DocEmbeddings::from_docs(2, &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
/// assert_eq!(exhaustive_search(&[0.0, 1.0], &docs, 1).unwrap()[0].doc, 1);
/// ```
pub fn exhaustive_search(query: &[f32], docs: &DocEmbeddings, k: usize) -> Result<Vec<Hit>> {
    let (dim, offsets, tokens) = (docs.dim(), docs.offsets(), docs.tokens());
    let nq = check_matrix("query", query, dim)?;
    const BLOCK_TOKENS: usize = 4096;
    let mut scratch: Vec<f32> = Vec::new();
    let mut scores: Vec<Hit> = Vec::with_capacity(docs.len());
    let mut d0 = 0;
    while d0 < docs.len() {
        let t0 = offsets[d0];
        let mut d1 = d0 + 1;
        while d1 < docs.len() && offsets[d1 + 1] - t0 <= BLOCK_TOKENS {
            d1 += 1;
        }
        let t1 = offsets[d1];
        let n = t1 - t0;
        scratch.resize(n * nq, 0.0);
        matmul_abt(&tokens[t0 * dim..t1 * dim], n, query, nq, dim, &mut scratch[..n * nq]);
        for d in d0..d1 {
            let (a, b) = (offsets[d] - t0, offsets[d + 1] - t0);
            let score = if b > a && nq > 0 {
                max_rows_sum(&scratch[a * nq..b * nq], nq)
            } else {
                0.0
            };
            scores.push(Hit { doc: d as DocId, score });
        }
        d0 = d1;
    }
    Ok(top_k(scores, k))
}

/// [`exhaustive_search`] for many queries, in parallel.
pub fn exhaustive_search_batch<Q: AsRef<[f32]> + Sync>(
    queries: &[Q],
    docs: &DocEmbeddings,
    k: usize,
) -> Result<Vec<Vec<Hit>>> {
    queries
        .par_iter()
        .map(|q| exhaustive_search(q.as_ref(), docs, k))
        .collect()
}
