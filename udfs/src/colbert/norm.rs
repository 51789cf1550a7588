//! LayerNorm applied in place to the rows a dense layer just wrote, so the
//! layer's output needs no second buffer.
//!
//! Each row's mean and variance are taken in two passes over the row, in an
//! order that depends only on the row: a row's floats do not depend on the
//! rows around it.

use candle_core::Result;
use candle_nn::LayerNorm;
use rayon::prelude::*;

/// A LayerNorm's weight, bias and epsilon, as plain values.
pub(crate) struct RowNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl RowNorm {
    /// From a loaded LayerNorm with a bias, and its epsilon.
    pub(crate) fn new(norm: &LayerNorm, eps: f64) -> Result<Self> {
        let weight: Vec<f32> = norm.weight().to_vec1()?;
        let bias: Vec<f32> = match norm.bias() {
            Some(b) => b.to_vec1()?,
            None => candle_core::bail!("a LayerNorm without a bias"),
        };
        if bias.len() != weight.len() {
            candle_core::bail!("a LayerNorm of {} weights and {} biases", weight.len(), bias.len());
        }
        Ok(Self {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    /// The width of the rows it normalises.
    pub(crate) fn width(&self) -> usize {
        self.weight.len()
    }

    /// Normalises every row of `rows` (`n × width`, row-major) in place, the
    /// rows in parallel on the current rayon pool.
    pub(crate) fn apply(&self, rows: &mut [f32]) {
        rows.par_chunks_exact_mut(self.width())
            .for_each(|row| self.apply_row(row));
    }

    /// One row, with AVX-512 or AVX2 where the CPU has them (the same
    /// floats: the sums run in the same 16 lanes, with no fused
    /// multiply-adds).
    fn apply_row(&self, row: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU was just found to support AVX-512F.
            unsafe { self.apply_row_avx512(row) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just found to support AVX2.
            unsafe { self.apply_row_avx2(row) };
            return;
        }
        self.apply_row_portable(row);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn apply_row_avx512(&self, row: &mut [f32]) {
        self.apply_row_portable(row);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn apply_row_avx2(&self, row: &mut [f32]) {
        self.apply_row_portable(row);
    }

    #[inline(always)]
    fn apply_row_portable(&self, row: &mut [f32]) {
        let n = row.len() as f32;
        let mean = lane_sum(row, |v| v) / n;
        let variance = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
        let inverse = 1.0 / (variance + self.eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
            *v = (*v - mean) * inverse * w + b;
        }
    }
}

/// `Σ f(v)` over a row in 16 lanes the compiler vectorises, then the lanes
/// in order: the same float for a row wherever it sits.
#[inline(always)]
pub(crate) fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = row.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Module, Tensor};

    use super::*;

    fn layer_norm(width: usize) -> LayerNorm {
        let device = Device::Cpu;
        let weight = Tensor::randn(1f32, 0.1, width, &device).unwrap();
        let bias = Tensor::randn(0f32, 0.1, width, &device).unwrap();
        LayerNorm::new(weight, bias, 1e-12)
    }

    #[test]
    fn agrees_with_candles_layer_norm() {
        for width in [7, 16, 384, 389] {
            let norm = layer_norm(width);
            let x = Tensor::randn(0.5f32, 2.0, (23, width), &Device::Cpu).unwrap();
            let want: Vec<f32> = norm.forward(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let mut got: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
            RowNorm::new(&norm, 1e-12).unwrap().apply(&mut got);
            let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-5, "width {width}: differs by {worst}");
        }
    }

    #[test]
    fn a_row_normalises_the_same_alone_or_among_others() {
        let norm = RowNorm::new(&layer_norm(384), 1e-12).unwrap();
        let x: Vec<f32> = Tensor::randn(0f32, 3.0, (9, 384), &Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut all = x.clone();
        norm.apply(&mut all);
        let mut one = x[4 * 384..5 * 384].to_vec();
        norm.apply(&mut one);
        assert_eq!(one, all[4 * 384..5 * 384]);
    }

    #[test]
    fn the_vector_kernels_give_the_portable_floats() {
        let norm = RowNorm::new(&layer_norm(389), 1e-12).unwrap();
        let x: Vec<f32> = Tensor::randn(0.3f32, 2.0, 389, &Device::Cpu)
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut dispatched = x.clone();
        norm.apply_row(&mut dispatched);
        let mut portable = x;
        norm.apply_row_portable(&mut portable);
        assert_eq!(dispatched, portable);
    }

    #[test]
    fn refuses_a_norm_without_bias() {
        let norm = LayerNorm::new_no_bias(Tensor::ones(4, candle_core::DType::F32, &Device::Cpu).unwrap(), 1e-5);
        assert!(RowNorm::new(&norm, 1e-5).is_err());
    }
}
