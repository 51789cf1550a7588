//! The transformer under the ColBERT head, run without padding.
//!
//! BERT and XLM-RoBERTa share one post-LayerNorm encoder; they differ only
//! in where positions start. All tokens of a forward pass form one
//! `tokens × hidden` matrix, so the dense layers, most of the work, see no
//! padding at all. Attention ([`super::attention`]) runs per sequence over
//! its own tokens.
//!
//! A text's vectors do not depend on the other texts of its pass. Every
//! reduction over its tokens (softmax sums, the attention products) has the
//! text's own length, whatever else the pass holds. The dense layers' sums
//! run over the hidden width in an order that does not depend on the number
//! of rows. Padded attention lacks this property: candle's vectorised sum
//! adds a row in chunks of 32 and then the rest one by one, so padding a row
//! changes its rounding. Without it, a cache, two engines that split the
//! work differently, and SQL all see the same floats.

use candle_core::{CpuStorage, Device, Layout, Module, Result, Tensor};
use candle_nn::{Activation, Embedding, LayerNorm, Linear, VarBuilder};

use super::attention::attention;
use super::config::Precision;
use super::dense::{Dense, Epilogue};
use super::norm::RowNorm;

/// The sizes and settings of a BERT-style encoder, read from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TransformerConfig {
    pub hidden_size: usize,
    pub heads: usize,
    pub layers: usize,
    pub intermediate_size: usize,
    pub activation: Activation,
    pub layer_norm_eps: f64,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    /// Position of a sequence's first token: 0 for BERT, `pad_token_id + 1`
    /// for XLM-RoBERTa.
    pub first_position: u32,
}

/// The shape of one sequence in a pass: `len` tokens, of which the first
/// `attended` may be attended to (ColBERT's query augmentation appends
/// tokens that others do not attend to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SequenceShape {
    pub len: usize,
    pub attended: usize,
}

/// One encoder layer, with the query, key and value projections fused into
/// one matrix.
struct Layer {
    qkv: Dense,
    attention_output: Dense,
    attention_norm: RowNorm,
    intermediate: Dense,
    activation: Activation,
    output: Dense,
    output_norm: RowNorm,
}

/// Embeddings and encoder layers, loaded from a checkpoint.
pub(crate) struct Transformer {
    words: Embedding,
    positions: Embedding,
    /// Token type 0's row (every token here has type 0), `1 × hidden`.
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    first_position: u32,
    max_position_embeddings: usize,
}

impl Transformer {
    /// Loads `embeddings.*` and `encoder.layer.N.*` from `vb` (already
    /// narrowed to the model's prefix).
    pub(crate) fn load(vb: VarBuilder, config: &TransformerConfig, precision: Precision) -> Result<Self> {
        let hidden = config.hidden_size;
        if config.heads == 0 || !hidden.is_multiple_of(config.heads) {
            candle_core::bail!(
                "hidden_size {hidden} is not a multiple of num_attention_heads {}",
                config.heads
            );
        }
        let embeddings = vb.pp("embeddings");
        let token_types = candle_nn::embedding(config.type_vocab_size, hidden, embeddings.pp("token_type_embeddings"))?;
        let layers = (0..config.layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config, precision))
            .collect::<Result<_>>()?;
        Ok(Self {
            words: candle_nn::embedding(config.vocab_size, hidden, embeddings.pp("word_embeddings"))?,
            positions: candle_nn::embedding(
                config.max_position_embeddings,
                hidden,
                embeddings.pp("position_embeddings"),
            )?,
            token_type: token_types.embeddings().narrow(0, 0, 1)?,
            embedding_norm: candle_nn::layer_norm(hidden, config.layer_norm_eps, embeddings.pp("LayerNorm"))?,
            layers,
            heads: config.heads,
            head_dim: hidden / config.heads,
            first_position: config.first_position,
            max_position_embeddings: config.max_position_embeddings,
        })
    }

    /// The last hidden state of every token: `ids` holds the sequences one
    /// after another, `shapes` their shapes in the same order. Returns
    /// `Σ len × hidden`.
    pub(crate) fn forward(&self, ids: &[u32], shapes: &[SequenceShape], device: &Device) -> Result<Tensor> {
        let total: usize = shapes.iter().map(|s| s.len).sum();
        if total != ids.len() {
            candle_core::bail!("{} token ids for sequences of {total} tokens in all", ids.len());
        }
        let longest = shapes.iter().map(|s| s.len).max().unwrap_or(0);
        if self.first_position as usize + longest > self.max_position_embeddings {
            candle_core::bail!(
                "a sequence of {longest} tokens does not fit {} position embeddings",
                self.max_position_embeddings
            );
        }
        let positions: Vec<u32> = shapes
            .iter()
            .flat_map(|s| (0..s.len as u32).map(|i| self.first_position + i))
            .collect();
        let ids = Tensor::from_slice(ids, ids.len(), device)?;
        let positions = Tensor::from_slice(&positions, positions.len(), device)?;
        // The order of the sums is BERT's: words + token type, then positions.
        let embedded = self
            .words
            .forward(&ids)?
            .broadcast_add(&self.token_type)?
            .add(&self.positions.forward(&positions)?)?;
        let mut hidden = self.embedding_norm.forward(&embedded)?;
        for layer in &self.layers {
            let _span = tracing::trace_span!("colbert.layer").entered();
            let qkv = layer.qkv.forward(&hidden, Epilogue::None)?;
            let context = attention(&qkv, shapes, self.heads, self.head_dim)?;
            hidden = layer.finish(&context, &hidden)?;
        }
        Ok(hidden)
    }
}

impl Layer {
    fn load(vb: VarBuilder, config: &TransformerConfig, precision: Precision) -> Result<Self> {
        let (hidden, eps) = (config.hidden_size, config.layer_norm_eps);
        let attention = vb.pp("attention");
        let projections =
            ["query", "key", "value"].map(|name| candle_nn::linear(hidden, hidden, attention.pp("self").pp(name)));
        let [q, k, v] = projections;
        let (q, k, v) = (q?, k?, v?);
        let weight = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let biases = [&q, &k, &v].map(|l| l.bias().cloned());
        let bias = match biases {
            [Some(q), Some(k), Some(v)] => Some(Tensor::cat(&[q, k, v], 0)?),
            _ => None,
        };
        let dense = |inputs, outputs, vb: VarBuilder| Dense::new(&candle_nn::linear(inputs, outputs, vb)?, precision);
        let norm = |vb: VarBuilder| RowNorm::new(&candle_nn::layer_norm(hidden, eps, vb)?, eps);
        Ok(Self {
            qkv: Dense::new(&Linear::new(weight, bias), precision)?,
            attention_output: dense(hidden, hidden, attention.pp("output").pp("dense"))?,
            attention_norm: norm(attention.pp("output").pp("LayerNorm"))?,
            intermediate: dense(hidden, config.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            activation: config.activation,
            output: dense(config.intermediate_size, hidden, vb.pp("output").pp("dense"))?,
            output_norm: norm(vb.pp("output").pp("LayerNorm"))?,
        })
    }

    /// Everything after attention: output projection, residual and norm,
    /// then the feed-forward block with its residual and norm. The exact
    /// GELU, the usual activation, runs on the intermediate layer's output
    /// in place; another activation is candle's.
    fn finish(&self, context: &Tensor, input: &Tensor) -> Result<Tensor> {
        let attended = self
            .attention_output
            .forward_plus(context, input, Epilogue::Norm(&self.attention_norm))?;
        let up = match self.activation {
            Activation::Gelu => self.intermediate.forward(&attended, Epilogue::Gelu)?,
            other => other.forward(&self.intermediate.forward(&attended, Epilogue::None)?)?,
        };
        self.output
            .forward_plus(&up, &attended, Epilogue::Norm(&self.output_norm))
    }
}

/// Mean of each sequence's attended hidden states, from the `Σ len ×
/// width` rows of a pass: `sequences × width`.
pub(crate) fn mean_of_attended(hidden: &[f32], shapes: &[SequenceShape], width: usize) -> Vec<f32> {
    let mut means = vec![0f32; shapes.len() * width];
    let mut first_row = 0;
    for (shape, mean) in shapes.iter().zip(means.chunks_exact_mut(width)) {
        let attended = &hidden[first_row * width..(first_row + shape.attended) * width];
        for row in attended.chunks_exact(width) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        let scale = 1.0 / shape.attended as f32;
        mean.iter_mut().for_each(|m| *m *= scale);
        first_row += shape.len;
    }
    means
}

/// The contiguous f32 data of a CPU tensor, for the encoder's kernels; an
/// error naming the kernel (`op`) otherwise.
pub(crate) fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: expects f32");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous tensor"),
    }
}
