//! Values that flow between nodes, and what the engines know about their types.
//!
//! A node's inputs and outputs are ordinary Rust values. Any type that is
//! `Clone + Send + Sync + Serialize + DeserializeOwned + 'static` is [`Data`]
//! (a blanket impl), so users write no extra code for their own structs:
//!
//! ```
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! struct Passage { uuid: String, text: String }
//! fn takes_data<T: nodefusion::Data>() {}
//! takes_data::<Passage>();
//! takes_data::<Vec<Option<f32>>>();
//! ```
//!
//! Inside an engine a value is type-erased into a [`Value`]; a [`TypeInfo`]
//! remembers, per port, how to name, split, collect, compare and convert it.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::arrow_convert::ArrowOps;
use crate::cache::{Unencodable, fingerprint_value};

/// A value a node can take or return. Blanket-implemented: every
/// `Clone + Send + Sync + Serialize + DeserializeOwned + 'static` type is `Data`.
pub trait Data: Any + Clone + Send + Sync + Serialize + DeserializeOwned {}

impl<T: Any + Clone + Send + Sync + Serialize + DeserializeOwned> Data for T {}

/// A type-erased, cheaply clonable value.
#[derive(Clone)]
pub struct Value(Arc<dyn Any + Send + Sync>);

impl Value {
    /// Wraps a value.
    pub fn new<T: Data>(value: T) -> Self {
        Value(Arc::new(value))
    }

    /// Borrows the value as `T`, if it is one.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// Whether both are the same shared value (one allocation), as every
    /// row of a [constant](crate::node::NodeBuilder::constant) input's column is
    /// within one batch call.
    pub fn same(&self, other: &Value) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Takes the value as `T`, cloning only if it is shared.
    pub fn take<T: Data>(self) -> Option<T> {
        let arc = self.0.downcast::<T>().ok()?;
        Some(Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone()))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Value(..)")
    }
}

/// A value did not have the type a port declares.
#[derive(Debug, thiserror::Error)]
#[error("expected a value of type {expected}{}", context_suffix(.context))]
pub struct TypeError {
    /// The type the port declares.
    pub expected: &'static str,
    /// Where the value was found (a port or input name), if known.
    pub context: Option<String>,
}

fn context_suffix(context: &Option<String>) -> String {
    context.as_ref().map(|c| format!(" for {c}")).unwrap_or_default()
}

/// What the engines know about one Rust type: its name and identity, how to
/// split a list of it into items and collect items back, how to compare two
/// values (through serde), and how to convert to and from Arrow.
#[derive(Clone, Copy)]
pub struct TypeInfo {
    id: TypeId,
    name: &'static str,
    list_of: Option<fn() -> TypeInfo>,
    split: fn(&Value) -> Option<Vec<Value>>,
    collect: fn(Vec<Value>) -> Option<Value>,
    to_json: fn(&Value) -> Option<serde_json::Value>,
    fingerprint: fn(&Value, &mut blake3::Hasher) -> Option<Result<(), Unencodable>>,
    pub(crate) arrow: ArrowOps,
}

impl TypeInfo {
    /// The type information of `T`.
    pub fn of<T: Data>() -> Self {
        Self::at_depth::<T, MaxListDepth>()
    }

    fn at_depth<T: Data, D: ListDepth>() -> Self {
        TypeInfo {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
            list_of: D::list_of::<T>(),
            split: split_list::<T>,
            collect: collect_list::<T>,
            to_json: value_to_json::<T>,
            fingerprint: fingerprint_value::<T>,
            arrow: ArrowOps::of::<T>(),
        }
    }

    /// The Rust type name, e.g. `alloc::string::String`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The short type name, e.g. `String` or `Vec<i64>`.
    pub fn short_name(&self) -> String {
        short_type_name(self.name)
    }

    /// The `TypeId` of the type.
    pub fn id(&self) -> TypeId {
        self.id
    }

    /// The type information of `Vec<Self>`, which a map over this type
    /// consumes or produces. `None` past [`MAX_MAP_DEPTH`] levels of lists.
    pub fn list_of(&self) -> Option<TypeInfo> {
        self.list_of.map(|f| f())
    }

    /// Splits a `Vec<Self>` value into its items.
    pub fn split_list(&self, list: &Value) -> Result<Vec<Value>, TypeError> {
        (self.split)(list).ok_or_else(|| TypeError {
            expected: "a list",
            context: Some(format!("items of type {}", self.short_name())),
        })
    }

    /// Collects items of this type into a `Vec<Self>` value.
    pub fn collect_list(&self, items: Vec<Value>) -> Result<Value, TypeError> {
        (self.collect)(items).ok_or_else(|| TypeError {
            expected: self.name,
            context: Some("list items".into()),
        })
    }

    /// The value as JSON (through its `Serialize` impl), for comparisons
    /// and display. `None` if the value is not of this type.
    pub fn to_json(&self, value: &Value) -> Option<serde_json::Value> {
        (self.to_json)(value)
    }

    /// Feeds the value's canonical encoding (the [cache](crate::cache)
    /// key's part) into `hasher`. `None` if the value is not of this type.
    pub(crate) fn fingerprint(&self, value: &Value, hasher: &mut blake3::Hasher) -> Option<Result<(), Unencodable>> {
        (self.fingerprint)(value, hasher)
    }

    /// Whether `value` holds this type.
    pub fn holds(&self, value: &Value) -> bool {
        (*value.0).type_id() == self.id
    }
}

impl PartialEq for TypeInfo {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for TypeInfo {}

impl fmt::Debug for TypeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short_name())
    }
}

impl fmt::Display for TypeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short_name())
    }
}

/// How many levels of nested maps a value type can pass through
/// (`T` → `Vec<T>` → `Vec<Vec<T>>` …). Type information for lists is built
/// eagerly at compile time, so the depth is bounded.
pub const MAX_MAP_DEPTH: usize = 8;

/// A compile-time counter bounding the `list_of` chain.
trait ListDepth {
    fn list_of<T: Data>() -> Option<fn() -> TypeInfo>;
}

struct Zero;
struct Succ<D>(PhantomData<D>);

impl ListDepth for Zero {
    fn list_of<T: Data>() -> Option<fn() -> TypeInfo> {
        None
    }
}

impl<D: ListDepth> ListDepth for Succ<D> {
    fn list_of<T: Data>() -> Option<fn() -> TypeInfo> {
        Some(TypeInfo::at_depth::<Vec<T>, D>)
    }
}

type MaxListDepth = Succ<Succ<Succ<Succ<Succ<Succ<Succ<Succ<Zero>>>>>>>>;

fn split_list<T: Data>(list: &Value) -> Option<Vec<Value>> {
    let items = list.downcast_ref::<Vec<T>>()?;
    Some(items.iter().cloned().map(Value::new).collect())
}

fn collect_list<T: Data>(items: Vec<Value>) -> Option<Value> {
    let items: Option<Vec<T>> = items.into_iter().map(Value::take::<T>).collect();
    Some(Value::new(items?))
}

fn value_to_json<T: Data>(value: &Value) -> Option<serde_json::Value> {
    serde_json::to_value(value.downcast_ref::<T>()?).ok()
}

/// `alloc::vec::Vec<alloc::string::String>` → `Vec<String>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_module_paths() {
        assert_eq!(TypeInfo::of::<Vec<String>>().short_name(), "Vec<String>".to_string());
        assert_eq!(TypeInfo::of::<Option<(i64, f32)>>().short_name(), "Option<(i64, f32)>");
    }

    #[test]
    fn lists_split_and_collect_in_order() {
        let info = TypeInfo::of::<i64>();
        let items = info.split_list(&Value::new(vec![3i64, 1, 2])).unwrap();
        let back = info.collect_list(items).unwrap();
        assert_eq!(back.downcast_ref::<Vec<i64>>(), Some(&vec![3, 1, 2]));
    }

    #[test]
    fn list_types_nest_to_the_documented_depth() {
        let mut info = TypeInfo::of::<u8>();
        for _ in 0..MAX_MAP_DEPTH {
            info = info.list_of().expect("within depth");
        }
        assert!(info.list_of().is_none());
        assert!(info.short_name().starts_with("Vec<Vec<"));
    }
}
