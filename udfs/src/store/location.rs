//! Where an index lives: a local path or URL parsed into an object store
//! and a path prefix. Reading the manifest found there is in `manifest.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use super::remote::open_remote;
use super::{Result, StoreError};

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
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) prefix: Path,
    /// Whether `store` is the local file system (files can be memory-mapped).
    pub(super) local: bool,
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

    /// The object path of `parts` below this location.
    pub(super) fn child(&self, parts: &[&str]) -> Path {
        parts.iter().fold(self.prefix.clone(), |p, part| p.clone().join(*part))
    }

    /// `parts` below this location as a display string, for messages.
    pub(super) fn display(&self, parts: &[&str]) -> String {
        let mut s = self.uri.clone();
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    /// Wraps an object store error about `parts` below this location.
    pub(super) fn store_err(&self, parts: &[&str]) -> impl FnOnce(object_store::Error) -> StoreError + '_ {
        let location = self.display(parts);
        move |source| StoreError::ObjectStore { location, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_with_dot_segments_are_rejected() {
        let err = IndexLocation::new("/tmp", "../x").unwrap_err();
        assert!(err.to_string().contains("'../x'"), "{err}");
    }
}
