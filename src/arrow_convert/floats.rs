//! [`Floats`]: `f32` values that stay in the Arrow memory they came from,
//! and the conversions that keep them there.

use std::any::Any;
use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float32Array, ListArray};
use datafusion::arrow::buffer::{OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, FieldRef, Float32Type};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `f32` values kept in Arrow memory: a node taking `Floats` (or
/// `&[Floats]`, a collected list of them) reads its rows of a
/// `List<Float32>` column in place, where a `Vec<f32>` would be a
/// deserialised copy; consecutive `Floats` of one column go back to Arrow
/// without a copy too. It derefs to `&[f32]` and has the Arrow type and the
/// serde form of a `Vec<f32>`.
///
/// ```
/// use nodefusion::Floats;
///
/// let row = Floats::from(vec![1.0, 2.0, 3.0]);
/// assert_eq!(&row[1..], &[2.0, 3.0]);
/// // Neighbouring parts of one buffer join without copying.
/// let (head, tail) = (row.slice(0..1), row.slice(1..3));
/// let joined = Floats::contiguous(&[head, tail]).unwrap();
/// assert_eq!(joined, row);
/// assert!(Floats::contiguous(&[Floats::from(vec![1.0]), Floats::from(vec![2.0])]).is_none());
/// ```
#[derive(Clone, Default)]
pub struct Floats {
    /// The whole buffer the values live in, shared with their column.
    buffer: ScalarBuffer<f32>,
    /// Where the values are in it.
    range: Range<usize>,
}

impl Floats {
    /// The values at `range` of these (relative), sharing their memory.
    ///
    /// # Panics
    /// If `range` is out of bounds, as slicing a `[f32]` does.
    pub fn slice(&self, range: Range<usize>) -> Floats {
        assert!(
            range.start <= range.end && range.end <= self.len(),
            "range {range:?} out of bounds of {} values",
            self.len()
        );
        Floats {
            buffer: self.buffer.clone(),
            range: self.range.start + range.start..self.range.start + range.end,
        }
    }

    /// `parts` as one run of values without copying, when each starts where
    /// the one before ends in the same buffer (as the rows of one column
    /// do); `None` otherwise. No parts give no values.
    pub fn contiguous(parts: &[Floats]) -> Option<Floats> {
        let Some(first) = parts.first() else {
            return Some(Floats::default());
        };
        let joined = parts
            .windows(2)
            .all(|pair| pair[0].shares_buffer_with(&pair[1]) && pair[0].range.end == pair[1].range.start);
        joined.then(|| Floats {
            buffer: first.buffer.clone(),
            range: first.range.start..parts[parts.len() - 1].range.end,
        })
    }

    fn shares_buffer_with(&self, other: &Floats) -> bool {
        self.buffer.as_ptr() == other.buffer.as_ptr() && self.buffer.len() == other.buffer.len()
    }
}

impl Deref for Floats {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &self.buffer[self.range.clone()]
    }
}

impl AsRef<[f32]> for Floats {
    fn as_ref(&self) -> &[f32] {
        self
    }
}

impl From<Vec<f32>> for Floats {
    fn from(values: Vec<f32>) -> Self {
        let range = 0..values.len();
        Floats {
            buffer: ScalarBuffer::from(values),
            range,
        }
    }
}

impl PartialEq for Floats {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Floats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Floats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Floats {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<f32>::deserialize(deserializer).map(Floats::from)
    }
}

/// `values` as an Arrow array of `field`'s type, without the serde path,
/// when `T` is `Floats` or `Vec<Floats>`; `None` for other types.
pub(super) fn to_arrow<T: Any>(values: &[&T], field: &FieldRef) -> Option<Result<ArrayRef, String>> {
    let wanted = std::any::TypeId::of::<T>();
    if wanted == std::any::TypeId::of::<Floats>() {
        let rows: Vec<&Floats> = values
            .iter()
            .filter_map(|&v| as_any(v).downcast_ref::<Floats>())
            .collect();
        return Some(rows_to_arrow(&rows, field.data_type()));
    }
    if wanted != std::any::TypeId::of::<Vec<Floats>>() {
        return None;
    }
    let lists: Vec<&Vec<Floats>> = values
        .iter()
        .filter_map(|&v| as_any(v).downcast_ref::<Vec<Floats>>())
        .collect();
    let DataType::List(item) = field.data_type() else {
        return Some(Err(format!("a list of lists was expected, not {}", field.data_type())));
    };
    let rows: Vec<&Floats> = lists.iter().flat_map(|list| list.iter()).collect();
    Some(rows_to_arrow(&rows, item.data_type()).and_then(|inner| {
        let offsets = OffsetBuffer::from_lengths(lists.iter().map(|list| list.len()));
        list_array(item, offsets, inner)
    }))
}

fn as_any<T: Any>(value: &T) -> &dyn Any {
    value
}

/// The values of `array` as `T` in place, when `T` is `Floats` or
/// `Vec<Floats>`; `None` for other types.
pub(super) fn from_arrow<T: Any>(array: &dyn Array) -> Option<Result<Vec<T>, String>> {
    let wanted = std::any::TypeId::of::<T>();
    let values: Result<Box<dyn Any>, String> = if wanted == std::any::TypeId::of::<Floats>() {
        rows_from_arrow(array).map(|rows| Box::new(rows) as Box<dyn Any>)
    } else if wanted == std::any::TypeId::of::<Vec<Floats>>() {
        lists_from_arrow(array).map(|lists| Box::new(lists) as Box<dyn Any>)
    } else {
        return None;
    };
    Some(values.map(|values| {
        *values
            .downcast::<Vec<T>>()
            .expect("the values were made as a Vec of the wanted type")
    }))
}

/// One `List<Float32>` row per value: the memory of consecutive rows of one
/// buffer is reused, anything else copied into a new buffer.
fn rows_to_arrow(rows: &[&Floats], data_type: &DataType) -> Result<ArrayRef, String> {
    let DataType::List(item) = data_type else {
        return Err(format!("a list of floats was expected, not {data_type}"));
    };
    let owned: Vec<Floats> = rows.iter().map(|&row| row.clone()).collect();
    let values = match Floats::contiguous(&owned) {
        Some(joined) => joined.buffer.slice(joined.range.start, joined.range.len()),
        None => ScalarBuffer::from(rows.iter().flat_map(|row| row.iter().copied()).collect::<Vec<f32>>()),
    };
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(|row| row.len()));
    list_array(item, offsets, Arc::new(Float32Array::new(values, None)))
}

fn list_array(item: &FieldRef, offsets: OffsetBuffer<i32>, values: ArrayRef) -> Result<ArrayRef, String> {
    Ok(Arc::new(
        ListArray::try_new(item.clone(), offsets, values, None).map_err(|e| e.to_string())?,
    ))
}

/// Each row of a `List<Float32>` array, sharing the array's memory. Only
/// the values the rows span are looked at (a sliced array's child holds
/// more).
fn rows_from_arrow(array: &dyn Array) -> Result<Vec<Floats>, String> {
    let list = array
        .as_list_opt::<i32>()
        .ok_or_else(|| format!("a list of floats was expected, found {}", array.data_type()))?;
    let (offsets, first) = spanned_offsets(list);
    let end = offsets.last().copied().unwrap_or(0);
    let values = list.values().slice(first, end);
    let values = values
        .as_primitive_opt::<Float32Type>()
        .ok_or_else(|| format!("list items of Float32 were expected, found {}", list.value_type()))?;
    if values.null_count() > 0 {
        return Err("a list item is null; Floats holds numbers only".into());
    }
    let buffer = values.values().clone();
    (0..list.len())
        .map(|row| match list.is_null(row) {
            true => Err(format!("row {row} is null")),
            false => Ok(Floats {
                buffer: buffer.clone(),
                range: offsets[row]..offsets[row + 1],
            }),
        })
        .collect()
}

/// Each row of a `List<List<Float32>>` array as its `Floats`, sharing the
/// array's memory.
fn lists_from_arrow(array: &dyn Array) -> Result<Vec<Vec<Floats>>, String> {
    let list = array
        .as_list_opt::<i32>()
        .ok_or_else(|| format!("a list of lists was expected, found {}", array.data_type()))?;
    let (offsets, first) = spanned_offsets(list);
    let inner = list.values().slice(first, offsets.last().copied().unwrap_or(0));
    let rows = rows_from_arrow(inner.as_ref()).map_err(|e| format!("an inner list: {e}"))?;
    (0..list.len())
        .map(|row| match list.is_null(row) {
            true => Err(format!("row {row} is null")),
            false => Ok(rows[offsets[row]..offsets[row + 1]].to_vec()),
        })
        .collect()
}

/// The offsets of `list`'s rows counted from its first row's start (which
/// is returned too): the span of its child that the rows use.
fn spanned_offsets(list: &ListArray) -> (Vec<usize>, usize) {
    let offsets = list.value_offsets();
    let first = offsets.first().copied().unwrap_or(0) as usize;
    (offsets.iter().map(|&o| o as usize - first).collect(), first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow_convert::{field_of, from_arrow as convert_from, to_arrow as convert_to};

    fn values_ptr(array: &ArrayRef) -> *const f32 {
        array
            .as_list::<i32>()
            .values()
            .as_primitive::<Float32Type>()
            .values()
            .as_ptr()
    }

    #[test]
    fn floats_have_the_arrow_type_of_a_vec_of_f32() {
        assert_eq!(field_of::<Floats>().unwrap(), field_of::<Vec<f32>>().unwrap());
        assert_eq!(field_of::<Vec<Floats>>().unwrap(), field_of::<Vec<Vec<f32>>>().unwrap());
    }

    #[test]
    fn rows_are_read_in_place_and_written_back_without_copying() {
        let vectors = vec![vec![1.0f32, 2.0], vec![], vec![3.0, 4.0, 5.0]];
        let array = convert_to(&vectors).unwrap();
        let rows = convert_from::<Floats>(&array).unwrap();
        assert_eq!(rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), vectors);
        assert_eq!(rows[2].as_ptr(), values_ptr(&array).wrapping_add(2));
        let back = convert_to(&rows).unwrap();
        assert_eq!(values_ptr(&back), values_ptr(&array));
        assert_eq!(convert_from::<Vec<f32>>(&back).unwrap(), vectors);
    }

    #[test]
    fn rows_of_separate_buffers_are_copied_into_one() {
        let rows = vec![Floats::from(vec![1.0]), Floats::from(vec![2.0, 3.0])];
        let array = convert_to(&rows).unwrap();
        assert_eq!(
            convert_from::<Vec<f32>>(&array).unwrap(),
            vec![vec![1.0], vec![2.0, 3.0]]
        );
    }

    #[test]
    fn lists_of_rows_round_trip_in_place_from_a_sliced_array() {
        let lists = vec![vec![vec![1.0f32], vec![2.0, 3.0]], vec![], vec![vec![4.0]]];
        let array = convert_to(&lists).unwrap();
        let sliced = array.slice(1, 2);
        let read = convert_from::<Vec<Floats>>(&sliced).unwrap();
        assert_eq!(read.len(), 2);
        assert!(read[0].is_empty());
        assert_eq!(&read[1][0][..], &[4.0]);
        let back = convert_to(&read).unwrap();
        assert_eq!(convert_from::<Vec<Vec<f32>>>(&back).unwrap(), lists[1..].to_vec());
    }

    #[test]
    fn a_slice_reads_only_the_values_it_spans() {
        // A null number outside the slice is not the slice's business.
        let array = convert_to(&[vec![None, Some(1.0f32)], vec![Some(2.0), Some(3.0)]]).unwrap();
        assert!(convert_from::<Floats>(&array).is_err());
        let rows = convert_from::<Floats>(&array.slice(1, 1)).unwrap();
        assert_eq!(&rows[0][..], &[2.0, 3.0]);
    }

    #[test]
    fn nulls_are_refused_with_their_row() {
        let array = convert_to(&[Some(vec![1.0f32]), None]).unwrap();
        let error = convert_from::<Floats>(&array).unwrap_err().to_string();
        assert!(error.contains("row 1 is null"), "{error}");
    }

    #[test]
    fn floats_serialise_as_a_sequence() {
        let row = Floats::from(vec![0.5, -1.0]);
        assert_eq!(serde_json::to_string(&row).unwrap(), "[0.5,-1.0]");
        assert_eq!(serde_json::from_str::<Floats>("[0.5,-1.0]").unwrap(), row);
    }
}
