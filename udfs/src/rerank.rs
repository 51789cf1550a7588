//! Exact late-interaction (MaxSim) scoring: reranking of candidate lists and
//! exhaustive search, the oracle that PLAID is measured against.
//!
//! Reference: O. Khattab, M. Zaharia, *ColBERT: Efficient and Effective
//! Passage Search via Contextualized Late Interaction over BERT*, SIGIR 2020.
//!
//! For a query matrix `Q` (one row per query token) and a document matrix
//! `D` (one row per document token), both with L2-normalised rows:
//!
//! ```text
//! MaxSim(Q, D) = Σ_{i ∈ Q} max_{j ∈ D} ⟨q_i, d_j⟩        (0 for a document without tokens)
//! ```
//!
//! Matrices are flat row-major `&[f32]` slices whose length is a multiple of
//! the embedding dimension; [`DocEmbeddings`] holds a whole collection
//! contiguously.
//!
//! ```
//! use nodefusion_udfs::rerank::{maxsim, rerank, DocEmbeddings};
//! let dim = 2;
//! let docs = DocEmbeddings::from_docs(dim, &[vec![1.0, 0.0], vec![0.0, 1.0, 0.6, 0.8]]).unwrap();
//! let query = [0.0, 1.0, 1.0, 0.0]; // two query tokens
//! assert_eq!(maxsim(&query, docs.doc(1).unwrap(), dim).unwrap(), 1.0 + 0.6);
//! let hits = rerank(&query, &[0, 1], &docs, 1).unwrap();
//! assert_eq!(hits[0].doc, 1);
//! ```

pub(crate) mod kernels;

use rayon::prelude::*;

use crate::fusion::top_k;
pub use crate::fusion::{DocId, Hit, Score};

/// Errors of MaxSim scoring.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RerankError {
    /// The embedding dimension must be at least 1.
    #[error("embedding dimension must be >= 1, found 0")]
    ZeroDim,
    /// A matrix length is not a multiple of the dimension.
    #[error("{what} has {len} values, expected a multiple of the embedding dimension {dim}")]
    Shape {
        /// Which matrix.
        what: String,
        /// Its number of values.
        len: usize,
        /// The embedding dimension.
        dim: usize,
    },
    /// A matrix contains NaN or infinity.
    #[error("{what} contains a non-finite value at position {index}")]
    NonFinite {
        /// Which matrix.
        what: String,
        /// Position of the first bad value.
        index: usize,
    },
    /// A candidate id outside the collection.
    #[error("candidate document {doc} does not exist: the collection has {num_docs} documents")]
    UnknownDoc {
        /// The id.
        doc: DocId,
        /// Collection size.
        num_docs: usize,
    },
    /// More than `u32::MAX` documents.
    #[error("too many documents: at most {} are supported", u32::MAX)]
    TooManyDocuments,
}

type Result<T, E = RerankError> = std::result::Result<T, E>;

pub(crate) fn check_matrix(what: &str, data: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(RerankError::ZeroDim);
    }
    if !data.len().is_multiple_of(dim) {
        return Err(RerankError::Shape {
            what: what.to_owned(),
            len: data.len(),
            dim,
        });
    }
    if let Some(index) = data.iter().position(|v| !v.is_finite()) {
        return Err(RerankError::NonFinite {
            what: what.to_owned(),
            index,
        });
    }
    Ok(data.len() / dim)
}

/// A collection of multi-vector documents stored contiguously
/// (all token rows of document 0, then document 1, …).
#[derive(Debug, Clone, PartialEq)]
pub struct DocEmbeddings {
    dim: usize,
    data: Vec<f32>,
    /// `len + 1` token offsets.
    offsets: Vec<usize>,
}

impl DocEmbeddings {
    /// An empty collection of `dim`-dimensional token embeddings.
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(RerankError::ZeroDim);
        }
        Ok(Self {
            dim,
            data: Vec::new(),
            offsets: vec![0],
        })
    }

    /// A collection from one flat row-major matrix per document.
    pub fn from_docs<D: AsRef<[f32]>>(dim: usize, docs: &[D]) -> Result<Self> {
        let mut out = Self::new(dim)?;
        out.data.reserve(docs.iter().map(|d| d.as_ref().len()).sum());
        for d in docs {
            out.push(d.as_ref())?;
        }
        Ok(out)
    }

    /// Appends a document (flat row-major matrix) and returns its id.
    pub fn push(&mut self, doc: &[f32]) -> Result<DocId> {
        let id = self.len();
        if id >= u32::MAX as usize {
            return Err(RerankError::TooManyDocuments);
        }
        let tokens = check_matrix(&format!("document {id}"), doc, self.dim)?;
        self.data.extend_from_slice(doc);
        self.offsets.push(self.offsets[id] + tokens);
        Ok(id as DocId)
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total number of token embeddings.
    pub fn num_tokens(&self) -> usize {
        self.offsets[self.len()]
    }

    /// Tokens of document `doc` as a flat row-major matrix.
    pub fn doc(&self, doc: DocId) -> Option<&[f32]> {
        let d = doc as usize;
        (d < self.len()).then(|| &self.data[self.offsets[d] * self.dim..self.offsets[d + 1] * self.dim])
    }

    /// Number of tokens of document `doc`.
    pub fn doc_len(&self, doc: DocId) -> Option<usize> {
        let d = doc as usize;
        (d < self.len()).then(|| self.offsets[d + 1] - self.offsets[d])
    }

    /// All token embeddings, row-major.
    pub fn tokens(&self) -> &[f32] {
        &self.data
    }

    /// Token offsets (`len + 1` entries): document `d` has tokens `offsets[d]..offsets[d+1]`.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }
}

/// MaxSim of `query` and `doc` (flat row-major matrices of dimension `dim`).
pub fn maxsim(query: &[f32], doc: &[f32], dim: usize) -> Result<Score> {
    let nq = check_matrix("query", query, dim)?;
    let nd = check_matrix("document", doc, dim)?;
    let mut scratch = Vec::new();
    Ok(maxsim_unchecked(query, nq, doc, nd, dim, &mut scratch))
}

/// MaxSim without validation; `scratch` is reused between calls.
pub(crate) fn maxsim_unchecked(
    query: &[f32],
    nq: usize,
    doc: &[f32],
    nd: usize,
    dim: usize,
    scratch: &mut Vec<f32>,
) -> Score {
    if nd == 0 || nq == 0 {
        return 0.0;
    }
    scratch.resize(nd * nq, 0.0);
    kernels::matmul_abt(doc, nd, query, nq, dim, scratch);
    max_rows_sum(&scratch[..nd * nq], nq)
}

/// Σ_j max_i rows[i][j] for a row-major `rows` with `nq` columns.
#[inline]
pub(crate) fn max_rows_sum(rows: &[f32], nq: usize) -> f32 {
    let mut best = [f32::NEG_INFINITY; 64];
    if nq <= 64 {
        let best = &mut best[..nq];
        for row in rows.chunks_exact(nq) {
            for (b, &v) in best.iter_mut().zip(row) {
                *b = b.max(v);
            }
        }
        best.iter().sum()
    } else {
        let mut best = vec![f32::NEG_INFINITY; nq];
        for row in rows.chunks_exact(nq) {
            for (b, &v) in best.iter_mut().zip(row) {
                *b = b.max(v);
            }
        }
        best.iter().sum()
    }
}

/// Reranks `candidates` by exact MaxSim against `query`; returns the best
/// `k` by score descending, ties by doc id ascending. Repeated candidates
/// are scored once.
pub fn rerank(query: &[f32], candidates: &[DocId], docs: &DocEmbeddings, k: usize) -> Result<Vec<Hit>> {
    let dim = docs.dim;
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
        let (a, b) = (docs.offsets[d as usize], docs.offsets[d as usize + 1]);
        let score = maxsim_unchecked(query, nq, &docs.data[a * dim..b * dim], b - a, dim, &mut scratch);
        Hit { doc: d, score }
    });
    Ok(top_k(hits.collect::<Vec<_>>(), k))
}

/// Exact MaxSim against every document: the exhaustive baseline. Token
/// matrices are multiplied in blocks of about 4096 tokens.
///
/// ```
/// use nodefusion_udfs::rerank::{exhaustive_search, DocEmbeddings};
/// let docs = DocEmbeddings::from_docs(2, &[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
/// assert_eq!(exhaustive_search(&[0.0, 1.0], &docs, 1).unwrap()[0].doc, 1);
/// ```
pub fn exhaustive_search(query: &[f32], docs: &DocEmbeddings, k: usize) -> Result<Vec<Hit>> {
    let dim = docs.dim;
    let nq = check_matrix("query", query, dim)?;
    const BLOCK_TOKENS: usize = 4096;
    let mut scratch: Vec<f32> = Vec::new();
    let mut scores: Vec<Hit> = Vec::with_capacity(docs.len());
    let mut d0 = 0;
    while d0 < docs.len() {
        let t0 = docs.offsets[d0];
        let mut d1 = d0 + 1;
        while d1 < docs.len() && docs.offsets[d1 + 1] - t0 <= BLOCK_TOKENS {
            d1 += 1;
        }
        let t1 = docs.offsets[d1];
        let n = t1 - t0;
        scratch.resize(n * nq, 0.0);
        kernels::matmul_abt(
            &docs.data[t0 * dim..t1 * dim],
            n,
            query,
            nq,
            dim,
            &mut scratch[..n * nq],
        );
        for d in d0..d1 {
            let (a, b) = (docs.offsets[d] - t0, docs.offsets[d + 1] - t0);
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
