//! Searching a PLAID index: the four stages of the module documentation
//! (candidate cells, pruned and full centroid interaction, exact MaxSim on
//! decompressed embeddings), with per-thread scratch space.

use std::cell::RefCell;

use rayon::prelude::*;

use super::{Codes, PlaidError, PlaidIndex, Result, SearchParams};
use crate::hit::{DocId, Hit, top_k};
use crate::maxsim::kernels::matmul_abt;
use crate::maxsim::{check_matrix, maxsim_unchecked};
use crate::store::Pod;

/// A centroid id as stored per token (`u16` or `u32`).
trait Code: Pod {
    fn idx(self) -> usize;
}
impl Code for u16 {
    #[inline]
    fn idx(self) -> usize {
        self as usize
    }
}
impl Code for u32 {
    #[inline]
    fn idx(self) -> usize {
        self as usize
    }
}

/// Per-thread search buffers.
#[derive(Default)]
struct Scratch {
    centroid_scores: Vec<f32>,
    keep: Vec<bool>,
    candidates: Vec<u32>,
    approx: Vec<Hit>,
    decoded: Vec<f32>,
    sim: Vec<f32>,
    best: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl SearchParams {
    fn validate(&self) -> Result<()> {
        if self.ncells == 0 {
            return Err(PlaidError::InvalidParam {
                name: "ncells",
                expected: ">= 1",
                found: "0".into(),
            });
        }
        if self.centroid_score_threshold.is_nan() {
            return Err(PlaidError::InvalidParam {
                name: "centroid_score_threshold",
                expected: "a number",
                found: "NaN".into(),
            });
        }
        Ok(())
    }
}

impl PlaidIndex {
    /// The decompressed token embeddings of `doc` (row-major), or `None` for
    /// an unknown id.
    pub fn decompress(&self, doc: DocId) -> Option<Vec<f32>> {
        let d = doc as usize;
        if d >= self.num_docs() {
            return None;
        }
        let mut out = Vec::new();
        self.decompress_into(d, &mut out);
        Some(out)
    }

    fn decompress_into(&self, d: usize, out: &mut Vec<f32>) {
        let (a, b) = (self.doc_offsets[d] as usize, self.doc_offsets[d + 1] as usize);
        let dim = self.dim;
        let bpt = self.codec.bytes_per_token();
        out.resize((b - a) * dim, 0.0);
        for (t, row) in (a..b).zip(out.chunks_exact_mut(dim)) {
            let c = self.codes.get(t);
            self.codec.decode(
                &self.centroids[c * dim..(c + 1) * dim],
                &self.residuals[t * bpt..(t + 1) * bpt],
                row,
            );
        }
    }

    /// The best `k` documents for `query` (flat row-major, one row per query
    /// token) with [`SearchParams::for_k`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, &SearchParams::for_k(k))
    }

    /// [`search`](Self::search) with explicit parameters.
    pub fn search_with(&self, query: &[f32], params: &SearchParams) -> Result<Vec<Hit>> {
        self.with_candidates(query, params, |candidates, nq, s| {
            // Stage 4: exact MaxSim on decompressed embeddings.
            let mut finals = Vec::with_capacity(candidates.len());
            for h in candidates {
                self.decompress_into(h.doc as usize, &mut s.decoded);
                let nd = s.decoded.len() / self.dim;
                let score = maxsim_unchecked(query, nq, &s.decoded, nd, self.dim, &mut s.sim);
                finals.push(Hit { doc: h.doc, score });
            }
            top_k(finals, params.k)
        })
    }

    /// Stages 1–3 only: the `max(ndocs / 4, k)` candidates that stage 4
    /// would decompress, with their centroid-interaction scores, best first.
    /// Useful to rerank with full-precision embeddings instead
    /// ([`crate::rerank::rerank`]).
    pub fn candidates(&self, query: &[f32], params: &SearchParams) -> Result<Vec<Hit>> {
        self.with_candidates(query, params, |candidates, _, _| candidates)
    }

    /// Validates the inputs, runs stages 1–3 and hands their candidates (with
    /// the number of query tokens and this thread's scratch space) to
    /// `finish`. Empty queries, `k = 0` and empty indexes give no hits.
    fn with_candidates(
        &self,
        query: &[f32],
        params: &SearchParams,
        finish: impl FnOnce(Vec<Hit>, usize, &mut Scratch) -> Vec<Hit>,
    ) -> Result<Vec<Hit>> {
        params.validate()?;
        let nq = check_matrix("query", query, self.dim)?;
        if nq == 0 || params.k == 0 || self.num_docs() == 0 {
            return Ok(Vec::new());
        }
        Ok(SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let candidates = match &self.codes {
                Codes::U16(c) => self.candidates_impl(c, query, nq, params, s),
                Codes::U32(c) => self.candidates_impl(c, query, nq, params, s),
            };
            finish(candidates, nq, s)
        }))
    }

    /// [`search_with`](Self::search_with) for many queries, in parallel.
    pub fn search_batch<Q: AsRef<[f32]> + Sync>(&self, queries: &[Q], params: &SearchParams) -> Result<Vec<Vec<Hit>>> {
        queries
            .par_iter()
            .map(|q| self.search_with(q.as_ref(), params))
            .collect()
    }

    fn candidates_impl<C: Code>(
        &self,
        codes: &[C],
        query: &[f32],
        nq: usize,
        p: &SearchParams,
        s: &mut Scratch,
    ) -> Vec<Hit> {
        let nc = self.num_centroids;
        let dim = self.dim;
        // S[c][q] = <centroid c, query token q>.
        s.centroid_scores.resize(nc * nq, 0.0);
        matmul_abt(&self.centroids, nc, query, nq, dim, &mut s.centroid_scores);
        let scores = &s.centroid_scores;

        // Stage 1: candidate documents from each query token's top cells.
        let ncells = p.ncells.min(nc);
        s.candidates.clear();
        let mut top: Vec<(f32, u32)> = Vec::with_capacity(ncells + 1);
        for q in 0..nq {
            top.clear();
            for c in 0..nc {
                let v = scores[c * nq + q];
                if top.len() < ncells || v > top[top.len() - 1].0 {
                    let pos = top.partition_point(|&(x, _)| x >= v);
                    top.insert(pos, (v, c as u32));
                    top.truncate(ncells);
                }
            }
            for &(_, c) in &top {
                self.ivf.extend_docs(c as usize, &mut s.candidates);
            }
        }
        // A corpus within the candidate budget is searched whole: its few
        // cells would otherwise leave fewer than k candidates.
        if self.num_docs() <= p.ndocs.max(p.k) {
            s.candidates.clear();
            s.candidates.extend(0..self.num_docs() as u32);
        }
        s.candidates.sort_unstable();
        s.candidates.dedup();

        // Stage 2: centroid interaction with pruning.
        s.keep.clear();
        s.keep.extend(
            scores
                .chunks_exact(nq)
                .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max) >= p.centroid_score_threshold),
        );
        s.best.resize(nq, 0.0);
        s.approx.clear();
        for &d in &s.candidates {
            let (a, b) = (
                self.doc_offsets[d as usize] as usize,
                self.doc_offsets[d as usize + 1] as usize,
            );
            let score = centroid_interaction(&codes[a..b], scores, nq, Some(&s.keep), &mut s.best);
            s.approx.push(Hit { doc: d, score });
        }
        let ndocs = p.ndocs.max(p.k);
        let stage2 = top_k(s.approx.drain(..), ndocs);

        // Stage 3: centroid interaction without pruning.
        let stage3_n = (ndocs / 4).max(p.k);
        if stage2.len() > stage3_n {
            let rescored: Vec<Hit> = stage2
                .iter()
                .map(|h| {
                    let (a, b) = (
                        self.doc_offsets[h.doc as usize] as usize,
                        self.doc_offsets[h.doc as usize + 1] as usize,
                    );
                    Hit {
                        doc: h.doc,
                        score: centroid_interaction(&codes[a..b], scores, nq, None, &mut s.best),
                    }
                })
                .collect();
            top_k(rescored, stage3_n)
        } else {
            stage2
        }
    }
}

/// Σ_q max over the document's codes (optionally only kept centroids) of S[c][q];
/// 0 for a query token no kept code reaches.
#[inline]
fn centroid_interaction<C: Code>(
    codes: &[C],
    scores: &[f32],
    nq: usize,
    keep: Option<&[bool]>,
    best: &mut [f32],
) -> f32 {
    let best = &mut best[..nq];
    best.fill(0.0);
    for &c in codes {
        let c = c.idx();
        if let Some(keep) = keep
            && !keep[c]
        {
            continue;
        }
        for (b, &v) in best.iter_mut().zip(&scores[c * nq..(c + 1) * nq]) {
            *b = b.max(v);
        }
    }
    best.iter().sum()
}
