//! Dense kernel shared by rerank and PLAID:
//! `A · Bᵀ` on row-major f32 matrices (the `gemm` crate picks AVX2/FMA/AVX-512
//! at run time).

/// Dot product, unrolled so that the compiler vectorises it.
#[cfg(test)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for i in 0..chunks {
        let (x, y) = (&a[i * 8..i * 8 + 8], &b[i * 8..i * 8 + 8]);
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..n {
        s += a[i] * b[i];
    }
    s
}

/// `out[m×n] = a[m×k] · b[n×k]ᵀ`, all row-major and contiguous.
///
/// The caller guarantees `a.len() == m*k`, `b.len() == n*k`, `out.len() == m*n`;
/// violations are bugs and are turned into a debug assertion plus an early
/// return (no out-of-bounds access).
pub(crate) fn matmul_abt(a: &[f32], m: usize, b: &[f32], n: usize, k: usize, out: &mut [f32]) {
    let ok = a.len() == m * k && b.len() == n * k && out.len() == m * n;
    debug_assert!(ok, "matmul_abt: inconsistent shapes");
    if !ok || m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    // SAFETY: the shape check above guarantees every index gemm computes
    // from (m, n, k) and the strides below lies inside the three slices:
    // dst(i, j) = out[i*n + j], lhs(i, p) = a[i*k + p], rhs(p, j) = b[j*k + p].
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,          // dst column stride
            n as isize, // dst row stride
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            k as isize, // rhs column stride: column j of Bᵀ is row j of B
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_naive() {
        let (m, n, k) = (3, 5, 7);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut out = vec![0.0; m * n];
        matmul_abt(&a, m, &b, n, k, &mut out);
        for i in 0..m {
            for j in 0..n {
                let want = dot(&a[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]);
                assert!((out[i * n + j] - want).abs() < 1e-5);
            }
        }
    }
}
