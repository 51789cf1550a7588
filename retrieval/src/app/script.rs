//! A SQL script run with the retrieval functions (`nodefusion-retrieval sql
//! FILE`): its statements one after another in one DataFusion session where
//! [`nodefusion_udfs::sql::register`] put the functions, its `${name}`
//! placeholders filled from the run's options.
//!
//! `retrieval/sql/hybrid.sql` is the whole benchmark written this way.

use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use super::options::index_folder;
use super::{AppError, RunOptions, data, model_dir, runtime, validate};
use crate::app::EncoderKind;
use crate::pipeline::MetricValue;
use nodefusion_udfs::colbert::Precision;

/// What one statement of a script gave.
#[derive(Debug)]
pub struct StatementOutput {
    /// The statement, as DataFusion prints it back.
    pub sql: String,
    /// Its rows (none for `CREATE`, `SET`).
    pub batches: Vec<RecordBatch>,
    /// Its wall time.
    pub seconds: f64,
}

impl StatementOutput {
    /// Its rows read as a metrics table, the shape `hybrid.sql`'s last
    /// statement returns: a `system` column, then one numeric column per
    /// measure named as trec_eval names it (`ndcg_cut_10`). One value per
    /// cell; NULL cells are left out.
    pub fn metrics(&self) -> Result<Vec<MetricValue>, AppError> {
        let mut values = Vec::new();
        for batch in &self.batches {
            let systems = cast(batch.column(0), &DataType::Utf8).map_err(AppError::Table)?;
            let systems = systems.as_string::<i32>();
            for (c, field) in batch.schema().fields().iter().enumerate().skip(1) {
                let column = cast(batch.column(c), &DataType::Float64).map_err(AppError::Table)?;
                let column = column.as_primitive::<Float64Type>();
                for row in (0..batch.num_rows()).filter(|&row| column.is_valid(row) && systems.is_valid(row)) {
                    values.push(MetricValue {
                        system: systems.value(row).to_owned(),
                        metric: field.name().clone(),
                        value: column.value(row),
                    });
                }
            }
        }
        Ok(values)
    }
}

/// What a script gave, statement by statement.
#[derive(Debug)]
pub struct ScriptOutput {
    /// One per statement, in order.
    pub statements: Vec<StatementOutput>,
    /// The values the placeholders were given.
    pub placeholders: Vec<(&'static str, String)>,
}

/// The placeholders a script may use, with this run's values.
fn placeholders(options: &RunOptions) -> Result<Vec<(&'static str, String)>, AppError> {
    let (passages, queries, ground_truths) = data(options)?;
    let model = model_dir(options)?;
    let style = match options.encoder {
        EncoderKind::E5 => "e5",
        EncoderKind::Colbert => "colbert",
    };
    Ok(vec![
        ("passages", passages),
        ("queries", queries),
        ("ground_truths", ground_truths),
        ("model", model.display().to_string()),
        ("encoder_style", style.to_owned()),
        (
            "encoder_precision",
            match options.precision {
                Precision::F32 => "f32",
                Precision::Bf16 => "bf16",
            }
            .to_owned(),
        ),
        // Beside the pipeline's published index sets, not inside them.
        (
            "index_folder",
            format!("{}/sql", index_folder(options).trim_end_matches('/')),
        ),
        ("top_k", options.top_k.to_string()),
        ("rerank_k", options.rerank_k.to_string()),
    ])
}

/// `script` with every `${name}` (a name of letters, digits and `_`)
/// replaced by its value; an unknown name is an error (before anything
/// runs). Other `${` text is left as it is.
fn fill(script: &str, values: &[(&'static str, String)]) -> Result<String, AppError> {
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_name {
            out.push_str("${");
            rest = after;
            continue;
        }
        match values.iter().find(|(known, _)| *known == name) {
            Some((_, value)) => out.push_str(value),
            None => {
                return Err(AppError::ScriptPlaceholder {
                    name: name.to_owned(),
                    known: values
                        .iter()
                        .map(|(k, _)| format!("${{{k}}}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Runs `script`'s statements in order in a fresh session with the
/// retrieval functions registered; `options` give the data (the default
/// slice, or the given files), the model and the index folder that the
/// placeholders name.
///
/// Each statement is planned only after the one before it ran, so a query
/// may search an index a statement above it built.
pub fn run_script(options: &RunOptions, script: &str) -> Result<ScriptOutput, AppError> {
    validate(options)?;
    let placeholders = placeholders(options)?;
    let text = fill(script, &placeholders)?;
    let statements = DFParser::parse_sql(&text).map_err(|source| AppError::Script {
        number: 0,
        start: "parsing".into(),
        source,
    })?;
    let ctx = SessionContext::new();
    nodefusion_udfs::sql::register(&ctx);
    let runtime = runtime()?;
    let mut outputs = Vec::with_capacity(statements.len());
    for (i, statement) in statements.into_iter().enumerate() {
        let sql = statement.to_string();
        let fault = |source| AppError::Script {
            number: i + 1,
            start: sql.split_whitespace().take(4).collect::<Vec<_>>().join(" "),
            source,
        };
        let started = Instant::now();
        let batches = runtime
            .block_on(async {
                let plan = ctx.state().statement_to_plan(statement).await?;
                ctx.execute_logical_plan(plan).await?.collect().await
            })
            .map_err(fault)?;
        outputs.push(StatementOutput {
            sql,
            batches,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(ScriptOutput {
        statements: outputs,
        placeholders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_an_unknown_one_is_named() {
        let values = vec![("model", "/m".to_owned()), ("top_k", "100".to_owned())];
        assert_eq!(
            fill("SET x = '${model}'; -- ${top_k}", &values).unwrap(),
            "SET x = '/m'; -- 100"
        );
        assert_eq!(fill("a $ {b} ${unclosed", &values).unwrap(), "a $ {b} ${unclosed");
        assert_eq!(
            fill("-- the ${...} and ${a b} ${top_k}", &values).unwrap(),
            "-- the ${...} and ${a b} 100"
        );
        let err = fill("${modle}", &values).unwrap_err().to_string();
        assert!(err.contains("${modle}") && err.contains("${model}, ${top_k}"), "{err}");
    }
}
