//! `bm25_search(index_uri, text, k)` and `plaid_search(index_uri, query,
//! k)`: the best `k` passages of a stored index, as hits.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{Matrices, arg_error, check_count, check_text, literal_k, literal_text, matrix_dim, scalar};
use super::hits::{HitsColumn, hits_type};
use super::indexes::{Kind, Opened, check_index, named};
use crate::bm25::Bm25Index;
use crate::plaid::{PlaidIndex, SearchParams};

/// A search function of one index kind.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Search {
    kind: Kind,
    signature: Signature,
}

impl Search {
    /// `bm25_search(index_uri, text, k)`.
    pub(super) fn bm25() -> Self {
        Self::new(Kind::Bm25)
    }

    /// `plaid_search(index_uri, query, k)`.
    pub(super) fn plaid() -> Self {
        Self::new(Kind::Plaid)
    }

    fn new(kind: Kind) -> Self {
        Self {
            kind,
            // Volatile: an index is loaded where the plan runs, never folded
            // into a constant on the client.
            signature: Signature::user_defined(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for Search {
    fn name(&self) -> &str {
        self.kind.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        check_count(name, types, &["index_uri", self.kind.query(), "k"])?;
        check_text(name, 1, "index_uri", &types[0])?;
        match self.kind {
            Kind::Bm25 => check_text(name, 2, "text", &types[1])?,
            Kind::Plaid | Kind::Lookup => {
                matrix_dim(name, 2, "query", &types[1])?;
            }
        }
        if !types[2].is_integer() {
            return Err(arg_error(name, 3, "k", format!("must be an integer, not {}", types[2])));
        }
        let query = match self.kind {
            Kind::Bm25 => DataType::Utf8,
            Kind::Plaid | Kind::Lookup => types[1].clone(),
        };
        // `k` keeps its type: a cast would hide the literal from planning.
        Ok(vec![DataType::Utf8, query, types[2].clone()])
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(hits_type())
    }

    /// Checks at planning what literals allow: `k`, and the index at a
    /// literal URI (its manifest only; the index loads where it runs).
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let name = self.name();
        literal_k(name, 3, args.scalar_arguments.get(2).copied().flatten())?;
        if let Some(uri) = literal_text(args.scalar_arguments.first().copied().flatten()) {
            check_index(self.kind, uri)?;
        }
        Ok(Arc::new(Field::new(name, hits_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let uris = cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
        let uris = uris.as_string::<i32>();
        let k = literal_k(self.name(), 3, scalar(&args.args[2]))?;
        let queries = args.args[1].to_array(rows)?;
        let mut hits = HitsColumn::default();
        match self.kind {
            Kind::Bm25 => {
                let texts = cast(&queries, &DataType::Utf8)?;
                let texts = texts.as_string::<i32>();
                let mut opened = Opened::<Bm25Index>::new(self.kind);
                for row in 0..rows {
                    let (Some(uri), false) = (uris.is_valid(row).then(|| uris.value(row)), texts.is_null(row)) else {
                        hits.push(None::<Vec<_>>);
                        continue;
                    };
                    let index = opened.get(uri)?;
                    let found = index.search(texts.value(row), k);
                    hits.push(Some(named(&found, |doc| index.external_id(doc))));
                }
            }
            Kind::Plaid | Kind::Lookup => {
                let queries = Matrices::new(&queries)?;
                let params = SearchParams::for_k(k);
                let mut opened = Opened::<PlaidIndex>::new(self.kind);
                for row in 0..rows {
                    let (Some(uri), Some((query, _))) =
                        (uris.is_valid(row).then(|| uris.value(row)), queries.row(row)?)
                    else {
                        hits.push(None::<Vec<_>>);
                        continue;
                    };
                    let index = opened.get(uri)?;
                    let found = index
                        .search_with(query, &params)
                        .map_err(|e| DataFusionError::Execution(format!("{}: row {row}: {e}", self.name())))?;
                    hits.push(Some(named(&found, |doc| index.external_id(doc))));
                }
            }
        }
        Ok(ColumnarValue::Array(hits.finish()))
    }
}
