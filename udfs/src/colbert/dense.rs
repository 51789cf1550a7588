//! A dense layer, `x·Wᵀ + b`, optionally plus a residual, in one gemm call,
//! then optionally GELU or LayerNorm on the same buffer.
//!
//! The output starts as the bias (plus the residual) and gemm adds the
//! product into it; the epilogue then runs in place. candle's `Linear`
//! zeroes the output, writes the product into it, then makes a second tensor
//! for the bias, a third for the residual and a fourth for the activation or
//! norm: four passes and four allocations more per dense layer.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use candle_nn::Linear;
use gemm::{Parallelism, gemm};

use super::amx::{self, PackedWeights};
use super::config::Precision;
use super::gelu::gelu_in_place;
use super::norm::RowNorm;
use super::transformer::contiguous_f32;

/// What runs on a dense layer's output rows before they are returned.
#[derive(Clone, Copy)]
pub(crate) enum Epilogue<'a> {
    /// Nothing: `x·Wᵀ + b (+ residual)`.
    None,
    /// The exact GELU, element-wise.
    Gelu,
    /// LayerNorm of each row.
    Norm(&'a RowNorm),
}

/// A dense layer: its weights, transposed once at load (`inputs ×
/// outputs`), as row-major f32 for gemm or as bf16 AMX tiles, and its bias.
pub(crate) struct Dense {
    weight: Weights,
    bias: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    /// From a loaded `Linear` (`weight`: `outputs × inputs`), multiplying in
    /// `precision`.
    pub(crate) fn new(linear: &Linear, precision: Precision) -> Result<Self> {
        let (outputs, inputs) = linear.weight().dims2()?;
        let weight = linear.weight().t()?.contiguous()?.flatten_all()?.to_vec1()?;
        let bias = linear.bias().map(|b| b.to_vec1()).transpose()?;
        if bias.as_ref().is_some_and(|b| b.len() != outputs) {
            candle_core::bail!("a bias of {} values for {outputs} outputs", bias.map_or(0, |b| b.len()));
        }
        let weight = match precision {
            Precision::F32 => Weights::F32(weight),
            Precision::Bf16 if amx::available() => Weights::Bf16(PackedWeights::pack(&weight, inputs, outputs)),
            Precision::Bf16 => {
                candle_core::bail!("bf16 dense layers need AMX-BF16, which this CPU or kernel does not offer")
            }
        };
        Ok(Self {
            weight,
            bias,
            inputs,
            outputs,
        })
    }

    /// `epilogue(x·Wᵀ + b)` for `x` of `rows × inputs`.
    pub(crate) fn forward(&self, x: &Tensor, epilogue: Epilogue) -> Result<Tensor> {
        x.apply_op1_no_bwd(&Op { dense: self, epilogue })
    }

    /// `epilogue(x·Wᵀ + b + residual)`, `residual` of `rows × outputs`.
    pub(crate) fn forward_plus(&self, x: &Tensor, residual: &Tensor, epilogue: Epilogue) -> Result<Tensor> {
        x.apply_op2_no_bwd(residual, &Op { dense: self, epilogue })
    }

    /// The output rows, started from the bias and `residual` (when given),
    /// with the epilogue applied.
    fn run(
        &self,
        x: &[f32],
        x_layout: &Layout,
        residual: Option<&[f32]>,
        epilogue: Epilogue,
    ) -> Result<(CpuStorage, Shape)> {
        let rows = match x_layout.shape().dims() {
            [rows, inputs] if *inputs == self.inputs => *rows,
            dims => candle_core::bail!("dense layer of {} inputs given a {dims:?} tensor", self.inputs),
        };
        if let Epilogue::Norm(norm) = epilogue
            && norm.width() != self.outputs
        {
            candle_core::bail!("a LayerNorm of width {} after {} outputs", norm.width(), self.outputs);
        }
        if let Some(r) = residual
            && r.len() != rows * self.outputs
        {
            candle_core::bail!("a residual of {} values for {rows} × {} outputs", r.len(), self.outputs);
        }
        let mut out = self.start(residual, rows);
        match &self.weight {
            Weights::F32(weight) => self.multiply_add_f32(weight, x, rows, &mut out),
            Weights::Bf16(packed) => packed.multiply_add(x, rows, &mut out),
        }
        match epilogue {
            Epilogue::None => {}
            Epilogue::Gelu => gelu_in_place(&mut out),
            Epilogue::Norm(norm) => norm.apply(&mut out),
        }
        Ok((CpuStorage::F32(out), Shape::from_dims(&[rows, self.outputs])))
    }

    /// The output before the product: each row the bias plus that row of
    /// the residual, written in one pass (zeros where there is neither).
    fn start(&self, residual: Option<&[f32]>, rows: usize) -> Vec<f32> {
        let len = rows * self.outputs;
        let mut out = Vec::with_capacity(len);
        match (residual, &self.bias) {
            (Some(residual), Some(bias)) => {
                for row in residual.chunks_exact(self.outputs) {
                    out.extend(row.iter().zip(bias).map(|(r, b)| r + b));
                }
            }
            (Some(residual), None) => out.extend_from_slice(residual),
            (None, Some(bias)) => (0..rows).for_each(|_| out.extend_from_slice(bias)),
            (None, None) => out.resize(len, 0.0),
        }
        out
    }

    /// `out += x · weight` in f32 with gemm, on the current rayon pool.
    fn multiply_add_f32(&self, weight: &[f32], x: &[f32], rows: usize, out: &mut [f32]) {
        let threads = rayon::current_num_threads();
        let parallelism = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        // SAFETY: x is rows × inputs, weight inputs × outputs and out
        // rows × outputs, all row-major and of those lengths (checked by `run`
        // and `contiguous_f32`).
        unsafe {
            gemm(
                rows,
                self.outputs,
                self.inputs,
                out.as_mut_ptr(),
                1,
                self.outputs as isize,
                true,
                x.as_ptr(),
                1,
                self.inputs as isize,
                weight.as_ptr(),
                1,
                self.outputs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// A dense layer's weights, `inputs × outputs`.
enum Weights {
    /// Row-major f32, for gemm.
    F32(Vec<f32>),
    /// bf16 AMX tiles.
    Bf16(PackedWeights),
}

/// A dense layer and its epilogue, as one candle op.
struct Op<'a> {
    dense: &'a Dense,
    epilogue: Epilogue<'a>,
}

impl CustomOp1 for Op<'_> {
    fn name(&self) -> &'static str {
        "nodefusion-dense"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        self.dense.run(
            contiguous_f32(storage, layout, CustomOp1::name(self))?,
            layout,
            None,
            self.epilogue,
        )
    }
}

impl CustomOp2 for Op<'_> {
    fn name(&self) -> &'static str {
        "nodefusion-dense-residual"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        residual: &CpuStorage,
        residual_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let residual = contiguous_f32(residual, residual_layout, CustomOp2::name(self))?;
        let x = contiguous_f32(x, x_layout, CustomOp2::name(self))?;
        self.dense.run(x, x_layout, Some(residual), self.epilogue)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Module};

    use super::*;

    #[test]
    fn agrees_with_candles_linear_with_and_without_residual() {
        let device = Device::Cpu;
        let weight = Tensor::randn(0f32, 1.0, (24, 16), &device).unwrap();
        let bias = Tensor::randn(0f32, 1.0, 24, &device).unwrap();
        let linear = Linear::new(weight, Some(bias));
        let dense = Dense::new(&linear, Precision::F32).unwrap();
        let x = Tensor::randn(0f32, 1.0, (37, 16), &device).unwrap();
        let residual = Tensor::randn(0f32, 1.0, (37, 24), &device).unwrap();
        let close = |a: Tensor, b: Tensor| {
            let diff = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "max difference {diff}");
        };
        let want = linear.forward(&x).unwrap();
        close(dense.forward(&x, Epilogue::None).unwrap(), want.clone());
        close(
            dense.forward_plus(&x, &residual, Epilogue::None).unwrap(),
            (&want + &residual).unwrap(),
        );
        close(dense.forward(&x, Epilogue::Gelu).unwrap(), want.gelu_erf().unwrap());
        let norm = candle_nn::LayerNorm::new(
            Tensor::randn(1f32, 0.1, 24, &device).unwrap(),
            Tensor::randn(0f32, 0.1, 24, &device).unwrap(),
            1e-12,
        );
        let row_norm = RowNorm::new(&norm, 1e-12).unwrap();
        close(
            dense.forward_plus(&x, &residual, Epilogue::Norm(&row_norm)).unwrap(),
            norm.forward(&(want + &residual).unwrap()).unwrap(),
        );
    }

    #[test]
    fn refuses_a_norm_of_another_width() {
        let device = Device::Cpu;
        let linear = Linear::new(Tensor::zeros((4, 3), candle_core::DType::F32, &device).unwrap(), None);
        let dense = Dense::new(&linear, Precision::F32).unwrap();
        let norm = candle_nn::LayerNorm::new(
            Tensor::ones(5, candle_core::DType::F32, &device).unwrap(),
            Tensor::zeros(5, candle_core::DType::F32, &device).unwrap(),
            1e-5,
        );
        let norm = RowNorm::new(&norm, 1e-5).unwrap();
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &device).unwrap();
        let err = dense.forward(&x, Epilogue::Norm(&norm)).unwrap_err().to_string();
        assert!(err.contains("a LayerNorm of width 5 after 4 outputs"), "{err}");
    }

    #[test]
    fn refuses_inputs_of_the_wrong_width() {
        let device = Device::Cpu;
        let linear = Linear::new(Tensor::zeros((4, 3), candle_core::DType::F32, &device).unwrap(), None);
        let dense = Dense::new(&linear, Precision::F32).unwrap();
        let x = Tensor::zeros((2, 5), candle_core::DType::F32, &device).unwrap();
        let err = dense.forward(&x, Epilogue::None).unwrap_err().to_string();
        assert!(err.contains("dense layer of 3 inputs given a [2, 5] tensor"), "{err}");
    }
}
