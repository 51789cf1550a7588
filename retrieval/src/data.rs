//! Passages, queries and ground truths from Parquet, read through
//! object_store: a local path, `file://`, `s3://` or `http(s)://` URL, a
//! single file or a directory of shards (read concurrently by DataFusion's
//! listing table, one file per partition).
//!
//! Bad input is an error naming the location: missing columns, wrong column
//! types, duplicate ids, ground truths naming unknown ids, an empty corpus.
//!
//! This file holds the rows and their loaders; the Parquet reading under
//! them ([`context_for`], [`read_url`], the typed column read) is in
//! `read.rs`, and [`DataError`] in `error.rs`.

mod error;
mod read;

use std::collections::HashSet;

use nodefusion::Data;
use serde::{Deserialize, Serialize};

pub use error::DataError;
use read::{Kind, read_rows};
pub use read::{context_for, read_url};

/// A passage of the corpus.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Passage {
    /// Its unique id.
    pub uuid: String,
    /// Its text.
    pub text: String,
}

/// A query.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Query {
    /// Its unique id.
    pub uuid: String,
    /// Its text.
    pub text: String,
}

/// A training pair given by the user: a query text and the passage text
/// that answers it, e.g. an English verse and its Hebrew original (the ASV
/// dataset's [`TRAINING_PAIRS_FILE`](crate::dataset::TRAINING_PAIRS_FILE)).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AlignedPair {
    /// The id of the answering passage (`book:chapter:verse` for the
    /// datasets here, which lets the chapter rules apply).
    pub uuid: String,
    /// Encoded as a query.
    pub query: String,
    /// Encoded as a document.
    pub positive: String,
}

/// Reads aligned pairs (`uuid`, `query`, `positive`); there must be some.
pub async fn load_aligned_pairs(location: &str, partitions: usize) -> Result<Vec<AlignedPair>, DataError> {
    let columns = [("uuid", Kind::Text), ("query", Kind::Text), ("positive", Kind::Text)];
    let rows: Vec<AlignedPair> = read_rows(location, &columns, partitions).await?;
    if rows.is_empty() {
        return Err(DataError::Empty {
            location: location.into(),
            what: "aligned pairs",
        });
    }
    Ok(rows)
}

/// A judged (query, passage) pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The query's id.
    pub query_uuid: String,
    /// The passage's id.
    pub passage_uuid: String,
    /// Graded relevance; > 0 is relevant.
    pub relevance: i64,
}

fn check_unique<'a>(
    location: &str,
    what: &'static str,
    ids: impl Iterator<Item = &'a String>,
) -> Result<HashSet<&'a String>, DataError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(DataError::DuplicateId {
                location: location.into(),
                what,
                uuid: id.clone(),
            });
        }
    }
    Ok(seen)
}

/// Reads `(uuid, text)` rows: non-empty, ids unique.
async fn load_texts<T: Data>(
    location: &str,
    partitions: usize,
    (table, item): (&'static str, &'static str),
    uuid: fn(&T) -> &String,
) -> Result<Vec<T>, DataError> {
    let rows: Vec<T> = read_rows(location, &[("uuid", Kind::Text), ("text", Kind::Text)], partitions).await?;
    if rows.is_empty() {
        return Err(DataError::Empty {
            location: location.into(),
            what: table,
        });
    }
    check_unique(location, item, rows.iter().map(uuid))?;
    Ok(rows)
}

/// Reads passages (`uuid`, `text`); ids must be unique and the corpus non-empty.
pub async fn load_passages(location: &str, partitions: usize) -> Result<Vec<Passage>, DataError> {
    load_texts(location, partitions, ("passages", "passage"), |p: &Passage| &p.uuid).await
}

/// Reads queries (`uuid`, `text`); ids must be unique and there must be some.
pub async fn load_queries(location: &str, partitions: usize) -> Result<Vec<Query>, DataError> {
    load_texts(location, partitions, ("queries", "query"), |q: &Query| &q.uuid).await
}

/// Reads ground truths (`query_uuid`, `passage_uuid`, `relevance`).
pub async fn load_ground_truths(location: &str, partitions: usize) -> Result<Vec<GroundTruth>, DataError> {
    read_rows(
        location,
        &[
            ("query_uuid", Kind::Text),
            ("passage_uuid", Kind::Text),
            ("relevance", Kind::Integer),
        ],
        partitions,
    )
    .await
}

/// Checks that some ground truth is relevant and that every one names a
/// known query and passage.
pub fn check_ground_truths(
    ground_truths: &[GroundTruth],
    queries: &[Query],
    passages: &[Passage],
) -> Result<(), DataError> {
    if !ground_truths.iter().any(|g| g.relevance > 0) {
        return Err(DataError::NothingRelevant {
            rows: ground_truths.len(),
        });
    }
    let query_ids: HashSet<&String> = queries.iter().map(|q| &q.uuid).collect();
    let passage_ids: HashSet<&String> = passages.iter().map(|p| &p.uuid).collect();
    for (what, known, pick) in [
        (
            "query",
            &query_ids,
            (|g: &GroundTruth| &g.query_uuid) as fn(&GroundTruth) -> &String,
        ),
        ("passage", &passage_ids, |g: &GroundTruth| &g.passage_uuid),
    ] {
        let unknown: Vec<&String> = ground_truths
            .iter()
            .map(pick)
            .filter(|id| !known.contains(id))
            .collect();
        if let Some(first) = unknown.first() {
            return Err(DataError::UnknownId {
                what,
                uuid: (*first).clone(),
                count: unknown.len(),
            });
        }
    }
    Ok(())
}
