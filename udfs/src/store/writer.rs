//! The atomic writer: the data files of one generation, uploaded in parts
//! when large, then the manifest that publishes them.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use super::columns::{Pod, StringTable, encode};
use super::location::IndexLocation;
use super::manifest::{FileEntry, INDEX_FORMAT, MANIFEST_FILE, Manifest};
use super::source::SourceDigest;
use super::{Result, StoreError};

/// Writes the files of one index generation and publishes it.
pub(crate) struct IndexWriter<'a> {
    loc: &'a IndexLocation,
    generation: String,
    files: Vec<FileEntry>,
    overwrite: bool,
    previous: Option<Manifest>,
    source: Option<String>,
    copied_from: Option<String>,
}

impl<'a> IndexWriter<'a> {
    /// Starts a new generation; fails early when an index exists and
    /// `overwrite` is false.
    pub(crate) async fn begin(loc: &'a IndexLocation, overwrite: bool) -> Result<Self> {
        let previous = match loc.read_manifest().await {
            Ok(m) => Some(m),
            Err(StoreError::NotAnIndex { .. }) => None,
            Err(e) if overwrite => {
                tracing::warn!("replacing an unreadable manifest at {}: {e}", loc.uri());
                None
            }
            Err(e) => return Err(e),
        };
        if previous.is_some() && !overwrite {
            return Err(StoreError::AlreadyExists {
                uri: loc.uri().to_owned(),
            });
        }
        Ok(Self {
            loc,
            generation: fresh_generation("gen"),
            files: Vec::new(),
            overwrite,
            previous,
            source: None,
            copied_from: None,
        })
    }

    /// Records in the manifest what the index is built from.
    pub(crate) fn built_from(&mut self, source: &SourceDigest) {
        self.source = Some(source.as_str().to_owned());
    }

    /// Records in the manifest that the index is a copy of the one at `from`.
    pub(crate) fn copied_from(&mut self, from: &IndexLocation) {
        self.copied_from = Some(from.uri().to_owned());
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

    /// Writes a string table as `<name>.str` (the UTF-8 data) and
    /// `<name>.off` (the offsets); `IndexReader::read_strings` reads it back.
    pub(crate) async fn put_strings(&mut self, name: &str, table: &StringTable) -> Result<()> {
        self.put(&format!("{name}.str"), table.blob()).await?;
        self.put(&format!("{name}.off"), table.offsets_bytes()).await
    }

    /// Copies the data file `file` of the generation `generation` at `from`
    /// into this generation ([`copy_object`]), checking its size.
    pub(crate) async fn copy(&mut self, from: &IndexLocation, generation: &str, file: &FileEntry) -> Result<()> {
        let source = from.child(&[generation, &file.name]);
        let target = self.loc.child(&[&self.generation, &file.name]);
        let found = copy_object(from, self.loc, &source, &target).await;
        let problem = match found {
            Ok(size) if size == file.bytes => None,
            Ok(size) => Some(StoreError::SizeMismatch {
                file: from.display(&[generation, &file.name]),
                expected: file.bytes,
                found: size,
            }),
            Err(source @ object_store::Error::NotFound { .. }) => Some(StoreError::MissingFile {
                file: from.display(&[generation, &file.name]),
                source,
            }),
            Err(e) => Some(self.loc.store_err(&[&self.generation, &file.name])(e)),
        };
        if let Some(problem) = problem {
            self.discard().await;
            return Err(problem);
        }
        self.record(&file.name, file.bytes, file.sha256.clone());
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
            source: self.source,
            copied_from: self.copied_from,
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
                        uri: self.loc.uri().to_owned(),
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

/// Copies `source` in `from`'s store to `target` in `to`'s and returns the
/// copy's size. Within one store the store copies (a hard link on a local
/// disk); across stores, or when that fails other than for a missing
/// source (a hard link across file systems), the bytes pass through memory.
async fn copy_object(
    from: &IndexLocation,
    to: &IndexLocation,
    source: &Path,
    target: &Path,
) -> object_store::Result<u64> {
    if Arc::ptr_eq(&from.store, &to.store) || (from.local && to.local) {
        match to.store.copy(source, target).await {
            Ok(()) => return Ok(to.store.head(target).await?.size),
            Err(e @ object_store::Error::NotFound { .. }) => return Err(e),
            Err(_) => {}
        }
    }
    let bytes = from.store.get(source).await?.bytes().await?;
    to.store.put(target, bytes.into()).await?;
    Ok(to.store.head(target).await?.size)
}

/// A generation name no other writer picks: `<kind>-<time>-<random>`.
pub(super) fn fresh_generation(kind: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{kind}-{nanos:x}-{:08x}", rand::random::<u32>())
}

/// Deletes every object under `prefix` (best effort: failures are logged).
pub(super) async fn delete_prefix(store: &Arc<dyn ObjectStore>, prefix: &Path) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::blocking::block_on;
    use crate::store::reader::IndexReader;

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
}
