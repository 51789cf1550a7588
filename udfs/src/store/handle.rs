//! [`IndexHandle`]: a stored index of any kind as its location, the small
//! serialisable config a pipeline passes around (a resource's config), and
//! [`LoadIndex`], what a handle loads.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::stored::{load, load_async};
use super::{IndexLocation, StoreError};
use crate::bm25::{Bm25Error, Bm25Index};
use crate::lookup::{EmbeddingLookup, LookupError};
use crate::plaid::{PlaidError, PlaidIndex};

/// An index kind that loads from a location, validating its manifest,
/// every file's checksum and the content: [`PlaidIndex`](crate::plaid::PlaidIndex),
/// [`Bm25Index`](crate::bm25::Bm25Index),
/// [`EmbeddingLookup`](crate::lookup::EmbeddingLookup).
pub trait LoadIndex: Sized + Send + Sync {
    /// The kind's error, which carries the store's.
    type Error: From<StoreError>;

    /// Loads the index at `location`.
    fn load(location: &IndexLocation) -> Result<Self, Self::Error>;

    /// Async form of [`load`](Self::load).
    fn load_async(location: &IndexLocation) -> impl Future<Output = Result<Self, Self::Error>> + Send;
}

/// Each stored kind loads through the store's one checked path.
macro_rules! loads_through_the_store {
    ($($kind:ty => $error:ty),* $(,)?) => {$(
        impl LoadIndex for $kind {
            type Error = $error;

            fn load(location: &IndexLocation) -> Result<Self, Self::Error> {
                load::<Self>(location)
            }

            fn load_async(location: &IndexLocation) -> impl Future<Output = Result<Self, Self::Error>> + Send {
                load_async::<Self>(location)
            }
        }
    )*};
}

loads_through_the_store!(
    PlaidIndex => PlaidError,
    Bm25Index => Bm25Error,
    EmbeddingLookup => LookupError,
);

/// A serialisable reference to a stored index of kind `I`: travels in
/// plans, resolved with [`load`](Self::load) on each worker. Its serde form
/// is `{"uri": …, "options": {…}}` whatever the kind.
///
/// ```
/// use nodefusion_udfs::plaid::PlaidIndex;
/// use nodefusion_udfs::store::IndexHandle;
/// let h = IndexHandle::<PlaidIndex>::new("/data/indexes/plaid_he");
/// let json = serde_json::to_string(&h).unwrap();
/// assert_eq!(json, r#"{"uri":"/data/indexes/plaid_he","options":{}}"#);
/// assert_eq!(serde_json::from_str::<IndexHandle<PlaidIndex>>(&json).unwrap(), h);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct IndexHandle<I> {
    /// Index location: a local path or a URL.
    pub uri: String,
    /// Object store options (e.g. `aws_region`); do not put secrets here,
    /// the store builders also read them from the environment.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(skip)]
    kind: PhantomData<fn() -> I>,
}

impl<I> IndexHandle<I> {
    /// A handle for the index at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            options: BTreeMap::new(),
            kind: PhantomData,
        }
    }

    /// The index location.
    pub fn location(&self) -> Result<IndexLocation, StoreError> {
        IndexLocation::parse_with_options(&self.uri, &self.options)
    }
}

impl<I: LoadIndex> IndexHandle<I> {
    /// Loads the index.
    pub fn load(&self) -> Result<I, I::Error> {
        I::load(&self.location()?)
    }

    /// Async form of [`load`](Self::load).
    pub async fn load_async(&self) -> Result<I, I::Error> {
        I::load_async(&self.location()?).await
    }
}

// By hand: derives would ask the same of the kind `I`, which the handle
// only names.
impl<I> Clone for IndexHandle<I> {
    fn clone(&self) -> Self {
        Self {
            uri: self.uri.clone(),
            options: self.options.clone(),
            kind: PhantomData,
        }
    }
}

impl<I> fmt::Debug for IndexHandle<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexHandle")
            .field("kind", &std::any::type_name::<I>())
            .field("uri", &self.uri)
            .field("options", &self.options)
            .finish()
    }
}

impl<I> PartialEq for IndexHandle<I> {
    fn eq(&self, other: &Self) -> bool {
        self.uri == other.uri && self.options == other.options
    }
}

impl<I> Eq for IndexHandle<I> {}

impl<I> Hash for IndexHandle<I> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.uri.hash(state);
        self.options.hash(state);
    }
}
