//! What every stored index kind has in common: [`StoredIndex`] says what
//! varies between kinds, [`save`] and [`load`] (and their async forms) do
//! the rest (staging, publication, manifest checks) the same way for all.

use std::future::Future;

use super::StoreError;
use super::blocking::block_on;
use super::location::IndexLocation;
use super::manifest::Manifest;
use super::reader::IndexReader;
use super::writer::IndexWriter;

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
    let mut w = IndexWriter::begin(location, overwrite).await?;
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
