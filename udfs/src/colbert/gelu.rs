//! GELU in its exact form, `x · (1 + erf(x / √2)) / 2`, vectorised.
//!
//! candle's `gelu_erf` calls a scalar `erf` per element; after the matrix
//! products it was the encoder's largest cost (a fifth of e5-small's time).
//! Here erf is branch-free arithmetic that the compiler turns into SIMD, with
//! AVX2 chosen at run time where the CPU has it:
//!
//! - `|x| < 0.5`: the Taylor series of erf to `x¹¹`;
//! - otherwise: Abramowitz & Stegun 7.1.26,
//!   `1 − (a₁t + … + a₅t⁵)·e^{−x²}` with `t = 1 / (1 + p|x|)`
//!   (|error| ≤ 1.5e-7), with `e^{−x²}` from a range-reduced polynomial;
//! - `|x| ≥ 4`: ±1, the nearest f32.
//!
//! In f32 this erf is within 3.7e-7 of the exact one on [−8, 8], and the
//! GELU within 3e-7 plus the rounding of its result (one f32 epsilon,
//! relative). PyTorch's own f32 GELU is within 1.2e-6 on the same grid. The arithmetic has no fused multiply-adds, so the SIMD
//! and scalar paths give the same floats.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `gelu(x)` element-wise, on CPU tensors of f32.
pub(crate) fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.apply_op1_no_bwd(&GeluErf)
}

struct GeluErf;

/// Elements per parallel task: large enough to amortise the split.
const CHUNK: usize = 16 * 1024;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "nodefusion-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("{}: expects f32", self.name());
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{}: expects a contiguous tensor", self.name());
        };
        let src = &data[start..end];
        let mut dst = vec![0f32; src.len()];
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(out, input)| gelu_slice(input, out));
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// `out[i] = gelu(input[i])`, with AVX2 where the CPU has it.
fn gelu_slice(input: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just found to support AVX2.
        unsafe { gelu_slice_avx2(input, out) };
        return;
    }
    gelu_slice_portable(input, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gelu_slice_avx2(input: &[f32], out: &mut [f32]) {
    gelu_slice_portable(input, out);
}

#[inline(always)]
fn gelu_slice_portable(input: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(input) {
        *o = gelu(x);
    }
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf within 3.7e-7 (see the module documentation).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    const TWO_OVER_SQRT_PI: f32 = std::f32::consts::FRAC_2_SQRT_PI;
    let a = x.abs().min(4.0);

    // Near zero: x · Σ cₖ x²ᵏ, the Taylor series.
    const S: [f32; 5] = [-1.0 / 3.0, 1.0 / 10.0, -1.0 / 42.0, 1.0 / 216.0, -1.0 / 1320.0];
    let t2 = x * x;
    let series = TWO_OVER_SQRT_PI * (1.0 + t2 * (S[0] + t2 * (S[1] + t2 * (S[2] + t2 * (S[3] + t2 * S[4])))));
    let near = x * series;

    // Elsewhere: Abramowitz & Stegun 7.1.26.
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let far = (1.0 - poly * exp_non_positive(-(a * a))).copysign(x);

    if a < 0.5 { near } else { far }
}

/// `e^y` for `y` in [−16, 0], within 2.4e-7 relative: `y = n·ln2 + r` with
/// `|r| ≤ ln2/2`, `e^r` by its Taylor polynomial to `r⁶`, and `2ⁿ` built
/// from its exponent bits. Integer steps wrap and the rounding adds a
/// magic number instead of converting, so the loop has no branch to stop
/// vectorisation.
#[inline(always)]
fn exp_non_positive(y: f32) -> f32 {
    // ln 2 in two parts, so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer, kept in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let shifted = y * std::f32::consts::LOG2_E + ROUND;
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let nf = shifted - ROUND;
    let r = (y - nf * LN2_HI) - nf * LN2_LO;
    const C: [f32; 5] = [1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0];
    let p = 1.0 + r * (1.0 + r * (C[0] + r * (C[1] + r * (C[2] + r * (C[3] + r * C[4])))));
    // n ≥ −24 here, so 2ⁿ is a normal float.
    p * f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libm's f64 erf is the reference.
    fn erf64(x: f64) -> f64 {
        libm::erf(x)
    }

    fn grid() -> impl Iterator<Item = f32> {
        (-800_000..=800_000).map(|i| i as f32 * 1e-5)
    }

    #[test]
    fn erf_is_within_its_stated_error_on_a_fine_grid() {
        let worst = grid()
            .map(|x| (erf(x) as f64 - erf64(x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 3.7e-7, "max |erf error| {worst:e}");
    }

    #[test]
    fn gelu_is_within_its_stated_error_and_exact_at_the_ends() {
        let exact = |x: f64| 0.5 * x * (1.0 + erf64(x / std::f64::consts::SQRT_2));
        for x in grid() {
            let (got, want) = (gelu(x) as f64, exact(x as f64));
            let bound = 3e-7 + want.abs() * f32::EPSILON as f64;
            assert!((got - want).abs() <= bound, "gelu({x}) = {got}, exact {want}");
        }
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
        assert!(gelu(f32::NAN).is_nan());
    }

    #[test]
    fn the_op_agrees_with_the_scalar_function_and_candles_gelu() {
        let xs: Vec<f32> = (0..50_000).map(|i| (i as f32 - 25_000.0) * 3e-4).collect();
        let tensor = Tensor::from_slice(&xs, (100, 500), &candle_core::Device::Cpu).unwrap();
        let ours: Vec<f32> = gelu_erf(&tensor).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let candle: Vec<f32> = tensor.gelu_erf().unwrap().flatten_all().unwrap().to_vec1().unwrap();
        for ((x, o), c) in xs.iter().zip(&ours).zip(&candle) {
            assert_eq!(*o, gelu(*x), "SIMD and scalar paths differ at {x}");
            assert!((o - c).abs() < 5e-7, "at {x}: ours {o}, candle {c}");
        }
    }
}
