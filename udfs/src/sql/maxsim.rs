//! `maxsim(query, doc)`: late-interaction relevance of two token matrices,
//! [`crate::maxsim::maxsim`].

use std::sync::Arc;

use datafusion::arrow::array::Float32Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::args::{Matrices, arg_error, check_count, matrix_dim};

const NAME: &str = "maxsim";

/// `maxsim(query, doc) -> Float32`: for each query token the best dot
/// product with a document token, summed.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct MaxSim {
    signature: Signature,
}

impl MaxSim {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for MaxSim {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        check_count(NAME, types, &["query", "doc"])?;
        let query = matrix_dim(NAME, 1, "query", &types[0])?;
        let doc = matrix_dim(NAME, 2, "doc", &types[1])?;
        if let (Some(q), Some(d)) = (query, doc)
            && q != d
        {
            return Err(arg_error(
                NAME,
                2,
                "doc",
                format!("has tokens of {d} dimensions, the query's have {q}"),
            ));
        }
        Ok(types.to_vec())
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let queries = args.args[0].to_array(args.number_rows)?;
        let docs = args.args[1].to_array(args.number_rows)?;
        let (queries, docs) = (Matrices::new(&queries)?, Matrices::new(&docs)?);
        let scores = (0..args.number_rows)
            .map(|row| match (queries.row(row)?, docs.row(row)?) {
                (Some((query, dim)), Some((doc, _))) => crate::maxsim::maxsim(query, doc, dim)
                    .map(Some)
                    .map_err(|e| DataFusionError::Execution(format!("{NAME}: row {row}: {e}"))),
                _ => Ok(None),
            })
            .collect::<Result<Float32Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(scores)))
    }
}
