//! Several indexes published together: an index *set*.
//!
//! ```text
//! <folder>/INDEX_SET.json            the pointer: the generation that holds the set
//! <folder>/set-<id>/<name>/…         each index of that generation (its own manifest)
//! ```
//!
//! A run [stages](IndexSet::stage) a fresh generation, writes every index
//! into it, and [publishes](IndexSet::publish) it by writing the pointer
//! last: one object write, atomic on every store, so readers see the
//! previous complete set or the new complete one, never indexes of two
//! corpora side by side. A failed run [discards](IndexSet::discard) its
//! generation and leaves the published one as it was. Without `overwrite`
//! the pointer is written with `PutMode::Create`: of two runs racing for an
//! empty folder one wins, the other fails and removes its generation.
//!
//! Folders written before sets existed hold the indexes directly
//! (`<folder>/<name>/MANIFEST.json`); they count as published, and a
//! replacing set removes them.

use object_store::{ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

use super::writer::{delete_prefix, fresh_generation};
use super::{IndexLocation, MANIFEST_FILE, Result, StoreError};

/// Name of the pointer object that publishes an index set.
pub const INDEX_SET_FILE: &str = "INDEX_SET.json";

/// Value of [`IndexSetManifest::format`].
pub const INDEX_SET_FORMAT: &str = "nodefusion-index-set";

/// The pointer that publishes an index set (`INDEX_SET.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexSetManifest {
    /// Always [`INDEX_SET_FORMAT`].
    pub format: String,
    /// Folder (relative to the set's folder) holding the indexes.
    pub generation: String,
    /// The indexes of the set, by name.
    pub indexes: Vec<String>,
    /// Crate and version that published the set.
    pub created_by: String,
}

/// A generation being written: its indexes go under [`StagedSet::folder`].
#[derive(Debug, Clone)]
pub struct StagedSet {
    generation: String,
    folder: String,
}

impl StagedSet {
    /// The folder (local path or URL) to write this generation's indexes
    /// into, as `<folder>/<name>`.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// The generation's name, `set-…`.
    pub fn generation(&self) -> &str {
        &self.generation
    }
}

/// What [`IndexSet::publish`] did besides publishing.
#[derive(Debug, Clone)]
pub struct Published {
    /// The pointer now in place.
    pub manifest: IndexSetManifest,
    /// Things the caller should tell the user: an unreadable pointer
    /// replaced, leftovers of interrupted runs, a cleanup that failed.
    pub notes: Vec<String>,
}

/// The indexes of one folder, published together.
///
/// ```
/// use nodefusion_udfs::store::IndexSet;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let set = IndexSet::new(dir.path().to_str().unwrap()).unwrap();
/// let staged = set.stage();
/// // … write indexes under staged.folder(), then:
/// assert!(set.publish(&staged, &[], false).await.is_ok());
/// assert_eq!(set.current().await.unwrap().unwrap().generation, staged.generation());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct IndexSet {
    folder: IndexLocation,
}

impl IndexSet {
    /// The set in `folder` (a local path or URL, as for [`IndexLocation`]).
    pub fn new(folder: &str) -> Result<Self> {
        Ok(Self {
            folder: IndexLocation::parse(folder)?,
        })
    }

    /// The folder as a display string.
    pub fn uri(&self) -> &str {
        self.folder.uri()
    }

    /// The published pointer, or `None` when there is none.
    pub async fn current(&self) -> Result<Option<IndexSetManifest>> {
        let file = self.folder.display(&[INDEX_SET_FILE]);
        let bytes = match self.folder.store.get(&self.folder.child(&[INDEX_SET_FILE])).await {
            Ok(r) => r.bytes().await.map_err(self.folder.store_err(&[INDEX_SET_FILE]))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.folder.store_err(&[INDEX_SET_FILE])(e)),
        };
        let bad = |reason: String| StoreError::BadManifest {
            file: file.clone(),
            reason,
        };
        let manifest: IndexSetManifest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if manifest.format != INDEX_SET_FORMAT {
            return Err(bad(format!(
                "expected format '{INDEX_SET_FORMAT}', found '{}'",
                manifest.format
            )));
        }
        if !is_generation_name(&manifest.generation) {
            return Err(bad(format!("'{}' is not a generation name", manifest.generation)));
        }
        Ok(Some(manifest))
    }

    /// Which of `names` are published here: in the set, or (folders older
    /// than sets) as an index directly in the folder.
    pub async fn published(&self, names: &[&str]) -> Result<Vec<String>> {
        let in_set = self.current().await?.map(|m| m.indexes).unwrap_or_default();
        let legacy = self.published_legacy(names).await?;
        Ok(names
            .iter()
            .filter(|name| in_set.iter().chain(&legacy).any(|n| n == *name))
            .map(|name| name.to_string())
            .collect())
    }

    /// Where the published index `name` lives: in the set's generation, or
    /// directly in the folder when there is no set.
    pub async fn location(&self, name: &str) -> Result<IndexLocation> {
        match self.current().await? {
            Some(set) => IndexLocation::new(&self.folder.display(&[&set.generation]), name),
            None => self.legacy(name),
        }
    }

    /// A fresh generation to write indexes into; nothing is written yet.
    pub fn stage(&self) -> StagedSet {
        let generation = fresh_generation("set");
        StagedSet {
            folder: self.folder.display(&[&generation]),
            generation,
        }
    }

    /// Publishes `staged` as the set of `names`, each of which must have
    /// been written there. Without `overwrite` an existing set (or index of
    /// an older layout) is an error; with it the replaced generation and
    /// older-layout indexes are removed. `staged` is left in place on error
    /// (see [`IndexSet::discard`]).
    pub async fn publish(&self, staged: &StagedSet, names: &[&str], overwrite: bool) -> Result<Published> {
        for name in names {
            let index = IndexLocation::new(staged.folder(), name)?;
            if !index.exists().await? {
                return Err(StoreError::NotAnIndex {
                    uri: index.uri().to_owned(),
                    manifest: index.display(&[MANIFEST_FILE]),
                    found: "the run did not write it, so the set is not published".into(),
                });
            }
        }
        let mut notes = Vec::new();
        let previous = match self.current().await {
            Ok(previous) => previous,
            Err(e) if overwrite => {
                notes.push(format!("replaced an unreadable {INDEX_SET_FILE}: {e}"));
                None
            }
            Err(e) => return Err(e),
        };
        let legacy = self.published_legacy(names).await?;
        if !overwrite && (previous.is_some() || !legacy.is_empty()) {
            return Err(StoreError::AlreadyExists {
                uri: self.uri().to_owned(),
            });
        }
        let manifest = IndexSetManifest {
            format: INDEX_SET_FORMAT.to_owned(),
            generation: staged.generation.clone(),
            indexes: names.iter().map(|n| n.to_string()).collect(),
            created_by: concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")).to_owned(),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::BadManifest {
            file: self.folder.display(&[INDEX_SET_FILE]),
            reason: format!("could not serialise: {e}"),
        })?;
        let mode = if overwrite { PutMode::Overwrite } else { PutMode::Create };
        self.folder
            .store
            .put_opts(
                &self.folder.child(&[INDEX_SET_FILE]),
                json.into(),
                PutOptions::from(mode),
            )
            .await
            .map_err(|e| match e {
                object_store::Error::AlreadyExists { .. } => StoreError::AlreadyExists {
                    uri: self.uri().to_owned(),
                },
                e => self.folder.store_err(&[INDEX_SET_FILE])(e),
            })?;

        let mut replaced: Vec<String> = previous.map(|p| p.generation).into_iter().collect();
        for name in &legacy {
            delete_prefix(&self.folder.store, &self.folder.child(&[name])).await;
        }
        for generation in &replaced {
            delete_prefix(&self.folder.store, &self.folder.child(&[generation])).await;
        }
        replaced.push(staged.generation.clone());
        for leftover in self.generations().await? {
            if !replaced.contains(&leftover) {
                notes.push(format!(
                    "{} is left from a run that did not finish (or one still running); remove it when no run writes here",
                    self.folder.display(&[&leftover])
                ));
            }
        }
        Ok(Published { manifest, notes })
    }

    /// Removes a staged generation that will not be published.
    pub async fn discard(&self, staged: &StagedSet) {
        delete_prefix(&self.folder.store, &self.folder.child(&[&staged.generation])).await;
    }

    fn legacy(&self, name: &str) -> Result<IndexLocation> {
        IndexLocation::new(self.folder.uri(), name)
    }

    async fn published_legacy(&self, names: &[&str]) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for name in names {
            if self.legacy(name)?.exists().await? {
                found.push(name.to_string());
            }
        }
        Ok(found)
    }

    /// The generation folders present in the folder.
    async fn generations(&self) -> Result<Vec<String>> {
        let listed = self.folder.store.list_with_delimiter(Some(&self.folder.prefix)).await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(self.folder.store_err(&[])(e)),
        };
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .filter(|name| is_generation_name(name))
            .collect())
    }
}

fn is_generation_name(name: &str) -> bool {
    name.starts_with("set-") && !name.contains('/') && name != "set-"
}
