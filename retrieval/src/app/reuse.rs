//! Indexes kept in the cache: with the cache on, a run copies an index
//! built before from the same passages, encodings and settings instead of
//! building it, and keeps what it builds for later runs
//! ([`IndexSettings::index_cache`](crate::pipeline::IndexSettings::index_cache));
//! this says which it copied.

use nodefusion_udfs::store::{IndexLocation, StagedSet};
use tokio::runtime::Runtime;

use super::RunOptions;
use crate::pipeline::INDEXES;

/// Where built indexes are kept: `indexes` in the cache's directory, when
/// the cache is on.
pub(super) fn index_cache(options: &RunOptions) -> Option<String> {
    let dir = options.cache.as_ref()?;
    Some(dir.join("indexes").display().to_string())
}

/// The indexes of `staged` copied rather than built: their manifests say
/// where they were copied from.
pub(super) fn copied(staged: &StagedSet, runtime: &Runtime) -> Vec<String> {
    INDEXES
        .into_iter()
        .filter(|name| {
            let copied_from = async {
                let location = IndexLocation::new(staged.folder(), name).ok()?;
                location.read_manifest().await.ok()?.copied_from
            };
            runtime.block_on(copied_from).is_some()
        })
        .map(str::to_owned)
        .collect()
}
