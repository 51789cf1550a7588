//! Fusion of scored lists by rank (RRF) or by normalised scores, with ties
//! kept in order of first appearance.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::{Fused, FusionError, check_weights};

/// How [`fuse`] turns each list into per-document contributions.
///
/// For list `i` with hits `H_i` (best first), scores `s_i(d)` and weight
/// `w_i`, a document scores `F(d) = Σ_i w_i · c_i(d)`, where `c_i(d) = 0`
/// when `d ∉ H_i` and otherwise:
///
/// | method | `c_i(d)` for `d ∈ H_i` |
/// |---|---|
/// | `Rrf` | `1 / (k + rank_i(d))`, rank from 1, `k` = [`FusionParams::rrf_k`] (scores ignored) |
/// | `MinMax` | `(s_i(d) − min_i) / (max_i − min_i)` |
/// | `ZScore` | `(s_i(d) − min_i) / σ_i`, `σ_i` the standard deviation of the list's scores |
///
/// The score-aware methods (`MinMax`, `ZScore`) give no contribution from a
/// list that carries no signal for the query: fewer than two hits, or all
/// scores equal (e.g. BM25 matching no query term returns nothing). So a
/// retriever that has nothing to say does not push out the others'
/// candidates. With `ZScore` a list whose best hit stands far above the rest
/// (a confident retriever) outweighs a list whose scores are flat.
///
/// A plain enum (no data), so that it travels as a string in Arrow plans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FusionMethod {
    /// Reciprocal Rank Fusion (the default).
    #[default]
    Rrf,
    /// Min-max normalised scores, summed.
    MinMax,
    /// Scores over their standard deviation, shifted so the list's worst hit
    /// is 0, summed.
    ZScore,
}

/// Parameters of [`fuse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FusionParams {
    /// How lists contribute.
    pub method: FusionMethod,
    /// RRF's rank constant `k` (default 60, as Cormack et al.); used by
    /// [`FusionMethod::Rrf`] only.
    pub rrf_k: f64,
    /// One weight per list (default: all 1); a weight of 0 silences a list.
    pub weights: Option<Vec<f64>>,
    /// Keep only the best `top_k` results (default: all).
    pub top_k: Option<usize>,
}

impl Default for FusionParams {
    /// RRF with `k = 60`, equal weights, everything kept.
    fn default() -> Self {
        FusionParams {
            method: FusionMethod::Rrf,
            rrf_k: 60.0,
            weights: None,
            top_k: None,
        }
    }
}

/// Fuses scored lists `(id, score)`, each sorted best first; see
/// [`FusionMethod`] for the formulas. The result is sorted by fused score
/// descending; equal scores keep the order in which documents first appear
/// (list 0 best first, then list 1, …), so a list with weight 0 never
/// reorders the others. A document repeated within a list counts once, at
/// its first position.
///
/// ```
/// use nodefusion_udfs::fusion::{fuse, FusionMethod, FusionParams};
/// // A lexical list whose best hit stands far above the rest, and a dense
/// // list that ranks it second.
/// let bm25 = vec![("a", 30.0), ("b", 5.0), ("c", 4.0), ("d", 3.0)];
/// let dense = vec![("c", 0.82), ("a", 0.81), ("b", 0.80)];
/// let z = FusionParams { method: FusionMethod::ZScore, ..Default::default() };
/// // a: 27/σ_bm25 + 0.01/σ_dense ≈ 2.39 + 1.22; c: 1/σ_bm25 + 0.02/σ_dense ≈ 0.09 + 2.45
/// assert_eq!(fuse(&[&bm25[..], &dense[..]], &z).unwrap()[0].id, "a");
/// // A retriever that found nothing changes nothing.
/// let none: Vec<(&str, f64)> = vec![];
/// let alone = fuse(&[&none[..], &dense[..]], &z).unwrap();
/// assert_eq!(alone.iter().map(|f| f.id).collect::<Vec<_>>(), ["c", "a", "b"]);
/// ```
pub fn fuse<T, L>(lists: &[L], params: &FusionParams) -> Result<Vec<Fused<T>>, FusionError>
where
    T: Clone + Eq + Hash,
    L: AsRef<[(T, f64)]>,
{
    let k = params.rrf_k;
    if params.method == FusionMethod::Rrf && (!k.is_finite() || k < 0.0) {
        return Err(FusionError::InvalidK(k));
    }
    check_weights(params.weights.as_deref(), lists.len())?;
    for (list, hits) in lists.iter().enumerate() {
        if let Some(index) = hits.as_ref().iter().position(|(_, s)| !s.is_finite()) {
            return Err(FusionError::NonFiniteScore { list, index });
        }
    }

    let mut slot: HashMap<&T, usize> = HashMap::new();
    let mut out: Vec<Fused<T>> = Vec::new();
    for (i, hits) in lists.iter().enumerate() {
        let hits = first_occurrences(hits.as_ref());
        let weight = params.weights.as_ref().map_or(1.0, |w| w[i]);
        let contribution = contributions(params.method, params.rrf_k, &hits);
        for (rank, (id, _)) in hits.iter().enumerate() {
            let at = *slot.entry(*id).or_insert_with(|| {
                out.push(Fused {
                    id: (*id).clone(),
                    score: 0.0,
                });
                out.len() - 1
            });
            if weight > 0.0 {
                out[at].score += weight * contribution(rank);
            }
        }
    }
    // Stable: ties keep the order of first appearance.
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    if let Some(k) = params.top_k {
        out.truncate(k);
    }
    Ok(out)
}

/// The list without repeated ids (first occurrence kept).
fn first_occurrences<T: Eq + Hash>(hits: &[(T, f64)]) -> Vec<(&T, f64)> {
    let mut seen = std::collections::HashSet::new();
    hits.iter()
        .filter(|(id, _)| seen.insert(id))
        .map(|(id, s)| (id, *s))
        .collect()
}

/// `c(rank)` for one list, per [`FusionMethod`].
fn contributions<T>(method: FusionMethod, k: f64, hits: &[(&T, f64)]) -> Box<dyn Fn(usize) -> f64> {
    let scores: Vec<f64> = hits.iter().map(|(_, s)| *s).collect();
    let n = scores.len() as f64;
    let min = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let spread = match method {
        FusionMethod::Rrf => return Box::new(move |rank| 1.0 / (k + rank as f64 + 1.0)),
        FusionMethod::MinMax => max - min,
        FusionMethod::ZScore => {
            let mean = scores.iter().sum::<f64>() / n;
            (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt()
        }
    };
    // No signal: fewer than two hits or flat scores.
    if scores.len() < 2 || spread <= f64::EPSILON * max.abs().max(1.0) {
        return Box::new(|_| 0.0);
    }
    Box::new(move |rank| (scores[rank] - min) / spread)
}
