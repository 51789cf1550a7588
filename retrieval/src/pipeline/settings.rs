//! The settings of the pipeline's stages: fusion, reranking, evaluation,
//! and where the indexes go.

use nodefusion_udfs::fusion::{FusionMethod, FusionParams};
use serde::{Deserialize, Serialize};

/// How the ColBERT and BM25 lists are fused; see
/// [`FusionMethod`] for the formulas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// RRF or a score-aware method.
    pub method: FusionMethod,
    /// Weights of the ColBERT and the BM25 list; `None`: equal.
    pub weights: Option<[f64; 2]>,
    /// Results kept after fusion.
    pub top_k: usize,
}

impl Fusion {
    /// The fusion stage's parameters for these settings.
    pub fn params(&self) -> FusionParams {
        FusionParams {
            method: self.method,
            weights: self.weights.map(Vec::from),
            top_k: Some(self.top_k),
            ..FusionParams::default()
        }
    }
}

/// Reranker settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reranker {
    /// Results kept after reranking.
    pub top_k: usize,
    /// `None`: pure rerank, the MaxSim order replaces the first stage's.
    /// `Some`: order-keeping rerank, the first-stage list and the MaxSim
    /// list are fused (what the first stage knew is kept).
    pub keep_order: Option<KeepOrder>,
}

/// Order-keeping rerank: `F(d) = w_first · c_first(d) + w_rerank · c_rerank(d)`
/// with `c` per [`FusionMethod`]. With `rerank_weight` 0 the first-stage
/// order comes back exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeepOrder {
    /// How the two lists are combined.
    pub method: FusionMethod,
    /// Weight of the first-stage (fused) list.
    pub first_stage_weight: f64,
    /// Weight of the MaxSim list.
    pub rerank_weight: f64,
}

/// Evaluation cut-offs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluator {
    /// nDCG cut-offs.
    pub ndcg_at: Vec<usize>,
    /// Recall cut-offs.
    pub recall_at: Vec<usize>,
}

/// Where indexes are written, whether existing ones are replaced, and
/// where built indexes are kept for later runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexSettings {
    /// A local path or URL.
    pub index_folder: String,
    /// Replace existing indexes (atomically); otherwise an existing index is
    /// an error.
    pub overwrite: bool,
    /// A folder (local path or URL) where built indexes are kept by what
    /// they were built from, `<folder>/<name>/<source digest>`: an index
    /// found there is copied instead of built again, and a built one is
    /// copied there ([`SaveIndex::reuse`]; hard links on a local disk).
    ///
    /// [`SaveIndex::reuse`]: nodefusion_udfs::store::SaveIndex::reuse
    #[serde(default)]
    pub index_cache: Option<String>,
}

/// The indexes a run writes into its index folder, by name.
pub const INDEXES: [&str; 3] = ["plaid", "bm25", "passages"];
