//! The network: a candle BERT encoder, the optional ColBERT projection, and
//! the per-token and pooled normalisation.

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;

use super::error::{ColbertError, Result};
use super::files::{CONFIG_EXPECTED, DenseFiles, ModelFiles, WEIGHTS_EXPECTED, malformed};

/// `model_type` values whose checkpoints candle's BERT runs unchanged.
const SUPPORTED_MODEL_TYPES: [&str; 1] = ["bert"];

/// Name of the projection tensor in both the Stanford and PyLate layouts.
const PROJECTION: &str = "linear";

/// Output of one forward pass over a padded batch.
pub(crate) struct ForwardOutput {
    /// `batch × seq_len × dim`, each token vector L2-normalised.
    pub tokens: Vec<f32>,
    /// `batch × hidden_size`, mean of the attended hidden states, normalised.
    pub pooled: Vec<f32>,
}

/// BERT plus projection, ready to run.
pub(crate) struct Model {
    bert: BertModel,
    projection: Vec<Linear>,
    device: Device,
    pub config: BertConfig,
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
        let bert = BertModel::load(vb.clone(), &config).map_err(|e| {
            malformed(
                &files.weights,
                "BERT weights matching config.json (embeddings.*, encoder.layer.N.*, \
                 optionally under a bert. prefix)",
                e,
            )
        })?;

        let mut projection = Vec::new();
        let mut width = config.hidden_size;
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
            bert,
            projection,
            device: device.clone(),
            config,
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
        let hidden = self.bert.forward(&ids, &token_types, Some(&mask))?;

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

fn read_config(path: &Path) -> Result<BertConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| malformed(path, CONFIG_EXPECTED, e))?;
    let kind: ModelType = serde_json::from_str(&text).map_err(|e| malformed(path, CONFIG_EXPECTED, e))?;
    if let Some(kind) = kind.model_type
        && !SUPPORTED_MODEL_TYPES.contains(&kind.as_str())
    {
        return Err(ColbertError::Unsupported {
            path: path.to_owned(),
            reason: format!("model_type '{kind}' is not run by this encoder; supported: {SUPPORTED_MODEL_TYPES:?}"),
        });
    }
    serde_json::from_str(&text).map_err(|e| malformed(path, CONFIG_EXPECTED, e))
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
