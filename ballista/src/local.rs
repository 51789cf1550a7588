//! [`LocalCluster`]: a scheduler and executors as real processes on
//! loopback, for tests and benchmarks.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::BallistaEngine;

/// Where an executor runs: on loopback, or in a network namespace of its
/// own (made by the caller) where it has its own address.
#[derive(Clone, Debug)]
pub struct ExecutorHost {
    /// The namespace (`ip netns exec NAME`), or `None` for this one.
    pub netns: Option<String>,
    /// The address the executor binds, advertises and is reached at.
    pub address: String,
}

impl Default for ExecutorHost {
    fn default() -> Self {
        ExecutorHost {
            netns: None,
            address: "127.0.0.1".into(),
        }
    }
}

/// How a [`LocalCluster`] is started.
#[derive(Clone, Debug)]
pub struct LocalClusterOptions {
    /// The cluster binary (one that calls [`crate::cluster::main`]).
    pub binary: PathBuf,
    /// Environment variables for every process (a test binary that acts as
    /// its own cluster binary is told so through one).
    pub env: Vec<(String, String)>,
    /// How many executors.
    pub executors: usize,
    /// Task slots per executor.
    pub vcores: usize,
    /// Heartbeat interval of the executors, and the scheduler's timeout
    /// for a lost one (seconds): short, so that faults show quickly.
    pub heartbeat_seconds: u64,
    /// Executor-lost timeout of the scheduler (seconds).
    pub executor_timeout_seconds: u64,
    /// The gRPC message limit of every process, in bytes.
    pub grpc_max_message_size: usize,
    /// Pins executor `i` to CPU `cpus[i % cpus.len()]` with `taskset`
    /// (for benchmarks that limit each executor to one core).
    pub pin_to_cpus: Option<Vec<usize>>,
    /// Where executor `i` runs (loopback when absent).
    pub executor_hosts: Vec<ExecutorHost>,
    /// The address at which executors reach the scheduler. When an
    /// executor lives in another namespace the scheduler binds every
    /// address of this one.
    pub scheduler_address: String,
}

impl LocalClusterOptions {
    /// `executors` executors of `binary` with two task slots each.
    pub fn new(binary: impl Into<PathBuf>, executors: usize) -> Self {
        LocalClusterOptions {
            binary: binary.into(),
            env: Vec::new(),
            executors,
            vcores: 2,
            heartbeat_seconds: 2,
            executor_timeout_seconds: 8,
            grpc_max_message_size: crate::DEFAULT_MAX_MESSAGE_SIZE,
            pin_to_cpus: None,
            executor_hosts: Vec::new(),
            scheduler_address: "127.0.0.1".into(),
        }
    }
}

/// A running cluster. Dropping it kills every process and removes its
/// working directories (kept, and named on stderr, when a test panics).
pub struct LocalCluster {
    options: LocalClusterOptions,
    scheduler: Child,
    scheduler_port: u16,
    executors: Vec<Option<Child>>,
    dir: PathBuf,
}

/// An unused loopback port (free when this returns; nothing holds it).
/// A port nothing listens on now and that this process has not handed out
/// before (the kernel may offer a just-released port again).
fn free_port() -> std::io::Result<u16> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
}

/// How often a process that exits before it listens is started again on
/// other ports: another program may take a port between our choosing it
/// and the process binding it.
const STARTS: usize = 3;

/// Starts a process with `start`, given a fresh port, until something
/// accepts connections at the host it returns and that port; a process
/// that exits first (another program took the port) is started again.
fn start_listening(
    what: &str,
    mut start: impl FnMut(u16) -> Result<(String, Child), String>,
) -> Result<(Child, u16), String> {
    let mut attempt = 1;
    loop {
        let port = free_port().map_err(|e| format!("no free port for {what}: {e}"))?;
        let (host, mut child) = start(port)?;
        let started = Instant::now();
        let failure = loop {
            if TcpStream::connect((host.as_str(), port)).is_ok() {
                return Ok((child, port));
            }
            if let Ok(Some(status)) = child.try_wait() {
                break format!("{what} exited with {status} before listening on port {port}");
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not listen on port {port} within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if attempt == STARTS {
            return Err(format!("{failure} ({STARTS} tries)"));
        }
        attempt += 1;
    }
}

impl LocalCluster {
    /// Starts the scheduler and the executors, and waits until each listens.
    pub fn start(options: LocalClusterOptions) -> Result<LocalCluster, String> {
        let dir = std::env::temp_dir().join(format!(
            "nodefusion-cluster-{}-{}",
            std::process::id(),
            free_port().map_err(|e| e.to_string())?
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (scheduler, scheduler_port) = start_listening("the scheduler", |port| {
            let timeout = options.executor_timeout_seconds.to_string();
            let message = options.grpc_max_message_size.to_string();
            let elsewhere = options.executor_hosts.iter().any(|h| h.netns.is_some());
            let port = port.to_string();
            let args = [
                "scheduler",
                "--bind-host",
                if elsewhere { "0.0.0.0" } else { "127.0.0.1" },
                // Executors report task status to this address.
                "--external-host",
                &options.scheduler_address,
                "--bind-port",
                &port,
                "--task-distribution",
                "round-robin",
                "--executor-timeout-seconds",
                &timeout,
                "--expire-dead-executor-interval-seconds",
                "1",
                "--no-executors-grace-period-seconds",
                &timeout,
                "--grpc-max-message-size",
                &message,
            ];
            Ok((
                "127.0.0.1".into(),
                spawn(&options, &args, &dir.join("scheduler.log"), None, None)?,
            ))
        })?;
        let mut cluster = LocalCluster {
            options: options.clone(),
            scheduler,
            scheduler_port,
            executors: Vec::new(),
            dir,
        };
        for index in 0..options.executors {
            cluster.add_executor(index)?;
        }
        // Registration follows the executor's first poll of the scheduler.
        std::thread::sleep(Duration::from_millis(500));
        Ok(cluster)
    }

    fn add_executor(&mut self, index: usize) -> Result<(), String> {
        let work_dir = self.dir.join(format!("executor-{index}"));
        std::fs::create_dir_all(&work_dir).map_err(|e| format!("{}: {e}", work_dir.display()))?;
        let host = self.options.executor_hosts.get(index).cloned().unwrap_or_default();
        let mut options = self.options.clone();
        options.env.push(("NODEFUSION_EXECUTOR_ID".into(), executor_id(index)));
        let cpu = self.options.pin_to_cpus.as_ref().map(|cpus| cpus[index % cpus.len()]);
        let log = self.dir.join(format!("executor-{index}.log"));
        let (child, _) = start_listening(&executor_id(index), |flight| {
            let grpc = free_port().map_err(|e| e.to_string())?;
            let args: Vec<String> = vec![
                "executor".into(),
                "--id".into(),
                executor_id(index),
                "--scheduler-host".into(),
                options.scheduler_address.clone(),
                "--scheduler-port".into(),
                self.scheduler_port.to_string(),
                "--bind-host".into(),
                host.address.clone(),
                "--external-host".into(),
                host.address.clone(),
                "--bind-port".into(),
                flight.to_string(),
                "--bind-grpc-port".into(),
                grpc.to_string(),
                "--work-dir".into(),
                work_dir.display().to_string(),
                "--vcores".into(),
                options.vcores.to_string(),
                "--executor-heartbeat-interval-seconds".into(),
                options.heartbeat_seconds.to_string(),
                "--grpc-max-message-size".into(),
                options.grpc_max_message_size.to_string(),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let child = spawn(&options, &args, &log, cpu, host.netns.as_deref())?;
            Ok((host.address.clone(), child))
        })?;
        self.executors.push(Some(child));
        Ok(())
    }

    /// The scheduler's URL, `df://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }

    /// An engine for this cluster, shuffling maps into a partition per
    /// task slot.
    pub fn engine(&self) -> BallistaEngine {
        BallistaEngine::remote(&self.url())
            .expect("a well-formed URL")
            .with_target_partitions((self.options.executors * self.options.vcores).max(2))
            .with_max_message_size(self.options.grpc_max_message_size)
            .with_progress(false)
    }

    /// The process id of executor `index`, while it runs.
    pub fn executor_pid(&self, index: usize) -> Option<u32> {
        self.executors.get(index)?.as_ref().map(Child::id)
    }

    /// Kills executor `index` with SIGKILL, as a machine failure would.
    pub fn kill_executor(&mut self, index: usize) {
        if let Some(Some(mut child)) = self.executors.get_mut(index).map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything executor `index` has logged so far.
    pub fn executor_log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("executor-{index}.log"))).unwrap_or_default()
    }

    /// The last lines each process logged, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let mut names = vec!["scheduler.log".to_string()];
        names.extend((0..self.executors.len()).map(|i| format!("executor-{i}.log")));
        for name in names {
            let log = std::fs::read_to_string(self.dir.join(&name)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            text.push_str(&format!("--- {name} (last lines)\n"));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// The directory of logs and work directories.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The `--id` given to executor `index` (and, as `NODEFUSION_EXECUTOR_ID`,
/// its environment).
pub fn executor_id(index: usize) -> String {
    format!("executor-{index}")
}

/// Starts `options.binary` with `args`, its output in `log`, pinned to
/// `cpu` and inside network namespace `netns` when given.
fn spawn(
    options: &LocalClusterOptions,
    args: &[&str],
    log: &Path,
    cpu: Option<usize>,
    netns: Option<&str>,
) -> Result<Child, String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut wrappers: Vec<String> = Vec::new();
    if let Some(netns) = netns {
        wrappers.extend(["ip", "netns", "exec", netns].map(String::from));
    }
    if let Some(cpu) = cpu {
        wrappers.extend(["taskset".into(), "-c".into(), cpu.to_string()]);
    }
    let mut command = match wrappers.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(&options.binary);
            c
        }
        None => Command::new(&options.binary),
    };
    command
        .args(args)
        .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
    command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", options.binary.display()))
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
        if std::thread::panicking() {
            eprintln!("cluster logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
