//! `ndcg(hits, judgements, k)` and `recall(hits, judgements, k)`: one
//! query's trec_eval measure ([`crate::metrics`]); `AVG` over the judged
//! queries gives trec_eval's mean.

use std::sync::Arc;

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{arg_error, check_count, literal_k, scalar};
use super::hits::{ListsOf, check_hits, check_list_of};
use crate::metrics::{Measure, Qrels, Run, evaluate};

/// A per-query measure: `f(hits, judgements, k) -> Float64`.
///
/// `hits` are ranked in list order (first is rank 1; their scores are not
/// read, so ties never reorder them). `judgements` are the query's
/// `{uuid, relevance}` structs (relevant when `relevance >= 1`). NULL hits
/// count as no hits (0, as trec_eval `-c` counts a judged query the run
/// missed, so a `LEFT JOIN` from the judgements is right); NULL judgements
/// give NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct QueryMeasure {
    name: &'static str,
    /// The measure at a cut-off of 1 (its kind).
    kind: Measure,
    signature: Signature,
}

impl QueryMeasure {
    /// `ndcg(hits, judgements, k)`: trec_eval's `ndcg_cut_k`.
    pub(super) fn ndcg() -> Self {
        Self::new("ndcg", Measure::Ndcg(1))
    }

    /// `recall(hits, judgements, k)`: trec_eval's `recall_k`.
    pub(super) fn recall() -> Self {
        Self::new("recall", Measure::Recall(1))
    }

    fn new(name: &'static str, kind: Measure) -> Self {
        Self {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for QueryMeasure {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        check_count(self.name, types, &["hits", "judgements", "k"])?;
        check_hits(self.name, 1, "hits", &types[0])?;
        check_list_of(self.name, 2, "judgements", &types[1], "relevance", DataType::is_numeric)?;
        if !types[2].is_integer() {
            return Err(arg_error(
                self.name,
                3,
                "k",
                format!("must be an integer, not {}", types[2]),
            ));
        }
        Ok(types.to_vec())
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        literal_k(self.name, 3, args.scalar_arguments.get(2).copied().flatten())?;
        Ok(Arc::new(Field::new(self.name, DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let k = literal_k(self.name, 3, scalar(&args.args[2]))?;
        let measure = match self.kind {
            Measure::Recall(_) => Measure::Recall(k),
            _ => Measure::Ndcg(k),
        };
        let hits = ListsOf::new(&args.args[0].to_array(args.number_rows)?, "score")?;
        let judgements = ListsOf::new(&args.args[1].to_array(args.number_rows)?, "relevance")?;
        let values = (0..args.number_rows)
            .map(|row| {
                let Some(judged) = judgements.row(row) else {
                    return Ok(None);
                };
                let qrels: Qrels = [(
                    "q".to_owned(),
                    judged.iter().map(|&(d, r)| (d.to_owned(), r as i32)).collect(),
                )]
                .into();
                // Rank-based scores: the list's order is the ranking.
                let ranked = hits.row(row).unwrap_or_default();
                let run: Run = [(
                    "q".to_owned(),
                    ranked
                        .iter()
                        .enumerate()
                        .map(|(i, &(d, _))| (d.to_owned(), -(i as f64 + 1.0)))
                        .collect(),
                )]
                .into();
                let evaluation = evaluate(&qrels, &run, &[measure])
                    .map_err(|e| DataFusionError::Execution(format!("{}: row {row}: {e}", self.name)))?;
                Ok(evaluation.mean.get(&measure.to_string()).copied())
            })
            .collect::<Result<Float64Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}
