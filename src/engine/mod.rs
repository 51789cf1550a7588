//! Engines run pipelines. They differ in how, never in what: every engine
//! returns the values the [`SequentialEngine`] returns.

pub mod datafusion;
mod report;
mod sequential;

use std::collections::BTreeSet;

pub use self::datafusion::{DataFusionEngine, NodefusionCodec, PlannedRun};
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
