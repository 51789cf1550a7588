//! [`BallistaEngine`]: the DataFusion engine's plan, run on a Ballista
//! cluster.

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::config::BALLISTA_SCHEDULER_MAX_PARTITIONS_PER_TASK;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;
use nodefusion::cache::Cache;
use nodefusion::engine::PlannedRun;
use nodefusion::{DataFusionEngine, Engine, Error, Inputs, Outputs, Pipeline};
use tokio::runtime::Runtime;

use crate::cluster::ClusterFunctions;
use crate::codec::{logical_codec, physical_codec};

/// How long a run waits for the scheduler to accept a connection before
/// saying it cannot be reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs pipelines on a Ballista cluster: the plan the
/// [`DataFusionEngine`] builds, with each map shuffled by a hash of its
/// item positions so that its partitions are tasks spread over the
/// executors. Results, run errors and their kinds equal the embedded
/// engines'.
///
/// The executors must link the nodes of the pipeline: run this project's
/// `nodefusion-cluster` binary (it carries the retrieval nodes), or build
/// your own with [`cluster::main`](crate::cluster::main).
///
/// ```no_run
/// use nodefusion::{Engine, Inputs, node, pipeline};
/// use nodefusion_ballista::BallistaEngine;
///
/// #[node(output = "doubled")]
/// fn double(x: i64) -> i64 { x * 2 }
///
/// fn main() -> Result<(), nodefusion::Error> {
///     let per_x = pipeline![double::node()]?;
///     let p = pipeline![per_x.as_node("all").rename_input("x", "xs").map_over(["xs"])]?;
///     let engine = BallistaEngine::remote("df://localhost:50050")?;
///     let out = engine.run(&p, Inputs::new().with("xs", vec![1i64, 2, 3]), None)?;
///     assert_eq!(out.get::<Vec<i64>>("doubled")?, &vec![2, 4, 6]);
///     Ok(())
/// }
/// ```
pub struct BallistaEngine {
    scheduler: Scheduler,
    /// Where runs are driven, and where a standalone cluster lives: it
    /// ends with the runtime.
    runtime: Arc<Runtime>,
    target_partitions: usize,
    batch_size: usize,
    max_message_size: usize,
    progress: bool,
    cache: Option<Cache>,
}

/// The scheduler a run talks to.
#[derive(Clone, Debug)]
struct Scheduler {
    /// As the user gave it (`df://host:port`), for messages.
    url: String,
    host: String,
    port: u16,
}

impl std::fmt::Debug for BallistaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BallistaEngine")
            .field("scheduler", &self.scheduler.url)
            .field("target_partitions", &self.target_partitions)
            .finish()
    }
}

/// Room left in a message for what wraps the plan (session settings).
const ENVELOPE_BYTES: usize = 64 * 1024;

/// Ballista's default limit on one gRPC message: plans larger than this
/// (a large literal input) need a larger limit on every process.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

fn ballista_error(message: impl std::fmt::Display) -> Error {
    Error::Engine {
        engine: "ballista",
        message: message.to_string(),
    }
}

impl BallistaEngine {
    /// An engine for the cluster whose scheduler listens at `url`
    /// (`df://host:port`). Nothing connects until a run.
    pub fn remote(url: &str) -> Result<Self, Error> {
        let scheduler = parse_scheduler(url)?;
        Ok(Self::with_scheduler(scheduler, Arc::new(new_runtime()?)))
    }

    /// An engine with its own in-process cluster: a scheduler and one
    /// executor with a task slot per core, on loopback, living as long as
    /// the engine. Plans still cross the codecs as on a real cluster.
    pub fn standalone() -> Result<Self, Error> {
        Self::standalone_with(ClusterFunctions::default())
    }

    /// [`standalone`](Self::standalone), with a cluster that also knows
    /// `functions` (for [`sql_context`](Self::sql_context)).
    pub fn standalone_with(functions: ClusterFunctions) -> Result<Self, Error> {
        let runtime = Arc::new(new_runtime()?);
        let slots = std::thread::available_parallelism().map_or(1, |n| n.get());
        let port = runtime.block_on(start_standalone(slots, &functions))?;
        let scheduler = parse_scheduler(&format!("df://localhost:{port}"))?;
        Ok(Self::with_scheduler(scheduler, runtime))
    }

    fn with_scheduler(scheduler: Scheduler, runtime: Arc<Runtime>) -> Self {
        BallistaEngine {
            scheduler,
            runtime,
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
            batch_size: 1024,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            progress: true,
            cache: None,
        }
    }

    /// The scheduler's address, as given.
    pub fn scheduler_url(&self) -> &str {
        &self.scheduler.url
    }

    /// How many partitions, and so tasks, each map is shuffled into. Use
    /// at least the cluster's task slots. Defaults to the client's cores
    /// (at least 2).
    pub fn with_target_partitions(mut self, partitions: usize) -> Self {
        self.target_partitions = partitions.max(1);
        self
    }

    /// Rows per Arrow batch (see [`DataFusionEngine::with_batch_size`]).
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// The largest gRPC message the client sends or accepts (a plan
    /// carries the pipeline's inputs as literals). The scheduler and
    /// executors have limits of their own (`--grpc-max-message-size` of
    /// the cluster binary).
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Keeps the results of cached nodes in `cache`, which every executor
    /// opens by its [URL](Cache::url): executors that see one directory or
    /// one object store share it. A cache without a URL (made by
    /// [`Cache::with_store`]) is an error here, not a silent miss.
    pub fn with_cache(mut self, cache: Cache) -> Result<Self, Error> {
        if cache.url().is_none() {
            return Err(ballista_error(format!(
                "the node cache at {} has no URL the executors could open it with; use Cache::open or Cache::in_dir",
                cache.location()
            )));
        }
        self.cache = Some(cache);
        Ok(self)
    }

    /// Shows or hides the progress counters of the client.
    pub fn with_progress(mut self, enabled: bool) -> Self {
        self.progress = enabled;
        self
    }

    /// The DataFusion engine that lowers pipelines for this cluster.
    fn lowering(&self) -> DataFusionEngine {
        DataFusionEngine::new()
            .with_target_partitions(self.target_partitions)
            .with_batch_size(self.batch_size)
    }

    /// A Ballista session for `pipeline` on this engine's cluster, with
    /// nodefusion's codecs: give it to SQL, or register tables in it.
    pub async fn context(&self, pipeline: &Pipeline) -> Result<SessionContext, Error> {
        self.remote_context(self.lowering().session_config(pipeline)).await
    }

    /// A Ballista session on this engine's cluster with nodefusion's codecs,
    /// for SQL of one's own: register in it the functions the cluster was
    /// started with ([`ClusterFunctions`]), e.g. by
    /// `nodefusion_udfs::sql::register`. Tables must be files every
    /// executor can read.
    pub async fn sql_context(&self) -> Result<SessionContext, Error> {
        let config = SessionConfig::new()
            .with_target_partitions(self.target_partitions)
            .with_batch_size(self.batch_size);
        self.remote_context(config).await
    }

    /// A session on the cluster with `config` made fit for Ballista.
    async fn remote_context(&self, config: SessionConfig) -> Result<SessionContext, Error> {
        let state = SessionStateBuilder::new()
            .with_config(ballista_config(config, self.max_message_size))
            .with_default_features()
            .build();
        SessionContext::remote_with_state(&self.scheduler.url, state)
            .await
            .map_err(ballista_error)
    }

    /// Lowers `pipeline` for `inputs` into a plan on the cluster, without
    /// running it; its `dataframe` is a Ballista `DataFrame`.
    pub async fn plan(
        &self,
        pipeline: &Pipeline,
        inputs: &Inputs,
        select: Option<&[&str]>,
    ) -> Result<PlannedRun, Error> {
        let context = self.context(pipeline).await?;
        let engine = DataFusionEngine::with_context(context)
            .with_shuffled_maps(true)
            .with_progress(self.progress);
        match &self.cache {
            Some(cache) => engine.with_cache(cache.clone()).plan(pipeline, inputs, select),
            None => engine.plan(pipeline, inputs, select),
        }
    }

    /// Runs the pipeline on the cluster (async).
    pub async fn run_async(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        select: Option<&[&str]>,
    ) -> Result<Outputs, Error> {
        let planned = self.plan(pipeline, &inputs, select).await?;
        self.check_plan_size(&planned)?;
        self.check_reachable().await?;
        planned.collect().await.map_err(|error| match error {
            Error::Engine { message, .. } if message.contains("h2 protocol error") => ballista_error(format!(
                "{message} (a scheduler or executor refuses a message over its --grpc-max-message-size this way)"
            )),
            Error::Engine { message, .. } => ballista_error(message),
            Error::DataFusion(error) => ballista_error(error),
            other => other,
        })
    }

    /// A clear error, before anything is sent, when the job's plan (which
    /// carries the pipeline's inputs as literals) exceeds the message limit.
    fn check_plan_size(&self, planned: &PlannedRun) -> Result<(), Error> {
        let plan = planned.dataframe.logical_plan();
        let bytes = datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(plan, logical_codec().as_ref())
            .map_err(|e| ballista_error(format!("cannot serialise the plan: {e}")))?;
        // The submission wraps the plan with session settings.
        if bytes.len() + ENVELOPE_BYTES > self.max_message_size {
            return Err(ballista_error(format!(
                "the job's plan is {} bytes (the pipeline's inputs travel in it), over the gRPC message limit \
                 of {} bytes: raise the limit on the client (BallistaEngine::with_max_message_size) and on \
                 the cluster (--grpc-max-message-size), or pass large inputs by reference (a file's URI)",
                bytes.len(),
                self.max_message_size
            )));
        }
        Ok(())
    }

    /// A clear error, within [`CONNECT_TIMEOUT`], when nothing accepts
    /// connections at the scheduler's address.
    async fn check_reachable(&self) -> Result<(), Error> {
        let address = (self.scheduler.host.as_str(), self.scheduler.port);
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ballista_error(format!(
                "cannot reach the scheduler at {}: {e}",
                self.scheduler.url
            ))),
            Err(_) => Err(ballista_error(format!(
                "cannot reach the scheduler at {}: no answer within {CONNECT_TIMEOUT:?}",
                self.scheduler.url
            ))),
        }
    }
}

impl Engine for BallistaEngine {
    fn run(&self, pipeline: &Pipeline, inputs: Inputs, select: Option<&[&str]>) -> Result<Outputs, Error> {
        let run = || self.runtime.block_on(self.run_async(pipeline, inputs, select));
        if tokio::runtime::Handle::try_current().is_ok() {
            // Called from async code: block on a thread of our own.
            std::thread::scope(|s| s.spawn(run).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        } else {
            run()
        }
    }
}

/// `config` for a Ballista client with nodefusion's codecs.
pub(crate) fn ballista_config(config: SessionConfig, max_message_size: usize) -> SessionConfig {
    config
        .upgrade_for_ballista()
        // The adaptive planner runs a small input's map as a single stage
        // on one executor; the static planner makes every hash
        // repartition a shuffle stage whose tasks spread.
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(logical_codec())
        .with_ballista_physical_extension_codec(physical_codec())
        .with_ballista_grpc_client_max_message_size(max_message_size)
        // A task per partition: the scheduler would otherwise pack as many
        // partitions into one task as the first executor has free slots,
        // and a map of `executors × slots` partitions could run on one.
        .set_usize(BALLISTA_SCHEDULER_MAX_PARTITIONS_PER_TASK, 1)
}

fn new_runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("nodefusion-ballista")
        .enable_all()
        .build()
        .map_err(|e| ballista_error(format!("cannot start a runtime: {e}")))
}

/// Host and port of a `df://host:port` URL (port 50050 when absent).
fn parse_scheduler(url: &str) -> Result<Scheduler, Error> {
    let bad = |why: &str| ballista_error(format!("scheduler URL '{url}' {why}; expected df://HOST:PORT"));
    let parsed = url::Url::parse(url).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if parsed.scheme() != "df" {
        return Err(bad("does not start with df://"));
    }
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        return Err(bad("has a path"));
    }
    let host = match parsed.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(host) => host.to_string(),
        None => return Err(bad("has no host")),
    };
    Ok(Scheduler {
        url: url.to_string(),
        host,
        port: parsed.port().unwrap_or(50050),
    })
}

/// Starts an in-process scheduler and an executor with `slots` task slots,
/// both with nodefusion's codecs; returns the scheduler's port.
async fn start_standalone(slots: usize, functions: &ClusterFunctions) -> Result<u16, Error> {
    let config = ballista_config(SessionConfig::new(), DEFAULT_MAX_MESSAGE_SIZE);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    functions
        .register(&mut state)
        .map_err(|e| ballista_error(format!("cannot register the cluster's functions: {e}")))?;
    let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .map_err(|e| ballista_error(format!("cannot start the standalone scheduler: {e}")))?;
    let url = format!("http://localhost:{}", address.port());
    let mut attempts = 0;
    let client = loop {
        match ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient::connect(url.clone()).await {
            Ok(client) => break client,
            Err(e) if attempts >= 50 => {
                return Err(ballista_error(format!(
                    "the standalone scheduler at {url} did not answer: {e}"
                )));
            }
            Err(_) => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    ballista_executor::new_standalone_executor_from_state(client, slots, &state)
        .await
        .map_err(|e| ballista_error(format!("cannot start the standalone executor: {e}")))?;
    Ok(address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_urls_are_read_as_users_type_them() {
        let s = parse_scheduler("df://localhost:50050").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("localhost", 50050));
        let s = parse_scheduler("df://10.0.0.5").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("10.0.0.5", 50050));
        let s = parse_scheduler("df://[::1]:7000/").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 7000));
        for bad in [
            "localhost:50050",
            "df://",
            "df://host:port",
            "df://host:1/path",
            "http://h:1",
        ] {
            let error = parse_scheduler(bad).unwrap_err().to_string();
            assert!(error.contains(bad) && error.contains("df://HOST:PORT"), "{error}");
        }
    }
}
