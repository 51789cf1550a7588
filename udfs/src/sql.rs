//! The retrieval stages as DataFusion functions, for SQL in any
//! [`SessionContext`]: [`register`] adds them all.
//!
//! | function | returns | what |
//! |---|---|---|
//! | `hebrew_normalize(text)` | `Utf8` | [`crate::hebrew::normalize`]: points and cantillation removed, maqaf and Hebrew punctuation to spaces |
//! | `maxsim(query, doc)` | `Float32` | [`crate::maxsim::maxsim`] of two token matrices |
//! | `bm25_search(index_uri, text, k)` | hits | the best `k` passages of the BM25 index at `index_uri` |
//! | `plaid_search(index_uri, query, k)` | hits | the best `k` passages of the PLAID index at `index_uri` |
//!
//! A **token matrix** is a `List` of `FixedSizeList<Float32, dim>`, one
//! entry per token. **Hits** are a `List` of `Struct {uuid: Utf8, score:
//! Float32}`, best first, so `unnest` turns them into rows. An index is
//! loaded once per process (per URI and generation) on first use, never at
//! planning; planning checks what it can: argument types and counts, `k` a
//! literal above 0, and a literal index URI holding an index of the right
//! kind. A NULL argument gives NULL.
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
mod hits;
mod maxsim;
mod search;
mod text;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub use hits::hits_type;

/// Every retrieval function, to register in a context of one's own
/// making or in a function registry (an executor's).
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(text::HebrewNormalize::new()),
        ScalarUDF::new_from_impl(maxsim::MaxSim::new()),
        ScalarUDF::new_from_impl(search::Search::bm25()),
        ScalarUDF::new_from_impl(search::Search::plaid()),
    ]
}

/// Registers every retrieval function in `ctx`, beside its own tables and
/// functions (a function of the same name is replaced).
pub fn register(ctx: &SessionContext) {
    for function in functions() {
        ctx.register_udf(function);
    }
}
