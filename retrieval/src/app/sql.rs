//! SQL over a run's results (`--sql`): one read-only query over the tables
//! `predictions` and `metrics`, checked before the run starts.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as SqlStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlAst;

use super::output::to_batch;
use super::{AppError, RunResult, runtime};

/// Checks, before a run, that `sql` parses and is one query (`SELECT`,
/// `WITH`, `VALUES`): statements that write (`COPY … TO`, `INSERT`,
/// `CREATE`) or change the session are refused.
pub fn check_query(sql: &str) -> Result<(), AppError> {
    let statements = DFParser::parse_sql(sql).map_err(AppError::SqlParse)?;
    match statements.len() {
        1 => {}
        n => return Err(AppError::SqlStatements(n)),
    }
    match &statements[0] {
        SqlStatement::Statement(statement) if matches!(statement.as_ref(), SqlAst::Query(_)) => Ok(()),
        _ => Err(AppError::SqlNotReadOnly),
    }
}

/// Runs `sql` over the tables `predictions` and `metrics` of a result.
///
/// Only a single read-only query is run ([`check_query`]).
pub fn query(result: &RunResult, sql: &str) -> Result<String, AppError> {
    check_query(sql)?;
    let ctx = SessionContext::new();
    for (name, batch) in [
        ("predictions", to_batch(&result.predictions)?),
        ("metrics", to_batch(&result.metrics)?),
    ] {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(AppError::Sql)?;
        ctx.register_table(name, Arc::new(table)).map_err(AppError::Sql)?;
    }
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let batches = runtime()?
        .block_on(async { ctx.sql_with_options(sql, read_only).await?.collect().await })
        .map_err(AppError::Sql)?;
    Ok(datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .map_err(AppError::Table)?
        .to_string())
}
