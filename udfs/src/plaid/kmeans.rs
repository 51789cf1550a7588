//! Spherical k-means (cosine) for the PLAID centroids, parallel with rayon.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::rerank::kernels::matmul_abt;

/// Points per block of the assignment step (block × k scores in scratch).
const BLOCK: usize = 256;

/// Index of the most similar centroid (largest dot product) for each point.
pub(crate) fn assign(points: &[f32], dim: usize, centroids: &[f32], k: usize) -> Vec<u32> {
    let mut out = vec![0u32; points.len() / dim];
    out.par_chunks_mut(BLOCK)
        .zip(points.par_chunks(BLOCK * dim))
        .for_each_init(Vec::new, |scratch: &mut Vec<f32>, (codes, block)| {
            let m = block.len() / dim;
            scratch.resize(m * k, 0.0);
            matmul_abt(block, m, centroids, k, dim, &mut scratch[..m * k]);
            for (code, row) in codes.iter_mut().zip(scratch.chunks_exact(k)) {
                *code = argmax(row) as u32;
            }
        });
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

/// `k` unit-norm centroids of `points` after `iters` Lloyd iterations with
/// dot-product assignment, initialised with `k` distinct random points.
/// A centroid that loses all its points is re-seeded with a random point.
pub(crate) fn kmeans(points: &[f32], dim: usize, k: usize, iters: usize, seed: u64) -> Vec<f32> {
    let n = points.len() / dim;
    let k = k.min(n).max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centroids = Vec::with_capacity(k * dim);
    for i in rand::seq::index::sample(&mut rng, n, k) {
        centroids.extend_from_slice(&points[i * dim..(i + 1) * dim]);
    }
    normalize_rows(&mut centroids, dim);
    for _ in 0..iters {
        let codes = assign(points, dim, &centroids, k);
        let mut sums = vec![0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (p, &c) in points.chunks_exact(dim).zip(&codes) {
            let c = c as usize;
            counts[c] += 1;
            for (s, v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                *s += v;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                let i = rng.random_range(0..n);
                sums[c * dim..(c + 1) * dim].copy_from_slice(&points[i * dim..(i + 1) * dim]);
            }
        }
        normalize_rows(&mut sums, dim);
        centroids = sums;
    }
    centroids
}
