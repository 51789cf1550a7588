//! The Ballista engine on real clusters: a scheduler and executors started
//! as processes on loopback, and the in-process standalone cluster.
//!
//! The executors must link the test nodes, so this test binary is its own
//! cluster binary: started with `NODEFUSION_TEST_CLUSTER_PROCESS` set, it
//! runs `nodefusion_ballista::cluster::main()` instead of the tests (hence
//! `harness = false` and the small runner at the bottom).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::*;
use nodefusion::cache::Cache;
use nodefusion::{DataFusionEngine, Engine, Error, Inputs, MapMode, Node, Pipeline, SequentialEngine, node, pipeline};
use nodefusion_ballista::BallistaEngine;
use nodefusion_ballista::local::{ExecutorHost, LocalCluster, LocalClusterOptions};

/// Set in the cluster processes this binary starts.
const ROLE: &str = "NODEFUSION_TEST_CLUSTER_PROCESS";

fn cluster_with(executors: usize, configure: impl FnOnce(&mut LocalClusterOptions)) -> LocalCluster {
    let binary = std::env::current_exe().expect("the test binary's path");
    let mut options = LocalClusterOptions::new(binary, executors);
    options.env.push((ROLE.into(), "1".into()));
    configure(&mut options);
    LocalCluster::start(options).unwrap_or_else(|e| panic!("cannot start the cluster: {e}"))
}

fn cluster(executors: usize) -> LocalCluster {
    cluster_with(executors, |_| {})
}

/// `node` mapped over the list `xs` (its input `x`), as the nested node `name`.
fn map_over_xs(name: &str, node: Node) -> Pipeline {
    pipeline![
        pipeline![node]
            .unwrap()
            .as_node(name)
            .rename_input("x", "xs")
            .map_over(["xs"])
    ]
    .unwrap()
}

/// Where an item ran: the executor's id and the process id.
#[node(output = "ran_at")]
fn where_am_i(x: i64) -> String {
    let executor = std::env::var("NODEFUSION_EXECUTOR_ID").unwrap_or_else(|_| "client".into());
    format!("{executor}/{}/{x}", std::process::id())
}

/// [`where_am_i`], cached: a value read from the cache names the process
/// that computed it.
#[node(output = "ran_at", cache)]
fn where_cached(x: i64) -> String {
    where_am_i(x)
}

/// Sleeps a while per item, so that a run lasts long enough to lose an
/// executor in the middle of it.
#[node(output = "slow")]
fn slow_square(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(60));
    x * x
}

fn sequential(pipeline: &Pipeline, inputs: Inputs) -> std::collections::BTreeMap<String, serde_json::Value> {
    SequentialEngine::default()
        .with_progress(false)
        .run(pipeline, inputs, None)
        .unwrap()
        .to_json()
}

fn assert_shared_cases_match(engine: &BallistaEngine, logs: impl Fn() -> String) {
    for case in cases() {
        let want = sequential(&case.pipeline, case.inputs.clone());
        let got = engine
            .run(&case.pipeline, case.inputs, None)
            .unwrap_or_else(|e| panic!("case {}: {e}\n{}", case.name, logs()))
            .to_json();
        assert_eq!(got, want, "case {}", case.name);
    }
}

fn assert_errors_keep_their_kind(engine: &BallistaEngine) {
    let mapped = divide_all();
    let inputs = Inputs::new().with("a", 6i64).with("bs", vec![1i64, 2, 0, 3]);
    let error = engine.run(&mapped, inputs, None).unwrap_err();
    assert!(matches!(error, Error::NodeFailed { item: Some(2), .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "node 'divide_all/divide' failed on item 2: cannot divide 6 by zero"
    );

    let zipped = mapped_pairs(MapMode::Zip);
    let inputs = Inputs::new()
        .with("letters", vec!["a".to_string()])
        .with("numbers", vec![1i64, 2]);
    let error = engine.run(&zipped, inputs, None).unwrap_err();
    assert!(matches!(error, Error::MapLengthMismatch { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "'pairs' maps over lists of different lengths in zip mode: 'letters' has 1, 'numbers' has 2"
    );
}

fn spread_same_results_and_errors_on_two_executors() {
    let cluster = cluster(2);
    let engine = cluster.engine();
    let probe = map_over_xs("probe", where_am_i::node());
    let out = engine
        .run(&probe, Inputs::new().with("xs", (0..64i64).collect::<Vec<_>>()), None)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let ran_at: &Vec<String> = out.get("ran_at").unwrap();
    assert_eq!(ran_at.len(), 64);
    let mut executors = BTreeSet::new();
    for (i, at) in ran_at.iter().enumerate() {
        let parts: Vec<&str> = at.split('/').collect();
        assert_eq!(parts[2], i.to_string(), "outputs keep input order");
        assert_ne!(parts[1], std::process::id().to_string(), "an item ran in the client");
        executors.insert(parts[0].to_string());
    }
    assert_eq!(
        executors,
        BTreeSet::from(["executor-0".to_string(), "executor-1".to_string()]),
        "{ran_at:?}"
    );
    assert_shared_cases_match(&engine, || cluster.logs());
    assert_errors_keep_their_kind(&engine);
}

/// Executors open the run's cache by its URL: a run on a second cluster
/// (new processes) returns the values the first cluster computed, and an
/// in-process run afterwards finds every item there.
fn clusters_share_the_node_cache_through_its_url() {
    let dir = std::env::temp_dir().join(format!("nf-cluster-cache-{}", std::process::id()));
    let cache = Cache::in_dir(&dir).unwrap();
    let probe = map_over_xs("probe", where_cached::node());
    let inputs = || Inputs::new().with("xs", (0..24i64).collect::<Vec<_>>());
    let on_a_new_cluster = || {
        let cluster = cluster(2);
        let engine = cluster.engine().with_cache(cache.clone()).unwrap();
        let out = engine
            .run(&probe, inputs(), None)
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
        out.get::<Vec<String>>("ran_at").unwrap().clone()
    };
    let first = on_a_new_cluster();
    assert!(first.iter().all(|at| at.starts_with("executor-")), "{first:?}");
    assert_eq!(on_a_new_cluster(), first, "the second cluster computed again");
    let local = DataFusionEngine::new()
        .with_progress(false)
        .with_cache(cache.clone())
        .run(&probe, inputs(), None)
        .unwrap();
    assert_eq!(local.get::<Vec<String>>("ran_at").unwrap(), &first);
    assert_eq!(local.report().node("probe/where_cached").unwrap().cache_hits, 24);
    assert_eq!(cache.stats().unwrap()[0].entries, 24);
    std::fs::remove_dir_all(dir).ok();

    let in_memory = Cache::with_store(
        "memory",
        std::sync::Arc::new(object_store::memory::InMemory::new()),
        Default::default(),
    );
    let error = BallistaEngine::remote("df://localhost:1")
        .unwrap()
        .with_cache(in_memory)
        .unwrap_err();
    assert!(error.to_string().contains("no URL the executors could open"), "{error}");
}

fn a_node_the_cluster_lacks_or_has_in_another_version_fails_fast_by_name() {
    let cluster = cluster(1);
    let engine = cluster.engine();
    let unknown = Node::builder("adhoc")
        .id("tests::not_in_any_binary")
        .input::<i64>("x")
        .output::<i64>("y")
        .sync(|args, out| {
            out.push(args[0].clone());
            Ok(())
        })
        .build();
    let started = Instant::now();
    let error = engine
        .run(
            &map_over_xs("all", unknown),
            Inputs::new().with("xs", vec![1i64, 2]),
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(
        error.contains("tests::not_in_any_binary") && error.contains("not linked"),
        "{error}"
    );

    let registered = double::node();
    let other_version = Node::builder("double")
        .id(registered.id())
        .version(registered.version() ^ 1)
        .input::<i64>("x")
        .output::<i64>("doubled")
        .sync(|args, out| {
            out.push(args[0].clone());
            Ok(())
        })
        .build();
    let error = engine
        .run(&pipeline![other_version].unwrap(), Inputs::new().with("x", 1i64), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(registered.id())
            && error.contains(&format!("{:x}", registered.version()))
            && error.contains(&format!("{:x}", registered.version() ^ 1)),
        "{error}"
    );
}

fn an_unreachable_scheduler_is_a_clear_error_within_seconds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let engine = BallistaEngine::remote(&format!("df://127.0.0.1:{port}"))
        .unwrap()
        .with_progress(false);
    let started = Instant::now();
    let error = engine.run(&chain(), Inputs::new().with("x", 1i64), None).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let message = error.to_string();
    assert!(
        message.contains("cannot reach the scheduler") && message.contains(&port.to_string()),
        "{message}"
    );
}

fn losing_an_executor_mid_run_completes_on_the_other_or_fails_clearly() {
    let mut cluster = cluster(2);
    let engine = cluster.engine();
    let p = map_over_xs("squares", slow_square::node());
    // 240 items of 60 ms on 2 executors of 2 slots take about 4 s: the
    // executor dies with map tasks done (their shuffle output lost with it)
    // and others running.
    let xs: Vec<i64> = (0..240).collect();
    let started = Instant::now();
    let outcome = std::thread::scope(|s| {
        let run = s.spawn(|| engine.run(&p, Inputs::new().with("xs", xs.clone()), None));
        std::thread::sleep(Duration::from_millis(1500));
        cluster.kill_executor(1);
        run.join().unwrap()
    });
    match outcome {
        Ok(out) => {
            let want: Vec<i64> = xs.iter().map(|x| x * x).collect();
            assert_eq!(out.get::<Vec<i64>>("slow").unwrap(), &want);
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("ballista"), "{message}");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(120), "{:?}", started.elapsed());
}

fn losing_every_executor_fails_clearly_in_bounded_time() {
    let mut cluster = cluster(2);
    let engine = cluster.engine();
    let p = map_over_xs("squares", slow_square::node());
    let started = Instant::now();
    let outcome = std::thread::scope(|s| {
        let run = s.spawn(|| engine.run(&p, Inputs::new().with("xs", (0..200i64).collect::<Vec<_>>()), None));
        std::thread::sleep(Duration::from_millis(1500));
        cluster.kill_executor(0);
        cluster.kill_executor(1);
        run.join().unwrap()
    });
    let error = outcome.expect_err("no executor is left to finish the job");
    assert!(error.to_string().contains("ballista"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(90), "{:?}", started.elapsed());
}

fn an_input_over_the_message_limit_names_the_limit_or_runs_with_raised_limits() {
    let big: Vec<String> = (0..40).map(|i| format!("{i}").repeat(500_000)).collect();
    let lens = word_lengths();
    let want: Vec<usize> = big.iter().map(|w| w.chars().count()).collect();

    let small = cluster(1);
    let error = small
        .engine()
        .run(&lens, Inputs::new().with("words", big.clone()), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("message") && error.contains("16777216"), "{error}");
    drop(small);

    let large = cluster_with(1, |o| o.grpc_max_message_size = 128 * 1024 * 1024);
    let out = large
        .engine()
        .run(&lens, Inputs::new().with("words", big), None)
        .unwrap_or_else(|e| panic!("{e}\n{}", large.logs()));
    assert_eq!(out.get::<Vec<usize>>("word_lengths").unwrap(), &want);
}

fn the_standalone_cluster_gives_the_same_results_and_errors() {
    let engine = BallistaEngine::standalone()
        .unwrap()
        .with_target_partitions(3)
        .with_progress(false);
    assert_shared_cases_match(&engine, String::new);
    assert_errors_keep_their_kind(&engine);
}

/// Network namespaces of this test's own, each an executor host with its
/// own address on a bridge in this namespace; removed on drop.
struct TestNetwork {
    bridge: String,
    namespaces: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl TestNetwork {
    /// `hosts` namespaces at 10.213.0.2, .3, …; this namespace is 10.213.0.1.
    fn new(hosts: usize) -> Result<TestNetwork, String> {
        let tag = std::process::id() % 100_000;
        let mut network = TestNetwork {
            bridge: format!("nfbr{tag}"),
            namespaces: Vec::new(),
        };
        remove_stale_networks();
        // Frames between two executors cross the bridge: keep them out of
        // the host's iptables (a FORWARD policy of DROP would eat them).
        ip(&[
            "link",
            "add",
            &network.bridge,
            "type",
            "bridge",
            "nf_call_iptables",
            "0",
        ])?;
        ip(&["addr", "add", "10.213.0.1/24", "dev", &network.bridge])?;
        ip(&["link", "set", &network.bridge, "up"])?;
        for i in 0..hosts {
            let (ns, outside, inside) = (format!("nfns{tag}-{i}"), format!("nfh{tag}{i}"), format!("nfe{tag}{i}"));
            ip(&["netns", "add", &ns])?;
            network.namespaces.push(ns.clone());
            ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["link", "set", &outside, "master", &network.bridge, "up"])?;
            let address = format!("10.213.0.{}/24", i + 2);
            ip(&["netns", "exec", &ns, "ip", "addr", "add", &address, "dev", &inside])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inside, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(network)
    }
}

/// The `word`-th word of each line `ip ARGS` prints, without a trailing `:`.
fn ip_names(args: &[&str], word: usize) -> Vec<String> {
    let out = std::process::Command::new("ip").args(args).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(word))
        .map(|n| n.trim_end_matches(':').to_string())
        .collect()
}

/// Namespaces and bridges an earlier run of this test left behind (killed
/// before it could remove them): they would hold the same addresses.
fn remove_stale_networks() {
    for ns in ip_names(&["netns", "list"], 0)
        .into_iter()
        .filter(|n| n.starts_with("nfns"))
    {
        let _ = ip(&["netns", "del", &ns]);
    }
    // `ip -o link` lines read "6: nfbr123: <…>".
    for bridge in ip_names(&["-o", "link", "show", "type", "bridge"], 1)
        .into_iter()
        .filter(|n| n.starts_with("nfbr"))
    {
        let _ = ip(&["link", "del", &bridge]);
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

fn executors_on_their_own_hosts_in_network_namespaces() {
    let network = match TestNetwork::new(2) {
        Ok(network) => network,
        Err(why) => {
            println!("skipped: cannot make network namespaces here ({why})");
            return;
        }
    };
    let cluster = cluster_with(2, |o| {
        o.scheduler_address = "10.213.0.1".into();
        o.executor_hosts = network
            .namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| ExecutorHost {
                netns: Some(ns.clone()),
                address: format!("10.213.0.{}", i + 2),
            })
            .collect();
    });
    let engine = cluster.engine();
    let probe = map_over_xs("probe", where_am_i::node());
    let out = engine
        .run(&probe, Inputs::new().with("xs", (0..32i64).collect::<Vec<_>>()), None)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let ran_at: &Vec<String> = out.get("ran_at").unwrap();
    let executors: BTreeSet<&str> = ran_at.iter().map(|at| at.split('/').next().unwrap()).collect();
    assert_eq!(executors, BTreeSet::from(["executor-0", "executor-1"]), "{ran_at:?}");
    // A shuffle between the two hosts, and results fetched from them.
    assert_shared_cases_match(&engine, || cluster.logs());
    drop(cluster);
    drop(network);
}

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    (
        "clusters_share_the_node_cache_through_its_url",
        clusters_share_the_node_cache_through_its_url,
    ),
    (
        "the_standalone_cluster_gives_the_same_results_and_errors",
        the_standalone_cluster_gives_the_same_results_and_errors,
    ),
    (
        "spread_same_results_and_errors_on_two_executors",
        spread_same_results_and_errors_on_two_executors,
    ),
    (
        "a_node_the_cluster_lacks_or_has_in_another_version_fails_fast_by_name",
        a_node_the_cluster_lacks_or_has_in_another_version_fails_fast_by_name,
    ),
    (
        "an_unreachable_scheduler_is_a_clear_error_within_seconds",
        an_unreachable_scheduler_is_a_clear_error_within_seconds,
    ),
    (
        "an_input_over_the_message_limit_names_the_limit_or_runs_with_raised_limits",
        an_input_over_the_message_limit_names_the_limit_or_runs_with_raised_limits,
    ),
    (
        "losing_an_executor_mid_run_completes_on_the_other_or_fails_clearly",
        losing_an_executor_mid_run_completes_on_the_other_or_fails_clearly,
    ),
    (
        "losing_every_executor_fails_clearly_in_bounded_time",
        losing_every_executor_fails_clearly_in_bounded_time,
    ),
    (
        "executors_on_their_own_hosts_in_network_namespaces",
        executors_on_their_own_hosts_in_network_namespaces,
    ),
];

fn main() -> ExitCode {
    if std::env::var_os(ROLE).is_some() {
        return nodefusion_ballista::cluster::main();
    }
    // The arguments libtest would take: name filters; flags are ignored.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let started = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let outcome = std::panic::catch_unwind(test);
        println!("test {name} ... {}", if outcome.is_ok() { "ok" } else { "FAILED" });
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        TESTS.len() - selected.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
