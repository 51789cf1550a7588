//! The checked reader: opens a published index after checking its
//! manifest's kind and version, and reads its data files, memory-mapped
//! when local, verifying each file's size and sha256.

use bytes::Bytes;
use object_store::{GetResultPayload, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::columns::{Array, Pod, StringTable};
use super::location::IndexLocation;
use super::manifest::{MANIFEST_FILE, Manifest};
use super::{Result, StoreError};

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
                uri: loc.uri().to_owned(),
                expected: kind.to_owned(),
                found: manifest.kind,
            });
        }
        if manifest.min_reader_version > current_version || manifest.format_version < oldest_readable {
            return Err(StoreError::UnsupportedVersion {
                uri: loc.uri().to_owned(),
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

    /// A [`StoreError::BadManifest`] naming this index's manifest.
    pub(crate) fn bad_manifest(&self, reason: String) -> StoreError {
        StoreError::BadManifest {
            file: self.loc.display(&[MANIFEST_FILE]),
            reason,
        }
    }

    /// A [`StoreError::InvalidContent`] naming the data file `name`: it passed
    /// its checksum but its content is inconsistent.
    pub(crate) fn invalid_content(&self, name: &str, reason: String) -> StoreError {
        StoreError::InvalidContent {
            file: self.file_display(name),
            reason,
        }
    }

    /// Parses a JSON value from the manifest's `params`, naming the manifest on error.
    pub(crate) fn params<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.manifest.params.clone())
            .map_err(|e| self.bad_manifest(format!("invalid 'params': {e}")))
    }

    /// Parses a JSON value from the manifest's `counts`, naming the manifest on error.
    pub(crate) fn counts<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.manifest.counts.clone())
            .map_err(|e| self.bad_manifest(format!("invalid 'counts': {e}")))
    }

    /// Reads one data file (memory-mapped when local) and verifies it.
    pub(crate) async fn read(&self, name: &str) -> Result<Bytes> {
        let display = self.file_display(name);
        let entry = self
            .manifest
            .files
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| self.bad_manifest(format!("expected an entry for data file '{name}', found none")))?;
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
        Array::from_bytes(bytes).map_err(|reason| self.invalid_content(name, reason))
    }

    /// Reads a string table stored as `<name>.str` + `<name>.off`.
    pub(crate) async fn read_strings(&self, name: &str) -> Result<StringTable> {
        let blob_name = format!("{name}.str");
        let off_name = format!("{name}.off");
        let blob = self.read(&blob_name).await?;
        let offsets = self.read_array::<u64>(&off_name).await?;
        StringTable::new(blob, offsets).map_err(|e| match e.in_data {
            true => self.invalid_content(&blob_name, e.reason),
            false => self.invalid_content(
                &off_name,
                format!("{} (string data: {})", e.reason, self.file_display(&blob_name)),
            ),
        })
    }
}

/// The bytes of `file`, memory-mapped (no copy).
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
