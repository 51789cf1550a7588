//! Two fused ops with their own gradients, for the memory they save.
//!
//! Candle keeps every intermediate of the forward pass until the backward
//! pass has used it. Composed from primitives, a softmax keeps six
//! tensors the size of the attention scores and a LayerNorm nine the size
//! of the hidden states; on 2 cores most of a training step went into the
//! kernel's page faults for that memory. Fused, the masked softmax keeps
//! its output only and the standardisation its output only.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, D, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `softmax(scores + bias)` over the last dimension, where `scores` is
/// `texts × heads × queries × keys` and `bias` is `texts × 1 × 1 × keys`
/// (0 for keys that may be attended to, a large negative number for the
/// others). The gradient flows to `scores` only.
pub(crate) struct MaskedSoftmax;

/// Each row of the last dimension minus its mean, divided by its standard
/// deviation (`sqrt(variance + eps)`, the variance over the row's length
/// as in PyTorch): LayerNorm before its weight and bias.
pub(crate) struct Standardize {
    pub eps: f64,
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous tensor"),
    }
}

/// The float types the ops run on (f32 to train, f64 for gradient checks).
trait Float: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
}

impl Float for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Float for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(value: f64) -> Self {
        value
    }
}

fn softmax_rows<T: Float>(scores: &[T], bias: &[T], keys: usize, rows_per_text: usize) -> Vec<T> {
    let mut out = vec![T::from_f64(0.0); scores.len()];
    out.par_chunks_mut(keys)
        .zip(scores.par_chunks(keys))
        .enumerate()
        .for_each(|(row, (out, scores))| {
            let bias = &bias[(row / rows_per_text) * keys..][..keys];
            let max = scores
                .iter()
                .zip(bias)
                .map(|(s, b)| s.to_f64() + b.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for ((o, s), b) in out.iter_mut().zip(scores).zip(bias) {
                let e = (s.to_f64() + b.to_f64() - max).exp();
                sum += e;
                *o = T::from_f64(e);
            }
            out.iter_mut().for_each(|o| *o = T::from_f64(o.to_f64() / sum));
        });
    out
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (texts, heads, queries, keys) = l1.shape().dims4()?;
        if l2.shape().dims() != [texts, 1, 1, keys] {
            candle_core::bail!(
                "masked-softmax: bias of shape {:?} for scores {:?}",
                l2.shape(),
                l1.shape()
            );
        }
        let rows_per_text = heads * queries;
        let out = match (s1, s2) {
            (CpuStorage::F32(s), CpuStorage::F32(b)) => CpuStorage::F32(softmax_rows(
                contiguous(s, l1, self.name())?,
                contiguous(b, l2, self.name())?,
                keys,
                rows_per_text,
            )),
            (CpuStorage::F64(s), CpuStorage::F64(b)) => CpuStorage::F64(softmax_rows(
                contiguous(s, l1, self.name())?,
                contiguous(b, l2, self.name())?,
                keys,
                rows_per_text,
            )),
            _ => candle_core::bail!("masked-softmax: expects two f32 or two f64 tensors"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // d scores = y ⊙ (g − Σ g ⊙ y), the sum over the row.
        let dot = (grad * res)?.sum_keepdim(D::Minus1)?;
        Ok((Some((res * grad.broadcast_sub(&dot)?)?), None))
    }
}

fn standardize_rows<T: Float>(x: &[T], width: usize, eps: f64) -> Vec<T> {
    let mut out = vec![T::from_f64(0.0); x.len()];
    out.par_chunks_mut(width)
        .zip(x.par_chunks(width))
        .for_each(|(out, row)| {
            let mean = row.iter().map(|v| v.to_f64()).sum::<f64>() / width as f64;
            let variance = row.iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>() / width as f64;
            let inverse = 1.0 / (variance + eps).sqrt();
            for (o, v) in out.iter_mut().zip(row) {
                *o = T::from_f64((v.to_f64() - mean) * inverse);
            }
        });
    out
}

impl CustomOp1 for Standardize {
    fn name(&self) -> &'static str {
        "standardize"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let width = layout.shape().dims().last().copied().unwrap_or(1).max(1);
        let out = match storage {
            CpuStorage::F32(x) => {
                CpuStorage::F32(standardize_rows(contiguous(x, layout, self.name())?, width, self.eps))
            }
            CpuStorage::F64(x) => {
                CpuStorage::F64(standardize_rows(contiguous(x, layout, self.name())?, width, self.eps))
            }
            _ => candle_core::bail!("standardize: expects f32 or f64"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // With x̂ the output and σ the row's deviation:
        // d x = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / σ.
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let deviation = (centred.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?.sqrt()?;
        let along = (grad * res)?.mean_keepdim(D::Minus1)?;
        let centred_grad = grad.broadcast_sub(&grad.mean_keepdim(D::Minus1)?)?;
        let dx = centred_grad
            .sub(&res.broadcast_mul(&along)?)?
            .broadcast_div(&deviation)?;
        Ok(Some(dx))
    }
}
