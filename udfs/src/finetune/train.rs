//! The training loop: AdamW with warm-up and linear decay, gradient
//! accumulation, a fixed seed; and the checkpoint it writes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::colbert::files::{self, ModelFiles};
use crate::colbert::input::Preparer;
use crate::colbert::{EncoderConfig, PreparedInput, TextKind};

use super::error::{FineTuneError, Result};
use super::loss::{Score, info_nce, scores};
use super::network::{self, Batch, Network};
use super::pairs::TrainingPair;

/// File written beside the weights: how the model was trained.
pub const MANIFEST_FILE: &str = "nodefusion-fine-tune.json";

/// How to train.
///
/// ```
/// use nodefusion_udfs::finetune::FineTuneConfig;
/// let config = FineTuneConfig { steps: 50, ..FineTuneConfig::default() };
/// assert_eq!(config.batch_size, 32);
/// let json = serde_json::to_string(&config).unwrap();
/// assert_eq!(serde_json::from_str::<FineTuneConfig>(&json).unwrap(), config);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FineTuneConfig {
    /// Optimiser steps. Default 200.
    pub steps: usize,
    /// Pairs per optimiser step; each pair's positive is a negative for the
    /// others of its micro-batch. Default 32.
    pub batch_size: usize,
    /// Pairs per forward and backward pass; gradients of the micro-batches
    /// of a step are summed, so a step can hold more pairs than fit in
    /// memory at once. Must divide `batch_size`. Default 16.
    pub micro_batch: usize,
    /// The peak learning rate. Default 3e-5.
    pub learning_rate: f64,
    /// Steps of linear warm-up from 0 to the peak; the rate then falls
    /// linearly to 0 at the last step. Default 20.
    pub warmup_steps: usize,
    /// AdamW's decoupled weight decay, on weight matrices only (not on
    /// biases and norms). Default 0.01.
    pub weight_decay: f64,
    /// Scores are divided by it before the softmax. Default 0.05.
    pub temperature: f64,
    /// The score trained. Default [`Score::MaxSim`], what the pipeline
    /// retrieves with.
    pub score: Score,
    /// Train the word embeddings too. Default `false`.
    pub train_embeddings: bool,
    /// Seed of the order of the pairs. Default 17.
    pub seed: u64,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self {
            steps: 200,
            batch_size: 32,
            micro_batch: 16,
            learning_rate: 3e-5,
            warmup_steps: 20,
            weight_decay: 0.01,
            temperature: 0.05,
            score: Score::MaxSim,
            train_embeddings: false,
            seed: 17,
        }
    }
}

impl FineTuneConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(FineTuneError::Config { field, reason });
        if self.steps == 0 {
            return bad("steps", "is 0; train at least one step".into());
        }
        if self.micro_batch == 0 || self.batch_size == 0 || !self.batch_size.is_multiple_of(self.micro_batch) {
            return bad(
                "micro_batch",
                format!(
                    "is {}; it must be at least 1 and divide batch_size ({})",
                    self.micro_batch, self.batch_size
                ),
            );
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                format!("is {}; expected a number > 0", self.learning_rate),
            );
        }
        if self.warmup_steps > self.steps {
            return bad(
                "warmup_steps",
                format!("is {}, more than steps ({})", self.warmup_steps, self.steps),
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                format!("is {}; expected a number >= 0", self.weight_decay),
            );
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad("temperature", format!("is {}; expected a number > 0", self.temperature));
        }
        Ok(())
    }

    /// The learning rate of 1-based step `step`.
    fn learning_rate_at(&self, step: usize) -> f64 {
        if step <= self.warmup_steps {
            return self.learning_rate * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let left = (self.steps - step + 1) as f64 / (self.steps - self.warmup_steps).max(1) as f64;
        self.learning_rate * left
    }
}

/// One optimiser step, as reported to the progress callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 1-based.
    pub step: usize,
    /// Of this many.
    pub steps: usize,
    /// The step's mean loss over its pairs.
    pub loss: f64,
    /// The learning rate used.
    pub learning_rate: f64,
    /// Seconds since training started.
    pub seconds: f64,
}

/// What a training run did; also written, with its settings, to
/// [`MANIFEST_FILE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneReport {
    /// Training pairs available.
    pub pairs: usize,
    /// Pairs seen (with repeats across epochs).
    pub pairs_seen: usize,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Each step's loss.
    pub losses: Vec<f64>,
    /// Trainable weights (numbers, not tensors).
    pub trained_weights: usize,
    /// Wall seconds of training (preparing the texts included).
    pub seconds: f64,
    /// Blake3 of the pairs, in order: with the config and base model, what
    /// makes a run repeatable.
    pub pairs_digest: String,
}

/// The manifest: the report and everything the run depended on.
#[derive(Serialize)]
struct Manifest<'a> {
    format: u32,
    base_model_digest: &'a str,
    encoder: &'a EncoderConfig,
    fine_tune: &'a FineTuneConfig,
    report: &'a FineTuneReport,
}

/// Fine-tunes the model of `encoder` on `pairs` and writes it, in the
/// Hugging Face layout the encoder loads (config.json, tokenizer.json,
/// model.safetensors, and any other file of the base model's directory),
/// with [`MANIFEST_FILE`] beside it, to `out_dir`. The directory appears
/// whole or not at all: it is written next to `out_dir` and renamed into
/// place. `progress` sees every step.
///
/// Texts are prepared exactly as `encoder` will prepare them when the
/// trained model is used: same markers, lengths and normalisation.
///
/// ```no_run
/// use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig};
/// use nodefusion_udfs::finetune::{fine_tune, FineTuneConfig, TrainingPair};
///
/// let encoder = EncoderConfig::from_dir(default_test_model_dir()?);
/// let pairs = vec![
///     TrainingPair::new("psalms author", "The psalms are attributed to David."),
///     TrainingPair::new("first king", "Saul was the first king of Israel."),
/// ];
/// let config = FineTuneConfig { steps: 2, batch_size: 2, micro_batch: 2, warmup_steps: 1, ..FineTuneConfig::default() };
/// let report = fine_tune(&encoder, &pairs, &config, "tuned".as_ref(), |step| println!("{step:?}"))?;
/// assert_eq!(report.steps, 2);
/// let tuned = EncoderConfig { model: nodefusion_udfs::colbert::ModelSource::Dir("tuned".into()), ..encoder };
/// tuned.load()?.encode_query("who wrote the psalms?")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fine_tune(
    encoder: &EncoderConfig,
    pairs: &[TrainingPair],
    config: &FineTuneConfig,
    out_dir: &Path,
    mut progress: impl FnMut(&StepReport),
) -> Result<FineTuneReport> {
    let started = Instant::now();
    config.validate()?;
    if pairs.is_empty() {
        return Err(FineTuneError::NoPairs(
            "the pair builders found nothing to train on (too few passages, or all excluded)".into(),
        ));
    }
    let mut trainer = Trainer::new(encoder, config, DType::F32)?;
    let prepared = trainer.prepare(pairs)?;
    let mut order: Vec<usize> = (0..prepared.len()).collect();
    let mut rng = StdRng::seed_from_u64(config.seed);
    order.shuffle(&mut rng);
    let mut next = 0;
    let mut losses = Vec::with_capacity(config.steps);
    for step in 1..=config.steps {
        let mut batch = Vec::with_capacity(config.batch_size);
        while batch.len() < config.batch_size.min(prepared.len()) {
            if next == order.len() {
                order.shuffle(&mut rng);
                next = 0;
            }
            batch.push(&prepared[order[next]]);
            next += 1;
        }
        let learning_rate = config.learning_rate_at(step);
        let loss = trainer.step(&batch, learning_rate)?;
        if !loss.is_finite() {
            return Err(FineTuneError::Diverged { step, loss });
        }
        losses.push(loss);
        progress(&StepReport {
            step,
            steps: config.steps,
            loss,
            learning_rate,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let report = FineTuneReport {
        pairs: pairs.len(),
        pairs_seen: config.steps * config.batch_size.min(pairs.len()),
        steps: config.steps,
        losses,
        trained_weights: trainer.trained_weights()?,
        seconds: started.elapsed().as_secs_f64(),
        pairs_digest: pairs_digest(pairs),
    };
    trainer.save(out_dir, &report)?;
    Ok(report)
}

/// Blake3 of the pairs' texts, in order.
pub fn pairs_digest(pairs: &[TrainingPair]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"nodefusion-pairs/1\0");
    for pair in pairs {
        for text in [&pair.query, &pair.positive].into_iter().chain(&pair.negatives) {
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        hasher.update(&(pair.negatives.len() as u64).to_le_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// A pair made ready for the network: its query and its documents
/// (positive first).
pub(crate) struct PreparedPair {
    query: PreparedInput,
    documents: Vec<PreparedInput>,
}

/// The network, its optimisers and the encoder settings it trains for.
pub(crate) struct Trainer {
    pub network: Network,
    preparer: Preparer,
    files: ModelFiles,
    encoder: EncoderConfig,
    config: FineTuneConfig,
    /// Weight matrices, with weight decay.
    decayed: AdamW,
    /// Biases, norms and embeddings, without.
    plain: AdamW,
}

impl Trainer {
    pub(crate) fn new(encoder: &EncoderConfig, config: &FineTuneConfig, dtype: DType) -> Result<Self> {
        encoder.validate()?;
        let files = files::resolve(&encoder.model)?;
        let preparer = Preparer::load(&files.tokenizer, encoder)?;
        let network = network::load(&files, encoder.dim, config.train_embeddings, dtype)?;
        let vars = network.vars()?;
        // Weight decay on weight matrices only, as is usual for BERT.
        let params = |decay: bool| {
            vars.iter()
                .filter(|(name, var)| {
                    decay == (var.rank() == 2 && name.ends_with(".weight") && !name.contains("embeddings"))
                })
                .map(|(_, var)| var.clone())
                .collect::<Vec<_>>()
        };
        let adam = |decay: f64| ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: decay,
            ..ParamsAdamW::default()
        };
        Ok(Self {
            decayed: AdamW::new(params(true), adam(config.weight_decay))?,
            plain: AdamW::new(params(false), adam(0.0))?,
            network,
            preparer,
            files,
            encoder: encoder.clone(),
            config: config.clone(),
        })
    }

    /// Tokenises every pair up front, so a text the tokenizer refuses fails
    /// the run before any training.
    pub(crate) fn prepare(&self, pairs: &[TrainingPair]) -> Result<Vec<PreparedPair>> {
        pairs
            .iter()
            .enumerate()
            .map(|(i, pair)| {
                let documents = std::iter::once(&pair.positive)
                    .chain(&pair.negatives)
                    .map(|text| self.preparer.prepare(TextKind::Document, text, i))
                    .collect::<crate::colbert::Result<Vec<_>>>()?;
                Ok(PreparedPair {
                    query: self.preparer.prepare(TextKind::Query, &pair.query, i)?,
                    documents,
                })
            })
            .collect()
    }

    /// The loss of `pairs` as one micro-batch, scaled by `weight`.
    pub(crate) fn loss(&self, pairs: &[&PreparedPair], weight: f64) -> Result<Tensor> {
        let (dtype, device) = (self.network.dtype, &self.network.device);
        let queries: Vec<&PreparedInput> = pairs.iter().map(|p| &p.query).collect();
        // Positives first, in pair order, so query i's target is document i.
        let documents: Vec<&PreparedInput> = pairs
            .iter()
            .map(|p| &p.documents[0])
            .chain(pairs.iter().flat_map(|p| &p.documents[1..]))
            .collect();
        let query_batch = Batch::new(&queries, dtype, device)?;
        let document_batch = Batch::new(&documents, dtype, device)?;
        let q = self.network.forward(&query_batch)?;
        let d = self.network.forward(&document_batch)?;
        let scores = scores(self.config.score, (&q, &query_batch), (&d, &document_batch))?;
        Ok((info_nce(&scores, self.config.temperature)? * weight)?)
    }

    /// One optimiser step over `pairs` at `learning_rate`; returns the
    /// step's mean loss.
    pub(crate) fn step(&mut self, pairs: &[&PreparedPair], learning_rate: f64) -> Result<f64> {
        let vars = self.network.vars()?;
        let mut total = 0.0;
        let mut summed: Option<GradStore> = None;
        for micro in pairs.chunks(self.config.micro_batch) {
            let loss = self.loss(micro, micro.len() as f64 / pairs.len() as f64)?;
            total += loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let grads = loss.backward()?;
            summed = Some(match summed {
                None => grads,
                Some(mut sum) => {
                    for var in vars.values() {
                        if let Some(g) = grads.get(var.as_tensor()) {
                            let next = match sum.get(var.as_tensor()) {
                                Some(before) => (before + g)?,
                                None => g.clone(),
                            };
                            sum.insert(var.as_tensor(), next);
                        }
                    }
                    sum
                }
            });
        }
        if let Some(grads) = summed {
            for optimiser in [&mut self.decayed, &mut self.plain] {
                optimiser.set_learning_rate(learning_rate);
                optimiser.step(&grads)?;
            }
        }
        Ok(total)
    }

    /// How many numbers training changes.
    pub(crate) fn trained_weights(&self) -> Result<usize> {
        Ok(self.network.vars()?.values().map(|var| var.elem_count()).sum())
    }

    /// The kept token vectors of each text, as the network computes them
    /// now (`tokens × dim` values per text).
    #[cfg(test)]
    pub(crate) fn encode(&self, kind: TextKind, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let inputs = texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.preparer.prepare(kind, t, i))
            .collect::<crate::colbert::Result<Vec<_>>>()?;
        let refs: Vec<&PreparedInput> = inputs.iter().collect();
        let batch = Batch::new(&refs, self.network.dtype, &self.network.device)?;
        let tokens = self.network.forward(&batch)?.tokens.to_dtype(DType::F32)?;
        inputs
            .iter()
            .enumerate()
            .map(|(row, input)| {
                let rows = tokens.get(row)?;
                let kept: Vec<Vec<f32>> = input
                    .kept
                    .iter()
                    .map(|&at| rows.get(at)?.to_vec1::<f32>())
                    .collect::<candle_core::Result<_>>()?;
                Ok(kept.concat())
            })
            .collect()
    }

    /// Writes the model with its trained weights to `out_dir` (see
    /// [`fine_tune`]).
    pub(crate) fn save(&self, out_dir: &Path, report: &FineTuneReport) -> Result<()> {
        let source = self
            .files
            .weights
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let parent = out_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| FineTuneError::write(parent, e))?;
        let name = out_dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let result = self
            .write_dir(&source, &staging, report)
            .and_then(|()| replace_dir(&staging, out_dir));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    fn write_dir(&self, source: &Path, dir: &Path, report: &FineTuneReport) -> Result<()> {
        let _ = std::fs::remove_dir_all(dir);
        copy_tree(source, dir, &self.files.weights)?;
        let mut tensors = self.network.checkpoint.clone();
        for (name, var) in self.network.vars()? {
            let dtype = tensors.get(&name).map_or(DType::F32, Tensor::dtype);
            tensors.insert(name, var.as_tensor().to_dtype(dtype)?);
        }
        let weights = dir.join("model.safetensors");
        candle_core::safetensors::save(&tensors, &weights).map_err(|e| FineTuneError::write(&weights, e))?;
        let base_model_digest = files::digest(&self.files)?;
        let manifest = Manifest {
            format: 1,
            base_model_digest: &base_model_digest,
            encoder: &self.encoder,
            fine_tune: &self.config,
            report,
        };
        let path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| FineTuneError::write(&path, e))?;
        std::fs::write(&path, json).map_err(|e| FineTuneError::write(&path, e))
    }
}

/// Copies `from` into `to`, sub-directories too, leaving out `skip` (the
/// weights, written anew) and a previous run's manifest.
fn copy_tree(from: &Path, to: &Path, skip: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| FineTuneError::write(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| FineTuneError::model(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FineTuneError::model(from, e))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path == skip || entry.file_name() == MANIFEST_FILE {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &target, skip)?;
        } else {
            std::fs::copy(&path, &target).map_err(|e| FineTuneError::write(&target, e))?;
        }
    }
    Ok(())
}

/// Moves the finished `staging` directory to `out_dir`, replacing what was
/// there only once the new one is complete.
fn replace_dir(staging: &Path, out_dir: &Path) -> Result<()> {
    if out_dir.exists() {
        let old = staging.with_extension("old");
        std::fs::rename(out_dir, &old).map_err(|e| FineTuneError::write(out_dir, e))?;
        std::fs::rename(staging, out_dir).map_err(|e| FineTuneError::write(out_dir, e))?;
        let _ = std::fs::remove_dir_all(old);
        Ok(())
    } else {
        std::fs::rename(staging, out_dir).map_err(|e| FineTuneError::write(out_dir, e))
    }
}
