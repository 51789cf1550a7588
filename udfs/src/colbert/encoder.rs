//! The loaded encoder and what it returns.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{Device, EncoderConfig, config_err};
use super::error::{ColbertError, Result};
use super::files;
use super::input::{PreparedInput, Preparer};
use super::model::Model;
use super::transformer::SequenceShape;

/// Whether a text is a query or a document; they are marked, padded and
/// filtered differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextKind {
    /// A query: exactly `query_maxlen` vectors (`[MASK]` augmentation).
    Query,
    /// A document: at most `doc_maxlen` vectors, punctuation removed.
    Document,
}

/// One vector per token, row-major: token `i` is
/// `data[i * dim..(i + 1) * dim]`, L2-normalised.
///
/// ```
/// use nodefusion_udfs::colbert::TokenEmbeddings;
///
/// let e = TokenEmbeddings { dim: 2, tokens: 2, data: vec![1.0, 0.0, 0.0, 1.0] };
/// assert_eq!(e.token(1), Some(&[0.0, 1.0][..]));
/// assert_eq!(e.iter().count(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEmbeddings {
    /// Dimension of each vector.
    pub dim: usize,
    /// Number of vectors.
    pub tokens: usize,
    /// `tokens × dim` values.
    pub data: Vec<f32>,
}

impl TokenEmbeddings {
    /// The vector of token `index`, if there is one.
    pub fn token(&self, index: usize) -> Option<&[f32]> {
        if index >= self.tokens {
            return None;
        }
        self.data.get(index * self.dim..(index + 1) * self.dim)
    }

    /// The token vectors in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        // `max(1)`: a hand-built value with dim 0 yields nothing instead of panicking.
        self.data.chunks_exact(self.dim.max(1))
    }

    /// Whether there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.tokens == 0
    }
}

/// Everything one forward pass gives for a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedText {
    /// The late-interaction vectors.
    pub embeddings: TokenEmbeddings,
    /// The token id behind each vector (`embeddings.tokens` of them).
    pub token_ids: Vec<u32>,
    /// One vector for the whole text: the mean of the encoder's last hidden
    /// states over the attended tokens (before any projection, so
    /// `hidden_size` long), L2-normalised. With [`Markers::None`] this is the
    /// sentence-transformers mean-pooling embedding.
    ///
    /// [`Markers::None`]: super::Markers::None
    pub pooled: Vec<f32>,
}

/// A loaded ColBERT encoder. `Send + Sync`: share one per process.
///
/// Build it with [`EncoderConfig::load`].
pub struct ColbertEncoder {
    config: EncoderConfig,
    preparer: Preparer,
    model: Model,
    pool: Option<rayon::ThreadPool>,
    /// Held for each forward pass: one pass at a time, on all the encoder's
    /// threads. Callers on several threads at once (an engine's partitions
    /// sharing the encoder) take turns pass by pass instead of splitting the
    /// threads between passes, whose matrix products then wait on each other
    /// (3.6x the node time on 2 cores).
    pass: std::sync::Mutex<()>,
}

impl std::fmt::Debug for ColbertEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColbertEncoder")
            .field("config", &self.config)
            .field("model_type", &self.model.info.model_type)
            .field("hidden_size", &self.model.info.hidden_size)
            .field("has_projection", &self.model.has_projection())
            .field("dim", &self.model.dim)
            .finish()
    }
}

impl ColbertEncoder {
    /// Loads the model that `config` describes (same as
    /// [`EncoderConfig::load`]).
    pub fn load(config: &EncoderConfig) -> Result<Self> {
        let _span = tracing::debug_span!("colbert.load").entered();
        config.validate()?;
        let files = files::resolve(&config.model)?;
        if let Some(expected) = &config.model_digest {
            let found = files::digest(&files)?;
            if &found != expected {
                return Err(ColbertError::ModelChanged {
                    path: files
                        .weights
                        .parent()
                        .map_or_else(|| files.weights.clone(), Path::to_owned),
                    expected: expected.clone(),
                    found,
                });
            }
        }
        let device = match config.device {
            Device::Cpu => candle_core::Device::Cpu,
        };
        let model = Model::load(&files, config.dim, config.precision, &device)?;
        let preparer = Preparer::load(&files.tokenizer, config)?;
        if preparer.vocab_len() > model.info.vocab_size {
            return Err(files::malformed(
                &files.tokenizer,
                &format!(
                    "a vocabulary of at most {} tokens (config.json vocab_size)",
                    model.info.vocab_size
                ),
                format!("it has ids up to {}", preparer.vocab_len() - 1),
            ));
        }
        let positions = model.info.max_tokens;
        for (field, maxlen) in [("query_maxlen", config.query_maxlen), ("doc_maxlen", config.doc_maxlen)] {
            if maxlen > positions {
                return Err(config_err(
                    field,
                    format!("is {maxlen}; the model has {positions} positions"),
                ));
            }
        }
        let pool = match config.threads {
            None => None,
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("colbert-{i}"))
                    .build()
                    .map_err(|e| config_err("threads", format!("cannot start {n} threads: {e}")))?,
            ),
        };
        Ok(Self {
            config: config.clone(),
            preparer,
            model,
            pool,
            pass: std::sync::Mutex::new(()),
        })
    }

    /// The configuration this encoder was loaded from.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Dimension of the token vectors.
    pub fn dim(&self) -> usize {
        self.model.dim
    }

    /// Dimension of the pooled vector (the encoder's hidden size).
    pub fn hidden_size(&self) -> usize {
        self.model.info.hidden_size
    }

    /// Whether the checkpoint has a ColBERT projection (else identity).
    pub fn has_projection(&self) -> bool {
        self.model.has_projection()
    }

    /// The model input for a text: token ids, attention mask and the
    /// positions whose vectors are returned. Never fails on the text itself
    /// (an error means the tokenizer failed).
    pub fn prepare(&self, kind: TextKind, text: &str) -> Result<PreparedInput> {
        self.preparer.prepare(kind, text, 0)
    }

    /// Encodes a query: `query_maxlen` vectors of [`dim`](Self::dim).
    ///
    /// ```no_run
    /// # use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig};
    /// let encoder = EncoderConfig::from_dir(default_test_model_dir()?).load()?;
    /// let q = encoder.encode_query("what is late interaction?")?;
    /// assert_eq!((q.tokens, q.dim), (32, 384));
    /// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
    /// ```
    pub fn encode_query(&self, text: &str) -> Result<TokenEmbeddings> {
        self.encode_one(TextKind::Query, text).map(|e| e.embeddings)
    }

    /// Encodes a document: at most `doc_maxlen` vectors, without punctuation.
    ///
    /// ```no_run
    /// # use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig};
    /// let encoder = EncoderConfig::from_dir(default_test_model_dir()?).load()?;
    /// let d = encoder.encode_document("In the beginning, God created the heaven.")?;
    /// // [CLS] [unused1] in the beginning god created the heaven [SEP]: ',' and '.' dropped
    /// assert_eq!(d.tokens, 10);
    /// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
    /// ```
    pub fn encode_document(&self, text: &str) -> Result<TokenEmbeddings> {
        self.encode_one(TextKind::Document, text).map(|e| e.embeddings)
    }

    /// Encodes many queries; item `i` equals `encode_query(&texts[i])`.
    ///
    /// ```no_run
    /// # use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig};
    /// let encoder = EncoderConfig::from_dir(default_test_model_dir()?).load()?;
    /// let qs = encoder.encode_queries_batch(&["first query", "second"])?;
    /// assert_eq!(qs.len(), 2);
    /// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
    /// ```
    pub fn encode_queries_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<TokenEmbeddings>> {
        self.embeddings_only(TextKind::Query, texts)
    }

    /// Encodes many documents; item `i` equals `encode_document(&texts[i])`.
    ///
    /// ```no_run
    /// # use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig};
    /// let encoder = EncoderConfig::from_dir(default_test_model_dir()?).load()?;
    /// let ds = encoder.encode_documents_batch(&["a short one", "a longer document text"])?;
    /// assert!(ds[0].tokens < ds[1].tokens);
    /// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
    /// ```
    pub fn encode_documents_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<TokenEmbeddings>> {
        self.embeddings_only(TextKind::Document, texts)
    }

    /// The general call: token vectors, their token ids and the pooled vector
    /// for each text, in input order. Texts run unpadded, in forward passes
    /// of [`EncoderConfig::batch_size`] texts. A text's vectors do not depend
    /// on the other texts of the call: encoding texts one by one or all
    /// together gives the same floats.
    ///
    /// ```no_run
    /// # use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig, TextKind};
    /// let encoder = EncoderConfig::from_dir(default_test_model_dir()?).load()?;
    /// let out = encoder.encode(TextKind::Document, &["hello world"])?;
    /// assert_eq!(out[0].token_ids, [101, 2, 7592, 2088, 102]);
    /// assert_eq!(out[0].pooled.len(), encoder.hidden_size());
    /// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
    /// ```
    pub fn encode<S: AsRef<str>>(&self, kind: TextKind, texts: &[S]) -> Result<Vec<EncodedText>> {
        let _span = tracing::debug_span!("colbert.encode", ?kind, texts = texts.len()).entered();
        let inputs = texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.preparer.prepare(kind, t.as_ref(), i))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(inputs.len());
        for pass in inputs.chunks(self.config.batch_size) {
            out.extend(self.run_pass(pass)?);
        }
        Ok(out)
    }

    fn encode_one(&self, kind: TextKind, text: &str) -> Result<EncodedText> {
        self.encode(kind, &[text])?
            .pop()
            .ok_or_else(|| ColbertError::Internal(candle_core::Error::Msg("no output for one text".into())))
    }

    fn embeddings_only<S: AsRef<str>>(&self, kind: TextKind, texts: &[S]) -> Result<Vec<TokenEmbeddings>> {
        Ok(self.encode(kind, texts)?.into_iter().map(|e| e.embeddings).collect())
    }

    /// One forward pass over the inputs, unpadded.
    fn run_pass(&self, inputs: &[PreparedInput]) -> Result<Vec<EncodedText>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let shapes = inputs.iter().map(sequence_shape).collect::<Result<Vec<_>>>()?;
        let ids: Vec<u32> = inputs.iter().flat_map(|p| p.input_ids.iter().copied()).collect();
        let output = {
            // A panic in another pass leaves nothing half-done here to guard.
            let _turn = self.pass.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.install(|| self.model.forward(&ids, &shapes))?
        };

        let (dim, hidden) = (self.model.dim, self.model.info.hidden_size);
        let mut first_token = 0;
        Ok(inputs
            .iter()
            .enumerate()
            .map(|(row, p)| {
                let mut data = Vec::with_capacity(p.kept.len() * dim);
                for &pos in &p.kept {
                    let at = (first_token + pos) * dim;
                    data.extend_from_slice(&output.tokens[at..at + dim]);
                }
                first_token += p.input_ids.len();
                EncodedText {
                    embeddings: TokenEmbeddings {
                        dim,
                        tokens: p.kept.len(),
                        data,
                    },
                    token_ids: p.kept.iter().map(|&pos| p.input_ids[pos]).collect(),
                    pooled: output.pooled[row * hidden..(row + 1) * hidden].to_vec(),
                }
            })
            .collect())
    }

    /// Runs `f` on the encoder's own thread pool when it has one, else in
    /// candle's device context (its private, warm rayon pool on the CPU).
    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => self.model.device().with_context(f),
        }
    }
}

/// A prepared input's length and attended prefix. The preparer attends to
/// a prefix of each input (query augmentation appends the unattended
/// tokens), which the unpadded forward pass relies on.
fn sequence_shape(input: &PreparedInput) -> Result<SequenceShape> {
    let attended = input.attention_mask.iter().take_while(|&&m| m == 1).count();
    let len = input.input_ids.len();
    if input.attention_mask.len() != len || input.attention_mask[attended..].contains(&1) || attended == 0 {
        return Err(ColbertError::Internal(candle_core::Error::Msg(format!(
            "an input of {len} tokens whose attention mask is not a non-empty prefix of ones: {:?}",
            input.attention_mask
        ))));
    }
    Ok(SequenceShape { len, attended })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_embeddings_accessors_stay_in_bounds() {
        let e = TokenEmbeddings {
            dim: 3,
            tokens: 1,
            data: vec![1.0, 0.0, 0.0],
        };
        assert_eq!(e.token(0), Some(&[1.0, 0.0, 0.0][..]));
        assert_eq!(e.token(1), None);
        let broken = TokenEmbeddings {
            dim: 0,
            tokens: 5,
            data: vec![],
        };
        assert_eq!(broken.token(2), Some(&[][..]));
        assert_eq!(broken.iter().count(), 0);
    }

    #[test]
    fn encoder_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ColbertEncoder>();
    }
}
