//! The manifest that publishes an index (`MANIFEST.json`), and reading it
//! from a location.

use futures::{StreamExt as _, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::location::IndexLocation;
use super::{Result, StoreError};

/// Name of the manifest object that publishes an index.
pub const MANIFEST_FILE: &str = "MANIFEST.json";

/// Value of [`Manifest::format`] for every nodefusion index.
pub const INDEX_FORMAT: &str = "nodefusion-index";

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
    /// What the index was built from ([`IndexSource`](super::IndexSource)),
    /// when its writer said; a build from the same source may reuse it
    /// ([`SaveIndex::reuse`](super::SaveIndex::reuse)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The location this index was copied from by
    /// [`SaveIndex::reuse`](super::SaveIndex::reuse), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
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

/// What is published at a location.
impl IndexLocation {
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
                    uri: self.uri().to_owned(),
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

    /// What the location holds instead of a manifest, for [`StoreError::NotAnIndex`].
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
