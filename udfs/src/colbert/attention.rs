//! Scaled dot-product attention of each sequence over its own attended
//! tokens, read straight from the fused query/key/value projections.
//!
//! One task per sequence (run in parallel); for each head, two strided
//! gemm products on the `Σ len × 3·hidden` rows, with no copy, transpose
//! or padding. The `1/√head_dim` scale is gemm's factor on the product, and
//! the softmax between the two products is vectorised ([`super::simd`]).
//! A sequence's result depends on its own rows only.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::simd::exp_non_positive;
use super::transformer::{SequenceShape, contiguous_f32};

/// Attention for the sequences `shapes` (in order) from `qkv`
/// (`Σ len × 3·heads·head_dim`: queries, keys, values, each head's
/// `head_dim` columns side by side). Returns `Σ len × heads·head_dim`.
pub(crate) fn attention(qkv: &Tensor, shapes: &[SequenceShape], heads: usize, head_dim: usize) -> Result<Tensor> {
    qkv.apply_op1_no_bwd(&Attention {
        shapes,
        heads,
        head_dim,
    })
}

struct Attention<'a> {
    shapes: &'a [SequenceShape],
    heads: usize,
    head_dim: usize,
}

impl CustomOp1 for Attention<'_> {
    fn name(&self) -> &'static str {
        "nodefusion-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = contiguous_f32(storage, layout, self.name())?;
        let hidden = self.heads * self.head_dim;
        let tokens: usize = self.shapes.iter().map(|s| s.len).sum();
        if layout.shape().dims() != [tokens, 3 * hidden] {
            candle_core::bail!(
                "{}: projections of shape {:?}, expected [{tokens}, {}]",
                self.name(),
                layout.shape(),
                3 * hidden
            );
        }
        if let Some(s) = self.shapes.iter().find(|s| s.attended == 0 || s.attended > s.len) {
            candle_core::bail!("{}: {} tokens with {} attended", self.name(), s.len, s.attended);
        }

        let mut out = vec![0f32; tokens * hidden];
        // Each sequence's output rows, with its first token's index.
        let mut tasks = Vec::with_capacity(self.shapes.len());
        let (mut rest, mut first) = (out.as_mut_slice(), 0);
        for &shape in self.shapes {
            let (rows, tail) = rest.split_at_mut(shape.len * hidden);
            tasks.push((first, shape, rows));
            (rest, first) = (tail, first + shape.len);
        }
        tasks
            .into_par_iter()
            .for_each(|(first, shape, rows)| self.sequence(qkv, first, shape, rows));
        Ok((CpuStorage::F32(out), Shape::from_dims(&[tokens, hidden])))
    }
}

impl Attention<'_> {
    /// All heads of one sequence, whose tokens start at row `first`, into
    /// its `len × hidden` output rows.
    fn sequence(&self, qkv: &[f32], first: usize, shape: SequenceShape, rows: &mut [f32]) {
        let (hidden, head_dim) = (self.heads * self.head_dim, self.head_dim);
        let (len, attended) = (shape.len, shape.attended);
        let stride = 3 * hidden;
        let mine = &qkv[first * stride..(first + len) * stride];
        let mut scores = vec![0f32; len * attended];
        let scale = 1.0 / (head_dim as f32).sqrt();
        for head in 0..self.heads {
            let (q, k, v) = (
                &mine[head * head_dim..],
                &mine[hidden + head * head_dim..],
                &mine[2 * hidden + head * head_dim..],
            );
            // SAFETY: every pointer stays inside its slice: q reads rows
            // 0..len and k, v rows 0..attended (attended ≤ len) of `mine`,
            // head_dim columns each from their offset, which checked
            // slicing above put inside the row; scores is len × attended and
            // `rows` len × hidden, written at columns head·head_dim…+head_dim.
            unsafe {
                // scores = scale · q kᵀ: (len × head_dim) · (head_dim × attended).
                gemm(
                    len,
                    attended,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    attended as isize,
                    false,
                    q.as_ptr(),
                    1,
                    stride as isize,
                    k.as_ptr(),
                    stride as isize,
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            softmax_rows(&mut scores, attended);
            unsafe {
                // context = probabilities · v: (len × attended) · (attended × head_dim).
                gemm(
                    len,
                    head_dim,
                    attended,
                    rows[head * head_dim..].as_mut_ptr(),
                    1,
                    hidden as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    attended as isize,
                    v.as_ptr(),
                    1,
                    stride as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    }
}

/// Softmax of each row of `width` scores, in place, with AVX-512 or AVX2
/// where the CPU has them. A row's floats depend on that row only, and not
/// on the vector width ([`softmax_row`]).
fn softmax_rows(scores: &mut [f32], width: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU was just found to support AVX-512F.
        unsafe { softmax_rows_avx512(scores, width) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just found to support AVX2.
        unsafe { softmax_rows_avx2(scores, width) };
        return;
    }
    softmax_rows_portable(scores, width);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn softmax_rows_avx512(scores: &mut [f32], width: usize) {
    softmax_rows_portable(scores, width);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn softmax_rows_avx2(scores: &mut [f32], width: usize) {
    softmax_rows_portable(scores, width);
}

#[inline(always)]
fn softmax_rows_portable(scores: &mut [f32], width: usize) {
    for row in scores.chunks_exact_mut(width) {
        softmax_row(row);
    }
}

/// Lanes of the softmax's max and sum.
const LANES: usize = 16;

/// Softmax of one non-empty row, in place. The row is taken as whole
/// chunks of [`LANES`] values plus its last values copied into a chunk
/// padded with −∞ (whose exponentials count as 0), so every step runs on
/// full vectors; a 29-token row is two vectors rather than one and 13
/// scalar steps. The max and the sum are kept per lane, then the lanes are
/// added in order: the floats do not depend on the vector width.
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    let whole = row.len() - row.len() % LANES;
    let (body, tail) = row.split_at_mut(whole);
    let mut last = [f32::NEG_INFINITY; LANES];
    last[..tail.len()].copy_from_slice(tail);
    let chunks = || body.chunks_exact(LANES).chain(std::iter::once(&last[..]));

    let mut lane_max = [f32::NEG_INFINITY; LANES];
    for chunk in chunks() {
        for (m, &v) in lane_max.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    let max = lane_max.into_iter().fold(f32::NEG_INFINITY, f32::max);

    let mut lane_sum = [0f32; LANES];
    let exp_chunk = |chunk: &mut [f32], lane_sum: &mut [f32; LANES]| {
        for (sum, v) in lane_sum.iter_mut().zip(chunk) {
            // e^(−∞) is 0; exp_non_positive stops at e^−87.
            *v = if *v == f32::NEG_INFINITY {
                0.0
            } else {
                exp_non_positive(*v - max)
            };
            *sum += *v;
        }
    };
    for chunk in body.chunks_exact_mut(LANES) {
        exp_chunk(chunk, &mut lane_sum);
    }
    exp_chunk(&mut last, &mut lane_sum);
    let inverse = 1.0 / lane_sum.iter().sum::<f32>();

    for chunk in body.chunks_exact_mut(LANES).chain(std::iter::once(&mut last[..])) {
        for v in chunk {
            *v *= inverse;
        }
    }
    tail.copy_from_slice(&last[..tail.len()]);
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, IndexOp};

    use super::*;

    /// The same attention from candle's own operations, one sequence and
    /// head at a time.
    fn reference(qkv: &Tensor, shapes: &[SequenceShape], heads: usize, head_dim: usize) -> Tensor {
        let hidden = heads * head_dim;
        let mut first = 0;
        let mut sequences = Vec::new();
        for s in shapes {
            let rows = qkv.narrow(0, first, s.len).unwrap();
            let mut per_head = Vec::new();
            for h in 0..heads {
                let q = rows.i((.., h * head_dim..(h + 1) * head_dim)).unwrap();
                let k = rows
                    .i((..s.attended, hidden + h * head_dim..hidden + (h + 1) * head_dim))
                    .unwrap();
                let v = rows
                    .i((..s.attended, 2 * hidden + h * head_dim..2 * hidden + (h + 1) * head_dim))
                    .unwrap();
                let scores = (q.matmul(&k.t().unwrap()).unwrap() / (head_dim as f64).sqrt()).unwrap();
                let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
                per_head.push(probs.matmul(&v.contiguous().unwrap()).unwrap());
            }
            sequences.push(Tensor::cat(&per_head, 1).unwrap());
            first += s.len;
        }
        Tensor::cat(&sequences, 0).unwrap()
    }

    #[test]
    fn agrees_with_candles_attention_and_ignores_other_sequences() {
        let (heads, head_dim) = (3, 8);
        let shapes = [
            SequenceShape { len: 5, attended: 5 },
            SequenceShape { len: 7, attended: 4 },
            SequenceShape { len: 1, attended: 1 },
            SequenceShape { len: 5, attended: 5 },
        ];
        let tokens: usize = shapes.iter().map(|s| s.len).sum();
        let qkv = Tensor::randn(0f32, 2.0, (tokens, 3 * heads * head_dim), &Device::Cpu).unwrap();
        let ours = attention(&qkv, &shapes, heads, head_dim).unwrap();
        let want = reference(&qkv, &shapes, heads, head_dim);
        let diff = (ours.clone() - want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5, "max difference {diff}");

        // The second sequence alone gives the same floats.
        let alone = attention(&qkv.narrow(0, 5, 7).unwrap(), &shapes[1..2], heads, head_dim).unwrap();
        let in_pass = ours.narrow(0, 5, 7).unwrap();
        assert_eq!(
            alone.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            in_pass.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn softmax_rows_sum_to_one_with_the_same_floats_at_every_vector_width() {
        for width in [1, 7, 16, 17, 40, 129] {
            let rows = 3;
            let scores: Vec<f32> = (0..rows * width)
                .map(|i| ((i * 7919 % 613) as f32 / 37.0 - 8.0) * if i % 5 == 0 { 3.0 } else { 1.0 })
                .collect();
            let mut dispatched = scores.clone();
            softmax_rows(&mut dispatched, width);
            let mut portable = scores.clone();
            softmax_rows_portable(&mut portable, width);
            assert_eq!(dispatched, portable, "width {width}");
            for (row, input) in dispatched.chunks(width).zip(scores.chunks(width)) {
                let sum: f64 = row.iter().map(|&p| p as f64).sum();
                assert!((sum - 1.0).abs() < 1e-5, "width {width}: sums to {sum}");
                let max = input.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let denominator: f64 = input.iter().map(|&v| ((v - max) as f64).exp()).sum();
                for (&p, &v) in row.iter().zip(input) {
                    let exact = ((v - max) as f64).exp() / denominator;
                    assert!((p as f64 - exact).abs() < 1e-6, "width {width}: {p} against {exact}");
                }
            }
        }
    }

    #[test]
    fn refuses_projections_of_the_wrong_shape() {
        let qkv = Tensor::zeros((4, 10), candle_core::DType::F32, &Device::Cpu).unwrap();
        let shapes = [SequenceShape { len: 4, attended: 4 }];
        let err = attention(&qkv, &shapes, 2, 2).unwrap_err().to_string();
        assert!(err.contains("expected [4, 12]"), "{err}");
    }
}
