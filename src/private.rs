//! Support for the code `#[node]` generates. Not a public API.

pub use crate::registry::NodeRegistration;
pub use crate::value::Value;
pub use inventory;

use crate::node::BoxError;
use crate::value::{Data, TypeError};

/// The next argument (or column) of a call, in parameter order.
pub fn next<T>(args: &mut std::vec::IntoIter<T>, name: &str) -> Result<T, BoxError> {
    args.next().ok_or_else(|| missing(name))
}

/// Borrows an argument as `T`.
pub fn borrow<'a, T: Data>(value: &'a Value, name: &str) -> Result<&'a T, BoxError> {
    value.downcast_ref::<T>().ok_or_else(|| type_error::<T>(name))
}

/// Takes an argument as `T`, moving it out unless the engine still shares it.
pub fn take<T: Data>(value: Value, name: &str) -> Result<T, BoxError> {
    value.take::<T>().ok_or_else(|| type_error::<T>(name))
}

/// Takes an input column as a `Vec<T>`, moving each value out unless shared.
pub fn column<T: Data>(column: Vec<Value>, name: &str) -> Result<Vec<T>, BoxError> {
    column.into_iter().map(|v| take::<T>(v, name)).collect()
}

/// Borrows the value of a constant input's column (the engines give every
/// row of one batch call the same value).
pub fn constant<'a, T: Data>(column: &'a [Value], name: &str) -> Result<&'a T, BoxError> {
    borrow::<T>(column.first().ok_or_else(|| missing(name))?, name)
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

fn missing(name: &str) -> BoxError {
    format!("no value was passed for input '{name}'").into()
}

/// A node's version with its batch implementation's folded in (FNV-1a over
/// the second's bytes, continuing from the first).
pub const fn fold_version(node: u64, batch: u64) -> u64 {
    let bytes = batch.to_le_bytes();
    let mut hash = node;
    let mut i = 0;
    while i < bytes.len() {
        hash = (hash ^ bytes[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}
