//! The BM25 tokeniser: Hebrew normalisation, lower-casing, Unicode word
//! segmentation (UAX #29), optional stopwords.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::hebrew::HebrewNormalizer;

/// Splits text into index terms. Serde-serialisable: an index stores the
/// tokeniser it was built with and queries are tokenised the same way.
///
/// Steps, in order: [`HebrewNormalizer`] (marks removed, maqaf/paseq/sof
/// pasuq become spaces, final letters folded by default), lower-casing,
/// word segmentation with Unicode word boundaries (words are the segments
/// that contain a letter or digit, so `ש״ס`, `can't` and `3.14` stay whole),
/// then stopword removal (stopwords are normalised the same way).
///
/// ```
/// use nodefusion_udfs::bm25::Tokenizer;
/// let t = Tokenizer::default();
/// assert_eq!(t.tokenize("וַיֹּ֥אמֶר אֱלֹהִ֖ים, Let there be LIGHT!"),
///            vec!["ויאמר", "אלהימ", "let", "there", "be", "light"]);
/// let t = Tokenizer::default().with_stopwords(["be", "there"]);
/// assert_eq!(t.tokenize("let there be light"), vec!["let", "light"]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Tokenizer {
    /// Lower-case terms (default true).
    pub lowercase: bool,
    /// Hebrew normalisation (default: final letters folded).
    pub hebrew: HebrewNormalizer,
    /// Terms to drop (compared after normalisation).
    pub stopwords: Vec<String>,
    #[serde(skip)]
    stop_set: OnceLock<HashSet<String>>,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self {
            lowercase: true,
            hebrew: HebrewNormalizer { fold_finals: true },
            stopwords: Vec::new(),
            stop_set: OnceLock::new(),
        }
    }
}

impl PartialEq for Tokenizer {
    fn eq(&self, other: &Self) -> bool {
        self.lowercase == other.lowercase && self.hebrew == other.hebrew && self.stopwords == other.stopwords
    }
}

impl Tokenizer {
    /// This tokeniser with `words` as stopwords.
    pub fn with_stopwords<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stopwords = words.into_iter().map(Into::into).collect();
        self.stop_set = OnceLock::new();
        self
    }

    fn stop_set(&self) -> &HashSet<String> {
        self.stop_set.get_or_init(|| {
            let plain = Tokenizer {
                stopwords: Vec::new(),
                ..self.clone()
            };
            self.stopwords.iter().flat_map(|w| plain.tokenize(w)).collect()
        })
    }

    /// Calls `f` on each term of `text`.
    pub fn for_each_term(&self, text: &str, mut f: impl FnMut(&str)) {
        let normalized = self.hebrew.normalize(text);
        let lowered = if self.lowercase && normalized.chars().any(char::is_uppercase) {
            normalized.to_lowercase()
        } else {
            normalized
        };
        let stop = if self.stopwords.is_empty() {
            None
        } else {
            Some(self.stop_set())
        };
        for word in lowered.unicode_words() {
            // A combining mark after a space joins it into one word (UAX #29).
            let word = word.trim_matches(char::is_whitespace);
            if word.is_empty() || stop.is_some_and(|s| s.contains(word)) {
                continue;
            }
            f(word);
        }
    }

    /// The terms of `text`, in order.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(text, |t| out.push(t.to_owned()));
        out
    }
}
