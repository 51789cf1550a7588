//! Reusing the published indexes: a run with the cache on may copy an index
//! of the set already published in its index folder when that index was
//! built from the same passages, encodings and settings
//! ([`IndexSettings::reuse_from`](crate::pipeline::IndexSettings::reuse_from)),
//! and says which it copied.

use nodefusion_udfs::store::{IndexLocation, IndexSet, StagedSet};
use tokio::runtime::Runtime;

use super::RunOptions;
use crate::pipeline::INDEXES;

/// The folder of the set published in the run's index folder, when the
/// cache is on and there is one (an unreadable set is built again, with a
/// warning).
pub(super) fn source_folder(options: &RunOptions, set: &IndexSet, runtime: &Runtime) -> Option<String> {
    options.cache.as_ref()?;
    runtime.block_on(set.current_folder()).unwrap_or_else(|e| {
        tracing::warn!("the published indexes will not be reused: {e}");
        None
    })
}

/// The indexes of `staged` copied from `from`: their manifests record the
/// same source.
pub(super) fn copied(from: &str, staged: &StagedSet, runtime: &Runtime) -> Vec<String> {
    INDEXES
        .into_iter()
        .filter(|name| runtime.block_on(same_source(from, staged.folder(), name)))
        .map(str::to_owned)
        .collect()
}

/// Whether the index `name` in both folders records one source.
async fn same_source(a: &str, b: &str, name: &str) -> bool {
    matches!((source(a, name).await, source(b, name).await), (Some(a), Some(b)) if a == b)
}

/// The source recorded by the index `name` in `folder`, if it reads.
async fn source(folder: &str, name: &str) -> Option<String> {
    let location = IndexLocation::new(folder, name).ok()?;
    location.read_manifest().await.ok()?.source
}
