//! `nf_collect(p0, …, pk, v)`: the aggregate that takes one map level's
//! items back into a list, in input order.
//!
//! Rows arrive in any order and from any partition; each carries its item's
//! positions. The accumulator keeps the columns it is given (no copy while
//! items arrive), skips rows without positions (the padding row of an empty
//! list), and copies the values once, when it emits them: into one list
//! sorted by position, with one item per position (a cluster that runs a
//! task again after losing an executor may deliver both runs' rows). With
//! no items the result is an empty list, never null. Lists of fixed-width
//! values are copied so that each arriving chunk is let go after its last
//! item (see `gather`).
//!
//! `array_agg` + a sorting scalar function did the same with four copies of
//! the values (the `FILTER`, each phase's concatenation, the sort), which is
//! what the largest column of a pipeline, a passage embedding matrix, can
//! least afford.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::kernels::boolean::{and, is_not_null};
use datafusion::arrow::compute::{concat, filter};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

mod gather;
use gather::gather;

/// The aggregate's name in plans and in serialised plans.
pub(crate) const NAME: &str = "nf_collect";

/// `nf_collect` as an [`AggregateUDF`].
pub(crate) fn collect_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(Collect {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

/// Whether `udaf` is `nf_collect`.
pub(crate) fn is_collect(udaf: &AggregateUDF) -> bool {
    let inner: &dyn std::any::Any = udaf.inner().as_ref();
    inner.is::<Collect>()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Collect {
    signature: Signature,
}

/// The arguments' fields as `{p0, …, pk, v}` struct fields.
fn item_fields(fields: &[FieldRef]) -> DfResult<Fields> {
    let Some((value, positions)) = fields.split_last() else {
        return exec_err!("{NAME} takes positions and a value, not nothing");
    };
    if positions.is_empty() {
        return exec_err!("{NAME} takes at least one position before the value");
    }
    let mut items: Vec<Field> = Vec::with_capacity(fields.len());
    for (k, p) in positions.iter().enumerate() {
        if p.data_type() != &DataType::Int64 {
            return exec_err!("{NAME}: position {k} is {}, not Int64", p.data_type());
        }
        items.push(Field::new(format!("p{k}"), DataType::Int64, true));
    }
    items.push(Field::new("v", value.data_type().clone(), true));
    Ok(Fields::from(items))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

impl AggregateUDFImpl for Collect {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.last() {
            Some(value) if arg_types.len() >= 2 => Ok(list_of(value.clone())),
            _ => exec_err!("{NAME} takes positions and a value, not {arg_types:?}"),
        }
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(CollectAccumulator {
            fields: item_fields(args.expr_fields)?,
            chunks: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let items = DataType::Struct(item_fields(args.input_fields)?);
        Ok(vec![Arc::new(Field::new(
            format!("{}[items]", args.name),
            list_of(items),
            true,
        ))])
    }
}

/// One group's items: `{p0, …, pk, v}` struct columns as they arrived.
#[derive(Debug)]
struct CollectAccumulator {
    fields: Fields,
    chunks: Vec<StructArray>,
}

/// The position columns of a chunk of items.
fn positions(chunk: &StructArray) -> DfResult<Vec<&Int64Array>> {
    let columns = chunk.columns();
    columns[..columns.len().saturating_sub(1)]
        .iter()
        .map(|p| match p.as_primitive_opt::<Int64Type>() {
            Some(p) => Ok(p),
            None => internal_err!("{NAME}: a position column of type {}", p.data_type()),
        })
        .collect()
}

impl CollectAccumulator {
    fn value_type(&self) -> &DataType {
        self.fields[self.fields.len() - 1].data_type()
    }

    fn push(&mut self, chunk: StructArray) {
        if !chunk.is_empty() {
            self.chunks.push(chunk);
        }
    }
}

impl Accumulator for CollectAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let chunk = StructArray::try_new(self.fields.clone(), values.to_vec(), None)?;
        // Only the padding rows of empty lists lack positions.
        let mut present: Option<BooleanArray> = None;
        for p in positions(&chunk)? {
            if p.null_count() > 0 {
                let mask = is_not_null(p)?;
                present = Some(match present {
                    None => mask,
                    Some(all) => and(&all, &mask)?,
                });
            }
        }
        match present {
            None => self.push(chunk),
            Some(present) => self.push(filter(&chunk, &present)?.as_struct().clone()),
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let [state] = states else {
            return internal_err!("{NAME} merges one state column, not {}", states.len());
        };
        let Some(lists) = state.as_list_opt::<i32>() else {
            return internal_err!("{NAME}'s state is {}, not a list", state.data_type());
        };
        for row in (0..lists.len()).filter(|&row| lists.is_valid(row)) {
            match lists.value(row).as_struct_opt() {
                Some(items) => self.push(items.clone()),
                None => return internal_err!("{NAME}'s state holds {}, not structs", lists.value_type()),
            }
        }
        Ok(())
    }

    /// The items so far as one list, in arrival order: one copy, during
    /// which the columns they came in are let go.
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let chunks = std::mem::take(&mut self.chunks);
        let items: ArrayRef = match chunks.as_slice() {
            [] => Arc::new(StructArray::new_null(self.fields.clone(), 0)),
            [one] => Arc::new(one.clone()),
            many => {
                let mut columns = Vec::with_capacity(self.fields.len());
                for k in 0..self.fields.len() - 1 {
                    columns.push(concat(&many.iter().map(|c| c.column(k).as_ref()).collect::<Vec<_>>())?);
                }
                let arrival = arrival_order(many);
                columns.push(gather(value_columns(chunks), &arrival, self.value_type())?);
                Arc::new(StructArray::try_new(self.fields.clone(), columns, None)?)
            }
        };
        Ok(vec![ScalarValue::List(Arc::new(single_row_list(items)?))])
    }

    /// The values sorted by position, one per position: one copy.
    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let chunks = std::mem::take(&mut self.chunks);
        let order = {
            let positions = chunks.iter().map(positions).collect::<DfResult<Vec<_>>>()?;
            let key = |&(chunk, row): &(usize, usize)| positions[chunk].iter().map(move |p| p.value(row));
            let mut order = arrival_order(&chunks);
            order.sort_by(|a, b| key(a).cmp(key(b)));
            order.dedup_by(|a, b| key(a).eq(key(b)));
            order
        };
        let values = gather(value_columns(chunks), &order, self.value_type())?;
        Ok(ScalarValue::List(Arc::new(single_row_list(values)?)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.chunks.iter().map(|c| c.get_array_memory_size()).sum::<usize>()
    }
}

/// Every item as `(chunk, row)`, in the order the chunks arrived.
fn arrival_order(chunks: &[StructArray]) -> Vec<(usize, usize)> {
    chunks
        .iter()
        .enumerate()
        .flat_map(|(chunk, c)| (0..c.len()).map(move |row| (chunk, row)))
        .collect()
}

/// The value column of each chunk; the position columns are let go.
fn value_columns(chunks: Vec<StructArray>) -> Vec<ArrayRef> {
    chunks
        .into_iter()
        .filter_map(|chunk| chunk.into_parts().1.pop())
        .collect()
}

/// `items` as the one row of a list array.
fn single_row_list(items: ArrayRef) -> DfResult<ListArray> {
    Ok(ListArray::try_new(
        Arc::new(Field::new_list_field(items.data_type().clone(), true)),
        OffsetBuffer::from_lengths([items.len()]),
        items,
        None,
    )?)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;

    use super::*;

    fn accumulator() -> CollectAccumulator {
        let fields = [
            Field::new("pos", DataType::Int64, true),
            Field::new("x", DataType::Int64, true),
        ];
        CollectAccumulator {
            fields: item_fields(&fields.map(Arc::new)).unwrap(),
            chunks: Vec::new(),
        }
    }

    fn columns(items: &[(Option<i64>, i64)]) -> Vec<ArrayRef> {
        vec![
            Arc::new(Int64Array::from_iter(items.iter().map(|i| i.0))),
            Arc::new(Int64Array::from_iter_values(items.iter().map(|i| i.1))),
        ]
    }

    fn values(scalar: ScalarValue) -> Vec<i64> {
        let ScalarValue::List(list) = scalar else {
            panic!("{NAME} returned {scalar:?}")
        };
        assert_eq!(list.len(), 1);
        list.value(0).as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn items_come_back_in_position_order_once_each_without_padding_rows() {
        let mut acc = accumulator();
        acc.update_batch(&columns(&[(Some(2), 20), (Some(0), 0), (None, -1)]))
            .unwrap();
        acc.update_batch(&columns(&[(Some(1), 10), (Some(0), 0), (Some(2), 20)]))
            .unwrap();
        assert_eq!(values(acc.evaluate().unwrap()), vec![0, 10, 20]);
    }

    #[test]
    fn partial_states_merge_into_the_same_list() {
        let mut first = accumulator();
        first.update_batch(&columns(&[(Some(3), 30), (Some(1), 10)])).unwrap();
        let mut second = accumulator();
        second.update_batch(&columns(&[(Some(2), 20)])).unwrap();
        second.update_batch(&columns(&[(Some(0), 0)])).unwrap();
        let mut last = accumulator();
        for mut partial in [first, second, accumulator()] {
            let state: Vec<ArrayRef> = partial.state().unwrap().iter().map(|s| s.to_array().unwrap()).collect();
            last.merge_batch(&state).unwrap();
        }
        assert_eq!(values(last.evaluate().unwrap()), vec![0, 10, 20, 30]);
    }

    #[test]
    fn no_items_is_an_empty_list() {
        let mut acc = accumulator();
        acc.update_batch(&columns(&[(None, 0)])).unwrap();
        assert_eq!(values(acc.evaluate().unwrap()), Vec::<i64>::new());
    }
}
