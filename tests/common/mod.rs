//! Nodes and pipelines shared by the test binaries: every engine must give
//! the sequential engine's results on each of these cases.
#![allow(dead_code)]

pub mod dag;

use nodefusion::{BoxError, Floats, Inputs, MapMode, Pipeline, Res, Resource, node, pipeline};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[node(output = "doubled", batch = double_batch)]
pub fn double(x: i64) -> i64 {
    x * 2
}

#[nodefusion::batch]
pub fn double_batch(x: Vec<i64>) -> Vec<i64> {
    BATCH_CALLS.fetch_add(1, Ordering::SeqCst);
    x.into_iter().map(|x| x * 2).collect()
}

/// Calls of `double_batch` (the batch implementation of `double`).
pub static BATCH_CALLS: AtomicUsize = AtomicUsize::new(0);

#[node(output = "incremented")]
pub fn increment(doubled: i64) -> i64 {
    doubled + 1
}

#[node(output = "sum")]
pub fn add(doubled: i64, incremented: i64) -> i64 {
    doubled + incremented
}

#[node(output = ("quotient", "remainder"))]
pub fn divide(a: i64, b: i64) -> Result<(i64, i64), String> {
    if b == 0 {
        return Err(format!("cannot divide {a} by zero"));
    }
    Ok((a / b, a % b))
}

#[node(output = "greeting")]
pub fn greet(name: &String, punctuation: String) -> String {
    format!("hello {name}{punctuation}")
}

#[node(output = "total")]
pub fn total(all_doubled: Vec<i64>) -> i64 {
    all_doubled.iter().sum()
}

#[node(output = "pair")]
pub fn pair(letter: String, number: i64) -> String {
    format!("{letter}{number}")
}

#[node(output = "slow_len")]
pub async fn slow_len(word: String) -> usize {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    word.chars().count()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    pub uuid: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoded {
    pub uuid: String,
    pub embedding: Vec<f32>,
    pub note: Option<String>,
}

/// A toy "model": a scale factor, counting its loads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleModel {
    pub factor: f32,
}

/// Loads per factor: tests run in parallel, each with its own factor, so a
/// test sees only its own loads.
static SCALE_LOADS: Mutex<Option<HashMap<u32, usize>>> = Mutex::new(None);

/// How often a [`ScaleModel`] with this factor has been loaded.
pub fn scale_loads(factor: f32) -> usize {
    let loads = SCALE_LOADS.lock().unwrap();
    loads
        .as_ref()
        .and_then(|m| m.get(&factor.to_bits()).copied())
        .unwrap_or(0)
}

impl Resource for ScaleModel {
    type Loaded = f32;
    fn load(&self) -> Result<f32, BoxError> {
        *SCALE_LOADS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(self.factor.to_bits())
            .or_default() += 1;
        Ok(self.factor)
    }
}

#[node(output = "encoded", batch = encode_batch, constant = "model")]
pub fn encode(passage: Passage, model: &Res<ScaleModel>) -> Result<Encoded, BoxError> {
    let factor = *model.get()?;
    Ok(Encoded {
        uuid: passage.uuid.clone(),
        embedding: passage.text.chars().map(|c| c as u32 as f32 * factor).collect(),
        note: passage.text.is_empty().then(|| "empty".to_string()),
    })
}

#[nodefusion::batch]
pub fn encode_batch(passage: Vec<Passage>, model: &Res<ScaleModel>) -> Result<Vec<Encoded>, BoxError> {
    passage.into_iter().map(|p| encode(p, model)).collect()
}

#[node(output = "scaled", batch = scale_all, constant = "factor")]
pub fn scale(x: i64, factor: &i64) -> i64 {
    x * factor
}

/// Reads `factor` once per call: wrong results if a call mixed rows of
/// different factors.
#[nodefusion::batch]
pub fn scale_all(x: Vec<i64>, factor: &i64) -> Vec<i64> {
    x.into_iter().map(|x| x * factor).collect()
}

#[node(output = "lengths")]
pub fn lengths(encoded_all: Vec<Encoded>) -> Vec<usize> {
    encoded_all.iter().map(|e| e.embedding.len()).collect()
}

/// An enum whose variants carry data (a union in Arrow).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    Circle { radius: f64 },
    Square(f64),
    Point,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scale {
    Identity,
    Factor(f64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub shape: Shape,
    pub area: f64,
}

#[node(output = "measured")]
pub fn measure(shape: Shape, scale: Scale) -> Measured {
    let area = match &shape {
        Shape::Circle { radius } => 3.0 * radius * radius,
        Shape::Square(side) => side * side,
        Shape::Point => 0.0,
    };
    let factor = match scale {
        Scale::Identity => 1.0,
        Scale::Factor(f) => f,
    };
    Measured {
        shape,
        area: area * factor,
    }
}

/// Maps `measure` over `shapes`, with one `scale` for all of them.
pub fn measure_all() -> Pipeline {
    pipeline![
        pipeline![measure::node()]
            .unwrap()
            .as_node("measure_all")
            .rename_input("shape", "shapes")
            .rename_output("measured", "measured_all")
            .map_over(["shapes"])
    ]
    .unwrap()
}

/// One test case: a pipeline, inputs, and the expected outputs as JSON.
pub struct Case {
    pub name: &'static str,
    pub pipeline: Pipeline,
    pub inputs: Inputs,
    pub expected: serde_json::Value,
}

pub fn chain() -> Pipeline {
    pipeline![double::node(), increment::node()].unwrap()
}

pub fn diamond() -> Pipeline {
    pipeline![double::node(), increment::node(), add::node()].unwrap()
}

pub fn map_double(xs: &str) -> Pipeline {
    pipeline![
        chain()
            .as_node("per_x")
            .rename_input("x", xs)
            .rename_output("doubled", "all_doubled")
            .rename_output("incremented", "all_incremented")
            .map_over([xs]),
        total::node(),
    ]
    .unwrap()
}

/// `pair` mapped over `letters` and `numbers` in `mode` (node `pairs`,
/// output `pairs`).
pub fn mapped_pairs(mode: MapMode) -> Pipeline {
    pipeline![
        pipeline![pair::node()]
            .unwrap()
            .as_node("pairs")
            .rename_input("letter", "letters")
            .rename_input("number", "numbers")
            .rename_output("pair", "pairs")
            .map_over(["letters", "numbers"])
            .map_mode(mode)
    ]
    .unwrap()
}

/// A map inside a map: for each list of xs, the doubled values and their total.
pub fn nested_maps() -> Pipeline {
    let inner = map_double("xs");
    pipeline![
        inner
            .as_node("per_list")
            .rename_input("xs", "lists")
            .rename_output("all_doubled", "doubled_lists")
            .rename_output("all_incremented", "incremented_lists")
            .rename_output("total", "totals")
            .map_over(["lists"])
    ]
    .unwrap()
}

/// `divide` mapped over `bs` (node `divide_all`, `a` shared by every item).
pub fn divide_all() -> Pipeline {
    pipeline![
        pipeline![divide::node()]
            .unwrap()
            .as_node("divide_all")
            .rename_input("b", "bs")
            .map_over(["bs"])
    ]
    .unwrap()
}

/// The async `slow_len` mapped over `words` into `word_lengths`.
pub fn word_lengths() -> Pipeline {
    pipeline![
        pipeline![slow_len::node()]
            .unwrap()
            .as_node("lens")
            .rename_input("word", "words")
            .rename_output("slow_len", "word_lengths")
            .map_over(["words"])
    ]
    .unwrap()
}

pub fn encode_all() -> Pipeline {
    pipeline![
        pipeline![encode::node()]
            .unwrap()
            .as_node("encode_all")
            .rename_input("passage", "passages")
            .rename_output("encoded", "encoded_all")
            .map_over(["passages"]),
        lengths::node(),
    ]
    .unwrap()
}

/// `scale` mapped over each list of `lists` with that list's own factor:
/// the constant input changes from one outer item to the next inside one
/// chunk of inner items.
pub fn scale_lists() -> Pipeline {
    let per_list = pipeline![
        pipeline![scale::node()]
            .unwrap()
            .as_node("scale_each")
            .rename_input("x", "xs")
            .rename_output("scaled", "scaled_xs")
            .map_over(["xs"])
    ]
    .unwrap();
    pipeline![
        per_list
            .as_node("scale_lists")
            .rename_input("xs", "lists")
            .rename_input("factor", "factors")
            .rename_output("scaled_xs", "scaled_lists")
            .map_over(["lists", "factors"])
    ]
    .unwrap()
}

#[node(output = "vector")]
pub fn vector_of(word: String) -> Floats {
    Floats::from(word.chars().map(|c| c as u32 as f32).collect::<Vec<_>>())
}

#[node(output = "vector_sum")]
pub fn vector_sum(vectors: &[Floats]) -> f32 {
    vectors.iter().flat_map(|v| v.iter()).sum()
}

/// `vector_of` mapped over `words` into `vectors` (Arrow-backed
/// [`Floats`]), summed by `vector_sum`.
pub fn word_vectors() -> Pipeline {
    pipeline![
        pipeline![vector_of::node()]
            .unwrap()
            .as_node("vectors_of_words")
            .rename_input("word", "words")
            .rename_output("vector", "vectors")
            .map_over(["words"]),
        vector_sum::node(),
    ]
    .unwrap()
}

pub fn passages(n: usize) -> Vec<Passage> {
    (0..n)
        .map(|i| Passage {
            uuid: format!("p{i}"),
            text: "ab".repeat(i % 4),
        })
        .collect()
}

/// The shared case named `name`.
pub fn case(name: &str) -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no shared case '{name}'"))
}

/// One test per shared case, in the module `$module`, each calling
/// `$check(case)`, so that the first failing case does not hide the others;
/// `every_case_has_its_test` fails when a case is added to [`cases`]
/// without a name here. (Not every test binary that shares this module
/// uses it.)
#[allow(unused_macros)]
macro_rules! test_each_case {
    ($module:ident, $check:expr) => {
        mod $module {
            use super::*;
            test_each_case!(@tests $check;
                chain diamond multiple_outputs reference_parameters_and_strings
                map_zip_single_list map_over_empty_list map_product nested_maps
                structs_resources_and_batches nested_unmapped_with_renames
                top_level_bind_overridden_and_nested_bind_kept zip_of_two_lists_and_a_shared_input
                enums_with_data_mapped_and_broadcast async_nodes_mapped
                constant_input_changing_between_outer_items floats_mapped_and_collected);
        }
    };
    (@tests $check:expr; $($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                let check: fn(common::Case) = $check;
                check(common::case(stringify!($name)));
            }
        )*

        #[test]
        fn every_case_has_its_test() {
            let tested = [$(stringify!($name)),*];
            let cases: Vec<&str> = common::cases().iter().map(|c| c.name).collect();
            assert_eq!(tested.to_vec(), cases);
        }
    };
}
#[allow(unused_imports)]
pub(crate) use test_each_case;

pub fn cases() -> Vec<Case> {
    use serde_json::json;
    vec![
        Case {
            name: "chain",
            pipeline: chain(),
            inputs: Inputs::new().with("x", 5i64),
            expected: json!({"doubled": 10, "incremented": 11}),
        },
        Case {
            name: "diamond",
            pipeline: diamond(),
            inputs: Inputs::new().with("x", 3i64),
            expected: json!({"doubled": 6, "incremented": 7, "sum": 13}),
        },
        Case {
            name: "multiple_outputs",
            pipeline: pipeline![divide::node()].unwrap(),
            inputs: Inputs::new().with("a", 17i64).with("b", 5i64),
            expected: json!({"quotient": 3, "remainder": 2}),
        },
        Case {
            name: "reference_parameters_and_strings",
            pipeline: pipeline![greet::node()].unwrap(),
            inputs: Inputs::new()
                .with("name", "שלום".to_string())
                .with("punctuation", "!".to_string()),
            expected: json!({"greeting": "hello שלום!"}),
        },
        Case {
            name: "map_zip_single_list",
            pipeline: map_double("xs"),
            inputs: Inputs::new().with("xs", vec![3i64, 1, 2]),
            expected: json!({"all_doubled": [6, 2, 4], "all_incremented": [7, 3, 5], "total": 12}),
        },
        Case {
            name: "map_over_empty_list",
            pipeline: map_double("xs"),
            inputs: Inputs::new().with("xs", Vec::<i64>::new()),
            expected: json!({"all_doubled": [], "all_incremented": [], "total": 0}),
        },
        Case {
            name: "map_product",
            pipeline: mapped_pairs(MapMode::Product),
            inputs: Inputs::new()
                .with("letters", vec!["a".to_string(), "b".to_string()])
                .with("numbers", vec![1i64, 2, 3]),
            expected: json!({"pairs": ["a1", "a2", "a3", "b1", "b2", "b3"]}),
        },
        Case {
            name: "nested_maps",
            pipeline: nested_maps(),
            inputs: Inputs::new().with("lists", vec![vec![1i64, 2], vec![], vec![5]]),
            expected: json!({
                "doubled_lists": [[2, 4], [], [10]],
                "incremented_lists": [[3, 5], [], [11]],
                "totals": [6, 0, 10]
            }),
        },
        Case {
            name: "structs_resources_and_batches",
            pipeline: encode_all(),
            inputs: Inputs::new()
                .with("passages", passages(3))
                .with("model", Res::new(ScaleModel { factor: 0.5 })),
            expected: json!({
                "encoded_all": [
                    {"uuid": "p0", "embedding": [], "note": "empty"},
                    {"uuid": "p1", "embedding": [48.5, 49.0], "note": null},
                    {"uuid": "p2", "embedding": [48.5, 49.0, 48.5, 49.0], "note": null}
                ],
                "lengths": [0, 2, 4]
            }),
        },
        Case {
            name: "nested_unmapped_with_renames",
            pipeline: pipeline![
                chain()
                    .as_node("inner")
                    .rename_input("x", "start")
                    .rename_output("incremented", "end")
            ]
            .unwrap(),
            inputs: Inputs::new().with("start", 4i64),
            expected: json!({"doubled": 8, "end": 9}),
        },
        Case {
            name: "top_level_bind_overridden_and_nested_bind_kept",
            pipeline: pipeline![
                greet::node(),
                pipeline![greet::node()]
                    .unwrap()
                    .bind("punctuation", "!".to_string())
                    .unwrap()
                    .as_node("greeter")
                    .rename_input("name", "names")
                    .rename_output("greeting", "greetings")
                    .map_over(["names"]),
            ]
            .unwrap()
            .bind("punctuation", "?".to_string())
            .unwrap(),
            inputs: Inputs::new()
                .with("name", "dan".to_string())
                .with("names", vec!["a".to_string(), "b".to_string()]),
            expected: json!({"greeting": "hello dan?", "greetings": ["hello a!", "hello b!"]}),
        },
        Case {
            name: "zip_of_two_lists_and_a_shared_input",
            pipeline: pipeline![
                pipeline![pair::node(), greet::node()]
                    .unwrap()
                    .as_node("pairs")
                    .rename_input("letter", "letters")
                    .rename_input("number", "numbers")
                    .rename_input("name", "names")
                    .rename_output("pair", "pairs")
                    .rename_output("greeting", "greetings")
                    .map_over(["letters", "numbers", "names"])
            ]
            .unwrap(),
            inputs: Inputs::new()
                .with("letters", vec!["a".to_string(), "b".to_string(), "c".to_string()])
                .with("numbers", vec![1i64, 2, 3])
                .with("names", vec!["x".to_string(), "y".to_string(), "z".to_string()])
                .with("punctuation", ";".to_string()),
            expected: json!({
                "pairs": ["a1", "b2", "c3"],
                "greetings": ["hello x;", "hello y;", "hello z;"]
            }),
        },
        Case {
            name: "enums_with_data_mapped_and_broadcast",
            pipeline: measure_all(),
            inputs: Inputs::new()
                .with(
                    "shapes",
                    vec![Shape::Square(2.0), Shape::Point, Shape::Circle { radius: 1.0 }],
                )
                .with("scale", Scale::Factor(0.5)),
            expected: json!({
                "measured_all": [
                    {"shape": {"Square": 2.0}, "area": 2.0},
                    {"shape": "Point", "area": 0.0},
                    {"shape": {"Circle": {"radius": 1.0}}, "area": 1.5}
                ]
            }),
        },
        Case {
            name: "async_nodes_mapped",
            pipeline: word_lengths(),
            inputs: Inputs::new().with("words", vec!["a".to_string(), "בית".to_string(), "".to_string()]),
            expected: json!({"word_lengths": [1, 3, 0]}),
        },
        Case {
            name: "constant_input_changing_between_outer_items",
            pipeline: scale_lists(),
            inputs: Inputs::new()
                .with("lists", vec![vec![1i64, 2], vec![3], vec![], vec![4, 5], vec![6]])
                .with("factors", vec![10i64, 100, 7, 100, 1000]),
            expected: json!({"scaled_lists": [[10, 20], [300], [], [400, 500], [6000]]}),
        },
        Case {
            name: "floats_mapped_and_collected",
            pipeline: word_vectors(),
            inputs: Inputs::new().with("words", vec!["ab".to_string(), "".to_string(), "c".to_string()]),
            expected: json!({"vectors": [[97.0, 98.0], [], [99.0]], "vector_sum": 294.0}),
        },
    ]
}
