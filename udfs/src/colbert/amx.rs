//! Dense-layer products in bf16 on Intel AMX, for the encoder's opt-in
//! [`Precision::Bf16`](super::Precision::Bf16).
//!
//! The weights are rounded to bf16 once, at load, and laid out as AMX `B`
//! tiles (16 pairs of rows × 16 columns, each pair's two values side by
//! side). Each pass rounds its activations to bf16 rows padded to whole
//! tiles; `tdpbf16ps` multiplies 16 × 32 by 32 × 16 bf16 values into 16 × 16
//! f32 sums. A task takes 32 rows at a time, keeps a 32 × 32 block of sums
//! in four tile registers over the whole inner dimension, and adds the
//! block to the output rows, which already hold the bias and residual.
//!
//! Rounding to bf16 keeps 8 bits of mantissa: each product is exact in f32
//! and the sums stay f32, so the error is that of the rounded inputs
//! (relative 2⁻⁹ each). A row's result depends only on that row: the sums of
//! an output value run over the inner dimension in the same order whatever
//! the other rows are.
//!
//! Linux hands out AMX's tile state only to a process that asks for it
//! ([`available`] asks once).

use std::sync::OnceLock;

use rayon::prelude::*;

/// Rows, bf16 columns and f32 columns of one tile.
const TILE_ROWS: usize = 16;
const TILE_BF16: usize = 32;
const TILE_F32: usize = 16;
/// A task's block: two tiles of rows by two tiles of columns.
const BLOCK: usize = 2 * TILE_ROWS;

/// Whether this CPU has AMX-BF16 and the kernel lets this process use it.
/// The permission is asked for on the first call.
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            cpu_has_amx_bf16() && request_tile_data()
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            false
        }
    })
}

/// CPUID leaf 7: AMX-TILE (EDX bit 24) and AMX-BF16 (bit 22). (std's
/// feature detection of AMX is not stable yet.)
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn cpu_has_amx_bf16() -> bool {
    use std::arch::x86_64::{__cpuid_count, __get_cpuid_max};
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86-64 CPU; leaf 7 is read only when
    // the CPU reports it.
    let edx = unsafe {
        if __get_cpuid_max(0).0 < 7 {
            return false;
        }
        __cpuid_count(7, 0).edx
    };
    edx & (1 << 24) != 0 && edx & (1 << 22) != 0
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: Linux's opt-in to
/// the tile registers, for every thread of the process.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_data() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with this request only changes the process's
    // permission to use AMX state; it reads no memory of ours.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

/// `f32` rounded to the nearest bf16 (ties to even), as its 16 bits;
/// branch-free, so that [`round_row`] vectorises.
#[inline(always)]
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16) as u16;
    if x.is_nan() { 0x7FC0 } else { rounded }
}

/// `to[i] = to_bf16(from[i])`, with AVX-512 where the CPU has it (every
/// CPU with AMX does).
fn round_row(from: &[f32], to: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU was just found to support AVX-512F.
        unsafe { round_row_avx512(from, to) };
        return;
    }
    round_row_portable(from, to);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn round_row_avx512(from: &[f32], to: &mut [u16]) {
    round_row_portable(from, to);
}

#[inline(always)]
fn round_row_portable(from: &[f32], to: &mut [u16]) {
    for (t, &f) in to.iter_mut().zip(from) {
        *t = to_bf16(f);
    }
}

/// A dense layer's `inputs × outputs` weights in bf16, as AMX `B` tiles.
pub(crate) struct PackedWeights {
    /// For each 16-column tile, for each 32-row step of the inner
    /// dimension: 16 rows of 16 columns × 2 values (one KB).
    tiles: Vec<u16>,
    inputs: usize,
    outputs: usize,
    /// `inputs` rounded up to 32.
    inputs_padded: usize,
    /// `outputs` rounded up to 32 (two column tiles per block).
    outputs_padded: usize,
}

impl PackedWeights {
    /// From `weight`, `inputs × outputs` row-major f32.
    pub(crate) fn pack(weight: &[f32], inputs: usize, outputs: usize) -> Self {
        assert_eq!(weight.len(), inputs * outputs, "weights of {inputs} × {outputs}");
        let inputs_padded = inputs.next_multiple_of(TILE_BF16);
        let outputs_padded = outputs.next_multiple_of(2 * TILE_F32);
        let steps = inputs_padded / TILE_BF16;
        let mut tiles = vec![0u16; inputs_padded * outputs_padded];
        for column_tile in 0..outputs_padded / TILE_F32 {
            for step in 0..steps {
                let tile = &mut tiles[(column_tile * steps + step) * TILE_ROWS * TILE_BF16..][..TILE_ROWS * TILE_BF16];
                for pair in 0..TILE_ROWS {
                    for column in 0..TILE_F32 {
                        for half in 0..2 {
                            let (i, j) = (step * TILE_BF16 + 2 * pair + half, column_tile * TILE_F32 + column);
                            if i < inputs && j < outputs {
                                tile[pair * TILE_BF16 + 2 * column + half] = to_bf16(weight[i * outputs + j]);
                            }
                        }
                    }
                }
            }
        }
        Self {
            tiles,
            inputs,
            outputs,
            inputs_padded,
            outputs_padded,
        }
    }

    /// `out += x · W` for `x` of `rows × inputs` and `out` of `rows ×
    /// outputs`, both row-major f32, on the current rayon pool. The caller
    /// checked [`available`] and the shapes.
    pub(crate) fn multiply_add(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        assert!(
            x.len() == rows * self.inputs && out.len() == rows * self.outputs,
            "bf16 product: shapes"
        );
        let width = self.inputs_padded;
        out.par_chunks_mut(BLOCK * self.outputs)
            .zip(x.par_chunks(BLOCK * self.inputs))
            .for_each(|(out, x)| {
                // This block's rows in bf16, padded with zero rows and
                // columns to whole tiles.
                let mut a = vec![0u16; BLOCK * width];
                for (to, from) in a.chunks_exact_mut(width).zip(x.chunks_exact(self.inputs)) {
                    round_row(from, &mut to[..self.inputs]);
                }
                // SAFETY: `available` was checked by the caller; `a` holds
                // 32 full padded rows, `self.tiles` every column block.
                unsafe { self.block(&a, out) }
            });
    }

    /// One block of 32 rows (`a`: 32 padded bf16 rows) into `out` (up to 32
    /// rows of `outputs`).
    #[cfg(target_arch = "x86_64")]
    unsafe fn block(&self, a: &[u16], out: &mut [f32]) {
        use std::arch::asm;

        let config = TileConfig::for_blocks();
        let steps = self.inputs_padded / TILE_BF16;
        let a_stride = self.inputs_padded * 2;
        let tile_stride = TILE_BF16 * 2;
        let mut sums = [0f32; BLOCK * BLOCK];
        let rows = out.len() / self.outputs;
        // SAFETY (whole body): every tile load reads 16 rows of 64 bytes:
        // A tiles at rows 0 and 16 of `a` (32 rows of `a_stride` bytes),
        // column offset step · 64 < a_stride; B tiles at whole 1 KB tiles
        // inside `self.tiles`. Stores write 32 rows of 128 bytes of `sums`.
        unsafe {
            asm!("ldtilecfg [{}]", in(reg) &config as *const TileConfig, options(nostack, readonly));
            for column_tile in (0..self.outputs_padded / TILE_F32).step_by(2) {
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem)
                );
                for step in 0..steps {
                    let a0 = a.as_ptr().add(step * TILE_BF16);
                    let a1 = a0.add(TILE_ROWS * self.inputs_padded);
                    let b0 = self
                        .tiles
                        .as_ptr()
                        .add((column_tile * steps + step) * TILE_ROWS * TILE_BF16);
                    let b1 = b0.add(steps * TILE_ROWS * TILE_BF16);
                    asm!(
                        "tileloadd tmm4, [{a0} + {sa}*1]",
                        "tileloadd tmm5, [{a1} + {sa}*1]",
                        "tileloadd tmm6, [{b0} + {sb}*1]",
                        "tileloadd tmm7, [{b1} + {sb}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        "tdpbf16ps tmm2, tmm5, tmm6",
                        "tdpbf16ps tmm3, tmm5, tmm7",
                        a0 = in(reg) a0,
                        a1 = in(reg) a1,
                        b0 = in(reg) b0,
                        b1 = in(reg) b1,
                        sa = in(reg) a_stride,
                        sb = in(reg) tile_stride,
                        options(nostack, readonly),
                    );
                }
                let s = sums.as_mut_ptr();
                asm!(
                    "tilestored [{s00} + {stride}*1], tmm0",
                    "tilestored [{s01} + {stride}*1], tmm1",
                    "tilestored [{s10} + {stride}*1], tmm2",
                    "tilestored [{s11} + {stride}*1], tmm3",
                    s00 = in(reg) s,
                    s01 = in(reg) s.add(TILE_F32),
                    s10 = in(reg) s.add(TILE_ROWS * BLOCK),
                    s11 = in(reg) s.add(TILE_ROWS * BLOCK + TILE_F32),
                    stride = in(reg) BLOCK * 4,
                    options(nostack),
                );
                let first_column = column_tile * TILE_F32;
                let columns = (self.outputs - first_column.min(self.outputs)).min(BLOCK);
                for (row, sums) in out
                    .chunks_exact_mut(self.outputs)
                    .zip(sums.chunks_exact(BLOCK))
                    .take(rows)
                {
                    let row = &mut row[first_column..first_column + columns];
                    row.iter_mut().zip(sums).for_each(|(o, s)| *o += s);
                }
            }
            asm!("tilerelease", options(nostack, nomem));
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn block(&self, _a: &[u16], _out: &mut [f32]) {
        unreachable!("AMX exists on x86-64 only; `available` is false elsewhere")
    }
}

/// AMX's tile configuration (palette 1): tmm0–3 hold 16 × 16 f32 sums,
/// tmm4–5 16 × 32 bf16 rows of `A`, tmm6–7 16 pairs × 16 columns of `B`.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

impl TileConfig {
    fn for_blocks() -> Self {
        let mut config = Self {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            bytes_per_row: [0; 16],
            rows: [0; 16],
        };
        for tile in 0..8 {
            config.bytes_per_row[tile] = 64;
            config.rows[tile] = TILE_ROWS as u8;
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_bf16(x: u16) -> f32 {
        f32::from_bits((x as u32) << 16)
    }

    #[test]
    fn rounds_to_the_nearest_bf16_ties_to_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even 1.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3F80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3F82);
        assert_eq!(to_bf16(-2.5), 0xC020);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        for x in [0.1f32, -3.7, 1e-20, 6.5e4] {
            assert!((from_bf16(to_bf16(x)) - x).abs() <= x.abs() / 256.0, "{x}");
        }
    }

    /// The product of the bf16-rounded inputs in f64, and the sum of the
    /// products' magnitudes (what bounds f32 summation's error).
    fn reference(x: &[f32], w: &[f32], rows: usize, inputs: usize, outputs: usize) -> Vec<(f64, f64)> {
        let round = |v: f32| from_bf16(to_bf16(v)) as f64;
        (0..rows * outputs)
            .map(|at| {
                let (r, c) = (at / outputs, at % outputs);
                (0..inputs)
                    .map(|i| round(x[r * inputs + i]) * round(w[i * outputs + c]))
                    .fold((0.0, 0.0), |(sum, size), p| (sum + p, size + p.abs()))
            })
            .collect()
    }

    #[test]
    fn multiplies_like_the_rounded_inputs_at_ragged_shapes() {
        if !available() {
            eprintln!("no AMX-BF16 here: the tile product is not exercised");
            return;
        }
        let value = |i: usize, scale: f32| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * scale;
        for (rows, inputs, outputs) in [(1, 32, 32), (37, 70, 45), (64, 384, 96), (5, 3, 1)] {
            let x: Vec<f32> = (0..rows * inputs).map(|i| value(i, 2.0)).collect();
            let w: Vec<f32> = (0..inputs * outputs).map(|i| value(i + 3, 0.5)).collect();
            let packed = PackedWeights::pack(&w, inputs, outputs);
            let start: Vec<f32> = (0..rows * outputs).map(|i| (i % 100) as f32 * 0.01).collect();
            let mut out = start.clone();
            packed.multiply_add(&x, rows, &mut out);
            let want = reference(&x, &w, rows, inputs, outputs);
            for (at, ((got, (want, size)), start)) in out.iter().zip(&want).zip(&start).enumerate() {
                let got = (got - start) as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * size + 1e-6,
                    "{rows}×{inputs}×{outputs} at {at}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn a_rows_result_does_not_depend_on_the_other_rows() {
        if !available() {
            eprintln!("no AMX-BF16 here: the tile product is not exercised");
            return;
        }
        let (inputs, outputs) = (96, 64);
        let w: Vec<f32> = (0..inputs * outputs).map(|i| (i % 17) as f32 * 0.03 - 0.2).collect();
        let packed = PackedWeights::pack(&w, inputs, outputs);
        let x: Vec<f32> = (0..40 * inputs).map(|i| (i % 23) as f32 * 0.1 - 1.0).collect();
        let mut all = vec![0f32; 40 * outputs];
        packed.multiply_add(&x, 40, &mut all);
        let mut one = vec![0f32; outputs];
        packed.multiply_add(&x[33 * inputs..34 * inputs], 1, &mut one);
        assert_eq!(one, all[33 * outputs..34 * outputs]);
    }
}
