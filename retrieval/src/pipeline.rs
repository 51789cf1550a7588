//! The hybrid retrieval pipeline, written as singular nodes:
//!
//! ```text
//! load_passages, load_queries, load_ground_truths
//!   (fine_tuned_retrieval_pipeline: load_training_inputs → fine_tune_encoder
//!    → the encoder below; see [`training`])
//!   → encode_passage (mapped over passages; batch implementation) → passage_matrices
//!   → build_vector_index (PLAID), build_bm25_index, build_passage_lookup
//!   → encode_query (mapped over queries; batch implementation)
//!   → per query (mapped over encoded queries):
//!       retrieve_colbert, retrieve_bm25, fuse_results ([`Fusion`]),
//!       rerank_results (exact MaxSim, [`Reranker`]), hits_to_predictions
//!   → flatten_predictions → compute_ndcg, compute_recall
//!   → combine_evaluation_results
//! ```
//!
//! The encoder, the indexes, the passage lookup, fusion, reranker and
//! evaluator are [resources](nodefusion::resource): only their configs (or
//! index locations) flow through the pipeline; each process loads them once.
//!
//! This file holds the nodes and their assembly ([`retrieval_pipeline`]);
//! the types they pass are defined beside it and re-exported here: the
//! resources ([`Encoder`], [`VectorIndex`], [`LexicalIndex`],
//! [`PassageLookup`]), the stages' settings ([`Fusion`], [`Reranker`],
//! [`Evaluator`], [`IndexSettings`]) and the rows between nodes
//! ([`EncodedQuery`], [`Hit`], [`Prediction`],
//! [`MetricValue`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use nodefusion::{BoxError, Floats, Pipeline, Res, node, pipeline};
use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::fusion::{FusionParams, fuse};
use nodefusion_udfs::lookup::EmbeddingLookup;
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::metrics::{Measure, Qrels, Run, evaluate};
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidIndex, SearchParams};
use nodefusion_udfs::rerank::rerank;
use nodefusion_udfs::store::{IndexHandle, IndexLocation, IndexSource, SaveIndex, SourceDigest};

use crate::data::{self, GroundTruth, Passage, Query};

mod records;
mod resources;
mod settings;
pub mod training;

pub use records::{EncodedQuery, Hit, MetricValue, Prediction, SYSTEMS};
pub use resources::{Encoder, LexicalIndex, PassageLookup, VectorIndex};
pub use settings::{Evaluator, Fusion, INDEXES, IndexSettings, KeepOrder, Reranker};
pub use training::{FineTuneSettings, FineTuneSummary};

/// Concurrent file reads per loader.
const READ_PARTITIONS: usize = 8;

#[node(output = "passages")]
async fn load_passages(passages_uri: String) -> Result<Vec<Passage>, BoxError> {
    Ok(data::load_passages(&passages_uri, READ_PARTITIONS).await?)
}

#[node(output = "queries")]
async fn load_queries(queries_uri: String) -> Result<Vec<Query>, BoxError> {
    Ok(data::load_queries(&queries_uri, READ_PARTITIONS).await?)
}

#[node(output = "ground_truths")]
async fn load_ground_truths(
    ground_truths_uri: String,
    queries: Vec<Query>,
    passages: Vec<Passage>,
) -> Result<Vec<GroundTruth>, BoxError> {
    let truths = data::load_ground_truths(&ground_truths_uri, READ_PARTITIONS).await?;
    data::check_ground_truths(&truths, &queries, &passages)?;
    Ok(truths)
}

/// The aligned pairs of the fine-tuning settings' file, if they name one,
/// and the queries of the other evaluation sets it names.
#[node(output = ("aligned_pairs", "excluded_queries"))]
async fn load_training_inputs(fine_tune: FineTuneSettings) -> Result<(Vec<data::AlignedPair>, Vec<Query>), BoxError> {
    let aligned = match &fine_tune.aligned_pairs_uri {
        Some(uri) => data::load_aligned_pairs(uri, READ_PARTITIONS).await?,
        None => Vec::new(),
    };
    let mut excluded = Vec::new();
    for uri in &fine_tune.excluded_queries_uris {
        excluded.extend(data::load_queries(uri, READ_PARTITIONS).await?);
    }
    Ok((aligned, excluded))
}

/// The encoder fine-tuned on the run's passages (and aligned pairs), or
/// the one an earlier run trained on the same ([`training`]).
#[node(output = ("encoder", "fine_tune_report"))]
fn fine_tune_encoder(
    passages: &[Passage],
    queries: &[Query],
    aligned_pairs: &[data::AlignedPair],
    excluded_queries: &[Query],
    base_encoder: &Res<Encoder>,
    fine_tune: &FineTuneSettings,
) -> Result<(Res<Encoder>, FineTuneSummary), BoxError> {
    let base = &base_encoder.config().0;
    let evaluation: Vec<&str> = queries
        .iter()
        .chain(excluded_queries)
        .map(|q| q.text.as_str())
        .collect();
    let set = training::training_set(passages, &evaluation, aligned_pairs, base, fine_tune.spans.as_ref())?;
    let (tuned, summary) = training::fine_tuned_encoder(base, set, fine_tune)?;
    tracing::info!(%summary, "fine-tuned encoder");
    Ok((Res::new(Encoder(tuned)), summary))
}

/// A passage's token embeddings (`tokens × token_dim` values, row-major,
/// L2-normalised rows) as [`Floats`], which the index builders read in place
/// from the column they are collected into.
#[node(output = ("passage_matrix", "token_dim"), batch = encode_passages, constant = "encoder", cache)]
fn encode_passage(passage: Passage, encoder: &Res<Encoder>) -> Result<(Floats, u32), BoxError> {
    let embeddings = encoder.get()?.encode_document(&passage.text)?;
    Ok((Floats::from(embeddings.data), embeddings.dim as u32))
}

#[nodefusion::batch]
fn encode_passages(passage: Vec<Passage>, encoder: &Res<Encoder>) -> Result<(Vec<Floats>, Vec<u32>), BoxError> {
    let texts: Vec<&str> = passage.iter().map(|p| p.text.as_str()).collect();
    let encoded = encoder.get()?.encode_documents_batch(&texts)?;
    Ok(encoded
        .into_iter()
        .map(|e| (Floats::from(e.data), e.dim as u32))
        .unzip())
}

#[node(output = "encoded_query", batch = encode_queries, constant = "encoder", cache)]
fn encode_query(query: Query, encoder: &Res<Encoder>) -> Result<EncodedQuery, BoxError> {
    let embeddings = encoder.get()?.encode_query(&query.text)?;
    Ok(EncodedQuery {
        uuid: query.uuid,
        text: query.text,
        dim: embeddings.dim as u32,
        embeddings: embeddings.data,
    })
}

#[nodefusion::batch]
fn encode_queries(query: Vec<Query>, encoder: &Res<Encoder>) -> Result<Vec<EncodedQuery>, BoxError> {
    let texts: Vec<&str> = query.iter().map(|q| q.text.as_str()).collect();
    let encoded = encoder.get()?.encode_queries_batch(&texts)?;
    Ok(query
        .into_iter()
        .zip(encoded)
        .map(|(q, e)| EncodedQuery {
            uuid: q.uuid,
            text: q.text,
            dim: e.dim as u32,
            embeddings: e.data,
        })
        .collect())
}

/// The passages' token matrices as one collection: a view of the column
/// they were collected into when its rows lie one after another in memory
/// (the DataFusion and Ballista engines), a copy otherwise.
fn doc_embeddings(passage_matrices: &[Floats], token_dims: &[u32]) -> Result<DocEmbeddings, BoxError> {
    if token_dims.len() != passage_matrices.len() {
        return Err(format!(
            "{} token dimensions for {} passage matrices",
            token_dims.len(),
            passage_matrices.len()
        )
        .into());
    }
    let dim = token_dims.first().map_or(1, |&d| d as usize);
    if let Some(other) = token_dims.iter().find(|&&d| d as usize != dim) {
        return Err(format!("the passages were encoded with different dimensions ({dim} and {other})").into());
    }
    Ok(match Floats::contiguous(passage_matrices) {
        Some(all) => {
            let doc_values: Vec<usize> = passage_matrices.iter().map(|m| m.len()).collect();
            DocEmbeddings::from_shared(dim, Arc::new(all), &doc_values)?
        }
        None => DocEmbeddings::from_docs(dim, passage_matrices)?,
    })
}

/// The passages' ids, in the order of their matrices.
fn uuids<'a>(passages: &'a [Passage], passage_matrices: &[Floats]) -> Result<Vec<&'a str>, BoxError> {
    if passages.len() != passage_matrices.len() {
        return Err(format!(
            "{} passages but {} encoded passages: the encoding map lost or added items",
            passages.len(),
            passage_matrices.len()
        )
        .into());
    }
    Ok(passages.iter().map(|p| p.uuid.as_str()).collect())
}

/// The index `name` in `settings`' folder: copied from
/// `settings.index_cache` when an index built from `source` is kept there,
/// otherwise built by `build`, saved with `source` recorded, and copied
/// there. A cache that fails (an entry removed meanwhile, say) is a
/// warning: the index is built, or not kept.
fn build_or_reuse<I: SaveIndex>(
    name: &str,
    settings: &IndexSettings,
    source: &SourceDigest,
    build: impl FnOnce() -> Result<I, BoxError>,
) -> Result<IndexHandle<I>, BoxError>
where
    I::Error: std::error::Error + Send + Sync + 'static,
{
    let location = IndexLocation::new(&settings.index_folder, name)?;
    let kept = match &settings.index_cache {
        Some(folder) => Some(IndexLocation::new(folder, &format!("{name}/{source}"))?),
        None => None,
    };
    if let Some(kept) = &kept {
        match I::reuse(&location, kept, source, settings.overwrite) {
            Ok(Some(_)) => return Ok(IndexHandle::new(location.uri())),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "the {name} index kept in {} could not be copied, building it: {e}",
                kept.uri()
            ),
        }
    }
    build()?.save_built_from(&location, settings.overwrite, source)?;
    if let Some(kept) = &kept
        && let Err(e) = I::reuse(kept, &location, source, true)
    {
        tracing::warn!(
            "the {name} index was built but could not be kept in {}: {e}",
            kept.uri()
        );
    }
    Ok(IndexHandle::new(location.uri()))
}

#[node(output = "vector_index")]
fn build_vector_index(
    passages: &[Passage],
    passage_matrices: &[Floats],
    token_dims: &[u32],
    index_settings: &IndexSettings,
) -> Result<Res<VectorIndex>, BoxError> {
    let ids = uuids(passages, passage_matrices)?;
    let params = PlaidBuildParams::default();
    let source = IndexSource::of::<PlaidIndex>()
        .settings(&params)
        .u32s(token_dims)
        .floats(passage_matrices)
        .strs(&ids)
        .finish();
    let handle = build_or_reuse(INDEXES[0], index_settings, &source, || {
        Ok(PlaidIndex::build(&doc_embeddings(passage_matrices, token_dims)?, &params)?.with_external_ids(&ids)?)
    })?;
    Ok(Res::new(VectorIndex(handle)))
}

#[node(output = "bm25_index")]
fn build_bm25_index(passages: &[Passage], index_settings: &IndexSettings) -> Result<Res<LexicalIndex>, BoxError> {
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let ids: Vec<&str> = passages.iter().map(|p| p.uuid.as_str()).collect();
    let params = Bm25Params::default();
    let source = IndexSource::of::<Bm25Index>()
        .settings(&params)
        .strs(&texts)
        .strs(&ids)
        .finish();
    let handle = build_or_reuse(INDEXES[1], index_settings, &source, || {
        Ok(Bm25Index::build(&texts, &params)?.with_external_ids(&ids)?)
    })?;
    Ok(Res::new(LexicalIndex(handle)))
}

#[node(output = "passage_lookup")]
fn build_passage_lookup(
    passages: &[Passage],
    passage_matrices: &[Floats],
    token_dims: &[u32],
    index_settings: &IndexSettings,
) -> Result<Res<PassageLookup>, BoxError> {
    let ids = uuids(passages, passage_matrices)?;
    let source = IndexSource::of::<EmbeddingLookup>()
        .u32s(token_dims)
        .floats(passage_matrices)
        .strs(&ids)
        .finish();
    let handle = build_or_reuse(INDEXES[2], index_settings, &source, || {
        Ok(EmbeddingLookup::new(
            doc_embeddings(passage_matrices, token_dims)?,
            &ids,
        )?)
    })?;
    Ok(Res::new(PassageLookup(handle)))
}

#[node(output = "colbert_hits")]
fn retrieve_colbert(
    encoded_query: &EncodedQuery,
    vector_index: &Res<VectorIndex>,
    top_k: usize,
) -> Result<Vec<Hit>, BoxError> {
    let index = vector_index.get()?;
    let hits = index.search_with(&encoded_query.embeddings, &SearchParams::for_k(top_k))?;
    Ok(hits
        .into_iter()
        .map(|h| Hit {
            uuid: index.external_id(h.doc).unwrap_or_default().to_string(),
            score: h.score,
        })
        .collect())
}

#[node(output = "bm25_hits")]
fn retrieve_bm25(
    encoded_query: &EncodedQuery,
    bm25_index: &Res<LexicalIndex>,
    top_k: usize,
) -> Result<Vec<Hit>, BoxError> {
    let index = bm25_index.get()?;
    Ok(index
        .search(&encoded_query.text, top_k)
        .into_iter()
        .map(|h| Hit {
            uuid: index.external_id(h.doc).unwrap_or_default().to_string(),
            score: h.score,
        })
        .collect())
}

/// Fuses hit lists by uuid.
fn fuse_lists(lists: &[&[Hit]], params: &FusionParams) -> Result<Vec<Hit>, BoxError> {
    let lists: Vec<Vec<(&str, f64)>> = lists
        .iter()
        .map(|hits| hits.iter().map(|h| (h.uuid.as_str(), f64::from(h.score))).collect())
        .collect();
    Ok(fuse(&lists, params)?
        .into_iter()
        .map(|f| Hit {
            uuid: f.id.to_string(),
            score: f.score as f32,
        })
        .collect())
}

#[node(output = "fused_hits")]
fn fuse_results(colbert_hits: &[Hit], bm25_hits: &[Hit], fusion: &Fusion) -> Result<Vec<Hit>, BoxError> {
    fuse_lists(&[colbert_hits, bm25_hits], &fusion.params())
}

#[node(output = "reranked_hits")]
fn rerank_results(
    encoded_query: &EncodedQuery,
    fused_hits: &[Hit],
    passage_lookup: &Res<PassageLookup>,
    reranker: &Reranker,
) -> Result<Vec<Hit>, BoxError> {
    let lookup = passage_lookup.get()?;
    let settings = reranker;
    let candidates: Vec<u32> = fused_hits.iter().filter_map(|h| lookup.id_of(&h.uuid)).collect();
    let reranked: Vec<Hit> = rerank(&encoded_query.embeddings, &candidates, lookup.docs(), candidates.len())?
        .into_iter()
        .map(|h| Hit {
            uuid: lookup.external_id(h.doc).unwrap_or_default().to_string(),
            score: h.score,
        })
        .collect();
    match &settings.keep_order {
        None => Ok(reranked.into_iter().take(settings.top_k).collect()),
        Some(keep) => fuse_lists(
            &[fused_hits, &reranked],
            &FusionParams {
                method: keep.method,
                weights: Some(vec![keep.first_stage_weight, keep.rerank_weight]),
                top_k: Some(settings.top_k),
                ..FusionParams::default()
            },
        ),
    }
}

#[node(output = "predictions")]
fn hits_to_predictions(
    encoded_query: &EncodedQuery,
    colbert_hits: &[Hit],
    bm25_hits: &[Hit],
    fused_hits: &[Hit],
    reranked_hits: &[Hit],
) -> Vec<Prediction> {
    SYSTEMS
        .iter()
        .zip([colbert_hits, bm25_hits, fused_hits, reranked_hits])
        .flat_map(|(system, hits)| {
            hits.iter().enumerate().map(move |(i, h)| Prediction {
                system: system.to_string(),
                query_uuid: encoded_query.uuid.clone(),
                passage_uuid: h.uuid.clone(),
                rank: i as u32 + 1,
                score: h.score,
            })
        })
        .collect()
}

#[node(output = "all_predictions")]
fn flatten_predictions(per_query_predictions: Vec<Vec<Prediction>>) -> Vec<Prediction> {
    per_query_predictions.into_iter().flatten().collect()
}

fn evaluate_systems(
    predictions: &[Prediction],
    ground_truths: &[GroundTruth],
    measures: &[Measure],
) -> Result<Vec<MetricValue>, BoxError> {
    let mut qrels = Qrels::new();
    for g in ground_truths {
        qrels
            .entry(g.query_uuid.clone())
            .or_default()
            .insert(g.passage_uuid.clone(), g.relevance as i32);
    }
    let mut out = Vec::new();
    for system in SYSTEMS {
        // Every judged query counts (trec_eval -c): one a system returns
        // nothing for scores 0 instead of leaving the mean.
        let mut run: Run = qrels.keys().map(|q| (q.clone(), Default::default())).collect();
        for p in predictions.iter().filter(|p| p.system == system) {
            // Rank-based scores, so trec_eval's tie-breaking never reorders
            // a system's ranking.
            run.entry(p.query_uuid.clone())
                .or_default()
                .insert(p.passage_uuid.clone(), -(p.rank as f64));
        }
        let evaluation = evaluate(&qrels, &run, measures)?;
        for measure in measures {
            out.push(MetricValue {
                system: system.into(),
                metric: measure.to_string(),
                value: evaluation.mean.get(&measure.to_string()).copied().unwrap_or(0.0),
            });
        }
    }
    Ok(out)
}

#[node(output = "ndcg")]
fn compute_ndcg(
    all_predictions: &[Prediction],
    ground_truths: &[GroundTruth],
    evaluator: &Evaluator,
) -> Result<Vec<MetricValue>, BoxError> {
    let cuts: Vec<Measure> = evaluator.ndcg_at.iter().map(|&k| Measure::Ndcg(k)).collect();
    evaluate_systems(all_predictions, ground_truths, &cuts)
}

#[node(output = "recall")]
fn compute_recall(
    all_predictions: &[Prediction],
    ground_truths: &[GroundTruth],
    evaluator: &Evaluator,
) -> Result<Vec<MetricValue>, BoxError> {
    let cuts: Vec<Measure> = evaluator.recall_at.iter().map(|&k| Measure::Recall(k)).collect();
    evaluate_systems(all_predictions, ground_truths, &cuts)
}

#[node(output = "metrics")]
fn combine_evaluation_results(ndcg: Vec<MetricValue>, recall: Vec<MetricValue>) -> Vec<MetricValue> {
    let order: BTreeMap<&str, usize> = SYSTEMS.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut all: Vec<MetricValue> = ndcg.into_iter().chain(recall).collect();
    all.sort_by_key(|m| order.get(m.system.as_str()).copied().unwrap_or(usize::MAX));
    all
}

/// The per-query retrieval pipeline.
pub fn per_query_pipeline() -> Result<Pipeline, nodefusion::PipelineError> {
    pipeline![
        retrieve_colbert::node(),
        retrieve_bm25::node(),
        fuse_results::node(),
        rerank_results::node(),
        hits_to_predictions::node(),
    ]
}

/// The whole retrieval pipeline with the encoder fine-tuned first: it takes
/// `base_encoder` and `fine_tune` ([`FineTuneSettings`]) where
/// [`retrieval_pipeline`] takes `encoder`, and also outputs
/// `fine_tune_report` ([`FineTuneSummary`]).
pub fn fine_tuned_retrieval_pipeline() -> Result<Pipeline, nodefusion::PipelineError> {
    let first = [
        nodefusion::Step::from(load_training_inputs::node()),
        nodefusion::Step::from(fine_tune_encoder::node()),
    ];
    Pipeline::new(first.into_iter().chain(retrieval_pipeline()?.steps().iter().cloned()))
}

/// The whole retrieval pipeline.
pub fn retrieval_pipeline() -> Result<Pipeline, nodefusion::PipelineError> {
    let encode_all = pipeline![encode_passage::node().with_batch_size(32)]?
        .as_node("encode_passages")
        .rename_input("passage", "passages")
        .rename_output("passage_matrix", "passage_matrices")
        .rename_output("token_dim", "token_dims")
        .map_over(["passages"]);
    let encode_all_queries = pipeline![encode_query::node().with_batch_size(32)]?
        .as_node("encode_queries")
        .rename_input("query", "queries")
        .rename_output("encoded_query", "encoded_queries")
        .map_over(["queries"]);
    let per_query = per_query_pipeline()?
        .as_node("retrieve")
        .rename_input("encoded_query", "encoded_queries")
        .rename_output("predictions", "per_query_predictions")
        .rename_output("colbert_hits", "all_colbert_hits")
        .rename_output("bm25_hits", "all_bm25_hits")
        .rename_output("fused_hits", "all_fused_hits")
        .rename_output("reranked_hits", "all_reranked_hits")
        .map_over(["encoded_queries"]);
    pipeline![
        load_passages::node(),
        load_queries::node(),
        load_ground_truths::node(),
        encode_all,
        build_vector_index::node(),
        build_bm25_index::node(),
        build_passage_lookup::node(),
        encode_all_queries,
        per_query,
        flatten_predictions::node(),
        compute_ndcg::node(),
        compute_recall::node(),
        combine_evaluation_results::node(),
    ]
}

#[cfg(test)]
mod tests {
    use nodefusion_udfs::colbert::EncoderConfig;

    use super::*;

    fn prediction(system: &str, query: &str, passage: &str, rank: u32) -> Prediction {
        Prediction {
            system: system.into(),
            query_uuid: query.into(),
            passage_uuid: passage.into(),
            rank,
            score: 1.0 / rank as f32,
        }
    }

    /// Passages in Hebrew and English of different lengths, so that a batch pads.
    fn texts() -> Vec<String> {
        [
            "בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ",
            "שמע ישראל",
            "In the beginning God created the heaven and the earth.",
            "וַיֹּאמֶר אֱלֹהִים יְהִי אוֹר וַיְהִי־אוֹר וַיַּרְא אֱלֹהִים אֶת־הָאוֹר כִּי־טוֹב",
            "",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn batch_encoding_agrees_with_one_text_at_a_time() {
        use nodefusion::Inputs;
        use nodefusion::testing::check_batch_agrees_within;
        let kind = crate::app::EncoderKind::E5;
        let e5 = Res::new(Encoder(kind.config(&kind.default_model_dir().unwrap())));
        let other = Res::new(Encoder(EncoderConfig {
            query_maxlen: 16,
            ..e5.config().0.clone()
        }));
        // One encoder for every row (the batched path), then two (the
        // per-row fallback of a mixed batch).
        for encoders in [[&e5, &e5], [&e5, &other]] {
            let rows = |prefix: &str, item: &dyn Fn(String, String) -> Inputs| -> Vec<Inputs> {
                texts()
                    .into_iter()
                    .enumerate()
                    .map(|(j, text)| item(format!("{prefix}{j}"), text).with("encoder", encoders[j % 2].clone()))
                    .collect()
            };
            let passages = rows("p", &|uuid, text| Inputs::new().with("passage", Passage { uuid, text }));
            let queries = rows("q", &|uuid, text| Inputs::new().with("query", Query { uuid, text }));
            check_batch_agrees_within(&encode_passage::node(), &passages, 1e-4).unwrap();
            check_batch_agrees_within(&encode_query::node(), &queries, 1e-4).unwrap();
        }
    }

    #[test]
    fn a_query_without_results_counts_as_zero() {
        let truths = ["q1", "q2"].map(|q| GroundTruth {
            query_uuid: q.into(),
            passage_uuid: format!("{q}-relevant"),
            relevance: 1,
        });
        // bm25 finds q1's passage and returns nothing for q2; colbert finds both.
        let predictions = [
            prediction("bm25", "q1", "q1-relevant", 1),
            prediction("colbert", "q1", "q1-relevant", 1),
            prediction("colbert", "q2", "q2-relevant", 1),
        ];
        let metrics = evaluate_systems(&predictions, &truths, &[Measure::Recall(10)]).unwrap();
        let value = |system: &str| metrics.iter().find(|m| m.system == system).unwrap().value;
        assert_eq!(value("colbert"), 1.0);
        assert_eq!(value("bm25"), 0.5);
        assert_eq!(value("fused"), 0.0);
    }
}
