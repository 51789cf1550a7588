//! Errors, one enum per layer, each variant named after who is at fault.

use std::fmt;

use crate::engine::wire::Portable;
use crate::node::BoxError;
use crate::resource::ResourceError;
use crate::value::TypeError;

/// `Result` with nodefusion's run-time [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A pipeline could not be built: the wiring of its nodes is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    /// Two steps produce the same name.
    #[error("output '{output}' is produced by both '{first}' and '{second}'")]
    DuplicateOutput {
        /// The name produced twice.
        output: String,
        /// The first producer.
        first: String,
        /// The second producer.
        second: String,
    },
    /// The steps depend on each other in a cycle.
    #[error("the pipeline has a cycle: {}", format_cycle(.cycle))]
    Cycle {
        /// The cycle as (step, value it produces for the next step), the
        /// last step feeding the first.
        cycle: Vec<(String, String)>,
    },
    /// A consumer takes a value under another type than its producer makes.
    #[error("type mismatch for '{value}': '{producer}' produces {produced} but '{consumer}' takes {expected}")]
    TypeMismatch {
        /// The value's name.
        value: String,
        /// The producing step (or `input` for a pipeline input).
        producer: String,
        /// The produced type.
        produced: String,
        /// The consuming step.
        consumer: String,
        /// The type the consumer takes.
        expected: String,
    },
    /// A nested pipeline's renaming or map names a value it does not have.
    #[error("nested pipeline '{node}': {what} '{name}' does not exist; available: {}", .available.join(", "))]
    UnknownName {
        /// The nested pipeline node.
        node: String,
        /// `input`, `output` or `map_over input`.
        what: &'static str,
        /// The unknown name.
        name: String,
        /// The names that exist.
        available: Vec<String>,
    },
    /// A mapped value's type cannot be wrapped in one more list level.
    #[error(
        "nested pipeline '{node}': '{name}' of type {ty} is nested deeper than {} list levels",
        crate::value::MAX_MAP_DEPTH
    )]
    TooDeep {
        /// The nested pipeline node.
        node: String,
        /// The value's name.
        name: String,
        /// Its type.
        ty: String,
    },
    /// A value given to `bind` does not have the type its consumers take.
    #[error("cannot bind '{name}': given {given} but {consumer} takes {expected}")]
    BindType {
        /// The bound name.
        name: String,
        /// The given type.
        given: String,
        /// A consumer of the name.
        consumer: String,
        /// The type it takes.
        expected: String,
    },
    /// `bind` of a name the pipeline does not take as input.
    #[error("cannot bind '{name}': it is not an input of the pipeline; inputs: {}", .inputs.join(", "))]
    NotAnInput {
        /// The bound name.
        name: String,
        /// The pipeline's inputs.
        inputs: Vec<String>,
    },
}

fn format_cycle(cycle: &[(String, String)]) -> String {
    let mut text = String::new();
    for (step, value) in cycle {
        text.push_str(&format!("{step} --({value})--> "));
    }
    if let Some((first, _)) = cycle.first() {
        text.push_str(first);
    }
    text
}

/// One missing input and the steps that need it.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingInput {
    /// The input's name.
    pub name: String,
    /// The steps that consume it.
    pub needed_by: Vec<String>,
}

impl fmt::Display for MissingInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' (needed by {})", self.name, self.needed_by.join(", "))
    }
}

/// A run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline's wiring is wrong.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Inputs the run needs were not given (all of them listed).
    #[error("missing inputs: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    MissingInputs(Vec<MissingInput>),
    /// An input was given with the wrong type.
    #[error("input '{name}' was given as {given} but '{consumer}' takes {expected}")]
    InputType {
        /// The input's name.
        name: String,
        /// The given type.
        given: String,
        /// A consumer of the input.
        consumer: String,
        /// The type it takes.
        expected: String,
    },
    /// An input was given for a name a step produces.
    #[error("'{name}' is produced by '{producer}' and cannot also be given as an input")]
    InputShadowsOutput {
        /// The name.
        name: String,
        /// Its producer.
        producer: String,
    },
    /// A selected or requested output does not exist.
    #[error("unknown output '{name}'; available: {}", .available.join(", "))]
    UnknownOutput {
        /// The requested name.
        name: String,
        /// The outputs that exist.
        available: Vec<String>,
    },
    /// A node returned an error.
    #[error("node '{node}' failed{}: {source}", item_suffix(*.item))]
    NodeFailed {
        /// The node's path (`outer/inner/node`).
        node: String,
        /// The index of the item being processed, for mapped nodes.
        item: Option<usize>,
        /// The node's error.
        source: BoxError,
    },
    /// A node panicked; the panic was caught.
    #[error("node '{node}' panicked{}: {message}", item_suffix(*.item))]
    NodePanicked {
        /// The node's path.
        node: String,
        /// The index of the item being processed, for mapped nodes.
        item: Option<usize>,
        /// The panic message.
        message: String,
    },
    /// A batch implementation returned the wrong number of items.
    #[error("batch implementation of '{node}' returned {returned} items for {expected} inputs")]
    BatchLength {
        /// The node's path.
        node: String,
        /// How many items it got.
        expected: usize,
        /// How many it returned.
        returned: usize,
    },
    /// A batch implementation returned another number of output columns
    /// than the node has outputs.
    #[error("batch implementation of '{node}' returned {returned} output columns for {expected} outputs")]
    BatchColumns {
        /// The node's path.
        node: String,
        /// How many outputs the node declares.
        expected: usize,
        /// How many columns it returned.
        returned: usize,
    },
    /// Lists mapped in zip mode have different lengths.
    #[error("'{node}' maps over lists of different lengths in zip mode: {}{}",
        .lists.iter().map(|(n, l)| format!("'{n}' has {l}")).collect::<Vec<_>>().join(", "),
        item_suffix(*.item))]
    MapLengthMismatch {
        /// The mapped node.
        node: String,
        /// The item of the enclosing map, if nested.
        item: Option<usize>,
        /// Each mapped list and its length.
        lists: Vec<(String, usize)>,
    },
    /// A value did not have the expected type.
    #[error(transparent)]
    Type(#[from] TypeError),
    /// A resource failed to load.
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// A value of a node's port does not convert to or from Arrow: the
    /// fault of the port's type (its author's).
    #[error("{} '{port}' of node '{node}' does not convert {}: {source}",
        if *.output { "output" } else { "input" },
        if *.output { "to Arrow" } else { "from Arrow" })]
    Conversion {
        /// The node's path (`input` for a pipeline input).
        node: String,
        /// The port's name.
        port: String,
        /// An output (to Arrow) rather than an input (from Arrow).
        output: bool,
        /// What the conversion reported.
        source: Box<crate::arrow_convert::ArrowConversionError>,
    },
    /// DataFusion failed planning or executing the lowered plan.
    #[error("DataFusion: {0}")]
    DataFusion(#[source] Box<datafusion::common::DataFusionError>),
    /// An invariant of nodefusion itself broke: a bug, to be reported.
    #[error("internal error, a bug in nodefusion (please report it): {0}")]
    Internal(String),
    /// The node cache could not be opened, listed or cleared. (Entries that
    /// cannot be read or written are misses, with a warning: a run never
    /// fails for its cache.)
    #[error("node cache at {location}: {source}")]
    Cache {
        /// The cache's directory or URL.
        location: String,
        /// What the store reported.
        source: crate::node::BoxError,
    },
    /// An engine's machinery failed (its runtime, a cluster connection, a
    /// remote task).
    #[error("{engine} engine: {message}")]
    Engine {
        /// The engine's name.
        engine: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// A copy with the same message: a node's own error is kept as its
    /// message; errors of other layers become an engine error.
    pub(crate) fn copy(&self) -> Error {
        match self {
            Error::Pipeline(error) => Error::Pipeline(error.clone()),
            Error::Engine { engine, message } => Error::Engine {
                engine,
                message: message.clone(),
            },
            other => Portable::of(other).map_or_else(
                || Error::Engine {
                    engine: "nodefusion",
                    message: other.to_string(),
                },
                Portable::into_error,
            ),
        }
    }
}

/// [`Error::Internal`] with a formatted message: an invariant broke.
macro_rules! bug {
    ($($arg:tt)*) => {
        $crate::error::Error::Internal(format!($($arg)*))
    };
}
pub(crate) use bug;

fn item_suffix(item: Option<usize>) -> String {
    item.map(|i| format!(" on item {i}")).unwrap_or_default()
}
