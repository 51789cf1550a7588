//! The texts of the benchmark corpora's Parquet files, for the examples that
//! run on real verses.

use std::path::Path;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Every value of the `text` column of a Parquet file, in order. A missing
/// file names the command that builds it; `flag` is the example's flag for
/// another path.
pub fn read_texts(path: &Path, flag: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "{}: {e} (run `cargo run -p nodefusion-retrieval --example build_mishnah`, or pass {flag})",
            path.display()
        )
    })?;
    let mut texts = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)?.build()? {
        let batch = batch?;
        let column = batch
            .column_by_name("text")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| format!("{}: no utf8 column 'text'", path.display()))?;
        if column.null_count() > 0 {
            return Err(format!("{}: the 'text' column has nulls", path.display()).into());
        }
        texts.extend((0..column.len()).map(|i| column.value(i).to_owned()));
    }
    Ok(texts)
}
