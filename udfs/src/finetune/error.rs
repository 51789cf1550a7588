//! Errors of fine-tuning, named by who is at fault.

use std::path::{Path, PathBuf};

use crate::colbert::ColbertError;

/// `Result` with [`FineTuneError`] as the default error.
pub type Result<T, E = FineTuneError> = std::result::Result<T, E>;

/// Everything that can go wrong while building pairs, training or saving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FineTuneError {
    /// A setting is out of range; `field` names it.
    #[error("invalid fine-tuning config: {field} {reason}")]
    Config {
        /// The [`FineTuneConfig`](super::FineTuneConfig) field.
        field: &'static str,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// There is nothing to train on.
    #[error("no training pairs: {0}")]
    NoPairs(String),
    /// The base model could not be loaded or prepared.
    #[error(transparent)]
    Encoder(#[from] ColbertError),
    /// The base model's weights are not what the trainer needs.
    #[error("cannot train the model in {path}: {reason}")]
    Model {
        /// The weights file.
        path: PathBuf,
        /// What is missing or malformed.
        reason: String,
    },
    /// The output directory could not be written.
    #[error("cannot write the fine-tuned model to {path}: {reason}")]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying failure.
        reason: String,
    },
    /// The loss became NaN or infinite: the learning rate is too high or the
    /// temperature too low for these pairs.
    #[error("training diverged at step {step}: the loss is {loss}; lower learning_rate or raise temperature")]
    Diverged {
        /// The 1-based optimiser step.
        step: usize,
        /// The loss seen.
        loss: f64,
    },
    /// A bug in the trainer (a tensor op failed on shapes it built).
    #[error("internal error in fine-tuning: {0}")]
    Internal(String),
}

impl FineTuneError {
    pub(crate) fn model(path: &Path, reason: impl ToString) -> Self {
        Self::Model {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn write(path: &Path, reason: impl ToString) -> Self {
        Self::Write {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

impl From<candle_core::Error> for FineTuneError {
    fn from(error: candle_core::Error) -> Self {
        Self::Internal(error.to_string())
    }
}
