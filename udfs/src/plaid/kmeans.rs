//! Spherical k-means (cosine) for the PLAID centroids, parallel with rayon.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::maxsim::kernels::matmul_abt;

/// Points per block of the assignment step (block × k scores in scratch).
const BLOCK: usize = 256;

/// Rows of a row-major matrix: all of them, or those listed in `ids`
/// (read in place, so a sample of the tokens costs no copy).
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    matrix: &'a [f32],
    dim: usize,
    ids: Option<&'a [usize]>,
}

impl<'a> Rows<'a> {
    /// Every row of `matrix`.
    pub(crate) fn all(matrix: &'a [f32], dim: usize) -> Self {
        Rows { matrix, dim, ids: None }
    }

    /// The rows `ids` of `matrix`, in that order.
    pub(crate) fn picked(matrix: &'a [f32], dim: usize, ids: &'a [usize]) -> Self {
        Rows {
            matrix,
            dim,
            ids: Some(ids),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.map_or(self.matrix.len() / self.dim, <[usize]>::len)
    }

    /// Row `i` (of the picked ones).
    pub(crate) fn row(&self, i: usize) -> &'a [f32] {
        let r = self.ids.map_or(i, |ids| ids[i]);
        &self.matrix[r * self.dim..(r + 1) * self.dim]
    }
}

/// Index of the most similar centroid (largest dot product) for each row.
pub(crate) fn assign(rows: Rows<'_>, centroids: &[f32], k: usize) -> Vec<u32> {
    let dim = rows.dim;
    let mut out = vec![0u32; rows.len()];
    out.par_chunks_mut(BLOCK).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(scores, gathered): &mut (Vec<f32>, Vec<f32>), (b, codes)| {
            let (start, m) = (b * BLOCK, codes.len());
            let block: &[f32] = match rows.ids {
                None => &rows.matrix[start * dim..(start + m) * dim],
                Some(_) => {
                    gathered.clear();
                    (start..start + m).for_each(|i| gathered.extend_from_slice(rows.row(i)));
                    gathered
                }
            };
            scores.resize(m * k, 0.0);
            matmul_abt(block, m, centroids, k, dim, &mut scores[..m * k]);
            for (code, row) in codes.iter_mut().zip(scores.chunks_exact(k)) {
                *code = argmax(row) as u32;
            }
        },
    );
    out
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best
}

pub(crate) fn normalize_rows(m: &mut [f32], dim: usize) {
    for row in m.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

/// `k` unit-norm centroids of `rows` after `iters` Lloyd iterations with
/// dot-product assignment, initialised with `k` distinct random rows.
/// A centroid that loses all its rows is re-seeded with a random row.
pub(crate) fn kmeans(rows: Rows<'_>, k: usize, iters: usize, seed: u64) -> Vec<f32> {
    let (n, dim) = (rows.len(), rows.dim);
    let k = k.min(n).max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centroids = Vec::with_capacity(k * dim);
    for i in rand::seq::index::sample(&mut rng, n, k) {
        centroids.extend_from_slice(rows.row(i));
    }
    normalize_rows(&mut centroids, dim);
    for _ in 0..iters {
        let codes = assign(rows, &centroids, k);
        let mut sums = vec![0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &c) in codes.iter().enumerate() {
            let c = c as usize;
            counts[c] += 1;
            for (s, v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(rows.row(i)) {
                *s += v;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                let i = rng.random_range(0..n);
                sums[c * dim..(c + 1) * dim].copy_from_slice(rows.row(i));
            }
        }
        normalize_rows(&mut sums, dim);
        centroids = sums;
    }
    centroids
}
