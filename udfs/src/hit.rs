//! The hit type shared by the retrieval stages: a document id with its
//! score, and the best-`k` selection every stage ranks with (score
//! descending, ties by doc id ascending).
//!
//! ```
//! use nodefusion_udfs::hit::Hit;
//! let hit = Hit { doc: 3, score: 0.5 };
//! assert_eq!(hit.doc, 3);
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

/// A document id: the position of the document in the indexed collection.
pub type DocId = u32;

/// Relevance score; larger is more relevant.
pub type Score = f32;

/// One retrieved document.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Document id (its position in the indexed collection).
    pub doc: DocId,
    /// Score; larger is more relevant.
    pub score: Score,
}

/// Heap entry ordered so that the *worst* hit is at the top of a max-heap:
/// lower score is "greater", and at equal score the larger doc id.
#[derive(Clone, Copy)]
struct Worst(Hit);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then_with(|| self.0.doc.cmp(&other.0.doc))
    }
}

/// Best `k` hits, sorted by score descending then doc id ascending.
pub(crate) fn top_k(hits: impl IntoIterator<Item = Hit>, k: usize) -> Vec<Hit> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k.saturating_add(1).min(4096));
    for h in hits {
        if heap.len() < k {
            heap.push(Worst(h));
        } else if let Some(top) = heap.peek()
            && Worst(h) < *top
        {
            heap.pop();
            heap.push(Worst(h));
        }
    }
    let mut out: Vec<Hit> = heap.into_iter().map(|w| w.0).collect();
    sort_hits(&mut out);
    out
}

/// Sorts hits by score descending, then doc id ascending.
pub(crate) fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.doc.cmp(&b.doc)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_best_and_breaks_ties_by_doc() {
        let hits = [(0, 1.0), (1, 3.0), (2, 3.0), (3, 2.0), (4, 0.5)].map(|(doc, score)| Hit { doc, score });
        let got: Vec<_> = top_k(hits, 3).iter().map(|h| h.doc).collect();
        assert_eq!(got, vec![1, 2, 3]);
    }
}
