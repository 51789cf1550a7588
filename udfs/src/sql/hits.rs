//! The hits type of the search functions, `List<Struct {uuid: Utf8, score:
//! Float32}>`, and building a column of it.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float64Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::{DataFusionError, Result};

use super::args::{arg_error, is_text};

/// The fields of one hit.
fn hit_fields() -> Fields {
    Fields::from(vec![
        Field::new("uuid", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ])
}

/// The type of a column of hits: `List<Struct {uuid: Utf8, score:
/// Float32}>`, best hit first.
///
/// ```
/// use datafusion::arrow::datatypes::DataType;
/// let DataType::List(item) = nodefusion_udfs::sql::hits_type() else { unreachable!() };
/// assert!(matches!(item.data_type(), DataType::Struct(fields) if fields.len() == 2));
/// ```
pub fn hits_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Struct(hit_fields()), false)))
}

/// A column of hits, one list per row.
#[derive(Default)]
pub(super) struct HitsColumn {
    uuids: Vec<String>,
    scores: Vec<f32>,
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl HitsColumn {
    /// Appends a row: its hits, or NULL.
    pub(super) fn push(&mut self, hits: Option<impl IntoIterator<Item = (String, f32)>>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.valid.push(hits.is_some());
        for (uuid, score) in hits.into_iter().flatten() {
            self.uuids.push(uuid);
            self.scores.push(score);
        }
        self.offsets.push(self.uuids.len() as i32);
    }

    /// The column.
    pub(super) fn finish(mut self) -> ArrayRef {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let hits = StructArray::new(
            hit_fields(),
            vec![
                Arc::new(StringArray::from(self.uuids)),
                Arc::new(Float32Array::from(self.scores)),
            ],
            None,
        );
        let DataType::List(item) = hits_type() else {
            unreachable!("hits_type is a list")
        };
        let nulls = NullBuffer::from(self.valid);
        Arc::new(ListArray::new(
            item,
            OffsetBuffer::new(self.offsets.into()),
            Arc::new(hits),
            (nulls.null_count() > 0).then_some(nulls),
        ))
    }
}

/// Checks that argument `position` of `function` is a list of structs with
/// a text field `uuid` and a numeric field `score` (hits as `array_agg(
/// named_struct('uuid', …, 'score', …))` makes them, or NULL).
pub(super) fn check_hits(function: &str, position: usize, what: &str, t: &DataType) -> Result<()> {
    check_list_of(function, position, what, t, "score", DataType::is_numeric)
}

/// Checks that argument `position` of `function` is a list of structs with
/// a text field `uuid` and a field `field` whose type passes `valid`.
pub(super) fn check_list_of(
    function: &str,
    position: usize,
    what: &str,
    t: &DataType,
    field: &str,
    valid: fn(&DataType) -> bool,
) -> Result<()> {
    let fits = match t {
        DataType::Null => true,
        DataType::List(item) => match item.data_type() {
            DataType::Struct(fields) => {
                let of = |name: &str| fields.iter().find(|f| f.name() == name).map(|f| f.data_type());
                of("uuid").is_some_and(is_text) && of(field).is_some_and(valid)
            }
            _ => false,
        },
        _ => false,
    };
    match fits {
        true => Ok(()),
        false => Err(arg_error(
            function,
            position,
            what,
            format!("must be a list of struct {{uuid: text, {field}: number}}, not {t}"),
        )),
    }
}

/// A column of lists of `{uuid, <value>}` structs (hits, or judgements),
/// read row by row.
pub(super) struct ListsOf {
    lists: Option<ListArray>,
    uuids: StringArray,
    values: Float64Array,
}

impl ListsOf {
    /// Reads `array`, whose structs carry their value in field `field`.
    pub(super) fn new(array: &ArrayRef, field: &str) -> Result<Self> {
        let empty = || Self {
            lists: None,
            uuids: StringArray::from(Vec::<String>::new()),
            values: Float64Array::from(Vec::<f64>::new()),
        };
        if array.data_type() == &DataType::Null {
            return Ok(empty());
        }
        let lists = array.as_list_opt::<i32>().ok_or_else(|| {
            DataFusionError::Execution(format!("expected a list column, found {}", array.data_type()))
        })?;
        let structs = lists.values().as_struct_opt().ok_or_else(|| {
            DataFusionError::Execution(format!("expected a list of structs, found {}", array.data_type()))
        })?;
        let column = |name: &str, to: &DataType| -> Result<ArrayRef> {
            let column = structs
                .column_by_name(name)
                .ok_or_else(|| DataFusionError::Execution(format!("the structs have no field '{name}'")))?;
            if column.null_count() > 0 || structs.null_count() > 0 {
                return Err(DataFusionError::Execution(format!(
                    "a list holds a NULL entry or a NULL {name}: entries are never NULL"
                )));
            }
            Ok(cast(column, to)?)
        };
        Ok(Self {
            uuids: column("uuid", &DataType::Utf8)?.as_string::<i32>().clone(),
            values: column(field, &DataType::Float64)?.as_primitive::<Float64Type>().clone(),
            lists: Some(lists.clone()),
        })
    }

    /// Row `row`'s entries in order, or `None` when the row is NULL.
    pub(super) fn row(&self, row: usize) -> Option<Vec<(&str, f64)>> {
        let lists = self.lists.as_ref()?;
        if lists.is_null(row) {
            return None;
        }
        let offsets = lists.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        Some(
            (start..end)
                .map(|i| (self.uuids.value(i), self.values.value(i)))
                .collect(),
        )
    }
}
