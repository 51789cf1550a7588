//! Nodes: a function with named inputs and outputs.
//!
//! Most nodes come from the [`#[node]`](macro@crate::node) attribute on a plain
//! function; [`Node::builder`] builds one at run time (tests, generated
//! pipelines). A node is a cheap handle: cloning it shares the function.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::value::{Data, TypeInfo, Value};

/// The error type a node may return; any `std::error::Error` converts into it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A named, typed input or output of a node or pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// The value's name, e.g. `encoded_passage`.
    pub name: String,
    /// The value's type.
    pub ty: TypeInfo,
}

impl Port {
    /// A port named `name` carrying `T`.
    pub fn of<T: Data>(name: impl Into<String>) -> Self {
        Port {
            name: name.into(),
            ty: TypeInfo::of::<T>(),
        }
    }
}

/// A synchronous singular call: the arguments in input order in (owned, so
/// the node can move them), the outputs in output order pushed onto the
/// second argument.
pub type SyncFn = dyn Fn(Vec<Value>, &mut Vec<Value>) -> Result<(), BoxError> + Send + Sync;
/// An asynchronous singular call.
pub type AsyncFn = dyn Fn(Vec<Value>) -> BoxFuture<'static, Result<Vec<Value>, BoxError>> + Send + Sync;
/// A batch call: one column (`Vec`) per input in, one column per output out,
/// each as long as the input columns. The column of a
/// [constant](NodeBuilder::constant) input holds one shared value
/// ([`Value::same`]) on every row.
pub type BatchFn = dyn Fn(Vec<Vec<Value>>) -> Result<Vec<Vec<Value>>, BoxError> + Send + Sync;

/// How a node's singular implementation is called.
#[derive(Clone)]
pub enum NodeCall {
    /// A plain function.
    Sync(Arc<SyncFn>),
    /// An `async fn`.
    Async(Arc<AsyncFn>),
}

/// Per-node execution settings. They travel with the node (in plans, as
/// codec bytes) and never change its results.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeSettings {
    /// Items per call of the batch implementation; `None` uses the engine's
    /// default.
    pub batch_size: Option<usize>,
    /// How many calls of an async node may run at once inside one batch.
    pub concurrency: usize,
    /// Whether the node's results are kept in the run's
    /// [cache](crate::cache), when the engine has one.
    #[serde(default)]
    pub cache: bool,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            batch_size: None,
            concurrency: 16,
            cache: false,
        }
    }
}

struct NodeDef {
    name: String,
    id: String,
    version: u64,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    call: NodeCall,
    batch: Option<Arc<BatchFn>>,
    /// Per input: whether the batch implementation takes it once per call.
    constant: Vec<bool>,
}

/// A function with named inputs and outputs.
///
/// ```
/// use nodefusion::{Node, Value};
/// let double = Node::builder("double")
///     .input::<i64>("x")
///     .output::<i64>("doubled")
///     .sync(|args, out| {
///         let x = args[0].downcast_ref::<i64>().unwrap();
///         out.push(Value::new(x * 2));
///         Ok(())
///     })
///     .build();
/// assert_eq!(double.input_names(), vec!["x"]);
/// ```
#[derive(Clone)]
pub struct Node {
    def: Arc<NodeDef>,
    settings: NodeSettings,
}

impl Node {
    /// Starts building a node named `name`.
    pub fn builder(name: impl Into<String>) -> NodeBuilder {
        NodeBuilder::new(name.into())
    }

    /// The node's short name (its function's name).
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The node's identity across processes: `module::path::function` for
    /// nodes made by `#[node]`, the name otherwise. Executors find a node
    /// by this id in the [registry](crate::registry).
    pub fn id(&self) -> &str {
        &self.def.id
    }

    /// A stable hash of the node's definition (its source text for
    /// `#[node]` functions), for caching.
    pub fn version(&self) -> u64 {
        self.def.version
    }

    /// The inputs, in parameter order.
    pub fn inputs(&self) -> &[Port] {
        &self.def.inputs
    }

    /// The outputs, in declaration order.
    pub fn outputs(&self) -> &[Port] {
        &self.def.outputs
    }

    /// The input names, in parameter order.
    pub fn input_names(&self) -> Vec<&str> {
        self.def.inputs.iter().map(|p| p.name.as_str()).collect()
    }

    /// The output names, in declaration order.
    pub fn output_names(&self) -> Vec<&str> {
        self.def.outputs.iter().map(|p| p.name.as_str()).collect()
    }

    /// The singular implementation.
    pub fn call(&self) -> &NodeCall {
        &self.def.call
    }

    /// The batch implementation, if the node has one.
    pub fn batch(&self) -> Option<&Arc<BatchFn>> {
        self.def.batch.as_ref()
    }

    /// Whether input `index` is constant for the batch implementation: every
    /// row of one batch call holds the same value (see
    /// [`NodeBuilder::constant`]).
    pub fn is_constant(&self, index: usize) -> bool {
        self.def.constant.get(index).copied().unwrap_or(false)
    }

    /// Whether the singular implementation is an `async fn`.
    pub fn is_async(&self) -> bool {
        matches!(self.def.call, NodeCall::Async(_))
    }

    /// The execution settings.
    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    /// The same node calling its batch implementation on chunks of `size`
    /// items when mapped.
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.settings.batch_size = Some(size.max(1));
        self
    }

    /// The same node running at most `limit` async calls at once.
    pub fn with_concurrency(mut self, limit: usize) -> Self {
        self.settings.concurrency = limit.max(1);
        self
    }

    /// The same node with its results kept in the run's
    /// [cache](crate::cache) (or not).
    pub fn with_cache(mut self, cache: bool) -> Self {
        self.settings.cache = cache;
        self
    }

    /// The same node with the given settings.
    pub fn with_settings(mut self, settings: NodeSettings) -> Self {
        self.settings = settings;
        self
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.def.id)
            .field("inputs", &self.def.inputs)
            .field("outputs", &self.def.outputs)
            .field("batch", &self.def.batch.is_some())
            .field("async", &self.is_async())
            .finish()
    }
}

/// Builds a [`Node`]; see [`Node::builder`].
pub struct NodeBuilder {
    name: String,
    id: Option<String>,
    version: Option<u64>,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    call: Option<NodeCall>,
    batch: Option<Arc<BatchFn>>,
    constant: Vec<String>,
    settings: NodeSettings,
}

impl NodeBuilder {
    fn new(name: String) -> Self {
        NodeBuilder {
            name,
            id: None,
            version: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            call: None,
            batch: None,
            constant: Vec::new(),
            settings: NodeSettings::default(),
        }
    }

    /// The identity across processes (defaults to the name).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The definition hash (defaults to a hash of id, inputs and outputs).
    pub fn version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// Adds an input.
    pub fn input<T: Data>(mut self, name: impl Into<String>) -> Self {
        self.inputs.push(Port::of::<T>(name));
        self
    }

    /// Adds an output.
    pub fn output<T: Data>(mut self, name: impl Into<String>) -> Self {
        self.outputs.push(Port::of::<T>(name));
        self
    }

    /// Adds a port of a type known only at run time.
    pub fn port(mut self, port: Port, is_output: bool) -> Self {
        if is_output {
            self.outputs.push(port)
        } else {
            self.inputs.push(port)
        }
        self
    }

    /// Sets a synchronous singular implementation.
    pub fn sync<F>(mut self, f: F) -> Self
    where
        F: Fn(Vec<Value>, &mut Vec<Value>) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.call = Some(NodeCall::Sync(Arc::new(f)));
        self
    }

    /// Sets an asynchronous singular implementation.
    pub fn asynchronous<F>(mut self, f: F) -> Self
    where
        F: Fn(Vec<Value>) -> BoxFuture<'static, Result<Vec<Value>, BoxError>> + Send + Sync + 'static,
    {
        self.call = Some(NodeCall::Async(Arc::new(f)));
        self
    }

    /// Sets the batch implementation.
    pub fn batch<F>(mut self, f: F) -> Self
    where
        F: Fn(Vec<Vec<Value>>) -> Result<Vec<Vec<Value>>, BoxError> + Send + Sync + 'static,
    {
        self.batch = Some(Arc::new(f));
        self
    }

    /// Declares input `name` constant for the batch implementation: the
    /// engines split a chunk of rows where its value changes, so every row
    /// of one batch call holds the same shared value and the
    /// implementation can read it once (a model, a setting). With
    /// `#[node(constant = "name")]` the batch function takes it as `&T`.
    ///
    /// "Changes" is decided cheaply: the DataFusion engine compares
    /// neighbouring rows' Arrow data, the sequential engine whether rows
    /// hold the same shared value (as a value bound or passed into a map
    /// does), and [`check_batch_agrees`](crate::testing::check_batch_agrees)
    /// compares through serde. A constant computed per item inside the map
    /// therefore gets one batch call per row on the sequential engine:
    /// still right, only unbatched.
    ///
    /// ```
    /// use nodefusion::{Node, Value};
    /// let scale = Node::builder("scale")
    ///     .input::<f64>("x")
    ///     .input::<f64>("factor")
    ///     .output::<f64>("y")
    ///     .sync(|args, out| {
    ///         let (x, f) = (args[0].downcast_ref::<f64>().unwrap(), args[1].downcast_ref::<f64>().unwrap());
    ///         out.push(Value::new(x * f));
    ///         Ok(())
    ///     })
    ///     .batch(|columns| {
    ///         let factor = *columns[1][0].downcast_ref::<f64>().unwrap();
    ///         let ys = columns[0].iter().map(|x| Value::new(x.downcast_ref::<f64>().unwrap() * factor));
    ///         Ok(vec![ys.collect()])
    ///     })
    ///     .constant("factor")
    ///     .build();
    /// assert!(scale.is_constant(1));
    /// ```
    pub fn constant(mut self, name: impl Into<String>) -> Self {
        self.constant.push(name.into());
        self
    }

    /// Sets the default batch size.
    pub fn batch_size(mut self, size: usize) -> Self {
        self.settings.batch_size = Some(size.max(1));
        self
    }

    /// Sets the async concurrency limit.
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.settings.concurrency = limit.max(1);
        self
    }

    /// Keeps the node's results in the run's [cache](crate::cache), when
    /// the engine has one (`#[node(..., cache)]`).
    pub fn cache(mut self, cache: bool) -> Self {
        self.settings.cache = cache;
        self
    }

    /// Finishes the node.
    ///
    /// # Panics
    /// If no singular implementation was set, or an input declared
    /// [constant](Self::constant) does not exist: that is a bug in the
    /// calling code, not bad data.
    pub fn build(self) -> Node {
        let constant: Vec<bool> = self
            .inputs
            .iter()
            .map(|port| self.constant.contains(&port.name))
            .collect();
        if let Some(unknown) = self
            .constant
            .iter()
            .find(|name| !self.inputs.iter().any(|p| &p.name == *name))
        {
            panic!(
                "node '{}' declares input '{unknown}' constant but has no such input",
                self.name
            );
        }
        let id = self.id.unwrap_or_else(|| self.name.clone());
        let version = self.version.unwrap_or_else(|| {
            let mut h = std::hash::DefaultHasher::new();
            id.hash(&mut h);
            for p in self.inputs.iter().chain(&self.outputs) {
                p.name.hash(&mut h);
                p.ty.name().hash(&mut h);
            }
            h.finish()
        });
        Node {
            def: Arc::new(NodeDef {
                call: self
                    .call
                    .unwrap_or_else(|| panic!("node '{}' has no implementation", self.name)),
                name: self.name,
                id,
                version,
                inputs: self.inputs,
                outputs: self.outputs,
                batch: self.batch,
                constant,
            }),
            settings: self.settings,
        }
    }
}
