//! The rows that flow between the nodes: encoded queries, hits, and what a
//! run reports (predictions and metrics). (A passage's encoding is its
//! token matrix, a `Floats`, and its dimension.)

use serde::{Deserialize, Serialize};

/// A query's token embeddings, with its text for lexical retrieval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncodedQuery {
    /// The query id.
    pub uuid: String,
    /// The query text.
    pub text: String,
    /// Vector dimension.
    pub dim: u32,
    /// `tokens × dim` values.
    pub embeddings: Vec<f32>,
}

/// One retrieved passage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The passage id.
    pub uuid: String,
    /// Larger is more relevant.
    pub score: f32,
}

/// One ranked passage of one system for one query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// `colbert`, `bm25`, `fused` or `fused+rerank`.
    pub system: String,
    /// The query id.
    pub query_uuid: String,
    /// The passage id.
    pub passage_uuid: String,
    /// 1-based rank.
    pub rank: u32,
    /// The system's score.
    pub score: f32,
}

/// One averaged measure of one system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// The system.
    pub system: String,
    /// trec_eval's name, e.g. `ndcg_cut_10`, `recall_100`.
    pub metric: String,
    /// The mean over every judged query (one without results counts as 0).
    pub value: f64,
}

/// The systems in the order they are reported.
pub const SYSTEMS: [&str; 4] = ["colbert", "bm25", "fused", "fused+rerank"];
