//! Token-embedding matrices and exact late-interaction (MaxSim) scoring,
//! shared by [reranking](crate::rerank), [PLAID](crate::plaid) and the
//! [embedding lookup](crate::lookup).
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
//! use nodefusion_udfs::maxsim::{maxsim, DocEmbeddings};
//! let dim = 2;
//! let docs = DocEmbeddings::from_docs(dim, &[vec![1.0, 0.0], vec![0.0, 1.0, 0.6, 0.8]]).unwrap();
//! let query = [0.0, 1.0, 1.0, 0.0]; // two query tokens
//! assert_eq!(maxsim(&query, docs.doc(1).unwrap(), dim).unwrap(), 1.0 + 0.6);
//! ```

pub(crate) mod kernels;

use crate::hit::{DocId, Score};

/// Errors of token-embedding matrices: a zero dimension, a malformed or
/// non-finite matrix, too many documents.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MaxSimError {
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
    /// Documents said to span more values than the shared matrix holds, or
    /// fewer than it holds.
    #[error("the documents span {needed} values but the shared token matrix holds {available}")]
    Extent {
        /// Values the documents' lengths add up to (as far as counted).
        needed: usize,
        /// Values in the matrix.
        available: usize,
    },
    /// More than `u32::MAX` documents.
    #[error("too many documents: at most {} are supported", u32::MAX)]
    TooManyDocuments,
}

type Result<T, E = MaxSimError> = std::result::Result<T, E>;

/// The number of rows of `data`, a `what` matrix of dimension `dim`, after
/// checking its shape and values.
pub(crate) fn check_matrix(what: &str, data: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(MaxSimError::ZeroDim);
    }
    if !data.len().is_multiple_of(dim) {
        return Err(MaxSimError::Shape {
            what: what.to_owned(),
            len: data.len(),
            dim,
        });
    }
    if let Some(index) = data.iter().position(|v| !v.is_finite()) {
        return Err(MaxSimError::NonFinite {
            what: what.to_owned(),
            index,
        });
    }
    Ok(data.len() / dim)
}

/// A collection of multi-vector documents stored contiguously
/// (all token rows of document 0, then document 1, …), in memory of its own
/// or in memory it shares ([`DocEmbeddings::from_shared`]: an Arrow column,
/// a memory-mapped file).
#[derive(Clone)]
pub struct DocEmbeddings {
    dim: usize,
    data: Tokens,
    /// `len + 1` token offsets.
    offsets: Vec<usize>,
}

/// Memory holding the flat matrix of all tokens.
pub type SharedTokens = std::sync::Arc<dyn AsRef<[f32]> + Send + Sync>;

#[derive(Clone)]
enum Tokens {
    Owned(Vec<f32>),
    Shared(SharedTokens),
}

impl Tokens {
    fn as_slice(&self) -> &[f32] {
        match self {
            Tokens::Owned(values) => values,
            Tokens::Shared(values) => values.as_ref().as_ref(),
        }
    }

    /// The values as a growable vector (copied once if they were shared).
    fn to_mut(&mut self) -> &mut Vec<f32> {
        if let Tokens::Shared(values) = self {
            *self = Tokens::Owned(values.as_ref().as_ref().to_vec());
        }
        match self {
            Tokens::Owned(values) => values,
            Tokens::Shared(_) => unreachable!("made owned above"),
        }
    }
}

impl PartialEq for DocEmbeddings {
    fn eq(&self, other: &Self) -> bool {
        self.dim == other.dim && self.offsets == other.offsets && self.tokens() == other.tokens()
    }
}

impl std::fmt::Debug for DocEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocEmbeddings")
            .field("dim", &self.dim)
            .field("docs", &self.len())
            .field("tokens", &self.num_tokens())
            .field("shared", &matches!(self.data, Tokens::Shared(_)))
            .finish()
    }
}

impl DocEmbeddings {
    /// An empty collection of `dim`-dimensional token embeddings.
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(MaxSimError::ZeroDim);
        }
        Ok(Self {
            dim,
            data: Tokens::Owned(Vec::new()),
            offsets: vec![0],
        })
    }

    /// A collection from one flat row-major matrix per document.
    pub fn from_docs<D: AsRef<[f32]>>(dim: usize, docs: &[D]) -> Result<Self> {
        let mut out = Self::new(dim)?;
        out.data.to_mut().reserve(docs.iter().map(|d| d.as_ref().len()).sum());
        for d in docs {
            out.push(d.as_ref())?;
        }
        Ok(out)
    }

    /// A collection over the flat row-major matrix of all documents held in
    /// `tokens`, without copying it; `doc_values[d]` is the number of values
    /// (tokens × `dim`) of document `d`. Checked as [`from_docs`](Self::from_docs)
    /// checks; [`push`](Self::push) copies the values into memory of the
    /// collection's own first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nodefusion_udfs::maxsim::DocEmbeddings;
    /// let tokens = Arc::new(vec![1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8]);
    /// let docs = DocEmbeddings::from_shared(2, tokens, &[2, 4]).unwrap();
    /// assert_eq!(docs.doc(1).unwrap(), &[0.0, 1.0, 0.6, 0.8]);
    /// assert_eq!(docs, DocEmbeddings::from_docs(2, &[vec![1.0, 0.0], vec![0.0, 1.0, 0.6, 0.8]]).unwrap());
    /// ```
    pub fn from_shared(dim: usize, tokens: SharedTokens, doc_values: &[usize]) -> Result<Self> {
        if dim == 0 {
            return Err(MaxSimError::ZeroDim);
        }
        if doc_values.len() > u32::MAX as usize {
            return Err(MaxSimError::TooManyDocuments);
        }
        let data = (*tokens).as_ref();
        let extent = |needed: usize| MaxSimError::Extent {
            needed,
            available: data.len(),
        };
        let mut offsets = Vec::with_capacity(doc_values.len() + 1);
        offsets.push(0);
        let mut start = 0usize;
        for (id, &len) in doc_values.iter().enumerate() {
            let end = start.checked_add(len).ok_or_else(|| extent(usize::MAX))?;
            let doc = data.get(start..end).ok_or_else(|| extent(end))?;
            let rows = check_matrix(&format!("document {id}"), doc, dim)?;
            offsets.push(offsets[id] + rows);
            start = end;
        }
        if start != data.len() {
            return Err(extent(start));
        }
        Ok(Self {
            dim,
            data: Tokens::Shared(tokens),
            offsets,
        })
    }

    /// Appends a document (flat row-major matrix) and returns its id.
    pub fn push(&mut self, doc: &[f32]) -> Result<DocId> {
        let id = self.len();
        if id >= u32::MAX as usize {
            return Err(MaxSimError::TooManyDocuments);
        }
        let tokens = check_matrix(&format!("document {id}"), doc, self.dim)?;
        self.data.to_mut().extend_from_slice(doc);
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
        (d < self.len()).then(|| &self.tokens()[self.offsets[d] * self.dim..self.offsets[d + 1] * self.dim])
    }

    /// Number of tokens of document `doc`.
    pub fn doc_len(&self, doc: DocId) -> Option<usize> {
        let d = doc as usize;
        (d < self.len()).then(|| self.offsets[d + 1] - self.offsets[d])
    }

    /// All token embeddings, row-major.
    pub fn tokens(&self) -> &[f32] {
        self.data.as_slice()
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
