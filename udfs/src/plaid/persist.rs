//! Persisting a PLAID index with [`crate::store`]: its data files, the
//! checks when reading them back.

use super::codec::ResidualCodec;
use super::ivf::InvertedFile;
use super::{Codes, Counts, PlaidBuildParams, PlaidError, PlaidIndex, Result};
use crate::store::{self, IndexLocation, IndexReader, IndexWriter, Manifest, ManifestFields, StoredIndex};

impl StoredIndex for PlaidIndex {
    const KIND: &'static str = super::INDEX_KIND;
    const FORMAT_VERSION: u32 = super::FORMAT_VERSION;
    const OLDEST_READABLE_VERSION: u32 = super::OLDEST_READABLE_VERSION;
    type Error = PlaidError;

    async fn write_files(&self, w: &mut IndexWriter<'_>) -> Result<ManifestFields> {
        w.put_array("centroids.f32", &self.centroids).await?;
        let mut buckets = self.codec.cutoffs.clone();
        buckets.extend_from_slice(&self.codec.weights);
        w.put_array("buckets.f32", &buckets).await?;
        match &self.codes {
            Codes::U16(c) => w.put_array("codes.u16", c).await?,
            Codes::U32(c) => w.put_array("codes.u32", c).await?,
        }
        w.put("residuals.u8", self.residuals.clone()).await?;
        w.put_array("doclens.u32", &self.doclens).await?;
        w.put_array("ivf.off", &self.ivf.offsets).await?;
        w.put("ivf.doc", self.ivf.lists.clone()).await?;
        if let Some(ids) = &self.external_ids {
            w.put_strings("external_ids", ids).await?;
        }
        Ok(ManifestFields::new(&self.params, &self.counts))
    }

    async fn read_files(r: &IndexReader) -> Result<Self> {
        let params: PlaidBuildParams = r.params()?;
        let counts: Counts = r.counts()?;
        let bad = |file: &str, reason: String| PlaidError::from(r.invalid_content(file, reason));
        let manifest_err = |reason: String| PlaidError::from(r.bad_manifest(reason));
        if ![1u8, 2, 4].contains(&params.nbits) {
            return Err(manifest_err(format!(
                "expected params.nbits in 1, 2, 4, found {}",
                params.nbits
            )));
        }
        let (dim, nc, n, t) = (
            counts.dim as usize,
            counts.num_centroids as usize,
            counts.num_docs as usize,
            counts.num_tokens as usize,
        );
        if dim == 0 || nc == 0 {
            return Err(manifest_err(format!(
                "expected counts.dim and counts.num_centroids >= 1, found {dim} and {nc}"
            )));
        }
        let centroids = r.read_array::<f32>("centroids.f32").await?;
        if centroids.len() != nc * dim {
            return Err(bad(
                "centroids.f32",
                format!("expected {nc}×{dim} values, found {}", centroids.len()),
            ));
        }
        let buckets = r.read_array::<f32>("buckets.f32").await?;
        let options = 1usize << params.nbits;
        if buckets.len() != 2 * options - 1 {
            return Err(bad(
                "buckets.f32",
                format!("expected {} values, found {}", 2 * options - 1, buckets.len()),
            ));
        }
        let codec = ResidualCodec::new(
            dim,
            params.nbits,
            buckets[..options - 1].to_vec(),
            buckets[options - 1..].to_vec(),
        );
        let codes = match counts.code_bytes {
            2 => Codes::U16(r.read_array::<u16>("codes.u16").await?),
            4 => Codes::U32(r.read_array::<u32>("codes.u32").await?),
            other => {
                return Err(manifest_err(format!(
                    "expected counts.code_bytes 2 or 4, found {other}"
                )));
            }
        };
        let codes_file = codes.file_name();
        if codes.len() != t {
            return Err(bad(codes_file, format!("expected {t} codes, found {}", codes.len())));
        }
        let out_of_range = match &codes {
            Codes::U16(c) => c.iter().position(|&x| x as usize >= nc),
            Codes::U32(c) => c.iter().position(|&x| x as usize >= nc),
        };
        if let Some(i) = out_of_range {
            return Err(bad(
                codes_file,
                format!("expected codes < {nc}, found {} at token {i}", codes.get(i)),
            ));
        }
        let residuals = r.read("residuals.u8").await?;
        if residuals.len() != t * codec.bytes_per_token() {
            return Err(bad(
                "residuals.u8",
                format!(
                    "expected {} bytes, found {}",
                    t * codec.bytes_per_token(),
                    residuals.len()
                ),
            ));
        }
        let doclens = r.read_array::<u32>("doclens.u32").await?;
        if doclens.len() != n {
            return Err(bad(
                "doclens.u32",
                format!("expected {n} lengths, found {}", doclens.len()),
            ));
        }
        let mut doc_offsets = Vec::with_capacity(n + 1);
        doc_offsets.push(0u64);
        for &l in doclens.iter() {
            doc_offsets.push(doc_offsets[doc_offsets.len() - 1] + l as u64);
        }
        if doc_offsets[n] != t as u64 {
            return Err(bad(
                "doclens.u32",
                format!("expected lengths summing to {t} tokens, found {}", doc_offsets[n]),
            ));
        }
        let ivf = InvertedFile {
            offsets: r.read_array::<u64>("ivf.off").await?,
            lists: r.read("ivf.doc").await?,
        };
        match ivf.validate(nc, n) {
            Ok(entries) if entries == counts.ivf_entries => {}
            Ok(entries) => {
                return Err(bad(
                    "ivf.doc",
                    format!(
                        "expected {} entries, found {entries} in the lists ivf.off delimits",
                        counts.ivf_entries
                    ),
                ));
            }
            Err(reason) => {
                let file = if reason.contains("offsets") {
                    "ivf.off"
                } else {
                    "ivf.doc"
                };
                return Err(bad(file, reason));
            }
        }
        let external_ids = if counts.has_external_ids {
            Some(r.read_strings("external_ids").await?)
        } else {
            None
        };
        if let Some(ids) = &external_ids
            && ids.len() != n
        {
            return Err(bad(
                "external_ids.off",
                format!("expected {n} ids, found {}", ids.len()),
            ));
        }
        Ok(Self {
            params,
            dim,
            num_centroids: nc,
            centroids,
            codec,
            codes,
            residuals,
            doclens,
            doc_offsets,
            ivf,
            external_ids,
            counts,
        })
    }
}

impl PlaidIndex {
    /// Writes the index to `location`. With `overwrite` (the pipeline's
    /// `override`) false an existing index is an error; with true it is
    /// replaced atomically (see [`crate::store`]).
    pub fn write(&self, location: &IndexLocation, overwrite: bool) -> Result<Manifest> {
        store::save(self, location, overwrite)
    }

    /// Async form of [`write`](Self::write).
    pub async fn write_async(&self, location: &IndexLocation, overwrite: bool) -> Result<Manifest> {
        store::save_async(self, location, overwrite).await
    }
}
