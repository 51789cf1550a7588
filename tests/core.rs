//! Behaviour of nodes, pipelines, maps, resources and the sequential engine.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use nodefusion::testing::check_batch_agrees;
use nodefusion::{
    BoxError, Engine, Error, Inputs, MapMode, Node, Pipeline, PipelineError, Res, Resource, SequentialEngine, Value,
    node, pipeline,
};
use serde::{Deserialize, Serialize};

fn engine() -> SequentialEngine {
    SequentialEngine::default().with_progress(false)
}

// Each shared case gives its expected outputs.
test_each_case!(expected_outputs, |case| {
    let out = engine().run(&case.pipeline, case.inputs, None).unwrap();
    let got = serde_json::to_value(out.to_json()).unwrap();
    assert_eq!(got, case.expected);
});

#[test]
fn a_node_takes_its_parameter_names_as_inputs() {
    let node = add::node();
    assert_eq!(node.name(), "add");
    assert_eq!(node.input_names(), vec!["doubled", "incremented"]);
    assert_eq!(node.output_names(), vec!["sum"]);
    assert_eq!(node.inputs()[0].ty.short_name(), "i64");
    assert!(node.id().ends_with("common::add"), "{}", node.id());
}

#[test]
fn the_function_stays_callable() {
    assert_eq!(double(21), 42);
    assert_eq!(divide(7, 2), Ok((3, 1)));
}

#[test]
fn version_hash_is_stable_and_distinguishes_definitions() {
    assert_eq!(double::node().version(), double::node().version());
    assert_ne!(double::node().version(), increment::node().version());
}

#[test]
fn nodes_are_found_in_the_registry_by_id() {
    let id = double::node().id().to_string();
    let found = nodefusion::registry::find(&id).expect("registered");
    assert_eq!(found.version(), double::node().version());
    assert!(nodefusion::registry::ids().contains(&id.as_str()));
    assert!(nodefusion::registry::find("no::such::node").is_none());
}

#[test]
fn run_select_returns_and_runs_only_what_is_needed() {
    let out = engine()
        .run(&diamond(), Inputs::new().with("x", 3i64), Some(&["incremented"]))
        .unwrap();
    assert_eq!(out.names(), vec!["incremented"]);
    let ran: Vec<&str> = out.report().nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(ran, vec!["double", "increment"]);
}

#[test]
fn selecting_an_unknown_output_lists_the_available_ones() {
    let err = engine()
        .run(&chain(), Inputs::new().with("x", 1i64), Some(&["nope"]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown output 'nope'; available: doubled, incremented"
    );
}

#[test]
fn selected_outputs_need_only_their_inputs() {
    let p = pipeline![double::node(), greet::node()].unwrap();
    let out = p.run_select(Inputs::new().with("x", 2i64), &["doubled"]).unwrap();
    assert_eq!(out.get::<i64>("doubled").unwrap(), &4);
}

#[test]
fn missing_inputs_are_reported_together_with_their_consumers() {
    let p = pipeline![double::node(), greet::node(), pair::node()].unwrap();
    let err = p.run(Inputs::new().with("punctuation", "!".to_string())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing inputs: 'letter' (needed by pair); 'name' (needed by greet); \
         'number' (needed by pair); 'x' (needed by double)"
    );
}

#[test]
fn an_input_of_the_wrong_type_names_both_types() {
    let err = chain().run(Inputs::new().with("x", "five".to_string())).unwrap_err();
    assert_eq!(err.to_string(), "input 'x' was given as String but 'double' takes i64");
}

#[test]
fn an_input_may_not_shadow_a_produced_value() {
    let err = chain()
        .run(Inputs::new().with("x", 1i64).with("doubled", 5i64))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "'doubled' is produced by 'double' and cannot also be given as an input"
    );
}

#[test]
fn duplicate_outputs_are_rejected_at_build_time() {
    let err = pipeline![double::node(), double::node()].unwrap_err();
    assert_eq!(
        err.to_string(),
        "output 'doubled' is produced by both 'double' and 'double'"
    );
}

fn passthrough(name: &str, input: &str, output: &str) -> Node {
    Node::builder(name)
        .input::<i64>(input)
        .output::<i64>(output)
        .sync(|args, out| {
            out.push(args[0].clone());
            Ok(())
        })
        .build()
}

#[test]
fn cycles_are_rejected_and_printed() {
    let err = Pipeline::new([
        passthrough("a", "z", "x").into(),
        passthrough("b", "x", "y").into(),
        passthrough("c", "y", "z").into(),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the pipeline has a cycle: a --(x)--> b --(y)--> c --(z)--> a"
    );
    let self_loop = Pipeline::new([passthrough("s", "v", "v").into()]).unwrap_err();
    assert_eq!(self_loop.to_string(), "the pipeline has a cycle: s --(v)--> s");
}

#[test]
fn type_mismatches_name_both_nodes_and_types() {
    let producer = Node::builder("make_text")
        .input::<i64>("x")
        .output::<String>("doubled")
        .sync(|_, out| {
            out.push(Value::new(String::new()));
            Ok(())
        })
        .build();
    let err = pipeline![producer, increment::node()].unwrap_err();
    assert_eq!(
        err,
        PipelineError::TypeMismatch {
            value: "doubled".into(),
            producer: "make_text".into(),
            produced: "String".into(),
            consumer: "increment".into(),
            expected: "i64".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "type mismatch for 'doubled': 'make_text' produces String but 'increment' takes i64"
    );
}

#[test]
fn steps_run_in_dependency_order_whatever_order_they_are_given() {
    let p = pipeline![add::node(), increment::node(), double::node()].unwrap();
    let order: Vec<&str> = p.steps().iter().map(|s| s.name()).collect();
    assert_eq!(order, vec!["double", "increment", "add"]);
    assert_eq!(
        p.run(Inputs::new().with("x", 1i64)).unwrap().get::<i64>("sum").unwrap(),
        &5
    );
}

#[test]
fn bind_sets_defaults_that_inputs_override() {
    let p = pipeline![greet::node()]
        .unwrap()
        .bind("punctuation", "?".to_string())
        .unwrap();
    assert_eq!(p.unfulfilled_inputs(), vec!["name"]);
    let out = p.run(Inputs::new().with("name", "x".to_string())).unwrap();
    assert_eq!(out.get::<String>("greeting").unwrap(), "hello x?");
    let out = p
        .run(
            Inputs::new()
                .with("name", "x".to_string())
                .with("punctuation", ".".to_string()),
        )
        .unwrap();
    assert_eq!(out.get::<String>("greeting").unwrap(), "hello x.");
    let p = p.unbind("punctuation");
    assert_eq!(p.unfulfilled_inputs(), vec!["name", "punctuation"]);
}

#[test]
fn bind_checks_the_name_and_the_type() {
    let p = pipeline![greet::node()].unwrap();
    assert_eq!(
        p.clone().bind("punctuation", 1i64).unwrap_err().to_string(),
        "cannot bind 'punctuation': given i64 but greet takes String"
    );
    assert_eq!(
        p.bind("nope", 1i64).unwrap_err().to_string(),
        "cannot bind 'nope': it is not an input of the pipeline; inputs: name, punctuation"
    );
}

#[test]
fn nested_pipeline_renames_inputs_and_outputs() {
    let outer = pipeline![
        chain()
            .as_node("inner")
            .rename_input("x", "start")
            .rename_output("incremented", "end")
    ]
    .unwrap();
    assert_eq!(outer.input_names(), vec!["start"]);
    assert_eq!(outer.output_names(), vec!["doubled", "end"]);
    let out = outer.run(Inputs::new().with("start", 4i64)).unwrap();
    assert_eq!(out.get::<i64>("end").unwrap(), &9);
}

#[test]
fn nested_pipeline_keeps_its_bound_inputs() {
    let inner = pipeline![greet::node()]
        .unwrap()
        .bind("punctuation", "!".to_string())
        .unwrap();
    let outer = pipeline![inner.as_node("greeter")].unwrap();
    assert_eq!(outer.input_names(), vec!["name"]);
    let out = outer.run(Inputs::new().with("name", "dan".to_string())).unwrap();
    assert_eq!(out.get::<String>("greeting").unwrap(), "hello dan!");
}

#[test]
fn renaming_an_unknown_name_is_rejected() {
    let err = pipeline![chain().as_node("inner").rename_input("nope", "x")].unwrap_err();
    assert_eq!(
        err.to_string(),
        "nested pipeline 'inner': input 'nope' does not exist; available: x"
    );
    let err = pipeline![chain().as_node("inner").map_over(["xs"])].unwrap_err();
    assert_eq!(
        err.to_string(),
        "nested pipeline 'inner': map_over input 'xs' does not exist; available: x"
    );
}

#[test]
fn mapped_inputs_and_outputs_are_lists() {
    let p = map_double("xs");
    assert_eq!(p.inputs()[0].ty.short_name(), "Vec<i64>");
    let all = p.outputs().into_iter().find(|o| o.name == "all_doubled").unwrap();
    assert_eq!(all.ty.short_name(), "Vec<i64>");
}

#[test]
fn zip_of_unequal_lists_names_the_lists_and_lengths() {
    let zipped = mapped_pairs(MapMode::Zip);
    let err = zipped
        .run(
            Inputs::new()
                .with("letters", vec!["a".to_string()])
                .with("numbers", vec![1i64, 2]),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "'pairs' maps over lists of different lengths in zip mode: 'letters' has 1, 'numbers' has 2"
    );
}

#[test]
fn zip_pairs_items_by_position() {
    let zipped = mapped_pairs(MapMode::Zip);
    let out = zipped
        .run(
            Inputs::new()
                .with("letters", vec!["a".to_string(), "b".to_string()])
                .with("numbers", vec![1i64, 2]),
        )
        .unwrap();
    assert_eq!(out.get::<Vec<String>>("pairs").unwrap(), &vec!["a1", "b2"]);
}

#[test]
fn unmapped_inputs_of_a_mapped_pipeline_are_shared_by_every_item() {
    let p = pipeline![
        pipeline![pair::node()]
            .unwrap()
            .as_node("pairs")
            .rename_input("number", "numbers")
            .map_over(["numbers"])
    ]
    .unwrap();
    let out = p
        .run(
            Inputs::new()
                .with("letter", "q".to_string())
                .with("numbers", vec![7i64, 8]),
        )
        .unwrap();
    assert_eq!(out.get::<Vec<String>>("pair").unwrap(), &vec!["q7", "q8"]);
}

#[test]
fn a_mapped_node_with_a_batch_implementation_runs_it_in_chunks() {
    let per_x = pipeline![double::node().with_batch_size(4)].unwrap();
    let p = pipeline![per_x.as_node("all").rename_input("x", "xs").map_over(["xs"])].unwrap();
    let before = BATCH_CALLS.load(Ordering::SeqCst);
    let out = engine()
        .run(&p, Inputs::new().with("xs", (0..10i64).collect::<Vec<_>>()), None)
        .unwrap();
    assert_eq!(
        out.get::<Vec<i64>>("doubled").unwrap(),
        &(0..10).map(|x| x * 2).collect::<Vec<i64>>()
    );
    let stats = out.report().node("all/double").unwrap();
    assert_eq!((stats.calls, stats.items), (3, 10));
    assert!(BATCH_CALLS.load(Ordering::SeqCst) >= before + 3);
}

#[test]
fn an_unmapped_node_calls_its_singular_implementation() {
    let out = engine().run(&chain(), Inputs::new().with("x", 2i64), None).unwrap();
    let stats = out.report().node("double").unwrap();
    assert_eq!((stats.calls, stats.items), (1, 1));
}

#[test]
fn singular_and_batch_implementations_agree() {
    let rows: Vec<Inputs> = (-5..20i64).map(|x| Inputs::new().with("x", x)).collect();
    check_batch_agrees(&double::node(), &rows).unwrap();
    let model = Res::new(ScaleModel { factor: 2.0 });
    let rows: Vec<Inputs> = passages(9)
        .into_iter()
        .map(|p| Inputs::new().with("passage", p).with("model", model.clone()))
        .collect();
    check_batch_agrees(&encode::node(), &rows).unwrap();
}

#[test]
fn a_batch_call_sees_one_value_of_each_constant_input() {
    // Neighbours with equal factors share a call; a changed factor starts a
    // new one (`scale_all` reads the factor once, so a mixed call would
    // give wrong products).
    let rows: Vec<Inputs> = [(1i64, 2i64), (2, 2), (3, 5), (4, 5), (5, 2)]
        .into_iter()
        .map(|(x, factor)| Inputs::new().with("x", x).with("factor", factor))
        .collect();
    check_batch_agrees(&scale::node(), &rows).unwrap();
    assert!(scale::node().is_constant(1) && !scale::node().is_constant(0));
}

#[node(output = "y", batch = wrong_batch)]
fn off_by_one(x: i64) -> i64 {
    x
}

#[nodefusion::batch]
fn wrong_batch(x: Vec<i64>) -> Vec<i64> {
    x.into_iter().map(|x| x + 1).collect()
}

#[test]
fn the_agreement_check_reports_the_first_difference() {
    let rows: Vec<Inputs> = (0..3i64).map(|x| Inputs::new().with("x", x)).collect();
    let err = check_batch_agrees(&off_by_one::node(), &rows).unwrap_err();
    assert_eq!(
        err,
        "output 'y' differs on row 0: singular Some(Number(0)), batch Some(Number(1))"
    );
}

#[test]
fn node_errors_name_the_node_and_the_item() {
    let p = divide_all();
    let err = p
        .run(Inputs::new().with("a", 6i64).with("bs", vec![1i64, 2, 0, 3]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'divide_all/divide' failed on item 2: cannot divide 6 by zero"
    );
    let err = pipeline![divide::node()]
        .unwrap()
        .run(Inputs::new().with("a", 1i64).with("b", 0i64))
        .unwrap_err();
    assert_eq!(err.to_string(), "node 'divide' failed: cannot divide 1 by zero");
}

#[node(output = "checked")]
fn panics_on_negative(x: i64) -> i64 {
    assert!(x >= 0, "negative input {x}");
    x
}

#[test]
fn a_panicking_node_is_an_error_not_an_abort() {
    let p = pipeline![
        pipeline![panics_on_negative::node()]
            .unwrap()
            .as_node("check_all")
            .rename_input("x", "xs")
            .map_over(["xs"])
    ]
    .unwrap();
    let err = p.run(Inputs::new().with("xs", vec![1i64, -4])).unwrap_err();
    assert!(matches!(err, Error::NodePanicked { item: Some(1), .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "node 'check_all/panics_on_negative' panicked on item 1: negative input -4"
    );
}

#[test]
fn async_nodes_run() {
    let p = pipeline![slow_len::node()].unwrap();
    let out = p.run(Inputs::new().with("word", "שלום".to_string())).unwrap();
    assert_eq!(out.get::<usize>("slow_len").unwrap(), &4);
}

#[tokio::test(flavor = "current_thread")]
async fn async_nodes_run_from_inside_a_tokio_runtime() {
    let p = pipeline![slow_len::node()].unwrap();
    let out = p.run(Inputs::new().with("word", "abc".to_string())).unwrap();
    assert_eq!(out.get::<usize>("slow_len").unwrap(), &3);
}

#[test]
fn outputs_report_unknown_names_and_wrong_types() {
    let out = chain().run(Inputs::new().with("x", 1i64)).unwrap();
    assert_eq!(
        out.get::<i64>("nope").unwrap_err().to_string(),
        "unknown output 'nope'; available: doubled, incremented"
    );
    assert_eq!(
        out.get::<String>("doubled").unwrap_err().to_string(),
        "expected a value of type alloc::string::String for output 'doubled' (which is i64)"
    );
}

#[test]
fn the_run_report_counts_calls_items_and_time() {
    let out = engine()
        .run(&map_double("xs"), Inputs::new().with("xs", vec![1i64, 2, 3]), None)
        .unwrap();
    let report = out.report();
    let inc = report.node("per_x/increment").unwrap();
    assert_eq!((inc.calls, inc.items), (3, 3));
    let text = report.to_string();
    assert!(text.contains("| per_x/increment"), "{text}");
    assert!(text.lines().next().unwrap().contains("mean/item"), "{text}");
}

// ---- resources ----

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flaky {
    name: String,
}

static FLAKY_ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

impl Resource for Flaky {
    type Loaded = String;
    fn load(&self) -> Result<String, BoxError> {
        if FLAKY_ATTEMPTS.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err("disk not ready".into());
        }
        Ok(format!("loaded {}", self.name))
    }
}

#[test]
fn a_failed_load_names_the_config_and_is_retried() {
    let res = Res::new(Flaky { name: "m1".into() });
    let err = res.get().unwrap_err().to_string();
    assert!(err.contains(r#"{"name":"m1"}"#), "{err}");
    assert!(err.contains("disk not ready"), "{err}");
    assert_eq!(*res.get().unwrap(), "loaded m1");
    assert_eq!(FLAKY_ATTEMPTS.load(Ordering::SeqCst), 2);
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Slow {
    id: u32,
}

static SLOW_LOADS: AtomicUsize = AtomicUsize::new(0);

impl Resource for Slow {
    type Loaded = Vec<u8>;
    fn load(&self) -> Result<Vec<u8>, BoxError> {
        SLOW_LOADS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        Ok(vec![self.id as u8; 4])
    }
}

#[test]
fn a_resource_loads_once_even_when_many_threads_ask_at_once() {
    let res = Res::new(Slow { id: 7 });
    let loaded: Vec<Arc<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| res.get().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(SLOW_LOADS.load(Ordering::SeqCst), 1);
    assert!(loaded.iter().all(|l| Arc::ptr_eq(l, &loaded[0])));
    let other = Res::new(Slow { id: 8 });
    other.get().unwrap();
    assert_eq!(
        SLOW_LOADS.load(Ordering::SeqCst),
        2,
        "another config is another resource"
    );
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Exploding;

impl Resource for Exploding {
    type Loaded = ();
    fn load(&self) -> Result<(), BoxError> {
        panic!("weights are corrupt")
    }
}

#[test]
fn a_panicking_load_is_an_error_and_the_process_goes_on() {
    let res = Res::new(Exploding);
    let err = res.get().unwrap_err().to_string();
    assert!(err.contains("panicked: weights are corrupt"), "{err}");
    assert!(res.get().is_err(), "retried, fails again, no poisoning");
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct NeverUsed;

impl Resource for NeverUsed {
    type Loaded = ();
    fn load(&self) -> Result<(), BoxError> {
        panic!("must not be loaded")
    }
}

#[node(output = "ignored")]
fn ignores_resource(x: i64, unused: Res<NeverUsed>) -> i64 {
    let _ = unused;
    x
}

#[test]
fn a_resource_the_run_never_touches_is_never_loaded() {
    let res = Res::new(NeverUsed);
    let p = pipeline![ignores_resource::node()].unwrap();
    p.run(Inputs::new().with("x", 1i64).with("unused", res.clone()))
        .unwrap();
    assert!(!res.is_loaded());
}

#[test]
fn a_resource_is_loaded_once_for_a_whole_mapped_run() {
    let model = Res::new(ScaleModel { factor: 3.25 });
    model.evict();
    let before = scale_loads(3.25);
    engine()
        .run(
            &encode_all(),
            Inputs::new()
                .with("passages", passages(50))
                .with("model", model.clone()),
            None,
        )
        .unwrap();
    assert_eq!(scale_loads(3.25), before + 1);
    assert!(model.is_loaded());
}

// ---- visualisation ----

#[test]
fn dot_draws_nested_pipelines_as_clusters_and_marks_maps() {
    let dot = nested_maps().to_dot();
    assert!(dot.starts_with("digraph pipeline {"), "{dot}");
    assert_eq!(dot.matches("subgraph cluster_").count(), 2, "{dot}");
    assert!(dot.contains("per_list (map over lists, zip)"), "{dot}");
    assert!(dot.contains("peripheries=2"), "{dot}");
    assert!(dot.contains("[label=\"lists\", shape=ellipse]"), "{dot}");
    assert!(dot.contains("(batch)"), "{dot}");
}

#[test]
fn mermaid_draws_subgraphs_and_edges() {
    let text = encode_all().to_mermaid();
    assert!(text.starts_with("flowchart TD"), "{text}");
    assert!(text.contains("subgraph"), "{text}");
    assert!(text.contains("encode_all (map over passages, zip)"), "{text}");
    assert!(text.contains("in2 -->|passage| n4"), "{text}");
    assert!(text.contains("-->|encoded_all|"), "{text}");
}

#[test]
fn a_selection_runs_only_the_steps_it_depends_on() {
    let out = diamond()
        .run_select(Inputs::new().with("x", 1i64), &["incremented"])
        .unwrap();
    assert_eq!(out.get::<i64>("incremented").unwrap(), &3);
    let report = out.report();
    assert!(report.node("double").is_some() && report.node("increment").is_some());
    assert!(report.node("add").is_none(), "{report:?}");
}

#[node(output = "longest")]
fn longest(words: &[String]) -> usize {
    words.iter().map(|w| w.chars().count()).max().unwrap_or(0)
}

#[test]
fn a_slice_parameter_borrows_a_list_input() {
    let node = longest::node();
    assert_eq!(node.inputs()[0].ty.short_name(), "Vec<String>");
    let out = pipeline![node]
        .unwrap()
        .run(Inputs::new().with("words", vec!["ab".to_string(), "שלום".to_string()]))
        .unwrap();
    assert_eq!(out.get::<usize>("longest").unwrap(), &4);
}
