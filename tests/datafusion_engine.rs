//! The DataFusion engine gives the sequential engine's results.

mod common;

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use common::dag::dag_strategy;
use common::*;
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::{
    logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
};
use nodefusion::{DataFusionEngine, Engine, Inputs, MapMode, NodefusionCodec, Res, SequentialEngine, node, pipeline};
use proptest::prelude::*;

/// `node` mapped over the list `xs` (its input `x`), as the nested node `name`.
fn map_over_xs(name: &str, node: nodefusion::Node) -> nodefusion::Pipeline {
    pipeline![
        pipeline![node]
            .unwrap()
            .as_node(name)
            .rename_input("x", "xs")
            .map_over(["xs"])
    ]
    .unwrap()
}

fn sequential() -> SequentialEngine {
    SequentialEngine::default().with_progress(false)
}

fn datafusion() -> DataFusionEngine {
    DataFusionEngine::new().with_target_partitions(2)
}

/// The case's outputs from `engine`, which must equal the sequential engine's.
fn assert_matches_sequential(engine: DataFusionEngine, case: Case) {
    let want = sequential()
        .run(&case.pipeline, case.inputs.clone(), None)
        .unwrap()
        .to_json();
    let got = engine.run(&case.pipeline, case.inputs, None).unwrap().to_json();
    assert_eq!(got, want);
}

// Each shared case gives the sequential engine's outputs, with round-robin
// maps and with shuffled (hash-partitioned) ones.
test_each_case!(matches_sequential, |case| assert_matches_sequential(datafusion(), case));
test_each_case!(shuffled_maps_match_sequential, |case| {
    assert_matches_sequential(
        DataFusionEngine::new()
            .with_target_partitions(3)
            .with_shuffled_maps(true),
        case,
    )
});

#[test]
fn enums_with_data_cross_maps_whichever_variant_is_broadcast() {
    // A broadcast value is padded with nulls to line up with the mapped rows;
    // for an enum the padding lands in its first variant.
    for scale in [Scale::Identity, Scale::Factor(2.0)] {
        for shapes in [
            vec![],
            vec![Shape::Circle { radius: 2.0 }],
            vec![Shape::Point, Shape::Square(1.5)],
        ] {
            let inputs = Inputs::new()
                .with("shapes", shapes.clone())
                .with("scale", scale.clone());
            let want = sequential()
                .run(&measure_all(), inputs.clone(), None)
                .unwrap()
                .to_json();
            let got = datafusion().run(&measure_all(), inputs, None).unwrap().to_json();
            assert_eq!(got, want, "{scale:?} {shapes:?}");
        }
    }
}

#[test]
fn enums_with_data_cross_nested_maps_with_empty_lists() {
    let nested = pipeline![
        measure_all()
            .as_node("per_list")
            .rename_input("shapes", "shape_lists")
            .rename_output("measured_all", "measured_lists")
            .map_over(["shape_lists"])
    ]
    .unwrap();
    let lists = vec![
        vec![],
        vec![
            vec![Shape::Square(1.0)],
            vec![],
            vec![Shape::Point, Shape::Circle { radius: 1.0 }],
        ],
        vec![vec![], vec![]],
    ];
    for shape_lists in lists {
        let inputs = Inputs::new()
            .with("shape_lists", shape_lists.clone())
            .with("scale", Scale::Identity);
        let want = sequential().run(&nested, inputs.clone(), None).unwrap().to_json();
        let got = datafusion().run(&nested, inputs, None).unwrap().to_json();
        assert_eq!(got, want, "{shape_lists:?}");
    }
}

#[test]
fn selected_outputs_match_too() {
    let inputs = Inputs::new().with("x", 3i64);
    let out = datafusion().run(&diamond(), inputs, Some(&["incremented"])).unwrap();
    assert_eq!(out.names(), vec!["incremented"]);
    assert_eq!(out.get::<i64>("incremented").unwrap(), &7);
}

#[test]
fn errors_match_the_sequential_engine() {
    let p = divide_all();
    let inputs = Inputs::new().with("a", 6i64).with("bs", vec![1i64, 2, 0, 3]);
    let err = datafusion().run(&p, inputs, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'divide_all/divide' failed on item 2: cannot divide 6 by zero"
    );
    let missing = datafusion().run(&chain(), Inputs::new(), None).unwrap_err();
    assert_eq!(missing.to_string(), "missing inputs: 'x' (needed by double)");
}

/// A node whose batch implementation returns `columns` columns of one item.
fn bad_batch(columns: usize) -> nodefusion::Node {
    nodefusion::Node::builder("bad")
        .input::<i64>("x")
        .output::<i64>("y")
        .sync(|args, out| {
            out.push(args[0].clone());
            Ok(())
        })
        .batch(move |inputs| Ok(vec![inputs[0][..1].to_vec(); columns]))
        .build()
}

#[node(output = "root", batch = checked_roots)]
fn checked_root(x: i64) -> Result<i64, nodefusion::BoxError> {
    if x < 0 {
        return Err(format!("{x} has no square root").into());
    }
    Ok((x as f64).sqrt() as i64)
}

/// Fails the whole batch, without saying which item is the bad one.
#[nodefusion::batch]
fn checked_roots(x: Vec<i64>) -> Result<Vec<i64>, nodefusion::BoxError> {
    if x.iter().any(|&x| x < 0) {
        return Err("the batch has a negative number".into());
    }
    Ok(x.into_iter().map(|x| (x as f64).sqrt() as i64).collect())
}

#[test]
fn a_failed_batch_call_names_the_failing_item_in_both_engines() {
    let p = map_over_xs("all", checked_root::node().with_batch_size(4));
    // One bad item: partitions run side by side, so with two the first
    // failure to arrive would win.
    let inputs = Inputs::new().with("xs", vec![0i64, 1, 4, 9, 16, 25, -3, 49, 64]);
    let expected = "node 'all/checked_root' failed on item 6: -3 has no square root";
    assert_eq!(
        sequential().run(&p, inputs.clone(), None).unwrap_err().to_string(),
        expected
    );
    assert_eq!(datafusion().run(&p, inputs, None).unwrap_err().to_string(), expected);
}

#[test]
fn malformed_batch_results_fail_alike_in_both_engines() {
    for (columns, message) in [
        (1, "batch implementation of 'all/bad' returned 1 items for 3 inputs"),
        (
            2,
            "batch implementation of 'all/bad' returned 2 output columns for 1 outputs",
        ),
    ] {
        let p = map_over_xs("all", bad_batch(columns));
        let inputs = Inputs::new().with("xs", vec![1i64, 2, 3]);
        let sequential_error = sequential().run(&p, inputs.clone(), None).unwrap_err();
        let datafusion_error = datafusion().run(&p, inputs, None).unwrap_err();
        assert_eq!(sequential_error.to_string(), message);
        assert_eq!(datafusion_error.to_string(), message);
    }
}

#[test]
fn zip_length_mismatch_names_the_lists() {
    let zipped = mapped_pairs(MapMode::Zip);
    let inputs = Inputs::new()
        .with("letters", vec!["a".to_string()])
        .with("numbers", vec![1i64, 2]);
    let err = datafusion().run(&zipped, inputs, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'pairs' maps over lists of different lengths in zip mode: 'letters' has 1, 'numbers' has 2"
    );
}

#[node(output = "checked")]
fn panics_on_seven(x: i64) -> i64 {
    if x == 7 {
        panic!("seven is not allowed");
    }
    x
}

#[test]
fn a_panic_inside_a_udf_fails_the_run_with_the_item() {
    let p = map_over_xs("check", panics_on_seven::node());
    let err = datafusion()
        .run(&p, Inputs::new().with("xs", (0..20i64).collect::<Vec<_>>()), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'check/panics_on_seven' panicked on item 7: seven is not allowed"
    );
}

#[test]
fn the_batch_implementation_runs_when_mapped() {
    let p = map_double("xs");
    let before = BATCH_CALLS.load(Ordering::SeqCst);
    let out = datafusion()
        .with_batch_size(16)
        .run(&p, Inputs::new().with("xs", (0..100i64).collect::<Vec<_>>()), None)
        .unwrap();
    let stats = out.report().node("per_x/double").unwrap();
    assert_eq!(stats.items, 100);
    assert!(stats.calls >= 7, "{stats:?}");
    assert!(BATCH_CALLS.load(Ordering::SeqCst) >= before + 7);
}

#[test]
fn a_resource_loads_once_per_process_across_partitions() {
    let model = Res::new(ScaleModel { factor: 1.75 });
    model.evict();
    let before = scale_loads(1.75);
    let out = DataFusionEngine::new()
        .with_target_partitions(4)
        .with_batch_size(8)
        .run(
            &encode_all(),
            Inputs::new()
                .with("passages", passages(200))
                .with("model", model.clone()),
            None,
        )
        .unwrap();
    assert_eq!(out.get::<Vec<usize>>("lengths").unwrap().len(), 200);
    assert_eq!(scale_loads(1.75), before + 1);
}

static IN_FLIGHT: Mutex<(usize, usize)> = Mutex::new((0, 0));

#[node(output = "echoed", concurrency = 8)]
async fn echo_slowly(word: String) -> String {
    {
        let mut g = IN_FLIGHT.lock().unwrap();
        g.0 += 1;
        g.1 = g.1.max(g.0);
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    IN_FLIGHT.lock().unwrap().0 -= 1;
    word
}

#[test]
fn async_nodes_overlap_up_to_their_concurrency_in_both_engines() {
    let p = pipeline![
        pipeline![echo_slowly::node()]
            .unwrap()
            .as_node("echo")
            .rename_input("word", "words")
            .map_over(["words"])
    ]
    .unwrap();
    let words: Vec<String> = (0..32).map(|i| format!("w{i}")).collect();
    let engines: [(&str, Box<dyn Engine>); 2] = [
        (
            "datafusion",
            Box::new(DataFusionEngine::new().with_target_partitions(1)),
        ),
        ("sequential", Box::new(SequentialEngine::default().with_progress(false))),
    ];
    for (name, engine) in engines {
        *IN_FLIGHT.lock().unwrap() = (0, 0);
        let out = engine
            .run(&p, Inputs::new().with("words", words.clone()), None)
            .unwrap();
        assert_eq!(out.get::<Vec<String>>("echoed").unwrap(), &words, "{name}");
        let observed = IN_FLIGHT.lock().unwrap().1;
        assert!((2..=8).contains(&observed), "{name}: observed concurrency {observed}");
    }
}

/// Calls in flight now, and the most seen at once.
static BLOCKING_IN_FLIGHT: Mutex<(usize, usize)> = Mutex::new((0, 0));

/// A CPU-bound stand-in: blocks its thread until a call on another
/// partition runs beside it (or 10 s have passed, once).
#[node(output = "waited", batch = wait_for_peers)]
fn wait_for_a_peer(x: i64) -> i64 {
    static DEADLINE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let deadline = *DEADLINE.get_or_init(|| std::time::Instant::now() + std::time::Duration::from_secs(10));
    {
        let mut g = BLOCKING_IN_FLIGHT.lock().unwrap();
        g.0 += 1;
        g.1 = g.1.max(g.0);
    }
    while BLOCKING_IN_FLIGHT.lock().unwrap().1 < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    BLOCKING_IN_FLIGHT.lock().unwrap().0 -= 1;
    x
}

#[nodefusion::batch]
fn wait_for_peers(x: Vec<i64>) -> Vec<i64> {
    x.into_iter().map(wait_for_a_peer).collect()
}

#[test]
fn a_small_map_of_a_node_with_small_batches_uses_every_partition() {
    let p = map_over_xs("per_x", wait_for_a_peer::node().with_batch_size(4));
    let xs: Vec<i64> = (0..20).collect();
    let out = DataFusionEngine::new()
        .with_target_partitions(2)
        .run(&p, Inputs::new().with("xs", xs.clone()), None)
        .unwrap();
    assert_eq!(out.get::<Vec<i64>>("waited").unwrap(), &xs);
    assert_eq!(BLOCKING_IN_FLIGHT.lock().unwrap().1, 2, "calls never ran side by side");
}

#[test]
fn outputs_keep_input_order_across_many_batches_and_partitions() {
    let xs: Vec<i64> = (0..10_000).map(|i| (i * 7919) % 10_007).collect();
    let lists: Vec<Vec<i64>> = (0..300).map(|i| xs[i * 11..i * 11 + i % 23].to_vec()).collect();
    for (pipeline, inputs) in [
        (map_double("xs"), Inputs::new().with("xs", xs)),
        (nested_maps(), Inputs::new().with("lists", lists)),
    ] {
        let want = sequential().run(&pipeline, inputs.clone(), None).unwrap().to_json();
        let got = DataFusionEngine::new()
            .with_target_partitions(4)
            .with_batch_size(7)
            .run(&pipeline, inputs, None)
            .unwrap()
            .to_json();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn results_can_be_queried_with_sql_in_the_users_context() {
    let ctx = SessionContext::new();
    ctx.sql("CREATE TABLE offsets AS VALUES (1), (2)").await.unwrap();
    let engine = DataFusionEngine::with_context(ctx.clone());
    let planned = engine
        .plan(&map_double("xs"), &Inputs::new().with("xs", vec![5i64, 1, 3]), None)
        .unwrap();
    ctx.register_table("results", planned.dataframe.clone().into_view())
        .unwrap();
    let batches = ctx
        .sql(
            "SELECT u.v + o.column1 AS shifted FROM (SELECT unnest(all_doubled) AS v FROM results) u \
             CROSS JOIN offsets o ORDER BY shifted",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    let values: Vec<i64> = text
        .lines()
        .filter_map(|l| l.trim_matches(|c| c == '|' || c == ' ').parse().ok())
        .collect();
    assert_eq!(values, vec![3, 4, 7, 8, 11, 12]);
}

#[tokio::test]
async fn explain_shows_logical_and_physical_plans() {
    let text = datafusion()
        .explain(
            &encode_all(),
            &Inputs::new()
                .with("passages", passages(2))
                .with("model", Res::new(ScaleModel { factor: 1.0 })),
        )
        .await
        .unwrap();
    assert!(text.contains("logical_plan"), "{text}");
    assert!(text.contains("physical_plan"), "{text}");
    assert!(text.contains("node:encode_all/encode"), "{text}");
    assert!(text.contains("Unnest"), "{text}");
}

#[tokio::test]
async fn a_top_level_map_collects_in_one_phase_and_a_nested_one_in_two() {
    let inputs = Inputs::new().with("xs", vec![1i64, 2, 3]);
    let text = datafusion().explain(&map_double("xs"), &inputs).await.unwrap();
    assert!(text.contains("AggregateExec: mode=Single, gby=[]"), "{text}");
    assert!(!text.contains("mode=Partial"), "{text}");
    // The grouped collect of the inner map keeps its partial phase; the
    // outer, ungrouped one runs in one.
    let inputs = Inputs::new().with("lists", vec![vec![1i64], vec![2, 3]]);
    let text = datafusion().explain(&nested_maps(), &inputs).await.unwrap();
    assert_eq!(text.matches("mode=Partial").count(), 1, "{text}");
    assert!(text.contains("AggregateExec: mode=Single, gby=[]"), "{text}");
}

#[test]
fn a_plan_survives_serialisation_and_runs_in_a_fresh_context() {
    let case = cases().into_iter().find(|c| c.name == "nested_maps").unwrap();
    let plan = datafusion().logical_plan(&case.pipeline, &case.inputs).unwrap();
    let codec = NodefusionCodec::default();
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
    let fresh = SessionContext::new();
    let back = logical_plan_from_bytes_with_extension_codec(&bytes, &fresh.task_ctx(), &codec).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batches = rt.block_on(async { fresh.execute_logical_plan(back).await.unwrap().collect().await.unwrap() });
    let totals = batches[0].column_by_name("totals").unwrap();
    let totals = nodefusion::arrow_convert::from_arrow::<Vec<i64>>(totals.as_ref()).unwrap();
    assert_eq!(totals, vec![vec![6, 0, 10]]);
}

#[test]
fn a_decoded_physical_plan_runs_and_its_node_errors_travel_as_text_with_their_kind() {
    use datafusion_proto::physical_plan::{AsExecutionPlan, DefaultPhysicalExtensionCodec};
    use datafusion_proto::protobuf::PhysicalPlanNode;
    let mapped = divide_all();
    let codec = nodefusion::NodefusionPhysicalCodec::wrapping(std::sync::Arc::new(DefaultPhysicalExtensionCodec {}));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = |bs: Vec<i64>| {
        let inputs = Inputs::new().with("a", 6i64).with("bs", bs);
        let planned = datafusion().plan(&mapped, &inputs, None).unwrap();
        rt.block_on(async {
            let physical = planned.dataframe.create_physical_plan().await.unwrap();
            let proto = PhysicalPlanNode::try_from_physical_plan(physical, &codec).unwrap();
            let fresh = SessionContext::new();
            let back = proto.try_into_physical_plan(&fresh.task_ctx(), &codec).unwrap();
            datafusion::physical_plan::collect(back, fresh.task_ctx()).await
        })
    };
    let batches = run(vec![1, 2, 3]).unwrap();
    let quotients = batches[0].column_by_name("quotient").unwrap();
    let quotients = nodefusion::arrow_convert::from_arrow::<Vec<i64>>(quotients.as_ref()).unwrap();
    assert_eq!(quotients, vec![vec![6, 3, 2]]);
    // As another process would see the failure: only its text.
    let text = format!("Job 1 failed: {:?}", run(vec![1, 2, 0, 3]).unwrap_err());
    let error = nodefusion::engine::wire::find(&text).expect("a tagged node error");
    assert!(
        matches!(error, nodefusion::Error::NodeFailed { item: Some(2), .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "node 'divide_all/divide' failed on item 2: cannot divide 6 by zero"
    );
}

#[test]
fn a_plan_without_the_codec_fails_clearly() {
    let plan = datafusion()
        .logical_plan(&chain(), &Inputs::new().with("x", 1i64))
        .unwrap();
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &NodefusionCodec::default()).unwrap();
    let plain = datafusion_proto::logical_plan::DefaultLogicalExtensionCodec {};
    let err =
        logical_plan_from_bytes_with_extension_codec(&bytes, &SessionContext::new().task_ctx(), &plain).unwrap_err();
    assert!(err.to_string().contains("node:double"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn random_mapped_dags_match_the_sequential_engine(
        spec in dag_strategy(5),
        xs in proptest::collection::vec(-20i64..20, 0..5),
        b in -5i64..5,
    ) {
        let mapped = pipeline![spec.pipeline().as_node("per_x").rename_input("in0", "xs").map_over(["xs"])].unwrap();
        let mut given = Inputs::new().with("xs", xs);
        if spec.nodes.iter().any(|n| n.deps.contains(&1)) {
            given.insert("in1", b);
        }
        let want = sequential().run(&mapped, given.clone(), None).unwrap().to_json();
        let got = datafusion().run(&mapped, given, None).unwrap().to_json();
        prop_assert_eq!(got, want);
    }
}

#[node(output = "json")]
fn to_json_value(x: i64) -> serde_json::Value {
    serde_json::json!({ "x": x })
}

#[test]
fn an_arrow_conversion_failure_names_the_value_and_the_type() {
    let p = pipeline![to_json_value::node()].unwrap();
    assert!(sequential().run(&p, Inputs::new().with("x", 1i64), None).is_ok());
    let err = datafusion()
        .run(&p, Inputs::new().with("x", 1i64), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("serde_json::value::Value has no Arrow representation"),
        "{err}"
    );
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
enum Ratio {
    Undefined,
    Value(f32),
}

#[node(output = "ratio")]
fn inverse(x: i64) -> Ratio {
    match x {
        i64::MIN => Ratio::Undefined,
        x => Ratio::Value(1.0 / x as f32),
    }
}

#[test]
fn a_value_without_an_arrow_form_is_a_conversion_error_naming_the_node_and_port() {
    let p = pipeline![
        pipeline![inverse::node()]
            .unwrap()
            .as_node("inverses")
            .rename_input("x", "xs")
            .map_over(["xs"])
    ]
    .unwrap();
    // 1/0 is infinite, which the JSON form of an enum with data cannot hold.
    let error = datafusion()
        .run(&p, Inputs::new().with("xs", vec![1i64, 0, 2]), None)
        .unwrap_err();
    match &error {
        nodefusion::Error::Conversion { node, port, output, .. } => {
            assert_eq!(
                (node.as_str(), port.as_str(), *output),
                ("inverses/inverse", "ratio", true),
                "{error}"
            );
            assert!(error.to_string().contains("inf has no JSON form"), "{error}");
        }
        other => panic!("expected a conversion error, got {other}"),
    }
}

/// The lowered logical plans of a few pipelines, as snapshots: the shape the
/// DataFusion engine's page draws (unnest → node projections → ordered
/// aggregate back per input row), checked on every change. Review a change
/// with `cargo insta review` or rerun with `INSTA_UPDATE=always`.
mod lowered_plans {
    use super::*;

    fn lowered(pipeline: &nodefusion::Pipeline, inputs: &Inputs) -> String {
        let plan = DataFusionEngine::new()
            .with_target_partitions(2)
            .logical_plan(pipeline, inputs)
            .unwrap();
        plan.display_indent().to_string()
    }

    #[test]
    fn a_chain_is_one_projection_per_node() {
        insta::assert_snapshot!(lowered(&chain(), &Inputs::new().with("x", 5i64)));
    }

    #[test]
    fn a_map_unnests_projects_and_collects_in_input_order() {
        insta::assert_snapshot!(lowered(&map_double("xs"), &Inputs::new().with("xs", vec![1i64, 2])));
    }

    #[test]
    fn a_product_map_pairs_every_combination() {
        let inputs = Inputs::new()
            .with("letters", vec!["a".to_string()])
            .with("numbers", vec![1i64, 2]);
        insta::assert_snapshot!(lowered(&mapped_pairs(MapMode::Product), &inputs));
    }

    #[test]
    fn a_value_is_let_go_after_its_last_reader_and_not_carried_into_later_maps() {
        // `vectors` is read by `vector_sum` only, and `words` by the first
        // map only: neither may ride through the second map. Only `xs`
        // (through the first map) and `sum` (through the second) are carried.
        let p = pipeline![
            word_vectors().as_node("embed_words"),
            map_double("xs").as_node("doubles"),
        ]
        .unwrap();
        let inputs = Inputs::new()
            .with("words", vec!["ab".to_string()])
            .with("xs", vec![1i64, 2]);
        let plan = DataFusionEngine::new()
            .with_target_partitions(2)
            .plan(&p, &inputs, Some(&["total", "vector_sum"]))
            .unwrap()
            .dataframe
            .logical_plan()
            .display_indent()
            .to_string();
        assert_eq!(plan.matches("first_value(").count(), 2, "{plan}");
        insta::assert_snapshot!(plan);
    }

    #[test]
    fn a_map_inside_a_map() {
        let inputs = Inputs::new().with("lists", vec![vec![1i64], vec![2, 3]]);
        insta::assert_snapshot!(lowered(&nested_maps(), &inputs));
    }
}

#[node(output = "in_place")]
fn collected_in_one_buffer(vectors: &[nodefusion::Floats]) -> bool {
    nodefusion::Floats::contiguous(vectors).is_some()
}

#[test]
fn a_collected_list_of_floats_reaches_the_next_node_as_one_buffer() {
    // The mapped outputs are collected into one Arrow column; a node taking
    // `&[Floats]` views its rows in place, one after another in memory, so
    // it can use them as one matrix without copying.
    let words: Vec<String> = (0..300).map(|i| "x".repeat(i % 7)).collect();
    let pipeline = pipeline![word_vectors().as_node("embed_words"), collected_in_one_buffer::node(),].unwrap();
    for engine in [
        datafusion(),
        DataFusionEngine::new()
            .with_target_partitions(3)
            .with_shuffled_maps(true),
    ] {
        let out = engine
            .run(&pipeline, Inputs::new().with("words", words.clone()), None)
            .unwrap();
        assert!(out.get::<bool>("in_place").unwrap());
    }
}

#[test]
fn a_node_with_several_outputs_runs_once_per_item() {
    let bs: Vec<i64> = (1..=40).collect();
    let inputs = Inputs::new().with("a", 1000i64).with("bs", bs.clone());
    for engine in [
        datafusion(),
        DataFusionEngine::new()
            .with_target_partitions(3)
            .with_shuffled_maps(true),
    ] {
        let out = engine.run(&divide_all(), inputs.clone(), None).unwrap();
        let stats = out.report().node("divide_all/divide").unwrap();
        assert_eq!(stats.items, bs.len() as u64, "{}", out.report());
    }
}
