//! The stored indexes the functions read: which kind each function
//! wants, checking a URI at planning, and loading each index once per
//! process.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::common::{DataFusionError, Result};

use super::args::arg_error;
use crate::bm25::Bm25Index;
use crate::hit::Hit;
use crate::lookup::EmbeddingLookup;
use crate::plaid::PlaidIndex;
use crate::store::{IndexLocation, LoadIndex, SaveIndex, StoreError, block_on};

/// Which index a function reads: the two searches, and `rerank`'s lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Bm25,
    Plaid,
    /// The passage lookup `rerank` reads.
    Lookup,
}

impl Kind {
    pub(super) fn function(self) -> &'static str {
        match self {
            Kind::Bm25 => "bm25_search",
            Kind::Plaid => "plaid_search",
            Kind::Lookup => "rerank",
        }
    }

    /// The kind its manifest records.
    fn index_kind(self) -> &'static str {
        match self {
            Kind::Bm25 => Bm25Index::KIND,
            Kind::Plaid => PlaidIndex::KIND,
            Kind::Lookup => EmbeddingLookup::KIND,
        }
    }

    pub(super) fn query(self) -> &'static str {
        match self {
            Kind::Bm25 => "text",
            Kind::Plaid | Kind::Lookup => "query",
        }
    }
}

/// Hits with their passages' ids (the position in the index when it has
/// none).
pub(super) fn named<'a>(hits: &[Hit], id: impl Fn(u32) -> Option<&'a str>) -> Vec<(String, f32)> {
    hits.iter()
        .map(|h| (id(h.doc).map_or_else(|| h.doc.to_string(), str::to_owned), h.score))
        .collect()
}

/// Checks that `uri` holds an index of `kind`'s kind, reading its manifest.
pub(super) fn check_index(kind: Kind, uri: &str) -> Result<()> {
    let location = IndexLocation::parse(uri).map_err(|e| arg_error(kind.function(), 1, "index_uri", e))?;
    let manifest = block_on(location.read_manifest())
        .and_then(|read| read)
        .map_err(|e| arg_error(kind.function(), 1, "index_uri", e))?;
    if manifest.kind != kind.index_kind() {
        return Err(arg_error(
            kind.function(),
            1,
            "index_uri",
            format!(
                "'{uri}' holds a '{}' index, not a '{}' one",
                manifest.kind,
                kind.index_kind()
            ),
        ));
    }
    Ok(())
}

/// The indexes of kind `I` one batch reads, each looked up once per batch
/// (a manifest read), however many rows name it.
pub(super) struct Opened<I> {
    kind: Kind,
    by_uri: HashMap<String, Arc<I>>,
}

impl<I: LoadIndex + 'static> Opened<I>
where
    I::Error: std::fmt::Display,
{
    pub(super) fn new(kind: Kind) -> Self {
        Self {
            kind,
            by_uri: HashMap::new(),
        }
    }

    pub(super) fn get(&mut self, uri: &str) -> Result<Arc<I>> {
        if let Some(index) = self.by_uri.get(uri) {
            return Ok(index.clone());
        }
        let index = loaded::<I>(self.kind, uri)?;
        self.by_uri.insert(uri.to_owned(), index.clone());
        Ok(index)
    }
}

/// Indexes loaded in this process, by kind and URI, with the generation
/// they were loaded from.
type Loaded = HashMap<(Kind, String), (String, Arc<dyn Any + Send + Sync>)>;

static LOADED: LazyLock<Mutex<Loaded>> = LazyLock::new(Default::default);

/// The index of kind `I` at `uri`: loaded once per process, again when a
/// new generation replaced it.
fn loaded<I: LoadIndex + 'static>(kind: Kind, uri: &str) -> Result<Arc<I>>
where
    I::Error: std::fmt::Display,
{
    let fault =
        |e: &dyn std::fmt::Display| DataFusionError::Execution(format!("{}: index '{uri}': {e}", kind.function()));
    let location = IndexLocation::parse(uri).map_err(|e| fault(&e))?;
    let generation = block_on(location.read_manifest())
        .and_then(|read| read)
        .map_err(|e: StoreError| fault(&e))?
        .generation;
    let key = (kind, uri.to_owned());
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, index)) = loaded.get(&key)
        && *at == generation
        && let Ok(index) = index.clone().downcast::<I>()
    {
        return Ok(index);
    }
    let index = Arc::new(I::load(&location).map_err(|e| fault(&e))?);
    loaded.insert(key, (generation, index.clone()));
    Ok(index)
}
