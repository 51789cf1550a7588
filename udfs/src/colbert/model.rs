//! The network: a BERT or XLM-RoBERTa encoder (chosen by `model_type` in
//! `config.json`, run unpadded by [`super::transformer`]), the optional
//! ColBERT projection, and the per-token and pooled normalisation.

use std::path::Path;

use candle_core::{DType, Device, Module};
use candle_nn::{Activation, Linear, VarBuilder};
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct};
use candle_transformers::models::xlm_roberta::Config as XlmRobertaConfig;
use serde::Deserialize;

use super::config::Precision;
use super::error::{ColbertError, Result};
use super::files::{CONFIG_EXPECTED, DenseFiles, ModelFiles, WEIGHTS_EXPECTED, malformed};
use super::norm::lane_sum;
use super::transformer::{SequenceShape, Transformer, TransformerConfig, mean_of_attended};

/// `model_type` values this encoder runs (their `config.json` is read with
/// candle's `bert` and `xlm_roberta` configs). A config without `model_type`
/// is read as BERT.
const SUPPORTED_MODEL_TYPES: [&str; 2] = ["bert", "xlm-roberta"];

/// Name of the projection tensor in both the Stanford and PyLate layouts.
const PROJECTION: &str = "linear";

/// Output of one forward pass.
pub(crate) struct ForwardOutput {
    /// `Σ len × dim`: each sequence's tokens after the previous sequence's,
    /// each token vector L2-normalised.
    pub tokens: Vec<f32>,
    /// `sequences × hidden_size`, mean of the attended hidden states, normalised.
    pub pooled: Vec<f32>,
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
}

/// The parsed `config.json`.
pub(crate) enum BackboneConfig {
    Bert(BertConfig),
    XlmRoberta(XlmRobertaConfig),
}

impl BackboneConfig {
    pub(crate) fn info(&self) -> BackboneInfo {
        match self {
            BackboneConfig::Bert(c) => BackboneInfo {
                model_type: "bert",
                hidden_size: c.hidden_size,
                vocab_size: c.vocab_size,
                max_tokens: c.max_position_embeddings,
            },
            BackboneConfig::XlmRoberta(c) => BackboneInfo {
                model_type: "xlm-roberta",
                hidden_size: c.hidden_size,
                vocab_size: c.vocab_size,
                max_tokens: c.max_position_embeddings.saturating_sub(c.pad_token_id as usize + 1),
            },
        }
    }

    pub(crate) fn transformer(&self) -> TransformerConfig {
        match self {
            BackboneConfig::Bert(c) => TransformerConfig {
                hidden_size: c.hidden_size,
                heads: c.num_attention_heads,
                layers: c.num_hidden_layers,
                intermediate_size: c.intermediate_size,
                activation: match c.hidden_act {
                    HiddenAct::Gelu => Activation::Gelu,
                    HiddenAct::GeluApproximate => Activation::NewGelu,
                    HiddenAct::Relu => Activation::Relu,
                },
                layer_norm_eps: c.layer_norm_eps,
                vocab_size: c.vocab_size,
                max_position_embeddings: c.max_position_embeddings,
                type_vocab_size: c.type_vocab_size,
                first_position: 0,
            },
            BackboneConfig::XlmRoberta(c) => TransformerConfig {
                hidden_size: c.hidden_size,
                heads: c.num_attention_heads,
                layers: c.num_hidden_layers,
                intermediate_size: c.intermediate_size,
                activation: c.hidden_act,
                layer_norm_eps: c.layer_norm_eps,
                vocab_size: c.vocab_size,
                max_position_embeddings: c.max_position_embeddings,
                type_vocab_size: c.type_vocab_size,
                first_position: c.pad_token_id + 1,
            },
        }
    }

    /// Where the encoder's tensors are: base-model checkpoints have them at
    /// the root, masked-LM and classifier checkpoints under `bert.` or
    /// `roberta.`.
    fn root<'a>(&self, vb: &VarBuilder<'a>) -> VarBuilder<'a> {
        let prefix = self.prefix(|name| vb.contains_tensor(name));
        if prefix.is_empty() {
            vb.clone()
        } else {
            vb.pp(prefix.trim_end_matches('.'))
        }
    }

    /// The prefix of the encoder's tensor names (`""`, `"bert."` or
    /// `"roberta."`), given which names the checkpoint holds.
    pub(crate) fn prefix(&self, contains: impl Fn(&str) -> bool) -> &'static str {
        if contains("embeddings.word_embeddings.weight") {
            return "";
        }
        match self {
            BackboneConfig::Bert(_) => "bert.",
            BackboneConfig::XlmRoberta(_) => "roberta.",
        }
    }

    pub(crate) fn expected_weights(&self) -> &'static str {
        match self {
            BackboneConfig::Bert(_) => {
                "BERT weights matching config.json (embeddings.*, encoder.layer.N.*, \
                 optionally under a bert. prefix)"
            }
            BackboneConfig::XlmRoberta(_) => {
                "XLM-RoBERTa weights matching config.json (embeddings.*, encoder.layer.N.*, \
                 optionally under a roberta. prefix)"
            }
        }
    }
}

/// Encoder plus projection, ready to run.
pub(crate) struct Model {
    backbone: Transformer,
    projection: Vec<Linear>,
    device: Device,
    pub info: BackboneInfo,
    /// Size of the vectors returned (at most the projection's, or the
    /// backbone's width without one).
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
    pub(crate) fn load(files: &ModelFiles, dim: Option<usize>, precision: Precision, device: &Device) -> Result<Self> {
        let config = read_config(&files.config)?;
        // SAFETY: the file is memory-mapped read-only; like every mmap user we
        // rely on nobody truncating the checkpoint while the model loads.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&files.weights], DType::F32, device) }
            .map_err(|e| malformed(&files.weights, WEIGHTS_EXPECTED, e))?;
        let info = config.info();
        let backbone = Transformer::load(config.root(&vb), &config.transformer(), precision)
            .map_err(|e| malformed(&files.weights, config.expected_weights(), e))?;

        let projection = load_projection(files, &vb, info.hidden_size, device)?;
        let dim = output_dim(&projection, info.hidden_size, dim)?;
        Ok(Self {
            backbone,
            projection,
            device: device.clone(),
            info,
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

    /// Runs sequences unpadded: `ids` holds them one after another, `shapes`
    /// their shapes in the same order. A sequence's output does not depend
    /// on the others (see [`super::transformer`]).
    pub(crate) fn forward(&self, ids: &[u32], shapes: &[SequenceShape]) -> Result<ForwardOutput> {
        let _span = tracing::trace_span!("colbert.forward", sequences = shapes.len(), tokens = ids.len()).entered();
        let hidden = self.backbone.forward(ids, shapes, &self.device)?;
        let width = self.info.hidden_size;
        let hidden_rows: Vec<f32> = hidden.flatten_all()?.to_vec1()?;
        let mut pooled = mean_of_attended(&hidden_rows, shapes, width);
        l2_normalize_rows(&mut pooled, width);
        let mut tokens = if self.projection.is_empty() && self.dim == width {
            hidden_rows
        } else {
            let mut projected = hidden;
            for layer in &self.projection {
                projected = layer.forward(&projected)?;
            }
            projected.narrow(1, 0, self.dim)?.flatten_all()?.to_vec1()?
        };
        l2_normalize_rows(&mut tokens, self.dim);
        Ok(ForwardOutput { tokens, pooled })
    }
}

/// Divides each `width`-wide row by its L2 norm, at least 1e-12 (as
/// torch's `F.normalize`).
fn l2_normalize_rows(values: &mut [f32], width: usize) {
    for row in values.chunks_exact_mut(width) {
        let norm = lane_sum(row, |v| v * v).sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
}

pub(crate) fn read_config(path: &Path) -> Result<BackboneConfig> {
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

/// The ColBERT projection of a checkpoint, in order: `linear.*` beside the
/// encoder (Stanford), the `Dense` modules (PyLate), or none.
pub(crate) fn load_projection(
    files: &ModelFiles,
    vb: &VarBuilder,
    hidden: usize,
    device: &Device,
) -> Result<Vec<Linear>> {
    let mut projection = Vec::new();
    let mut width = hidden;
    if files.dense.is_empty() {
        // Stanford ColBERT: the projection sits next to the encoder.
        if vb.contains_tensor(&format!("{PROJECTION}.weight")) {
            projection.push(load_linear(vb, &files.weights, width)?);
        }
    } else {
        for dense in &files.dense {
            let layer = load_dense(dense, width, device)?;
            width = layer.weight().dim(0)?;
            projection.push(layer);
        }
    }
    Ok(projection)
}

/// The size of the vectors returned: `dim` when given and possible, else the
/// projection's output size (or `hidden` without a projection).
pub(crate) fn output_dim(projection: &[Linear], hidden: usize, dim: Option<usize>) -> Result<usize> {
    let width = match projection.last() {
        Some(last) => last.weight().dim(0)?,
        None => hidden,
    };
    match dim {
        None => Ok(width),
        Some(d) if d <= width => Ok(d),
        Some(d) => Err(ColbertError::Config {
            field: "dim",
            reason: format!(
                "is {d}, but the model's vectors have {width} dimensions; \
                 use None or at most {width}"
            ),
        }),
    }
}
