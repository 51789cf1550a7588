//! Building a PLAID index (see the module documentation): k-means
//! centroids on a sample, the residual codec, every token's code and packed
//! residual, and the inverted file.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::codec::{self, ResidualCodec};
use super::ivf::InvertedFile;
use super::kmeans::{self, Rows};
use super::{Codes, Counts, PlaidBuildParams, PlaidError, PlaidIndex, Result};
use crate::maxsim::DocEmbeddings;
use crate::store::{Array, StringTable};

/// ColBERTv2's number of centroids for `num_tokens` token embeddings:
/// `2^floor(log2(16·sqrt(T)))`, at most `T` (and at least 1).
///
/// ```
/// assert_eq!(nodefusion_udfs::plaid::default_num_centroids(90_000), 4096);
/// assert_eq!(nodefusion_udfs::plaid::default_num_centroids(10), 10);
/// ```
pub fn default_num_centroids(num_tokens: usize) -> usize {
    let x = 16.0 * (num_tokens as f64).sqrt();
    let pow = if x >= 1.0 {
        1usize << (x.log2().floor() as u32)
    } else {
        1
    };
    pow.min(num_tokens).max(1)
}

impl PlaidIndex {
    /// Builds an index over `docs`; document `i` keeps id `i`.
    pub fn build(docs: &DocEmbeddings, params: &PlaidBuildParams) -> Result<Self> {
        let _span = tracing::info_span!("plaid_build", docs = docs.len(), tokens = docs.num_tokens()).entered();
        if ![1u8, 2, 4].contains(&params.nbits) {
            return Err(PlaidError::InvalidParam {
                name: "nbits",
                expected: "1, 2 or 4",
                found: params.nbits.to_string(),
            });
        }
        if params.num_centroids == Some(0) {
            return Err(PlaidError::InvalidParam {
                name: "num_centroids",
                expected: ">= 1",
                found: "0".into(),
            });
        }
        if params.max_points_per_centroid == 0 {
            return Err(PlaidError::InvalidParam {
                name: "max_points_per_centroid",
                expected: ">= 1",
                found: "0".into(),
            });
        }
        let dim = docs.dim();
        let total = docs.num_tokens();
        if total == 0 {
            return Err(PlaidError::NoTokens { docs: docs.len() });
        }
        let tokens = docs.tokens();
        let mut rng = StdRng::seed_from_u64(params.seed);

        // Sample documents as ColBERTv2, then points.
        let n = docs.len();
        let sample_docs = n.min(1 + (16.0 * (120.0 * n as f64).sqrt()) as usize);
        let mut doc_ids: Vec<usize> = (0..n).collect();
        doc_ids.shuffle(&mut rng);
        let mut point_ids: Vec<usize> = doc_ids[..sample_docs]
            .iter()
            .flat_map(|&d| docs.offsets()[d]..docs.offsets()[d + 1])
            .collect();
        point_ids.shuffle(&mut rng);
        // Held-out points for the residual buckets (5%, at most 50k), kept
        // out of k-means training when enough points remain.
        let heldout_n = (point_ids.len() / 20).clamp(1, 50_000);
        let k_wanted = params.num_centroids.unwrap_or_else(|| default_num_centroids(total));
        let (heldout, train) = if point_ids.len() - heldout_n >= k_wanted {
            point_ids.split_at(heldout_n)
        } else {
            (&point_ids[..heldout_n], &point_ids[..])
        };
        let max_train = k_wanted.saturating_mul(params.max_points_per_centroid);
        let train = &train[..train.len().min(max_train)];
        let num_centroids = k_wanted.min(train.len());
        let centroids = {
            let _s = tracing::info_span!("kmeans", k = num_centroids, points = train.len()).entered();
            kmeans::kmeans(
                Rows::picked(tokens, dim, train),
                num_centroids,
                params.kmeans_iters,
                params.seed,
            )
        };

        // Residual buckets from held-out residuals.
        let heldout = Rows::picked(tokens, dim, heldout);
        let heldout_codes = kmeans::assign(heldout, &centroids, num_centroids);
        let mut values = Vec::with_capacity(heldout.len() * dim);
        for (i, &c) in heldout_codes.iter().enumerate() {
            let c = &centroids[c as usize * dim..(c as usize + 1) * dim];
            values.extend(heldout.row(i).iter().zip(c).map(|(x, y)| x - y));
        }
        let (cutoffs, weights) = codec::train_buckets(values, params.nbits, params.lloyd_iters);
        let codec = ResidualCodec::new(dim, params.nbits, cutoffs, weights);

        // Codes and packed residuals of every token.
        let all_codes = {
            let _s = tracing::info_span!("assign", tokens = total).entered();
            kmeans::assign(Rows::all(tokens, dim), &centroids, num_centroids)
        };
        let bpt = codec.bytes_per_token();
        let mut residuals = vec![0u8; total * bpt];
        residuals
            .par_chunks_mut(bpt * 1024)
            .zip(tokens.par_chunks(dim * 1024))
            .zip(all_codes.par_chunks(1024))
            .for_each(|((out, pts), codes)| {
                let mut r = vec![0f32; dim];
                for ((o, p), &c) in out.chunks_exact_mut(bpt).zip(pts.chunks_exact(dim)).zip(codes) {
                    let cen = &centroids[c as usize * dim..(c as usize + 1) * dim];
                    for ((ri, x), y) in r.iter_mut().zip(p).zip(cen) {
                        *ri = x - y;
                    }
                    codec.encode(&r, o);
                }
            });

        // Inverted file: centroid -> documents (ascending, unique).
        let doc_offsets: Vec<u64> = docs.offsets().iter().map(|&o| o as u64).collect();
        let per_doc: Vec<Vec<u32>> = (0..n)
            .into_par_iter()
            .map(|d| {
                let mut c: Vec<u32> = all_codes[docs.offsets()[d]..docs.offsets()[d + 1]].to_vec();
                c.sort_unstable();
                c.dedup();
                c
            })
            .collect();
        let mut counts_per_centroid = vec![0usize; num_centroids];
        per_doc
            .iter()
            .flatten()
            .for_each(|&c| counts_per_centroid[c as usize] += 1);
        let mut starts = Vec::with_capacity(num_centroids + 1);
        starts.push(0usize);
        for c in &counts_per_centroid {
            starts.push(starts[starts.len() - 1] + c);
        }
        let mut cursor = starts[..num_centroids].to_vec();
        let mut flat = vec![0u32; starts[num_centroids]];
        for (d, cs) in per_doc.iter().enumerate() {
            for &c in cs {
                flat[cursor[c as usize]] = d as u32;
                cursor[c as usize] += 1;
            }
        }
        let ivf = InvertedFile::from_lists(starts.windows(2).map(|w| &flat[w[0]..w[1]]));
        let codes = if num_centroids <= 1 << 16 {
            Codes::U16(Array::from_vec(all_codes.iter().map(|&c| c as u16).collect()))
        } else {
            Codes::U32(Array::from_vec(all_codes))
        };
        let doclens: Vec<u32> = (0..n).map(|d| (doc_offsets[d + 1] - doc_offsets[d]) as u32).collect();
        let counts = Counts {
            num_docs: n as u64,
            num_tokens: total as u64,
            num_centroids: num_centroids as u64,
            dim: dim as u64,
            code_bytes: codes.width() as u64,
            ivf_entries: flat.len() as u64,
            kmeans_points: train.len() as u64,
            has_external_ids: false,
        };
        Ok(Self {
            params: params.clone(),
            dim,
            num_centroids,
            centroids: Array::from_vec(centroids),
            codec,
            codes,
            residuals: bytes::Bytes::from(residuals),
            doclens: Array::from_vec(doclens),
            doc_offsets,
            ivf,
            external_ids: None,
            counts,
        })
    }

    /// Attaches external document ids (one per document, in id order).
    pub fn with_external_ids<S: AsRef<str>>(mut self, ids: &[S]) -> Result<Self> {
        if ids.len() as u64 != self.counts.num_docs {
            return Err(PlaidError::ExternalIdCount {
                expected: self.num_docs(),
                found: ids.len(),
            });
        }
        self.external_ids = Some(StringTable::from_strings(ids));
        self.counts.has_external_ids = true;
        Ok(self)
    }
}
