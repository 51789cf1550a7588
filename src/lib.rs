//! # nodefusion
//!
//! Write an ML pipeline as small functions that each handle **one** item;
//! run it batched, in parallel, on DataFusion.
//!
//! ```
//! use nodefusion::{Inputs, node, pipeline};
//!
//! #[node(output = "words")]
//! fn count_words(text: String) -> usize { text.split_whitespace().count() }
//!
//! #[node(output = "total")]
//! fn total(all_words: Vec<usize>) -> usize { all_words.iter().sum() }
//!
//! fn main() -> Result<(), nodefusion::Error> {
//!     let per_text = pipeline![count_words::node()]?;
//!     let pipeline = pipeline![
//!         per_text.as_node("count_all")
//!             .rename_input("text", "texts")
//!             .rename_output("words", "all_words")
//!             .map_over(["texts"]),
//!         total::node(),
//!     ]?;
//!     let texts = vec!["a b".to_string(), "c d e".to_string()];
//!     let out = pipeline.run(Inputs::new().with("texts", texts))?;
//!     assert_eq!(out.get::<usize>("total")?, &5);
//!     Ok(())
//! }
//! ```
//!
//! ## Glossary
//!
//! - **node** ([`Node`]): a function with named inputs (its parameter names)
//!   and named outputs, made by [`#[node]`](macro@node). It may be `async` and may
//!   carry a batch implementation used automatically when it runs mapped.
//! - **pipeline** ([`Pipeline`]): nodes wired by the names of their inputs and
//!   outputs into a DAG, validated when built.
//! - **nested pipeline / map** ([`PipelineNode`]): a pipeline used as a node,
//!   with renamed inputs and outputs, optionally run once per item of list
//!   inputs ([`MapMode::Zip`] or [`MapMode::Product`]).
//! - **resource** ([`Resource`], [`Res`]): a heavy object (model, index)
//!   that travels as its small config and loads once per process.
//! - **engine** ([`Engine`]): runs a pipeline; [`SequentialEngine`] is the
//!   reference semantics.
//! - **cache** ([`cache::Cache`]): a node's results kept by a hash of its
//!   definition and inputs, per item when mapped; given to an engine, it
//!   serves every node marked `cache`.
//!
//! ## Where things live
//!
//! ```text
//!  #[node] fn ──► Node ─┐
//!                        ├─► Pipeline (validated DAG) ──► Engine::run ──► Outputs + RunReport
//!  Pipeline::as_node ────┘        │                          │
//!   (rename, map_over)            │          ┌───────────────┴──────────────────┐
//!                                 │   SequentialEngine                 DataFusionEngine
//!                                 │   (frames of rows,                 (lowered into ONE LogicalPlan:
//!                                 │    step by step)                    unnest → node UDF projections
//!                                 │          │                          → ordered aggregate per row;
//!                                 │          │                          BallistaEngine runs the same plan)
//!                                 │          └──────► one node-call path ◄──────┘
//!                                 │             (batches, constants once, panics → errors,
//!                                 │              cache: keys per item, misses only)
//!                                 └─► to_dot / to_mermaid
//! ```
//!
//! | module | job |
//! |---|---|
//! | [`node`](mod@node) | nodes, ports, the builder for run-time nodes |
//! | [`pipeline`](mod@pipeline) | the DAG, validation, bind, output selection |
//! | [`nested`] | pipelines as nodes, maps |
//! | [`resource`] | lazily loaded, per-process resources |
//! | [`engine`] | the engines and run reports |
//! | [`cache`] | the node cache: keys, entries, storage on object_store |
//! | [`value`], [`arrow_convert`] | type-erased values and their Arrow form ([`Floats`]: `f32` rows read in place) |
//! | [`registry`] | nodes by id, for executors in other processes |
//! | [`testing`] | helpers for node authors |
#![warn(missing_docs)]

pub mod arrow_convert;
pub mod cache;
pub mod engine;
pub mod error;
pub mod inputs;
pub mod nested;
pub mod node;
pub mod pipeline;
pub mod registry;
pub mod resource;
pub mod testing;
pub mod value;
mod viz;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use arrow_convert::Floats;
pub use engine::{
    DataFusionEngine, Engine, NodeStats, NodefusionCodec, NodefusionPhysicalCodec, RunReport, SequentialEngine,
};
pub use error::{Error, MissingInput, PipelineError, Result};
pub use inputs::{Inputs, Outputs};
pub use nested::{MapMode, PipelineNode};
pub use node::{BoxError, Node, NodeSettings, Port};
pub use pipeline::{Pipeline, Step};
pub use resource::{Res, Resource, ResourceError};
pub use value::{Data, TypeInfo, Value};

/// Turns a plain function into a pipeline node.
///
/// The function's parameter names are the node's inputs; `output` names its
/// output, or several outputs of a tuple-returning function:
///
/// ```
/// use nodefusion::node;
///
/// #[node(output = "doubled")]
/// fn double(x: i64) -> i64 { x * 2 }
///
/// #[node(output = ("quotient", "remainder"))]
/// fn divide(a: i64, b: i64) -> Result<(i64, i64), String> {
///     if b == 0 { return Err("division by zero".into()) }
///     Ok((a / b, a % b))
/// }
///
/// #[node(output = "length")]
/// async fn fetch_len(url: String) -> usize { url.len() }
///
/// fn main() {
///     assert_eq!(double(2), 4); // still a plain function
///     let node = divide::node(); // and a node
///     assert_eq!(node.input_names(), vec!["a", "b"]);
///     assert_eq!(node.output_names(), vec!["quotient", "remainder"]);
///     assert!(fetch_len::node().is_async());
/// }
/// ```
///
/// Options:
/// - `output = "name"` or `output = ("a", "b")` (required);
/// - `batch = path`: a batch implementation taking one `Vec<T>` per
///   parameter and returning one `Vec<R>` per output (a tuple of `Vec`s for
///   several outputs), wrapped in `Result` exactly when the singular
///   function returns a `Result`; it carries [`macro@batch`], so that its
///   body is part of the node's version;
/// - `constant = "name"` or `constant = ("a", "b")`: inputs the batch
///   implementation takes once per call as `&T` (a model, a setting): the
///   engines split a chunk where such an input's value changes, so every
///   row of one call shares it;
/// - `batch_size = N`: items per batch call (default: the engine's);
/// - `concurrency = N`: async calls in flight at once (default 16);
/// - `name = "..."`: the node's name (default: the function's).
///
/// Parameters may be `T` (the value is moved in, cloned only when the
/// engine still shares it), `&T`, or `&[T]` (which borrows a `Vec<T>`
/// input); `T` must be [`Data`]. A `Result` return's
/// error must convert into [`BoxError`]. The attribute also generates a
/// module with the function's name holding `node()`, and registers the node
/// in the [`registry`] under `module::path::function`; nodes must therefore
/// be defined at module level (not inside a function body).
///
/// The node's version (see [`Node::version`]), which the node cache keys its
/// entries with, is a hash of the function's tokens and, with `batch`, of
/// the batch implementation's.
pub use nodefusion_macros::node;

/// Marks a node's batch implementation, so that a change to its body is a
/// new version of the node (and of the cache entries keyed by it).
///
/// `#[node(batch = f)]` requires it on `f`; without it the build fails with
/// "cannot find value `__nodefusion_batch_version_of_f`".
///
/// ```
/// use nodefusion::{batch, node};
///
/// #[node(output = "doubled", batch = double_all)]
/// fn double(x: i64) -> i64 { x * 2 }
///
/// #[batch]
/// fn double_all(x: Vec<i64>) -> Vec<i64> { x.into_iter().map(|x| x * 2).collect() }
///
/// fn main() {
///     assert_eq!(double_all(vec![1, 2]), vec![2, 4]); // still a plain function
///     assert!(double::node().batch().is_some());
/// }
/// ```
pub use nodefusion_macros::batch;
