//! A physical optimizer rule that collects a top-level map's items in one
//! phase instead of two.
//!
//! DataFusion plans every aggregate as a partial phase per partition and a
//! final phase over their states. For `nf_collect` with no grouping (the
//! map at the top of a pipeline) the partial phase only concatenates its
//! partition's items into a state, which the final phase then sorts into
//! a second copy: the largest column of a pipeline, a corpus' token
//! matrix, is held twice at once. Run on one machine, the rule turns
//!
//! ```text
//! AggregateExec: mode=Final, gby=[], aggr=[nf_collect(..), ..]
//!   CoalescePartitionsExec
//!     AggregateExec: mode=Partial, gby=[], aggr=[nf_collect(..), ..]
//!       <the map's partitions>
//! ```
//!
//! into one `mode=Single` aggregate over the coalesced partitions, which
//! still run the map's nodes in parallel. The items are then copied once,
//! into input order, and each arriving chunk is let go as soon as its last
//! item is copied. Grouped collects (maps inside maps) and distributed
//! plans keep both phases: there the partial states are what travels.

use std::sync::Arc;

use datafusion::common::Result as DfResult;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;

use super::collect::is_collect;

/// See the [module documentation](self).
#[derive(Debug, Default)]
pub(crate) struct CollectInOnePhase;

impl CollectInOnePhase {
    /// DataFusion's default physical optimizer rules with this one run just
    /// before the final sanity check of the plan.
    pub(crate) fn with_default_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
        let mut rules = PhysicalOptimizer::new().rules;
        let at = rules
            .iter()
            .position(|r| r.name() == "SanityCheckPlan")
            .unwrap_or(rules.len());
        rules.insert(at, Arc::new(CollectInOnePhase));
        rules
    }
}

/// The partial aggregate under `plan` when `plan` is the final phase of an
/// ungrouped aggregate with an `nf_collect` and nothing between the phases
/// but the coalescing of partitions.
fn ungrouped_collect(plan: &Arc<dyn ExecutionPlan>) -> Option<&AggregateExec> {
    let last = plan.downcast_ref::<AggregateExec>()?;
    if *last.mode() != AggregateMode::Final
        || !last.group_expr().is_empty()
        || last.limit_options().is_some()
        || !last.aggr_expr().iter().any(|a| is_collect(a.fun()))
    {
        return None;
    }
    let coalesce = last.input().downcast_ref::<CoalescePartitionsExec>()?;
    if coalesce.fetch().is_some() {
        return None;
    }
    let partial = coalesce.input().downcast_ref::<AggregateExec>()?;
    (*partial.mode() == AggregateMode::Partial).then_some(partial)
}

impl PhysicalOptimizerRule for CollectInOnePhase {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| {
            let Some(partial) = ungrouped_collect(&plan) else {
                return Ok(Transformed::no(plan));
            };
            let single = AggregateExec::try_new(
                AggregateMode::Single,
                partial.group_expr().clone(),
                partial.aggr_expr().to_vec(),
                partial.filter_expr().to_vec(),
                Arc::new(CoalescePartitionsExec::new(Arc::clone(partial.input()))),
                partial.input_schema(),
            )?;
            Ok(Transformed::yes(Arc::new(single) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "nodefusion_collect_in_one_phase"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
