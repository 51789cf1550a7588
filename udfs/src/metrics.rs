//! Retrieval metrics with trec_eval's conventions: nDCG@k, Recall@k, MRR@k
//! and MAP, per query and averaged.
//!
//! Reference: NIST `trec_eval` (measures `ndcg_cut`, `recall`, `recip_rank`,
//! `map`), as exposed by `pytrec_eval`; `tests/metrics.rs` checks every value
//! against `pytrec_eval` to 1e-6 on a committed fixture.
//!
//! Conventions (the same as trec_eval's):
//! - the run is ranked by score descending, **ties by document id
//!   descending** (byte-wise string order), whatever order it was given in;
//! - a document is relevant when its label is `>= 1`; labels `<= 0` and
//!   unjudged documents are not relevant;
//! - nDCG uses gain = label (negative labels count 0) and discount
//!   `log2(rank + 1)`; the ideal ranking sorts all judged gains; a query
//!   with no positive label scores 0;
//! - only queries present in **both** the run and the qrels are evaluated
//!   (trec_eval without `-c`); the mean is over those queries;
//! - MRR@k is trec_eval's `recip_rank` on the first `k` documents of the
//!   ranking; MAP is trec_eval's `map` over the whole ranking.
//!
//! ```
//! use nodefusion_udfs::metrics::{evaluate, Measure, Qrels, Run};
//! let mut qrels = Qrels::new();
//! qrels.entry("q1".into()).or_default().insert("d2".into(), 1);
//! let mut run = Run::new();
//! run.entry("q1".into()).or_default().extend([("d1".into(), 2.0), ("d2".into(), 1.0)]);
//! let ev = evaluate(&qrels, &run, &[Measure::Mrr(10), Measure::Recall(1)]).unwrap();
//! assert_eq!(ev.mean["recip_rank_cut_10"], 0.5);
//! assert_eq!(ev.mean["recall_1"], 0.0);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Relevance judgements: query id → document id → graded label.
pub type Qrels = BTreeMap<String, BTreeMap<String, i32>>;

/// A run: query id → document id → score (larger is better).
pub type Run = BTreeMap<String, BTreeMap<String, f64>>;

/// A measure and its cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Measure {
    /// nDCG at `k` (trec_eval `ndcg_cut_k`).
    Ndcg(usize),
    /// Recall at `k` (trec_eval `recall_k`).
    Recall(usize),
    /// Reciprocal rank of the first relevant document within the first `k`
    /// (trec_eval `recip_rank` on the run cut at `k`); named `recip_rank_cut_k`.
    Mrr(usize),
    /// Mean average precision over the whole ranking (trec_eval `map`).
    Map,
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measure::Ndcg(k) => write!(f, "ndcg_cut_{k}"),
            Measure::Recall(k) => write!(f, "recall_{k}"),
            Measure::Mrr(k) => write!(f, "recip_rank_cut_{k}"),
            Measure::Map => write!(f, "map"),
        }
    }
}

impl std::str::FromStr for Measure {
    type Err = MetricsError;

    /// Parses the names printed by `Display`: `ndcg_cut_10`, `recall_100`,
    /// `recip_rank_cut_10`, `map`.
    fn from_str(s: &str) -> Result<Self, MetricsError> {
        let bad = || MetricsError::UnknownMeasure(s.to_owned());
        let cut = |rest: &str| rest.parse::<usize>().ok().filter(|k| *k > 0).ok_or_else(bad);
        if s == "map" {
            Ok(Measure::Map)
        } else if let Some(rest) = s.strip_prefix("ndcg_cut_") {
            Ok(Measure::Ndcg(cut(rest)?))
        } else if let Some(rest) = s.strip_prefix("recall_") {
            Ok(Measure::Recall(cut(rest)?))
        } else if let Some(rest) = s.strip_prefix("recip_rank_cut_") {
            Ok(Measure::Mrr(cut(rest)?))
        } else {
            Err(bad())
        }
    }
}

/// Errors of evaluation.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    /// A measure name that is not one of ours.
    #[error("unknown measure '{0}': expected ndcg_cut_<k>, recall_<k>, recip_rank_cut_<k> or map (k >= 1)")]
    UnknownMeasure(String),
    /// A cut-off of 0.
    #[error("measure {0:?} needs a cut-off k >= 1, found 0")]
    ZeroCutoff(Measure),
    /// A NaN score cannot be ranked.
    #[error("run score for query '{query}', document '{doc}' is NaN; expected a number")]
    NanScore {
        /// Query id.
        query: String,
        /// Document id.
        doc: String,
    },
}

/// Results of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Query id → measure name → value, for the evaluated queries.
    pub per_query: BTreeMap<String, BTreeMap<String, f64>>,
    /// Measure name → mean over the evaluated queries (0 when there are none).
    pub mean: BTreeMap<String, f64>,
}

/// Evaluates `run` against `qrels`; see the [module documentation](self)
/// for the conventions.
pub fn evaluate(qrels: &Qrels, run: &Run, measures: &[Measure]) -> Result<Evaluation, MetricsError> {
    for m in measures {
        if matches!(m, Measure::Ndcg(0) | Measure::Recall(0) | Measure::Mrr(0)) {
            return Err(MetricsError::ZeroCutoff(*m));
        }
    }
    let mut per_query = BTreeMap::new();
    for (qid, docs) in run {
        let Some(judged) = qrels.get(qid) else {
            continue;
        };
        if let Some((doc, _)) = docs.iter().find(|(_, s)| s.is_nan()) {
            return Err(MetricsError::NanScore {
                query: qid.clone(),
                doc: doc.clone(),
            });
        }
        let labels = ranked_labels(docs, judged);
        let values: BTreeMap<String, f64> = measures
            .iter()
            .map(|m| (m.to_string(), measure(*m, &labels, judged)))
            .collect();
        per_query.insert(qid.clone(), values);
    }
    let mut mean = BTreeMap::new();
    for m in measures {
        let name = m.to_string();
        let sum: f64 = per_query.values().map(|v: &BTreeMap<String, f64>| v[&name]).sum();
        let n = per_query.len();
        mean.insert(name, if n == 0 { 0.0 } else { sum / n as f64 });
    }
    Ok(Evaluation { per_query, mean })
}

/// Labels of the run's documents in trec_eval order (score descending, docid
/// descending); unjudged documents get 0.
fn ranked_labels(docs: &BTreeMap<String, f64>, judged: &BTreeMap<String, i32>) -> Vec<i32> {
    let mut ranked: Vec<(&String, f64)> = docs.iter().map(|(d, s)| (d, *s)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(a.0)));
    ranked
        .iter()
        .map(|(d, _)| judged.get(*d).copied().unwrap_or(0))
        .collect()
}

fn measure(m: Measure, labels: &[i32], judged: &BTreeMap<String, i32>) -> f64 {
    let num_rel = judged.values().filter(|&&r| r >= 1).count();
    match m {
        Measure::Ndcg(k) => {
            let dcg = |gains: &mut dyn Iterator<Item = i32>| -> f64 {
                gains
                    .take(k)
                    .enumerate()
                    .map(|(i, g)| g.max(0) as f64 / ((i + 2) as f64).log2())
                    .sum()
            };
            let mut ideal: Vec<i32> = judged.values().copied().filter(|&r| r > 0).collect();
            ideal.sort_unstable_by(|a, b| b.cmp(a));
            let idcg = dcg(&mut ideal.into_iter());
            if idcg > 0.0 {
                dcg(&mut labels.iter().copied()) / idcg
            } else {
                0.0
            }
        }
        Measure::Recall(k) => {
            if num_rel == 0 {
                return 0.0;
            }
            labels.iter().take(k).filter(|&&r| r >= 1).count() as f64 / num_rel as f64
        }
        Measure::Mrr(k) => labels
            .iter()
            .take(k)
            .position(|&r| r >= 1)
            .map_or(0.0, |i| 1.0 / (i + 1) as f64),
        Measure::Map => {
            if num_rel == 0 {
                return 0.0;
            }
            let mut found = 0usize;
            let mut sum = 0.0;
            for (i, &r) in labels.iter().enumerate() {
                if r >= 1 {
                    found += 1;
                    sum += found as f64 / (i + 1) as f64;
                }
            }
            sum / num_rel as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_names_round_trip() {
        for m in [Measure::Ndcg(10), Measure::Recall(100), Measure::Mrr(5), Measure::Map] {
            assert_eq!(m.to_string().parse::<Measure>().unwrap(), m);
        }
        assert!("ndcg_cut_0".parse::<Measure>().is_err());
    }
}
