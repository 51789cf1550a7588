//! From text to model input: tokenisation, markers, truncation, `[MASK]`
//! augmentation, attention masks and the punctuation skiplist.

use std::path::Path;

use tokenizers::Tokenizer;

use super::config::{EncoderConfig, Markers, config_err};
use super::encoder::TextKind;
use super::error::{ColbertError, Result};
use super::files::{TOKENIZER_EXPECTED, malformed};
use crate::hebrew::HebrewNormalizer;

/// One text made ready for the model.
///
/// ```no_run
/// use nodefusion_udfs::colbert::{default_test_model_dir, EncoderConfig, TextKind};
///
/// let encoder = EncoderConfig::from_dir(default_test_model_dir()?).load()?;
/// let input = encoder.prepare(TextKind::Query, "hello")?;
/// // [CLS] [unused0] hello [SEP] [MASK] × 28
/// assert_eq!(input.input_ids.len(), 32);
/// assert_eq!(&input.input_ids[..5], &[101, 1, 7592, 102, 103]);
/// assert_eq!(input.attention_mask[4], 0); // masks are not attended to by default
/// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedInput {
    /// Token ids fed to the model: start token, marker, text, end token and,
    /// for queries, `[MASK]` padding up to `query_maxlen`.
    pub input_ids: Vec<u32>,
    /// 1 where other tokens may attend to the token, 0 where they may not.
    pub attention_mask: Vec<u32>,
    /// Positions in `input_ids` whose vectors are returned, ascending: all of
    /// them for a query; for a document, all but ASCII punctuation when
    /// [`EncoderConfig::mask_punctuation`] is set.
    pub kept: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Marker {
    Token(u32),
    Prefix(String),
    None,
}

/// Turns texts into [`PreparedInput`]s according to an [`EncoderConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Preparer {
    tokenizer: Tokenizer,
    /// Special tokens the tokenizer puts before the text (`[CLS]`).
    start: Vec<u32>,
    /// Special tokens the tokenizer puts after the text (`[SEP]`).
    end: Vec<u32>,
    query_marker: Marker,
    document_marker: Marker,
    mask_id: u32,
    /// `skip[id]`: the token is ASCII punctuation.
    skip: Vec<bool>,
    query_maxlen: usize,
    doc_maxlen: usize,
    augment_queries: bool,
    attend_to_mask_tokens: bool,
    mask_punctuation: bool,
    normalize_hebrew: Option<HebrewNormalizer>,
}

/// Mask tokens of the common vocabularies (BERT, RoBERTa/XLM-R).
const MASK_TOKENS: [&str; 2] = ["[MASK]", "<mask>"];

impl Preparer {
    pub(crate) fn load(path: &Path, config: &EncoderConfig) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| malformed(path, TOKENIZER_EXPECTED, e))?;
        // Truncation and padding are ours to do; tokenizer.json files often
        // carry fixed settings (all-MiniLM-L6-v2 pads everything to 128).
        tokenizer
            .with_truncation(None)
            .map_err(|e| malformed(path, TOKENIZER_EXPECTED, e))?;
        tokenizer.with_padding(None);

        let (start, end) = special_tokens(&tokenizer).map_err(|reason| malformed(path, TOKENIZER_EXPECTED, reason))?;
        let mask_id = MASK_TOKENS
            .iter()
            .find_map(|t| tokenizer.token_to_id(t))
            .ok_or_else(|| {
                malformed(
                    path,
                    "a vocabulary with a mask token for query augmentation",
                    format!("none of {MASK_TOKENS:?} is in the vocabulary"),
                )
            })?;
        let marker = |text: &str, field: &'static str| -> Result<Marker> {
            tokenizer.token_to_id(text).map(Marker::Token).ok_or_else(|| {
                config_err(
                    field,
                    format!(
                        "names marker token '{text}', which is not in the vocabulary of {}; \
                         use a token of that vocabulary, Markers::Prefix or Markers::None",
                        path.display()
                    ),
                )
            })
        };
        let (query_marker, document_marker) = match &config.markers {
            Markers::Tokens { query, document } => {
                (marker(query, "markers.query")?, marker(document, "markers.document")?)
            }
            Markers::Prefix { query, document } => (Marker::Prefix(query.clone()), Marker::Prefix(document.clone())),
            Markers::None => (Marker::None, Marker::None),
        };
        let fixed = start.len() + end.len() + usize::from(matches!(query_marker, Marker::Token(_)));
        for (field, maxlen) in [("query_maxlen", config.query_maxlen), ("doc_maxlen", config.doc_maxlen)] {
            if maxlen < fixed {
                return Err(config_err(
                    field,
                    format!("is {maxlen}; the special tokens and marker alone take {fixed}"),
                ));
            }
        }

        let vocab = tokenizer.get_vocab(true);
        let size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut skip = vec![false; size];
        for (token, id) in &vocab {
            if !token.is_empty() && token.chars().all(|c| c.is_ascii_punctuation()) {
                skip[*id as usize] = true;
            }
        }

        Ok(Self {
            tokenizer,
            start,
            end,
            query_marker,
            document_marker,
            mask_id,
            skip,
            query_maxlen: config.query_maxlen,
            doc_maxlen: config.doc_maxlen,
            augment_queries: config.augment_queries,
            attend_to_mask_tokens: config.attend_to_mask_tokens,
            mask_punctuation: config.mask_punctuation,
            normalize_hebrew: config.normalize_hebrew,
        })
    }

    /// Largest vocabulary id plus one.
    pub(crate) fn vocab_len(&self) -> usize {
        self.skip.len()
    }

    /// Prepares text number `index` of a call (the index only labels errors).
    pub(crate) fn prepare(&self, kind: TextKind, text: &str, index: usize) -> Result<PreparedInput> {
        let (marker, maxlen) = match kind {
            TextKind::Query => (&self.query_marker, self.query_maxlen),
            TextKind::Document => (&self.document_marker, self.doc_maxlen),
        };
        let normalized;
        let text = match &self.normalize_hebrew {
            Some(normalizer) => {
                normalized = normalizer.normalize(text);
                normalized.as_str()
            }
            None => text,
        };
        let prefixed;
        let text = match marker {
            Marker::Prefix(prefix) => {
                prefixed = format!("{prefix}{text}");
                prefixed.as_str()
            }
            Marker::Token(_) | Marker::None => text,
        };
        let encoding = self.tokenizer.encode(text, false).map_err(|e| ColbertError::Tokenize {
            index,
            reason: e.to_string(),
        })?;
        let content = encoding.get_ids();

        let mut ids = Vec::with_capacity(maxlen);
        ids.extend_from_slice(&self.start);
        if let Marker::Token(id) = marker {
            ids.push(*id);
        }
        // `load` checked that the fixed tokens fit in maxlen.
        let budget = maxlen.saturating_sub(ids.len() + self.end.len());
        ids.extend_from_slice(&content[..content.len().min(budget)]);
        ids.extend_from_slice(&self.end);
        let mut attention_mask = vec![1; ids.len()];

        let kept = match kind {
            TextKind::Query => {
                // Query augmentation: pad with [MASK]; they are encoded and kept.
                let pad = if self.augment_queries {
                    maxlen.saturating_sub(ids.len())
                } else {
                    0
                };
                ids.extend(std::iter::repeat_n(self.mask_id, pad));
                attention_mask.extend(std::iter::repeat_n(u32::from(self.attend_to_mask_tokens), pad));
                (0..ids.len()).collect()
            }
            TextKind::Document => (0..ids.len())
                .filter(|&i| !(self.mask_punctuation && self.is_punctuation(ids[i])))
                .collect(),
        };
        Ok(PreparedInput {
            input_ids: ids,
            attention_mask,
            kept,
        })
    }

    fn is_punctuation(&self, id: u32) -> bool {
        self.skip.get(id as usize).copied().unwrap_or(false)
    }
}

/// The special tokens the tokenizer's post-processor puts before and after a
/// single text, found by encoding a probe both ways.
fn special_tokens(tokenizer: &Tokenizer) -> std::result::Result<(Vec<u32>, Vec<u32>), String> {
    const PROBE: &str = "probe";
    let plain = tokenizer.encode(PROBE, false).map_err(|e| e.to_string())?;
    let full = tokenizer.encode(PROBE, true).map_err(|e| e.to_string())?;
    let (plain, full) = (plain.get_ids(), full.get_ids());
    let at = full
        .windows(plain.len().max(1))
        .position(|w| w == plain)
        .filter(|_| !plain.is_empty())
        .ok_or_else(|| "the post-processor changes the text's own tokens".to_owned())?;
    Ok((full[..at].to_vec(), full[at + plain.len()..].to_vec()))
}
