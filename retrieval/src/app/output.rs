//! Writing a run's outputs: rows as Parquet, and the publication of a
//! successful run, all or nothing (the outputs put in place, then the
//! index set published; the old outputs put back if that fails).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{Array, RecordBatch, StructArray};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::errors::ParquetError;

use nodefusion::{Data, Outputs};
use nodefusion_udfs::store::{IndexSet, StagedSet, StoreError};

use super::options::output_folder;
use super::{AppError, RunOptions, RunResult};
use crate::pipeline::{INDEXES, MetricValue, Prediction};

/// Writes `rows` as one Parquet file, atomically.
pub fn write_parquet<T: Data>(rows: &[T], path: &Path) -> Result<(), AppError> {
    let batch = to_batch(rows)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| AppError::CreateFolder {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    // A temporary name of this writer's own: two runs writing one file (a
    // cached slice) at once each rename a whole file into place.
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name().map_or_else(|| "table".into(), |n| n.to_string_lossy());
    let tmp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = write_batch(&batch, &tmp).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|source| AppError::Write {
            path: path.to_path_buf(),
            source,
        })
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn write_batch(batch: &RecordBatch, path: &Path) -> Result<(), AppError> {
    let io = |source: std::io::Error| AppError::Write {
        path: path.to_path_buf(),
        source,
    };
    let parquet = |source: ParquetError| AppError::WriteParquet {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).map_err(parquet)?;
    writer.write(batch).map_err(parquet)?;
    writer.into_inner().map_err(parquet)?.sync_all().map_err(io)?;
    Ok(())
}

/// The rows as one record batch, a column per field.
pub(super) fn to_batch<T: Data>(rows: &[T]) -> Result<RecordBatch, AppError> {
    let array = nodefusion::arrow_convert::to_arrow(rows)?;
    let structs = array
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or(AppError::NotStructs)?
        .clone();
    Ok(RecordBatch::from(structs))
}

/// A run's output files, written beside the current ones and then put in
/// place together ([`OutputFiles::commit`]). Files never committed are
/// removed when this is dropped.
struct OutputFiles {
    /// `(written, final)` paths.
    files: Vec<(PathBuf, PathBuf)>,
}

impl OutputFiles {
    fn write(folder: &Path, files: &[(&str, RecordBatch)]) -> Result<Self, AppError> {
        std::fs::create_dir_all(folder).map_err(|source| AppError::CreateFolder {
            path: folder.to_path_buf(),
            source,
        })?;
        let mut written = OutputFiles { files: Vec::new() };
        for (name, batch) in files {
            let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
            written.files.push((tmp.clone(), folder.join(name)));
            write_batch(batch, &tmp)?;
        }
        Ok(written)
    }

    /// Renames the written files into place, each in one step. The files
    /// they replace stay linked aside until [`Committed::finish`], so a
    /// failure here, or a later one, can put them back.
    fn commit(mut self) -> Result<Committed, AppError> {
        let mut committed = Committed { files: Vec::new() };
        for (tmp, path) in &self.files {
            let previous = path.with_extension("parquet.previous");
            let _ = std::fs::remove_file(&previous);
            let kept = path.is_file();
            let moved = if kept {
                std::fs::hard_link(path, &previous)
            } else {
                Ok(())
            }
            .and_then(|()| std::fs::rename(tmp, path));
            if let Err(source) = moved {
                if kept {
                    let _ = std::fs::remove_file(&previous);
                }
                committed.rollback();
                // Dropping `self` removes the files not put in place.
                return Err(AppError::PutInPlace {
                    path: path.clone(),
                    source,
                });
            }
            committed.files.push((path.clone(), kept.then_some(previous)));
        }
        self.files.clear();
        Ok(committed)
    }
}

impl Drop for OutputFiles {
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Output files in place, with the ones they replaced kept aside.
struct Committed {
    /// `(file, the file it replaced)`.
    files: Vec<(PathBuf, Option<PathBuf>)>,
}

impl Committed {
    /// Drops the replaced files.
    fn finish(self) {
        for previous in self.files.iter().filter_map(|(_, p)| p.as_ref()) {
            let _ = std::fs::remove_file(previous);
        }
    }

    /// Puts the replaced files back (and removes files that replaced none).
    fn rollback(self) {
        for (path, previous) in self.files.iter().rev() {
            let _ = match previous {
                Some(previous) => std::fs::rename(previous, path),
                None => std::fs::remove_file(path),
            };
        }
    }
}

/// Publishes a successful run, all or nothing: the outputs are written
/// beside the old ones and put in place, then the index set is published;
/// if that fails, the old outputs are put back (and the caller discards the
/// staged indexes).
pub(super) fn publish(
    options: &RunOptions,
    mut out: Outputs,
    set: &IndexSet,
    staged: &StagedSet,
    runtime: &tokio::runtime::Runtime,
) -> Result<RunResult, AppError> {
    let metrics: Vec<MetricValue> = out.take("metrics")?;
    let predictions: Vec<Prediction> = out.take("all_predictions")?;
    let output = output_folder(options);
    let files = OutputFiles::write(
        &output,
        &[
            ("predictions.parquet", to_batch(&predictions)?),
            ("metrics.parquet", to_batch(&metrics)?),
        ],
    )?;
    let committed = files.commit()?;
    let published = match runtime.block_on(set.publish(staged, &INDEXES, options.overwrite)) {
        Ok(published) => published,
        Err(e) => {
            committed.rollback();
            return Err(match e {
                StoreError::AlreadyExists { uri } => AppError::IndexesAppeared { uri },
                source => AppError::Publish {
                    source: Box::new(source),
                },
            });
        }
    };
    committed.finish();
    Ok(RunResult {
        metrics,
        predictions,
        report: out.report().clone(),
        output,
        notes: published.notes,
        copied_indexes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    struct Row {
        id: u32,
    }

    #[test]
    fn writers_of_one_file_at_once_all_put_a_whole_file_in_place() {
        let dir = std::env::temp_dir().join(format!("nf-write-race-{}", std::process::id()));
        let path = dir.join("rows.parquet");
        let rows: Vec<Row> = (0..100).map(|id| Row { id }).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10 {
                        write_parquet(&rows, &path).unwrap();
                    }
                });
            }
        });
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["rows.parquet".to_string()]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
