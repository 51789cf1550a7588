//! Writing a table of non-null columns to Parquet, atomically.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use super::DatasetError;

/// Writes `columns` as one Parquet file at `path`: first to a temporary file
/// beside it, then renamed over `path`, so readers never see half a file.
pub(crate) fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) -> Result<(), DatasetError> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())
        .map_err(|e| DatasetError::write(path, e))?;
    let file_name = path.file_name().map_or_else(|| "table".into(), |n| n.to_string_lossy());
    let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        let file = File::create(&temp).map_err(|e| DatasetError::write(&temp, e))?;
        let zstd = ZstdLevel::try_new(3).map_err(|e| DatasetError::write(&temp, e))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(zstd))
            .build();
        let mut writer =
            ArrowWriter::try_new(file, schema, Some(properties)).map_err(|e| DatasetError::write(&temp, e))?;
        writer.write(&batch).map_err(|e| DatasetError::write(&temp, e))?;
        writer.close().map_err(|e| DatasetError::write(&temp, e))?;
        std::fs::rename(&temp, path).map_err(|e| DatasetError::write(path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}
