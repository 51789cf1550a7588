//! Branch-free f32 functions that the compiler turns into SIMD, for the
//! encoder's element-wise kernels ([`super::gelu`], [`super::attention`]).
//! They have no fused multiply-adds, so vector and scalar code give the same
//! floats.
//!
//! - erf: for `|x| < 0.5` its Taylor series to `x¹¹`; elsewhere Abramowitz &
//!   Stegun 7.1.26, `1 − (a₁t + … + a₅t⁵)·e^{−x²}` with `t = 1 / (1 + p|x|)`
//!   (|error| ≤ 1.5e-7); for `|x| ≥ 4`, ±1, the nearest f32. Within 3.7e-7
//!   of the exact erf in f32.
//! - `e^y` for `y ≤ 0`: range reduction by ln 2 and a Taylor polynomial.

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

/// `e^y` for `y ≤ 0`, within 3e-7 relative (below −87, where f32 runs
/// out of normal numbers, it gives e^−87 instead of less): `y = n·ln2 + r` with
/// `|r| ≤ ln2/2`, `e^r` by its Taylor polynomial to `r⁶`, and `2ⁿ` built
/// from its exponent bits. Integer steps wrap and the rounding adds a
/// magic number instead of converting, so the loop has no branch to stop
/// vectorisation.
#[inline(always)]
pub(crate) fn exp_non_positive(y: f32) -> f32 {
    // ln 2 in two parts, so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer, kept in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let y = y.max(-87.0);
    let shifted = y * std::f32::consts::LOG2_E + ROUND;
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let nf = shifted - ROUND;
    let r = (y - nf * LN2_HI) - nf * LN2_LO;
    const C: [f32; 5] = [1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0];
    let p = 1.0 + r * (1.0 + r * (C[0] + r * (C[1] + r * (C[2] + r * (C[3] + r * C[4])))));
    // n ≥ −126 here, so 2ⁿ is a normal float.
    p * f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-800_000..=800_000).map(|i| i as f32 * 1e-5)
    }

    #[test]
    fn erf_is_within_its_stated_error_on_a_fine_grid() {
        let worst = grid()
            .map(|x| (erf(x) as f64 - libm::erf(x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 3.7e-7, "max |erf error| {worst:e}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    #[test]
    fn exp_is_within_its_stated_error_down_to_minus_87() {
        for i in 0..=870_000 {
            let y = -(i as f32) * 1e-4;
            let (got, want) = (exp_non_positive(y) as f64, (y as f64).exp());
            assert!((got - want).abs() <= 3e-7 * want, "exp({y}) = {got}, exact {want}");
        }
        assert!(exp_non_positive(-1e4) < 1e-37);
    }
}
