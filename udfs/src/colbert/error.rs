//! Errors of the ColBERT encoder, named by who is at fault.

use std::path::PathBuf;

/// `Result` with [`ColbertError`] as the default error.
pub type Result<T, E = ColbertError> = std::result::Result<T, E>;

/// Everything that can go wrong while loading or running the encoder.
///
/// File errors name the file and say what was expected in it; configuration
/// errors name the field. Bad input text is never an error: empty text
/// encodes to the special tokens only and long text is truncated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ColbertError {
    /// A file the model needs is not there.
    #[error("missing model file {path}: expected {expected}")]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// What the file should contain.
        expected: String,
    },
    /// A model file exists but could not be read as what it should be.
    #[error("malformed model file {path}: expected {expected}; {reason}")]
    MalformedFile {
        /// The offending file.
        path: PathBuf,
        /// What the file should contain.
        expected: String,
        /// What went wrong while reading it.
        reason: String,
    },
    /// The model is of a kind this encoder does not run.
    #[error("unsupported model in {path}: {reason}")]
    Unsupported {
        /// The file that says what the model is.
        path: PathBuf,
        /// Why it is not supported, and what is.
        reason: String,
    },
    /// An [`EncoderConfig`](super::EncoderConfig) field has an unusable value.
    #[error("invalid encoder config: {field} {reason}")]
    Config {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it, and what would be valid.
        reason: String,
    },
    /// A hub model was asked for, but it could not be resolved.
    #[error("cannot fetch hub model '{repo}': {reason}")]
    Hub {
        /// The hub id.
        repo: String,
        /// Why (including "built without the `hub` feature").
        reason: String,
    },
    /// The small model the tests and examples use is not in the cache.
    #[error(
        "test model not found in {dir} (needs config.json, tokenizer.json, model.safetensors): \
         run scripts/fetch-model.sh"
    )]
    TestModelMissing {
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// The model's files are not those the config's
    /// [`model_digest`](super::EncoderConfig::model_digest) names: they
    /// changed since the digest was taken (or another machine holds other
    /// files under the same path).
    #[error(
        "the model in {path} is not the one the config names: its files' digest is {found}, the config says {expected}"
    )]
    ModelChanged {
        /// The model's directory (or its weights file for a hub model).
        path: PathBuf,
        /// The digest in the config.
        expected: String,
        /// The digest of the files found.
        found: String,
    },
    /// A model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The i/o error.
        #[source]
        source: std::io::Error,
    },
    /// The tokenizer failed on a text.
    #[error("tokenizer failed on text {index}: {reason}")]
    Tokenize {
        /// Position of the text in the call's input.
        index: usize,
        /// The tokenizer's message.
        reason: String,
    },
    /// The forward pass failed: a bug or an exhausted resource, not bad input.
    #[error("internal error in the encoder forward pass: {0}")]
    Internal(#[from] candle_core::Error),
}
