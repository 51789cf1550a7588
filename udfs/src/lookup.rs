//! Full-precision token embeddings of a collection, stored with their
//! passage ids: what exact-MaxSim [reranking](crate::rerank) reads, since a
//! PLAID index keeps only compressed residuals.
//!
//! Persisted like the indexes (see [`crate::store`]): `tokens.f32`,
//! `offsets.u64` and the ids, under one manifest written last.
//!
//! ```
//! use nodefusion_udfs::lookup::EmbeddingLookup;
//! use nodefusion_udfs::maxsim::DocEmbeddings;
//! use nodefusion_udfs::store::{IndexLocation, LoadIndex};
//! let dir = std::env::temp_dir().join(format!("lookup-doc-{}", std::process::id()));
//! let docs = DocEmbeddings::from_docs(2, &[vec![1.0, 0.0], vec![0.0, 1.0, 0.6, 0.8]]).unwrap();
//! let lookup = EmbeddingLookup::new(docs, &["a", "b"]).unwrap();
//! let location = IndexLocation::new(dir.to_str().unwrap(), "passages").unwrap();
//! lookup.write(&location, true).unwrap();
//! let back = EmbeddingLookup::load(&location).unwrap();
//! assert_eq!(back.id_of("b"), Some(1));
//! assert_eq!(back.docs().doc(1).unwrap(), &[0.0, 1.0, 0.6, 0.8]);
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::hit::DocId;
use crate::maxsim::{DocEmbeddings, MaxSimError};
use crate::store::{
    self, IndexLocation, IndexReader, IndexWriter, MANIFEST_FILE, Manifest, ManifestFields, StoreError, StoredIndex,
    StringTable,
};

const INDEX_KIND: &str = "embedding-lookup";
/// The on-disk format version written.
pub const FORMAT_VERSION: u32 = 1;
/// The oldest format version this code reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// Errors of the lookup.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Reading or writing storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The embeddings are malformed.
    #[error(transparent)]
    Embeddings(#[from] MaxSimError),
    /// There is not one id per document.
    #[error("{ids} ids for {docs} documents")]
    IdCount {
        /// Ids given.
        ids: usize,
        /// Documents.
        docs: usize,
    },
    /// Two documents share an id.
    #[error("duplicate id '{0}'")]
    DuplicateId(String),
}

/// `Result` of this module.
pub type Result<T, E = LookupError> = std::result::Result<T, E>;

#[derive(Serialize, Deserialize)]
struct Counts {
    dim: u64,
    num_docs: u64,
    num_tokens: u64,
}

/// Token embeddings with one external id per document.
#[derive(Debug, Clone)]
pub struct EmbeddingLookup {
    docs: DocEmbeddings,
    ids: Vec<String>,
    by_id: HashMap<String, DocId>,
}

impl EmbeddingLookup {
    /// A lookup over `docs`, document `i` named `ids[i]`.
    pub fn new<S: AsRef<str>>(docs: DocEmbeddings, ids: &[S]) -> Result<Self> {
        if ids.len() != docs.len() {
            return Err(LookupError::IdCount {
                ids: ids.len(),
                docs: docs.len(),
            });
        }
        let ids: Vec<String> = ids.iter().map(|s| s.as_ref().to_string()).collect();
        let mut by_id = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if by_id.insert(id.clone(), i as DocId).is_some() {
                return Err(LookupError::DuplicateId(id.clone()));
            }
        }
        Ok(Self { docs, ids, by_id })
    }

    /// The embeddings.
    pub fn docs(&self) -> &DocEmbeddings {
        &self.docs
    }

    /// The document named `id`.
    pub fn id_of(&self, id: &str) -> Option<DocId> {
        self.by_id.get(id).copied()
    }

    /// The name of document `doc`.
    pub fn external_id(&self, doc: DocId) -> Option<&str> {
        self.ids.get(doc as usize).map(String::as_str)
    }

    /// Writes the lookup; an existing one is an error unless `overwrite`,
    /// which replaces it atomically.
    pub fn write(&self, location: &IndexLocation, overwrite: bool) -> Result<Manifest> {
        store::save(self, location, overwrite)
    }
}

impl StoredIndex for EmbeddingLookup {
    const KIND: &'static str = INDEX_KIND;
    const FORMAT_VERSION: u32 = FORMAT_VERSION;
    const OLDEST_READABLE_VERSION: u32 = OLDEST_READABLE_VERSION;
    type Error = LookupError;

    async fn write_files(&self, w: &mut IndexWriter<'_>) -> Result<ManifestFields> {
        w.put_array("tokens.f32", self.docs.tokens()).await?;
        let offsets: Vec<u64> = self.docs.offsets().iter().map(|&o| o as u64).collect();
        w.put_array("offsets.u64", &offsets).await?;
        w.put_strings("ids", &StringTable::from_strings(&self.ids)).await?;
        let counts = Counts {
            dim: self.docs.dim() as u64,
            num_docs: self.docs.len() as u64,
            num_tokens: self.docs.num_tokens() as u64,
        };
        Ok(ManifestFields::new(&serde_json::Value::Null, &counts))
    }

    async fn read_files(r: &IndexReader) -> Result<Self> {
        let counts: Counts = r.counts()?;
        let bad = |file: &str, reason: String| r.invalid_content(file, reason);
        let tokens = r.read_array::<f32>("tokens.f32").await?;
        let offsets = r.read_array::<u64>("offsets.u64").await?;
        let ids = r.read_strings("ids").await?;
        let (dim, n) = (counts.dim as usize, counts.num_docs as usize);
        let values = (counts.num_tokens as usize).checked_mul(dim).ok_or_else(|| {
            bad(
                MANIFEST_FILE,
                format!("{} tokens of {dim} values overflow", counts.num_tokens),
            )
        })?;
        if tokens.len() != values {
            return Err(bad(
                "tokens.f32",
                format!("expected {values} values, found {}", tokens.len()),
            )
            .into());
        }
        if offsets.len() != n + 1
            || offsets.first().copied() != Some(0)
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last().copied() != Some(counts.num_tokens)
        {
            return Err(bad(
                "offsets.u64",
                format!("expected {} increasing offsets from 0 to {}", n + 1, counts.num_tokens),
            )
            .into());
        }
        if ids.len() != n {
            return Err(bad("ids.off", format!("expected {n} ids, found {}", ids.len())).into());
        }
        // The documents view the loaded (memory-mapped) tokens in place.
        let doc_values: Vec<usize> = offsets.windows(2).map(|w| (w[1] - w[0]) as usize * dim).collect();
        let docs = DocEmbeddings::from_shared(dim, std::sync::Arc::new(tokens), &doc_values).map_err(|e| match e {
            MaxSimError::ZeroDim => bad(MANIFEST_FILE, e.to_string()),
            other => bad("tokens.f32", other.to_string()),
        })?;
        let names: Vec<&str> = (0..n).map(|i| ids.get(i)).collect();
        Self::new(docs, &names).map_err(|e| bad("ids.str", e.to_string()).into())
    }
}
