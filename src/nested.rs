//! A pipeline used as a node of another pipeline, with renamed inputs and
//! outputs and an optional map over list inputs.
//!
//! ```
//! use nodefusion::{Inputs, MapMode, node, pipeline};
//!
//! #[node(output = "doubled")]
//! fn double(x: i64) -> i64 { x * 2 }
//!
//! fn main() -> Result<(), nodefusion::Error> {
//!     let per_item = pipeline![double::node()]?;
//!     let outer = pipeline![per_item
//!         .as_node("double_all")
//!         .rename_input("x", "xs")
//!         .rename_output("doubled", "all_doubled")
//!         .map_over(["xs"])]?;
//!     let out = outer.run(Inputs::new().with("xs", vec![1i64, 2, 3]))?;
//!     assert_eq!(out.get::<Vec<i64>>("all_doubled")?, &vec![2, 4, 6]);
//!     Ok(())
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::error::PipelineError;
use crate::node::Port;
use crate::pipeline::Pipeline;

/// How several mapped lists are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MapMode {
    /// Item `i` of every list together; all lists must have the same length.
    #[default]
    Zip,
    /// Every combination of items (the first list varies slowest).
    Product,
}

impl fmt::Display for MapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapMode::Zip => "zip",
            MapMode::Product => "product",
        })
    }
}

/// A pipeline as a step of another pipeline; made by [`Pipeline::as_node`].
#[derive(Clone)]
pub struct PipelineNode {
    name: String,
    pipeline: Pipeline,
    input_names: BTreeMap<String, String>,
    output_names: BTreeMap<String, String>,
    map_over: Vec<String>,
    mode: MapMode,
}

/// An input of a nested pipeline: its name inside and outside, and whether it
/// is mapped (then the outer type is a list of the inner type).
#[derive(Clone, Debug)]
pub(crate) struct NestedInput {
    /// The name inside the nested pipeline.
    pub inner: Port,
    /// The name and type outside.
    pub outer: Port,
    /// Whether the input is mapped over.
    pub mapped: bool,
}

/// An output of a nested pipeline.
#[derive(Clone, Debug)]
pub(crate) struct NestedOutput {
    /// The name and type inside.
    pub inner: Port,
    /// The name and type outside (a list when the node is mapped).
    pub outer: Port,
}

/// The resolved ports of a [`PipelineNode`].
#[derive(Clone, Debug)]
pub(crate) struct NestedPorts {
    /// The inputs, sorted by inner name.
    pub inputs: Vec<NestedInput>,
    /// The outputs, in the inner pipeline's step order.
    pub outputs: Vec<NestedOutput>,
}

impl NestedPorts {
    /// The inner names of the outputs the enclosing pipeline `needed`.
    pub(crate) fn inner_wanted(
        &self,
        needed: &std::collections::BTreeSet<String>,
    ) -> std::collections::BTreeSet<String> {
        self.outputs
            .iter()
            .filter(|o| needed.contains(&o.outer.name))
            .map(|o| o.inner.name.clone())
            .collect()
    }

    /// The mapped inputs in `map_over` order (in product mode the first
    /// varies slowest).
    pub(crate) fn mapped_in_order(&self, node: &PipelineNode) -> Vec<&NestedInput> {
        node.map_over
            .iter()
            .filter_map(|name| self.inputs.iter().find(|i| &i.outer.name == name))
            .collect()
    }
}

impl PipelineNode {
    pub(crate) fn new(name: String, pipeline: Pipeline) -> Self {
        PipelineNode {
            name,
            pipeline,
            input_names: BTreeMap::new(),
            output_names: BTreeMap::new(),
            map_over: Vec::new(),
            mode: MapMode::Zip,
        }
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nested pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The mapped outer input names.
    pub fn mapped_inputs(&self) -> &[String] {
        &self.map_over
    }

    /// Whether the node is mapped.
    pub fn is_mapped(&self) -> bool {
        !self.map_over.is_empty()
    }

    /// The map mode.
    pub fn mode(&self) -> MapMode {
        self.mode
    }

    /// Exposes the inner input `inner` under the name `outer`.
    pub fn rename_input(mut self, inner: impl Into<String>, outer: impl Into<String>) -> Self {
        self.input_names.insert(inner.into(), outer.into());
        self
    }

    /// Exposes the inner output `inner` under the name `outer`.
    pub fn rename_output(mut self, inner: impl Into<String>, outer: impl Into<String>) -> Self {
        self.output_names.insert(inner.into(), outer.into());
        self
    }

    /// Runs the nested pipeline once per item of these (outer) list inputs;
    /// its outputs become lists in input order.
    pub fn map_over<S: Into<String>>(mut self, outer_names: impl IntoIterator<Item = S>) -> Self {
        self.map_over = outer_names.into_iter().map(Into::into).collect();
        self
    }

    /// How several mapped lists combine (default [`MapMode::Zip`]).
    pub fn map_mode(mut self, mode: MapMode) -> Self {
        self.mode = mode;
        self
    }

    /// Resolves names and types, checking that every rename and mapped name
    /// exists.
    pub(crate) fn ports(&self) -> Result<NestedPorts, PipelineError> {
        let inner_inputs: Vec<&Port> = self
            .pipeline
            .inputs()
            .iter()
            .filter(|p| !self.pipeline.bound().contains_key(&p.name))
            .collect();
        let inner_outputs = self.pipeline.outputs();
        let unknown = |what, name: &str, available: Vec<String>| PipelineError::UnknownName {
            node: self.name.clone(),
            what,
            name: name.into(),
            available,
        };
        for inner in self.input_names.keys() {
            if !inner_inputs.iter().any(|p| &p.name == inner) {
                let available = inner_inputs.iter().map(|p| p.name.clone()).collect();
                return Err(unknown("input", inner, available));
            }
        }
        for inner in self.output_names.keys() {
            if !inner_outputs.iter().any(|p| &p.name == inner) {
                let available = inner_outputs.iter().map(|p| p.name.clone()).collect();
                return Err(unknown("output", inner, available));
            }
        }
        let outer_name = |names: &BTreeMap<String, String>, inner: &str| {
            names.get(inner).cloned().unwrap_or_else(|| inner.to_string())
        };
        let listed = |port: &Port, outer: String| {
            port.ty
                .list_of()
                .map(|ty| Port {
                    name: outer.clone(),
                    ty,
                })
                .ok_or_else(|| PipelineError::TooDeep {
                    node: self.name.clone(),
                    name: outer,
                    ty: port.ty.short_name(),
                })
        };
        let mut inputs = Vec::new();
        for port in inner_inputs {
            let outer = outer_name(&self.input_names, &port.name);
            let mapped = self.map_over.contains(&outer);
            inputs.push(NestedInput {
                inner: port.clone(),
                outer: if mapped {
                    listed(port, outer)?
                } else {
                    Port {
                        name: outer,
                        ty: port.ty,
                    }
                },
                mapped,
            });
        }
        for name in &self.map_over {
            if !inputs.iter().any(|i| &i.outer.name == name) {
                let available = inputs.iter().map(|i| i.outer.name.clone()).collect();
                return Err(unknown("map_over input", name, available));
            }
        }
        let mut outputs = Vec::new();
        for port in inner_outputs {
            let outer = outer_name(&self.output_names, &port.name);
            outputs.push(NestedOutput {
                inner: port.clone(),
                outer: if self.is_mapped() {
                    listed(port, outer)?
                } else {
                    Port {
                        name: outer,
                        ty: port.ty,
                    }
                },
            });
        }
        Ok(NestedPorts { inputs, outputs })
    }
}

impl fmt::Debug for PipelineNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineNode")
            .field("name", &self.name)
            .field("map_over", &self.map_over)
            .field("mode", &self.mode)
            .field("steps", &self.pipeline.steps().len())
            .finish()
    }
}
