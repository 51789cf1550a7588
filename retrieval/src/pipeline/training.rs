//! Fine-tuning the encoder inside the pipeline: which pairs it trains on,
//! where the trained model is kept, and when a run can reuse it.
//!
//! The pairs come from what the run has, never from what it is evaluated
//! on:
//! - spans of the passages ([`span_pairs`]), from passages whose chapter is
//!   for training ([`ChapterUse::Training`]; passages whose ids name no
//!   chapter all count);
//! - optionally, aligned pairs from a Parquet file
//!   ([`AlignedPair`]: the ASV dataset's English–Hebrew verses), under the
//!   same chapter rule;
//! - never a text of the run's queries or of the query files named in
//!   [`FineTuneSettings::excluded_queries_uris`], nor a span found inside
//!   one ([`Exclusions`]).
//!
//! The model is written to `<models_dir>/fine-tuned-<key>`, the key a hash
//! of the base model's digest, the encoder settings, the training settings
//! and the pairs: a run with the same corpus and settings finds it and does
//! not train again.

use std::path::{Path, PathBuf};

use nodefusion::BoxError;
use nodefusion_udfs::colbert::{EncoderConfig, ModelSource, model_digest};
use nodefusion_udfs::finetune::{
    Exclusions, FineTuneConfig, FineTuneReport, MANIFEST_FILE, SpanOptions, StepReport, TrainingPair, fine_tune,
    pairs_digest, span_pairs,
};
use serde::{Deserialize, Serialize};

use crate::data::{AlignedPair, Passage};
use crate::dataset::ChapterUse;

/// How the pipeline fine-tunes its encoder (the `fine_tune` input of
/// [`fine_tuned_retrieval_pipeline`](super::fine_tuned_retrieval_pipeline)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FineTuneSettings {
    /// The training run.
    pub config: FineTuneConfig,
    /// Pairs from spans of the passages; `None`: none.
    pub spans: Option<SpanOptions>,
    /// A Parquet file of aligned pairs (`uuid`, `query`, `positive`).
    pub aligned_pairs_uri: Option<String>,
    /// Query files (`uuid`, `text`) of other evaluation sets, whose texts
    /// are kept out of training like the run's own queries.
    pub excluded_queries_uris: Vec<String>,
    /// Where trained models are kept.
    pub models_dir: PathBuf,
    /// Print the loss every 10 steps on stderr.
    pub progress: bool,
}

/// What the fine-tuning node did: the `fine_tune_report` output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FineTuneSummary {
    /// The trained model's directory.
    pub model_dir: String,
    /// Found from an earlier run with the same inputs: not trained again.
    pub reused: bool,
    /// Passages whose chapters may be trained on.
    pub training_passages: usize,
    /// Pairs from spans of them.
    pub span_pairs: usize,
    /// Aligned pairs used (of the file's, those of training chapters).
    pub aligned_pairs: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Loss of the first and last step.
    pub first_loss: f64,
    /// See `first_loss`.
    pub last_loss: f64,
    /// Seconds the training took (when it ran).
    pub seconds: f64,
}

impl std::fmt::Display for FineTuneSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fine-tuned encoder {} ({}): {} span pairs from {} training passages, {} aligned pairs; \
             {} steps, loss {:.3} → {:.3}, {:.0} s",
            self.model_dir,
            if self.reused {
                "reused, not trained again"
            } else {
                "trained in this run"
            },
            self.span_pairs,
            self.training_passages,
            self.aligned_pairs,
            self.steps,
            self.first_loss,
            self.last_loss,
            self.seconds
        )
    }
}

/// Whether a passage with id `uuid` may be trained on.
fn trainable(uuid: &str) -> bool {
    matches!(ChapterUse::of_passage(uuid), None | Some(ChapterUse::Training))
}

/// The training pairs of a run, and how many of each kind.
pub struct TrainingSet {
    /// Span pairs first, then aligned pairs.
    pub pairs: Vec<TrainingPair>,
    /// Passages of training chapters.
    pub training_passages: usize,
    /// Pairs from spans.
    pub span_pairs: usize,
    /// Aligned pairs kept.
    pub aligned_pairs: usize,
}

/// Builds the pairs a run trains on (see the [module docs](self)).
pub fn training_set(
    passages: &[Passage],
    evaluation_queries: &[&str],
    aligned: &[AlignedPair],
    encoder: &EncoderConfig,
    spans: Option<&SpanOptions>,
) -> Result<TrainingSet, BoxError> {
    let excluded = Exclusions::new(evaluation_queries);
    let texts: Vec<&str> = passages
        .iter()
        .filter(|p| trainable(&p.uuid))
        .map(|p| p.text.as_str())
        .collect();
    let mut pairs = match spans {
        Some(options) => span_pairs(&texts, &excluded, encoder.normalize_hebrew, options)?,
        None => Vec::new(),
    };
    let span_count = pairs.len();
    pairs.extend(
        aligned
            .iter()
            .filter(|a| trainable(&a.uuid) && !excluded.contains(&a.query) && !excluded.contains(&a.positive))
            .map(|a| TrainingPair::new(a.query.as_str(), a.positive.as_str())),
    );
    Ok(TrainingSet {
        training_passages: texts.len(),
        span_pairs: span_count,
        aligned_pairs: pairs.len() - span_count,
        pairs,
    })
}

/// The prefix of a fine-tuned model's folder in the models directory; the
/// name `--cache-stats` lists them under and `--clear-cache` removes them by.
pub const FINE_TUNED: &str = "fine-tuned";

/// The fine-tuned models kept in `models_dir`, each `fine-tuned-<key>`
/// folder with its size in bytes, sorted by path. A model being written
/// (a hidden `.fine-tuned-….partial-…` folder) is not listed; a missing
/// directory holds none.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("nf-kept-models-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("fine-tuned-0123")).unwrap();
/// std::fs::write(dir.join("fine-tuned-0123/model.safetensors"), [0u8; 10]).unwrap();
/// std::fs::create_dir_all(dir.join("multilingual-e5-small")).unwrap();
/// let models = nodefusion_retrieval::pipeline::training::kept_models(&dir).unwrap();
/// assert_eq!(models, vec![(dir.join("fine-tuned-0123"), 10)]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn kept_models(models_dir: &Path) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let entries = match std::fs::read_dir(models_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let prefix = format!("{FINE_TUNED}-");
    let mut models = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) && entry.file_type()?.is_dir() {
            models.push((entry.path(), folder_bytes(&entry.path())?));
        }
    }
    models.sort();
    Ok(models)
}

/// The bytes of the files under `dir`, links not followed.
fn folder_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            bytes += folder_bytes(&entry.path())?;
        } else if kind.is_file() {
            bytes += entry.metadata()?.len();
        }
    }
    Ok(bytes)
}

/// Trains (or finds) the fine-tuned model for `set` and returns the encoder
/// config that loads it, with what was done.
pub fn fine_tuned_encoder(
    base: &EncoderConfig,
    set: TrainingSet,
    settings: &FineTuneSettings,
) -> Result<(EncoderConfig, FineTuneSummary), BoxError> {
    let ModelSource::Dir(base_dir) = &base.model else {
        return Err("fine-tuning needs the base model as a local directory, not a hub id".into());
    };
    let dir = settings
        .models_dir
        .join(format!("{FINE_TUNED}-{}", run_key(base, base_dir, &set, settings)?));
    let (report, reused) = match read_report(&dir) {
        Some(report) => (report, true),
        None => {
            let progress = settings.progress;
            let report = fine_tune(base, &set.pairs, &settings.config, &dir, |step: &StepReport| {
                if progress && (step.step.is_multiple_of(10) || step.step == 1 || step.step == step.steps) {
                    eprintln!(
                        "fine-tune step {}/{}: loss {:.4}, learning rate {:.2e}, {:.0} s",
                        step.step, step.steps, step.loss, step.learning_rate, step.seconds
                    );
                }
            })?;
            (report, false)
        }
    };
    let tuned = EncoderConfig {
        model: ModelSource::Dir(dir.clone()),
        model_digest: match base.model_digest {
            Some(_) => Some(model_digest(&dir)?),
            None => None,
        },
        ..base.clone()
    };
    let summary = FineTuneSummary {
        model_dir: dir.display().to_string(),
        reused,
        training_passages: set.training_passages,
        span_pairs: set.span_pairs,
        aligned_pairs: set.aligned_pairs,
        steps: report.steps,
        first_loss: report.losses.first().copied().unwrap_or(f64::NAN),
        last_loss: report.losses.last().copied().unwrap_or(f64::NAN),
        seconds: report.seconds,
    };
    Ok((tuned, summary))
}

/// What names a trained model: the base model's content, the settings the
/// texts are encoded with, the training settings and the pairs.
fn run_key(
    base: &EncoderConfig,
    base_dir: &Path,
    set: &TrainingSet,
    settings: &FineTuneSettings,
) -> Result<String, BoxError> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"nodefusion-fine-tuned/1\0");
    // The config carries the digest when the run took one (node cache on).
    let digest = match &base.model_digest {
        Some(digest) => digest.clone(),
        None => model_digest(base_dir)?,
    };
    hasher.update(digest.as_bytes());
    let encoder = EncoderConfig {
        model_digest: None,
        ..base.clone()
    };
    hasher.update(&serde_json::to_vec(&encoder)?);
    hasher.update(&serde_json::to_vec(&settings.config)?);
    hasher.update(pairs_digest(&set.pairs).as_bytes());
    Ok(hasher.finalize().to_hex()[..16].to_owned())
}

/// The report of a model trained before, if `dir` holds one.
fn read_report(dir: &Path) -> Option<FineTuneReport> {
    #[derive(Deserialize)]
    struct Manifest {
        report: FineTuneReport,
    }
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
    let manifest: Manifest = serde_json::from_str(&text).ok()?;
    dir.join("model.safetensors").is_file().then_some(manifest.report)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::data::Query;

    fn passage(book: &str, chapter: u32, verse: u32, words: &[&str]) -> Passage {
        Passage {
            uuid: format!("{book}:{chapter}:{verse}"),
            text: words.join(" "),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// No pair comes from a chapter that is not for training, and none
        /// carries a query's text.
        #[test]
        fn pairs_come_only_from_training_chapters_and_never_from_queries(
            verses in prop::collection::vec(
                (1u32..13, 1u32..9, prop::collection::vec(prop::sample::select(vec!["אב", "בית", "שלום", "מלך", "ארץ", "דבר", "יום"]), 4..10)),
                1..40,
            ),
            query_picks in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        ) {
            let passages: Vec<Passage> = verses
                .iter()
                .enumerate()
                .map(|(i, (chapter, verse, words))| passage(&format!("Book{}", i % 3), *chapter, *verse, words))
                .collect();
            let queries: Vec<Query> = query_picks
                .iter()
                .map(|pick| Query { uuid: "q".into(), text: passages[pick.index(passages.len())].text.clone() })
                .collect();
            let aligned: Vec<AlignedPair> = passages
                .iter()
                .map(|p| AlignedPair { uuid: p.uuid.clone(), query: format!("english {}", p.uuid), positive: p.text.clone() })
                .collect();
            let encoder = EncoderConfig::from_dir("unused");
            let spans = SpanOptions { hard_negatives: 1, ..SpanOptions::default() };
            let texts: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
            let set = training_set(&passages, &texts, &aligned, &encoder, Some(&spans)).unwrap();
            let allowed: Vec<&str> = passages.iter().filter(|p| trainable(&p.uuid)).map(|p| p.text.as_str()).collect();
            let excluded = Exclusions::new(queries.iter().map(|q| q.text.as_str()));
            for pair in &set.pairs {
                for text in std::iter::once(&pair.positive).chain(&pair.negatives) {
                    prop_assert!(allowed.contains(&text.as_str()), "{text} is not from a training chapter");
                    prop_assert!(!queries.iter().any(|q| &q.text == text));
                }
                prop_assert!(!excluded.contains(&pair.query));
            }
            prop_assert_eq!(set.pairs.len(), set.span_pairs + set.aligned_pairs);
        }
    }
}
