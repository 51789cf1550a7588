//! Support for the code `#[node]` generates. Not a public API.

pub use crate::registry::NodeRegistration;
pub use crate::value::Value;
pub use inventory;

use crate::node::BoxError;
use crate::value::{Data, TypeError};

/// Borrows argument `index` as `T`.
pub fn arg<'a, T: Data>(args: &'a [Value], index: usize, name: &str) -> Result<&'a T, BoxError> {
    args.get(index)
        .and_then(Value::downcast_ref::<T>)
        .ok_or_else(|| type_error::<T>(name))
}

/// Clones input column `index` into a `Vec<T>`.
pub fn column<T: Data>(columns: &[Vec<Value>], index: usize, name: &str) -> Result<Vec<T>, BoxError> {
    let column = columns.get(index).ok_or_else(|| type_error::<T>(name))?;
    column
        .iter()
        .map(|v| v.downcast_ref::<T>().cloned().ok_or_else(|| type_error::<T>(name)))
        .collect()
}

/// Wraps an output column.
pub fn values<T: Data>(items: Vec<T>) -> Vec<Value> {
    items.into_iter().map(Value::new).collect()
}

/// Converts a node's own error type.
pub fn box_error<E: Into<BoxError>>(e: E) -> BoxError {
    e.into()
}

fn type_error<T>(name: &str) -> BoxError {
    Box::new(TypeError {
        expected: std::any::type_name::<T>(),
        context: Some(format!("input '{name}'")),
    })
}
