//! The error of reading or validating input data.

use datafusion::arrow::datatypes::DataType;

/// Reading or validating input data failed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The location could not be read.
    #[error("cannot read {location}: {message}")]
    Read {
        /// The path or URL.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// A required column is missing.
    #[error("{location}: missing column '{column}'; found: {}", .found.join(", "))]
    MissingColumn {
        /// The path or URL.
        location: String,
        /// The missing column.
        column: String,
        /// The columns present.
        found: Vec<String>,
    },
    /// A column has the wrong type.
    #[error("{location}: column '{column}' is {found}, expected {expected}")]
    ColumnType {
        /// The path or URL.
        location: String,
        /// The column.
        column: String,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: DataType,
    },
    /// Two rows share an id.
    #[error("{location}: duplicate {what} uuid '{uuid}'")]
    DuplicateId {
        /// The path or URL.
        location: String,
        /// `passage` or `query`.
        what: &'static str,
        /// The repeated id.
        uuid: String,
    },
    /// No ground truth judges any passage relevant: every metric would be 0.
    #[error(
        "the ground truths judge no passage relevant ({rows} rows, none with relevance > 0): every metric would be 0"
    )]
    NothingRelevant {
        /// How many rows the ground truths have.
        rows: usize,
    },
    /// A ground truth names an id that does not exist.
    #[error("ground truth names unknown {what} '{uuid}' ({count} such rows)")]
    UnknownId {
        /// `passage` or `query`.
        what: &'static str,
        /// The first unknown id.
        uuid: String,
        /// How many rows name unknown ids of this kind.
        count: usize,
    },
    /// A required value is null.
    #[error("{location}: column '{column}' is null in row {row} (counting from 0, {count} null rows)")]
    Null {
        /// The path or URL.
        location: String,
        /// The column.
        column: String,
        /// The first null row, in reading order.
        row: usize,
        /// How many rows are null in this column.
        count: usize,
    },
    /// No rows.
    #[error("{location}: the {what} table is empty")]
    Empty {
        /// The path or URL.
        location: String,
        /// Which table.
        what: &'static str,
    },
}
