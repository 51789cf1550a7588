//! Conversion between users' Rust types and Arrow arrays, derived from their
//! serde impls through `serde_arrow` (no per-type code).
//!
//! A value of type `T` is one element of an Arrow array whose data type is
//! traced from `T` itself: numbers become primitive arrays, `String` becomes
//! `Utf8`, `Vec<T>` a `List`, `Option<T>` a nullable array, structs a
//! `Struct` array. Types are traced once per process and cached.
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

use datafusion::arrow::array::{Array, ArrayData, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::error::ArrowError;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::value::{Data, Value};

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

type FieldCache = RwLock<HashMap<TypeId, Result<FieldRef, ArrowConversionError>>>;
static FIELDS: LazyLock<FieldCache> = LazyLock::new(Default::default);

fn tracing_options() -> TracingOptions {
    TracingOptions::default()
        .allow_null_fields(true)
        .map_as_struct(false)
        .sequence_as_large_list(false)
        .strings_as_large_utf8(false)
        .bytes_as_large_binary(false)
        .enums_without_data_as_strings(true)
}

/// The Arrow field (named `item`) that values of `T` convert to.
pub fn field_of<T: Data>() -> Result<FieldRef, ArrowConversionError> {
    if let Some(found) = FIELDS.read().get(&TypeId::of::<T>()) {
        return found.clone();
    }
    let traced = Vec::<FieldRef>::from_type::<ItemOwned<T>>(tracing_options())
        .map_err(|e| ArrowConversionError::Untraceable {
            type_name: std::any::type_name::<T>(),
            reason: e.to_string(),
        })
        .and_then(|mut fields| {
            fields
                .pop()
                .map(|field| Arc::new(nullable_unions(&field)))
                .ok_or_else(|| ArrowConversionError::Untraceable {
                    type_name: std::any::type_name::<T>(),
                    reason: "no field traced".into(),
                })
        });
    FIELDS.write().insert(TypeId::of::<T>(), traced.clone());
    traced
}

/// `field` with every union-typed field, and every child of a union, made
/// nullable.
///
/// An enum with data becomes a union, and a union has no validity of its
/// own: a unit variant is a `Null` child (so the union reads as null there),
/// and padding a union with nulls (as the engine does when it lines values
/// up with mapped rows) puts the nulls into its first child. Arrow rejects
/// both inside a non-nullable field. Nullability is only a permission, so
/// values still convert back to the same Rust types.
fn nullable_unions(field: &Field) -> Field {
    let data_type = match field.data_type() {
        DataType::List(item) => DataType::List(Arc::new(nullable_unions(item))),
        DataType::LargeList(item) => DataType::LargeList(Arc::new(nullable_unions(item))),
        DataType::FixedSizeList(item, n) => DataType::FixedSizeList(Arc::new(nullable_unions(item)), *n),
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(nullable_unions(entries)), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| nullable_unions(f)).collect()),
        DataType::Union(variants, mode) => DataType::Union(
            variants
                .iter()
                .map(|(id, f)| (id, Arc::new(nullable_unions(f).with_nullable(true))))
                .collect(),
            *mode,
        ),
        other => other.clone(),
    };
    let nullable = field.is_nullable() || matches!(data_type, DataType::Union(..));
    field.clone().with_data_type(data_type).with_nullable(nullable)
}

/// Converts values into one Arrow array.
pub fn to_arrow<T: Data>(values: &[T]) -> Result<ArrayRef, ArrowConversionError> {
    let items: Vec<ItemRef<'_, T>> = values.iter().map(|item| ItemRef { item }).collect();
    items_to_arrow::<T, _>(&items)
}

fn items_to_arrow<T: Data, S: Serialize>(items: &S) -> Result<ArrayRef, ArrowConversionError> {
    let field = field_of::<T>()?;
    let mut arrays =
        serde_arrow::to_arrow(std::slice::from_ref(&field), items).map_err(|e| ArrowConversionError::ToArrow {
            type_name: std::any::type_name::<T>(),
            data_type: field.data_type().clone(),
            reason: e.to_string(),
        })?;
    let array = arrays.remove(0);
    if array.data_type() == field.data_type() {
        return Ok(array);
    }
    // serde_arrow builds union fields non-nullable whatever the schema says.
    let relabel = retype(array.to_data(), field.data_type()).map_err(|e| ArrowConversionError::ToArrow {
        type_name: std::any::type_name::<T>(),
        data_type: field.data_type().clone(),
        reason: e.to_string(),
    })?;
    Ok(datafusion::arrow::array::make_array(relabel))
}

/// `data` declared as `data_type`, which differs from its own type at most
/// in the nullability of nested fields; Arrow checks the nulls again.
fn retype(data: ArrayData, data_type: &DataType) -> Result<ArrayData, ArrowError> {
    let child_types: Vec<&DataType> = match data_type {
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::FixedSizeList(item, _)
        | DataType::Map(item, _) => {
            vec![item.data_type()]
        }
        DataType::Struct(fields) => fields.iter().map(|f| f.data_type()).collect(),
        DataType::Union(variants, _) => variants.iter().map(|(_, f)| f.data_type()).collect(),
        _ => return Ok(data),
    };
    let children = data
        .child_data()
        .iter()
        .zip(child_types)
        .map(|(child, ty)| retype(child.clone(), ty))
        .collect::<Result<Vec<_>, _>>()?;
    data.into_builder()
        .data_type(data_type.clone())
        .child_data(children)
        .build()
}

/// Reads an Arrow array as values of `T`.
pub fn from_arrow<T: Data>(array: &dyn Array) -> Result<Vec<T>, ArrowConversionError> {
    let field = field_of::<T>()?;
    let error = |reason: String| ArrowConversionError::FromArrow {
        type_name: std::any::type_name::<T>(),
        expected: field.data_type().clone(),
        found: array.data_type().clone(),
        reason,
    };
    // Accept arrays whose nullability or field names differ from the traced
    // ones (DataFusion renames list items); serde_arrow reads by position.
    let read_field = Arc::new(Field::new(ITEM, array.data_type().clone(), true));
    let arrays = [datafusion::arrow::array::make_array(array.to_data())];
    let items: Vec<ItemOwned<T>> = serde_arrow::from_arrow(&[read_field], &arrays).map_err(|e| error(e.to_string()))?;
    Ok(items.into_iter().map(|i| i.item).collect())
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
    let items: Vec<ItemRef<'_, T>> = values
        .iter()
        .map(|v| {
            v.downcast_ref::<T>()
                .map(|item| ItemRef { item })
                .ok_or_else(|| ArrowConversionError::ToArrow {
                    type_name: std::any::type_name::<T>(),
                    data_type: DataType::Null,
                    reason: "a value of another type was found".into(),
                })
        })
        .collect::<Result<_, _>>()?;
    items_to_arrow::<T, _>(&items)
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

    #[test]
    fn union_fields_and_their_children_are_nullable() {
        let field = field_of::<Drawing>().unwrap();
        let DataType::Struct(fields) = field.data_type() else {
            panic!("{field}")
        };
        for f in fields {
            let union = match f.data_type() {
                DataType::List(item) => item,
                _ => f,
            };
            assert!(union.is_nullable(), "{union}");
            let DataType::Union(variants, _) = union.data_type() else {
                panic!("{union}")
            };
            assert!(variants.iter().all(|(_, v)| v.is_nullable()), "{union}");
        }
    }

    #[test]
    fn reading_the_wrong_type_names_both_types() {
        let array = to_arrow(&["a".to_string()]).unwrap();
        let message = from_arrow::<i64>(&array).unwrap_err().to_string();
        assert!(message.contains("Utf8"), "{message}");
        assert!(message.contains("i64"), "{message}");
    }
}
