//! Calling a node over a chunk of rows: the one path every engine takes.
//!
//! - A mapped node with a batch implementation gets its rows in chunks of
//!   its batch size; a failed chunk is retried row by row with the singular
//!   implementation, so the error names the item itself.
//! - Otherwise the singular implementation runs once per row: a sync node
//!   in row order, an async node with up to `concurrency` calls in flight on
//!   one runtime shared by every engine, results kept in row order.
//! - Panics become errors of their row; a batch implementation's result is
//!   checked for its shape.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use crate::error::Error;
use crate::node::{AsyncFn, BoxError, Node, NodeCall};
use crate::resource::panic_message;
use crate::value::Value;

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
    /// Told how many rows are done, as they are.
    pub(crate) advance: &'a dyn Fn(u64),
}

/// What a call produced: one column per output, and how many calls it took.
pub(crate) struct Called {
    pub(crate) outputs: Vec<Vec<Value>>,
    pub(crate) calls: u64,
}

impl NodeCallSite<'_> {
    /// Calls the node on `rows` rows of `columns` (one per input).
    pub(crate) fn call(&self, columns: &[Vec<Value>], rows: usize) -> Result<Called, Error> {
        let node = self.node;
        let mut outputs: Vec<Vec<Value>> = vec![Vec::with_capacity(rows); node.outputs().len()];
        let mut calls = 0u64;
        match (node.batch(), self.mapped) {
            (Some(batch), true) if rows > 0 => {
                let size = node.settings().batch_size.unwrap_or(self.default_batch_size).max(1);
                for start in (0..rows).step_by(size) {
                    let end = (start + size).min(rows);
                    let chunk: Vec<Vec<Value>> = columns.iter().map(|c| c[start..end].to_vec()).collect();
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| batch(&chunk)));
                    let produced = match Failure::of(outcome) {
                        Ok(produced) => produced,
                        Err(failure) => {
                            let (row, failure) = failing_row(node, &chunk).unwrap_or((0, failure));
                            return Err(failure.at(self.path, (self.item_of)(start + row)));
                        }
                    };
                    check_batch_shape(self.path, &produced, outputs.len(), end - start)?;
                    for (out, column) in outputs.iter_mut().zip(produced) {
                        out.extend(column);
                    }
                    calls += 1;
                    (self.advance)((end - start) as u64);
                }
            }
            _ => match node.call() {
                NodeCall::Sync(f) => {
                    let mut args = Vec::with_capacity(columns.len());
                    let mut produced = Vec::with_capacity(outputs.len());
                    for row in 0..rows {
                        args.clear();
                        args.extend(columns.iter().map(|c| c[row].clone()));
                        produced.clear();
                        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&args, &mut produced)));
                        Failure::of(result).map_err(|failure| failure.at(self.path, (self.item_of)(row)))?;
                        for (out, value) in outputs.iter_mut().zip(produced.drain(..)) {
                            out.push(value);
                        }
                        calls += 1;
                        (self.advance)(1);
                    }
                }
                NodeCall::Async(f) => {
                    let results = call_async(f.clone(), columns, rows, node.settings().concurrency);
                    for (row, result) in results.into_iter().enumerate() {
                        let values =
                            Failure::of(Ok(result)).map_err(|failure| failure.at(self.path, (self.item_of)(row)))?;
                        for (out, value) in outputs.iter_mut().zip(values) {
                            out.push(value);
                        }
                        calls += 1;
                    }
                    (self.advance)(rows as u64);
                }
            },
        }
        Ok(Called { outputs, calls })
    }
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
fn call_async(f: Arc<AsyncFn>, columns: &[Vec<Value>], rows: usize, limit: usize) -> Vec<AsyncResult> {
    let calls: Vec<BoxFuture<'static, AsyncResult>> = (0..rows)
        .map(|row| guard(f(columns.iter().map(|c| c[row].clone()).collect())))
        .collect();
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
fn check_batch_shape(path: &str, produced: &[Vec<Value>], outputs: usize, items: usize) -> Result<(), Error> {
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
fn failing_row(node: &Node, chunk: &[Vec<Value>]) -> Option<(usize, Failure)> {
    let NodeCall::Sync(call) = node.call() else {
        return None;
    };
    let rows = chunk.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    (0..rows).find_map(|row| {
        let args: Vec<_> = chunk.iter().map(|column| column[row].clone()).collect();
        out.clear();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| call(&args, &mut out)));
        Failure::of(outcome).err().map(|failure| (row, failure))
    })
}
