//! Conversion between users' Rust types and Arrow arrays, derived from their
//! serde impls through `serde_arrow` (no per-type code).
//!
//! A value of type `T` is one element of an Arrow array whose data type is
//! traced from `T` itself: numbers become primitive arrays, `String` becomes
//! `Utf8`, `Vec<T>` a `List`, `Option<T>` a nullable array, structs a
//! `Struct` array, an enum without data the `Utf8` name of its variant. A
//! type that holds an enum with data is one JSON document (`Utf8`) per
//! value: its Arrow form would be a union, and unions do not survive the
//! trip between processes. Types are traced once per process and cached.
//! [`Floats`] (and `Vec<Floats>`) skip serde: they are read from and written
//! to `List<Float32>` columns in place.
//!
//! ```
//! use nodefusion::arrow_convert::{from_arrow, to_arrow};
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Hit { id: String, score: f32 }
//! let hits = vec![Hit { id: "a".into(), score: 1.5 }];
//! let array = to_arrow(&hits).unwrap();
//! assert_eq!(from_arrow::<Hit>(&array).unwrap(), hits);
//! ```

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, StringArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::value::{Data, Value};

mod finite;
mod floats;

pub use floats::Floats;

/// Converting a value to or from Arrow failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ArrowConversionError {
    /// The Rust type has no Arrow representation (e.g. a map with non-string
    /// keys, or an untyped JSON value).
    #[error("type {type_name} has no Arrow representation: {reason}")]
    Untraceable {
        /// The Rust type.
        type_name: &'static str,
        /// What serde_arrow reported.
        reason: String,
    },
    /// Serialising values into Arrow failed.
    #[error("cannot convert {type_name} values to Arrow {data_type}: {reason}")]
    ToArrow {
        /// The Rust type.
        type_name: &'static str,
        /// The Arrow type it maps to.
        data_type: DataType,
        /// What serde_arrow reported (it names the offending field).
        reason: String,
    },
    /// An Arrow array could not be read as the Rust type.
    #[error("cannot read an Arrow {found} array as {type_name} (expected Arrow {expected}): {reason}")]
    FromArrow {
        /// The Rust type.
        type_name: &'static str,
        /// The Arrow type `type_name` maps to.
        expected: DataType,
        /// The Arrow type found.
        found: DataType,
        /// What serde_arrow reported (it names the offending field).
        reason: String,
    },
}

/// Field name of the single column used to carry a value through serde_arrow.
const ITEM: &str = "item";

#[derive(Serialize)]
struct ItemRef<'a, T> {
    item: &'a T,
}

#[derive(Deserialize)]
struct ItemOwned<T> {
    item: T,
}

/// How the values of one type are laid out in Arrow.
#[derive(Clone)]
enum Layout {
    /// Columns traced from the type (structs, lists, primitives, strings).
    Columnar(FieldRef),
    /// Lists (`depth` levels, so that maps still iterate them) of `Utf8`
    /// JSON documents: for types holding an enum with data, whose Arrow
    /// form would be a union. Unions do not survive the trip between
    /// processes (Arrow IPC and Flight drop their fields' nullability, and
    /// decoding unaligned union offsets panics), so a value that may cross
    /// a shuffle does not use them.
    Json { field: FieldRef, depth: usize },
}

impl Layout {
    fn field(&self) -> &FieldRef {
        match self {
            Layout::Columnar(field) | Layout::Json { field, .. } => field,
        }
    }
}

type LayoutCache = RwLock<HashMap<TypeId, Result<Layout, ArrowConversionError>>>;
static LAYOUTS: LazyLock<LayoutCache> = LazyLock::new(Default::default);

fn tracing_options() -> TracingOptions {
    TracingOptions::default()
        .allow_null_fields(true)
        .map_as_struct(false)
        .sequence_as_large_list(false)
        .strings_as_large_utf8(false)
        .bytes_as_large_binary(false)
        .enums_without_data_as_strings(true)
}

fn layout_of<T: Data>() -> Result<Layout, ArrowConversionError> {
    if let Some(found) = LAYOUTS.read().get(&TypeId::of::<T>()) {
        return found.clone();
    }
    let untraceable = |reason: String| ArrowConversionError::Untraceable {
        type_name: std::any::type_name::<T>(),
        reason,
    };
    let layout = Vec::<FieldRef>::from_type::<ItemOwned<T>>(tracing_options())
        .map_err(|e| untraceable(e.to_string()))
        .and_then(|mut fields| fields.pop().ok_or_else(|| untraceable("no field traced".into())))
        .map(|field| match plain_strings(field.data_type()) {
            Some(data_type) => Layout::Columnar(Arc::new(field.as_ref().clone().with_data_type(data_type))),
            None => json_layout(&field),
        });
    LAYOUTS.write().insert(TypeId::of::<T>(), layout.clone());
    layout
}

/// The JSON layout of a traced `field` holding a union: its lists kept,
/// down to the first item that is not a list.
fn json_layout(field: &Field) -> Layout {
    match field.data_type() {
        DataType::List(item) => match json_layout(item) {
            Layout::Json { field: inner, depth } => Layout::Json {
                field: Arc::new(field.clone().with_data_type(DataType::List(inner))),
                depth: depth + 1,
            },
            columnar => columnar,
        },
        _ => Layout::Json {
            field: Arc::new(field.clone().with_data_type(DataType::Utf8)),
            depth: 0,
        },
    }
}

/// `data_type` with each dictionary of strings (an enum without data)
/// made plain `Utf8`, which every transport keeps as it is; `None` when a
/// union (an enum with data) occurs in it.
fn plain_strings(data_type: &DataType) -> Option<DataType> {
    let field = |f: &FieldRef| -> Option<FieldRef> {
        Some(Arc::new(
            f.as_ref().clone().with_data_type(plain_strings(f.data_type())?),
        ))
    };
    Some(match data_type {
        DataType::Union(..) => return None,
        DataType::Dictionary(_, value) if matches!(value.as_ref(), DataType::Utf8) => DataType::Utf8,
        DataType::List(item) => DataType::List(field(item)?),
        DataType::LargeList(item) => DataType::LargeList(field(item)?),
        DataType::FixedSizeList(item, n) => DataType::FixedSizeList(field(item)?, *n),
        DataType::Map(entries, sorted) => DataType::Map(field(entries)?, *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect::<Option<_>>()?),
        other => other.clone(),
    })
}

/// The Arrow field (named `item`) that values of `T` convert to.
///
/// Enums without data are `Utf8` (the variant's name); a type that holds an
/// enum with data is one `Utf8` JSON document per value.
pub fn field_of<T: Data>() -> Result<FieldRef, ArrowConversionError> {
    layout_of::<T>().map(|layout| layout.field().clone())
}

/// Converts values into one Arrow array.
pub fn to_arrow<T: Data>(values: &[T]) -> Result<ArrayRef, ArrowConversionError> {
    items_to_arrow(&values.iter().collect::<Vec<&T>>())
}

fn items_to_arrow<T: Data>(values: &[&T]) -> Result<ArrayRef, ArrowConversionError> {
    let layout = layout_of::<T>()?;
    let error = |reason: String| ArrowConversionError::ToArrow {
        type_name: std::any::type_name::<T>(),
        data_type: layout.field().data_type().clone(),
        reason,
    };
    if let Some(in_place) = floats::to_arrow(values, layout.field()) {
        return in_place.map_err(error);
    }
    match &layout {
        Layout::Columnar(field) => {
            let items: Vec<ItemRef<'_, T>> = values.iter().map(|&item| ItemRef { item }).collect();
            let mut arrays =
                serde_arrow::to_arrow(std::slice::from_ref(field), &items).map_err(|e| error(e.to_string()))?;
            Ok(arrays.remove(0))
        }
        Layout::Json { field, .. } => {
            let documents = values
                .iter()
                .enumerate()
                .map(|(row, value)| {
                    finite::check(value).map_err(|e| format!("row {row}: {e}"))?;
                    serde_json::to_value(value).map_err(|e| format!("row {row}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(error)?;
            json_to_arrow(documents, field.data_type()).map_err(error)
        }
    }
}

/// `documents` as `data_type`: lists of JSON text.
fn json_to_arrow(documents: Vec<serde_json::Value>, data_type: &DataType) -> Result<ArrayRef, String> {
    let DataType::List(item) = data_type else {
        let text = documents.iter().map(|d| (!d.is_null()).then(|| d.to_string()));
        return Ok(Arc::new(text.collect::<StringArray>()));
    };
    let mut lengths = Vec::with_capacity(documents.len());
    let mut valid = Vec::with_capacity(documents.len());
    let mut items = Vec::new();
    for document in documents {
        match document {
            serde_json::Value::Array(values) => {
                lengths.push(values.len());
                valid.push(true);
                items.extend(values);
            }
            serde_json::Value::Null => {
                lengths.push(0);
                valid.push(false);
            }
            other => return Err(format!("a list was expected, found {other}")),
        }
    }
    let values = json_to_arrow(items, item.data_type())?;
    let list = ListArray::try_new(
        item.clone(),
        OffsetBuffer::from_lengths(lengths),
        values,
        Some(NullBuffer::from(valid)),
    )
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(list))
}

/// The JSON documents of `array`, lists of JSON text `depth` levels deep;
/// a null is JSON `null` (`None` for an `Option`).
fn arrow_to_json(array: &dyn Array, depth: usize) -> Result<Vec<serde_json::Value>, String> {
    if depth == 0 {
        let Some(text) = array.as_string_opt::<i32>() else {
            return Err("expected JSON text".into());
        };
        return text
            .iter()
            .enumerate()
            .map(|(row, document)| {
                document.map_or(Ok(serde_json::Value::Null), |d| {
                    serde_json::from_str(d).map_err(|e| format!("row {row}: {e}"))
                })
            })
            .collect();
    }
    let Some(list) = array.as_list_opt::<i32>() else {
        return Err("expected a list of JSON text".into());
    };
    let items = arrow_to_json(list.values().as_ref(), depth - 1)?;
    let offsets = list.value_offsets();
    Ok((0..list.len())
        .map(|row| match list.is_null(row) {
            true => serde_json::Value::Null,
            false => serde_json::Value::Array(items[offsets[row] as usize..offsets[row + 1] as usize].to_vec()),
        })
        .collect())
}

/// Reads an Arrow array as values of `T`.
pub fn from_arrow<T: Data>(array: &dyn Array) -> Result<Vec<T>, ArrowConversionError> {
    let layout = layout_of::<T>()?;
    let error = |reason: String| ArrowConversionError::FromArrow {
        type_name: std::any::type_name::<T>(),
        expected: layout.field().data_type().clone(),
        found: array.data_type().clone(),
        reason,
    };
    if let Some(in_place) = floats::from_arrow::<T>(array) {
        return in_place.map_err(error);
    }
    match &layout {
        Layout::Columnar(_) => {
            // Accept arrays whose nullability or field names differ from the
            // traced ones (DataFusion renames list items); serde_arrow reads
            // by position.
            let read_field = Arc::new(Field::new(ITEM, array.data_type().clone(), true));
            let arrays = [datafusion::arrow::array::make_array(array.to_data())];
            let items: Vec<ItemOwned<T>> =
                serde_arrow::from_arrow(&[read_field], &arrays).map_err(|e| error(e.to_string()))?;
            Ok(items.into_iter().map(|i| i.item).collect())
        }
        Layout::Json { depth, .. } => arrow_to_json(array, *depth)
            .map_err(error)?
            .into_iter()
            .enumerate()
            .map(|(row, document)| serde_json::from_value(document).map_err(|e| error(format!("row {row}: {e}"))))
            .collect(),
    }
}

/// Type-erased Arrow conversion functions of one type, kept in its
/// [`TypeInfo`](crate::TypeInfo).
#[derive(Clone, Copy)]
pub(crate) struct ArrowOps {
    pub(crate) field: fn() -> Result<FieldRef, ArrowConversionError>,
    pub(crate) to_arrow: fn(&[Value]) -> Result<ArrayRef, ArrowConversionError>,
    pub(crate) from_arrow: fn(&dyn Array) -> Result<Vec<Value>, ArrowConversionError>,
}

impl ArrowOps {
    pub(crate) fn of<T: Data>() -> Self {
        ArrowOps {
            field: field_of::<T>,
            to_arrow: values_to_arrow::<T>,
            from_arrow: values_from_arrow::<T>,
        }
    }
}

fn values_to_arrow<T: Data>(values: &[Value]) -> Result<ArrayRef, ArrowConversionError> {
    let items: Vec<&T> = values
        .iter()
        .map(|v| {
            v.downcast_ref::<T>().ok_or_else(|| ArrowConversionError::ToArrow {
                type_name: std::any::type_name::<T>(),
                data_type: DataType::Null,
                reason: "a value of another type was found".into(),
            })
        })
        .collect::<Result<_, _>>()?;
    items_to_arrow(&items)
}

fn values_from_arrow<T: Data>(array: &dyn Array) -> Result<Vec<Value>, ArrowConversionError> {
    Ok(from_arrow::<T>(array)?.into_iter().map(Value::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        uuid: String,
        embedding: Vec<f32>,
        tags: Option<Vec<String>>,
        nested: Vec<Vec<u32>>,
    }

    #[test]
    fn structs_with_lists_and_options_round_trip() {
        let docs = vec![
            Doc {
                uuid: "a".into(),
                embedding: vec![0.5, -1.0],
                tags: None,
                nested: vec![vec![1, 2], vec![]],
            },
            Doc {
                uuid: "b".into(),
                embedding: vec![],
                tags: Some(vec!["x".into()]),
                nested: vec![],
            },
        ];
        let array = to_arrow(&docs).unwrap();
        assert!(matches!(array.data_type(), DataType::Struct(_)));
        assert_eq!(from_arrow::<Doc>(&array).unwrap(), docs);
    }

    #[test]
    fn primitives_and_strings_use_plain_arrow_types() {
        assert_eq!(to_arrow(&[1i64, 2]).unwrap().data_type(), &DataType::Int64);
        assert_eq!(to_arrow(&["a".to_string()]).unwrap().data_type(), &DataType::Utf8);
        assert!(matches!(
            to_arrow(&[vec![1.0f32]]).unwrap().data_type(),
            DataType::List(_)
        ));
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Circle { radius: f64 },
        Square(f64),
        Point,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Drawing {
        shapes: Vec<Shape>,
        main: Shape,
    }

    #[test]
    fn enums_with_data_round_trip_inside_lists_and_structs() {
        let drawings = vec![
            Drawing {
                shapes: vec![Shape::Point, Shape::Square(2.0), Shape::Circle { radius: 1.0 }],
                main: Shape::Point,
            },
            Drawing {
                shapes: vec![],
                main: Shape::Square(3.0),
            },
        ];
        let array = to_arrow(&drawings).unwrap();
        assert_eq!(array.data_type(), field_of::<Drawing>().unwrap().data_type());
        assert_eq!(from_arrow::<Drawing>(&array).unwrap(), drawings);
        let lists = vec![vec![Shape::Point], vec![Shape::Square(1.0), Shape::Point]];
        assert_eq!(from_arrow::<Vec<Shape>>(&to_arrow(&lists).unwrap()).unwrap(), lists);
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    enum Colour {
        Red,
        Green,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Pen {
        colour: Colour,
        spare: Option<Colour>,
    }

    #[test]
    fn enums_without_data_are_variant_names_and_with_data_json_text() {
        let pens = vec![
            Pen {
                colour: Colour::Red,
                spare: None,
            },
            Pen {
                colour: Colour::Green,
                spare: Some(Colour::Red),
            },
        ];
        let array = to_arrow(&pens).unwrap();
        let colours = array.as_struct().column(0).as_string::<i32>();
        assert_eq!(colours.iter().collect::<Vec<_>>(), [Some("Red"), Some("Green")]);
        assert_eq!(from_arrow::<Pen>(&array).unwrap(), pens);

        assert_eq!(field_of::<Drawing>().unwrap().data_type(), &DataType::Utf8);
        let lists = field_of::<Vec<Option<Shape>>>().unwrap();
        let DataType::List(item) = lists.data_type() else {
            panic!("{lists}")
        };
        assert_eq!(item.data_type(), &DataType::Utf8);
        let nested = vec![vec![Some(Shape::Point), None], vec![]];
        assert_eq!(
            from_arrow::<Vec<Option<Shape>>>(&to_arrow(&nested).unwrap()).unwrap(),
            nested
        );
        let text = to_arrow(&[Shape::Square(2.0)]).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), r#"{"Square":2.0}"#);
        let maybe = from_arrow::<Option<Shape>>(&StringArray::from(vec![None, Some(r#""Point""#)])).unwrap();
        assert_eq!(maybe, [None, Some(Shape::Point)]);
        let err = from_arrow::<Shape>(&StringArray::from(vec![r#"{"Hexagon":1}"#]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 0") && err.contains("Hexagon"), "{err}");
    }

    #[test]
    fn reading_the_wrong_type_names_both_types() {
        let array = to_arrow(&["a".to_string()]).unwrap();
        let message = from_arrow::<i64>(&array).unwrap_err().to_string();
        assert!(message.contains("Utf8"), "{message}");
        assert!(message.contains("i64"), "{message}");
    }
}
