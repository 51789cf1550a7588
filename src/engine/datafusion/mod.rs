//! The DataFusion engine: a pipeline lowered into one `LogicalPlan` whose
//! nodes are vectorised scalar UDFs, executed in a `SessionContext`.
//!
//! ```
//! use nodefusion::{DataFusionEngine, Engine, Inputs, node, pipeline};
//!
//! #[node(output = "doubled")]
//! fn double(x: i64) -> i64 { x * 2 }
//!
//! fn main() -> Result<(), nodefusion::Error> {
//!     let per_x = pipeline![double::node()]?;
//!     let p = pipeline![per_x.as_node("all").rename_input("x", "xs").map_over(["xs"])]?;
//!     let out = DataFusionEngine::new().run(&p, Inputs::new().with("xs", vec![1i64, 2, 3]), None)?;
//!     assert_eq!(out.get::<Vec<i64>>("doubled")?, &vec![2, 4, 6]);
//!     Ok(())
//! }
//! ```
//!
//! # The plan's shape
//!
//! ```text
//! Values (one row: the inputs)
//!   └─ Projection  … node_a(x) AS c1            top-level node
//!       └─ Projection  keys, lists, broadcast inputs, nf_wrap(other) …
//!           └─ Unnest  items + positions (+ wrapped columns)     ┐
//!               └─ Repartition (round robin, or hash: `shuffle`)  │ a mapped
//!                   └─ Projection  CASE WHEN pos IS NOT NULL      │ nested
//!                                  THEN node_b(item, …, pos) END  │ pipeline
//!                       └─ Aggregate  nf_collect(pos, v)          ┘
//! ```
//!
//! - Every value gets a fresh column name (`c1`, `c2`, …); an environment maps
//!   the pipeline's value names to columns, so renames cost nothing.
//! - A map level's rows are identified by its *keys*: the position columns
//!   of every enclosing map level. Aggregating back groups by the enclosing
//!   level's keys with `nf_collect(positions…, value)`, an aggregate that
//!   holds the columns as they arrive and copies the values once, sorted by
//!   position, so outputs keep input order across partitions (an ordered
//!   `array_agg` was 5x slower: it keeps one `ScalarValue` per row, and the
//!   plain one with a sort after it copied the values four times), and keeps
//!   one item per position: a cluster that runs a task again after losing an
//!   executor may deliver both runs' rows.
//! - Unnest zips the mapped lists with their positions (`nf_positions`,
//!   which checks zip lengths); product mode unnests one list after another.
//!   Empty lists keep one row with null positions (`PreserveAndExpandEmpty`;
//!   `nf_pad` gives item lists of enums with data that row itself);
//!   nodes skip such absent rows (`CASE WHEN`) and `nf_collect` drops them
//!   (an empty list collects into `[]`).
//! - Columns the map does not use are *wrapped* by `nf_wrap` into
//!   `[value, null, …]` lists as long as the item list and unnested along:
//!   the first row of each item group carries the value, the others carry
//!   nulls, so a large value is never copied once per item. The
//!   aggregate takes it back with `first_value(…) FILTER (WHERE … IS NOT NULL)`.
//! - Before each step, the columns no later step reads are projected away,
//!   so a value is let go after its last reader and never wrapped into the
//!   maps that follow.
//! - On one machine, a top-level map collects in one phase
//!   (the optimizer rule in `one_phase.rs`), not a partial and a final one.
//!
//! The plan holds only literals, built-in functions and nodefusion's UDFs (a
//! node's identified by its node id, version and path), so it can be serialised
//! with [`NodefusionCodec`] and run by any process that links the same
//! nodes.

mod codec;
mod collect;
mod lower;
mod one_phase;
mod udf;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::DataFusionError;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionConfig;

pub use codec::{NodefusionCodec, NodefusionPhysicalCodec};
use one_phase::CollectInOnePhase;

use super::report::Recorder;
use super::{Engine, wanted_outputs};
use crate::cache::Cache;
use crate::error::{Error, bug};
use crate::inputs::{Inputs, Outputs};
use crate::pipeline::{Pipeline, Step};
use crate::value::TypeInfo;
use lower::{LowerOptions, Lowering};

/// Runs pipelines as DataFusion plans. Results equal the
/// [`SequentialEngine`](crate::SequentialEngine)'s.
#[derive(Clone)]
pub struct DataFusionEngine {
    context: Option<SessionContext>,
    options: LowerOptions,
    progress: bool,
}

impl Default for DataFusionEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DataFusionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFusionEngine")
            .field("options", &self.options)
            .finish()
    }
}

/// A pipeline lowered to a plan and ready to run: its [`DataFrame`] has one
/// row, one column per selected output.
pub struct PlannedRun {
    /// The DataFrame computing the outputs.
    pub dataframe: DataFrame,
    /// The context it runs in (with the node UDFs registered).
    pub context: SessionContext,
    outputs: Vec<(String, TypeInfo)>,
    recorder: Arc<Recorder>,
}

impl DataFusionEngine {
    /// An engine with its own `SessionContext`, `target_partitions` = number
    /// of cores, batch size 1024 (smaller than DataFusion's 8192, so that a
    /// map over a few thousand items still spreads over all cores).
    pub fn new() -> Self {
        DataFusionEngine {
            context: None,
            options: LowerOptions {
                target_partitions: std::thread::available_parallelism().map_or(1, |n| n.get()),
                batch_size: 1024,
                shuffle_maps: false,
                cache: None,
            },
            progress: true,
        }
    }

    /// Runs pipelines inside the user's own context (their object stores,
    /// config and tables stay available); its `target_partitions` and
    /// `batch_size` are used.
    pub fn with_context(context: SessionContext) -> Self {
        let config = context.copied_config();
        DataFusionEngine {
            options: LowerOptions {
                target_partitions: config.target_partitions(),
                batch_size: config.batch_size(),
                shuffle_maps: false,
                cache: None,
            },
            context: Some(context),
            progress: true,
        }
    }

    /// Shows or hides a counter per mapped node, advanced as items finish
    /// (never drawn when stderr is not a terminal). On by default.
    pub fn with_progress(mut self, enabled: bool) -> Self {
        self.progress = enabled;
        self
    }

    /// How many partitions mapped relations are spread over.
    pub fn with_target_partitions(mut self, partitions: usize) -> Self {
        self.options.target_partitions = partitions.max(1);
        self
    }

    /// Rows per Arrow batch, and items per batch call for nodes without
    /// their own batch size.
    ///
    /// A map's items reach the partitions in whole batches, so a pipeline
    /// whose mapped nodes set a smaller batch size of their own runs with
    /// batches of that size: a map of 64 items whose encoder batches 32 at
    /// a time then keeps two partitions busy. A map of no more than one
    /// batch of items runs on one partition.
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.options.batch_size = size.max(1);
        self
    }

    /// Repartitions each map by a hash of its item positions rather than
    /// round robin. Results are the same; a distributed planner (Ballista)
    /// turns the hash repartition into a shuffle stage whose tasks spread
    /// over the cluster, where a round-robin one would stay inside the
    /// stage that unnests the list. Off by default.
    pub fn with_shuffled_maps(mut self, enabled: bool) -> Self {
        self.options.shuffle_maps = enabled;
        self
    }

    /// Keeps the results of [cached](crate::Node::with_cache) nodes in
    /// `cache` and takes them from it: see [the cache](crate::cache).
    /// Plans serialised for other processes carry its [URL](Cache::url),
    /// which they open; a cache made by [`Cache::with_store`] has none and
    /// serves this process only.
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.options.cache = Some(cache);
        self
    }

    /// The session config a run of `pipeline` gets when the engine has no
    /// context of its own: the engine's partitions, and batches no larger
    /// than the smallest batch size of a mapped node.
    pub fn session_config(&self, pipeline: &Pipeline) -> SessionConfig {
        let batch_size = smallest_mapped_batch(pipeline, false).map_or(self.options.batch_size, |smallest| {
            smallest.min(self.options.batch_size)
        });
        SessionConfig::new()
            .with_target_partitions(self.options.target_partitions)
            .with_batch_size(batch_size)
    }

    /// The user's context, or a new one with [`Self::session_config`].
    fn context(&self, pipeline: &Pipeline) -> SessionContext {
        self.context.clone().unwrap_or_else(|| {
            let state = SessionStateBuilder::new()
                .with_config(self.session_config(pipeline))
                .with_default_features()
                .with_physical_optimizer_rules(CollectInOnePhase::with_default_rules())
                .build();
            SessionContext::new_with_state(state)
        })
    }

    /// Lowers `pipeline` for `inputs` into a plan, without running it.
    pub fn plan(&self, pipeline: &Pipeline, inputs: &Inputs, select: Option<&[&str]>) -> Result<PlannedRun, Error> {
        let wanted = wanted_outputs(pipeline, select)?;
        let required = pipeline.required_steps(&wanted);
        let given = pipeline.resolve_inputs(inputs, &required)?;
        let recorder = Arc::new(Recorder::with_progress(self.progress));
        let lowered = Lowering::new(&self.options, recorder.clone()).lower(pipeline, &given, &wanted)?;
        let context = self.context(pipeline);
        let dataframe = DataFrame::new(context.state(), lowered.plan);
        Ok(PlannedRun {
            dataframe,
            context,
            outputs: lowered.outputs,
            recorder,
        })
    }

    /// The lowered logical plan.
    pub fn logical_plan(&self, pipeline: &Pipeline, inputs: &Inputs) -> Result<LogicalPlan, Error> {
        Ok(self.plan(pipeline, inputs, None)?.dataframe.logical_plan().clone())
    }

    /// The logical and physical plans, as `EXPLAIN` prints them.
    pub async fn explain(&self, pipeline: &Pipeline, inputs: &Inputs) -> Result<String, Error> {
        let planned = self.plan(pipeline, inputs, None)?;
        let batches = planned
            .dataframe
            .explain(false, false)
            .map_err(from_datafusion)?
            .collect()
            .await
            .map_err(from_datafusion)?;
        Ok(datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .map_err(|e| Error::DataFusion(Box::new(e.into())))?
            .to_string())
    }

    /// Runs the pipeline and returns its outputs (async).
    pub async fn run_async(
        &self,
        pipeline: &Pipeline,
        inputs: Inputs,
        select: Option<&[&str]>,
    ) -> Result<Outputs, Error> {
        let planned = self.plan(pipeline, &inputs, select)?;
        planned.collect().await
    }
}

impl PlannedRun {
    /// Executes the plan and converts its row back into Rust values.
    pub async fn collect(self) -> Result<Outputs, Error> {
        let batches = self.dataframe.collect().await.map_err(from_datafusion)?;
        let batch = single_row(&batches)?;
        let mut values = BTreeMap::new();
        for (name, ty) in &self.outputs {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| bug!("the plan did not return '{name}'"))?;
            let mut converted = (ty.arrow.from_arrow)(array.as_ref()).map_err(|source| Error::Conversion {
                node: "the pipeline".into(),
                port: name.clone(),
                output: false,
                source: Box::new(source),
            })?;
            let value = converted.pop().ok_or_else(|| bug!("output '{name}' is empty"))?;
            values.insert(name.clone(), (value, *ty));
        }
        let recorder = Arc::try_unwrap(self.recorder).unwrap_or_default();
        Ok(Outputs::new(values, recorder.finish()))
    }
}

fn single_row(batches: &[RecordBatch]) -> Result<RecordBatch, Error> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows != 1 {
        return Err(bug!("the plan returned {rows} rows instead of one"));
    }
    Ok(batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .cloned()
        .expect("one batch has the row"))
}

impl Engine for DataFusionEngine {
    fn run(&self, pipeline: &Pipeline, inputs: Inputs, select: Option<&[&str]>) -> Result<Outputs, Error> {
        let run = || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(self.options.target_partitions.max(1))
                .enable_all()
                .build()
                .map_err(|e| Error::Engine {
                    engine: "datafusion",
                    message: e.to_string(),
                })?
                .block_on(self.run_async(pipeline, inputs, select))
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(run).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        } else {
            run()
        }
    }
}

/// Turns a DataFusion error back into the nodefusion error it carries (a
/// node's failure, say), or an engine error.
pub(crate) fn from_datafusion(error: DataFusionError) -> Error {
    match error {
        DataFusionError::External(boxed) => match boxed.downcast::<Error>() {
            Ok(error) => *error,
            Err(other) => match other.downcast::<DataFusionError>() {
                Ok(inner) => from_datafusion(*inner),
                Err(other) => datafusion_error(DataFusionError::External(other)),
            },
        },
        DataFusionError::Context(_, inner) => from_datafusion(*inner),
        // An error a repartition hands to every partition: while other
        // partitions still hold it, ours is a copy of the error it carries.
        DataFusionError::Shared(shared) => match Arc::try_unwrap(shared) {
            Ok(inner) => from_datafusion(inner),
            Err(shared) => match carried(&shared).map(Error::copy) {
                Some(error) => error,
                None => datafusion_error(DataFusionError::Shared(shared)),
            },
        },
        DataFusionError::ArrowError(arrow, _) => match *arrow {
            datafusion::arrow::error::ArrowError::ExternalError(boxed) => {
                from_datafusion(DataFusionError::External(boxed))
            }
            other => datafusion_error(DataFusionError::ArrowError(Box::new(other), None)),
        },
        other => datafusion_error(other),
    }
}

/// The node's error `error` carries as text (from another process: see
/// [`wire`](super::wire)), or `error` itself.
fn datafusion_error(error: DataFusionError) -> Error {
    super::wire::find(&error.to_string()).unwrap_or_else(|| Error::DataFusion(Box::new(error)))
}

/// The nodefusion error inside a DataFusion error, if any.
fn carried(error: &DataFusionError) -> Option<&Error> {
    match error {
        DataFusionError::External(boxed) => carried_by(boxed.as_ref()),
        DataFusionError::Context(_, inner) => carried(inner),
        DataFusionError::Shared(shared) => carried(shared),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            datafusion::arrow::error::ArrowError::ExternalError(boxed) => carried_by(boxed.as_ref()),
            _ => None,
        },
        _ => None,
    }
}

fn carried_by<'a>(boxed: &'a (dyn std::error::Error + Send + Sync + 'static)) -> Option<&'a Error> {
    boxed
        .downcast_ref::<Error>()
        .or_else(|| boxed.downcast_ref::<DataFusionError>().and_then(carried))
}

/// The smallest batch size set on a node that runs mapped (inside a
/// `map_over`, at any depth) with a batch implementation.
fn smallest_mapped_batch(pipeline: &Pipeline, mapped: bool) -> Option<usize> {
    pipeline
        .steps()
        .iter()
        .filter_map(|step| match step {
            Step::Node(node) if mapped && node.batch().is_some() => node.settings().batch_size,
            Step::Node(_) => None,
            Step::Pipeline(nested) => smallest_mapped_batch(nested.pipeline(), mapped || nested.is_mapped()),
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_error_still_held_elsewhere_keeps_its_message_and_kind() {
        let failed = Error::NodeFailed {
            node: "all/divide".into(),
            item: Some(2),
            source: "cannot divide 6 by zero".into(),
        };
        let shared = Arc::new(DataFusionError::Context(
            "repartition".into(),
            Box::new(DataFusionError::External(Box::new(failed))),
        ));
        let _other_partition = shared.clone();
        let error = from_datafusion(DataFusionError::Shared(shared));
        assert!(matches!(error, Error::NodeFailed { item: Some(2), .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "node 'all/divide' failed on item 2: cannot divide 6 by zero"
        );
    }
}
