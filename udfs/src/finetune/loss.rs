//! The contrastive loss: InfoNCE over the score the pipeline retrieves
//! with, every other document of the batch a negative.

use candle_core::{D, Tensor};

use super::error::Result;
use super::network::{Batch, Encoded};

/// The score the loss trains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// Late interaction: for each query token its best document token's
    /// cosine, averaged over the query's tokens (the mean, not ColBERT's
    /// sum, so that one temperature suits queries of every length; the
    /// ranking of one query's documents is the same).
    #[default]
    MaxSim,
    /// The cosine of the pooled vectors.
    Pooled,
}

/// `queries × documents` scores.
pub(crate) fn scores(score: Score, queries: (&Encoded, &Batch), documents: (&Encoded, &Batch)) -> Result<Tensor> {
    let ((q, q_batch), (d, d_batch)) = (queries, documents);
    match score {
        Score::Pooled => Ok(q.pooled.matmul(&d.pooled.t()?)?),
        Score::MaxSim => {
            let (nq, lq, dim) = q.tokens.dims3()?;
            let (nd, ld, _) = d.tokens.dims3()?;
            let all = q
                .tokens
                .reshape((nq * lq, dim))?
                .matmul(&d.tokens.reshape((nd * ld, dim))?.t()?)?
                .reshape((nq, lq, nd, ld))?;
            // Tokens that are not part of a document's encoding never win.
            let dropped = ((&d_batch.kept - 1.0)? * 1e4)?.reshape((1, 1, nd, ld))?;
            let best = all.broadcast_add(&dropped)?.max(D::Minus1)?;
            let kept = q_batch.kept.reshape((nq, lq, 1))?;
            let total = best.broadcast_mul(&kept)?.sum(1)?;
            Ok(total.broadcast_div(&kept.sum(1)?)?)
        }
    }
}

/// Mean cross-entropy of `scores / temperature` against each query's own
/// document: query `i`'s positive is document `i`.
pub(crate) fn info_nce(scores: &Tensor, temperature: f64) -> Result<Tensor> {
    let queries = scores.dim(0)?;
    let targets = Tensor::arange(0u32, queries as u32, scores.device())?;
    Ok(candle_nn::loss::cross_entropy(&(scores / temperature)?, &targets)?)
}
