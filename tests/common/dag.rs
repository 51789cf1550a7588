//! Random DAGs of arithmetic nodes, for property tests.

use nodefusion::{Node, Pipeline, Step, Value};
use proptest::prelude::*;

pub const INPUTS: usize = 2;

#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Indices into the values: `0..INPUTS` are inputs, `INPUTS + i` node i.
    pub deps: Vec<usize>,
    pub mul: i64,
    pub add: i64,
}

#[derive(Clone, Debug)]
pub struct DagSpec {
    pub nodes: Vec<NodeSpec>,
    /// The order the steps are given to `Pipeline::new`.
    pub order: Vec<usize>,
}

pub fn value_name(index: usize) -> String {
    if index < INPUTS {
        format!("in{index}")
    } else {
        format!("v{}", index - INPUTS)
    }
}

fn apply(spec: &NodeSpec, args: impl Iterator<Item = i64>) -> i64 {
    args.fold(0i64, i64::wrapping_add)
        .wrapping_mul(spec.mul)
        .wrapping_add(spec.add)
}

impl DagSpec {
    pub fn node(&self, i: usize) -> Node {
        let spec = self.nodes[i].clone();
        let mut builder = Node::builder(format!("n{i}")).output::<i64>(value_name(INPUTS + i));
        for &d in &spec.deps {
            builder = builder.input::<i64>(value_name(d));
        }
        builder
            .sync(move |args, out| {
                let result = apply(&spec, args.iter().map(|a| *a.downcast_ref::<i64>().unwrap()));
                out.push(Value::new(result));
                Ok(())
            })
            .build()
    }

    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(self.order.iter().map(|&i| Step::from(self.node(i)))).unwrap()
    }

    /// Evaluates the DAG by hand, node by node.
    pub fn evaluate(&self, inputs: [i64; INPUTS]) -> Vec<i64> {
        let mut values: Vec<i64> = inputs.to_vec();
        for spec in &self.nodes {
            let v = apply(spec, spec.deps.iter().map(|&d| values[d]));
            values.push(v);
        }
        values[INPUTS..].to_vec()
    }
}

pub fn dag_strategy(max_nodes: usize) -> impl Strategy<Value = DagSpec> {
    (1..=max_nodes)
        .prop_flat_map(|n| {
            let nodes: Vec<_> = (0..n)
                .map(|i| {
                    let deps =
                        proptest::sample::subsequence((0..INPUTS + i).collect::<Vec<_>>(), 1..=(INPUTS + i).min(3));
                    (deps, -3i64..4, -10i64..10).prop_map(move |(mut deps, mul, add)| {
                        if i == 0 && !deps.contains(&0) {
                            deps.insert(0, 0);
                        }
                        NodeSpec { deps, mul, add }
                    })
                })
                .collect();
            (nodes, Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
        .prop_map(|(nodes, order)| DagSpec { nodes, order })
}
