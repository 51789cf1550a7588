//! Checking and reading the functions' arguments: planning errors that name
//! the function and the argument, literals, and token matrices.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, ListArray};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Float32Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

/// A planning error of `function`'s argument `position` (1-based).
pub(super) fn arg_error(
    function: &str,
    position: usize,
    what: &str,
    problem: impl std::fmt::Display,
) -> DataFusionError {
    DataFusionError::Plan(format!("{function}: argument {position} ({what}) {problem}"))
}

/// Checks that `function` got `expected` arguments.
pub(super) fn check_count(function: &str, types: &[DataType], expected: &[&str]) -> Result<()> {
    if types.len() == expected.len() {
        return Ok(());
    }
    Err(DataFusionError::Plan(format!(
        "{function} takes {} arguments ({}), not {}",
        expected.len(),
        expected.join(", "),
        types.len()
    )))
}

/// Whether `t` is a string type (or NULL, which any string accepts).
pub(super) fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// Checks that argument `position` of `function` is text.
pub(super) fn check_text(function: &str, position: usize, what: &str, t: &DataType) -> Result<()> {
    match is_text(t) {
        true => Ok(()),
        false => Err(arg_error(function, position, what, format!("must be text, not {t}"))),
    }
}

/// The token dimension of a token-matrix type, `List<FixedSizeList<Float32,
/// dim>>` (`None` for a NULL literal, which matches any).
pub(super) fn matrix_dim(function: &str, position: usize, what: &str, t: &DataType) -> Result<Option<usize>> {
    let bad = || {
        arg_error(
            function,
            position,
            what,
            format!("must be a token matrix, List<FixedSizeList<Float32, dim>>, not {t}"),
        )
    };
    match t {
        DataType::Null => Ok(None),
        DataType::List(item) => match item.data_type() {
            DataType::FixedSizeList(value, dim) if value.data_type() == &DataType::Float32 && *dim > 0 => {
                Ok(Some(*dim as usize))
            }
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// The type of a column of token matrices of `dim` dimensions:
/// `List<FixedSizeList<Float32, dim>>`, neither tokens nor floats NULL.
pub(super) fn matrix_type(dim: usize) -> DataType {
    let float = Field::new_list_field(DataType::Float32, false);
    let token = DataType::FixedSizeList(Arc::new(float), dim as i32);
    DataType::List(Arc::new(Field::new_list_field(token, false)))
}

/// `k`: a literal integer above 0, checked at planning.
pub(super) fn literal_k(function: &str, position: usize, value: Option<&ScalarValue>) -> Result<usize> {
    let bad = |problem: String| arg_error(function, position, "k", problem);
    let Some(value) = value else {
        return Err(bad("must be a literal integer (the number of hits)".into()));
    };
    let k = match value {
        ScalarValue::Int8(Some(v)) => *v as i64,
        ScalarValue::Int16(Some(v)) => *v as i64,
        ScalarValue::Int32(Some(v)) => *v as i64,
        ScalarValue::Int64(Some(v)) => *v,
        ScalarValue::UInt8(Some(v)) => *v as i64,
        ScalarValue::UInt16(Some(v)) => *v as i64,
        ScalarValue::UInt32(Some(v)) => *v as i64,
        ScalarValue::UInt64(Some(v)) => i64::try_from(*v).unwrap_or(i64::MAX),
        other => return Err(bad(format!("must be a literal integer, not {other:?}"))),
    };
    match usize::try_from(k) {
        Ok(k) if k > 0 => Ok(k),
        _ => Err(bad(format!("must be at least 1, not {k}"))),
    }
}

/// The value of an argument that is a literal where the function runs
/// (`None` for a column).
pub(super) fn scalar(value: &ColumnarValue) -> Option<&ScalarValue> {
    match value {
        ColumnarValue::Scalar(value) => Some(value),
        ColumnarValue::Array(_) => None,
    }
}

/// A literal string argument (`None` when the argument is not a literal,
/// or is NULL).
pub(super) fn literal_text(value: Option<&ScalarValue>) -> Option<&str> {
    match value? {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

/// A column of token matrices, read row by row in place.
pub(super) struct Matrices<'a> {
    lists: Option<&'a ListArray>,
}

impl<'a> Matrices<'a> {
    /// Reads `array` (a token-matrix column, or all NULL).
    pub(super) fn new(array: &'a ArrayRef) -> Result<Self> {
        match array.data_type() {
            DataType::Null => Ok(Self { lists: None }),
            DataType::List(_) => Ok(Self {
                lists: Some(array.as_list::<i32>()),
            }),
            other => Err(DataFusionError::Execution(format!(
                "expected a token matrix column, found {other}"
            ))),
        }
    }

    /// Row `row`'s values (tokens × dim, row-major) and its dim; `None`
    /// when the row is NULL.
    pub(super) fn row(&self, row: usize) -> Result<Option<(&'a [f32], usize)>> {
        let Some(lists) = self.lists else {
            return Ok(None);
        };
        if lists.is_null(row) {
            return Ok(None);
        }
        let tokens = lists.values().as_fixed_size_list();
        let (start, end) = (
            lists.value_offsets()[row] as usize,
            lists.value_offsets()[row + 1] as usize,
        );
        Ok(Some((values(tokens, start, end)?, tokens.value_length() as usize)))
    }
}

/// The float values of tokens `start..end` of `tokens`.
fn values(tokens: &FixedSizeListArray, start: usize, end: usize) -> Result<&[f32]> {
    if (start..end).any(|t| tokens.is_null(t)) {
        return Err(DataFusionError::Execution(
            "a token matrix holds a NULL token: a token is a list of floats, never NULL".into(),
        ));
    }
    let dim = tokens.value_length() as usize;
    let floats = tokens.values().as_primitive::<Float32Type>();
    if floats.null_count() > 0 {
        return Err(DataFusionError::Execution("a token matrix holds NULL floats".into()));
    }
    let first = tokens.value_offset(0) as usize;
    Ok(&floats.values()[first + start * dim..first + end * dim])
}
