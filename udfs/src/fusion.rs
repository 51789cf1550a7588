//! Reciprocal Rank Fusion of ranked lists and score-aware fusion ([`fuse`]);
//! [`fuse_hits`] fuses the stages' [`Hit`] lists.
//!
//! Reference: G. V. Cormack, C. L. A. Clarke, S. Büttcher, *Reciprocal Rank
//! Fusion outperforms Condorcet and individual Rank Learning Methods*,
//! SIGIR 2009.
//!
//! For ranked lists `L_1 … L_m` (best first), weights `w_i` (default 1) and a
//! constant `k` (default 60), a document `d` scores
//!
//! ```text
//! RRF(d) = Σ_{i : d ∈ L_i}  w_i / (k + rank_i(d))      rank_i(d) = 1 for the first item
//! ```
//!
//! A document that appears several times in one list counts once, at its best
//! rank. The result is sorted by score descending, ties by id ascending.
//!
//! ```
//! use nodefusion_udfs::fusion::{reciprocal_rank_fusion, RrfParams};
//! let bm25 = vec!["a", "b", "c"];
//! let dense = vec!["c", "a", "d"];
//! let fused = reciprocal_rank_fusion(&[bm25, dense], &RrfParams::default()).unwrap();
//! assert_eq!(fused[0].id, "a"); // 1/61 + 1/62
//! assert_eq!(fused[1].id, "c"); // 1/63 + 1/61
//! assert!((fused[0].score - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
//! ```

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

mod general;

pub use general::{FusionMethod, FusionParams, fuse};

use crate::hit::{DocId, Hit, Score};

/// Errors of fusion.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FusionError {
    /// `k` must be finite and non-negative.
    #[error("RRF constant k must be finite and >= 0, found {0}")]
    InvalidK(f64),
    /// One weight per list is needed.
    #[error("fusion needs one weight per ranked list: expected {expected} weights, found {found}")]
    WeightCount {
        /// Number of lists.
        expected: usize,
        /// Number of weights.
        found: usize,
    },
    /// Weights must be finite and non-negative.
    #[error("fusion weight {index} must be finite and >= 0, found {value}")]
    InvalidWeight {
        /// Position of the weight.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Scores must be finite.
    #[error("list {list} has a non-finite score at position {index}")]
    NonFiniteScore {
        /// Position of the list.
        list: usize,
        /// Position of the hit in it.
        index: usize,
    },
}

/// Checks that there is one finite, non-negative weight per list.
fn check_weights(weights: Option<&[f64]>, lists: usize) -> Result<(), FusionError> {
    let Some(w) = weights else {
        return Ok(());
    };
    if w.len() != lists {
        return Err(FusionError::WeightCount {
            expected: lists,
            found: w.len(),
        });
    }
    match w.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        Some((index, &value)) => Err(FusionError::InvalidWeight { index, value }),
        None => Ok(()),
    }
}

/// Parameters of [`reciprocal_rank_fusion`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RrfParams {
    /// Rank constant `k` (default 60, as Cormack et al.).
    pub k: f64,
    /// Optional weight per list (default: all 1).
    pub weights: Option<Vec<f64>>,
    /// Keep only the best `top_k` results (default: all).
    pub top_k: Option<usize>,
}

impl Default for RrfParams {
    fn default() -> Self {
        Self {
            k: 60.0,
            weights: None,
            top_k: None,
        }
    }
}

/// One fused result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fused<T> {
    /// The document.
    pub id: T,
    /// Its RRF score.
    pub score: f64,
}

/// Fuses ranked lists (best first) with Reciprocal Rank Fusion; see the
/// [module documentation](self) for the formula.
pub fn reciprocal_rank_fusion<T, L>(lists: &[L], params: &RrfParams) -> Result<Vec<Fused<T>>, FusionError>
where
    T: Clone + Eq + Hash + Ord,
    L: AsRef<[T]>,
{
    if !params.k.is_finite() || params.k < 0.0 {
        return Err(FusionError::InvalidK(params.k));
    }
    check_weights(params.weights.as_deref(), lists.len())?;
    let mut contributions: HashMap<&T, Vec<f64>> = HashMap::new();
    for (i, list) in lists.iter().enumerate() {
        let w = params.weights.as_ref().map_or(1.0, |w| w[i]);
        let mut seen = std::collections::HashSet::new();
        for (r, id) in list.as_ref().iter().enumerate() {
            if seen.insert(id) {
                contributions
                    .entry(id)
                    .or_default()
                    .push(w / (params.k + (r + 1) as f64));
            }
        }
    }
    let mut out: Vec<Fused<T>> = contributions
        .into_iter()
        .map(|(id, mut parts)| {
            // Summed in a fixed order, so that documents whose contributions
            // are equal up to the lists' order get bit-identical scores and
            // their tie is broken by id, not by rounding.
            parts.sort_by(f64::total_cmp);
            Fused {
                id: id.clone(),
                score: parts.iter().sum(),
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    if let Some(k) = params.top_k {
        out.truncate(k);
    }
    Ok(out)
}

/// [`reciprocal_rank_fusion`] over hit lists (each already sorted best first),
/// returning hits whose score is the RRF score.
///
/// ```
/// use nodefusion_udfs::fusion::{fuse_hits, RrfParams};
/// use nodefusion_udfs::hit::Hit;
/// let a = vec![Hit { doc: 3, score: 9.0 }, Hit { doc: 1, score: 2.0 }];
/// let b = vec![Hit { doc: 1, score: 0.8 }];
/// let fused = fuse_hits(&[a, b], &RrfParams::default()).unwrap();
/// assert_eq!(fused[0].doc, 1);
/// ```
pub fn fuse_hits(lists: &[Vec<Hit>], params: &RrfParams) -> Result<Vec<Hit>, FusionError> {
    let ids: Vec<Vec<DocId>> = lists.iter().map(|l| l.iter().map(|h| h.doc).collect()).collect();
    Ok(reciprocal_rank_fusion(&ids, params)?
        .into_iter()
        .map(|f| Hit {
            doc: f.id,
            score: f.score as Score,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_weight_count_is_an_error() {
        let p = RrfParams {
            weights: Some(vec![1.0]),
            ..Default::default()
        };
        let err = reciprocal_rank_fusion(&[vec![1u32], vec![2]], &p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fusion needs one weight per ranked list: expected 2 weights, found 1"
        );
    }
}
