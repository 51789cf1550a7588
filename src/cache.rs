//! The node cache: a node's results kept by what determines them, so a run
//! never computes the same thing twice.
//!
//! A node opts in (`#[node(output = "y", cache)]`, [`Node::with_cache`]) and
//! an engine is given a cache ([`SequentialEngine::with_cache`],
//! [`DataFusionEngine::with_cache`]). Each call's results are stored under
//! a **key**, the BLAKE3 hash of:
//!
//! - a format tag (`nodefusion-cache/1`),
//! - the node's id and version hash (its definition: the `#[node]` macro
//!   hashes the function's tokens, and those of its `#[batch]`
//!   implementation, so editing either body changes it),
//! - per input, in declaration order: the port's name and the canonical
//!   encoding of its value (serde, every field, floats by their bits). A
//!   resource input is its config ([`Res`](crate::Res) serialises as the
//!   config), so a model's directory and options are part of the key; the
//!   loaded model is not, and a run in which every call hits never loads it.
//!
//! A mapped node has one key per item: re-running with a few new items out
//! of many computes only those, its batch implementation called on the
//! misses alone (in its batch size), results merged back in input order.
//! What consumes a node's output is keyed by that output's value, so a
//! change that alters a result recomputes exactly its consumers.
//!
//! Entries are one Arrow IPC stream each (one row, a column per output),
//! behind a magic tag and a BLAKE3 checksum of the stream, written in one
//! `put` (atomic on a local disk and on object stores: a reader never sees a
//! half-written entry, and two writers of one key write the same bytes).
//! An entry that is truncated, corrupt, or of an older layout is a miss
//! with a warning naming the node and key, and is written again.
//!
//! On a cluster, plans carry the cache's URL ([`Cache::url`]) and every
//! executor opens it ([`Cache::open`]): executors that see one directory or
//! one object store share one cache.
//!
//! ```
//! use nodefusion::{Engine, Inputs, SequentialEngine, cache::Cache, node, pipeline};
//!
//! #[node(output = "y", cache)]
//! fn slow_square(x: i64) -> i64 { x * x }
//!
//! # fn main() -> Result<(), nodefusion::Error> {
//! let dir = std::env::temp_dir().join(format!("nf-cache-doc-{}", std::process::id()));
//! let cache = Cache::in_dir(&dir)?;
//! let engine = SequentialEngine::default().with_progress(false).with_cache(cache.clone());
//! let p = pipeline![slow_square::node()]?;
//! engine.run(&p, Inputs::new().with("x", 7i64), None)?;
//! let out = engine.run(&p, Inputs::new().with("x", 7i64), None)?;
//! assert_eq!(out.get::<i64>("y")?, &49);
//! assert_eq!(out.report().node("slow_square").unwrap().cache_hits, 1);
//! assert_eq!(cache.stats()?[0].entries, 1);
//! cache.clear(None)?;
//! # std::fs::remove_dir_all(dir).ok();
//! # Ok(())
//! # }
//! ```
//!
//! [`Node::with_cache`]: crate::Node::with_cache
//! [`SequentialEngine::with_cache`]: crate::SequentialEngine::with_cache
//! [`DataFusionEngine::with_cache`]: crate::DataFusionEngine::with_cache

mod entry;
mod fingerprint;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::engine::call::block_on;
use crate::error::Error;
use crate::node::Node;
use crate::value::Value;

pub(crate) use fingerprint::{Unencodable, fingerprint_value};

/// Entries fetched or written at once.
const IN_FLIGHT: usize = 16;

/// Where a run keeps node results: a local directory or any object store.
/// Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct Cache {
    store: Arc<dyn ObjectStore>,
    root: StorePath,
    location: Arc<str>,
    /// The URL another process opens it with, when there is one.
    url: Option<Arc<str>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("location", &self.location).finish()
    }
}

/// What the cache holds for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheStats {
    /// The node's id (its directory in the cache).
    pub node: String,
    /// Stored results (one per item of a mapped node).
    pub entries: u64,
    /// Their size in bytes.
    pub bytes: u64,
}

/// A key: the BLAKE3 hash of what determines a call's results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub(crate) [u8; 32]);

impl Key {
    fn hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl Cache {
    /// A cache in the local directory `dir`, created if missing.
    pub fn in_dir(dir: impl AsRef<Path>) -> Result<Cache, Error> {
        let dir = dir.as_ref();
        let location = dir.display().to_string();
        let fault = |source: crate::node::BoxError| Error::Cache {
            location: location.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| fault(e.into()))?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| fault(e.into()))?;
        let url = std::fs::canonicalize(dir)
            .ok()
            .and_then(|dir| url::Url::from_directory_path(dir).ok())
            .map(|url| url.to_string().into());
        Ok(Cache {
            url,
            ..Cache::with_store(location.clone(), Arc::new(store), StorePath::default())
        })
    }

    /// The cache at `url`: a `file://` directory (created if missing) or an
    /// object store URL (`s3://bucket/prefix`, `http://…`, its settings and
    /// credentials from the environment's variables, such as
    /// `AWS_ACCESS_KEY_ID`), as [`Cache::url`] gives it.
    ///
    /// ```
    /// # fn main() -> Result<(), nodefusion::Error> {
    /// use nodefusion::cache::Cache;
    ///
    /// let dir = std::env::temp_dir().join(format!("nf-cache-open-{}", std::process::id()));
    /// let local = Cache::in_dir(&dir)?;
    /// let url = local.url().expect("a local directory has a URL");
    /// assert!(url.starts_with("file://"));
    /// assert_eq!(Cache::open(url)?.url(), Some(url));
    /// # std::fs::remove_dir_all(dir).ok();
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(url: &str) -> Result<Cache, Error> {
        let fault = |source: crate::node::BoxError| Error::Cache {
            location: url.to_string(),
            source,
        };
        let parsed = url::Url::parse(url).map_err(|e| fault(format!("not a URL: {e}").into()))?;
        if parsed.scheme() == "file" {
            let dir = parsed
                .to_file_path()
                .map_err(|()| fault("not a local directory".into()))?;
            return Cache::in_dir(dir);
        }
        // The store's settings from the environment, as each store names
        // them (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, …); others are ignored.
        let (store, root) = object_store::parse_url_opts(&parsed, std::env::vars()).map_err(|e| fault(e.into()))?;
        Ok(Cache {
            url: Some(url.into()),
            ..Cache::with_store(url, Arc::from(store), root)
        })
    }

    /// A cache under `root` of `store` (any object store: S3, HTTP,
    /// memory), shown as `location` in messages. Executors of a cluster
    /// that share one store share one cache.
    pub fn with_store(location: impl Into<String>, store: Arc<dyn ObjectStore>, root: StorePath) -> Cache {
        Cache {
            store,
            root,
            location: location.into().into(),
            url: None,
        }
    }

    /// The URL [`Cache::open`] opens this cache with in another process (an
    /// executor of a cluster); `None` for a store given by
    /// [`Cache::with_store`], which only this process can use.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The default directory: `$NODEFUSION_CACHE/nodes`, else
    /// `$HOME/.cache/nodefusion/nodes`, else `nodefusion-cache/nodes` in the
    /// temporary directory.
    pub fn default_dir() -> PathBuf {
        let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        non_empty("NODEFUSION_CACHE")
            .or_else(|| non_empty("HOME").map(|home| home.join(".cache").join("nodefusion")))
            .unwrap_or_else(|| std::env::temp_dir().join("nodefusion-cache"))
            .join("nodes")
    }

    /// The directory or URL the cache is at.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Entries and bytes per node, sorted by node.
    pub fn stats(&self) -> Result<Vec<CacheStats>, Error> {
        let store = self.store.clone();
        let root = self.root.clone();
        let objects: Vec<object_store::ObjectMeta> =
            block_on(async move { store.list(Some(&root)).try_collect().await }).map_err(|e| self.fault(e))?;
        let mut per_node: BTreeMap<String, CacheStats> = BTreeMap::new();
        for object in objects {
            let Some(node) = self.node_of(&object.location) else {
                continue;
            };
            let stats = per_node.entry(node.clone()).or_insert(CacheStats {
                node,
                entries: 0,
                bytes: 0,
            });
            stats.entries += 1;
            stats.bytes += object.size;
        }
        Ok(per_node.into_values().collect())
    }

    /// Removes every entry, or those of one node (by its id, as
    /// [`stats`](Self::stats) names it); returns how many were removed.
    pub fn clear(&self, node: Option<&str>) -> Result<u64, Error> {
        let prefix = match node {
            Some(node) => self.root.clone().join(directory_of(node)),
            None => self.root.clone(),
        };
        let store = self.store.clone();
        let removed = block_on(async move {
            let locations = store.list(Some(&prefix)).map_ok(|meta| meta.location).boxed();
            let deleted: Vec<StorePath> = store.delete_stream(locations).try_collect().await?;
            Ok::<_, object_store::Error>(deleted.len() as u64)
        });
        removed.map_err(|e| self.fault(e))
    }

    fn fault(&self, source: impl Into<crate::node::BoxError>) -> Error {
        Error::Cache {
            location: self.location.to_string(),
            source: source.into(),
        }
    }

    /// `<root>/<node directory>/<2 hex digits>/<key>.nfc`.
    fn entry_path(&self, node: &Node, key: &Key) -> StorePath {
        let hex = key.hex();
        self.root
            .clone()
            .join(directory_of(node.id()))
            .join(&hex[..2])
            .join(format!("{hex}.nfc"))
    }

    /// The node directory an entry lies in.
    fn node_of(&self, entry: &StorePath) -> Option<String> {
        let mut parts = entry.prefix_match(&self.root)?;
        Some(parts.next()?.as_ref().to_string())
    }

    /// Per key, the stored outputs of `node`, or `None` (a miss). Entries
    /// that cannot be read are misses, with a warning.
    pub(crate) fn lookup(&self, node: &Node, path: &str, keys: &[Key]) -> Vec<Option<Vec<Value>>> {
        let store = self.store.clone();
        let locations: Vec<StorePath> = keys.iter().map(|key| self.entry_path(node, key)).collect();
        let fetched: Vec<Result<Option<_>, object_store::Error>> = block_on(async move {
            futures::stream::iter(locations)
                .map(|location| {
                    let store = store.clone();
                    async move {
                        match store.get(&location).await {
                            Ok(found) => found.bytes().await.map(Some),
                            Err(object_store::Error::NotFound { .. }) => Ok(None),
                            Err(other) => Err(other),
                        }
                    }
                })
                .buffered(IN_FLIGHT)
                .collect()
                .await
        });
        fetched
            .into_iter()
            .zip(keys)
            .map(|(fetched, key)| {
                let problem = match fetched {
                    Ok(None) => return None,
                    Ok(Some(bytes)) => match entry::decode(node, &bytes) {
                        Ok(values) => return Some(values),
                        Err(problem) => problem,
                    },
                    Err(error) => error.to_string(),
                };
                tracing::warn!(
                    node = path,
                    key = %key.hex(),
                    cache = %self.location,
                    "cache entry unusable, computing it again: {problem}"
                );
                None
            })
            .collect()
    }

    /// Stores each key's outputs of `node`. A failed write is a warning:
    /// the run has its results, only the next run will not find them.
    pub(crate) fn store(&self, node: &Node, path: &str, entries: Vec<(Key, Vec<Value>)>) {
        let mut writes = Vec::with_capacity(entries.len());
        for (key, outputs) in entries {
            match entry::encode(node, &outputs) {
                Ok(bytes) => writes.push((key, self.entry_path(node, &key), bytes)),
                Err(problem) => tracing::warn!(node = path, key = %key.hex(), "result not cached: {problem}"),
            }
        }
        let store = self.store.clone();
        let failed: Vec<(Key, object_store::Error)> = block_on(async move {
            futures::stream::iter(writes)
                .map(|(key, location, bytes)| {
                    let store = store.clone();
                    async move {
                        store
                            .put(&location, PutPayload::from(bytes))
                            .await
                            .err()
                            .map(|e| (key, e))
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .filter_map(futures::future::ready)
                .collect()
                .await
        });
        for (key, error) in failed {
            tracing::warn!(
                node = path,
                key = %key.hex(),
                cache = %self.location,
                "result not cached: {error}"
            );
        }
    }
}

/// A node id as one path segment: `crate::module::node` → `crate.module.node`.
fn directory_of(id: &str) -> String {
    id.replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
