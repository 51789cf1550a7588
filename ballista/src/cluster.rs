//! The processes of a cluster: a Ballista scheduler and executors that
//! carry the nodes linked into the binary, with nodefusion's codecs.
//!
//! One binary has both roles as subcommands, so that its scheduler (which
//! decodes every job's plan) and its executors (which run the nodes)
//! always link the same nodes. Flags are spelled as Ballista's own
//! `ballista-scheduler` and `ballista-executor` spell them.
//!
//! An executor for your own nodes is a binary that links the crate
//! defining them and calls [`main`]:
//!
//! ```no_run
//! // src/bin/my-cluster.rs, in a crate that depends on nodefusion-ballista
//! // and on `my_nodes`, the crate with your #[node] functions.
//! # mod my_nodes {}
//! use my_nodes as _; // links the nodes, so the registry has them
//!
//! fn main() -> std::process::ExitCode {
//!     nodefusion_ballista::cluster::main()
//! }
//! ```
//!
//! Then `my-cluster scheduler --bind-port 50050` on one machine and
//! `my-cluster executor --scheduler-host HOST --scheduler-port 50050` on
//! each of the others.
//!
//! SQL functions of your own (the retrieval functions of
//! `nodefusion_udfs::sql`, say) travel in plans by name: give them to
//! [`main_with`], so that the scheduler can decode plans that name them and
//! the executors can run them.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::start_server;
use clap::{Args, Parser, Subcommand, ValueEnum};
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionConfig;

use crate::codec::{logical_codec, physical_codec};
use crate::engine::DEFAULT_MAX_MESSAGE_SIZE;

/// A Ballista scheduler or executor carrying this binary's nodefusion nodes.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct ClusterCli {
    /// Which process to run.
    #[command(subcommand)]
    pub role: Role,
    /// Log filter (`RUST_LOG` syntax); `RUST_LOG` wins when set.
    #[arg(long, global = true, default_value = "info")]
    pub log_level_setting: String,
}

/// The two processes of a cluster.
#[derive(Subcommand, Debug)]
pub enum Role {
    /// Runs the scheduler: accepts jobs, plans them and hands tasks out.
    Scheduler(SchedulerArgs),
    /// Runs an executor: registers with the scheduler and runs tasks.
    Executor(ExecutorArgs),
}

/// How the scheduler hands tasks to executors.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskDistribution {
    /// Fill one executor's free slots before the next (Ballista's default).
    Bias,
    /// One task per executor in turn: a map spreads over the whole cluster.
    RoundRobin,
}

/// The scheduler's flags.
#[derive(Args, Debug, Clone)]
pub struct SchedulerArgs {
    /// Local host name or IP address to bind to.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_host: String,
    /// Host name or IP address at which executors and clients reach this scheduler.
    #[arg(long, default_value = "localhost")]
    pub external_host: String,
    /// Scheduler bind port.
    #[arg(short = 'p', long, default_value_t = 50050)]
    pub bind_port: u16,
    /// How tasks are handed to executor slots.
    #[arg(long, value_enum, default_value_t = TaskDistribution::RoundRobin)]
    pub task_distribution: TaskDistribution,
    /// Seconds without a heartbeat after which an executor counts as lost.
    #[arg(long, default_value_t = 180)]
    pub executor_timeout_seconds: u64,
    /// Interval, in seconds, to check for lost executors.
    #[arg(long, default_value_t = 15)]
    pub expire_dead_executor_interval_seconds: u64,
    /// Seconds to wait for an executor after the last one is lost before
    /// failing running jobs (defaults to --executor-timeout-seconds).
    #[arg(long)]
    pub no_executors_grace_period_seconds: Option<u64>,
    /// Attempts of a task before its job fails.
    #[arg(long, default_value_t = 4)]
    pub task_max_failures: usize,
    /// Largest gRPC message, in bytes, the scheduler accepts (a job's plan
    /// carries the pipeline's inputs) and sends.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_SIZE as u32)]
    pub grpc_max_message_size: u32,
}

/// The executor's flags.
#[derive(Args, Debug, Clone)]
pub struct ExecutorArgs {
    /// Scheduler host.
    #[arg(long, default_value = "localhost")]
    pub scheduler_host: String,
    /// Scheduler port.
    #[arg(long, default_value_t = 50050)]
    pub scheduler_port: u16,
    /// Local IP address to bind to.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_host: String,
    /// Host name or IP address at which the scheduler, clients and other
    /// executors reach this executor (defaults to the scheduler's view of it).
    #[arg(long)]
    pub external_host: Option<String>,
    /// Identifier for this executor (a fresh UUID by default).
    #[arg(long = "id")]
    pub executor_id: Option<String>,
    /// Port of the Arrow Flight service (results and shuffle data).
    #[arg(short = 'p', long, default_value_t = 50051)]
    pub bind_port: u16,
    /// Port of the gRPC service.
    #[arg(long, default_value_t = 50052)]
    pub bind_grpc_port: u16,
    /// How long to keep trying to reach the scheduler at start.
    #[arg(long, default_value_t = 30)]
    pub scheduler_connect_timeout_seconds: u16,
    /// Directory for shuffle files (a temporary directory by default).
    #[arg(long)]
    pub work_dir: Option<String>,
    /// Task slots advertised to the scheduler (the CPU count when 0).
    #[arg(short = 'c', long, alias = "concurrent-tasks", default_value_t = 0)]
    pub vcores: usize,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 60)]
    pub executor_heartbeat_interval_seconds: u64,
    /// Seconds to keep a finished job's shuffle files.
    #[arg(long, default_value_t = 604_800)]
    pub job_data_ttl_seconds: u64,
    /// Memory pool for all tasks, in bytes (Ballista's default: a share of
    /// the host's memory).
    #[arg(long)]
    pub memory_pool_size: Option<u64>,
    /// Largest gRPC message, in bytes, the executor accepts and sends.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_SIZE as u32)]
    pub grpc_max_message_size: u32,
}

/// SQL functions a cluster knows beyond DataFusion's own: its scheduler
/// decodes plans that name them, its executors run them.
#[derive(Clone, Debug, Default)]
pub struct ClusterFunctions {
    /// Scalar functions.
    pub scalar: Vec<ScalarUDF>,
    /// Aggregate functions.
    pub aggregate: Vec<AggregateUDF>,
}

impl ClusterFunctions {
    /// Registers the functions in `state` (replacing any of the same name).
    pub fn register(&self, state: &mut SessionState) -> datafusion::common::Result<()> {
        for function in &self.scalar {
            state.register_udf(Arc::new(function.clone()))?;
        }
        for function in &self.aggregate {
            state.register_udaf(Arc::new(function.clone()))?;
        }
        Ok(())
    }

    /// Every built-in function (nested lists included) and these.
    fn registry(&self) -> Result<BallistaFunctionRegistry, String> {
        let mut state = SessionStateBuilder::new().with_default_features().build();
        self.register(&mut state)
            .map_err(|e| format!("cannot register the cluster's functions: {e}"))?;
        Ok(BallistaFunctionRegistry::from(&state))
    }
}

/// Parses the command line and runs the chosen process until it stops.
/// The binary's `main` of a cluster carrying your nodes.
pub fn main() -> ExitCode {
    main_with(ClusterFunctions::default())
}

/// [`main`] for a cluster that also knows `functions`.
///
/// ```no_run
/// use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
/// use datafusion::arrow::datatypes::DataType;
/// use nodefusion_ballista::cluster::{ClusterFunctions, main_with};
///
/// fn main() -> std::process::ExitCode {
///     let twice = create_udf("twice", vec![DataType::Int64], DataType::Int64, Volatility::Immutable,
///         std::sync::Arc::new(|args: &[ColumnarValue]| Ok(args[0].clone())));
///     main_with(ClusterFunctions { scalar: vec![twice], ..Default::default() })
/// }
/// ```
pub fn main_with(functions: ClusterFunctions) -> ExitCode {
    let cli = ClusterCli::parse();
    init_logging(&cli.log_level_setting);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Deep plans recurse: Ballista's own binaries use 32 MiB stacks.
        .thread_stack_size(32 * 1024 * 1024)
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(async {
            match cli.role {
                Role::Scheduler(args) => run_scheduler(args, &functions).await,
                Role::Executor(args) => run_executor(args, &functions).await,
            }
        }),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (a test that runs two roles) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a scheduler with nodefusion's codecs, decoding plans that name
/// `functions`, until it stops.
pub async fn run_scheduler(args: SchedulerArgs, functions: &ClusterFunctions) -> Result<(), String> {
    let address = resolve(&args.bind_host, args.bind_port).await?;
    let config = SchedulerConfig {
        bind_host: args.bind_host.clone(),
        bind_port: args.bind_port,
        external_host: args.external_host.clone(),
        task_distribution: match args.task_distribution {
            TaskDistribution::Bias => TaskDistributionPolicy::Bias,
            TaskDistribution::RoundRobin => TaskDistributionPolicy::RoundRobin,
        },
        executor_timeout_seconds: args.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: args.expire_dead_executor_interval_seconds,
        no_executors_grace_period_seconds: args
            .no_executors_grace_period_seconds
            .unwrap_or(args.executor_timeout_seconds),
        task_max_failures: args.task_max_failures,
        grpc_server_max_decoding_message_size: args.grpc_max_message_size,
        grpc_server_max_encoding_message_size: args.grpc_max_message_size,
        grpc_client_max_message_size: args.grpc_max_message_size,
        override_logical_codec: Some(logical_codec()),
        override_physical_codec: Some(physical_codec()),
        override_session_builder: Some(session_builder(functions.clone())),
        ..Default::default()
    };
    tracing::info!(
        nodes = nodefusion::registry::ids().len(),
        "nodefusion scheduler on {address}, decoding plans of these nodes: {}",
        nodefusion::registry::ids().join(", ")
    );
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| format!("cannot set up the scheduler's state: {e}"))?;
    start_server(cluster, address, Arc::new(config))
        .await
        .map_err(|e| format!("scheduler on {address}: {e}"))
}

/// Runs an executor with nodefusion's codecs and `functions` until it
/// stops.
pub async fn run_executor(args: ExecutorArgs, functions: &ClusterFunctions) -> Result<(), String> {
    let vcores = match args.vcores {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Every built-in function a plan may name (nested lists included).
    let functions = functions.registry()?;
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        executor_id: args.executor_id.clone().unwrap_or(defaults.executor_id.clone()),
        bind_host: args.bind_host.clone(),
        external_host: args.external_host.clone(),
        port: args.bind_port,
        grpc_port: args.bind_grpc_port,
        scheduler_host: args.scheduler_host.clone(),
        scheduler_port: args.scheduler_port,
        scheduler_connect_timeout_seconds: args.scheduler_connect_timeout_seconds,
        vcores,
        work_dir: args.work_dir.clone(),
        executor_heartbeat_interval_seconds: args.executor_heartbeat_interval_seconds,
        job_data_ttl_seconds: args.job_data_ttl_seconds,
        memory_pool_size: args.memory_pool_size,
        grpc_max_decoding_message_size: args.grpc_max_message_size,
        grpc_max_encoding_message_size: args.grpc_max_message_size,
        override_function_registry: Some(Arc::new(functions)),
        override_logical_codec: Some(logical_codec()),
        override_physical_codec: Some(physical_codec()),
        ..defaults
    };
    tracing::info!(
        executor = %config.executor_id,
        nodes = nodefusion::registry::ids().len(),
        "nodefusion executor with {vcores} task slots, scheduler {}:{}, carrying these nodes: {}",
        args.scheduler_host,
        args.scheduler_port,
        nodefusion::registry::ids().join(", ")
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| format!("executor: {e}"))
}

/// The scheduler's sessions: Ballista's, with `functions` registered.
fn session_builder(
    functions: ClusterFunctions,
) -> Arc<dyn Fn(SessionConfig) -> datafusion::common::Result<SessionState> + Send + Sync> {
    Arc::new(move |config| {
        let mut state = ballista_core::utils::default_session_builder(config)?;
        functions.register(&mut state)?;
        Ok(state)
    })
}

/// The socket address of `host:port` (a name is looked up).
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port} resolves to no address"))
}
