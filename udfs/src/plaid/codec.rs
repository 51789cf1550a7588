//! ColBERTv2's residual compression: a token embedding is stored as its
//! centroid id plus, per dimension, the `nbits`-bit bucket of its residual.
//!
//! Bucket cutoffs are the `i / 2^nbits` quantiles (i = 1 … 2^nbits − 1) of
//! the residual values of a held-out sample (all dimensions pooled); bucket
//! weights, the values a bucket decodes to, are the `(i + 0.5) / 2^nbits`
//! quantiles. Optionally (our default) a few Lloyd–Max iterations then move
//! each weight to the mean of its bucket and each cutoff to the midpoint of
//! its neighbouring weights: the same bits, a lower reconstruction error.
//! Decoding adds the weights to the centroid and re-normalises.
//! Codes are packed least-significant bits first: dimension `i` lives in
//! byte `i·nbits / 8` at bit offset `i·nbits mod 8`.

/// Bytes of packed residual codes per token.
pub(crate) fn bytes_per_token(dim: usize, nbits: u8) -> usize {
    (dim * nbits as usize).div_ceil(8)
}

/// Quantile with linear interpolation (as `torch.quantile`), `sorted` ascending.
fn quantile(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = (pos - lo as f64) as f32;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Bucket cutoffs (`2^nbits − 1`) and weights (`2^nbits`) from residual values:
/// ColBERTv2's quantiles, then `lloyd_iters` Lloyd–Max refinements (weights
/// become the mean of their bucket's values, cutoffs the midpoints between
/// weights), which lowers the mean squared reconstruction error.
pub(crate) fn train_buckets(mut values: Vec<f32>, nbits: u8, lloyd_iters: usize) -> (Vec<f32>, Vec<f32>) {
    values.sort_unstable_by(f32::total_cmp);
    let options = 1usize << nbits;
    let mut cutoffs: Vec<f32> = (1..options)
        .map(|i| quantile(&values, i as f64 / options as f64))
        .collect();
    let mut weights: Vec<f32> = (0..options)
        .map(|i| quantile(&values, (i as f64 + 0.5) / options as f64))
        .collect();
    if values.is_empty() {
        return (cutoffs, weights);
    }
    let mut prefix = Vec::with_capacity(values.len() + 1);
    prefix.push(0f64);
    for v in &values {
        prefix.push(prefix[prefix.len() - 1] + *v as f64);
    }
    for _ in 0..lloyd_iters {
        // Bucket b holds the values in (cutoffs[b-1], cutoffs[b]].
        let mut bounds = vec![0usize];
        bounds.extend(cutoffs.iter().map(|&c| values.partition_point(|&v| v <= c)));
        bounds.push(values.len());
        for b in 0..options {
            let (lo, hi) = (bounds[b], bounds[b + 1]);
            if hi > lo {
                weights[b] = ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32;
            }
        }
        for (i, c) in cutoffs.iter_mut().enumerate() {
            *c = 0.5 * (weights[i] + weights[i + 1]);
        }
    }
    (cutoffs, weights)
}

/// Encoder/decoder for one index.
#[derive(Debug, Clone)]
pub(crate) struct ResidualCodec {
    pub(crate) dim: usize,
    pub(crate) nbits: u8,
    pub(crate) cutoffs: Vec<f32>,
    pub(crate) weights: Vec<f32>,
    /// For each byte value, the weights of the `8 / nbits` codes it packs.
    table: Vec<f32>,
}

impl ResidualCodec {
    pub(crate) fn new(dim: usize, nbits: u8, cutoffs: Vec<f32>, weights: Vec<f32>) -> Self {
        let per_byte = 8 / nbits as usize;
        let mask = (1u16 << nbits) - 1;
        let mut table = Vec::with_capacity(256 * per_byte);
        for byte in 0u16..256 {
            for j in 0..per_byte {
                let code = (byte >> (j * nbits as usize)) & mask;
                table.push(weights[code as usize]);
            }
        }
        Self {
            dim,
            nbits,
            cutoffs,
            weights,
            table,
        }
    }

    pub(crate) fn bytes_per_token(&self) -> usize {
        bytes_per_token(self.dim, self.nbits)
    }

    /// Packs the buckets of `residual` (length `dim`) into `out`.
    pub(crate) fn encode(&self, residual: &[f32], out: &mut [u8]) {
        out.fill(0);
        let nbits = self.nbits as usize;
        for (i, &r) in residual.iter().enumerate() {
            // Number of cutoffs strictly below r (torch.bucketize, right=False).
            let bucket = self.cutoffs.partition_point(|&c| c < r) as u8;
            let bit = i * nbits;
            out[bit / 8] |= bucket << (bit % 8);
        }
    }

    /// Decodes one token: `normalize(centroid + weights[buckets])` into `out`.
    pub(crate) fn decode(&self, centroid: &[f32], packed: &[u8], out: &mut [f32]) {
        let per_byte = 8 / self.nbits as usize;
        let dim = self.dim;
        let full = dim / per_byte;
        for (b, &byte) in packed[..full].iter().enumerate() {
            let w = &self.table[byte as usize * per_byte..(byte as usize + 1) * per_byte];
            let base = b * per_byte;
            for j in 0..per_byte {
                out[base + j] = centroid[base + j] + w[j];
            }
        }
        if full * per_byte < dim {
            let byte = packed[full] as usize;
            for (j, i) in (full * per_byte..dim).enumerate() {
                out[i] = centroid[i] + self.table[byte * per_byte + j];
            }
        }
        let norm = out[..dim].iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            let inv = 1.0 / norm;
            out[..dim].iter_mut().for_each(|v| *v *= inv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_picks_the_bucket_weight() {
        let (cutoffs, weights) = train_buckets((0..1000).map(|i| i as f32 / 1000.0 - 0.5).collect(), 2, 0);
        assert_eq!(cutoffs.len(), 3);
        assert_eq!(weights.len(), 4);
        let codec = ResidualCodec::new(5, 2, cutoffs, weights.clone());
        let residual = [-0.4, -0.1, 0.1, 0.4, -0.4];
        let mut packed = vec![0u8; codec.bytes_per_token()];
        codec.encode(&residual, &mut packed);
        assert_eq!(packed.len(), 2);
        // Decode without normalisation effects: compare directions.
        let centroid = [0.0; 5];
        let mut out = [0.0; 5];
        codec.decode(&centroid, &packed, &mut out);
        let expect = [weights[0], weights[1], weights[2], weights[3], weights[0]];
        let norm = expect.iter().map(|v| v * v).sum::<f32>().sqrt();
        for (o, e) in out.iter().zip(expect) {
            assert!((o - e / norm).abs() < 1e-6);
        }
    }
}
