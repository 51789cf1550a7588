//! Fine-tuning the encoder on the user's own corpus, on candle.
//!
//! Zero-shot encoders do not know a user's text. This module trains the
//! same network the [`colbert`](crate::colbert) encoder runs, with the score
//! the pipeline retrieves with, on pairs built from the corpus itself, and
//! writes a model directory the encoder loads like any other.
//!
//! ```text
//! passages ──span_pairs──▶ (span → passage, BM25 hard negatives) ─┐
//! aligned pairs (e.g. English → Hebrew verses) ───────────────────┴─▶ fine_tune ──▶ model dir
//!                                                                      │            config.json, tokenizer.json,
//!         InfoNCE over MaxSim, in-batch + hard negatives ◀──────────────┘            model.safetensors,
//!         AdamW, warm-up then linear decay, gradient accumulation, seed               nodefusion-fine-tune.json
//! ```
//!
//! * **Network**: BERT / XLM-RoBERTa with its weights as
//!   candle [`Var`](candle_core::Var)s in a [`VarMap`](candle_nn::VarMap),
//!   over padded batches, every op differentiable. The word embeddings are
//!   frozen unless [`FineTuneConfig::train_embeddings`] is set; a ColBERT
//!   projection, where the checkpoint has one, is kept as it is.
//! * **Loss** ([`Score`]): the cross-entropy of each query's scores against
//!   every document of its micro-batch (its own positive, the others'
//!   positives and all hard negatives), divided by a temperature (InfoNCE,
//!   van den Oord et al. 2018, arXiv:1807.03748; in-batch negatives as in
//!   ColBERTv2 and E5).
//! * **Pairs** ([`span_pairs`]): a run of a passage's words, some dropped or
//!   abbreviated, as the query; the passage as its answer; BM25's best other
//!   passages as hard negatives. Evaluation queries are never trained on
//!   ([`Exclusions`]).
//! * **Output** ([`fine_tune`]): the base model's directory with new
//!   weights, written whole or not at all, and a manifest of the settings,
//!   base model digest, pairs digest and losses ([`MANIFEST_FILE`]).
//!
//! Training is deterministic: the same model, pairs, config and thread
//! count give the same weights.

mod error;
mod fused;
mod loss;
mod network;
mod pairs;
mod train;

pub use error::{FineTuneError, Result};
pub use loss::Score;
pub use pairs::{Exclusions, SpanOptions, TrainingPair, span_pairs};
pub use train::{FineTuneConfig, FineTuneReport, MANIFEST_FILE, StepReport, fine_tune, pairs_digest};

#[cfg(test)]
mod tests;
