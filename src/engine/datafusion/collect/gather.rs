//! Copying collected items into one array, in a given order.
//!
//! Lists of fixed-width values (a passage's token matrix is a list of
//! floats) are copied item by item into one buffer sized up front, and each
//! chunk of items is let go as soon as its last item is copied: when items
//! arrive roughly in order, as a map's partitions deliver them, the chunks
//! are freed while the copy grows, so the column is not held twice. Other
//! types go through Arrow's `interleave`.

use std::sync::Arc;

use datafusion::arrow::array::builder::NullBufferBuilder;
use datafusion::arrow::array::{Array, ArrayData, ArrayRef, AsArray, ListArray, make_array, new_empty_array};
use datafusion::arrow::buffer::{Buffer, MutableBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result as DfResult, internal_err};

use super::NAME;

/// The items `order` names (`(chunk, row)` pairs) of `chunks`, one column
/// of `data_type`, copied once.
pub(super) fn gather(chunks: Vec<ArrayRef>, order: &[(usize, usize)], data_type: &DataType) -> DfResult<ArrayRef> {
    if chunks.is_empty() {
        return Ok(new_empty_array(data_type));
    }
    if let Some(lists) = FixedWidthLists::new(&chunks, data_type) {
        drop(chunks);
        return lists.gather(order);
    }
    let arrays: Vec<&dyn Array> = chunks.iter().map(|c| c.as_ref()).collect();
    Ok(interleave(&arrays, order)?)
}

/// One chunk of a list column: its offsets, null items, and the bytes of
/// its values.
struct ListChunk {
    offsets: OffsetBuffer<i32>,
    nulls: Option<NullBuffer>,
    values: Buffer,
}

/// Chunks of a `List` of a fixed-width type without null values.
struct FixedWidthLists {
    field: FieldRef,
    width: usize,
    chunks: Vec<Option<ListChunk>>,
}

impl FixedWidthLists {
    fn new(chunks: &[ArrayRef], data_type: &DataType) -> Option<Self> {
        let DataType::List(field) = data_type else {
            return None;
        };
        let width = field.data_type().primitive_width()?;
        let chunks = chunks
            .iter()
            .map(|chunk| {
                let list = chunk.as_list_opt::<i32>()?;
                let values = list.values().to_data();
                if values.null_count() > 0 || values.buffers().len() != 1 {
                    return None;
                }
                Some(Some(ListChunk {
                    offsets: list.offsets().clone(),
                    nulls: list.nulls().cloned(),
                    values: values.buffers()[0].slice_with_length(values.offset() * width, values.len() * width),
                }))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FixedWidthLists {
            field: Arc::clone(field),
            width,
            chunks,
        })
    }

    fn gather(mut self, order: &[(usize, usize)]) -> DfResult<ArrayRef> {
        let mut last_use = vec![0; self.chunks.len()];
        for (i, &(chunk, _)) in order.iter().enumerate() {
            last_use[chunk] = i;
        }
        let mut total = 0usize;
        for &(chunk, row) in order {
            match &self.chunks[chunk] {
                Some(c) => total += (c.offsets[row + 1] - c.offsets[row]) as usize,
                None => return internal_err!("{NAME}: item ({chunk}, {row}) of no chunk"),
            }
        }
        if i32::try_from(total).is_err() {
            return internal_err!("{NAME}: {total} values do not fit one list's 32-bit offsets");
        }
        let width = self.width;
        let mut bytes = MutableBuffer::with_capacity(total * width);
        let mut offsets = Vec::with_capacity(order.len() + 1);
        offsets.push(0i32);
        let mut nulls = NullBufferBuilder::new(order.len());
        for (i, &(chunk, row)) in order.iter().enumerate() {
            let Some(c) = &self.chunks[chunk] else {
                return internal_err!("{NAME}: chunk {chunk} let go before its item {row}");
            };
            if c.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                nulls.append_null();
            } else {
                nulls.append_non_null();
                let (start, end) = (c.offsets[row] as usize, c.offsets[row + 1] as usize);
                bytes.extend_from_slice(&c.values.as_slice()[start * width..end * width]);
            }
            offsets.push((bytes.len() / width) as i32);
            if last_use[chunk] == i {
                self.chunks[chunk] = None;
            }
        }
        let values = ArrayData::builder(self.field.data_type().clone())
            .len(total)
            .add_buffer(bytes.into())
            .build()?;
        let list = ListArray::try_new(
            self.field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            make_array(values),
            nulls.finish(),
        )?;
        Ok(Arc::new(list))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Float32Type};

    use super::*;

    fn floats(items: &[Option<Vec<f32>>]) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
            items.iter().map(|i| i.as_ref().map(|v| v.iter().map(|&x| Some(x)))),
        ))
    }

    #[test]
    fn lists_of_floats_are_copied_in_the_given_order_with_null_items_kept() {
        let a = floats(&[Some(vec![1.0, 2.0]), None, Some(vec![])]);
        // A sliced chunk: its values start inside the buffer.
        let b = floats(&[Some(vec![9.0]), Some(vec![3.0]), Some(vec![4.0, 5.0, 6.0])]).slice(1, 2);
        let data_type = a.data_type().clone();
        let out = gather(vec![a, b], &[(1, 1), (0, 0), (0, 1), (1, 0), (0, 2)], &data_type).unwrap();
        let out = out.as_list::<i32>();
        let items: Vec<Option<Vec<f32>>> = out
            .iter()
            .map(|i| i.map(|v| v.as_primitive::<Float32Type>().values().to_vec()))
            .collect();
        assert_eq!(
            items,
            vec![
                Some(vec![4.0, 5.0, 6.0]),
                Some(vec![1.0, 2.0]),
                None,
                Some(vec![3.0]),
                Some(vec![])
            ]
        );
    }

    #[test]
    fn other_types_and_null_values_take_the_general_path_with_the_same_result() {
        let strings: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(StringArray::from(vec!["c"])),
        ];
        let out = gather(strings, &[(1, 0), (0, 1), (0, 0)], &DataType::Utf8).unwrap();
        assert_eq!(
            out.as_string::<i32>().iter().flatten().collect::<Vec<_>>(),
            ["c", "b", "a"]
        );

        let field = Arc::new(Field::new_list_field(DataType::Float32, true));
        let with_null_value: ArrayRef = Arc::new(ListArray::new(
            Arc::clone(&field),
            OffsetBuffer::from_lengths([2]),
            Arc::new(Float32Array::from(vec![Some(1.0), None])),
            None,
        ));
        let out = gather(vec![with_null_value], &[(0, 0)], &DataType::List(field)).unwrap();
        assert_eq!(out.as_list::<i32>().value(0).null_count(), 1);
    }
}
