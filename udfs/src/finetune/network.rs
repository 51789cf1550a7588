//! The encoder as a trainable candle graph: the same BERT / XLM-RoBERTa
//! network the inference encoder runs, written with candle's differentiable
//! ops over padded batches, its weights held as [`Var`]s.
//!
//! Inference ([`crate::colbert`]) runs unpadded with its own kernels; here
//! every op must have a gradient, so LayerNorm and softmax are composed from
//! candle's primitives and padding is masked. Both compute the same
//! function: a checkpoint saved from here encodes, through the inference
//! encoder, what this graph computes (to float rounding; tested).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{Activation, Linear, VarBuilder, VarMap};

use crate::colbert::PreparedInput;
use crate::colbert::files::ModelFiles;
use crate::colbert::model::{load_projection, output_dim, read_config};
use crate::colbert::transformer::TransformerConfig;

use super::error::{FineTuneError, Result};
use super::fused::{MaskedSoftmax, Standardize};

/// Added to the attention scores of keys a token may not attend to: exp of
/// it is 0 in f32 and f64, and it stays finite, so a fully padded row cannot
/// turn into NaN.
const MASKED: f64 = -1e9;

/// A batch of prepared texts, padded to its longest.
pub(crate) struct Batch {
    /// `texts × longest` token ids (padding: 0).
    ids: Tensor,
    /// `texts × longest`, 1 where other tokens may attend to the token.
    attended: Tensor,
    /// `texts × longest`, 1 where the token's vector is part of the
    /// encoding (ColBERT's `kept` positions).
    pub kept: Tensor,
    longest: usize,
}

impl Batch {
    pub(crate) fn new(inputs: &[&PreparedInput], dtype: DType, device: &Device) -> Result<Self> {
        let longest = inputs.iter().map(|i| i.input_ids.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; inputs.len() * longest];
        let mut attended = vec![0f32; inputs.len() * longest];
        let mut kept = vec![0f32; inputs.len() * longest];
        for (row, input) in inputs.iter().enumerate() {
            let at = row * longest;
            ids[at..at + input.input_ids.len()].copy_from_slice(&input.input_ids);
            for (slot, &mask) in attended[at..].iter_mut().zip(&input.attention_mask) {
                *slot = mask as f32;
            }
            for &position in &input.kept {
                kept[at + position] = 1.0;
            }
        }
        let shape = (inputs.len(), longest);
        Ok(Self {
            ids: Tensor::from_vec(ids, shape, device)?,
            attended: Tensor::from_vec(attended, shape, device)?.to_dtype(dtype)?,
            kept: Tensor::from_vec(kept, shape, device)?.to_dtype(dtype)?,
            longest,
        })
    }
}

/// A dense layer whose weight may be trainable.
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    /// `x W^T + b` over the last dimension. The rows are flattened into
    /// one matrix first: with the weight broadcast over a batch instead,
    /// its gradient would be one `in × out` matrix per text, summed after.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (texts, longest, width) = x.dims3()?;
        let rows = x.reshape((texts * longest, width))?;
        let out = rows.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?;
        Ok(out.reshape((texts, longest, self.weight.dim(0)?))?)
    }
}

struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    /// LayerNorm over the last dimension ([`Standardize`], then the
    /// weight and bias; candle's fused kernel has no gradient).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let normed = x.contiguous()?.apply_op1(Standardize { eps: self.eps })?;
        Ok(normed.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)?)
    }
}

struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attention_output: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// The encoder with its weights as candle variables.
pub(crate) struct Network {
    words: Tensor,
    positions: Tensor,
    token_type: Tensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    projection: Vec<Linear>,
    activation: Activation,
    heads: usize,
    first_position: usize,
    max_positions: usize,
    /// Size of the returned vectors.
    pub dim: usize,
    /// The trainable weights by their names in the checkpoint.
    varmap: VarMap,
    /// Every tensor of the source checkpoint by its name, as loaded: what is
    /// saved, with the trained ones replaced.
    pub checkpoint: HashMap<String, Tensor>,
    pub dtype: DType,
    pub device: Device,
}

/// Loads the network that `files` holds, in `dtype` (f32 to train; f64 for
/// gradient checks). `train_embeddings` makes the word embeddings trainable
/// (off: they are most of a multilingual model's weights and of each
/// optimiser step's work, for little gain on a small corpus).
pub(crate) fn load(files: &ModelFiles, dim: Option<usize>, train_embeddings: bool, dtype: DType) -> Result<Network> {
    let device = Device::Cpu;
    let config = read_config(&files.config)?;
    let checkpoint =
        candle_core::safetensors::load(&files.weights, &device).map_err(|e| FineTuneError::model(&files.weights, e))?;
    let prefix = config.prefix(|name| checkpoint.contains_key(name));
    let transformer = config.transformer();
    let eps = transformer.layer_norm_eps;
    let mut take = Take {
        checkpoint: &checkpoint,
        prefix,
        path: &files.weights,
        expected: config.expected_weights(),
        dtype,
        varmap: VarMap::new(),
    };
    let embeddings = "embeddings";
    let words = take.tensor(&format!("{embeddings}.word_embeddings.weight"), train_embeddings)?;
    let positions = take.tensor(&format!("{embeddings}.position_embeddings.weight"), true)?;
    let token_type = take.tensor(&format!("{embeddings}.token_type_embeddings.weight"), true)?;
    let embedding_norm = take.norm(&format!("{embeddings}.LayerNorm"), eps)?;
    let mut layers = Vec::with_capacity(transformer.layers);
    for i in 0..transformer.layers {
        let at = format!("encoder.layer.{i}");
        layers.push(Layer {
            query: take.dense(&format!("{at}.attention.self.query"))?,
            key: take.dense(&format!("{at}.attention.self.key"))?,
            value: take.dense(&format!("{at}.attention.self.value"))?,
            attention_output: take.dense(&format!("{at}.attention.output.dense"))?,
            attention_norm: take.norm(&format!("{at}.attention.output.LayerNorm"), eps)?,
            intermediate: take.dense(&format!("{at}.intermediate.dense"))?,
            output: take.dense(&format!("{at}.output.dense"))?,
            output_norm: take.norm(&format!("{at}.output.LayerNorm"), eps)?,
        });
    }
    let varmap = take.varmap;
    check_shapes(&transformer, &files.weights, &words, &positions)?;
    // The projection, where the checkpoint has one, is kept as it is.
    // SAFETY: read-only mmap of the checkpoint, as the inference encoder does.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&files.weights], DType::F32, &device) }
        .map_err(|e| FineTuneError::model(&files.weights, e))?;
    let projection = load_projection(files, &vb, transformer.hidden_size, &device)?
        .into_iter()
        .map(|layer| {
            let weight = layer.weight().to_dtype(dtype)?;
            let bias = layer.bias().map(|b| b.to_dtype(dtype)).transpose()?;
            Ok(Linear::new(weight, bias))
        })
        .collect::<Result<Vec<_>>>()?;
    let dim = output_dim(&projection, transformer.hidden_size, dim)?;
    Ok(Network {
        words,
        positions,
        token_type: token_type.narrow(0, 0, 1)?,
        embedding_norm,
        layers,
        projection,
        activation: transformer.activation,
        heads: transformer.heads,
        first_position: transformer.first_position as usize,
        max_positions: transformer.max_position_embeddings,
        dim,
        varmap,
        checkpoint,
        dtype,
        device,
    })
}

/// Takes the encoder's tensors out of a checkpoint, making the trainable
/// ones variables.
struct Take<'a> {
    checkpoint: &'a HashMap<String, Tensor>,
    prefix: &'static str,
    path: &'a Path,
    expected: &'static str,
    dtype: DType,
    varmap: VarMap,
}

impl Take<'_> {
    fn tensor(&mut self, name: &str, trainable: bool) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let value = self
            .checkpoint
            .get(&full)
            .ok_or_else(|| FineTuneError::model(self.path, format!("no tensor {full}: {}", self.expected)))?
            .to_dtype(self.dtype)?;
        if !trainable {
            return Ok(value);
        }
        let var = Var::from_tensor(&value)?;
        let tensor = var.as_tensor().clone();
        self.varmap.data().lock().map_err(|_| poisoned())?.insert(full, var);
        Ok(tensor)
    }

    fn dense(&mut self, name: &str) -> Result<Dense> {
        Ok(Dense {
            weight: self.tensor(&format!("{name}.weight"), true)?,
            bias: self.tensor(&format!("{name}.bias"), true)?,
        })
    }

    fn norm(&mut self, name: &str, eps: f64) -> Result<Norm> {
        Ok(Norm {
            weight: self.tensor(&format!("{name}.weight"), true)?,
            bias: self.tensor(&format!("{name}.bias"), true)?,
            eps,
        })
    }
}

fn check_shapes(config: &TransformerConfig, path: &Path, words: &Tensor, positions: &Tensor) -> Result<()> {
    let expected = [
        ("word_embeddings", words, config.vocab_size),
        ("position_embeddings", positions, config.max_position_embeddings),
    ];
    for (name, tensor, rows) in expected {
        if tensor.dims() != [rows, config.hidden_size] {
            return Err(FineTuneError::model(
                path,
                format!(
                    "{name} has shape {:?}; config.json says [{rows}, {}]",
                    tensor.dims(),
                    config.hidden_size
                ),
            ));
        }
    }
    if config.heads == 0 || !config.hidden_size.is_multiple_of(config.heads) {
        return Err(FineTuneError::model(
            path,
            format!(
                "hidden_size {} is not a multiple of {} heads",
                config.hidden_size, config.heads
            ),
        ));
    }
    Ok(())
}

/// What a forward pass returns.
pub(crate) struct Encoded {
    /// `texts × longest × dim`, each kept token's vector L2-normalised
    /// (padding and dropped tokens hold arbitrary values; use the batch's
    /// `kept` mask).
    pub tokens: Tensor,
    /// `texts × hidden`: mean of the attended hidden states, L2-normalised.
    pub pooled: Tensor,
}

fn poisoned() -> FineTuneError {
    FineTuneError::Internal("the variable map's lock is poisoned".into())
}

impl Network {
    /// The trainable weights by their names in the checkpoint (handles to
    /// the same variables).
    pub(crate) fn vars(&self) -> Result<HashMap<String, Var>> {
        Ok(self.varmap.data().lock().map_err(|_| poisoned())?.clone())
    }

    /// Encodes a padded batch.
    pub(crate) fn forward(&self, batch: &Batch) -> Result<Encoded> {
        let texts = batch.ids.dim(0)?;
        let longest = batch.longest;
        if self.first_position + longest > self.max_positions {
            return Err(FineTuneError::Internal(format!(
                "a text of {longest} tokens does not fit {} positions",
                self.max_positions
            )));
        }
        let hidden_size = self.words.dim(1)?;
        let ids = batch.ids.flatten_all()?;
        let words = self
            .words
            .index_select(&ids, 0)?
            .reshape((texts, longest, hidden_size))?;
        let positions = self.positions.narrow(0, self.first_position, longest)?;
        let embedded = words.broadcast_add(&self.token_type)?.broadcast_add(&positions)?;
        let mut hidden = self.embedding_norm.forward(&embedded)?;
        // 0 where a key may be attended to, MASKED where not: texts × 1 × 1 × longest.
        let key_bias = ((&batch.attended - 1.0)? * (-MASKED))?
            .reshape((texts, 1, 1, longest))?
            .contiguous()?;
        for layer in &self.layers {
            hidden = self.layer(layer, &hidden, &key_bias)?;
        }
        let attended = batch.attended.unsqueeze(2)?;
        let count = attended.sum(1)?;
        let pooled = hidden.broadcast_mul(&attended)?.sum(1)?.broadcast_div(&count)?;
        let mut projected = hidden;
        for layer in &self.projection {
            projected = candle_core::Module::forward(layer, &projected)?;
        }
        let tokens = l2_normalize(&projected.narrow(2, 0, self.dim)?)?;
        Ok(Encoded {
            tokens,
            pooled: l2_normalize(&pooled)?,
        })
    }

    fn layer(&self, layer: &Layer, x: &Tensor, key_bias: &Tensor) -> Result<Tensor> {
        let (texts, longest, hidden) = x.dims3()?;
        let head_dim = hidden / self.heads;
        let heads = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((texts, longest, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = heads(layer.query.forward(x)?)?;
        let k = heads(layer.key.forward(x)?)?;
        let v = heads(layer.value.forward(x)?)?;
        let q = (q / (head_dim as f64).sqrt())?;
        let weights = q.matmul(&k.t()?)?.contiguous()?.apply_op2(key_bias, MaskedSoftmax)?;
        let context = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((texts, longest, hidden))?;
        let attended = layer
            .attention_norm
            .forward(&(layer.attention_output.forward(&context)? + x)?)?;
        let up = layer.intermediate.forward(&attended)?;
        let up = match self.activation {
            Activation::Gelu => up.gelu_erf()?,
            other => candle_core::Module::forward(&other, &up)?,
        };
        layer.output_norm.forward(&(layer.output.forward(&up)? + attended)?)
    }
}

/// Each vector along the last dimension divided by its L2 norm (the
/// inference encoder's `max(norm, 1e-12)` would have no gradient at the
/// clamp; vectors here are never near zero).
fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-24)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}
