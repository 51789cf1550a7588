//! nodefusion pipelines on a [Ballista](https://datafusion.apache.org/ballista/)
//! cluster.
//!
//! - [`BallistaEngine`] runs the plan the `DataFusionEngine` builds on a
//!   cluster (`BallistaEngine::remote("df://host:50050")`) or on an
//!   in-process one (`BallistaEngine::standalone()`), with the same
//!   outputs and errors as the embedded engines. Each map is shuffled by a
//!   hash of its item positions, so its partitions are tasks that the
//!   scheduler spreads over the executors.
//! - [`cluster`] is the scheduler and executor processes, carrying the
//!   nodes linked into the binary; [`cluster::main`] makes a binary of
//!   them in one line.
//! - [`local::LocalCluster`] starts a scheduler and executors as real
//!   processes on loopback, for tests and benchmarks.
//! - [`logical_codec`] and [`physical_codec`] serialise plans with node
//!   UDFs: only each node's id, version and settings travel (resources
//!   as their configs), and every process rebuilds the node from its own
//!   registry, checking the version.
//!
//! What crosses the wire: the pipeline's inputs as literals of the plan
//! (mind the gRPC message limit, 16 MiB by default), node configs and
//! resource configs (a model directory, an index URI), and Arrow batches
//! between stages. Each executor loads a resource once, lazily, on first
//! use, and keeps it for the life of the process.

pub mod cluster;
mod codec;
mod engine;
pub mod local;

pub use codec::{logical_codec, physical_codec};
pub use engine::{BallistaEngine, DEFAULT_MAX_MESSAGE_SIZE};
