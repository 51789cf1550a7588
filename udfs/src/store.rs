//! Persistence of indexes on [`object_store`]: local paths, `file://`,
//! `s3://`, `http(s)://`, … (the remote schemes need the matching
//! `object_store` cargo feature, e.g. `aws` or `http`).
//!
//! # Layout and atomic publication
//!
//! An index lives under one location (`index_folder/index_name`):
//!
//! ```text
//! <location>/MANIFEST.json           the pointer: format, version, parameters,
//!                                    counts, and for each file its size + sha256
//! <location>/gen-<id>/<file>         the data files of one generation
//! ```
//!
//! A writer puts every data file under a fresh `gen-<id>/` staging prefix and
//! writes `MANIFEST.json` **last**; a single object write is atomic on every
//! object store, so a reader sees either the previous complete index or the
//! new complete one, never a half-written one. With `override = false` the
//! manifest is written with [`PutMode::Create`], so two racing writers cannot
//! both win. After replacing an index the previous generation is deleted
//! (best effort); a reader that still streams the old files from a remote
//! store may then fail and should reload.
//!
//! Loading validates the manifest (format name, kind, version range) and
//! every file's size and sha256; errors name the offending file. Local files
//! are memory-mapped, remote ones read into [`Bytes`]; numeric arrays are
//! reinterpreted in place when aligned (little-endian targets), so loading
//! copies nothing.
//!
//! The format follows tantivy's habit: a format version constant plus the
//! oldest version a reader still understands, checked at load.
//!
//! [`PutMode::Create`]: object_store::PutMode::Create
//! [`Bytes`]: bytes::Bytes

mod blocking;
mod columns;
mod handle;
mod location;
mod manifest;
mod reader;
mod remote;
mod set;
mod source;
mod stored;
mod writer;

pub(crate) use blocking::block_on;
pub(crate) use columns::{Array, Pod, StringTable};
pub use handle::{IndexHandle, LoadIndex};
pub use location::IndexLocation;
pub use manifest::{FileEntry, INDEX_FORMAT, MANIFEST_FILE, Manifest};
pub(crate) use reader::IndexReader;
pub use remote::{RemoteTimeouts, open_remote, remote_hint, remote_hint_of};
pub use set::{INDEX_SET_FILE, INDEX_SET_FORMAT, IndexSet, IndexSetManifest, Published, StagedSet};
pub use source::{IndexSource, SourceDigest};
pub use stored::SaveIndex;
pub(crate) use stored::{ManifestFields, StoredIndex, save, save_async};
pub(crate) use writer::IndexWriter;

/// Errors of index persistence. Each message says what was expected, what
/// was found and where (location or file).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location string could not be turned into an object store + path.
    #[error("invalid index location '{uri}': {reason}")]
    InvalidLocation {
        /// The location as given.
        uri: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The object store failed (network, permissions, …).
    #[error("{}object store error at '{location}': {source}", hint_first(source))]
    ObjectStore {
        /// Object the operation was about.
        location: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// There is no manifest at the location: it is empty or holds something else.
    #[error("no nodefusion index at '{uri}': expected the manifest '{manifest}', which does not exist ({found})")]
    NotAnIndex {
        /// The index location.
        uri: String,
        /// The manifest that was looked for.
        manifest: String,
        /// What the location holds instead.
        found: String,
    },
    /// The manifest exists but is not a readable nodefusion manifest.
    #[error("'{file}' is not a valid nodefusion index manifest: {reason}")]
    BadManifest {
        /// The manifest file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The index is of another kind (e.g. a BM25 index opened as PLAID).
    #[error("index at '{uri}' is a '{found}' index, expected a '{expected}' index")]
    WrongKind {
        /// The index location.
        uri: String,
        /// Kind the caller asked for.
        expected: String,
        /// Kind recorded in the manifest.
        found: String,
    },
    /// The index was written by a newer, incompatible version.
    #[error(
        "index at '{uri}' has format version {found} and needs a reader of version >= {min_reader}; this build reads versions {oldest}..={current}"
    )]
    UnsupportedVersion {
        /// The index location.
        uri: String,
        /// Format version recorded in the manifest.
        found: u32,
        /// Oldest reader version that the index says can read it.
        min_reader: u32,
        /// Oldest format version this build reads.
        oldest: u32,
        /// Format version this build writes.
        current: u32,
    },
    /// A data file listed in the manifest is absent.
    #[error("index file '{file}' is listed in the manifest but missing: {source}")]
    MissingFile {
        /// The missing file.
        file: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// A data file is shorter or longer than the manifest says.
    #[error("index file '{file}' is truncated or overwritten: expected {expected} bytes, found {found}")]
    SizeMismatch {
        /// The file.
        file: String,
        /// Size recorded in the manifest.
        expected: u64,
        /// Size found.
        found: u64,
    },
    /// A data file's content does not match its checksum.
    #[error("index file '{file}' is corrupted: expected sha256 {expected}, found {found}")]
    ChecksumMismatch {
        /// The file.
        file: String,
        /// Checksum recorded in the manifest.
        expected: String,
        /// Checksum of the bytes read.
        found: String,
    },
    /// A data file passed its checksum but its content is inconsistent.
    #[error("index file '{file}' has invalid content: {reason}")]
    InvalidContent {
        /// The file.
        file: String,
        /// What is inconsistent.
        reason: String,
    },
    /// An index exists and the caller asked not to override it.
    #[error("an index already exists at '{uri}' and override = false; pass override = true to replace it")]
    AlreadyExists {
        /// The index location.
        uri: String,
    },
    /// The async runtime used by the blocking API could not start.
    #[error("could not start an async runtime for blocking index i/o: {0}")]
    Runtime(String),
}

/// [`remote_hint`]'s reason and a separator, or nothing.
fn hint_first(error: &object_store::Error) -> String {
    remote_hint_of(error).map_or_else(String::new, |hint| format!("{hint}; "))
}

/// Result alias of this module.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
