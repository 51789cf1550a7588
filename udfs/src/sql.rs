//! The retrieval stages as DataFusion functions, for SQL in any
//! [`SessionContext`]: [`register`] adds them all.
//!
//! | function | returns | what |
//! |---|---|---|
//! | `hebrew_normalize(text)` | `Utf8` | [`crate::hebrew::normalize`]: points and cantillation removed, maqaf and Hebrew punctuation to spaces |
//! | `encode_query(text [, model [, style]])` | tokens | a query's token matrix ([`crate::colbert`]) |
//! | `encode_passage(text [, model [, style]])` | tokens | a passage's token matrix |
//! | `maxsim(query, doc)` | `Float32` | [`crate::maxsim::maxsim`] of two token matrices |
//! | `bm25_search(index_uri, text, k)` | hits | the best `k` passages of the BM25 index at `index_uri` |
//! | `plaid_search(index_uri, query, k)` | hits | the best `k` passages of the PLAID index at `index_uri` |
//! | `fuse(method, k, [weight,] hits, [weight,] hits, …)` | hits | the best `k` of two or more lists fused by `'rrf'`, `'min_max'` or `'z_score'` ([`crate::fusion::fuse`]) |
//! | `rerank(lookup_uri, query, hits, k)` | hits | the best `k` of `hits` by exact MaxSim ([`crate::rerank::rerank`]) |
//! | `ndcg(hits, judgements, k)`, `recall(hits, judgements, k)` | `Float64` | one query's trec_eval `ndcg_cut_k` / `recall_k` ([`crate::metrics`]); `AVG` gives the mean |
//! | `build_bm25_index(uri, uuid, text [, overwrite])` | `Utf8` | aggregate: writes a BM25 index of its rows, returns `uri` |
//! | `build_plaid_index(uri, uuid, tokens [, overwrite])` | `Utf8` | aggregate: a PLAID index |
//! | `build_passage_lookup(uri, uuid, tokens [, overwrite])` | `Utf8` | aggregate: the token matrices `rerank` reads |
//!
//! A **token matrix** (tokens) is a `List` of `FixedSizeList<Float32,
//! dim>`, one entry per token. **Hits** are a `List` of `Struct {uuid:
//! Utf8, score: Float32}`, best first, so `unnest` turns them into rows
//! (any list of `{uuid, score}` structs is accepted, e.g. one `array_agg`
//! made); **judgements** are a list of `{uuid, relevance}` structs.
//!
//! The encode functions use the model directory given as argument 2 or
//! else the session's `nodefusion.model` (`SET nodefusion.model = '…'`),
//! with the settings of argument 3 or else `nodefusion.encoder_style`
//! (`'e5'` or `'colbert'`; [`SqlOptions`]); planning writes the session's
//! values into the call, so a plan run on other processes (Ballista
//! executors) encodes with the same model. A
//! model and an index are each loaded once per process on first use (an
//! index again when a new generation replaces it); the model also at
//! planning, which needs its token dimension. Planning checks what it can:
//! argument types and counts, literals where literals are required (`k`
//! above 0, methods, weights, the builders' `uri` and `overwrite`), the
//! model, and a literal index URI holding an index of the right kind. A
//! NULL argument gives NULL, except where a function says otherwise.
//!
//! ```
//! use datafusion::prelude::SessionContext;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! let ctx = SessionContext::new();
//! nodefusion_udfs::sql::register(&ctx);
//! let batches = ctx.sql("SELECT hebrew_normalize('שָׁלוֹם') AS t").await?.collect().await?;
//! let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
//! assert!(text.contains("| שלום |"), "{text}");
//! # Ok(())
//! # }
//! ```
//!
//! [`SessionContext`]: datafusion::prelude::SessionContext

mod args;
mod build;
mod encode;
mod fuse;
mod hits;
mod indexes;
mod maxsim;
mod metrics;
mod options;
mod rerank;
mod search;
mod text;

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::colbert::TextKind;

pub use hits::hits_type;
pub use options::SqlOptions;

/// The type of a column of token matrices of `dim` dimensions, as the
/// encode functions return them: `List<FixedSizeList<Float32, dim>>`.
///
/// ```
/// use datafusion::arrow::datatypes::DataType;
/// let DataType::List(token) = nodefusion_udfs::sql::token_matrix_type(384) else { unreachable!() };
/// assert!(matches!(token.data_type(), DataType::FixedSizeList(_, 384)));
/// ```
pub fn token_matrix_type(dim: usize) -> datafusion::arrow::datatypes::DataType {
    args::matrix_type(dim)
}

/// Every retrieval scalar function, to register in a context of one's own
/// making or in a function registry (an executor's). The encode functions
/// take the session's `nodefusion.*` settings ([`SqlOptions`]) where the
/// context has them.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(text::HebrewNormalize::new()),
        ScalarUDF::new_from_impl(encode::Encode::new(TextKind::Query)),
        ScalarUDF::new_from_impl(encode::Encode::new(TextKind::Document)),
        ScalarUDF::new_from_impl(maxsim::MaxSim::new()),
        ScalarUDF::new_from_impl(search::Search::bm25()),
        ScalarUDF::new_from_impl(search::Search::plaid()),
        ScalarUDF::new_from_impl(fuse::Fuse::new()),
        ScalarUDF::new_from_impl(rerank::Rerank::new()),
        ScalarUDF::new_from_impl(metrics::QueryMeasure::ndcg()),
        ScalarUDF::new_from_impl(metrics::QueryMeasure::recall()),
    ]
}

/// Every retrieval aggregate function: the index builders.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::new_from_impl(build::BuildIndex::bm25()),
        AggregateUDF::new_from_impl(build::BuildIndex::plaid()),
        AggregateUDF::new_from_impl(build::BuildIndex::lookup()),
    ]
}

/// Registers every retrieval function in `ctx`, beside its own tables and
/// functions (a function of the same name is replaced), and the
/// `nodefusion.*` settings ([`SqlOptions`]) unless the context has them.
pub fn register(ctx: &SessionContext) {
    let state = ctx.state_ref();
    let mut state = state.write();
    let options = state.config_mut().options_mut();
    if options.extensions.get::<SqlOptions>().is_none() {
        options.extensions.insert(SqlOptions::default());
    }
    let options = state.config().options().clone();
    for function in functions() {
        let function = function.inner().with_updated_config(&options).unwrap_or(function);
        // Registering never fails for a scalar function.
        let _ = datafusion::execution::FunctionRegistry::register_udf(&mut *state, Arc::new(function));
    }
    for function in aggregate_functions() {
        let _ = datafusion::execution::FunctionRegistry::register_udaf(&mut *state, Arc::new(function));
    }
}
