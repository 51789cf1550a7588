//! Calling a node over a chunk of rows: the one path every engine takes.
//!
//! - A mapped node with a batch implementation gets its rows in chunks of
//!   its batch size, split further where a
//!   [constant](crate::node::NodeBuilder::constant)
//!   input's value changes; a failed chunk is retried row by row with the
//!   singular implementation, so the error names the item itself.
//! - Otherwise the singular implementation runs once per row: a sync node
//!   in row order, an async node with up to `concurrency` calls in flight on
//!   one runtime shared by every engine, results kept in row order.
//! - Arguments are handed over owned ([`RowSource`]), so a node moves its
//!   values instead of cloning them.
//! - Panics become errors of their row; a batch implementation's result is
//!   checked for its shape.

use std::future::Future;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

mod cached;

use crate::cache::Cache;
use crate::error::{Error, bug};
use crate::node::{AsyncFn, BatchFn, BoxError, Node, NodeCall};
use crate::resource::panic_message;
use crate::value::Value;

/// Where a call site gets its rows: each call hands out fresh values of the
/// rows in `range`, one column per input, owned by the caller (so a node
/// can move its arguments, and a failed batch can be retried row by row).
/// The rows of a constant input that hold one value share it
/// ([`Value::same`]).
pub(crate) trait RowSource {
    fn rows(&self, range: Range<usize>) -> Result<Vec<Vec<Value>>, Error>;
}

/// Rows converted once and handed out once each: a range's values are moved
/// to the node, so a [`RowSource`] asked for them again must make them afresh.
pub(crate) struct HeldRows(Vec<Vec<Option<Value>>>);

impl HeldRows {
    /// Holds `columns` (one per input).
    pub(crate) fn new(columns: Vec<Vec<Value>>) -> Self {
        HeldRows(
            columns
                .into_iter()
                .map(|column| column.into_iter().map(Some).collect())
                .collect(),
        )
    }

    /// How many columns (inputs) are held.
    pub(crate) fn columns(&self) -> usize {
        self.0.len()
    }

    /// Whether every row of `range` is still held.
    pub(crate) fn holds(&self, range: &Range<usize>) -> bool {
        self.0
            .iter()
            .all(|column| column[range.clone()].iter().all(Option::is_some))
    }

    /// Hands out the rows of `range`, one column per input.
    pub(crate) fn take(&mut self, range: Range<usize>) -> Result<Vec<Vec<Value>>, Error> {
        self.0
            .iter_mut()
            .map(|column| {
                column[range.clone()]
                    .iter_mut()
                    .map(|value| value.take().ok_or_else(|| bug!("rows are handed out once")))
                    .collect()
            })
            .collect()
    }
}

/// How one engine calls one node.
pub(crate) struct NodeCallSite<'a> {
    pub(crate) node: &'a Node,
    /// The node's path in the pipeline, for errors.
    pub(crate) path: &'a str,
    /// Whether the rows are items of a map (only then is a batch
    /// implementation used).
    pub(crate) mapped: bool,
    /// Batch size for nodes that do not set their own.
    pub(crate) default_batch_size: usize,
    /// The item index of a row, for errors.
    pub(crate) item_of: &'a dyn Fn(usize) -> Option<usize>,
    /// Told how many rows are done, as they are, and how many of those
    /// came from the cache.
    pub(crate) advance: &'a dyn Fn(u64, u64),
    /// The run's cache, used when the node [is cached](Node::with_cache).
    pub(crate) cache: Option<&'a Cache>,
}

/// What a call produced: one column per output, how many calls it took,
/// and how many rows were found in the cache.
pub(crate) struct Called {
    pub(crate) outputs: Vec<Vec<Value>>,
    pub(crate) calls: u64,
    pub(crate) hits: u64,
}

impl<'a> NodeCallSite<'a> {
    /// The same call site without the cache.
    fn uncached(&self) -> NodeCallSite<'a> {
        NodeCallSite { cache: None, ..*self }
    }

    /// Calls the node on rows `0..rows` of `source`, through the cache when
    /// the node is cached and the run has one.
    pub(crate) fn call(&self, source: &dyn RowSource, rows: usize) -> Result<Called, Error> {
        match self.cache {
            Some(cache) if self.node.settings().cache && rows > 0 => cached::call(self, cache, source, rows),
            _ => self.call_node(source, rows),
        }
    }

    fn call_node(&self, source: &dyn RowSource, rows: usize) -> Result<Called, Error> {
        let node = self.node;
        let mut called = Called {
            outputs: vec![Vec::with_capacity(rows); node.outputs().len()],
            calls: 0,
            hits: 0,
        };
        let size = node.settings().batch_size.unwrap_or(self.default_batch_size).max(1);
        match (node.batch(), node.call()) {
            (Some(batch), _) if self.mapped => {
                for start in (0..rows).step_by(size) {
                    let end = (start + size).min(rows);
                    let chunk = fetch(source, start..end)?;
                    let mut run_start = start;
                    for (run, len) in split_runs(node, chunk, end - start) {
                        self.call_batch(batch.as_ref(), source, run_start..run_start + len, run, &mut called)?;
                        run_start += len;
                    }
                }
            }
            (_, NodeCall::Sync(f)) => {
                for start in (0..rows).step_by(size) {
                    let end = (start + size).min(rows);
                    let chunk = fetch(source, start..end)?;
                    let mut produced = Vec::with_capacity(called.outputs.len());
                    for (offset, args) in transpose(chunk, end - start).enumerate() {
                        let row = start + offset;
                        produced.clear();
                        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(args, &mut produced)));
                        Failure::of(result).map_err(|failure| failure.at(self.path, (self.item_of)(row)))?;
                        for (out, value) in called.outputs.iter_mut().zip(produced.drain(..)) {
                            out.push(value);
                        }
                        called.calls += 1;
                        (self.advance)(1, 0);
                    }
                }
            }
            (_, NodeCall::Async(f)) => {
                let args = transpose(fetch(source, 0..rows)?, rows);
                let results = call_async(f.clone(), args, node.settings().concurrency);
                for (row, result) in results.into_iter().enumerate() {
                    let values =
                        Failure::of(Ok(result)).map_err(|failure| failure.at(self.path, (self.item_of)(row)))?;
                    for (out, value) in called.outputs.iter_mut().zip(values) {
                        out.push(value);
                    }
                    called.calls += 1;
                }
                (self.advance)(rows as u64, 0);
            }
        }
        Ok(called)
    }

    /// One batch call on `run` (the rows `rows`); on failure, the rows are
    /// fetched again and tried one by one to name the failing item.
    fn call_batch(
        &self,
        batch: &BatchFn,
        source: &dyn RowSource,
        rows: Range<usize>,
        run: Vec<Vec<Value>>,
        called: &mut Called,
    ) -> Result<(), Error> {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| batch(run)));
        let produced = match Failure::of(outcome) {
            Ok(produced) => produced,
            Err(failure) => {
                let (row, failure) =
                    failing_row(self.node, fetch(source, rows.clone())?, rows.len()).unwrap_or((0, failure));
                return Err(failure.at(self.path, (self.item_of)(rows.start + row)));
            }
        };
        check_batch_shape(self.path, &produced, called.outputs.len(), rows.len())?;
        for (out, column) in called.outputs.iter_mut().zip(produced) {
            out.extend(column);
        }
        called.calls += 1;
        (self.advance)(rows.len() as u64, 0);
        Ok(())
    }
}

/// Splits a chunk of `rows` rows (one column per input) into runs over
/// which every constant input of `node` holds the same shared value: each
/// run with its length, in row order.
pub(crate) fn split_runs(node: &Node, chunk: Vec<Vec<Value>>, rows: usize) -> Vec<(Vec<Vec<Value>>, usize)> {
    let constants: Vec<&Vec<Value>> = chunk
        .iter()
        .enumerate()
        .filter(|(index, _)| node.is_constant(*index))
        .map(|(_, column)| column)
        .collect();
    let mut lengths = Vec::new();
    let mut start = 0;
    for row in 1..rows {
        if constants.iter().any(|column| !column[row - 1].same(&column[row])) {
            lengths.push(row - start);
            start = row;
        }
    }
    if rows > start {
        lengths.push(rows - start);
    }
    if lengths.len() <= 1 {
        return vec![(chunk, rows)];
    }
    let mut columns: Vec<std::vec::IntoIter<Value>> = chunk.into_iter().map(Vec::into_iter).collect();
    lengths
        .into_iter()
        .map(|len| {
            let run = columns.iter_mut().map(|c| c.by_ref().take(len).collect()).collect();
            (run, len)
        })
        .collect()
}

/// Rows `range` of `source`, each column checked to hold them all.
fn fetch(source: &dyn RowSource, range: Range<usize>) -> Result<Vec<Vec<Value>>, Error> {
    let columns = source.rows(range.clone())?;
    match columns.iter().find(|column| column.len() != range.len()) {
        Some(short) => Err(bug!("rows {range:?} asked for, a column of {} handed out", short.len())),
        None => Ok(columns),
    }
}

/// `rows` rows of columns (one per input) as argument lists, one per row.
fn transpose(columns: Vec<Vec<Value>>, rows: usize) -> impl Iterator<Item = Vec<Value>> {
    let mut columns: Vec<std::vec::IntoIter<Value>> = columns.into_iter().map(Vec::into_iter).collect();
    (0..rows).map(move |_| columns.iter_mut().filter_map(Iterator::next).collect())
}

/// Runs async nodes' futures for every engine; a runtime of its own, so a
/// caller on any thread (a DataFusion task, a test's Tokio runtime, plain
/// code) can wait on it.
static ASYNC_RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("nodefusion-async")
        .enable_all()
        .build()
        .expect("the async node runtime starts")
});

/// Runs `future` to completion on the shared runtime and waits for it, from
/// any thread (inside another Tokio runtime too).
pub(crate) fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = ASYNC_RUNTIME.spawn(future);
    match futures::executor::block_on(task) {
        Ok(output) => output,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

type AsyncResult = Result<Vec<Value>, BoxError>;

/// One future per row, at most `limit` in flight, results in row order.
/// Panics inside a future come back as errors of that row.
fn call_async(f: Arc<AsyncFn>, rows: impl Iterator<Item = Vec<Value>>, limit: usize) -> Vec<AsyncResult> {
    let calls: Vec<BoxFuture<'static, AsyncResult>> = rows.map(|args| guard(f(args))).collect();
    block_on(futures::stream::iter(calls).buffered(limit.max(1)).collect::<Vec<_>>())
}

/// A node's future whose panic becomes an error.
fn guard(future: BoxFuture<'static, AsyncResult>) -> BoxFuture<'static, AsyncResult> {
    Box::pin(async move {
        match AssertUnwindSafe(future).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(format!("panicked: {}", panic_message(panic.as_ref())).into()),
        }
    })
}

/// Checks what a batch implementation returned for `items` items: one
/// column per output, each `items` long.
pub(crate) fn check_batch_shape(
    path: &str,
    produced: &[Vec<Value>],
    outputs: usize,
    items: usize,
) -> Result<(), Error> {
    if produced.len() != outputs {
        return Err(Error::BatchColumns {
            node: path.into(),
            expected: outputs,
            returned: produced.len(),
        });
    }
    match produced.iter().find(|column| column.len() != items) {
        Some(column) => Err(Error::BatchLength {
            node: path.into(),
            expected: items,
            returned: column.len(),
        }),
        None => Ok(()),
    }
}

/// Why a node call returned nothing: its error, or its panic's message.
enum Failure {
    Error(BoxError),
    Panic(String),
}

impl Failure {
    /// The value of a call made under `catch_unwind`, or why there is none.
    fn of<T>(outcome: std::thread::Result<Result<T, BoxError>>) -> Result<T, Failure> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(Failure::Error(source)),
            Err(panic) => Err(Failure::Panic(panic_message(panic.as_ref()))),
        }
    }

    /// The run's error for this failure of `node` on `item`.
    fn at(self, node: &str, item: Option<usize>) -> Error {
        match self {
            Failure::Error(source) => Error::NodeFailed {
                node: node.into(),
                item,
                source,
            },
            Failure::Panic(message) => Error::NodePanicked {
                node: node.into(),
                item,
                message,
            },
        }
    }
}

/// After a batch call failed: the first row of `chunk` (one column per
/// input) on which the node's synchronous singular implementation fails
/// too, with that failure, so the error can name the item itself rather
/// than its batch. `None` when every row succeeds alone or the node is async.
fn failing_row(node: &Node, chunk: Vec<Vec<Value>>, rows: usize) -> Option<(usize, Failure)> {
    let NodeCall::Sync(call) = node.call() else {
        return None;
    };
    let mut out = Vec::new();
    transpose(chunk, rows).enumerate().find_map(|(row, args)| {
        out.clear();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| call(args, &mut out)));
        Failure::of(outcome).err().map(|failure| (row, failure))
    })
}
