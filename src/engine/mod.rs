//! Engines run pipelines. They differ in how, never in what: every engine
//! returns the values the [`SequentialEngine`] returns.

pub(crate) mod call;
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
