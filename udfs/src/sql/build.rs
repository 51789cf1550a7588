//! `build_bm25_index(uri, uuid, text [, overwrite])`,
//! `build_plaid_index(uri, uuid, tokens [, overwrite])` and
//! `build_passage_lookup(uri, uuid, tokens [, overwrite])`: aggregate
//! functions that index their rows, write the index through object_store
//! and return its URI.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float32Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float32Type, UInt64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;

use super::args::{Matrices, arg_error, check_text, literal_text, matrix_dim};
use crate::bm25::{Bm25Index, Bm25Params};
use crate::lookup::EmbeddingLookup;
use crate::maxsim::DocEmbeddings;
use crate::plaid::{PlaidBuildParams, PlaidIndex};
use crate::store::{IndexLocation, block_on};

/// Which index an aggregate builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Built {
    Bm25,
    Plaid,
    Lookup,
}

impl Built {
    fn function(self) -> &'static str {
        match self {
            Built::Bm25 => "build_bm25_index",
            Built::Plaid => "build_plaid_index",
            Built::Lookup => "build_passage_lookup",
        }
    }

    /// What argument 3 holds.
    fn value(self) -> &'static str {
        match self {
            Built::Bm25 => "text",
            Built::Plaid | Built::Lookup => "tokens",
        }
    }
}

/// An aggregate that builds one index of its rows.
///
/// Rows are indexed in `uuid` order, so the index does not depend on how
/// the scan was split; a repeated `uuid`, a NULL `uuid` or a NULL value is
/// an error (nothing is dropped silently), and so is an index already at
/// `uri` unless `overwrite` is true (then it is replaced atomically, as the
/// pipeline's `--override`). `uri` and `overwrite` are literals, checked
/// before any row is read.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct BuildIndex {
    built: Built,
    signature: Signature,
}

impl BuildIndex {
    pub(super) fn bm25() -> Self {
        Self::new(Built::Bm25)
    }

    pub(super) fn plaid() -> Self {
        Self::new(Built::Plaid)
    }

    pub(super) fn lookup() -> Self {
        Self::new(Built::Lookup)
    }

    fn new(built: Built) -> Self {
        Self {
            built,
            signature: Signature::user_defined(Volatility::Volatile),
        }
    }
}

impl AggregateUDFImpl for BuildIndex {
    fn name(&self) -> &str {
        self.built.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let value = self.built.value();
        if !(3..=4).contains(&types.len()) {
            return Err(DataFusionError::Plan(format!(
                "{name} takes 3 or 4 arguments (uri, uuid, {value} [, overwrite]), not {}",
                types.len()
            )));
        }
        check_text(name, 1, "uri", &types[0])?;
        check_text(name, 2, "uuid", &types[1])?;
        let value_type = match self.built {
            Built::Bm25 => {
                check_text(name, 3, value, &types[2])?;
                DataType::Utf8
            }
            Built::Plaid | Built::Lookup => {
                if matrix_dim(name, 3, value, &types[2])?.is_none() {
                    return Err(arg_error(name, 3, value, "must be a token matrix, not NULL"));
                }
                types[2].clone()
            }
        };
        if let Some(t) = types.get(3)
            && !matches!(t, DataType::Boolean | DataType::Null)
        {
            return Err(arg_error(name, 4, "overwrite", format!("must be a boolean, not {t}")));
        }
        let mut coerced = vec![DataType::Utf8, DataType::Utf8, value_type];
        coerced.extend(types.get(3).map(|_| DataType::Boolean));
        Ok(coerced)
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |what: &str, item: DataType| {
            Arc::new(Field::new(
                format!("{}[{what}]", args.name),
                DataType::List(Arc::new(Field::new_list_field(item, true))),
                true,
            ))
        };
        Ok(match self.built {
            Built::Bm25 => vec![list("uuids", DataType::Utf8), list("texts", DataType::Utf8)],
            Built::Plaid | Built::Lookup => vec![
                list("uuids", DataType::Utf8),
                list("token_counts", DataType::UInt64),
                list("floats", DataType::Float32),
            ],
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = self.name();
        let literal = |i: usize| {
            args.exprs
                .get(i)
                .and_then(|e| e.downcast_ref::<Literal>())
                .map(|l| l.value().clone())
        };
        let uri = literal(0);
        let uri = literal_text(uri.as_ref())
            .ok_or_else(|| arg_error(name, 1, "uri", "must be a literal text, where the index goes"))?
            .to_owned();
        let overwrite = match args.exprs.len() {
            3 => false,
            _ => match literal(3) {
                Some(ScalarValue::Boolean(Some(b))) => b,
                _ => return Err(arg_error(name, 4, "overwrite", "must be a literal true or false")),
            },
        };
        let location = IndexLocation::parse(&uri).map_err(|e| arg_error(name, 1, "uri", e))?;
        let exists = block_on(location.exists())
            .and_then(|found| found)
            .map_err(|e| arg_error(name, 1, "uri", e))?;
        if exists && !overwrite {
            return Err(arg_error(
                name,
                1,
                "uri",
                format!("'{uri}' already holds an index; pass true as argument 4 (overwrite) to replace it"),
            ));
        }
        let dim = match self.built {
            Built::Bm25 => 0,
            Built::Plaid | Built::Lookup => matrix_dim(name, 3, "tokens", args.expr_fields[2].data_type())?
                .ok_or_else(|| arg_error(name, 3, "tokens", "must be a token matrix"))?,
        };
        Ok(Box::new(IndexRows {
            built: self.built,
            location,
            overwrite,
            dim,
            uuids: Vec::new(),
            texts: Vec::new(),
            token_counts: Vec::new(),
            floats: Vec::new(),
        }))
    }
}

/// The rows an index is built from, gathered.
#[derive(Debug)]
struct IndexRows {
    built: Built,
    location: IndexLocation,
    overwrite: bool,
    /// The token dimension (token kinds).
    dim: usize,
    uuids: Vec<String>,
    /// One per uuid (BM25).
    texts: Vec<String>,
    /// One per uuid, with their floats one after another (token kinds).
    token_counts: Vec<u64>,
    floats: Vec<f32>,
}

impl IndexRows {
    fn error(&self, problem: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Execution(format!("{}: {problem}", self.built.function()))
    }

    /// Rows `i` of every column, in `uuid` order.
    fn order(&self) -> Result<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.uuids.len()).collect();
        order.sort_by(|&a, &b| self.uuids[a].cmp(&self.uuids[b]));
        if let Some(pair) = order.windows(2).find(|w| self.uuids[w[0]] == self.uuids[w[1]]) {
            return Err(self.error(format!("the uuid '{}' is in two rows", self.uuids[pair[0]])));
        }
        Ok(order)
    }

    /// Builds and writes the index.
    fn write(&self) -> Result<()> {
        if self.uuids.is_empty() {
            return Err(self.error("no rows to index"));
        }
        let order = self.order()?;
        let ids: Vec<&str> = order.iter().map(|&i| self.uuids[i].as_str()).collect();
        let fault = |e: &dyn std::fmt::Display| self.error(format!("'{}': {e}", self.location.uri()));
        match self.built {
            Built::Bm25 => {
                let texts: Vec<&str> = order.iter().map(|&i| self.texts[i].as_str()).collect();
                let index = Bm25Index::build(&texts, &Bm25Params::default())
                    .and_then(|index| index.with_external_ids(&ids))
                    .map_err(|e| fault(&e))?;
                index.write(&self.location, self.overwrite).map_err(|e| fault(&e))?;
            }
            Built::Plaid | Built::Lookup => {
                let mut starts = Vec::with_capacity(self.token_counts.len());
                let mut start = 0usize;
                for &count in &self.token_counts {
                    starts.push(start);
                    start += count as usize * self.dim;
                }
                let docs: Vec<&[f32]> = order
                    .iter()
                    .map(|&i| &self.floats[starts[i]..starts[i] + self.token_counts[i] as usize * self.dim])
                    .collect();
                let docs = DocEmbeddings::from_docs(self.dim, &docs).map_err(|e| fault(&e))?;
                match self.built {
                    Built::Plaid => {
                        let index = PlaidIndex::build(&docs, &PlaidBuildParams::default())
                            .and_then(|index| index.with_external_ids(&ids))
                            .map_err(|e| fault(&e))?;
                        index.write(&self.location, self.overwrite).map_err(|e| fault(&e))?;
                    }
                    _ => {
                        let lookup = EmbeddingLookup::new(docs, &ids).map_err(|e| fault(&e))?;
                        lookup.write(&self.location, self.overwrite).map_err(|e| fault(&e))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Appends rows: uuids and their texts, or their token matrices.
    fn append(&mut self, uuids: &ArrayRef, values: &ArrayRef) -> Result<()> {
        let uuids = uuids.as_string::<i32>();
        if uuids.null_count() > 0 {
            return Err(self.error("a row has a NULL uuid"));
        }
        match self.built {
            Built::Bm25 => {
                let texts = values.as_string::<i32>();
                for row in 0..uuids.len() {
                    if texts.is_null(row) {
                        return Err(self.error(format!("the passage '{}' has a NULL text", uuids.value(row))));
                    }
                    self.texts.push(texts.value(row).to_owned());
                }
            }
            Built::Plaid | Built::Lookup => {
                let matrices = Matrices::new(values)?;
                for row in 0..uuids.len() {
                    let Some((floats, dim)) = matrices.row(row)? else {
                        return Err(self.error(format!("the passage '{}' has NULL tokens", uuids.value(row))));
                    };
                    if dim != self.dim {
                        return Err(self.error(format!("tokens of {dim} dimensions, expected {}", self.dim)));
                    }
                    self.token_counts.push((floats.len() / dim) as u64);
                    self.floats.extend_from_slice(floats);
                }
            }
        }
        self.uuids.extend(uuids.iter().flatten().map(str::to_owned));
        Ok(())
    }
}

/// One state column's single list.
fn state_list(values: ArrayRef) -> ScalarValue {
    SingleRowListArrayBuilder::new(values).build_list_scalar()
}

impl Accumulator for IndexRows {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.append(&values[1], &values[2])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let uuids = states[0].as_list::<i32>();
        for row in 0..uuids.len() {
            if uuids.is_null(row) {
                continue;
            }
            let ids = uuids.value(row);
            match self.built {
                Built::Bm25 => {
                    let texts = states[1].as_list::<i32>().value(row);
                    self.append(&ids, &texts)?;
                }
                Built::Plaid | Built::Lookup => {
                    let counts = states[1].as_list::<i32>().value(row);
                    let floats = states[2].as_list::<i32>().value(row);
                    self.token_counts.extend(counts.as_primitive::<UInt64Type>().values());
                    self.floats.extend(floats.as_primitive::<Float32Type>().values());
                    self.uuids
                        .extend(ids.as_string::<i32>().iter().flatten().map(str::to_owned));
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let uuids = state_list(Arc::new(StringArray::from(std::mem::take(&mut self.uuids))));
        Ok(match self.built {
            Built::Bm25 => vec![
                uuids,
                state_list(Arc::new(StringArray::from(std::mem::take(&mut self.texts)))),
            ],
            Built::Plaid | Built::Lookup => vec![
                uuids,
                state_list(Arc::new(UInt64Array::from(std::mem::take(&mut self.token_counts)))),
                state_list(Arc::new(Float32Array::from(std::mem::take(&mut self.floats)))),
            ],
        })
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.write()?;
        Ok(ScalarValue::Utf8(Some(self.location.uri().to_owned())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .uuids
                .iter()
                .chain(&self.texts)
                .map(|s| s.capacity() + 24)
                .sum::<usize>()
            + self.token_counts.capacity() * 8
            + self.floats.capacity() * 4
    }
}
