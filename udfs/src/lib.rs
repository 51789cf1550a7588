//! Retrieval stages for nodefusion, each usable alone as a plain Rust API.
//!
//! | module | what it does | reference |
//! |---|---|---|
//! | [`colbert`] | late-interaction encoder on candle (one vector per token) | Khattab & Zaharia 2020; ColBERTv2 |
//! | [`plaid`] | compressed multi-vector index and search | Santhanam et al. 2022 (PLAID) |
//! | [`bm25`] | Lucene-style BM25 with a Hebrew-aware tokeniser | Robertson & Zaragoza 2009 |
//! | [`hebrew`] | Hebrew text normalisation shared by BM25 and the encoder | Unicode Hebrew block |
//! | [`fusion`] | Reciprocal Rank Fusion | Cormack et al. 2009 |
//! | [`maxsim`] | token-embedding matrices and exact MaxSim scoring | ColBERT |
//! | [`rerank`] | exact MaxSim reranking of candidate lists | ColBERT |
//! | [`lookup`] | stored full-precision embeddings with passage ids, for reranking | ColBERT |
//! | [`metrics`] | nDCG, Recall, MRR, MAP with trec_eval conventions | trec_eval |
//! | [`hit`] | the hit (document id and score) every stage returns | |
//! | [`sql`] | the stages as DataFusion functions, for SQL in any context | DataFusion `ScalarUDFImpl` |
#![warn(missing_docs)]

pub mod bm25;
pub mod colbert;
pub mod finetune;
pub mod fusion;
pub mod hebrew;
pub mod hit;
pub mod lookup;
pub mod maxsim;
pub mod metrics;
pub mod plaid;
pub mod rerank;
pub mod sql;
pub mod store;
