//! The encoder's configuration: the only thing that travels between
//! processes; the loaded model is a function of it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::encoder::ColbertEncoder;
use super::error::{ColbertError, Result};
use crate::hebrew::HebrewNormalizer;

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// A local Hugging Face style model directory.
    Dir(PathBuf),
    /// A Hugging Face hub model id, e.g. `"colbert-ir/colbertv2.0"`, resolved
    /// through the local hub cache; needs the cargo feature `hub`.
    Hub {
        /// The model id.
        repo: String,
        /// Branch, tag or commit; `None` means `main`.
        revision: Option<String>,
    },
}

/// How queries and documents are marked before encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Markers {
    /// One vocabulary token inserted right after the start token, as ColBERT
    /// does (`[unused0]` / `[unused1]` for BERT, `[Q]` / `[D]` for PyLate
    /// checkpoints). The tokens must exist in the tokenizer's vocabulary.
    Tokens {
        /// Token marking a query.
        query: String,
        /// Token marking a document.
        document: String,
    },
    /// Text prepended to the input before tokenisation (e.g. `"query: "`,
    /// `"passage: "` for E5-style models).
    Prefix {
        /// Prefix of a query.
        query: String,
        /// Prefix of a document.
        document: String,
    },
    /// No marker: the text is encoded as the plain model would.
    None,
}

impl Default for Markers {
    /// ColBERT's markers: `[unused0]` for queries, `[unused1]` for documents.
    fn default() -> Self {
        Markers::Tokens {
            query: "[unused0]".to_owned(),
            document: "[unused1]".to_owned(),
        }
    }
}

/// The device the model runs on. Only the CPU is built in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Device {
    /// The CPU (candle's gemm kernels, multi-threaded through rayon).
    #[default]
    Cpu,
}

/// The number format of the dense layers' matrix products.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// f32 throughout, as the checkpoints are trained and published.
    #[default]
    F32,
    /// The dense layers multiply bf16-rounded weights and activations on
    /// Intel AMX, summing in f32; attention, norms and activations stay f32.
    /// Needs a CPU with AMX-BF16 (Sapphire Rapids or later) and Linux:
    /// loading fails early elsewhere.
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = String;

    /// `f32` or `bf16` (any case).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("unknown precision '{s}': 'f32' or 'bf16'")),
        }
    }
}

/// Everything needed to load a [`ColbertEncoder`]; serialisable, hashable and
/// cheap to clone, so it can travel to workers that load the model once.
///
/// Fields are public; start from [`EncoderConfig::from_dir`] or
/// [`EncoderConfig::from_hub`] and override with struct-update syntax. Values
/// are checked by [`EncoderConfig::load`].
///
/// ```
/// use nodefusion_udfs::colbert::{EncoderConfig, Markers};
///
/// let config = EncoderConfig {
///     doc_maxlen: 300,
///     markers: Markers::None,
///     ..EncoderConfig::from_dir("models/all-MiniLM-L6-v2")
/// };
/// assert_eq!(config.query_maxlen, 32);
/// let json = serde_json::to_string(&config).unwrap();
/// assert_eq!(serde_json::from_str::<EncoderConfig>(&json).unwrap(), config);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct EncoderConfig {
    /// Where the model comes from.
    pub model: ModelSource,
    /// Tokens per query, markers and special tokens included; longer queries
    /// are truncated, shorter ones padded with `[MASK]` up to it when
    /// `augment_queries` is set.
    /// Default 32 (ColBERTv2).
    pub query_maxlen: usize,
    /// Most tokens per document, markers and special tokens included, before
    /// punctuation removal; longer documents are truncated. Default 180
    /// (ColBERTv2).
    pub doc_maxlen: usize,
    /// Output dimension. `None`: the projection's output size, or the hidden
    /// size when the model has no projection. A smaller value truncates the
    /// vectors before normalisation; a larger one is an error.
    pub dim: Option<usize>,
    /// Query and document markers. Default: ColBERT's `[unused0]`/`[unused1]`.
    pub markers: Markers,
    /// Pad queries with `[MASK]` up to `query_maxlen` (ColBERT's query
    /// augmentation). Default `true`; models not trained with it (e.g. E5)
    /// may do better without, and then a query has one vector per token.
    pub augment_queries: bool,
    /// Whether query tokens attend to the `[MASK]` augmentation tokens (the
    /// masks are encoded and returned either way). Default `false`, as in
    /// ColBERTv2 (`attend_to_mask_tokens`) and PyLate
    /// (`attend_to_expansion_tokens`).
    pub attend_to_mask_tokens: bool,
    /// Drop document tokens that are ASCII punctuation (ColBERT's skiplist).
    /// Default `true`.
    pub mask_punctuation: bool,
    /// Texts per forward pass in the batch calls. Default 32.
    pub batch_size: usize,
    /// Threads for the matrix products of the forward pass: `None` runs in
    /// candle's own CPU pool (sized by `RAYON_NUM_THREADS`, else the physical
    /// core count); `Some(n)` gives the encoder its own rayon pool of `n`
    /// threads. Candle's element-wise kernels always use its global pool
    /// (`CANDLE_NUM_THREADS`). An encoder runs one forward pass at a time on
    /// these threads; callers on several threads take turns.
    pub threads: Option<usize>,
    /// Where the model runs.
    pub device: Device,
    /// Hebrew normalisation applied to every text before tokenisation, the
    /// same mapping the BM25 tokeniser uses ([`crate::hebrew`]): cantillation
    /// and niqqud removed, maqaf and Hebrew punctuation turned into spaces,
    /// final letters folded when `fold_finals` is set. Text in other scripts
    /// passes through unchanged. Default: `Some` with final letters kept;
    /// `None` feeds the text to the tokenizer as given.
    ///
    /// Why it is on: subword vocabularies hold (almost) no pointed Hebrew, so
    /// points split every word into pieces; on the Mishnah-citation set
    /// (a 3,000-verse slice, `bench_hebrew` in the retrieval crate)
    /// multilingual-e5-small's pooled vector goes from nDCG@10 0.11 on
    /// pointed verses to 0.78 on normalised ones.
    pub normalize_hebrew: Option<HebrewNormalizer>,
    /// The model's [`model_digest`](super::model_digest), when the caller
    /// took one: being part of the config, it is part of the node cache's
    /// keys, so replacing a model in place invalidates what it encoded; and
    /// loading refuses files with another digest
    /// ([`ColbertError::ModelChanged`](super::ColbertError::ModelChanged)).
    /// Default `None`: the model is named by its path alone.
    pub model_digest: Option<String>,
    /// The dense layers' number format. Default [`Precision::F32`].
    pub precision: Precision,
}

/// The two families of encoder settings this project runs, for a model
/// directory of either kind (queries up to 64 tokens for both: the English
/// verses of the cross-lingual set are long).
///
/// ```
/// use nodefusion_udfs::colbert::{EncoderStyle, Markers};
/// let e5 = EncoderStyle::E5.config("models/multilingual-e5-small");
/// assert!(matches!(e5.markers, Markers::Prefix { .. }));
/// assert!(!e5.augment_queries && e5.normalize_hebrew.is_some());
/// assert_eq!("colbert".parse::<EncoderStyle>(), Ok(EncoderStyle::Colbert));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EncoderStyle {
    /// E5 models (multilingual-e5-small): `query: ` / `passage: ` prefixes,
    /// no query augmentation, Hebrew normalised.
    #[default]
    E5,
    /// A BERT checkpoint used ColBERT-style (e.g. all-MiniLM-L6-v2, or a
    /// ColBERT checkpoint): ColBERT markers and `[MASK]` query augmentation,
    /// Hebrew normalised.
    Colbert,
}

impl EncoderStyle {
    /// The encoder settings of this style for the model directory `dir`.
    pub fn config(self, dir: impl Into<PathBuf>) -> EncoderConfig {
        let base = EncoderConfig {
            query_maxlen: 64,
            ..EncoderConfig::from_dir(dir)
        };
        match self {
            EncoderStyle::E5 => EncoderConfig {
                markers: Markers::Prefix {
                    query: "query: ".into(),
                    document: "passage: ".into(),
                },
                augment_queries: false,
                ..base
            },
            EncoderStyle::Colbert => base,
        }
    }
}

impl std::str::FromStr for EncoderStyle {
    type Err = String;

    /// `e5` or `colbert` (any case).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "e5" => Ok(EncoderStyle::E5),
            "colbert" => Ok(EncoderStyle::Colbert),
            _ => Err(format!("unknown encoder style '{s}': 'e5' or 'colbert'")),
        }
    }
}

impl Default for EncoderConfig {
    /// ColBERTv2 settings for a model directory named `model` (relative).
    fn default() -> Self {
        Self::from_dir("model")
    }
}

impl EncoderConfig {
    /// ColBERTv2 defaults for a local model directory.
    ///
    /// ```
    /// # use nodefusion_udfs::colbert::{EncoderConfig, ModelSource};
    /// let config = EncoderConfig::from_dir("/models/colbertv2.0");
    /// assert_eq!(config.doc_maxlen, 180);
    /// assert!(matches!(config.model, ModelSource::Dir(_)));
    /// ```
    pub fn from_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            model: ModelSource::Dir(dir.into()),
            query_maxlen: 32,
            doc_maxlen: 180,
            dim: None,
            markers: Markers::default(),
            augment_queries: true,
            attend_to_mask_tokens: false,
            mask_punctuation: true,
            batch_size: 32,
            threads: None,
            device: Device::Cpu,
            normalize_hebrew: Some(HebrewNormalizer::default()),
            model_digest: None,
            precision: Precision::F32,
        }
    }

    /// ColBERTv2 defaults for a hub model id (main revision). Loading it needs
    /// the cargo feature `hub`.
    ///
    /// ```
    /// # use nodefusion_udfs::colbert::EncoderConfig;
    /// let config = EncoderConfig::from_hub("colbert-ir/colbertv2.0");
    /// assert_eq!(config.query_maxlen, 32);
    /// ```
    pub fn from_hub(repo: impl Into<String>) -> Self {
        Self {
            model: ModelSource::Hub {
                repo: repo.into(),
                revision: None,
            },
            ..Self::from_dir("")
        }
    }

    /// Loads the model this config describes. A plain function of the
    /// config: callers that want one model per process cache the result.
    ///
    /// ```no_run
    /// # use nodefusion_udfs::colbert::EncoderConfig;
    /// let encoder = EncoderConfig::from_dir("models/all-MiniLM-L6-v2").load()?;
    /// assert_eq!(encoder.dim(), 384);
    /// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
    /// ```
    pub fn load(&self) -> Result<ColbertEncoder> {
        ColbertEncoder::load(self)
    }

    /// Checks the values that do not need the model.
    pub(crate) fn validate(&self) -> Result<()> {
        // start + marker + end: the smallest useful sequence.
        if self.query_maxlen < 3 {
            return Err(config_err(
                "query_maxlen",
                format!("is {}; needs at least 3 tokens", self.query_maxlen),
            ));
        }
        if self.doc_maxlen < 3 {
            return Err(config_err(
                "doc_maxlen",
                format!("is {}; needs at least 3 tokens", self.doc_maxlen),
            ));
        }
        if self.batch_size == 0 {
            return Err(config_err("batch_size", "is 0; needs at least 1".into()));
        }
        if self.threads == Some(0) {
            return Err(config_err(
                "threads",
                "is Some(0); use None for the global pool or at least 1".into(),
            ));
        }
        if self.dim == Some(0) {
            return Err(config_err(
                "dim",
                "is Some(0); use None for the model's size or at least 1".into(),
            ));
        }
        if self.precision == Precision::Bf16 && !super::amx::available() {
            return Err(config_err(
                "precision",
                "is bf16, which needs Intel AMX-BF16 (Sapphire Rapids or later, on Linux); \
                 this CPU or kernel does not offer it: use f32"
                    .into(),
            ));
        }
        Ok(())
    }
}

pub(crate) fn config_err(field: &'static str, reason: String) -> ColbertError {
    ColbertError::Config { field, reason }
}
