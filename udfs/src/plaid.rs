//! PLAID: a compressed multi-vector index with centroid-interaction search.
//!
//! References: K. Santhanam, O. Khattab, C. Potts, M. Zaharia, *PLAID: An
//! Efficient Engine for Late Interaction Retrieval*, CIKM 2022; K. Santhanam
//! et al., *ColBERTv2: Effective and Efficient Retrieval via Lightweight Late
//! Interaction*, NAACL 2022 (residual compression); upstream code:
//! <https://github.com/stanford-futuredata/ColBERT>.
//!
//! # Build
//!
//! 1. k-means (spherical, [`PlaidBuildParams::kmeans_iters`] iterations) over
//!    the token embeddings of a sample of documents, as ColBERTv2:
//!    `min(N, 1 + 16·sqrt(120·N))` documents, at most 256 points per centroid;
//!    `2^floor(log2(16·sqrt(T)))` centroids for `T` tokens, at most `T`.
//! 2. Every token is assigned to its nearest centroid (its *code*); its
//!    residual is quantised to `nbits ∈ {1, 2, 4}` bits per dimension with
//!    buckets from the quantiles of held-out residuals, refined by a few
//!    Lloyd–Max iterations ([`PlaidBuildParams::lloyd_iters`]).
//! 3. An inverted file maps each centroid to the documents having a token
//!    with that code.
//!
//! At dimension 128 and `nbits = 2` a token costs 2 bytes of code (4 when
//! there are more than 65 536 centroids) + 32 bytes of residual, plus its
//! share of the inverted file.
//!
//! # Search (PLAID's four stages)
//!
//! ```text
//! S = C · Qᵀ                                   centroid scores, one row per centroid
//! 1. candidates: documents in the inverted lists of each query token's top `ncells` centroids
//! 2. pruned centroid interaction: Σ_q max over the document's codes c with
//!    max_q S[c] ≥ centroid_score_threshold of S[c][q]; keep the best `ndocs`
//! 3. full centroid interaction on those; keep the best max(ndocs / 4, k)
//! 4. decompress them and rank by exact MaxSim; return the best k
//! ```
//!
//! [`SearchParams::for_k`] gives ColBERTv2's defaults.
//!
//! # Accuracy
//!
//! On a clustered synthetic corpus (2,500 passages, dim 128, see
//! `tests/retrieval/plaid.rs`) stages 1–3 keep every document of the exact
//! MaxSim top 10; what PLAID loses comes from ranking stage 4 on
//! decompressed embeddings: Recall@10 against exact MaxSim is about 0.93 at
//! nbits 2 and 0.98 at nbits 4. Reranking [`PlaidIndex::candidates`] with
//! full-precision embeddings ([`crate::rerank::rerank`]) recovers 1.0.
//!
//! ```
//! use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidIndex};
//! use nodefusion_udfs::rerank::DocEmbeddings;
//! // Three documents of 2-dimensional unit vectors.
//! let docs = DocEmbeddings::from_docs(2, &[
//!     vec![1.0, 0.0, 0.8, 0.6],
//!     vec![0.0, 1.0],
//!     vec![0.6, 0.8, -1.0, 0.0],
//! ]).unwrap();
//! let index = PlaidIndex::build(&docs, &PlaidBuildParams::default()).unwrap();
//! let hits = index.search(&[0.0, 1.0], 1).unwrap();
//! assert_eq!(hits[0].doc, 1);
//! ```

mod codec;
mod ivf;
mod kmeans;

use std::cell::RefCell;
use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::codec::ResidualCodec;
use self::ivf::InvertedFile;
use self::kmeans::Rows;
use crate::fusion::top_k;
pub use crate::fusion::{DocId, Hit, Score};
use crate::rerank::kernels::matmul_abt;
use crate::rerank::{DocEmbeddings, RerankError, check_matrix, maxsim_unchecked};
use crate::store::{self, Array, IndexLocation, IndexReader, IndexWriter, Manifest, Pod, StoreError, StringTable};

/// Format version this build writes.
pub const FORMAT_VERSION: u32 = 1;
/// Oldest format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Index kind recorded in the manifest.
pub const INDEX_KIND: &str = "plaid";

/// Errors of PLAID indexing and search.
#[derive(Debug, thiserror::Error)]
pub enum PlaidError {
    /// A build or search parameter is out of range.
    #[error("invalid PLAID parameter {name}: expected {expected}, found {found}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// Valid values.
        expected: &'static str,
        /// Value given.
        found: String,
    },
    /// The collection has no token embeddings to train centroids on.
    #[error("cannot build a PLAID index from {docs} documents with 0 token embeddings: expected at least one token")]
    NoTokens {
        /// Number of documents.
        docs: usize,
    },
    /// External ids must match the documents one to one.
    #[error("expected one external id per document ({expected}), found {found}")]
    ExternalIdCount {
        /// Number of documents.
        expected: usize,
        /// Number of ids.
        found: usize,
    },
    /// A query or document matrix is malformed.
    #[error(transparent)]
    Embeddings(#[from] RerankError),
    /// Persistence failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = PlaidError> = std::result::Result<T, E>;

/// Build parameters; recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlaidBuildParams {
    /// Bits per residual dimension: 1, 2 or 4 (default 2).
    pub nbits: u8,
    /// Number of centroids (default: ColBERTv2's `2^floor(log2(16·sqrt(T)))`).
    pub num_centroids: Option<usize>,
    /// k-means iterations (default 4, as ColBERTv2).
    pub kmeans_iters: usize,
    /// At most this many training points per centroid (default 256, as faiss).
    pub max_points_per_centroid: usize,
    /// Lloyd–Max refinements of the residual buckets after ColBERTv2's
    /// quantile initialisation (default 10; 0 keeps ColBERTv2's buckets).
    /// On the clustered test corpus at nbits 2 this raises the mean cosine
    /// between original and decompressed tokens from 0.979 to 0.983 and
    /// PLAID's Recall@10 against exact MaxSim from 0.89 to 0.93.
    pub lloyd_iters: usize,
    /// Seed of every random choice (sampling, initialisation).
    pub seed: u64,
}

impl Default for PlaidBuildParams {
    fn default() -> Self {
        Self {
            nbits: 2,
            num_centroids: None,
            kmeans_iters: 4,
            max_points_per_centroid: 256,
            lloyd_iters: 10,
            seed: 12345,
        }
    }
}

/// ColBERTv2's number of centroids for `num_tokens` token embeddings:
/// `2^floor(log2(16·sqrt(T)))`, at most `T` (and at least 1).
///
/// ```
/// assert_eq!(nodefusion_udfs::plaid::default_num_centroids(90_000), 4096);
/// assert_eq!(nodefusion_udfs::plaid::default_num_centroids(10), 10);
/// ```
pub fn default_num_centroids(num_tokens: usize) -> usize {
    let x = 16.0 * (num_tokens as f64).sqrt();
    let pow = if x >= 1.0 {
        1usize << (x.log2().floor() as u32)
    } else {
        1
    };
    pow.min(num_tokens).max(1)
}

/// Search parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    /// Number of results.
    pub k: usize,
    /// Centroids probed per query token (stage 1).
    pub ncells: usize,
    /// Centroids whose best query-token score is below this are ignored in stage 2.
    pub centroid_score_threshold: f32,
    /// Candidates kept after stage 2 (stage 3 keeps a quarter, at least `k`).
    pub ndocs: usize,
}

impl SearchParams {
    /// ColBERTv2's defaults for `k` results: `k ≤ 10`: (ncells 1, threshold
    /// 0.5, ndocs 256); `k ≤ 100`: (2, 0.45, 1024); else (4, 0.4, max(4k, 4096)).
    ///
    /// ```
    /// let p = nodefusion_udfs::plaid::SearchParams::for_k(10);
    /// assert_eq!((p.ncells, p.centroid_score_threshold, p.ndocs), (1, 0.5, 256));
    /// ```
    pub fn for_k(k: usize) -> Self {
        let (ncells, centroid_score_threshold, ndocs) = if k <= 10 {
            (1, 0.5, 256)
        } else if k <= 100 {
            (2, 0.45, 1024)
        } else {
            (4, 0.4, k.saturating_mul(4).max(4096))
        };
        Self {
            k,
            ncells,
            centroid_score_threshold,
            ndocs,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.ncells == 0 {
            return Err(PlaidError::InvalidParam {
                name: "ncells",
                expected: ">= 1",
                found: "0".into(),
            });
        }
        if self.centroid_score_threshold.is_nan() {
            return Err(PlaidError::InvalidParam {
                name: "centroid_score_threshold",
                expected: "a number",
                found: "NaN".into(),
            });
        }
        Ok(())
    }
}

/// Centroid ids per token, 2 bytes when there are at most 65 536 centroids.
#[derive(Clone)]
enum Codes {
    U16(Array<u16>),
    U32(Array<u32>),
}

trait Code: Pod {
    fn idx(self) -> usize;
}
impl Code for u16 {
    #[inline]
    fn idx(self) -> usize {
        self as usize
    }
}
impl Code for u32 {
    #[inline]
    fn idx(self) -> usize {
        self as usize
    }
}

impl Codes {
    fn len(&self) -> usize {
        match self {
            Codes::U16(a) => a.len(),
            Codes::U32(a) => a.len(),
        }
    }

    fn width(&self) -> usize {
        match self {
            Codes::U16(_) => 2,
            Codes::U32(_) => 4,
        }
    }

    fn get(&self, i: usize) -> usize {
        match self {
            Codes::U16(a) => a[i] as usize,
            Codes::U32(a) => a[i] as usize,
        }
    }

    fn file_name(&self) -> &'static str {
        match self {
            Codes::U16(_) => "codes.u16",
            Codes::U32(_) => "codes.u32",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Counts {
    num_docs: u64,
    num_tokens: u64,
    num_centroids: u64,
    dim: u64,
    code_bytes: u64,
    ivf_entries: u64,
    kmeans_points: u64,
    has_external_ids: bool,
}

/// Storage used by an index, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageStats {
    /// Centroid matrix (f32).
    pub centroids: u64,
    /// Centroid id per token.
    pub codes: u64,
    /// Packed residuals.
    pub residuals: u64,
    /// Inverted file document lists (varint gaps).
    pub ivf: u64,
    /// Inverted file offsets (one per centroid).
    pub ivf_offsets: u64,
    /// Document lengths.
    pub doclens: u64,
    /// Number of token embeddings.
    pub num_tokens: u64,
}

impl StorageStats {
    /// Bytes per token of what grows with the collection (codes, residuals,
    /// inverted file lists, document lengths), excluding the per-centroid
    /// tables (centroid matrix, inverted file offsets).
    pub fn bytes_per_token(&self) -> f64 {
        (self.codes + self.residuals + self.ivf + self.doclens) as f64 / self.num_tokens.max(1) as f64
    }

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.centroids + self.codes + self.residuals + self.ivf + self.ivf_offsets + self.doclens
    }
}

/// A PLAID index.
#[derive(Clone)]
pub struct PlaidIndex {
    params: PlaidBuildParams,
    dim: usize,
    num_centroids: usize,
    centroids: Array<f32>,
    codec: ResidualCodec,
    codes: Codes,
    residuals: bytes::Bytes,
    doclens: Array<u32>,
    /// `num_docs + 1` token offsets derived from `doclens`.
    doc_offsets: Vec<u64>,
    ivf: InvertedFile,
    external_ids: Option<StringTable>,
    counts: Counts,
}

impl std::fmt::Debug for PlaidIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaidIndex")
            .field("params", &self.params)
            .field("counts", &self.counts)
            .finish()
    }
}

/// Per-thread search buffers.
#[derive(Default)]
struct Scratch {
    centroid_scores: Vec<f32>,
    keep: Vec<bool>,
    candidates: Vec<u32>,
    approx: Vec<Hit>,
    decoded: Vec<f32>,
    sim: Vec<f32>,
    best: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl PlaidIndex {
    /// Builds an index over `docs`; document `i` keeps id `i`.
    pub fn build(docs: &DocEmbeddings, params: &PlaidBuildParams) -> Result<Self> {
        let _span = tracing::info_span!("plaid_build", docs = docs.len(), tokens = docs.num_tokens()).entered();
        if ![1u8, 2, 4].contains(&params.nbits) {
            return Err(PlaidError::InvalidParam {
                name: "nbits",
                expected: "1, 2 or 4",
                found: params.nbits.to_string(),
            });
        }
        if params.num_centroids == Some(0) {
            return Err(PlaidError::InvalidParam {
                name: "num_centroids",
                expected: ">= 1",
                found: "0".into(),
            });
        }
        if params.max_points_per_centroid == 0 {
            return Err(PlaidError::InvalidParam {
                name: "max_points_per_centroid",
                expected: ">= 1",
                found: "0".into(),
            });
        }
        let dim = docs.dim();
        let total = docs.num_tokens();
        if total == 0 {
            return Err(PlaidError::NoTokens { docs: docs.len() });
        }
        let tokens = docs.tokens();
        let mut rng = StdRng::seed_from_u64(params.seed);

        // Sample documents as ColBERTv2, then points.
        let n = docs.len();
        let sample_docs = n.min(1 + (16.0 * (120.0 * n as f64).sqrt()) as usize);
        let mut doc_ids: Vec<usize> = (0..n).collect();
        doc_ids.shuffle(&mut rng);
        let mut point_ids: Vec<usize> = doc_ids[..sample_docs]
            .iter()
            .flat_map(|&d| docs.offsets()[d]..docs.offsets()[d + 1])
            .collect();
        point_ids.shuffle(&mut rng);
        // Held-out points for the residual buckets (5%, at most 50k), kept
        // out of k-means training when enough points remain.
        let heldout_n = (point_ids.len() / 20).clamp(1, 50_000);
        let k_wanted = params.num_centroids.unwrap_or_else(|| default_num_centroids(total));
        let (heldout, train) = if point_ids.len() - heldout_n >= k_wanted {
            point_ids.split_at(heldout_n)
        } else {
            (&point_ids[..heldout_n], &point_ids[..])
        };
        let max_train = k_wanted.saturating_mul(params.max_points_per_centroid);
        let train = &train[..train.len().min(max_train)];
        let num_centroids = k_wanted.min(train.len());
        let centroids = {
            let _s = tracing::info_span!("kmeans", k = num_centroids, points = train.len()).entered();
            kmeans::kmeans(
                Rows::picked(tokens, dim, train),
                num_centroids,
                params.kmeans_iters,
                params.seed,
            )
        };

        // Residual buckets from held-out residuals.
        let heldout = Rows::picked(tokens, dim, heldout);
        let heldout_codes = kmeans::assign(heldout, &centroids, num_centroids);
        let mut values = Vec::with_capacity(heldout.len() * dim);
        for (i, &c) in heldout_codes.iter().enumerate() {
            let c = &centroids[c as usize * dim..(c as usize + 1) * dim];
            values.extend(heldout.row(i).iter().zip(c).map(|(x, y)| x - y));
        }
        let (cutoffs, weights) = codec::train_buckets(values, params.nbits, params.lloyd_iters);
        let codec = ResidualCodec::new(dim, params.nbits, cutoffs, weights);

        // Codes and packed residuals of every token.
        let all_codes = {
            let _s = tracing::info_span!("assign", tokens = total).entered();
            kmeans::assign(Rows::all(tokens, dim), &centroids, num_centroids)
        };
        let bpt = codec.bytes_per_token();
        let mut residuals = vec![0u8; total * bpt];
        residuals
            .par_chunks_mut(bpt * 1024)
            .zip(tokens.par_chunks(dim * 1024))
            .zip(all_codes.par_chunks(1024))
            .for_each(|((out, pts), codes)| {
                let mut r = vec![0f32; dim];
                for ((o, p), &c) in out.chunks_exact_mut(bpt).zip(pts.chunks_exact(dim)).zip(codes) {
                    let cen = &centroids[c as usize * dim..(c as usize + 1) * dim];
                    for ((ri, x), y) in r.iter_mut().zip(p).zip(cen) {
                        *ri = x - y;
                    }
                    codec.encode(&r, o);
                }
            });

        // Inverted file: centroid -> documents (ascending, unique).
        let doc_offsets: Vec<u64> = docs.offsets().iter().map(|&o| o as u64).collect();
        let per_doc: Vec<Vec<u32>> = (0..n)
            .into_par_iter()
            .map(|d| {
                let mut c: Vec<u32> = all_codes[docs.offsets()[d]..docs.offsets()[d + 1]].to_vec();
                c.sort_unstable();
                c.dedup();
                c
            })
            .collect();
        let mut counts_per_centroid = vec![0usize; num_centroids];
        per_doc
            .iter()
            .flatten()
            .for_each(|&c| counts_per_centroid[c as usize] += 1);
        let mut starts = Vec::with_capacity(num_centroids + 1);
        starts.push(0usize);
        for c in &counts_per_centroid {
            starts.push(starts[starts.len() - 1] + c);
        }
        let mut cursor = starts[..num_centroids].to_vec();
        let mut flat = vec![0u32; starts[num_centroids]];
        for (d, cs) in per_doc.iter().enumerate() {
            for &c in cs {
                flat[cursor[c as usize]] = d as u32;
                cursor[c as usize] += 1;
            }
        }
        let ivf = InvertedFile::from_lists(starts.windows(2).map(|w| &flat[w[0]..w[1]]));
        let codes = if num_centroids <= 1 << 16 {
            Codes::U16(Array::from_vec(all_codes.iter().map(|&c| c as u16).collect()))
        } else {
            Codes::U32(Array::from_vec(all_codes))
        };
        let doclens: Vec<u32> = (0..n).map(|d| (doc_offsets[d + 1] - doc_offsets[d]) as u32).collect();
        let counts = Counts {
            num_docs: n as u64,
            num_tokens: total as u64,
            num_centroids: num_centroids as u64,
            dim: dim as u64,
            code_bytes: codes.width() as u64,
            ivf_entries: flat.len() as u64,
            kmeans_points: train.len() as u64,
            has_external_ids: false,
        };
        Ok(Self {
            params: params.clone(),
            dim,
            num_centroids,
            centroids: Array::from_vec(centroids),
            codec,
            codes,
            residuals: bytes::Bytes::from(residuals),
            doclens: Array::from_vec(doclens),
            doc_offsets,
            ivf,
            external_ids: None,
            counts,
        })
    }

    /// Attaches external document ids (one per document, in id order).
    pub fn with_external_ids<S: AsRef<str>>(mut self, ids: &[S]) -> Result<Self> {
        if ids.len() as u64 != self.counts.num_docs {
            return Err(PlaidError::ExternalIdCount {
                expected: self.num_docs(),
                found: ids.len(),
            });
        }
        self.external_ids = Some(StringTable::from_strings(ids));
        self.counts.has_external_ids = true;
        Ok(self)
    }

    /// External id of `doc`, when the index has them.
    pub fn external_id(&self, doc: DocId) -> Option<&str> {
        let ids = self.external_ids.as_ref()?;
        ((doc as usize) < ids.len()).then(|| ids.get(doc as usize))
    }

    /// The build parameters.
    pub fn params(&self) -> &PlaidBuildParams {
        &self.params
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of documents.
    pub fn num_docs(&self) -> usize {
        self.doc_offsets.len() - 1
    }

    /// Number of token embeddings.
    pub fn num_tokens(&self) -> usize {
        self.codes.len()
    }

    /// Number of centroids.
    pub fn num_centroids(&self) -> usize {
        self.num_centroids
    }

    /// Bytes used, by part.
    pub fn storage(&self) -> StorageStats {
        StorageStats {
            centroids: (self.centroids.len() * 4) as u64,
            codes: (self.codes.len() * self.codes.width()) as u64,
            residuals: self.residuals.len() as u64,
            ivf: self.ivf.lists.len() as u64,
            ivf_offsets: (self.ivf.offsets.len() * 8) as u64,
            doclens: (self.doclens.len() * 4) as u64,
            num_tokens: self.codes.len() as u64,
        }
    }

    /// The decompressed token embeddings of `doc` (row-major), or `None` for
    /// an unknown id.
    pub fn decompress(&self, doc: DocId) -> Option<Vec<f32>> {
        let d = doc as usize;
        if d >= self.num_docs() {
            return None;
        }
        let mut out = Vec::new();
        self.decompress_into(d, &mut out);
        Some(out)
    }

    fn decompress_into(&self, d: usize, out: &mut Vec<f32>) {
        let (a, b) = (self.doc_offsets[d] as usize, self.doc_offsets[d + 1] as usize);
        let dim = self.dim;
        let bpt = self.codec.bytes_per_token();
        out.resize((b - a) * dim, 0.0);
        for (t, row) in (a..b).zip(out.chunks_exact_mut(dim)) {
            let c = self.codes.get(t);
            self.codec.decode(
                &self.centroids[c * dim..(c + 1) * dim],
                &self.residuals[t * bpt..(t + 1) * bpt],
                row,
            );
        }
    }

    /// The best `k` documents for `query` (flat row-major, one row per query
    /// token) with [`SearchParams::for_k`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, &SearchParams::for_k(k))
    }

    /// [`search`](Self::search) with explicit parameters.
    pub fn search_with(&self, query: &[f32], params: &SearchParams) -> Result<Vec<Hit>> {
        self.with_candidates(query, params, |candidates, nq, s| {
            // Stage 4: exact MaxSim on decompressed embeddings.
            let mut finals = Vec::with_capacity(candidates.len());
            for h in candidates {
                self.decompress_into(h.doc as usize, &mut s.decoded);
                let nd = s.decoded.len() / self.dim;
                let score = maxsim_unchecked(query, nq, &s.decoded, nd, self.dim, &mut s.sim);
                finals.push(Hit { doc: h.doc, score });
            }
            top_k(finals, params.k)
        })
    }

    /// Stages 1–3 only: the `max(ndocs / 4, k)` candidates that stage 4
    /// would decompress, with their centroid-interaction scores, best first.
    /// Useful to rerank with full-precision embeddings instead
    /// ([`crate::rerank::rerank`]).
    pub fn candidates(&self, query: &[f32], params: &SearchParams) -> Result<Vec<Hit>> {
        self.with_candidates(query, params, |candidates, _, _| candidates)
    }

    /// Validates the inputs, runs stages 1–3 and hands their candidates (with
    /// the number of query tokens and this thread's scratch space) to
    /// `finish`. Empty queries, `k = 0` and empty indexes give no hits.
    fn with_candidates(
        &self,
        query: &[f32],
        params: &SearchParams,
        finish: impl FnOnce(Vec<Hit>, usize, &mut Scratch) -> Vec<Hit>,
    ) -> Result<Vec<Hit>> {
        params.validate()?;
        let nq = check_matrix("query", query, self.dim)?;
        if nq == 0 || params.k == 0 || self.num_docs() == 0 {
            return Ok(Vec::new());
        }
        Ok(SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let candidates = match &self.codes {
                Codes::U16(c) => self.candidates_impl(c, query, nq, params, s),
                Codes::U32(c) => self.candidates_impl(c, query, nq, params, s),
            };
            finish(candidates, nq, s)
        }))
    }

    /// [`search_with`](Self::search_with) for many queries, in parallel.
    pub fn search_batch<Q: AsRef<[f32]> + Sync>(&self, queries: &[Q], params: &SearchParams) -> Result<Vec<Vec<Hit>>> {
        queries
            .par_iter()
            .map(|q| self.search_with(q.as_ref(), params))
            .collect()
    }

    fn candidates_impl<C: Code>(
        &self,
        codes: &[C],
        query: &[f32],
        nq: usize,
        p: &SearchParams,
        s: &mut Scratch,
    ) -> Vec<Hit> {
        let nc = self.num_centroids;
        let dim = self.dim;
        // S[c][q] = <centroid c, query token q>.
        s.centroid_scores.resize(nc * nq, 0.0);
        matmul_abt(&self.centroids, nc, query, nq, dim, &mut s.centroid_scores);
        let scores = &s.centroid_scores;

        // Stage 1: candidate documents from each query token's top cells.
        let ncells = p.ncells.min(nc);
        s.candidates.clear();
        let mut top: Vec<(f32, u32)> = Vec::with_capacity(ncells + 1);
        for q in 0..nq {
            top.clear();
            for c in 0..nc {
                let v = scores[c * nq + q];
                if top.len() < ncells || v > top[top.len() - 1].0 {
                    let pos = top.partition_point(|&(x, _)| x >= v);
                    top.insert(pos, (v, c as u32));
                    top.truncate(ncells);
                }
            }
            for &(_, c) in &top {
                self.ivf.extend_docs(c as usize, &mut s.candidates);
            }
        }
        // A corpus within the candidate budget is searched whole: its few
        // cells would otherwise leave fewer than k candidates.
        if self.num_docs() <= p.ndocs.max(p.k) {
            s.candidates.clear();
            s.candidates.extend(0..self.num_docs() as u32);
        }
        s.candidates.sort_unstable();
        s.candidates.dedup();

        // Stage 2: centroid interaction with pruning.
        s.keep.clear();
        s.keep.extend(
            scores
                .chunks_exact(nq)
                .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max) >= p.centroid_score_threshold),
        );
        s.best.resize(nq, 0.0);
        s.approx.clear();
        for &d in &s.candidates {
            let (a, b) = (
                self.doc_offsets[d as usize] as usize,
                self.doc_offsets[d as usize + 1] as usize,
            );
            let score = centroid_interaction(&codes[a..b], scores, nq, Some(&s.keep), &mut s.best);
            s.approx.push(Hit { doc: d, score });
        }
        let ndocs = p.ndocs.max(p.k);
        let stage2 = top_k(s.approx.drain(..), ndocs);

        // Stage 3: centroid interaction without pruning.
        let stage3_n = (ndocs / 4).max(p.k);
        if stage2.len() > stage3_n {
            let rescored: Vec<Hit> = stage2
                .iter()
                .map(|h| {
                    let (a, b) = (
                        self.doc_offsets[h.doc as usize] as usize,
                        self.doc_offsets[h.doc as usize + 1] as usize,
                    );
                    Hit {
                        doc: h.doc,
                        score: centroid_interaction(&codes[a..b], scores, nq, None, &mut s.best),
                    }
                })
                .collect();
            top_k(rescored, stage3_n)
        } else {
            stage2
        }
    }

    /// Writes the index to `location`. With `overwrite` (the pipeline's
    /// `override`) false an existing index is an error; with true it is
    /// replaced atomically (see [`crate::store`]).
    pub fn write(&self, location: &IndexLocation, overwrite: bool) -> Result<Manifest> {
        store::block_on(self.write_async(location, overwrite))?
    }

    /// Async form of [`write`](Self::write).
    pub async fn write_async(&self, location: &IndexLocation, overwrite: bool) -> Result<Manifest> {
        let mut w = IndexWriter::begin(location, overwrite).await?;
        w.put_array("centroids.f32", &self.centroids).await?;
        let mut buckets = self.codec.cutoffs.clone();
        buckets.extend_from_slice(&self.codec.weights);
        w.put_array("buckets.f32", &buckets).await?;
        match &self.codes {
            Codes::U16(c) => w.put_array("codes.u16", c).await?,
            Codes::U32(c) => w.put_array("codes.u32", c).await?,
        }
        w.put("residuals.u8", self.residuals.clone()).await?;
        w.put_array("doclens.u32", &self.doclens).await?;
        w.put_array("ivf.off", &self.ivf.offsets).await?;
        w.put("ivf.doc", self.ivf.lists.clone()).await?;
        if let Some(ids) = &self.external_ids {
            ids.write(&mut w, "external_ids").await?;
        }
        let params = serde_json::to_value(&self.params).unwrap_or_default();
        let counts = serde_json::to_value(&self.counts).unwrap_or_default();
        Ok(
            w.publish(INDEX_KIND, FORMAT_VERSION, OLDEST_READABLE_VERSION, params, counts)
                .await?,
        )
    }

    /// Loads the index at `location`, validating manifest, checksums and content.
    pub fn load(location: &IndexLocation) -> Result<Self> {
        store::block_on(Self::load_async(location))?
    }

    /// Async form of [`load`](Self::load).
    pub async fn load_async(location: &IndexLocation) -> Result<Self> {
        let r = IndexReader::open(location.clone(), INDEX_KIND, FORMAT_VERSION, OLDEST_READABLE_VERSION).await?;
        let params: PlaidBuildParams = r.params()?;
        let counts: Counts = r.counts()?;
        let bad = |file: &str, reason: String| {
            PlaidError::from(StoreError::InvalidContent {
                file: r.file_display(file),
                reason,
            })
        };
        let manifest_err = |reason: String| {
            PlaidError::from(StoreError::BadManifest {
                file: format!("{}/{}", location.uri(), store::MANIFEST_FILE),
                reason,
            })
        };
        if ![1u8, 2, 4].contains(&params.nbits) {
            return Err(manifest_err(format!(
                "expected params.nbits in 1, 2, 4, found {}",
                params.nbits
            )));
        }
        let (dim, nc, n, t) = (
            counts.dim as usize,
            counts.num_centroids as usize,
            counts.num_docs as usize,
            counts.num_tokens as usize,
        );
        if dim == 0 || nc == 0 {
            return Err(manifest_err(format!(
                "expected counts.dim and counts.num_centroids >= 1, found {dim} and {nc}"
            )));
        }
        let centroids = r.read_array::<f32>("centroids.f32").await?;
        if centroids.len() != nc * dim {
            return Err(bad(
                "centroids.f32",
                format!("expected {nc}×{dim} values, found {}", centroids.len()),
            ));
        }
        let buckets = r.read_array::<f32>("buckets.f32").await?;
        let options = 1usize << params.nbits;
        if buckets.len() != 2 * options - 1 {
            return Err(bad(
                "buckets.f32",
                format!("expected {} values, found {}", 2 * options - 1, buckets.len()),
            ));
        }
        let codec = ResidualCodec::new(
            dim,
            params.nbits,
            buckets[..options - 1].to_vec(),
            buckets[options - 1..].to_vec(),
        );
        let codes = match counts.code_bytes {
            2 => Codes::U16(r.read_array::<u16>("codes.u16").await?),
            4 => Codes::U32(r.read_array::<u32>("codes.u32").await?),
            other => {
                return Err(manifest_err(format!(
                    "expected counts.code_bytes 2 or 4, found {other}"
                )));
            }
        };
        let codes_file = codes.file_name();
        if codes.len() != t {
            return Err(bad(codes_file, format!("expected {t} codes, found {}", codes.len())));
        }
        let out_of_range = match &codes {
            Codes::U16(c) => c.iter().position(|&x| x as usize >= nc),
            Codes::U32(c) => c.iter().position(|&x| x as usize >= nc),
        };
        if let Some(i) = out_of_range {
            return Err(bad(
                codes_file,
                format!("expected codes < {nc}, found {} at token {i}", codes.get(i)),
            ));
        }
        let residuals = r.read("residuals.u8").await?;
        if residuals.len() != t * codec.bytes_per_token() {
            return Err(bad(
                "residuals.u8",
                format!(
                    "expected {} bytes, found {}",
                    t * codec.bytes_per_token(),
                    residuals.len()
                ),
            ));
        }
        let doclens = r.read_array::<u32>("doclens.u32").await?;
        if doclens.len() != n {
            return Err(bad(
                "doclens.u32",
                format!("expected {n} lengths, found {}", doclens.len()),
            ));
        }
        let mut doc_offsets = Vec::with_capacity(n + 1);
        doc_offsets.push(0u64);
        for &l in doclens.iter() {
            doc_offsets.push(doc_offsets[doc_offsets.len() - 1] + l as u64);
        }
        if doc_offsets[n] != t as u64 {
            return Err(bad(
                "doclens.u32",
                format!("expected lengths summing to {t} tokens, found {}", doc_offsets[n]),
            ));
        }
        let ivf = InvertedFile {
            offsets: r.read_array::<u64>("ivf.off").await?,
            lists: r.read("ivf.doc").await?,
        };
        match ivf.validate(nc, n) {
            Ok(entries) if entries == counts.ivf_entries => {}
            Ok(entries) => {
                return Err(bad(
                    "ivf.doc",
                    format!(
                        "expected {} entries, found {entries} in the lists ivf.off delimits",
                        counts.ivf_entries
                    ),
                ));
            }
            Err(reason) => {
                let file = if reason.contains("offsets") {
                    "ivf.off"
                } else {
                    "ivf.doc"
                };
                return Err(bad(file, reason));
            }
        }
        let external_ids = if counts.has_external_ids {
            Some(r.read_strings("external_ids").await?)
        } else {
            None
        };
        if let Some(ids) = &external_ids
            && ids.len() != n
        {
            return Err(bad(
                "external_ids.off",
                format!("expected {n} ids, found {}", ids.len()),
            ));
        }
        Ok(Self {
            params,
            dim,
            num_centroids: nc,
            centroids,
            codec,
            codes,
            residuals,
            doclens,
            doc_offsets,
            ivf,
            external_ids,
            counts,
        })
    }
}

/// Σ_q max over the document's codes (optionally only kept centroids) of S[c][q];
/// 0 for a query token no kept code reaches.
#[inline]
fn centroid_interaction<C: Code>(
    codes: &[C],
    scores: &[f32],
    nq: usize,
    keep: Option<&[bool]>,
    best: &mut [f32],
) -> f32 {
    let best = &mut best[..nq];
    best.fill(0.0);
    for &c in codes {
        let c = c.idx();
        if let Some(keep) = keep
            && !keep[c]
        {
            continue;
        }
        for (b, &v) in best.iter_mut().zip(&scores[c * nq..(c + 1) * nq]) {
            *b = b.max(v);
        }
    }
    best.iter().sum()
}

/// A serialisable reference to a stored PLAID index (a "resource config"):
/// travels in plans, resolved with [`load`](Self::load) on each worker.
///
/// ```
/// use nodefusion_udfs::plaid::PlaidIndexHandle;
/// let h = PlaidIndexHandle::new("/data/indexes/plaid_he");
/// let json = serde_json::to_string(&h).unwrap();
/// assert_eq!(json, r#"{"uri":"/data/indexes/plaid_he","options":{}}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlaidIndexHandle {
    /// Index location: a local path or a URL.
    pub uri: String,
    /// Object store options (e.g. `aws_region`); do not put secrets here,
    /// the store builders also read them from the environment.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl PlaidIndexHandle {
    /// A handle for the index at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            options: BTreeMap::new(),
        }
    }

    /// The index location.
    pub fn location(&self) -> Result<IndexLocation> {
        Ok(IndexLocation::parse_with_options(&self.uri, &self.options)?)
    }

    /// Loads the index.
    pub fn load(&self) -> Result<PlaidIndex> {
        PlaidIndex::load(&self.location()?)
    }

    /// Async form of [`load`](Self::load).
    pub async fn load_async(&self) -> Result<PlaidIndex> {
        PlaidIndex::load_async(&self.location()?).await
    }
}
