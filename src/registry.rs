//! The process-wide registry of nodes made by `#[node]`.
//!
//! Every `#[node]` function registers itself at link time (through the
//! `inventory` crate), so a binary that links the same crates — a Ballista
//! executor, say — can rebuild any node of a plan from its [`Node::id`].
//!
//! ```
//! #[nodefusion::node(output = "doubled")]
//! fn double(x: i64) -> i64 { x * 2 }
//!
//! fn main() {
//!     let found = nodefusion::registry::find(double::node().id()).unwrap();
//!     assert_eq!(found.output_names(), vec!["doubled"]);
//! }
//! ```

use crate::node::Node;

/// One registered node: its id and how to build it.
pub struct NodeRegistration {
    id: &'static str,
    make: fn() -> Node,
}

impl NodeRegistration {
    /// A registration; used by the code `#[node]` generates.
    pub const fn new(id: &'static str, make: fn() -> Node) -> Self {
        NodeRegistration { id, make }
    }
}

inventory::collect!(NodeRegistration);

/// The node registered under `id`, if this binary links it.
pub fn find(id: &str) -> Option<Node> {
    inventory::iter::<NodeRegistration>
        .into_iter()
        .find(|r| r.id == id)
        .map(|r| (r.make)())
}

/// The ids of all registered nodes, sorted.
pub fn ids() -> Vec<&'static str> {
    let mut ids: Vec<_> = inventory::iter::<NodeRegistration>.into_iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids
}
