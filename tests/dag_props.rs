//! Property tests: running a random pipeline equals running its pieces by hand.

mod common;

use common::dag::{DagSpec, INPUTS, dag_strategy, value_name};
use nodefusion::{Inputs, MapMode, pipeline};
use proptest::prelude::*;

/// Only the inputs some node consumes.
fn used_inputs(spec: &DagSpec, values: [i64; INPUTS]) -> Inputs {
    let mut inputs = Inputs::new();
    for (i, v) in values.iter().enumerate() {
        if spec.nodes.iter().any(|n| n.deps.contains(&i)) {
            inputs.insert(value_name(i), *v);
        }
    }
    inputs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_random_dag_equals_its_nodes_run_by_hand(spec in dag_strategy(8), a in -50i64..50, b in -50i64..50) {
        let out = spec.pipeline().run(used_inputs(&spec, [a, b])).unwrap();
        let expected = spec.evaluate([a, b]);
        for (i, value) in expected.iter().enumerate() {
            prop_assert_eq!(out.get::<i64>(&value_name(INPUTS + i)).unwrap(), value);
        }
    }

    #[test]
    fn a_mapped_random_dag_equals_its_items_run_by_hand(
        spec in dag_strategy(6),
        xs in proptest::collection::vec(-20i64..20, 0..6),
        b in -5i64..5,
    ) {
        let uses_b = spec.nodes.iter().any(|n| n.deps.contains(&1));
        let mapped = pipeline![spec
            .pipeline()
            .as_node("per_x")
            .rename_input("in0", "xs")
            .map_over(["xs"])
            .map_mode(MapMode::Zip)]
        .unwrap();
        let mut given = Inputs::new().with("xs", xs.clone());
        if uses_b {
            given.insert("in1", b);
        }
        let out = mapped.run(given).unwrap();
        for i in 0..spec.nodes.len() {
            let expected: Vec<i64> = xs.iter().map(|&x| spec.evaluate([x, b])[i]).collect();
            prop_assert_eq!(out.get::<Vec<i64>>(&value_name(INPUTS + i)).unwrap(), &expected);
        }
    }
}
