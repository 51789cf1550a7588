//! The sequential engine: plain in-process execution, the reference semantics
//! the other engines are tested against.
//!
//! Execution is columnar but otherwise as simple as it gets: a *frame* holds
//! one column per value name, each `rows` long (one row at the top level).
//! A node runs once per row — or, when it has a batch implementation and the
//! frame has several rows, once per chunk of rows. A mapped nested pipeline
//! flattens its lists into a frame of items (zip: aligned items; product:
//! every combination), runs the nested pipeline on that frame, and collects
//! each output back into one list per outer row, in input order. This is
//! exactly the `unnest → project → ordered aggregate` shape the DataFusion
//! engine lowers to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::call::{Called, NodeCallSite, RowSource};
use super::report::{Progress, Recorder, advance};
use super::{Engine, path_of};
use crate::cache::Cache;
use crate::error::{Error, bug};
use crate::inputs::{Inputs, Outputs};
use crate::nested::{MapMode, PipelineNode};
use crate::node::Node;
use crate::pipeline::{Pipeline, Step};
use crate::value::Value;

/// Runs pipelines in-process, step by step, in dependency order.
///
/// ```
/// use nodefusion::{Engine, Inputs, SequentialEngine, node, pipeline};
///
/// #[node(output = "y")]
/// fn inc(x: i64) -> i64 { x + 1 }
///
/// fn main() -> Result<(), nodefusion::Error> {
///     let engine = SequentialEngine::default().with_progress(false);
///     let out = engine.run(&pipeline![inc::node()]?, Inputs::new().with("x", 1i64), None)?;
///     assert_eq!(out.get::<i64>("y")?, &2);
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct SequentialEngine {
    progress: bool,
    batch_size: usize,
    cache: Option<Cache>,
}

impl Default for SequentialEngine {
    fn default() -> Self {
        SequentialEngine {
            progress: true,
            batch_size: 1024,
            cache: None,
        }
    }
}

impl SequentialEngine {
    /// Shows or hides progress bars (never drawn when stderr is not a terminal).
    pub fn with_progress(mut self, enabled: bool) -> Self {
        self.progress = enabled;
        self
    }

    /// Items per batch call for nodes without their own batch size.
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// Keeps the results of [cached](crate::Node::with_cache) nodes in
    /// `cache` and takes them from it: see [the cache](crate::cache).
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }
}

impl Engine for SequentialEngine {
    fn run(&self, pipeline: &Pipeline, inputs: Inputs, select: Option<&[&str]>) -> Result<Outputs, Error> {
        let wanted = super::wanted_outputs(pipeline, select)?;
        let required = pipeline.required_steps(&wanted);
        let given = pipeline.resolve_inputs(&inputs, &required)?;
        let mut run = Run {
            engine: self,
            recorder: Recorder::default(),
            progress: Progress::new(self.progress),
        };
        let frame = Frame {
            rows: 1,
            mapped: false,
            columns: given.into_iter().map(|(k, v)| (k, Column::Const(v))).collect(),
        };
        let mut frame = run.execute(pipeline, "", frame, &wanted)?;
        let mut values = BTreeMap::new();
        for name in wanted {
            let ty = pipeline.output_type(&name).expect("wanted outputs are produced");
            let column = frame
                .columns
                .remove(&name)
                .ok_or_else(|| bug!("output '{name}' was not produced"))?;
            values.insert(name, (column.get(0).clone(), ty));
        }
        let report = std::mem::take(&mut run.recorder).finish();
        Ok(Outputs::new(values, report))
    }
}

enum Column {
    /// The same value on every row.
    Const(Value),
    Rows(Vec<Value>),
}

impl Column {
    fn get(&self, row: usize) -> &Value {
        match self {
            Column::Const(v) => v,
            Column::Rows(rows) => &rows[row],
        }
    }
}

/// A node's input columns in a frame; rows are handed out as shared values
/// (the frame keeps its own), so a node taking `T` clones them.
struct FrameRows<'a>(Vec<&'a Column>);

impl RowSource for FrameRows<'_> {
    fn rows(&self, range: std::ops::Range<usize>) -> Result<Vec<Vec<Value>>, Error> {
        Ok(self
            .0
            .iter()
            .map(|column| range.clone().map(|row| column.get(row).clone()).collect())
            .collect())
    }
}

struct Frame {
    rows: usize,
    /// Whether the rows are items of a map (errors then name the item).
    mapped: bool,
    columns: HashMap<String, Column>,
}

struct Run<'a> {
    engine: &'a SequentialEngine,
    recorder: Recorder,
    progress: Progress,
}

impl Run<'_> {
    fn execute(
        &self,
        pipeline: &Pipeline,
        prefix: &str,
        mut frame: Frame,
        wanted: &BTreeSet<String>,
    ) -> Result<Frame, Error> {
        let (required, needed) = super::plan_steps(pipeline, wanted);
        for (i, step) in pipeline.steps().iter().enumerate() {
            if !required[i] {
                continue;
            }
            let path = path_of(prefix, step.name());
            let span = tracing::info_span!("node", node = %path, rows = frame.rows);
            let _enter = span.enter();
            match step {
                Step::Node(node) => self.run_node(node, &path, &mut frame)?,
                Step::Pipeline(nested) => self.run_nested(nested, &path, &mut frame, &needed)?,
            }
        }
        Ok(frame)
    }

    fn run_node(&self, node: &Node, path: &str, frame: &mut Frame) -> Result<(), Error> {
        let inputs: Vec<&Column> = node
            .inputs()
            .iter()
            .map(|p| {
                frame
                    .columns
                    .get(&p.name)
                    .ok_or_else(|| bug!("'{path}' needs '{}', which was not computed", p.name))
            })
            .collect::<Result<_, _>>()?;
        let rows = frame.rows;
        let bar = self.progress.bar(path, if frame.mapped { rows as u64 } else { 0 });
        let cached = std::sync::atomic::AtomicU64::new(0);
        let started = Instant::now();
        let site = NodeCallSite {
            node,
            path,
            mapped: frame.mapped,
            default_batch_size: self.engine.batch_size,
            item_of: &|row| frame.mapped.then_some(row),
            advance: &|done, hits| advance(&bar, &cached, done, hits),
            cache: self.engine.cache.as_ref(),
        };
        let Called { outputs, calls, hits } = site.call(&FrameRows(inputs), rows)?;
        bar.finish_and_clear();
        self.recorder.record(path, calls, hits, rows as u64, started.elapsed());
        for (port, column) in node.outputs().iter().zip(outputs) {
            frame.columns.insert(port.name.clone(), Column::Rows(column));
        }
        Ok(())
    }

    fn run_nested(
        &self,
        nested: &PipelineNode,
        path: &str,
        frame: &mut Frame,
        needed: &BTreeSet<String>,
    ) -> Result<(), Error> {
        let ports = nested.ports()?;
        let inner_wanted = ports.inner_wanted(needed);
        let inner_pipeline = nested.pipeline();
        let mut columns: HashMap<String, Column> = inner_pipeline
            .bound()
            .iter()
            .map(|(name, (value, _))| (name.clone(), Column::Const(value.clone())))
            .collect();

        if !nested.is_mapped() {
            for input in &ports.inputs {
                let column = take_shared(frame, &input.outer.name)?;
                columns.insert(input.inner.name.clone(), column);
            }
            let inner = Frame {
                rows: frame.rows,
                mapped: frame.mapped,
                columns,
            };
            let mut out = self.execute(inner_pipeline, path, inner, &inner_wanted)?;
            for output in &ports.outputs {
                if let Some(column) = out.columns.remove(&output.inner.name) {
                    frame.columns.insert(output.outer.name.clone(), column);
                }
            }
            return Ok(());
        }

        let mapped = ports.mapped_in_order(nested);
        let mut mapped_columns: Vec<Vec<Value>> = vec![Vec::new(); mapped.len()];
        let mut parent_rows: Vec<usize> = Vec::new();
        let mut counts: Vec<usize> = Vec::with_capacity(frame.rows);
        for row in 0..frame.rows {
            let lists: Vec<Vec<Value>> = mapped
                .iter()
                .map(|input| {
                    let column = frame
                        .columns
                        .get(&input.outer.name)
                        .ok_or_else(|| missing(path, &input.outer.name))?;
                    Ok(input.inner.ty.split_list(column.get(row))?)
                })
                .collect::<Result<_, Error>>()?;
            let combinations = combine(&lists, nested.mode()).ok_or_else(|| Error::MapLengthMismatch {
                node: path.into(),
                item: frame.mapped.then_some(row),
                lists: mapped
                    .iter()
                    .zip(&lists)
                    .map(|(input, list)| (input.outer.name.clone(), list.len()))
                    .collect(),
            })?;
            counts.push(combinations.len());
            for combination in combinations {
                for (k, &index) in combination.iter().enumerate() {
                    mapped_columns[k].push(lists[k][index].clone());
                }
                parent_rows.push(row);
            }
        }
        for (input, column) in mapped.iter().zip(mapped_columns) {
            columns.insert(input.inner.name.clone(), Column::Rows(column));
        }
        for input in ports.inputs.iter().filter(|i| !i.mapped) {
            let column = match frame
                .columns
                .get(&input.outer.name)
                .ok_or_else(|| missing(path, &input.outer.name))?
            {
                Column::Const(v) => Column::Const(v.clone()),
                Column::Rows(rows) => Column::Rows(parent_rows.iter().map(|&r| rows[r].clone()).collect()),
            };
            columns.insert(input.inner.name.clone(), column);
        }
        let inner = Frame {
            rows: parent_rows.len(),
            mapped: true,
            columns,
        };
        let mut out = self.execute(inner_pipeline, path, inner, &inner_wanted)?;
        for output in ports.outputs.iter().filter(|o| inner_wanted.contains(&o.inner.name)) {
            let column = out
                .columns
                .remove(&output.inner.name)
                .ok_or_else(|| missing(path, &output.inner.name))?;
            let mut lists = Vec::with_capacity(counts.len());
            let mut start = 0;
            for &count in &counts {
                let items = (start..start + count).map(|r| column.get(r).clone()).collect();
                lists.push(output.inner.ty.collect_list(items)?);
                start += count;
            }
            frame.columns.insert(output.outer.name.clone(), Column::Rows(lists));
        }
        Ok(())
    }
}

/// A column shared with a nested pipeline (values are reference-counted).
fn take_shared(frame: &Frame, name: &str) -> Result<Column, Error> {
    match frame.columns.get(name) {
        Some(Column::Const(v)) => Ok(Column::Const(v.clone())),
        Some(Column::Rows(rows)) => Ok(Column::Rows(rows.clone())),
        None => Err(missing("nested pipeline", name)),
    }
}

fn missing(path: &str, name: &str) -> Error {
    bug!("'{path}' needs '{name}', which was not computed")
}

/// The item index combinations of a map: `None` if zipped lists differ in
/// length.
fn combine(lists: &[Vec<Value>], mode: MapMode) -> Option<Vec<Vec<usize>>> {
    match mode {
        MapMode::Zip => {
            let len = lists.first().map_or(0, Vec::len);
            if lists.iter().any(|l| l.len() != len) {
                return None;
            }
            Some((0..len).map(|i| vec![i; lists.len()]).collect())
        }
        MapMode::Product => {
            let mut combinations: Vec<Vec<usize>> = vec![Vec::new()];
            for list in lists {
                combinations = combinations
                    .into_iter()
                    .flat_map(|prefix| {
                        (0..list.len()).map(move |i| {
                            let mut next = prefix.clone();
                            next.push(i);
                            next
                        })
                    })
                    .collect();
            }
            Some(combinations)
        }
    }
}
