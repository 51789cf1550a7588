//! Test helpers for node authors.

use crate::engine::call::{check_batch_shape, split_runs};
use crate::inputs::Inputs;
use crate::node::{Node, NodeCall};
use crate::value::Value;

/// Checks that a node's batch implementation returns, for `rows`, exactly
/// what its singular implementation returns row by row (compared through
/// serde as JSON). Returns a description of the first difference.
///
/// ```
/// use nodefusion::{Inputs, node, testing::check_batch_agrees};
///
/// #[node(output = "y", batch = double_all)]
/// fn double(x: i64) -> i64 { x * 2 }
/// #[nodefusion::batch]
/// fn double_all(x: Vec<i64>) -> Vec<i64> { x.into_iter().map(|x| x * 2).collect() }
///
/// fn main() {
///     let rows: Vec<Inputs> = (0..5i64).map(|x| Inputs::new().with("x", x)).collect();
///     check_batch_agrees(&double::node(), &rows).unwrap();
/// }
/// ```
pub fn check_batch_agrees(node: &Node, rows: &[Inputs]) -> Result<(), String> {
    check_batch_agrees_within(node, rows, 0.0)
}

/// [`check_batch_agrees`] where numbers may differ by up to `tolerance`
/// (absolute): for nodes whose batch path computes the same values in
/// another order, such as a padded model batch.
///
/// ```
/// use nodefusion::{Inputs, node, testing::check_batch_agrees_within};
///
/// #[node(output = "mean", batch = means)]
/// fn mean(xs: Vec<f64>) -> f64 { xs.iter().sum::<f64>() / xs.len() as f64 }
/// #[nodefusion::batch]
/// fn means(xs: Vec<Vec<f64>>) -> Vec<f64> {
///     // Summed backwards: equal up to rounding.
///     xs.iter().map(|x| x.iter().rev().sum::<f64>() / x.len() as f64).collect()
/// }
///
/// fn main() {
///     let rows: Vec<Inputs> = (1..6).map(|n| Inputs::new().with("xs", vec![0.1; n])).collect();
///     check_batch_agrees_within(&mean::node(), &rows, 1e-12).unwrap();
/// }
/// ```
pub fn check_batch_agrees_within(node: &Node, rows: &[Inputs], tolerance: f64) -> Result<(), String> {
    let batch = node
        .batch()
        .ok_or_else(|| format!("node '{}' has no batch implementation", node.name()))?;
    let mut columns: Vec<Vec<Value>> = vec![Vec::with_capacity(rows.len()); node.inputs().len()];
    let mut singular: Vec<Vec<Value>> = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let mut args = Vec::with_capacity(node.inputs().len());
        for (k, port) in node.inputs().iter().enumerate() {
            let (value, ty) = row
                .get(&port.name)
                .ok_or_else(|| format!("row {r} has no input '{}'", port.name))?;
            if ty != port.ty {
                return Err(format!(
                    "row {r}: input '{}' is {ty}, the node takes {}",
                    port.name, port.ty
                ));
            }
            args.push(value.clone());
            // As the engines do: equal neighbours of a constant input share
            // one value, so a chunk splits only where the value changes.
            let previous = columns[k]
                .last()
                .filter(|p| node.is_constant(k) && port.ty.to_json(p) == port.ty.to_json(value));
            let shared = previous.cloned().unwrap_or_else(|| value.clone());
            columns[k].push(shared);
        }
        let mut out = Vec::new();
        match node.call() {
            NodeCall::Sync(f) => f(args, &mut out),
            NodeCall::Async(f) => crate::engine::call::block_on(f(args)).map(|values| out = values),
        }
        .map_err(|e| format!("singular call on row {r} failed: {e}"))?;
        singular.push(out);
    }
    let mut batched: Vec<Vec<Value>> = vec![Vec::with_capacity(rows.len()); node.outputs().len()];
    for (run, len) in split_runs(node, columns, rows.len()) {
        let produced = batch(run).map_err(|e| format!("batch call failed: {e}"))?;
        check_batch_shape(node.name(), &produced, batched.len(), len).map_err(|e| e.to_string())?;
        for (all, column) in batched.iter_mut().zip(produced) {
            all.extend(column);
        }
    }
    // Each run's shape was checked: one full column per output.
    for (k, (port, column)) in node.outputs().iter().zip(&batched).enumerate() {
        for (r, (one, many)) in singular.iter().map(|o| &o[k]).zip(column).enumerate() {
            let (a, b) = (port.ty.to_json(one), port.ty.to_json(many));
            let agree = match (&a, &b) {
                (Some(a), Some(b)) => json_close(a, b, tolerance),
                _ => a == b,
            };
            if !agree {
                return Err(format!(
                    "output '{}' differs on row {r}: singular {a:?}, batch {b:?}",
                    port.name
                ));
            }
        }
    }
    Ok(())
}

/// Equal JSON, except that numbers may differ by up to `tolerance`.
fn json_close(a: &serde_json::Value, b: &serde_json::Value, tolerance: f64) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        // Integers compare exactly (as f64 they could round together).
        (J::Number(x), J::Number(y)) if x.is_f64() || y.is_f64() => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= tolerance,
            _ => false,
        },
        (J::Array(x), J::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y, tolerance)),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w, tolerance)))
        }
        _ => a == b,
    }
}
