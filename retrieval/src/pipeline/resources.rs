//! The models and indexes the nodes use, as [resources](nodefusion::resource):
//! only their configs (or index locations) flow through the pipeline; each
//! process loads them once, on first use.

use nodefusion::{BoxError, Resource};
use nodefusion_udfs::bm25::Bm25Index;
use nodefusion_udfs::colbert::{ColbertEncoder, EncoderConfig};
use nodefusion_udfs::lookup::EmbeddingLookup;
use nodefusion_udfs::plaid::PlaidIndex;
use nodefusion_udfs::store::IndexHandle;
use serde::{Deserialize, Serialize};

/// The ColBERT encoder as a resource: its config travels, the model loads
/// once per process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Encoder(pub EncoderConfig);

impl Resource for Encoder {
    type Loaded = ColbertEncoder;
    fn load(&self) -> Result<ColbertEncoder, BoxError> {
        Ok(self.0.load()?)
    }
}

/// A PLAID index on storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VectorIndex(pub IndexHandle<PlaidIndex>);

impl Resource for VectorIndex {
    type Loaded = PlaidIndex;
    fn load(&self) -> Result<PlaidIndex, BoxError> {
        Ok(self.0.load()?)
    }
}

/// A BM25 index on storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LexicalIndex(pub IndexHandle<Bm25Index>);

impl Resource for LexicalIndex {
    type Loaded = Bm25Index;
    fn load(&self) -> Result<Bm25Index, BoxError> {
        Ok(self.0.load()?)
    }
}

/// Full-precision passage embeddings on storage, for reranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PassageLookup(pub IndexHandle<EmbeddingLookup>);

impl Resource for PassageLookup {
    type Loaded = EmbeddingLookup;
    fn load(&self) -> Result<EmbeddingLookup, BoxError> {
        Ok(self.0.load()?)
    }
}
