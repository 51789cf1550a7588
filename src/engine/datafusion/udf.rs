//! The scalar UDFs a lowered pipeline calls: one per node, plus small
//! helpers for maps (item positions, padded item lists, values wrapped
//! along an item list, one output of a node with several).
//!
//! Every UDF is `Volatile` (the planner must never constant-fold a node, and
//! so never load a model, in the client) and is identified by its
//! [`UdfConfig`] alone, which is what a codec writes into a serialised plan.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, Int64Builder, ListArray, MutableArrayData, StructArray, make_array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{DataFusionError, Result as DfResult, exec_err, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::engine::call::{Called, HeldRows, NodeCallSite, RowSource};
use crate::engine::report::Recorder;
use crate::error::{Error, bug};
use crate::nested::MapMode;
use crate::node::{Node, NodeSettings};
use crate::value::{TypeInfo, Value};

/// Everything that identifies one UDF of a lowered plan. Serialisable: a
/// process that links the same nodes rebuilds the UDF from it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum UdfConfig {
    /// A node call.
    Node {
        /// The node's id in the [registry](crate::registry).
        id: String,
        /// The node's version hash, checked when rebuilding.
        version: u64,
        /// The node's path in the pipeline (`outer/inner/node`), for messages.
        path: String,
        /// Execution settings.
        settings: NodeSettings,
        /// Whether the node runs mapped (per item; batch implementation used).
        mapped: bool,
        /// Items per batch call when the node has no batch size of its own.
        default_batch_size: usize,
        /// The URL of the run's node cache, which a process rebuilding the
        /// plan (an executor) opens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache: Option<String>,
    },
    /// `[0, len)` for the mapped lists of one map level (checking zip lengths).
    Positions {
        /// The mapped node's path.
        path: String,
        /// The mapped lists' names.
        lists: Vec<String>,
        /// How the lists combine.
        mode: MapMode,
    },
    /// The list with its items declared nullable: unnest pads shorter
    /// lists of a row with nulls.
    Pad,
    /// `[value, null, null, …]` as long as the row's positions list (at
    /// least one element): a value carried through an unnest without a copy
    /// per item.
    Wrap,
    /// One output of a node with several (a field of the struct its UDF
    /// returns). Not DataFusion's `get_field`: the optimiser pushes that
    /// into the projection that calls the node, once per field, and so
    /// calls the node once per output.
    Field {
        /// The output's name.
        name: String,
    },
}

impl UdfConfig {
    /// The UDF's name in plans.
    pub fn udf_name(&self) -> String {
        match self {
            UdfConfig::Node { path, .. } => format!("node:{path}"),
            UdfConfig::Positions { path, .. } => format!("nf_positions:{path}"),
            UdfConfig::Pad => "nf_pad".into(),
            UdfConfig::Wrap => "nf_wrap".into(),
            UdfConfig::Field { name } => format!("nf_field:{name}"),
        }
    }
}

/// A node as a vectorised scalar UDF.
pub(crate) struct NodefusionUdf {
    config: UdfConfig,
    name: String,
    node: Option<Node>,
    signature: Signature,
    recorder: Option<Arc<Recorder>>,
    /// The run's node cache: the one given to the run, or in a plan
    /// rebuilt from bytes, the one its config's URL opens.
    cache: Option<Cache>,
    /// Whether node errors carry their [tag](crate::engine::wire): true
    /// for UDFs rebuilt from a serialised plan, whose errors may reach the
    /// client only as text.
    tag_errors: bool,
}

impl std::fmt::Debug for NodefusionUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodefusionUdf").field("config", &self.config).finish()
    }
}

impl PartialEq for NodefusionUdf {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
    }
}

impl Eq for NodefusionUdf {}

impl Hash for NodefusionUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.config.hash(state)
    }
}

impl NodefusionUdf {
    /// A UDF for `config`; node UDFs need the node itself.
    pub(crate) fn udf(
        config: UdfConfig,
        node: Option<Node>,
        recorder: Option<Arc<Recorder>>,
        cache: Option<Cache>,
    ) -> ScalarUDF {
        Self::build(config, node, recorder, cache, false)
    }

    fn build(
        config: UdfConfig,
        node: Option<Node>,
        recorder: Option<Arc<Recorder>>,
        cache: Option<Cache>,
        tag_errors: bool,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(NodefusionUdf {
            name: config.udf_name(),
            config,
            node,
            signature: Signature::variadic_any(Volatility::Volatile),
            recorder,
            cache,
            tag_errors,
        })
    }

    /// Rebuilds a UDF from its config, finding nodes in the registry.
    pub(crate) fn from_config(config: UdfConfig) -> DfResult<ScalarUDF> {
        let node = match &config {
            UdfConfig::Node {
                id, version, settings, ..
            } => {
                let node = crate::registry::find(id).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "node '{id}' is not linked into this binary; an executor must link the crate defining it"
                    ))
                })?;
                if node.version() != *version {
                    return Err(DataFusionError::Plan(format!(
                        "node '{id}' has version {:x} here but the plan was made with {version:x}; \
                         rebuild the executor from the same sources",
                        node.version()
                    )));
                }
                Some(node.with_settings(settings.clone()))
            }
            _ => None,
        };
        let cache = match &config {
            UdfConfig::Node { cache: Some(url), .. } => {
                Some(Cache::open(url).map_err(|e| DataFusionError::Plan(format!("the plan's node cache: {e}")))?)
            }
            _ => None,
        };
        Ok(Self::build(config, node, None, cache, true))
    }

    pub(crate) fn config(&self) -> &UdfConfig {
        &self.config
    }
}

fn node_type(node: &Node) -> DfResult<DataType> {
    let fields = node
        .outputs()
        .iter()
        .map(|p| arrow_field(&p.ty).map(|f| Field::new(&p.name, f.data_type().clone(), true)))
        .collect::<DfResult<Vec<_>>>()?;
    Ok(match fields.as_slice() {
        [one] => one.data_type().clone(),
        _ => DataType::Struct(Fields::from(fields)),
    })
}

pub(crate) fn arrow_field(ty: &TypeInfo) -> DfResult<FieldRef> {
    (ty.arrow.field)().map_err(|e| DataFusionError::External(Box::new(e)))
}

fn positions_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

impl ScalarUDFImpl for NodefusionUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match (&self.config, &self.node) {
            (UdfConfig::Node { .. }, Some(node)) => node_type(node),
            (UdfConfig::Node { .. }, None) => internal_err!("node UDF without its node"),
            (UdfConfig::Positions { .. }, _) => Ok(positions_type()),
            (UdfConfig::Pad, _) => match arg_types {
                [DataType::List(item)] => Ok(DataType::List(Arc::new(item.as_ref().clone().with_nullable(true)))),
                other => exec_err!("nf_pad takes one list, not {other:?}"),
            },
            (UdfConfig::Wrap, _) => match arg_types {
                [t, _] => Ok(DataType::List(Arc::new(Field::new_list_field(t.clone(), true)))),
                _ => exec_err!("nf_wrap takes a value and a positions list"),
            },
            (UdfConfig::Field { name }, _) => match arg_types {
                [DataType::Struct(fields)] => match fields.find(name) {
                    Some((_, field)) => Ok(field.data_type().clone()),
                    None => exec_err!("nf_field: the outputs {fields:?} have no '{name}'"),
                },
                other => exec_err!("nf_field takes a node's struct of outputs, not {other:?}"),
            },
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        Ok(Arc::new(Field::new(self.name(), self.return_type(&types)?, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        self.invoke(args).map_err(|error| match error {
            DataFusionError::External(boxed) if self.tag_errors => match boxed.downcast::<Error>() {
                Ok(error) => match crate::engine::wire::Tagged::new(&error) {
                    Some(tagged) => DataFusionError::External(Box::new(tagged)),
                    None => DataFusionError::External(error),
                },
                Err(other) => DataFusionError::External(other),
            },
            other => other,
        })
    }
}

impl NodefusionUdf {
    fn invoke(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = match (&self.config, &self.node) {
            (
                UdfConfig::Node {
                    path,
                    mapped,
                    default_batch_size,
                    ..
                },
                Some(node),
            ) => {
                let started = Instant::now();
                let advance = |items: u64, cached: u64| {
                    if let (true, Some(recorder)) = (*mapped, &self.recorder) {
                        recorder.advance(path, items, cached);
                    }
                };
                let call = NodeCall {
                    node,
                    path,
                    mapped: *mapped,
                    default_batch_size: *default_batch_size,
                    cache: self.cache.as_ref(),
                };
                let (out, calls, hits) = call.invoke(&arrays, rows, &advance)?;
                if let Some(recorder) = &self.recorder {
                    recorder.record(path, calls, hits, rows as u64, started.elapsed());
                }
                out
            }
            (UdfConfig::Node { .. }, None) => return internal_err!("node UDF without its node"),
            (UdfConfig::Positions { path, lists, mode }, _) => positions(path, lists, *mode, &arrays, rows)?,
            (UdfConfig::Pad, _) => pad(&arrays[0])?,
            (UdfConfig::Wrap, _) => wrap(&arrays[0], &arrays[1])?,
            (UdfConfig::Field { name }, _) => field(&arrays[0], name)?,
        };
        if result.len() != rows {
            return internal_err!("{} returned {} rows for {rows}", self.name, result.len());
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// The column `name` of a struct array (a node's outputs), nulls of the
/// struct (rows the node did not run on) kept.
fn field(array: &ArrayRef, name: &str) -> DfResult<ArrayRef> {
    let Some(outputs) = array.as_struct_opt() else {
        return exec_err!("nf_field takes a node's struct of outputs, not {}", array.data_type());
    };
    let Some(column) = outputs.column_by_name(name) else {
        return exec_err!("nf_field: the node has no output '{name}'");
    };
    match outputs.nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            let merged = NullBuffer::union(Some(nulls), column.nulls());
            Ok(make_array(column.to_data().into_builder().nulls(merged).build()?))
        }
        _ => Ok(column.clone()),
    }
}

fn external(error: Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// A node's input arrays as values: converted from Arrow once, handed out
/// owned (moved into the node); when rows are asked for again (a failed
/// batch retried row by row) the arrays are converted afresh. Equal
/// neighbouring rows of a constant input share one value.
struct ArrowRows<'a> {
    node: &'a Node,
    path: &'a str,
    arrays: &'a [ArrayRef],
    /// Per input, per row: the value not yet handed out.
    converted: RefCell<Option<HeldRows>>,
}

impl ArrowRows<'_> {
    fn convert(&self) -> Result<HeldRows, Error> {
        let columns = self
            .node
            .inputs()
            .iter()
            .zip(self.arrays)
            .enumerate()
            .map(|(index, (port, array))| {
                let mut values = (port.ty.arrow.from_arrow)(array.as_ref()).map_err(|source| Error::Conversion {
                    node: self.path.into(),
                    port: port.name.clone(),
                    output: false,
                    source: Box::new(source),
                })?;
                if self.node.is_constant(index) {
                    share_equal_neighbours(array, &mut values);
                }
                Ok(values)
            })
            .collect::<Result<_, Error>>()?;
        Ok(HeldRows::new(columns))
    }
}

impl RowSource for ArrowRows<'_> {
    fn rows(&self, range: Range<usize>) -> Result<Vec<Vec<Value>>, Error> {
        let mut converted = self.converted.borrow_mut();
        if !converted.as_ref().is_some_and(|held| held.holds(&range)) {
            *converted = Some(self.convert()?);
        }
        converted
            .as_mut()
            .ok_or_else(|| bug!("converted columns are present"))?
            .take(range)
    }
}

/// Lets each row equal (in Arrow) to the row before it hold the same value.
fn share_equal_neighbours(array: &ArrayRef, values: &mut [Value]) {
    let data = array.to_data();
    for row in 1..values.len() {
        if data.slice(row - 1, 1) == data.slice(row, 1) {
            values[row] = values[row - 1].clone();
        }
    }
}

/// One node's call on a batch of Arrow arrays (see [`NodeCallSite`]).
struct NodeCall<'a> {
    node: &'a Node,
    path: &'a str,
    mapped: bool,
    default_batch_size: usize,
    cache: Option<&'a Cache>,
}

impl NodeCall<'_> {
    /// Calls the node on `rows` rows of `arrays`: its output column, its calls
    /// and its cache hits. When mapped, the last argument holds each row's item
    /// index (for errors).
    fn invoke(&self, arrays: &[ArrayRef], rows: usize, advance: &dyn Fn(u64, u64)) -> DfResult<(ArrayRef, u64, u64)> {
        let NodeCall {
            node,
            path,
            mapped,
            default_batch_size,
            cache,
        } = *self;
        let n_inputs = node.inputs().len();
        let items: Option<&Int64Array> = if mapped {
            arrays.get(n_inputs).and_then(|a| a.as_primitive_opt::<Int64Type>())
        } else {
            None
        };
        let item_of = |row: usize| items.and_then(|a| a.is_valid(row).then(|| a.value(row) as usize));
        let source = ArrowRows {
            node,
            path,
            arrays,
            converted: RefCell::new(None),
        };
        let site = NodeCallSite {
            node,
            path,
            mapped,
            default_batch_size,
            item_of: &item_of,
            advance,
            cache,
        };
        let Called { outputs, calls, hits } = site.call(&source, rows).map_err(external)?;
        let arrays = node
            .outputs()
            .iter()
            .zip(&outputs)
            .map(|(port, values)| {
                (port.ty.arrow.to_arrow)(values).map_err(|source| {
                    external(Error::Conversion {
                        node: path.into(),
                        port: port.name.clone(),
                        output: true,
                        source: Box::new(source),
                    })
                })
            })
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let out = if arrays.len() == 1 {
            arrays.into_iter().next().expect("one output")
        } else {
            let fields: Vec<Field> = node
                .outputs()
                .iter()
                .zip(&arrays)
                .map(|(p, a)| Field::new(&p.name, a.data_type().clone(), true))
                .collect();
            Arc::new(StructArray::try_new(Fields::from(fields), arrays, None)?)
        };
        Ok((out, calls, hits))
    }
}

/// `[0, len)` per row: one list for zip (after checking that all lists have
/// the same length), or the first list's positions for product mode (which
/// calls this once per list). A null list (an absent item of an enclosing
/// map) gives a null.
fn positions(path: &str, names: &[String], mode: MapMode, arrays: &[ArrayRef], rows: usize) -> DfResult<ArrayRef> {
    let lists: Vec<&ListArray> = arrays
        .iter()
        .map(|a| {
            a.as_list_opt::<i32>()
                .ok_or_else(|| DataFusionError::Internal("positions of a non-list".into()))
        })
        .collect::<DfResult<_>>()?;
    let mut offsets = vec![0i32];
    let mut values = Int64Builder::new();
    let mut validity = Vec::with_capacity(rows);
    for row in 0..rows {
        if lists.iter().any(|l| l.is_null(row)) {
            validity.push(false);
            offsets.push(*offsets.last().expect("non-empty"));
            continue;
        }
        let lengths: Vec<usize> = lists.iter().map(|l| l.value_length(row) as usize).collect();
        if mode == MapMode::Zip && lengths.iter().any(|&l| l != lengths[0]) {
            return Err(external(Error::MapLengthMismatch {
                node: path.into(),
                item: None,
                lists: names.iter().cloned().zip(lengths).collect(),
            }));
        }
        let len = lengths.first().copied().unwrap_or(0);
        for i in 0..len {
            values.append_value(i as i64);
        }
        validity.push(true);
        offsets.push(offsets.last().expect("non-empty") + len as i32);
    }
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Int64, true)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(values.finish()),
        Some(validity.into()),
    )?))
}

/// See [`UdfConfig::Pad`].
fn pad(array: &ArrayRef) -> DfResult<ArrayRef> {
    let Some(list) = array.as_list_opt::<i32>() else {
        return internal_err!("nf_pad of a non-list");
    };
    let DataType::List(item) = list.data_type() else {
        return internal_err!("nf_pad of a non-list");
    };
    let field = Arc::new(item.as_ref().clone().with_nullable(true));
    let (_, offsets, values, nulls) = list.clone().into_parts();
    Ok(Arc::new(ListArray::try_new(field, offsets, values, nulls)?))
}

/// Each value followed by nulls, as long as its row's positions (at least
/// one element). Built by copying each value once: a `take` with null
/// indices would size its output by the list the nulls point at.
fn wrap(values: &ArrayRef, positions: &ArrayRef) -> DfResult<ArrayRef> {
    let Some(positions) = positions.as_list_opt::<i32>() else {
        return internal_err!("nf_wrap needs a positions list");
    };
    let data = values.to_data();
    let lengths: Vec<usize> = (0..values.len())
        .map(|row| {
            if positions.is_valid(row) {
                (positions.value_length(row) as usize).max(1)
            } else {
                1
            }
        })
        .collect();
    let mut out = MutableArrayData::new(vec![&data], true, lengths.iter().sum());
    for (row, &len) in lengths.iter().enumerate() {
        out.try_extend(0, row, row + 1)?;
        out.try_extend_nulls(len - 1)?;
    }
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(values.data_type().clone(), true)),
        OffsetBuffer::from_lengths(lengths),
        make_array(out.freeze()),
        None,
    )?))
}
