//! What every stored index kind has in common: [`StoredIndex`] says what
//! varies between kinds, [`save`] and [`load`] (and their async forms) do
//! the rest (staging, publication, manifest checks) the same way for all.

use std::future::Future;

use super::StoreError;
use super::blocking::block_on;
use super::location::IndexLocation;
use super::manifest::Manifest;
use super::reader::IndexReader;
use super::source::SourceDigest;
use super::writer::IndexWriter;
use crate::bm25::{Bm25Error, Bm25Index};
use crate::lookup::{EmbeddingLookup, LookupError};
use crate::plaid::{PlaidError, PlaidIndex};

/// The kind-specific part of a manifest, recorded by [`StoredIndex::write_files`].
pub(crate) struct ManifestFields {
    /// Build parameters (the manifest's `params`).
    pub(crate) params: serde_json::Value,
    /// Counts (the manifest's `counts`).
    pub(crate) counts: serde_json::Value,
}

impl ManifestFields {
    /// The fields recording `params` and `counts` (plain serialisable
    /// structs, which always convert to JSON).
    pub(crate) fn new(params: &impl serde::Serialize, counts: &impl serde::Serialize) -> Self {
        ManifestFields {
            params: serde_json::to_value(params).unwrap_or_default(),
            counts: serde_json::to_value(counts).unwrap_or_default(),
        }
    }
}

/// An index kind persisted under one manifest (see the [module
/// documentation](super)): its name and format versions, and how its data
/// files are written and read back. [`save`] and [`load`] do the rest.
pub(crate) trait StoredIndex: Sized + Send + Sync {
    /// Index kind recorded in the manifest, e.g. `"plaid"`.
    const KIND: &'static str;
    /// Format version this build writes.
    const FORMAT_VERSION: u32;
    /// Oldest format version this build reads.
    const OLDEST_READABLE_VERSION: u32;
    /// The kind's error, which carries persistence errors.
    type Error: From<StoreError> + Send;

    /// Writes the data files of a new generation to `w` and returns what the
    /// manifest records besides them.
    fn write_files(&self, w: &mut IndexWriter<'_>) -> impl Future<Output = Result<ManifestFields, Self::Error>> + Send;

    /// Reads the index back from `r`, whose manifest has the right kind and
    /// a readable version, validating what the generic checks cannot.
    fn read_files(r: &IndexReader) -> impl Future<Output = Result<Self, Self::Error>> + Send;
}

/// Saving an index kind ([`PlaidIndex`](crate::plaid::PlaidIndex),
/// [`Bm25Index`](crate::bm25::Bm25Index),
/// [`EmbeddingLookup`](crate::lookup::EmbeddingLookup)) with a record of
/// what it was built from, and reusing an index built from the same source
/// instead of building it again.
///
/// ```
/// use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
/// use nodefusion_udfs::store::{IndexLocation, IndexSource, LoadIndex, SaveIndex};
/// let dir = tempfile::tempdir().unwrap();
/// let folder = dir.path().to_str().unwrap();
/// let (texts, ids) = (["שלום עולם", "עולם"], ["a", "b"]);
/// let source = IndexSource::of::<Bm25Index>().settings(&Bm25Params::default()).strs(&texts).strs(&ids).finish();
/// let first = IndexLocation::new(folder, "first/bm25").unwrap();
/// Bm25Index::build(&texts, &Bm25Params::default()).unwrap()
///     .with_external_ids(&ids).unwrap()
///     .save_built_from(&first, false, &source).unwrap();
/// // A second build from the same source copies the first instead.
/// let second = IndexLocation::new(folder, "second/bm25").unwrap();
/// assert!(Bm25Index::reuse(&second, &first, &source, false).unwrap().is_some());
/// assert_eq!(Bm25Index::load(&second).unwrap().num_docs(), 2);
/// ```
pub trait SaveIndex: Sized + Send + Sync {
    /// Index kind recorded in the manifest, e.g. `"plaid"`.
    const KIND: &'static str;
    /// Format version this build writes.
    const FORMAT_VERSION: u32;
    /// The kind's error, which carries the store's.
    type Error: From<StoreError>;

    /// Writes the index to `location` (as the kind's `write` does),
    /// recording `source` in the manifest.
    fn save_built_from(
        &self,
        location: &IndexLocation,
        overwrite: bool,
        source: &SourceDigest,
    ) -> Result<Manifest, Self::Error>;

    /// Publishes at `location` a copy of the index at `from` when `from`
    /// holds an index of this kind and format version built from `source`,
    /// and returns its manifest; `Ok(None)` (nothing written) when it does
    /// not. The copy is checked file by file against `from`'s manifest
    /// (sizes here; loading checks the checksums). `overwrite` is as for
    /// [`save_built_from`](Self::save_built_from).
    fn reuse(
        location: &IndexLocation,
        from: &IndexLocation,
        source: &SourceDigest,
        overwrite: bool,
    ) -> Result<Option<Manifest>, StoreError>;
}

/// Each stored kind saves and reuses through the store's one path.
macro_rules! saves_through_the_store {
    ($($kind:ty => $error:ty),* $(,)?) => {$(
        impl SaveIndex for $kind {
            const KIND: &'static str = <$kind as StoredIndex>::KIND;
            const FORMAT_VERSION: u32 = <$kind as StoredIndex>::FORMAT_VERSION;
            type Error = $error;

            fn save_built_from(
                &self,
                location: &IndexLocation,
                overwrite: bool,
                source: &SourceDigest,
            ) -> Result<Manifest, Self::Error> {
                block_on(write(self, location, overwrite, Some(source)))?
            }

            fn reuse(
                location: &IndexLocation,
                from: &IndexLocation,
                source: &SourceDigest,
                overwrite: bool,
            ) -> Result<Option<Manifest>, StoreError> {
                block_on(reuse::<Self>(location, from, source, overwrite))?
            }
        }
    )*};
}

saves_through_the_store!(
    PlaidIndex => PlaidError,
    Bm25Index => Bm25Error,
    EmbeddingLookup => LookupError,
);

/// [`SaveIndex::reuse`], async.
async fn reuse<I: StoredIndex>(
    location: &IndexLocation,
    from: &IndexLocation,
    source: &SourceDigest,
    overwrite: bool,
) -> Result<Option<Manifest>, StoreError> {
    let found = match from.read_manifest().await {
        Ok(found) => found,
        Err(StoreError::NotAnIndex { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if found.kind != I::KIND
        || found.format_version != I::FORMAT_VERSION
        || found.source.as_deref() != Some(source.as_str())
    {
        return Ok(None);
    }
    let mut w = IndexWriter::begin(location, overwrite).await?;
    w.built_from(source);
    w.copied_from(from);
    for file in &found.files {
        w.copy(from, &found.generation, file).await?;
    }
    let manifest = w
        .publish(
            I::KIND,
            found.format_version,
            found.min_reader_version,
            found.params,
            found.counts,
        )
        .await?;
    Ok(Some(manifest))
}

/// Writes `index` to `location`. With `overwrite` (the pipeline's
/// `override`) false an existing index is an error; with true it is
/// replaced atomically.
pub(crate) fn save<I: StoredIndex>(index: &I, location: &IndexLocation, overwrite: bool) -> Result<Manifest, I::Error> {
    block_on(save_async(index, location, overwrite))?
}

/// Async form of [`save`].
pub(crate) async fn save_async<I: StoredIndex>(
    index: &I,
    location: &IndexLocation,
    overwrite: bool,
) -> Result<Manifest, I::Error> {
    write(index, location, overwrite, None).await
}

/// Writes `index` to `location`, recording `source` when there is one.
async fn write<I: StoredIndex>(
    index: &I,
    location: &IndexLocation,
    overwrite: bool,
    source: Option<&SourceDigest>,
) -> Result<Manifest, I::Error> {
    let mut w = IndexWriter::begin(location, overwrite).await?;
    if let Some(source) = source {
        w.built_from(source);
    }
    let ManifestFields { params, counts } = index.write_files(&mut w).await?;
    Ok(
        w.publish(I::KIND, I::FORMAT_VERSION, I::OLDEST_READABLE_VERSION, params, counts)
            .await?,
    )
}

/// Loads the index of kind `I` at `location`, validating the manifest (kind,
/// version), every file's size and checksum, and the content.
pub(crate) fn load<I: StoredIndex>(location: &IndexLocation) -> Result<I, I::Error> {
    block_on(load_async(location))?
}

/// Async form of [`load`].
pub(crate) async fn load_async<I: StoredIndex>(location: &IndexLocation) -> Result<I, I::Error> {
    let r = IndexReader::open(location.clone(), I::KIND, I::FORMAT_VERSION, I::OLDEST_READABLE_VERSION).await?;
    I::read_files(&r).await
}
