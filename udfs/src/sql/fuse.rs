//! `fuse(method, k, hits, hits, …)` and `fuse(method, k, weight, hits,
//! weight, hits, …)`: one fused list of hits, [`crate::fusion::fuse`].

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{arg_error, check_text, literal_k, literal_text, scalar};
use super::hits::{HitsColumn, ListsOf, check_hits, hits_type};
use crate::fusion::{FusionMethod, FusionParams, fuse};

const NAME: &str = "fuse";

/// `fuse(method, k, [weight,] hits, [weight,] hits, …) -> hits`: the best
/// `k` documents of two or more hit lists by `method` (`rrf`, `min_max`,
/// `z_score`), each list weighted by the literal before it (all or none), or
/// equally. A NULL list counts as an empty one; all NULL gives NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Fuse {
    signature: Signature,
}

impl Fuse {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Where the lists are among the arguments, and whether weights precede
/// them.
fn layout(types: &[DataType]) -> Result<(bool, Vec<usize>)> {
    let weighted = types.get(2).is_some_and(DataType::is_numeric);
    let step = if weighted { 2 } else { 1 };
    let first = if weighted { 3 } else { 2 };
    let lists: Vec<usize> = (first..types.len()).step_by(step).collect();
    let shape = if weighted {
        "method, k, weight, hits, weight, hits, …"
    } else {
        "method, k, hits, hits, …"
    };
    if lists.len() < 2 || (weighted && types.len() % 2 == 1) {
        return Err(DataFusionError::Plan(format!(
            "{NAME} takes two or more hit lists ({shape}), not {} arguments",
            types.len()
        )));
    }
    Ok((weighted, lists))
}

/// The method named by argument 1.
fn method(value: Option<&ScalarValue>) -> Result<FusionMethod> {
    let text = literal_text(value).ok_or_else(|| arg_error(NAME, 1, "method", "must be a literal text"))?;
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        arg_error(
            NAME,
            1,
            "method",
            format!("is '{text}'; one of 'rrf', 'min_max', 'z_score'"),
        )
    })
}

/// The weight literal at argument `position` (1-based).
fn weight(position: usize, value: Option<&ScalarValue>) -> Result<f64> {
    let bad = |problem: String| arg_error(NAME, position, "weight", problem);
    let value = value.ok_or_else(|| bad("must be a literal number".into()))?;
    let weight = match value.cast_to(&DataType::Float64)? {
        ScalarValue::Float64(Some(w)) => w,
        _ => return Err(bad("must be a literal number, not NULL".into())),
    };
    match weight.is_finite() && weight >= 0.0 {
        true => Ok(weight),
        false => Err(bad(format!("must be finite and at least 0, not {weight}"))),
    }
}

/// The fusion parameters from the literal arguments.
fn params(types: &[DataType], literals: &[Option<&ScalarValue>]) -> Result<FusionParams> {
    let (weighted, lists) = layout(types)?;
    let weights = match weighted {
        true => Some(
            lists
                .iter()
                .map(|&i| weight(i, literals[i - 1]))
                .collect::<Result<Vec<_>>>()?,
        ),
        false => None,
    };
    Ok(FusionParams {
        method: method(literals[0])?,
        top_k: Some(literal_k(NAME, 2, literals[1])?),
        weights,
        ..FusionParams::default()
    })
}

impl ScalarUDFImpl for Fuse {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        if types.len() < 2 {
            return Err(DataFusionError::Plan(format!(
                "{NAME} takes a method, k and two or more hit lists, not {} arguments",
                types.len()
            )));
        }
        check_text(NAME, 1, "method", &types[0])?;
        if !types[1].is_integer() {
            return Err(arg_error(NAME, 2, "k", format!("must be an integer, not {}", types[1])));
        }
        let (weighted, lists) = layout(types)?;
        for &i in &lists {
            check_hits(NAME, i + 1, "hits", &types[i])?;
            if weighted && !types[i - 1].is_numeric() {
                return Err(arg_error(
                    NAME,
                    i,
                    "weight",
                    format!("must be a number, not {}", types[i - 1]),
                ));
            }
        }
        // Literals keep their types: a cast would hide them from planning.
        Ok(types.to_vec())
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(hits_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        params(&types, args.scalar_arguments)?;
        Ok(Arc::new(Field::new(NAME, hits_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let literals: Vec<Option<&ScalarValue>> = args.args.iter().map(scalar).collect();
        let params = params(&types, &literals)?;
        let (_, positions) = layout(&types)?;
        let columns = positions
            .iter()
            .map(|&i| ListsOf::new(&args.args[i].to_array(args.number_rows)?, "score"))
            .collect::<Result<Vec<_>>>()?;
        let mut fused = HitsColumn::default();
        for row in 0..args.number_rows {
            let rows: Vec<Option<Vec<(&str, f64)>>> = columns.iter().map(|c| c.row(row)).collect();
            if rows.iter().all(Option::is_none) {
                fused.push(None::<Vec<_>>);
                continue;
            }
            let lists: Vec<Vec<(&str, f64)>> = rows.into_iter().map(Option::unwrap_or_default).collect();
            let hits =
                fuse(&lists, &params).map_err(|e| DataFusionError::Execution(format!("{NAME}: row {row}: {e}")))?;
            fused.push(Some(hits.into_iter().map(|f| (f.id.to_owned(), f.score as f32))));
        }
        Ok(ColumnarValue::Array(fused.finish()))
    }
}
