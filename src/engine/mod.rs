//! Engines run pipelines. They differ in how, never in what: every engine
//! returns the values the [`SequentialEngine`] returns.

pub mod datafusion;
mod report;
mod sequential;
pub mod wire;

use std::collections::BTreeSet;

pub use self::datafusion::{DataFusionEngine, NodefusionCodec, NodefusionPhysicalCodec, PlannedRun};
pub use report::{NodeStats, RunReport};
pub use sequential::SequentialEngine;

use crate::error::Error;
use crate::inputs::{Inputs, Outputs};
use crate::pipeline::Pipeline;

/// Something that runs pipelines.
pub trait Engine {
    /// Runs `pipeline` on `inputs`, returning every output, or only the
    /// `select`ed ones (and then running only the steps they need).
    fn run(&self, pipeline: &Pipeline, inputs: Inputs, select: Option<&[&str]>) -> Result<Outputs, Error>;
}

/// A step's path below `prefix` (`outer/inner/node`), as messages name it.
pub(crate) fn path_of(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The steps a run of `pipeline` for `wanted` executes, and the values it
/// must keep: the wanted ones and every input of those steps.
pub(crate) fn plan_steps(pipeline: &Pipeline, wanted: &BTreeSet<String>) -> (Vec<bool>, BTreeSet<String>) {
    let required = pipeline.required_steps(wanted);
    let mut needed = wanted.clone();
    for (i, _) in required.iter().enumerate().filter(|(_, r)| **r) {
        needed.extend(pipeline.step_inputs(i).iter().map(|p| p.name.clone()));
    }
    (required, needed)
}

/// Checks what a batch implementation returned for `items` items: one
/// column per output, each `items` long.
pub(crate) fn check_batch_shape(
    path: &str,
    produced: &[Vec<crate::value::Value>],
    outputs: usize,
    items: usize,
) -> Result<(), Error> {
    if produced.len() != outputs {
        return Err(Error::BatchColumns {
            node: path.into(),
            expected: outputs,
            returned: produced.len(),
        });
    }
    match produced.iter().find(|column| column.len() != items) {
        Some(column) => Err(Error::BatchLength {
            node: path.into(),
            expected: items,
            returned: column.len(),
        }),
        None => Ok(()),
    }
}

/// Why a node call returned nothing: its error, or its panic's message.
pub(crate) enum Failure {
    Error(crate::node::BoxError),
    Panic(String),
}

impl Failure {
    /// The value of a call made under `catch_unwind`, or why there is none.
    pub(crate) fn of<T>(outcome: std::thread::Result<Result<T, crate::node::BoxError>>) -> Result<T, Failure> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(Failure::Error(source)),
            Err(panic) => Err(Failure::Panic(crate::resource::panic_message(panic.as_ref()))),
        }
    }

    /// The run's error for this failure of `node` on `item`.
    pub(crate) fn at(self, node: &str, item: Option<usize>) -> Error {
        match self {
            Failure::Error(source) => Error::NodeFailed {
                node: node.into(),
                item,
                source,
            },
            Failure::Panic(message) => Error::NodePanicked {
                node: node.into(),
                item,
                message,
            },
        }
    }
}

/// After a batch call failed: the first row of `chunk` (one column per
/// input) on which the node's synchronous singular implementation fails
/// too, with that failure, so the error can name the item itself rather
/// than its batch. `None` when every row succeeds alone or the node is async.
pub(crate) fn failing_row(node: &crate::node::Node, chunk: &[Vec<crate::value::Value>]) -> Option<(usize, Failure)> {
    let crate::node::NodeCall::Sync(call) = node.call() else {
        return None;
    };
    let rows = chunk.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    (0..rows).find_map(|row| {
        let args: Vec<_> = chunk.iter().map(|column| column[row].clone()).collect();
        out.clear();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(&args, &mut out)));
        Failure::of(outcome).err().map(|failure| (row, failure))
    })
}

/// The outputs a run returns: the selected ones (checked to exist) or all.
pub(crate) fn wanted_outputs(pipeline: &Pipeline, select: Option<&[&str]>) -> Result<BTreeSet<String>, Error> {
    let all = pipeline.output_names();
    match select {
        None => Ok(all.into_iter().map(String::from).collect()),
        Some(names) => names
            .iter()
            .map(|name| {
                if all.contains(name) {
                    Ok(name.to_string())
                } else {
                    Err(Error::UnknownOutput {
                        name: name.to_string(),
                        available: all.iter().map(|s| s.to_string()).collect(),
                    })
                }
            })
            .collect(),
    }
}
