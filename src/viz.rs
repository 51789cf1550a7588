//! The pipeline graph as Graphviz DOT and as Mermaid text. Nested pipelines
//! are drawn as clusters (subgraphs); mapped ones say what they map over, and
//! the nodes running per item are marked (double border in DOT, a
//! subroutine shape in Mermaid).
//!
//! ```
//! use nodefusion::{node, pipeline};
//!
//! #[node(output = "y")]
//! fn inc(x: i64) -> i64 { x + 1 }
//!
//! fn main() {
//!     let inner = pipeline![inc::node()].unwrap();
//!     let outer = pipeline![inner.as_node("all").rename_input("x", "xs").map_over(["xs"])].unwrap();
//!     assert!(outer.to_dot().contains("subgraph cluster_"));
//!     assert!(outer.to_mermaid().contains("map over xs"));
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::pipeline::{Pipeline, Step};

enum Item {
    Input {
        id: String,
        name: String,
    },
    Node {
        id: String,
        name: String,
        per_item: bool,
        batch: bool,
    },
    Cluster {
        id: String,
        label: String,
        mapped: bool,
        items: Vec<Item>,
    },
}

struct Edge {
    from: String,
    to: String,
    label: String,
}

#[derive(Default)]
struct Graph {
    items: Vec<Item>,
    edges: Vec<Edge>,
    next_id: usize,
}

impl Graph {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// Adds the steps of `pipeline` to `items`, wiring names in `sources`
    /// (value name → id of what produces it); returns the ids producing the
    /// pipeline's outputs.
    fn add(
        &mut self,
        pipeline: &Pipeline,
        sources: &BTreeMap<String, String>,
        per_item: bool,
        items: &mut Vec<Item>,
    ) -> BTreeMap<String, String> {
        let mut sources = sources.clone();
        let mut produced = BTreeMap::new();
        for step in pipeline.steps() {
            match step {
                Step::Node(node) => {
                    let id = self.id("n");
                    for input in node.inputs() {
                        if let Some(from) = sources.get(&input.name) {
                            self.edges.push(Edge {
                                from: from.clone(),
                                to: id.clone(),
                                label: input.name.clone(),
                            });
                        }
                    }
                    for output in node.outputs() {
                        sources.insert(output.name.clone(), id.clone());
                        produced.insert(output.name.clone(), id.clone());
                    }
                    items.push(Item::Node {
                        id,
                        name: node.name().into(),
                        per_item,
                        batch: node.batch().is_some(),
                    });
                }
                Step::Pipeline(nested) => {
                    let Ok(ports) = nested.ports() else { continue };
                    let mut inner_sources = BTreeMap::new();
                    for input in &ports.inputs {
                        if let Some(from) = sources.get(&input.outer.name) {
                            inner_sources.insert(input.inner.name.clone(), from.clone());
                        }
                    }
                    let id = self.id("cluster_");
                    let mut inner_items = Vec::new();
                    let inner_out = self.add(
                        nested.pipeline(),
                        &inner_sources,
                        per_item || nested.is_mapped(),
                        &mut inner_items,
                    );
                    for output in &ports.outputs {
                        if let Some(from) = inner_out.get(&output.inner.name) {
                            sources.insert(output.outer.name.clone(), from.clone());
                            produced.insert(output.outer.name.clone(), from.clone());
                        }
                    }
                    let label = if nested.is_mapped() {
                        format!(
                            "{} (map over {}, {})",
                            nested.name(),
                            nested.mapped_inputs().join(", "),
                            nested.mode()
                        )
                    } else {
                        nested.name().to_string()
                    };
                    items.push(Item::Cluster {
                        id,
                        label,
                        mapped: nested.is_mapped(),
                        items: inner_items,
                    });
                }
            }
        }
        produced
    }

    fn build(pipeline: &Pipeline) -> Graph {
        let mut graph = Graph::default();
        let mut sources = BTreeMap::new();
        let mut items = Vec::new();
        for input in pipeline.inputs() {
            let id = graph.id("in");
            sources.insert(input.name.clone(), id.clone());
            items.push(Item::Input {
                id,
                name: input.name.clone(),
            });
        }
        graph.add(pipeline, &sources, false, &mut items);
        graph.items = items;
        graph
    }
}

fn escape(text: &str) -> String {
    text.replace('"', "'")
}

fn write_dot_items(out: &mut String, items: &[Item], indent: usize) {
    let pad = "  ".repeat(indent);
    for item in items {
        match item {
            Item::Input { id, name } => {
                let _ = writeln!(out, "{pad}{id} [label=\"{}\", shape=ellipse];", escape(name));
            }
            Item::Node {
                id,
                name,
                per_item,
                batch,
            } => {
                let label = if *batch {
                    format!("{name}\\n(batch)")
                } else {
                    escape(name)
                };
                let periph = if *per_item { ", peripheries=2" } else { "" };
                let _ = writeln!(out, "{pad}{id} [label=\"{label}\", shape=box{periph}];");
            }
            Item::Cluster {
                id,
                label,
                mapped,
                items,
            } => {
                let _ = writeln!(out, "{pad}subgraph {id} {{");
                let style = if *mapped { "dashed" } else { "solid" };
                let _ = writeln!(out, "{pad}  label=\"{}\"; style={style};", escape(label));
                write_dot_items(out, items, indent + 1);
                let _ = writeln!(out, "{pad}}}");
            }
        }
    }
}

fn write_mermaid_items(out: &mut String, items: &[Item], indent: usize) {
    let pad = "  ".repeat(indent);
    for item in items {
        match item {
            Item::Input { id, name } => {
                let _ = writeln!(out, "{pad}{id}([\"{}\"])", escape(name));
            }
            Item::Node {
                id,
                name,
                per_item,
                batch,
            } => {
                let label = if *batch {
                    format!("{name} (batch)")
                } else {
                    escape(name)
                };
                if *per_item {
                    let _ = writeln!(out, "{pad}{id}[[\"{label}\"]]");
                } else {
                    let _ = writeln!(out, "{pad}{id}[\"{label}\"]");
                }
            }
            Item::Cluster { id, label, items, .. } => {
                let _ = writeln!(out, "{pad}subgraph {id}[\"{}\"]", escape(label));
                write_mermaid_items(out, items, indent + 1);
                let _ = writeln!(out, "{pad}end");
            }
        }
    }
}

impl Pipeline {
    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let graph = Graph::build(self);
        let mut out = String::from("digraph pipeline {\n  rankdir=TB;\n");
        write_dot_items(&mut out, &graph.items, 1);
        for edge in &graph.edges {
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"{}\"];",
                edge.from,
                edge.to,
                escape(&edge.label)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let graph = Graph::build(self);
        let mut out = String::from("flowchart TD\n");
        write_mermaid_items(&mut out, &graph.items, 1);
        for edge in &graph.edges {
            let _ = writeln!(out, "  {} -->|{}| {}", edge.from, escape(&edge.label), edge.to);
        }
        out
    }
}
