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

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod remote;
mod set;

pub use remote::{RemoteTimeouts, open_remote, remote_hint, remote_hint_of};
pub use set::{INDEX_SET_FILE, INDEX_SET_FORMAT, IndexSet, IndexSetManifest, Published, StagedSet};

/// Name of the manifest object that publishes an index.
pub const MANIFEST_FILE: &str = "MANIFEST.json";

/// Value of [`Manifest::format`] for every nodefusion index.
pub const INDEX_FORMAT: &str = "nodefusion-index";

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

/// One data file of an index as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name inside the generation folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

/// The manifest that publishes an index (`MANIFEST.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`INDEX_FORMAT`].
    pub format: String,
    /// Index kind, e.g. `"plaid"` or `"bm25"`.
    pub kind: String,
    /// Format version the index was written with.
    pub format_version: u32,
    /// Oldest reader version able to read this index.
    pub min_reader_version: u32,
    /// Folder (relative to the location) that holds the data files.
    pub generation: String,
    /// Crate and version that wrote the index.
    pub created_by: String,
    /// Build parameters (kind-specific).
    pub params: serde_json::Value,
    /// Counts (documents, tokens, …; kind-specific).
    pub counts: serde_json::Value,
    /// Data files with sizes and checksums.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Total size of the data files in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// Size of the data file `name`, if listed.
    pub fn file_bytes(&self, name: &str) -> Option<u64> {
        self.files.iter().find(|f| f.name == name).map(|f| f.bytes)
    }
}

/// Where an index lives: an object store plus a path prefix.
///
/// ```
/// use nodefusion_udfs::store::IndexLocation;
/// let dir = std::env::temp_dir();
/// let loc = IndexLocation::new(dir.to_str().unwrap(), "my_index").unwrap();
/// assert!(loc.uri().ends_with("my_index"));
/// ```
#[derive(Clone)]
pub struct IndexLocation {
    uri: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    local: bool,
}

impl std::fmt::Debug for IndexLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexLocation")
            .field("uri", &self.uri)
            .field("store", &self.store.to_string())
            .finish()
    }
}

impl IndexLocation {
    /// The location `index_folder/index_name`; `index_folder` is a local path
    /// or a URL (`file://`, `s3://`, `http(s)://`, `memory://`).
    pub fn new(index_folder: &str, index_name: &str) -> Result<Self> {
        let name = index_name.trim_matches('/');
        if name.is_empty() || name.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(StoreError::InvalidLocation {
                uri: format!("{index_folder}/{index_name}"),
                reason: format!(
                    "index name '{index_name}' must be a non-empty relative name without '.', '..' or empty segments"
                ),
            });
        }
        let folder = index_folder.trim_end_matches('/');
        Self::parse(&format!("{folder}/{name}"))
    }

    /// Parses a full location (local path or URL), using only environment
    /// variables for store credentials.
    pub fn parse(uri: &str) -> Result<Self> {
        Self::parse_with_options(uri, &BTreeMap::new())
    }

    /// Parses a full location; `options` go to the object store builder
    /// ([`object_store::parse_url_opts`]), e.g. `aws_region`.
    pub fn parse_with_options(uri: &str, options: &BTreeMap<String, String>) -> Result<Self> {
        let invalid = |reason: String| StoreError::InvalidLocation {
            uri: uri.to_owned(),
            reason,
        };
        if uri.trim().is_empty() {
            return Err(invalid("the location is empty".into()));
        }
        let local_path = if uri.contains("://") {
            let url = url::Url::parse(uri).map_err(|e| invalid(format!("not a valid URL: {e}")))?;
            if url.scheme() == "file" {
                Some(
                    url.to_file_path()
                        .map_err(|()| invalid("file URL has no local path".into()))?,
                )
            } else {
                let (store, prefix) = open_remote(&url, options).map_err(invalid)?;
                return Ok(Self {
                    uri: uri.trim_end_matches('/').to_owned(),
                    store,
                    prefix,
                    local: false,
                });
            }
        } else {
            Some(std::path::PathBuf::from(uri))
        };
        let path = local_path.unwrap_or_default();
        let abs = std::path::absolute(&path).map_err(|e| invalid(e.to_string()))?;
        let prefix = Path::from_absolute_path(&abs).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            uri: abs.to_string_lossy().trim_end_matches('/').to_owned(),
            store: Arc::new(LocalFileSystem::new().with_automatic_cleanup(true)),
            prefix,
            local: true,
        })
    }

    /// The location `prefix` in an object store of the caller's making (a
    /// store with its own client settings, or a wrapper that adds tracing
    /// or faults); `uri` names it in messages.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nodefusion_udfs::store::IndexLocation;
    /// let store = Arc::new(object_store::memory::InMemory::new());
    /// let location = IndexLocation::from_store("memory:///indexes/bm25", store, "indexes/bm25".into());
    /// assert_eq!(location.uri(), "memory:///indexes/bm25");
    /// ```
    pub fn from_store(uri: impl Into<String>, store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        Self {
            uri: uri.into(),
            store,
            prefix,
            local: false,
        }
    }

    /// The location as a display string (absolute for local paths).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn child(&self, parts: &[&str]) -> Path {
        parts.iter().fold(self.prefix.clone(), |p, part| p.clone().join(*part))
    }

    fn display(&self, parts: &[&str]) -> String {
        let mut s = self.uri.clone();
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    fn store_err(&self, parts: &[&str]) -> impl FnOnce(object_store::Error) -> StoreError + '_ {
        let location = self.display(parts);
        move |source| StoreError::ObjectStore { location, source }
    }

    /// Whether a manifest exists at this location.
    pub async fn exists(&self) -> Result<bool> {
        match self.store.head(&self.child(&[MANIFEST_FILE])).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.store_err(&[MANIFEST_FILE])(e)),
        }
    }

    /// Reads and parses the manifest without checking kind or version.
    pub async fn read_manifest(&self) -> Result<Manifest> {
        let file = self.display(&[MANIFEST_FILE]);
        let bytes = match self.store.get(&self.child(&[MANIFEST_FILE])).await {
            Ok(r) => r.bytes().await.map_err(self.store_err(&[MANIFEST_FILE]))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotAnIndex {
                    uri: self.uri.clone(),
                    manifest: file,
                    found: self.describe_contents().await,
                });
            }
            Err(e) => return Err(self.store_err(&[MANIFEST_FILE])(e)),
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| StoreError::BadManifest {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        if manifest.format != INDEX_FORMAT {
            return Err(StoreError::BadManifest {
                file,
                reason: format!("expected format '{INDEX_FORMAT}', found '{}'", manifest.format),
            });
        }
        Ok(manifest)
    }

    async fn describe_contents(&self) -> String {
        let listed: Vec<_> = match self.store.list(Some(&self.prefix)).take(4).try_collect().await {
            Ok(v) => v,
            Err(_) => return "the location could not be listed".into(),
        };
        if listed.is_empty() {
            return "the location is empty or does not exist".into();
        }
        let names: Vec<String> = listed
            .iter()
            .map(|m| {
                let full = m.location.as_ref();
                let pre = self.prefix.as_ref();
                full.strip_prefix(pre)
                    .unwrap_or(full)
                    .trim_start_matches('/')
                    .to_owned()
            })
            .take(3)
            .collect();
        format!(
            "the location holds other objects, e.g. {}",
            names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        )
    }
}

/// Writes the files of one index generation and publishes it.
pub(crate) struct IndexWriter<'a> {
    loc: &'a IndexLocation,
    generation: String,
    files: Vec<FileEntry>,
    overwrite: bool,
    previous: Option<Manifest>,
}

impl<'a> IndexWriter<'a> {
    /// Starts a new generation; fails early when an index exists and
    /// `overwrite` is false.
    pub(crate) async fn begin(loc: &'a IndexLocation, overwrite: bool) -> Result<Self> {
        let previous = match loc.read_manifest().await {
            Ok(m) => Some(m),
            Err(StoreError::NotAnIndex { .. }) => None,
            Err(e) if overwrite => {
                tracing::warn!("replacing an unreadable manifest at {}: {e}", loc.uri);
                None
            }
            Err(e) => return Err(e),
        };
        if previous.is_some() && !overwrite {
            return Err(StoreError::AlreadyExists { uri: loc.uri.clone() });
        }
        Ok(Self {
            loc,
            generation: fresh_generation("gen"),
            files: Vec::new(),
            overwrite,
            previous,
        })
    }

    /// Writes one data file of the generation.
    pub(crate) async fn put(&mut self, name: &str, bytes: Bytes) -> Result<()> {
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        let len = bytes.len() as u64;
        let path = self.loc.child(&[&self.generation, name]);
        if let Err(e) = self.loc.store.put(&path, PutPayload::from_bytes(bytes)).await {
            self.discard().await;
            return Err(self.loc.store_err(&[&self.generation, name])(e));
        }
        self.record(name, len, sha256);
        Ok(())
    }

    /// Removes what this generation wrote: it will not be published.
    async fn discard(&self) {
        delete_prefix(&self.loc.store, &self.loc.child(&[&self.generation])).await;
    }

    /// Writes one data file of the generation from `values`: a large array
    /// is encoded and uploaded part by part (16 MiB each, two in flight), so
    /// it is never held a second time as bytes; stores that cannot upload
    /// in parts (HTTP) get it in one piece. A failed upload is aborted.
    pub(crate) async fn put_array<T: Pod>(&mut self, name: &str, values: &[T]) -> Result<()> {
        const PART_BYTES: usize = 16 << 20;
        let part_values = (PART_BYTES / T::SIZE).max(1);
        if values.len() <= part_values {
            return self.put(name, encode(values)).await;
        }
        let path = self.loc.child(&[&self.generation, name]);
        let mut upload = match self.loc.store.put_multipart(&path).await {
            Ok(upload) => upload,
            Err(object_store::Error::NotImplemented { .. }) => return self.put(name, encode(values)).await,
            Err(e) => return Err(self.loc.store_err(&[&self.generation, name])(e)),
        };
        let mut hasher = Sha256::new();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut uploaded = Ok(());
        for chunk in values.chunks(part_values) {
            let bytes = encode(chunk);
            hasher.update(&bytes);
            in_flight.spawn(upload.put_part(PutPayload::from_bytes(bytes)));
            if in_flight.len() >= 2 {
                uploaded = part_result(in_flight.join_next().await);
                if uploaded.is_err() {
                    break;
                }
            }
        }
        while uploaded.is_ok()
            && let Some(done) = in_flight.join_next().await
        {
            uploaded = part_result(Some(done));
        }
        in_flight.shutdown().await;
        let completed = match uploaded {
            Ok(()) => upload.complete().await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = completed {
            let _ = upload.abort().await;
            self.discard().await;
            return Err(self.loc.store_err(&[&self.generation, name])(e));
        }
        self.record(
            name,
            (values.len() * T::SIZE) as u64,
            format!("{:x}", hasher.finalize()),
        );
        Ok(())
    }

    /// Notes a written file for the manifest.
    fn record(&mut self, name: &str, bytes: u64, sha256: String) {
        self.files.push(FileEntry {
            name: name.to_owned(),
            bytes,
            sha256,
        });
    }

    /// Writes the manifest, making the generation visible, then removes the
    /// previous generation.
    pub(crate) async fn publish(
        self,
        kind: &str,
        format_version: u32,
        min_reader_version: u32,
        params: serde_json::Value,
        counts: serde_json::Value,
    ) -> Result<Manifest> {
        let manifest = Manifest {
            format: INDEX_FORMAT.to_owned(),
            kind: kind.to_owned(),
            format_version,
            min_reader_version,
            generation: self.generation.clone(),
            created_by: concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")).to_owned(),
            params,
            counts,
            files: self.files,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::BadManifest {
            file: self.loc.display(&[MANIFEST_FILE]),
            reason: format!("could not serialise: {e}"),
        })?;
        let mode = if self.overwrite {
            PutMode::Overwrite
        } else {
            PutMode::Create
        };
        let res = self
            .loc
            .store
            .put_opts(&self.loc.child(&[MANIFEST_FILE]), json.into(), PutOptions::from(mode))
            .await;
        match res {
            Ok(_) => {}
            Err(e) => {
                let gen_prefix = self.loc.child(&[&self.generation]);
                delete_prefix(&self.loc.store, &gen_prefix).await;
                return Err(match e {
                    object_store::Error::AlreadyExists { .. } => StoreError::AlreadyExists {
                        uri: self.loc.uri.clone(),
                    },
                    e => self.loc.store_err(&[MANIFEST_FILE])(e),
                });
            }
        }
        if let Some(prev) = self.previous
            && prev.generation != manifest.generation
            && !prev.generation.is_empty()
            && !prev.generation.contains('/')
        {
            let old = self.loc.child(&[&prev.generation]);
            delete_prefix(&self.loc.store, &old).await;
        }
        Ok(manifest)
    }
}

/// A generation name no other writer picks: `<kind>-<time>-<random>`.
fn fresh_generation(kind: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{kind}-{nanos:x}-{:08x}", rand::random::<u32>())
}

async fn delete_prefix(store: &Arc<dyn ObjectStore>, prefix: &Path) {
    let listed: Vec<_> = match store.list(Some(prefix)).try_collect().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("could not list {prefix} for cleanup: {e}");
            return;
        }
    };
    for meta in listed {
        if let Err(e) = store.delete(&meta.location).await {
            tracing::warn!("could not delete {}: {e}", meta.location);
        }
    }
}

/// Reads the files of a published index, validating sizes and checksums.
pub(crate) struct IndexReader {
    loc: IndexLocation,
    manifest: Manifest,
}

impl IndexReader {
    /// Opens the index at `loc`, checking the manifest's kind and version.
    pub(crate) async fn open(
        loc: IndexLocation,
        kind: &str,
        current_version: u32,
        oldest_readable: u32,
    ) -> Result<Self> {
        let manifest = loc.read_manifest().await?;
        if manifest.kind != kind {
            return Err(StoreError::WrongKind {
                uri: loc.uri.clone(),
                expected: kind.to_owned(),
                found: manifest.kind,
            });
        }
        if manifest.min_reader_version > current_version || manifest.format_version < oldest_readable {
            return Err(StoreError::UnsupportedVersion {
                uri: loc.uri.clone(),
                found: manifest.format_version,
                min_reader: manifest.min_reader_version,
                oldest: oldest_readable,
                current: current_version,
            });
        }
        if manifest.generation.is_empty() || manifest.generation.contains('/') || manifest.generation.starts_with('.') {
            return Err(StoreError::BadManifest {
                file: loc.display(&[MANIFEST_FILE]),
                reason: format!("invalid generation folder '{}'", manifest.generation),
            });
        }
        Ok(Self { loc, manifest })
    }

    /// Display name of a data file, for error messages.
    pub(crate) fn file_display(&self, name: &str) -> String {
        self.loc.display(&[&self.manifest.generation, name])
    }

    /// Parses a JSON value from the manifest's `params`, naming the manifest on error.
    pub(crate) fn params<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.manifest.params.clone()).map_err(|e| StoreError::BadManifest {
            file: self.loc.display(&[MANIFEST_FILE]),
            reason: format!("invalid 'params': {e}"),
        })
    }

    /// Parses a JSON value from the manifest's `counts`, naming the manifest on error.
    pub(crate) fn counts<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.manifest.counts.clone()).map_err(|e| StoreError::BadManifest {
            file: self.loc.display(&[MANIFEST_FILE]),
            reason: format!("invalid 'counts': {e}"),
        })
    }

    /// Reads one data file (memory-mapped when local) and verifies it.
    pub(crate) async fn read(&self, name: &str) -> Result<Bytes> {
        let display = self.file_display(name);
        let entry = self
            .manifest
            .files
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| StoreError::BadManifest {
                file: self.loc.display(&[MANIFEST_FILE]),
                reason: format!("expected an entry for data file '{name}', found none"),
            })?;
        let path = self.loc.child(&[&self.manifest.generation, name]);
        let got = match self.loc.store.get(&path).await {
            Ok(r) => r,
            Err(e @ object_store::Error::NotFound { .. }) => {
                return Err(StoreError::MissingFile {
                    file: display,
                    source: e,
                });
            }
            Err(e) => {
                return Err(StoreError::ObjectStore {
                    location: display,
                    source: e,
                });
            }
        };
        let bytes = match got.payload {
            GetResultPayload::File(file, _) if self.loc.local => {
                map_file(file).map_err(|e| StoreError::InvalidContent {
                    file: display.clone(),
                    reason: format!("could not memory-map: {e}"),
                })?
            }
            _ => got.bytes().await.map_err(|e| StoreError::ObjectStore {
                location: display.clone(),
                source: e,
            })?,
        };
        if bytes.len() as u64 != entry.bytes {
            return Err(StoreError::SizeMismatch {
                file: display,
                expected: entry.bytes,
                found: bytes.len() as u64,
            });
        }
        let found = format!("{:x}", Sha256::digest(&bytes));
        if found != entry.sha256 {
            return Err(StoreError::ChecksumMismatch {
                file: display,
                expected: entry.sha256.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// Reads a numeric array file.
    pub(crate) async fn read_array<T: Pod>(&self, name: &str) -> Result<Array<T>> {
        let bytes = self.read(name).await?;
        Array::from_bytes(bytes).map_err(|reason| StoreError::InvalidContent {
            file: self.file_display(name),
            reason,
        })
    }

    /// Reads a string table stored as `<name>.str` + `<name>.off`.
    pub(crate) async fn read_strings(&self, name: &str) -> Result<StringTable> {
        let blob_name = format!("{name}.str");
        let off_name = format!("{name}.off");
        let blob = self.read(&blob_name).await?;
        let offsets = self.read_array::<u64>(&off_name).await?;
        StringTable::new(blob, offsets).map_err(|e| match e.in_data {
            true => StoreError::InvalidContent {
                file: self.file_display(&blob_name),
                reason: e.reason,
            },
            false => StoreError::InvalidContent {
                file: self.file_display(&off_name),
                reason: format!("{} (string data: {})", e.reason, self.file_display(&blob_name)),
            },
        })
    }
}

fn map_file(file: std::fs::File) -> std::io::Result<Bytes> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: index files are written once under a fresh generation folder
    // and never modified in place afterwards (a replacement writes a new
    // generation), so the mapped bytes do not change while mapped.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Bytes::from_owner(map))
}

/// The outcome of one uploaded part (`None`: no part was in flight).
fn part_result(
    joined: Option<std::result::Result<object_store::Result<()>, tokio::task::JoinError>>,
) -> object_store::Result<()> {
    match joined {
        Some(Ok(result)) => result,
        Some(Err(source)) => Err(object_store::Error::JoinError { source }),
        None => Ok(()),
    }
}

/// Runs an index i/o future to completion from blocking code, inside or
/// outside a tokio runtime (inside one, on a helper thread).
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    fn run<F: Future>(fut: F) -> Result<F::Output> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Runtime(e.to_string()))?;
        Ok(rt.block_on(fut))
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(|| run(fut)).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    } else {
        run(fut)
    }
}

/// Plain numbers stored little-endian in index files.
pub(crate) trait Pod: Copy + Send + Sync + 'static {
    const SIZE: usize;
    fn from_le(b: &[u8]) -> Self;
    fn extend_le(self, out: &mut Vec<u8>);
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
            fn extend_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
pod!(u16, u32, u64, f32);

/// Encodes a slice of numbers as little-endian bytes.
pub(crate) fn encode<T: Pod>(values: &[T]) -> Bytes {
    let mut out = Vec::with_capacity(values.len() * T::SIZE);
    for v in values {
        v.extend_le(&mut out);
    }
    Bytes::from(out)
}

/// A read-only array of numbers, either viewing loaded bytes in place or owned.
#[derive(Clone)]
pub(crate) struct Array<T: Pod> {
    repr: ArrayRepr<T>,
}

#[derive(Clone)]
enum ArrayRepr<T> {
    Shared(Bytes, PhantomData<T>),
    Owned(Arc<[T]>),
}

impl<T: Pod> Array<T> {
    pub(crate) fn from_vec(v: Vec<T>) -> Self {
        Self {
            repr: ArrayRepr::Owned(v.into()),
        }
    }

    /// Views `bytes` as `[T]` without copying when aligned on a
    /// little-endian target, else decodes a copy.
    pub(crate) fn from_bytes(bytes: Bytes) -> std::result::Result<Self, String> {
        if !bytes.len().is_multiple_of(T::SIZE) {
            return Err(format!(
                "expected a multiple of {} bytes (an array of {}-byte numbers), found {} bytes",
                T::SIZE,
                T::SIZE,
                bytes.len()
            ));
        }
        let aligned = bytes.as_ptr().align_offset(std::mem::align_of::<T>()) == 0;
        if cfg!(target_endian = "little") && aligned {
            Ok(Self {
                repr: ArrayRepr::Shared(bytes, PhantomData),
            })
        } else {
            let v: Vec<T> = bytes.chunks_exact(T::SIZE).map(T::from_le).collect();
            Ok(Self::from_vec(v))
        }
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        match &self.repr {
            ArrayRepr::Owned(v) => v,
            ArrayRepr::Shared(b, _) => {
                // SAFETY: `from_bytes` only builds this variant on
                // little-endian targets when the pointer is aligned for T and
                // the length is a multiple of size_of::<T>(); T is a plain
                // number type for which every bit pattern is valid; `Bytes`
                // keeps the memory alive and immutable for our lifetime.
                unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<T>(), b.len() / T::SIZE) }
            }
        }
    }

    /// Whether the array views loaded bytes in place (no copy).
    #[cfg(test)]
    pub(crate) fn is_zero_copy(&self) -> bool {
        matches!(self.repr, ArrayRepr::Shared(..))
    }
}

impl<T: Pod> std::ops::Deref for Array<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

/// A list of strings stored as one UTF-8 blob plus `len + 1` offsets.
#[derive(Clone)]
pub(crate) struct StringTable {
    blob: Bytes,
    offsets: Array<u64>,
}

/// Why stored strings do not form a table, and whether the string data
/// file (rather than its offsets) is at fault.
#[derive(Debug)]
struct StringTableError {
    in_data: bool,
    reason: String,
}

impl StringTable {
    pub(crate) fn from_strings<S: AsRef<str>>(items: &[S]) -> Self {
        let mut blob = Vec::new();
        let mut offsets = Vec::with_capacity(items.len() + 1);
        offsets.push(0u64);
        for s in items {
            blob.extend_from_slice(s.as_ref().as_bytes());
            offsets.push(blob.len() as u64);
        }
        Self {
            blob: Bytes::from(blob),
            offsets: Array::from_vec(offsets),
        }
    }

    /// The table of `blob` cut at `offsets`; an error says which of the two
    /// is wrong.
    fn new(blob: Bytes, offsets: Array<u64>) -> std::result::Result<Self, StringTableError> {
        let in_offsets = |reason: String| StringTableError { in_data: false, reason };
        if offsets.is_empty() || offsets[0] != 0 {
            return Err(in_offsets("expected offsets starting with 0".into()));
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(in_offsets("expected non-decreasing offsets".into()));
        }
        let last = offsets[offsets.len() - 1];
        if last != blob.len() as u64 {
            return Err(in_offsets(format!(
                "the last offset is {last}, but the string data file holds {} bytes",
                blob.len()
            )));
        }
        let text = std::str::from_utf8(&blob).map_err(|e| StringTableError {
            in_data: true,
            reason: format!("string data is not UTF-8: {e}"),
        })?;
        if let Some(o) = offsets.iter().find(|&&o| !text.is_char_boundary(o as usize)) {
            return Err(in_offsets(format!("offset {o} is not on a UTF-8 character boundary")));
        }
        Ok(Self { blob, offsets })
    }

    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(crate) fn get_bytes(&self, i: usize) -> &[u8] {
        &self.blob[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        // Validated in `new` / built from `&str`.
        std::str::from_utf8(self.get_bytes(i)).unwrap_or_default()
    }

    /// Position of `s` in a table sorted by bytes.
    pub(crate) fn binary_search(&self, s: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        let key = s.as_bytes();
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get_bytes(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    pub(crate) fn blob(&self) -> Bytes {
        self.blob.clone()
    }

    pub(crate) fn offsets_bytes(&self) -> Bytes {
        encode(&self.offsets)
    }

    pub(crate) async fn write(&self, w: &mut IndexWriter<'_>, name: &str) -> Result<()> {
        w.put(&format!("{name}.str"), self.blob()).await?;
        w.put(&format!("{name}.off"), self.offsets_bytes()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_table_round_trips_and_searches() {
        let t = StringTable::from_strings(&["a", "bb", "שלום"]);
        let back = StringTable::new(t.blob(), Array::from_bytes(t.offsets_bytes()).unwrap()).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.get(2), "שלום");
        assert_eq!(back.binary_search("bb"), Some(1));
        assert_eq!(back.binary_search("c"), None);
    }

    #[test]
    fn misaligned_arrays_are_decoded() {
        let b = encode(&[1.5f32, -2.0]);
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&b);
        let shifted = Bytes::from(shifted).slice(1..);
        let a = Array::<f32>::from_bytes(shifted).unwrap();
        assert!(!a.is_zero_copy());
        assert_eq!(&*a, &[1.5, -2.0]);
        let aligned = Array::<f32>::from_bytes(Bytes::from(vec![0u8; 8]));
        assert!(aligned.unwrap().is_zero_copy() || !cfg!(target_endian = "little"));
    }

    #[test]
    fn a_large_array_is_written_in_parts_and_reads_back_checked() {
        let dir = std::env::temp_dir().join(format!("nodefusion-store-parts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let location = IndexLocation::new(dir.to_str().unwrap(), "big").unwrap();
        // Two and a half parts of 16 MiB.
        let values: Vec<f32> = (0..10_500_000).map(|i| i as f32 * 0.5).collect();
        block_on(async {
            let mut w = IndexWriter::begin(&location, false).await.unwrap();
            w.put_array("values.f32", &values).await.unwrap();
            w.put_array("small.u32", &[7u32, 8]).await.unwrap();
            w.publish("test", 1, 1, serde_json::Value::Null, serde_json::Value::Null)
                .await
                .unwrap();
            let r = IndexReader::open(location.clone(), "test", 1, 1).await.unwrap();
            assert_eq!(&*r.read_array::<f32>("values.f32").await.unwrap(), &values[..]);
            assert_eq!(&*r.read_array::<u32>("small.u32").await.unwrap(), &[7, 8]);
        })
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn index_names_with_dot_segments_are_rejected() {
        let err = IndexLocation::new("/tmp", "../x").unwrap_err();
        assert!(err.to_string().contains("'../x'"), "{err}");
    }
}
