//! The hits type of the search functions, `List<Struct {uuid: Utf8, score:
//! Float32}>`, and building a column of it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float32Array, ListArray, StringArray, StructArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Fields};

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
