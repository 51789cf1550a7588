//! The retrieval SQL functions (`nodefusion_udfs::sql`) against the plain
//! Rust stages on the same inputs, in a user's own context, and the errors
//! they give at planning: the searches (`search.rs`) and the other stages,
//! encoding, fusion, rerank, metrics and index building (`stages.rs`).

mod search;
mod stages;

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Int64Array, ListArray, RecordBatch, StringArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidIndex, SearchParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIM: usize = 16;

/// `count` random matrices of 1..=`max_tokens` unit-length tokens.
fn matrices(count: usize, max_tokens: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let tokens = rng.random_range(1..=max_tokens);
            let mut m: Vec<f32> = (0..tokens * DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
            for row in m.chunks_mut(DIM) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter_mut().for_each(|v| *v /= norm);
            }
            m
        })
        .collect()
}

/// A token-matrix column, `List<FixedSizeList<Float32, DIM>>`; `None` rows
/// are NULL.
fn matrix_column(rows: &[Option<&Vec<f32>>]) -> ArrayRef {
    let values: Vec<f32> = rows.iter().flatten().flat_map(|m| m.iter().copied()).collect();
    let item = Arc::new(Field::new_list_field(DataType::Float32, false));
    let tokens = FixedSizeListArray::new(item, DIM as i32, Arc::new(Float32Array::from(values)), None);
    let lengths = rows.iter().map(|m| m.map_or(0, |m| m.len() / DIM));
    let nulls = rows.iter().map(Option::is_some).collect::<Vec<_>>();
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(tokens.data_type().clone(), false)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(tokens),
        Some(nulls.into()),
    ))
}

fn context_with(table: &str, columns: Vec<(&str, ArrayRef)>) -> SessionContext {
    let ctx = SessionContext::new();
    nodefusion_udfs::sql::register(&ctx);
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    ctx.register_batch(table, batch).unwrap();
    ctx
}

async fn column(ctx: &SessionContext, sql: &str) -> ArrayRef {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let arrays: Vec<ArrayRef> = batches.iter().map(|b| b.column(0).clone()).collect();
    let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
    datafusion::arrow::compute::concat(&refs).unwrap()
}

/// The error of planning or running `sql`.
async fn error(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(frame) => match frame.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{sql} ran"),
        },
    }
}

/// A hits column as (uuid, score) lists; `None` for NULL rows.
fn hits(column: &ArrayRef) -> Vec<Option<Vec<(String, f32)>>> {
    let lists = column.as_list::<i32>();
    (0..lists.len())
        .map(|row| {
            lists.is_valid(row).then(|| {
                let hits = lists.value(row);
                let hits = hits.as_struct();
                let uuids = hits.column(0).as_string::<i32>();
                let scores = hits.column(1).as_primitive::<Float32Type>();
                (0..hits.len())
                    .map(|i| (uuids.value(i).to_owned(), scores.value(i)))
                    .collect()
            })
        })
        .collect()
}

/// A small Hebrew-like corpus: `count` texts of words drawn from a
/// vocabulary, with their ids.
fn corpus(count: usize) -> (Vec<String>, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(9);
    let letters: Vec<char> = "אבגדהוזחטיכלמנסעפצקרשת".chars().collect();
    let vocabulary: Vec<String> = (0..300)
        .map(|_| {
            (0..rng.random_range(2..6))
                .map(|_| letters[rng.random_range(0..letters.len())])
                .collect()
        })
        .collect();
    let texts = (0..count)
        .map(|_| {
            (0..rng.random_range(4..15))
                .map(|_| vocabulary[rng.random_range(0..vocabulary.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let ids = (0..count).map(|i| format!("passage-{i}")).collect();
    (texts, ids)
}
