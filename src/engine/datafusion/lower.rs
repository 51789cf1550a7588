//! Lowering a pipeline into one DataFusion `LogicalPlan`; the plan's shape
//! is described on the [engine's page](super).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::common::{Column, NullHandling, ScalarValue, UnnestOptions};
use datafusion::functions_aggregate::expr_fn::first_value;
use datafusion::logical_expr::{
    AggregateUDF, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, Partitioning, ScalarUDF, lit, when,
};

use super::collect::collect_udaf;
use super::udf::{NodefusionUdf, UdfConfig};
use crate::cache::Cache;
use crate::engine::path_of;
use crate::engine::report::Recorder;
use crate::error::{Error, bug};
use crate::nested::{MapMode, PipelineNode};
use crate::node::Node;
use crate::pipeline::{Pipeline, Step};
use crate::value::{TypeInfo, Value};

/// Options the lowering needs.
#[derive(Clone, Debug)]
pub(crate) struct LowerOptions {
    pub(crate) target_partitions: usize,
    pub(crate) batch_size: usize,
    /// Spread maps by a hash of their item positions instead of round
    /// robin (see `Lowering::shuffle`): a distributed planner makes the
    /// hash repartition a shuffle stage of its own, whose tasks run
    /// anywhere in the cluster.
    pub(crate) shuffle_maps: bool,
    /// The run's node cache.
    pub(crate) cache: Option<Cache>,
}

/// A lowered pipeline: the plan and, for each selected output, its column
/// and type.
pub(crate) struct Lowered {
    pub(crate) plan: LogicalPlan,
    pub(crate) outputs: Vec<(String, TypeInfo)>,
}

/// The rows of one map level.
#[derive(Clone, Default)]
struct Level {
    /// Position columns of every enclosing map level and this one.
    keys: Vec<String>,
    /// This level's position columns (empty at the top).
    positions: Vec<String>,
}

impl Level {
    fn mapped(&self) -> bool {
        !self.positions.is_empty()
    }

    fn present(&self) -> Option<Expr> {
        self.positions.iter().map(|p| column(p).is_not_null()).reduce(Expr::and)
    }
}

pub(crate) struct Lowering<'a> {
    options: &'a LowerOptions,
    recorder: Arc<Recorder>,
    collect: AggregateUDF,
    next: usize,
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// A literal holding one value, through its Arrow form.
pub(crate) fn literal(value: &Value, ty: &TypeInfo, name: &str) -> Result<Expr, Error> {
    let array = (ty.arrow.to_arrow)(std::slice::from_ref(value)).map_err(|source| Error::Conversion {
        node: "the pipeline".into(),
        port: name.into(),
        output: true,
        source: Box::new(source),
    })?;
    let scalar = ScalarValue::try_from_array(&array, 0).map_err(df)?;
    Ok(lit(scalar))
}

impl<'a> Lowering<'a> {
    pub(crate) fn new(options: &'a LowerOptions, recorder: Arc<Recorder>) -> Self {
        Lowering {
            options,
            recorder,
            collect: collect_udaf(),
            next: 0,
        }
    }

    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("c{}", self.next)
    }

    /// Lowers `pipeline` with its resolved inputs, keeping `wanted` outputs.
    pub(crate) fn lower(
        mut self,
        pipeline: &Pipeline,
        inputs: &std::collections::BTreeMap<String, Value>,
        wanted: &BTreeSet<String>,
    ) -> Result<Lowered, Error> {
        let mut env = HashMap::new();
        let mut row = Vec::new();
        let mut names = Vec::new();
        for (name, value) in inputs {
            let ty = pipeline
                .inputs()
                .iter()
                .find(|p| &p.name == name)
                .map(|p| p.ty)
                .ok_or_else(|| bug!("input '{name}' is not an input of the pipeline"))?;
            let col = self.fresh();
            row.push(literal(value, &ty, name)?);
            names.push(col.clone());
            env.insert(name.clone(), col);
        }
        if row.is_empty() {
            row.push(lit(0i64));
            names.push(self.fresh());
        }
        let values = LogicalPlanBuilder::values(vec![row]).map_err(df)?;
        // VALUES names its columns column1, column2, …: give them ours.
        let renamed: Vec<Expr> = values
            .schema()
            .columns()
            .into_iter()
            .zip(&names)
            .map(|(c, n)| Expr::Column(c).alias(n))
            .collect();
        let plan = values.project(renamed).map_err(df)?;
        let plan = self.lower_pipeline(
            plan,
            pipeline,
            &mut env,
            &Level::default(),
            "",
            wanted,
            &BTreeSet::new(),
        )?;
        let mut outputs = Vec::new();
        let mut select = Vec::new();
        for name in wanted {
            let ty = pipeline.output_type(name).ok_or_else(|| Error::UnknownOutput {
                name: name.clone(),
                available: pipeline.output_names().iter().map(|s| s.to_string()).collect(),
            })?;
            select.push(column(&env[name]).alias(name));
            outputs.push((name.clone(), ty));
        }
        let plan = plan.project(select).map_err(df)?.build().map_err(df)?;
        Ok(Lowered { plan, outputs })
    }

    /// Lowers the required steps of `pipeline`, one after another. Before
    /// each step, the columns of this level's values that no later step and
    /// no wanted output reads are projected away, so a large value (a
    /// corpus' token matrix) is let go after its last reader and never
    /// carried through the maps that follow. `protected` columns belong to
    /// the enclosing level and stay.
    #[allow(clippy::too_many_arguments)]
    fn lower_pipeline(
        &mut self,
        mut plan: LogicalPlanBuilder,
        pipeline: &Pipeline,
        env: &mut HashMap<String, String>,
        level: &Level,
        prefix: &str,
        wanted: &BTreeSet<String>,
        protected: &BTreeSet<String>,
    ) -> Result<LogicalPlanBuilder, Error> {
        let (required, needed) = crate::engine::plan_steps(pipeline, wanted);
        for (i, step) in pipeline.steps().iter().enumerate() {
            if !required[i] {
                continue;
            }
            let live_from = |first: usize| -> BTreeSet<&String> {
                (first..required.len())
                    .filter(|&j| required[j])
                    .flat_map(|j| pipeline.step_inputs(j).iter().map(|p| &p.name))
                    .chain(wanted)
                    .collect()
            };
            let dead = dead_columns(&plan, env, &live_from(i), level, protected);
            plan = project_away(plan, &dead)?;
            let dead_after = dead_columns(&plan, env, &live_from(i + 1), level, protected);
            let path = path_of(prefix, step.name());
            plan = match step {
                Step::Node(node) => self.lower_node(plan, node, &path, env, level)?,
                Step::Pipeline(nested) => self.lower_nested(plan, nested, &path, env, level, &needed, &dead_after)?,
            };
        }
        Ok(plan)
    }

    fn udf(&self, config: UdfConfig, node: Option<Node>) -> ScalarUDF {
        NodefusionUdf::udf(config, node, Some(self.recorder.clone()), self.options.cache.clone())
    }

    fn lower_node(
        &mut self,
        plan: LogicalPlanBuilder,
        node: &Node,
        path: &str,
        env: &mut HashMap<String, String>,
        level: &Level,
    ) -> Result<LogicalPlanBuilder, Error> {
        let mut args: Vec<Expr> = node
            .inputs()
            .iter()
            .map(|p| {
                env.get(&p.name)
                    .map(|c| column(c))
                    .ok_or_else(|| bug!("'{path}' needs '{}', which was not computed", p.name))
            })
            .collect::<Result<_, _>>()?;
        if let Some(first) = level.positions.first() {
            args.push(column(first));
        }
        let udf = self.udf(
            UdfConfig::Node {
                id: node.id().to_string(),
                version: node.version(),
                path: path.to_string(),
                settings: node.settings().clone(),
                mapped: level.mapped(),
                default_batch_size: self.options.batch_size,
                cache: (node.settings().cache)
                    .then(|| self.options.cache.as_ref().and_then(|c| c.url()).map(String::from))
                    .flatten(),
            },
            Some(node.clone()),
        );
        let mut call = udf.call(args);
        if let Some(present) = level.present() {
            call = when(present, call).end().map_err(df)?;
        }
        let mut exprs = all_columns(&plan);
        if let [output] = node.outputs() {
            let col = self.fresh();
            exprs.push(call.alias(&col));
            env.insert(output.name.clone(), col);
            return plan.project(exprs).map_err(df);
        }
        let tmp = self.fresh();
        exprs.push(call.alias(&tmp));
        let plan = plan.project(exprs).map_err(df)?;
        let mut exprs: Vec<Expr> = all_columns(&plan).into_iter().filter(|e| !is_column(e, &tmp)).collect();
        for output in node.outputs() {
            let col = self.fresh();
            let field = self.udf(
                UdfConfig::Field {
                    name: output.name.clone(),
                },
                None,
            );
            exprs.push(field.call(vec![column(&tmp)]).alias(&col));
            env.insert(output.name.clone(), col);
        }
        plan.project(exprs).map_err(df)
    }

    /// Lowers a nested pipeline. The columns `dead_after` it are read by no
    /// later step: a mapped pipeline does not carry them through its rows,
    /// and an unmapped one may let them go.
    #[allow(clippy::too_many_arguments)]
    fn lower_nested(
        &mut self,
        mut plan: LogicalPlanBuilder,
        nested: &PipelineNode,
        path: &str,
        env: &mut HashMap<String, String>,
        level: &Level,
        needed: &BTreeSet<String>,
        dead_after: &BTreeSet<String>,
    ) -> Result<LogicalPlanBuilder, Error> {
        let ports = nested.ports()?;
        let inner_pipeline = nested.pipeline();
        let inner_wanted = ports.inner_wanted(needed);
        let mut inner_env: HashMap<String, String> = HashMap::new();
        let outer_column = |env: &HashMap<String, String>, name: &str| {
            env.get(name)
                .cloned()
                .ok_or_else(|| bug!("'{path}' needs '{name}', which was not computed"))
        };

        if !nested.is_mapped() {
            for input in &ports.inputs {
                inner_env.insert(input.inner.name.clone(), outer_column(env, &input.outer.name)?);
            }
            plan = self.bind_literals(plan, inner_pipeline, &mut inner_env)?;
            // Its steps share this level's columns; those read after it stay.
            let protected: BTreeSet<String> = plan
                .schema()
                .columns()
                .into_iter()
                .map(|c| c.name)
                .filter(|c| !dead_after.contains(c))
                .collect();
            plan = self.lower_pipeline(
                plan,
                inner_pipeline,
                &mut inner_env,
                level,
                path,
                &inner_wanted,
                &protected,
            )?;
            for output in &ports.outputs {
                if let Some(col) = inner_env.get(&output.inner.name) {
                    env.insert(output.outer.name.clone(), col.clone());
                }
            }
            return Ok(plan);
        }

        let mapped = ports.mapped_in_order(nested);
        // Replicated on every item row: broadcast inputs and, in product
        // mode, the lists unnested after the first.
        let mut broadcast: Vec<String> = ports
            .inputs
            .iter()
            .filter(|i| !i.mapped)
            .map(|i| outer_column(env, &i.outer.name))
            .collect::<Result<_, _>>()?;
        if nested.mode() == MapMode::Product {
            for input in mapped.iter().skip(1) {
                broadcast.push(outer_column(env, &input.outer.name)?);
            }
        }
        let broadcast = dedup(broadcast);
        let carried: Vec<String> = plan
            .schema()
            .columns()
            .into_iter()
            .map(|c| c.name)
            .filter(|c| !level.keys.contains(c) && !broadcast.contains(c) && !dead_after.contains(c))
            .collect();

        let mut positions = Vec::new();
        let mut items = Vec::new();
        let groups: Vec<Vec<&crate::nested::NestedInput>> = match nested.mode() {
            MapMode::Zip => vec![mapped.clone()],
            MapMode::Product => mapped.iter().map(|m| vec![*m]).collect(),
        };
        for group in &groups {
            let pos = self.fresh();
            let lists: Vec<String> = group
                .iter()
                .map(|i| outer_column(env, &i.outer.name))
                .collect::<Result<_, _>>()?;
            let positions_call = self
                .udf(
                    UdfConfig::Positions {
                        path: path.to_string(),
                        lists: group.iter().map(|i| i.outer.name.clone()).collect(),
                        mode: nested.mode(),
                    },
                    None,
                )
                .call(lists.iter().map(|l| column(l)).collect());
            let mut exprs: Vec<Expr> = Vec::new();
            let mut unnest = Vec::new();
            let pad = self.udf(UdfConfig::Pad, None);
            for (input, list) in group.iter().zip(&lists) {
                let item = self.fresh();
                exprs.push(pad.call(vec![column(list)]).alias(&item));
                unnest.push(item.clone());
                items.push((input.inner.name.clone(), item));
            }
            exprs.push(positions_call.clone().alias(&pos));
            unnest.push(pos.clone());
            // Keys, positions and items of earlier groups, and broadcast
            // inputs, are needed on every row.
            let mut keep: Vec<String> = level.keys.clone();
            keep.extend(positions.iter().cloned());
            keep.extend(items.iter().take(items.len() - group.len()).map(|(_, c)| c.clone()));
            keep.extend(broadcast.iter().cloned());
            for k in dedup(keep) {
                exprs.push(column(&k));
            }
            let wrap = self.udf(UdfConfig::Wrap, None);
            for c in &carried {
                exprs.push(wrap.call(vec![column(c), positions_call.clone()]).alias(c));
                unnest.push(c.clone());
            }
            plan = plan.project(exprs).map_err(df)?;
            plan = plan
                .unnest_columns_with_options(
                    unnest.iter().map(Column::new_unqualified).collect(),
                    UnnestOptions {
                        null_handling: NullHandling::PreserveAndExpandEmpty,
                        recursions: vec![],
                    },
                )
                .map_err(df)?;
            positions.push(pos);
        }
        if self.options.target_partitions > 1 {
            plan = if self.options.shuffle_maps {
                self.shuffle(plan, level, &positions)?
            } else {
                // Unnest splits its output into `batch_size` batches, which
                // round robin spreads over the partitions.
                plan.repartition(Partitioning::RoundRobinBatch(self.options.target_partitions))
                    .map_err(df)?
            };
        }

        let mut inner_level = level.clone();
        inner_level.keys.extend(positions.iter().cloned());
        inner_level.positions = positions.clone();
        for (inner_name, col) in &items {
            inner_env.insert(inner_name.clone(), col.clone());
        }
        for input in ports.inputs.iter().filter(|i| !i.mapped) {
            inner_env.insert(input.inner.name.clone(), outer_column(env, &input.outer.name)?);
        }
        plan = self.bind_literals(plan, inner_pipeline, &mut inner_env)?;
        // The aggregate below reads the carried and broadcast columns.
        let protected: BTreeSet<String> = carried.iter().chain(&broadcast).cloned().collect();
        plan = self.lower_pipeline(
            plan,
            inner_pipeline,
            &mut inner_env,
            &inner_level,
            path,
            &inner_wanted,
            &protected,
        )?;

        // Back to one row per outer row: each output's items, sorted back
        // into input order by their positions (`nf_collect`).
        let mut aggregates = Vec::new();
        for output in ports.outputs.iter().filter(|o| inner_wanted.contains(&o.inner.name)) {
            let inner_col = inner_env
                .get(&output.inner.name)
                .cloned()
                .ok_or_else(|| bug!("'{path}' did not compute '{}'", output.inner.name))?;
            let mut args: Vec<Expr> = positions.iter().map(|p| column(p)).collect();
            args.push(column(&inner_col));
            let col = self.fresh();
            aggregates.push(self.collect.call(args).alias(&col));
            env.insert(output.outer.name.clone(), col);
        }
        for c in carried.iter().chain(&broadcast) {
            aggregates.push(
                first_value(column(c), vec![])
                    .filter(column(c).is_not_null())
                    .build()
                    .map_err(df)?
                    .alias(c),
            );
        }
        let group: Vec<Expr> = level.keys.iter().map(|k| column(k)).collect();
        plan.aggregate(group, aggregates).map_err(df)
    }

    /// Spreads a map's item rows by a hash of their positions. The
    /// physical optimizer keeps only the repartitions an operator
    /// requires, so the rows are grouped by their keys (one row per group):
    /// the final aggregation needs them hash-partitioned, which a
    /// distributed planner makes a shuffle stage whose tasks spread over
    /// the cluster; the nodes run above it, in those partitions.
    fn shuffle(
        &mut self,
        plan: LogicalPlanBuilder,
        level: &Level,
        positions: &[String],
    ) -> Result<LogicalPlanBuilder, Error> {
        let keys: Vec<&String> = level.keys.iter().chain(positions).collect();
        let values: Vec<Expr> = plan
            .schema()
            .columns()
            .into_iter()
            .filter(|c| !keys.contains(&&c.name))
            .map(|c| {
                let name = c.name.clone();
                first_value(Expr::Column(c), vec![]).alias(name)
            })
            .collect();
        plan.aggregate(keys.into_iter().map(|k| column(k)), values).map_err(df)
    }

    /// Adds the nested pipeline's bound values as literal columns.
    fn bind_literals(
        &mut self,
        plan: LogicalPlanBuilder,
        pipeline: &Pipeline,
        env: &mut HashMap<String, String>,
    ) -> Result<LogicalPlanBuilder, Error> {
        if pipeline.bound().is_empty() {
            return Ok(plan);
        }
        let mut exprs = all_columns(&plan);
        for (name, (value, ty)) in pipeline.bound() {
            let col = self.fresh();
            exprs.push(literal(value, ty, name)?.alias(&col));
            env.insert(name.clone(), col);
        }
        plan.project(exprs).map_err(df)
    }
}

/// The columns of `plan` that hold no `live` value of `env`, except the
/// level's keys and the `protected` columns.
fn dead_columns(
    plan: &LogicalPlanBuilder,
    env: &HashMap<String, String>,
    live: &BTreeSet<&String>,
    level: &Level,
    protected: &BTreeSet<String>,
) -> BTreeSet<String> {
    let kept: BTreeSet<&String> = live.iter().filter_map(|name| env.get(*name)).collect();
    plan.schema()
        .columns()
        .into_iter()
        .map(|c| c.name)
        .filter(|c| !kept.contains(c) && !protected.contains(c) && !level.keys.contains(c))
        .collect()
}

/// `plan` without the `dead` columns (as it is when none is there, or when
/// nothing else would be left).
fn project_away(plan: LogicalPlanBuilder, dead: &BTreeSet<String>) -> Result<LogicalPlanBuilder, Error> {
    let columns = plan.schema().columns();
    let kept: Vec<Expr> = columns
        .iter()
        .filter(|c| !dead.contains(&c.name))
        .cloned()
        .map(Expr::Column)
        .collect();
    if kept.len() == columns.len() || kept.is_empty() {
        return Ok(plan);
    }
    plan.project(kept).map_err(df)
}

fn dedup(names: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names.into_iter().filter(|n| seen.insert(n.clone())).collect()
}

fn all_columns(plan: &LogicalPlanBuilder) -> Vec<Expr> {
    plan.schema().columns().into_iter().map(Expr::Column).collect()
}

fn is_column(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Column(c) if c.name == name)
}

pub(crate) fn df(e: datafusion::common::DataFusionError) -> Error {
    super::from_datafusion(e)
}
