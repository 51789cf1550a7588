//! Pipelines: a DAG of steps wired by the names of their inputs and outputs.
//!
//! ```
//! use nodefusion::{Inputs, Pipeline, node, pipeline};
//!
//! #[node(output = "doubled")]
//! fn double(x: i64) -> i64 { x * 2 }
//!
//! #[node(output = "result")]
//! fn add(doubled: i64, offset: i64) -> i64 { doubled + offset }
//!
//! fn main() -> Result<(), nodefusion::Error> {
//!     let pipeline = pipeline![double::node(), add::node()]?;
//!     assert_eq!(pipeline.input_names(), vec!["offset", "x"]);
//!     let out = pipeline.run(Inputs::new().with("x", 5i64).with("offset", 1i64))?;
//!     assert_eq!(out.get::<i64>("result")?, &11);
//!     Ok(())
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::engine::{Engine, SequentialEngine};
use crate::error::{Error, PipelineError};
use crate::inputs::{Inputs, Outputs};
use crate::nested::PipelineNode;
use crate::node::{Node, Port};
use crate::value::{Data, TypeInfo, Value};

/// One step of a pipeline: a node or a nested pipeline.
#[derive(Clone, Debug)]
pub enum Step {
    /// A function node.
    Node(Node),
    /// A pipeline used as a node (optionally mapped).
    Pipeline(PipelineNode),
}

impl Step {
    /// The step's name.
    pub fn name(&self) -> &str {
        match self {
            Step::Node(n) => n.name(),
            Step::Pipeline(p) => p.name(),
        }
    }

    fn ports(&self) -> Result<(Vec<Port>, Vec<Port>), PipelineError> {
        match self {
            Step::Node(n) => Ok((n.inputs().to_vec(), n.outputs().to_vec())),
            Step::Pipeline(p) => {
                let ports = p.ports()?;
                Ok((
                    ports.inputs.iter().map(|i| i.outer.clone()).collect(),
                    ports.outputs.iter().map(|o| o.outer.clone()).collect(),
                ))
            }
        }
    }
}

impl From<Node> for Step {
    fn from(node: Node) -> Self {
        Step::Node(node)
    }
}

impl From<PipelineNode> for Step {
    fn from(node: PipelineNode) -> Self {
        Step::Pipeline(node)
    }
}

/// Builds a [`Pipeline`] from nodes and nested pipeline nodes:
/// `pipeline![a::node(), inner.as_node("inner").map_over(["xs"])]`.
#[macro_export]
macro_rules! pipeline {
    ($($step:expr),* $(,)?) => {
        $crate::Pipeline::new([$($crate::Step::from($step)),*])
    };
}

#[derive(Clone, Debug)]
struct StepPorts {
    inputs: Vec<Port>,
    outputs: Vec<Port>,
}

/// A validated DAG of steps. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Pipeline {
    inner: Arc<PipelineInner>,
    bound: BTreeMap<String, (Value, TypeInfo)>,
}

#[derive(Debug)]
struct PipelineInner {
    /// Steps in a dependency order.
    steps: Vec<Step>,
    ports: Vec<StepPorts>,
    producers: BTreeMap<String, usize>,
    /// Pipeline inputs (consumed, never produced), sorted by name.
    inputs: Vec<Port>,
}

impl Pipeline {
    /// Builds and validates a pipeline. Rejects two steps producing one name,
    /// cycles (printing the cycle) and type mismatches between a producer and
    /// a consumer.
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Result<Self, PipelineError> {
        let steps: Vec<Step> = steps.into_iter().collect();
        let ports = steps
            .iter()
            .map(|s| s.ports().map(|(inputs, outputs)| StepPorts { inputs, outputs }))
            .collect::<Result<Vec<_>, _>>()?;

        let mut producers: BTreeMap<String, usize> = BTreeMap::new();
        for (i, p) in ports.iter().enumerate() {
            for out in &p.outputs {
                if let Some(&first) = producers.get(&out.name) {
                    return Err(PipelineError::DuplicateOutput {
                        output: out.name.clone(),
                        first: steps[first].name().to_string(),
                        second: steps[i].name().to_string(),
                    });
                }
                producers.insert(out.name.clone(), i);
            }
        }

        let mut inputs: BTreeMap<String, (Port, usize)> = BTreeMap::new();
        for (i, p) in ports.iter().enumerate() {
            for input in &p.inputs {
                if let Some(&producer) = producers.get(&input.name) {
                    let produced = ports[producer]
                        .outputs
                        .iter()
                        .find(|o| o.name == input.name)
                        .map(|o| o.ty)
                        .unwrap_or(input.ty);
                    if produced != input.ty {
                        return Err(PipelineError::TypeMismatch {
                            value: input.name.clone(),
                            producer: steps[producer].name().to_string(),
                            produced: produced.short_name(),
                            consumer: steps[i].name().to_string(),
                            expected: input.ty.short_name(),
                        });
                    }
                } else if let Some((first, first_step)) = inputs.get(&input.name) {
                    if first.ty != input.ty {
                        return Err(PipelineError::TypeMismatch {
                            value: input.name.clone(),
                            producer: format!("(input, as taken by {})", steps[*first_step].name()),
                            produced: first.ty.short_name(),
                            consumer: steps[i].name().to_string(),
                            expected: input.ty.short_name(),
                        });
                    }
                } else {
                    inputs.insert(input.name.clone(), (input.clone(), i));
                }
            }
        }

        let order = dependency_order(&steps, &ports, &producers)?;
        let mut slots: Vec<Option<(Step, StepPorts)>> = steps.into_iter().zip(ports).map(Some).collect();
        let (steps, ports): (Vec<_>, Vec<_>) = order
            .into_iter()
            .map(|i| slots[i].take().expect("each step is ordered once"))
            .unzip();
        let producers = ports
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.outputs.iter().map(move |o| (o.name.clone(), i)))
            .collect();
        Ok(Pipeline {
            inner: Arc::new(PipelineInner {
                steps,
                ports,
                producers,
                inputs: inputs.into_values().map(|(p, _)| p).collect(),
            }),
            bound: BTreeMap::new(),
        })
    }

    /// The steps, in a dependency order.
    pub fn steps(&self) -> &[Step] {
        &self.inner.steps
    }

    /// The inputs of step `index` (in [`steps`](Self::steps) order).
    pub(crate) fn step_inputs(&self, index: usize) -> &[Port] {
        &self.inner.ports[index].inputs
    }

    /// The outputs of step `index`.
    pub(crate) fn step_outputs(&self, index: usize) -> &[Port] {
        &self.inner.ports[index].outputs
    }

    /// The index of the step producing `name`.
    pub(crate) fn producer_of(&self, name: &str) -> Option<usize> {
        self.inner.producers.get(name).copied()
    }

    /// The type of the value `name`, as its producing step declares it.
    pub(crate) fn output_type(&self, name: &str) -> Option<crate::value::TypeInfo> {
        let producer = self.producer_of(name)?;
        self.step_outputs(producer)
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.ty)
    }

    /// All inputs (consumed but not produced), bound or not, sorted by name.
    pub fn inputs(&self) -> &[Port] {
        &self.inner.inputs
    }

    /// The names of all inputs, sorted.
    pub fn input_names(&self) -> Vec<&str> {
        self.inner.inputs.iter().map(|p| p.name.as_str()).collect()
    }

    /// The inputs that have no bound default, sorted.
    pub fn unfulfilled_inputs(&self) -> Vec<&str> {
        self.inner
            .inputs
            .iter()
            .filter(|p| !self.bound.contains_key(&p.name))
            .map(|p| p.name.as_str())
            .collect()
    }

    /// Every output of every step, in step order.
    pub fn outputs(&self) -> Vec<&Port> {
        self.inner.ports.iter().flat_map(|p| &p.outputs).collect()
    }

    /// The names of every output, in step order.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs().into_iter().map(|p| p.name.as_str()).collect()
    }

    /// The bound default inputs.
    pub(crate) fn bound(&self) -> &BTreeMap<String, (Value, TypeInfo)> {
        &self.bound
    }

    /// The same pipeline with a default for input `name`. Run inputs
    /// override it.
    pub fn bind<T: Data>(mut self, name: &str, value: T) -> Result<Self, PipelineError> {
        let given = TypeInfo::of::<T>();
        let Some(port) = self.inner.inputs.iter().find(|p| p.name == name) else {
            return Err(PipelineError::NotAnInput {
                name: name.into(),
                inputs: self.input_names().iter().map(|s| s.to_string()).collect(),
            });
        };
        if port.ty != given {
            return Err(PipelineError::BindType {
                name: name.into(),
                given: given.short_name(),
                consumer: self.consumers_of(name).join(", "),
                expected: port.ty.short_name(),
            });
        }
        self.bound.insert(name.into(), (Value::new(value), given));
        Ok(self)
    }

    /// The same pipeline without the default for `name`.
    pub fn unbind(mut self, name: &str) -> Self {
        self.bound.remove(name);
        self
    }

    /// This pipeline as a step of another pipeline.
    pub fn as_node(&self, name: impl Into<String>) -> PipelineNode {
        PipelineNode::new(name.into(), self.clone())
    }

    /// Runs the pipeline on the [`SequentialEngine`], returning every output.
    pub fn run(&self, inputs: Inputs) -> Result<Outputs, Error> {
        SequentialEngine::default().run(self, inputs, None)
    }

    /// Runs only the steps the `selected` outputs need; returns only those.
    pub fn run_select(&self, inputs: Inputs, selected: &[&str]) -> Result<Outputs, Error> {
        SequentialEngine::default().run(self, inputs, Some(selected))
    }

    /// The names of the steps consuming `name`.
    pub fn consumers_of(&self, name: &str) -> Vec<String> {
        self.inner
            .steps
            .iter()
            .zip(&self.inner.ports)
            .filter(|(_, p)| p.inputs.iter().any(|i| i.name == name))
            .map(|(s, _)| s.name().to_string())
            .collect()
    }

    /// Which steps must run to produce `wanted` (indices in step order).
    pub(crate) fn required_steps(&self, wanted: &BTreeSet<String>) -> Vec<bool> {
        let mut required = vec![false; self.inner.steps.len()];
        let mut pending: Vec<&str> = wanted.iter().map(String::as_str).collect();
        while let Some(name) = pending.pop() {
            if let Some(&i) = self.inner.producers.get(name)
                && !required[i]
            {
                required[i] = true;
                pending.extend(self.inner.ports[i].inputs.iter().map(|p| p.name.as_str()));
            }
        }
        required
    }

    /// Checks the inputs a run of `required` steps needs: every missing one
    /// (reported together, with the steps needing it), wrong types, and
    /// inputs shadowing a produced value. Returns the resolved input values.
    pub(crate) fn resolve_inputs(&self, inputs: &Inputs, required: &[bool]) -> Result<BTreeMap<String, Value>, Error> {
        for name in inputs.names() {
            if let Some(&producer) = self.inner.producers.get(name) {
                return Err(Error::InputShadowsOutput {
                    name: name.into(),
                    producer: self.inner.steps[producer].name().into(),
                });
            }
        }
        let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut resolved = BTreeMap::new();
        for (i, ports) in self.inner.ports.iter().enumerate() {
            if !required[i] {
                continue;
            }
            for port in &ports.inputs {
                if self.inner.producers.contains_key(&port.name) {
                    continue;
                }
                let given = inputs
                    .get(&port.name)
                    .or_else(|| self.bound.get(&port.name).map(|(v, t)| (v, *t)));
                match given {
                    Some((value, ty)) if ty == port.ty => {
                        resolved.insert(port.name.clone(), value.clone());
                    }
                    Some((_, ty)) => {
                        return Err(Error::InputType {
                            name: port.name.clone(),
                            given: ty.short_name(),
                            consumer: self.inner.steps[i].name().into(),
                            expected: port.ty.short_name(),
                        });
                    }
                    None => missing
                        .entry(&port.name)
                        .or_default()
                        .push(self.inner.steps[i].name().into()),
                }
            }
        }
        if !missing.is_empty() {
            return Err(Error::MissingInputs(
                missing
                    .into_iter()
                    .map(|(name, needed_by)| crate::error::MissingInput {
                        name: name.into(),
                        needed_by,
                    })
                    .collect(),
            ));
        }
        Ok(resolved)
    }
}

/// A dependency order keeping the given order where possible, or the cycle.
fn dependency_order(
    steps: &[Step],
    ports: &[StepPorts],
    producers: &BTreeMap<String, usize>,
) -> Result<Vec<usize>, PipelineError> {
    let deps: Vec<BTreeSet<usize>> = ports
        .iter()
        .map(|p| {
            p.inputs
                .iter()
                .filter_map(|i| producers.get(&i.name).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; steps.len()];
    let mut order = Vec::with_capacity(steps.len());
    while order.len() < steps.len() {
        let next = (0..steps.len()).find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err(find_cycle(steps, ports, &deps, &placed)),
        }
    }
    Ok(order)
}

fn find_cycle(steps: &[Step], ports: &[StepPorts], deps: &[BTreeSet<usize>], placed: &[bool]) -> PipelineError {
    // Every unplaced step depends on another unplaced one, so following
    // dependencies from any of them must revisit a step.
    let start = placed.iter().position(|p| !p).unwrap_or(0);
    let mut path = vec![start];
    loop {
        let current = *path.last().expect("path is never empty");
        let Some(&dep) = deps[current].iter().find(|&&d| !placed[d]) else {
            break;
        };
        if let Some(pos) = path.iter().position(|&s| s == dep) {
            // path[pos..] is the cycle, each step depending on the next:
            // reverse it so each step feeds the next.
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            // Start from the step given first, so the message is stable.
            let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
            cycle.rotate_left(first);
            let described = (0..cycle.len())
                .map(|k| {
                    let (from, to) = (cycle[k], cycle[(k + 1) % cycle.len()]);
                    let value = ports[from]
                        .outputs
                        .iter()
                        .find(|o| ports[to].inputs.iter().any(|i| i.name == o.name))
                        .map(|o| o.name.clone())
                        .unwrap_or_default();
                    (steps[from].name().to_string(), value)
                })
                .collect();
            return PipelineError::Cycle { cycle: described };
        }
        path.push(dep);
    }
    PipelineError::Cycle { cycle: Vec::new() }
}
