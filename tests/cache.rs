//! The node cache: same results with and without it on both engines, one
//! entry per item, lazy resources, damaged entries and concurrent runs.

mod common;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::dag::{DagSpec, INPUTS, dag_strategy, value_name};
use common::*;
use nodefusion::cache::Cache;
use nodefusion::{DataFusionEngine, Engine, Inputs, Node, Outputs, Pipeline, Res, SequentialEngine, node, pipeline};
use proptest::prelude::*;

/// A fresh cache directory, removed when dropped.
struct TempCache {
    dir: PathBuf,
    cache: Cache,
}

impl TempCache {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nf-cache-test-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = Cache::in_dir(&dir).unwrap();
        TempCache { dir, cache }
    }

    /// Every entry file, sorted.
    fn entries(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, &mut out);
        out.sort();
        out
    }
}

impl Drop for TempCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sequential(cache: &Cache) -> SequentialEngine {
    SequentialEngine::default()
        .with_progress(false)
        .with_cache(cache.clone())
}

fn datafusion(cache: &Cache) -> DataFusionEngine {
    DataFusionEngine::new()
        .with_progress(false)
        .with_target_partitions(2)
        .with_batch_size(4)
        .with_cache(cache.clone())
}

fn engines(cache: &Cache) -> Vec<(&'static str, Box<dyn Engine + Send + Sync>)> {
    vec![
        ("sequential", Box::new(sequential(cache))),
        ("datafusion", Box::new(datafusion(cache))),
    ]
}

/// Batch calls of `cube` and the items each got.
static CUBE_BATCHES: Mutex<Vec<Vec<i64>>> = Mutex::new(Vec::new());

#[node(output = "cubed", batch = cube_all, cache)]
fn cube(x: i64) -> i64 {
    x * x * x
}

#[nodefusion::batch]
fn cube_all(x: Vec<i64>) -> Vec<i64> {
    CUBE_BATCHES.lock().unwrap().push(x.clone());
    x.into_iter().map(|x| x * x * x).collect()
}

fn cubes() -> Pipeline {
    pipeline![
        pipeline![cube::node().with_batch_size(3)]
            .unwrap()
            .as_node("cubes")
            .rename_input("x", "xs")
            .rename_output("cubed", "all_cubed")
            .map_over(["xs"]),
        total_cubes::node()
    ]
    .unwrap()
}

#[node(output = "total")]
fn total_cubes(all_cubed: Vec<i64>) -> i64 {
    all_cubed.iter().sum()
}

fn hits(out: &Outputs, node: &str) -> u64 {
    out.report().node(node).map_or(0, |n| n.cache_hits)
}

#[test]
fn a_mapped_node_computes_only_the_items_it_has_not_seen() {
    // One test drives `cube` (its batch log is global): the sequential
    // engine first, then DataFusion on the same cache.
    let temp = TempCache::new("per-item");
    let xs: Vec<i64> = (1..=10).collect();
    let out = sequential(&temp.cache)
        .run(&cubes(), Inputs::new().with("xs", xs.clone()), None)
        .unwrap();
    assert_eq!(
        out.get::<Vec<i64>>("all_cubed").unwrap(),
        &xs.iter().map(|x| x * x * x).collect::<Vec<_>>()
    );
    assert_eq!(hits(&out, "cubes/cube"), 0);
    assert_eq!(temp.cache.stats().unwrap()[0].entries, 10);
    CUBE_BATCHES.lock().unwrap().clear();

    // Two new items in the middle and one at the end: only they are
    // computed, in one batch call, and the list keeps its order.
    let more: Vec<i64> = vec![1, 2, 3, 100, 4, 5, 6, 7, 101, 8, 9, 10, 102];
    let out = datafusion(&temp.cache)
        .run(&cubes(), Inputs::new().with("xs", more.clone()), None)
        .unwrap();
    let want: Vec<i64> = more.iter().map(|x| x * x * x).collect();
    assert_eq!(out.get::<Vec<i64>>("all_cubed").unwrap(), &want);
    assert_eq!(out.get::<i64>("total").unwrap(), &want.iter().sum::<i64>());
    assert_eq!(hits(&out, "cubes/cube"), 10);
    let mut computed: Vec<i64> = CUBE_BATCHES.lock().unwrap().concat();
    computed.sort();
    assert_eq!(
        computed,
        vec![100, 101, 102],
        "only the new items reach the batch implementation"
    );
    assert_eq!(temp.cache.stats().unwrap()[0].entries, 13);
}

fn encode_passages() -> Pipeline {
    pipeline![
        pipeline![encode::node().with_cache(true)]
            .unwrap()
            .as_node("encode_all")
            .rename_input("passage", "passages")
            .rename_output("encoded", "encoded_all")
            .map_over(["passages"]),
    ]
    .unwrap()
}

fn passages(n: usize) -> Vec<Passage> {
    (0..n)
        .map(|i| Passage {
            uuid: format!("p{i}"),
            text: "שלום".repeat(i % 3),
        })
        .collect()
}

#[test]
fn a_run_whose_calls_all_hit_never_loads_the_resource() {
    for (name, factor) in [("sequential", 11.5f32), ("datafusion", 12.5)] {
        let temp = TempCache::new("lazy");
        let engine: Box<dyn Engine> = if name == "sequential" {
            Box::new(sequential(&temp.cache))
        } else {
            Box::new(datafusion(&temp.cache))
        };
        let inputs = || {
            Inputs::new()
                .with("passages", passages(7))
                .with("model", Res::new(ScaleModel { factor }))
        };
        let first = engine.run(&encode_passages(), inputs(), None).unwrap();
        assert_eq!(scale_loads(factor), 1, "{name}");
        let second = engine.run(&encode_passages(), inputs(), None).unwrap();
        assert_eq!(
            scale_loads(factor),
            1,
            "{name}: every encoding was cached, the model stays unloaded"
        );
        assert_eq!(hits(&second, "encode_all/encode"), 7, "{name}");
        assert_eq!(second.to_json(), first.to_json(), "{name}");

        // Another model config is another key.
        let other = Inputs::new()
            .with("passages", passages(7))
            .with("model", Res::new(ScaleModel { factor: factor + 100.0 }));
        let third = engine.run(&encode_passages(), other, None).unwrap();
        assert_eq!(hits(&third, "encode_all/encode"), 0, "{name}");
    }
}

#[test]
fn damaged_entries_are_computed_again_never_read_wrong() {
    let temp = TempCache::new("damaged");
    let xs: Vec<i64> = (1..=6).collect();
    let engine = sequential(&temp.cache);
    let want = engine
        .run(&squares(), Inputs::new().with("xs", xs.clone()), None)
        .unwrap()
        .to_json();
    let entries = temp.entries();
    assert_eq!(entries.len(), 6);
    // One truncated, one with a flipped byte, one emptied, one replaced by
    // another entry's bytes of another length.
    let bytes = std::fs::read(&entries[0]).unwrap();
    std::fs::write(&entries[0], &bytes[..bytes.len() / 2]).unwrap();
    // The byte flipped lies in the value itself (the last buffer before the
    // stream's 8-byte end marker): only the checksum tells.
    let mut flipped = std::fs::read(&entries[1]).unwrap();
    let inside_the_value = flipped.len() - 12;
    flipped[inside_the_value] ^= 0x40;
    std::fs::write(&entries[1], flipped).unwrap();
    std::fs::write(&entries[2], b"").unwrap();
    std::fs::write(&entries[3], b"NFCACHE1 but nothing else").unwrap();

    for (name, engine) in engines(&temp.cache) {
        let out = engine
            .run(&squares(), Inputs::new().with("xs", xs.clone()), None)
            .unwrap();
        assert_eq!(out.to_json(), want, "{name}");
    }
    // The damaged entries were written again: all hit now.
    let out = engine.run(&squares(), Inputs::new().with("xs", xs), None).unwrap();
    assert_eq!(hits(&out, "squares/square"), 6);
}

#[node(output = "squared", cache)]
fn square(x: i64) -> i64 {
    x * x
}

fn squares() -> Pipeline {
    pipeline![
        pipeline![square::node()]
            .unwrap()
            .as_node("squares")
            .rename_input("x", "xs")
            .rename_output("squared", "all_squared")
            .map_over(["xs"]),
    ]
    .unwrap()
}

#[test]
fn two_runs_writing_one_cache_at_once_both_get_their_results() {
    let temp = TempCache::new("concurrent");
    let xs: Vec<i64> = (0..200).collect();
    let want: Vec<i64> = xs.iter().map(|x| x * x).collect();
    std::thread::scope(|s| {
        let runs: Vec<_> = engines(&temp.cache)
            .into_iter()
            .map(|(name, engine)| {
                let xs = xs.clone();
                s.spawn(move || {
                    (
                        name,
                        engine.run(&squares(), Inputs::new().with("xs", xs), None).unwrap(),
                    )
                })
            })
            .collect();
        for run in runs {
            let (name, out) = run.join().unwrap();
            assert_eq!(out.get::<Vec<i64>>("all_squared").unwrap(), &want, "{name}");
        }
    });
    let out = sequential(&temp.cache)
        .run(&squares(), Inputs::new().with("xs", xs), None)
        .unwrap();
    assert_eq!(hits(&out, "squares/square"), 200);
    assert_eq!(temp.cache.stats().unwrap()[0].entries, 200);
}

/// A node `id` at `version` adding `add` to its input, counting its calls.
fn versioned(version: u64, add: i64, calls: &'static AtomicUsize) -> Node {
    Node::builder("shift")
        .id("cache_test::shift")
        .version(version)
        .input::<i64>("x")
        .output::<i64>("shifted")
        .sync(move |args, out| {
            calls.fetch_add(1, Ordering::SeqCst);
            out.push(nodefusion::Value::new(*args[0].downcast_ref::<i64>().unwrap() + add));
            Ok(())
        })
        .cache(true)
        .build()
}

#[node(output = "squared", cache)]
fn square_shifted(shifted: i64) -> i64 {
    shifted * shifted
}

#[test]
fn a_new_version_of_a_node_recomputes_it_and_its_consumers_only() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let temp = TempCache::new("versions");
    let run = |version: u64, add: i64| {
        let p = pipeline![versioned(version, add, &CALLS), square_shifted::node()].unwrap();
        sequential(&temp.cache)
            .run(&p, Inputs::new().with("x", 3i64), None)
            .unwrap()
    };
    assert_eq!(run(1, 1).get::<i64>("squared").unwrap(), &16);
    let again = run(1, 1);
    assert_eq!((hits(&again, "shift"), hits(&again, "square_shifted")), (1, 1));
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);

    // A new body (version) with the same result: it runs again, its
    // consumer's input is unchanged, so the consumer hits.
    let same = run(2, 1);
    assert_eq!((hits(&same, "shift"), hits(&same, "square_shifted")), (0, 1));
    // A new body with another result: both run.
    let changed = run(3, 2);
    assert_eq!(changed.get::<i64>("squared").unwrap(), &25);
    assert_eq!((hits(&changed, "shift"), hits(&changed, "square_shifted")), (0, 0));
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
}

#[test]
fn stats_count_entries_per_node_and_clear_removes_them() {
    let temp = TempCache::new("stats");
    let engine = sequential(&temp.cache);
    engine
        .run(&squares(), Inputs::new().with("xs", vec![1i64, 2, 3]), None)
        .unwrap();
    let p = pipeline![versioned(1, 5, &UNUSED_CALLS)].unwrap();
    engine.run(&p, Inputs::new().with("x", 1i64), None).unwrap();
    let stats = temp.cache.stats().unwrap();
    let counts: Vec<(&str, u64)> = stats.iter().map(|s| (s.node.as_str(), s.entries)).collect();
    assert_eq!(counts, vec![("cache.square", 3), ("cache_test.shift", 1)]);
    assert!(stats.iter().all(|s| s.bytes > 0));
    assert_eq!(temp.cache.clear(Some("cache::square")).unwrap(), 3);
    assert_eq!(temp.cache.stats().unwrap().len(), 1);
    assert_eq!(temp.cache.clear(None).unwrap(), 1);
    assert!(temp.cache.stats().unwrap().is_empty());
}

static UNUSED_CALLS: AtomicUsize = AtomicUsize::new(0);

/// `spec`'s DAG with every node cached.
fn cached_dag(spec: &DagSpec) -> Pipeline {
    Pipeline::new(
        spec.order
            .iter()
            .map(|&i| nodefusion::Step::from(spec.node(i).with_cache(true))),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_pipelines_give_the_same_results_cold_and_warm_on_both_engines(
        spec in dag_strategy(6),
        inputs in proptest::array::uniform2(-50i64..50),
    ) {
        let temp = TempCache::new("dag");
        let want = spec.evaluate(inputs);
        let given = || (0..INPUTS).fold(Inputs::new(), |acc, i| acc.with(value_name(i), inputs[i]));
        for round in ["cold", "warm"] {
            for (name, engine) in engines(&temp.cache) {
                let out = engine.run(&cached_dag(&spec), given(), None).unwrap();
                for (i, value) in want.iter().enumerate() {
                    prop_assert_eq!(out.get::<i64>(&value_name(INPUTS + i)).unwrap(), value, "{} {}", round, name);
                }
            }
        }
        let stats = temp.cache.stats().unwrap();
        prop_assert_eq!(stats.iter().map(|s| s.entries).sum::<u64>() as usize, spec.nodes.len());
    }
}
