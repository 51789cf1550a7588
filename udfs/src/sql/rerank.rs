//! `rerank(lookup_uri, query, hits, k)`: a hit list reordered by exact
//! MaxSim against the passages' stored token matrices,
//! [`crate::rerank::rerank`].

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{Matrices, arg_error, check_count, check_text, literal_k, literal_text, matrix_dim, scalar};
use super::hits::{HitsColumn, ListsOf, check_hits, hits_type};
use super::indexes::{Kind, Opened, check_index, named};
use crate::lookup::EmbeddingLookup;

const NAME: &str = "rerank";

/// `rerank(lookup_uri, query, hits, k) -> hits`: the best `k` of `hits`
/// by exact MaxSim with `query`, read from the passage lookup at
/// `lookup_uri` (ties by the lookup's order). Hits the lookup does not hold
/// are dropped. The order-keeping rerank fuses the result with the first
/// stage's list: `fuse('z_score', k, hits, rerank(…))`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Rerank {
    signature: Signature,
}

impl Rerank {
    pub(super) fn new() -> Self {
        Self {
            // Volatile, as the searches: the lookup is read where it runs.
            signature: Signature::user_defined(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for Rerank {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        check_count(NAME, types, &["lookup_uri", "query", "hits", "k"])?;
        check_text(NAME, 1, "lookup_uri", &types[0])?;
        matrix_dim(NAME, 2, "query", &types[1])?;
        check_hits(NAME, 3, "hits", &types[2])?;
        if !types[3].is_integer() {
            return Err(arg_error(NAME, 4, "k", format!("must be an integer, not {}", types[3])));
        }
        Ok(vec![
            DataType::Utf8,
            types[1].clone(),
            types[2].clone(),
            types[3].clone(),
        ])
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(hits_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        literal_k(NAME, 4, args.scalar_arguments.get(3).copied().flatten())?;
        if let Some(uri) = literal_text(args.scalar_arguments.first().copied().flatten()) {
            check_index(Kind::Lookup, uri)?;
        }
        Ok(Arc::new(Field::new(NAME, hits_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let k = literal_k(NAME, 4, scalar(&args.args[3]))?;
        let uris = cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
        let uris = uris.as_string::<i32>();
        let queries = args.args[1].to_array(rows)?;
        let queries = Matrices::new(&queries)?;
        let candidates = ListsOf::new(&args.args[2].to_array(rows)?, "score")?;
        let mut opened = Opened::<EmbeddingLookup>::new(Kind::Lookup);
        let mut reranked = HitsColumn::default();
        for row in 0..rows {
            let (Some(uri), Some((query, _)), Some(hits)) = (
                uris.is_valid(row).then(|| uris.value(row)),
                queries.row(row)?,
                candidates.row(row),
            ) else {
                reranked.push(None::<Vec<_>>);
                continue;
            };
            let lookup = opened.get(uri)?;
            let docs: Vec<u32> = hits.iter().filter_map(|(uuid, _)| lookup.id_of(uuid)).collect();
            let found = crate::rerank::rerank(query, &docs, lookup.docs(), k)
                .map_err(|e| DataFusionError::Execution(format!("{NAME}: row {row}: {e}")))?;
            reranked.push(Some(named(&found, |doc| lookup.external_id(doc))));
        }
        Ok(ColumnarValue::Array(reranked.finish()))
    }
}
