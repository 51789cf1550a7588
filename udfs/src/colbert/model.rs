//! The network: a candle BERT or XLM-RoBERTa encoder (chosen by
//! `model_type` in `config.json`), the optional ColBERT projection, and the
//! per-token and pooled normalisation.

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use candle_transformers::models::xlm_roberta::{Config as XlmRobertaConfig, XLMRobertaModel};
use serde::Deserialize;

use super::error::{ColbertError, Result};
use super::files::{CONFIG_EXPECTED, DenseFiles, ModelFiles, WEIGHTS_EXPECTED, malformed};

/// `model_type` values this encoder runs: BERT through candle's `bert`,
/// XLM-RoBERTa through candle's `xlm_roberta`. A config without
/// `model_type` is read as BERT.
const SUPPORTED_MODEL_TYPES: [&str; 2] = ["bert", "xlm-roberta"];

/// Name of the projection tensor in both the Stanford and PyLate layouts.
const PROJECTION: &str = "linear";

/// Output of one forward pass over a padded batch.
pub(crate) struct ForwardOutput {
    /// `batch × seq_len × dim`, each token vector L2-normalised.
    pub tokens: Vec<f32>,
    /// `batch × hidden_size`, mean of the attended hidden states, normalised.
    pub pooled: Vec<f32>,
}

/// The transformer under the ColBERT head.
enum Backbone {
    Bert(BertModel),
    /// Positions start at `pad_token_id + 1`, computed by candle from the
    /// ids (padding ids get the padding position).
    XlmRoberta(XLMRobertaModel),
}

/// What the encoder needs to know about the backbone, whatever its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackboneInfo {
    /// `model_type` as run (`"bert"` or `"xlm-roberta"`).
    pub model_type: &'static str,
    pub hidden_size: usize,
    pub vocab_size: usize,
    /// Most tokens per sequence: `max_position_embeddings`, less the
    /// `pad_token_id + 1` positions XLM-RoBERTa reserves.
    pub max_tokens: usize,
    /// Id used to pad a batch (never attended to).
    pub pad_token_id: u32,
}

/// The parsed `config.json`.
enum BackboneConfig {
    Bert(BertConfig),
    XlmRoberta(XlmRobertaConfig),
}

impl BackboneConfig {
    fn info(&self) -> BackboneInfo {
        match self {
            BackboneConfig::Bert(c) => BackboneInfo {
                model_type: "bert",
                hidden_size: c.hidden_size,
                vocab_size: c.vocab_size,
                max_tokens: c.max_position_embeddings,
                pad_token_id: c.pad_token_id as u32,
            },
            BackboneConfig::XlmRoberta(c) => BackboneInfo {
                model_type: "xlm-roberta",
                hidden_size: c.hidden_size,
                vocab_size: c.vocab_size,
                max_tokens: c.max_position_embeddings.saturating_sub(c.pad_token_id as usize + 1),
                pad_token_id: c.pad_token_id,
            },
        }
    }
}

/// Encoder plus projection, ready to run.
pub(crate) struct Model {
    backbone: Backbone,
    projection: Vec<Linear>,
    device: Device,
    pub info: BackboneInfo,
    /// Size of the vectors that come out of the projection.
    pub projected_dim: usize,
    /// Size of the vectors returned (`≤ projected_dim`).
    pub dim: usize,
}

#[derive(Deserialize)]
struct ModelType {
    model_type: Option<String>,
}

#[derive(Deserialize)]
struct DenseConfig {
    in_features: Option<usize>,
    activation_function: Option<String>,
}

impl Model {
    pub(crate) fn load(files: &ModelFiles, dim: Option<usize>, device: &Device) -> Result<Self> {
        let config = read_config(&files.config)?;
        // SAFETY: the file is memory-mapped read-only; like every mmap user we
        // rely on nobody truncating the checkpoint while the model loads.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&files.weights], DType::F32, device) }
            .map_err(|e| malformed(&files.weights, WEIGHTS_EXPECTED, e))?;
        let info = config.info();
        let backbone = match &config {
            BackboneConfig::Bert(c) => BertModel::load(vb.clone(), c).map(Backbone::Bert).map_err(|e| {
                malformed(
                    &files.weights,
                    "BERT weights matching config.json (embeddings.*, encoder.layer.N.*, \
                     optionally under a bert. prefix)",
                    e,
                )
            })?,
            BackboneConfig::XlmRoberta(c) => {
                // Base-model checkpoints have the names at the root; masked-LM
                // and classifier checkpoints under `roberta.`.
                let root = if vb.contains_tensor("embeddings.word_embeddings.weight") {
                    vb.clone()
                } else {
                    vb.pp("roberta")
                };
                XLMRobertaModel::new(c, root).map(Backbone::XlmRoberta).map_err(|e| {
                    malformed(
                        &files.weights,
                        "XLM-RoBERTa weights matching config.json (embeddings.*, encoder.layer.N.*, \
                         optionally under a roberta. prefix)",
                        e,
                    )
                })?
            }
        };

        let mut projection = Vec::new();
        let mut width = info.hidden_size;
        if files.dense.is_empty() {
            // Stanford ColBERT: the projection sits next to the encoder.
            if vb.contains_tensor(&format!("{PROJECTION}.weight")) {
                projection.push(load_linear(&vb, &files.weights, width)?);
            }
        } else {
            for dense in &files.dense {
                projection.push(load_dense(dense, width, device)?);
            }
        }
        if let Some(last) = projection.last() {
            width = last.weight().dim(0)?;
        }
        let dim = match dim {
            None => width,
            Some(d) if d <= width => d,
            Some(d) => {
                return Err(ColbertError::Config {
                    field: "dim",
                    reason: format!(
                        "is {d}, but the model's vectors have {width} dimensions; \
                         use None or at most {width}"
                    ),
                });
            }
        };
        Ok(Self {
            backbone,
            projection,
            device: device.clone(),
            info,
            projected_dim: width,
            dim,
        })
    }

    /// The device the weights live on.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the checkpoint has a ColBERT projection.
    pub(crate) fn has_projection(&self) -> bool {
        !self.projection.is_empty()
    }

    /// Runs a padded batch: `ids` and `mask` are `batch × seq_len`, row-major.
    pub(crate) fn forward(&self, ids: &[u32], mask: &[u32], batch: usize, seq_len: usize) -> Result<ForwardOutput> {
        let _span = tracing::trace_span!("colbert.forward", batch, seq_len).entered();
        let ids = Tensor::from_slice(ids, (batch, seq_len), &self.device)?;
        let token_types = ids.zeros_like()?;
        let mask = Tensor::from_slice(mask, (batch, seq_len), &self.device)?;
        let hidden = match &self.backbone {
            Backbone::Bert(bert) => bert.forward(&ids, &token_types, Some(&mask))?,
            Backbone::XlmRoberta(model) => model.forward(&ids, &mask, &token_types, None, None, None)?,
        };

        // Pooled: mean over the attended tokens of the last hidden state.
        let weights = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
        // At least the start token is attended; the clamp only guards the division.
        let count = weights.sum(1)?.clamp(1f32, f32::MAX)?;
        let pooled = l2_normalize(&summed.broadcast_div(&count)?)?;

        let mut tokens = hidden;
        for layer in &self.projection {
            tokens = layer.forward(&tokens)?;
        }
        if self.dim < self.projected_dim {
            tokens = tokens.narrow(2, 0, self.dim)?;
        }
        let tokens = l2_normalize(&tokens)?;
        Ok(ForwardOutput {
            tokens: tokens.flatten_all()?.to_vec1()?,
            pooled: pooled.flatten_all()?.to_vec1()?,
        })
    }
}

/// `x / max(‖x‖₂, 1e-12)` along the last dimension (as torch's
/// `F.normalize`).
fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    x.broadcast_div(&norm)
}

fn read_config(path: &Path) -> Result<BackboneConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| malformed(path, CONFIG_EXPECTED, e))?;
    let kind: ModelType = serde_json::from_str(&text).map_err(|e| malformed(path, CONFIG_EXPECTED, e))?;
    match kind.model_type.as_deref() {
        None | Some("bert") => serde_json::from_str(&text)
            .map(BackboneConfig::Bert)
            .map_err(|e| malformed(path, CONFIG_EXPECTED, e)),
        Some("xlm-roberta") => {
            let config: XlmRobertaConfig = serde_json::from_str(&text).map_err(|e| {
                malformed(
                    path,
                    "an XLM-RoBERTa config.json (hidden_size, num_hidden_layers, pad_token_id, \
                     position_embedding_type, hidden_act, …)",
                    e,
                )
            })?;
            if config.position_embedding_type != "absolute" {
                return Err(ColbertError::Unsupported {
                    path: path.to_owned(),
                    reason: format!(
                        "position_embedding_type '{}'; only 'absolute' is supported",
                        config.position_embedding_type
                    ),
                });
            }
            Ok(BackboneConfig::XlmRoberta(config))
        }
        Some(other) => Err(ColbertError::Unsupported {
            path: path.to_owned(),
            reason: format!("model_type '{other}' is not run by this encoder; supported: {SUPPORTED_MODEL_TYPES:?}"),
        }),
    }
}

/// `linear.weight` (`out × width`, required) and `linear.bias` (optional).
fn load_linear(vb: &VarBuilder, file: &Path, width: usize) -> Result<Linear> {
    let expected = format!("{PROJECTION}.weight of shape [dim, {width}]");
    let weight = vb
        .get_unchecked(&format!("{PROJECTION}.weight"))
        .map_err(|e| malformed(file, &expected, e))?;
    match weight.dims() {
        [_, w] if *w == width => {}
        dims => return Err(malformed(file, &expected, format!("found shape {dims:?}"))),
    }
    let bias_name = format!("{PROJECTION}.bias");
    let bias = if vb.contains_tensor(&bias_name) {
        let out = weight.dim(0)?;
        Some(
            vb.get(out, &bias_name)
                .map_err(|e| malformed(file, &format!("{bias_name} of shape [{out}]"), e))?,
        )
    } else {
        None
    };
    Ok(Linear::new(weight, bias))
}

fn load_dense(dense: &DenseFiles, width: usize, device: &Device) -> Result<Linear> {
    if let Some(path) = &dense.config {
        let expected = "a Dense module config (in_features, activation_function)";
        let text = std::fs::read_to_string(path).map_err(|e| malformed(path, expected, e))?;
        let config: DenseConfig = serde_json::from_str(&text).map_err(|e| malformed(path, expected, e))?;
        if let Some(act) = config.activation_function
            && !act.ends_with("Identity")
        {
            return Err(ColbertError::Unsupported {
                path: path.clone(),
                reason: format!(
                    "Dense activation '{act}'; only the identity (ColBERT's linear projection) is supported"
                ),
            });
        }
        if config.in_features.is_some_and(|n| n != width) {
            return Err(malformed(
                path,
                &format!("in_features = {width} (the size of the previous layer)"),
                format!("found in_features = {:?}", config.in_features),
            ));
        }
    }
    // SAFETY: read-only mmap, as for the encoder weights.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&dense.weights], DType::F32, device) }
        .map_err(|e| malformed(&dense.weights, "Dense weights in safetensors format", e))?;
    load_linear(&vb, &dense.weights, width)
}
