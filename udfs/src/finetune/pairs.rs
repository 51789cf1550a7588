//! Training pairs from the passages alone: a shortened span of a passage is
//! a query whose answer is that passage; BM25's best other passages for the
//! span are its hard negatives.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bm25::{Bm25Index, Bm25Params};
use crate::hebrew::HebrewNormalizer;

use super::error::{FineTuneError, Result};

/// A query, its one relevant document and documents known not to be.
///
/// ```
/// use nodefusion_udfs::finetune::TrainingPair;
/// let pair = TrainingPair::new("In the beginning", "In the beginning God created the heaven and the earth.");
/// assert!(pair.negatives.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrainingPair {
    /// Encoded as a query.
    pub query: String,
    /// Encoded as a document: the query's answer.
    pub positive: String,
    /// Encoded as documents: wrong answers that look right.
    pub negatives: Vec<String>,
}

impl TrainingPair {
    /// A pair without hard negatives.
    pub fn new(query: impl Into<String>, positive: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            positive: positive.into(),
            negatives: Vec::new(),
        }
    }
}

/// How spans are cut from passages.
///
/// Quotations rarely copy a whole verse: they take a run of its words, skip
/// some and abbreviate others (`וגו'`, `ישר'`). The spans imitate that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpanOptions {
    /// Passages with fewer words give no pair. Default 4.
    pub min_words: usize,
    /// The span's length as a fraction of the passage's words, drawn
    /// uniformly from `[shortest, longest]`. Default 0.3 to 0.7.
    pub shortest: f64,
    /// See `shortest`.
    pub longest: f64,
    /// Chance that a word inside the span is left out. Default 0.1.
    pub drop_word: f64,
    /// Chance that a word of four letters or more is cut to its first
    /// three and an apostrophe. Default 0.05.
    pub abbreviate_word: f64,
    /// BM25 hard negatives per pair, at most: a span that shares no term
    /// with another passage gets none. Default 1.
    pub hard_negatives: usize,
    /// Seed of every random choice. Default 17.
    pub seed: u64,
}

impl Default for SpanOptions {
    fn default() -> Self {
        Self {
            min_words: 4,
            shortest: 0.3,
            longest: 0.7,
            drop_word: 0.1,
            abbreviate_word: 0.05,
            hard_negatives: 1,
            seed: 17,
        }
    }
}

impl SpanOptions {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        let chance = |field: &'static str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(FineTuneError::Config {
                    field,
                    reason: format!("is {value}; expected a number in [0, 1]"),
                })
            }
        };
        chance("spans.shortest", self.shortest)?;
        chance("spans.longest", self.longest)?;
        chance("spans.drop_word", self.drop_word)?;
        chance("spans.abbreviate_word", self.abbreviate_word)?;
        if self.shortest > self.longest {
            return Err(FineTuneError::Config {
                field: "spans.shortest",
                reason: format!("is {}, above spans.longest ({})", self.shortest, self.longest),
            });
        }
        if self.min_words == 0 {
            return Err(FineTuneError::Config {
                field: "spans.min_words",
                reason: "is 0; a span needs at least one word".into(),
            });
        }
        Ok(())
    }
}

/// Texts that must never be trained on: the queries of an evaluation set.
/// A pair is left out when one of its texts equals one of them, or its
/// query appears inside one, after normalisation (Hebrew marks removed,
/// whitespace collapsed).
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    texts: Vec<String>,
    exact: HashSet<String>,
}

impl Exclusions {
    /// The texts to keep out of training.
    ///
    /// ```
    /// use nodefusion_udfs::finetune::Exclusions;
    /// let excluded = Exclusions::new(["שנאמר בְּרֵאשִׁית בָּרָא"]);
    /// assert!(excluded.contains("בראשית ברא"));
    /// assert!(!excluded.contains("ויאמר"));
    /// ```
    pub fn new<S: AsRef<str>>(texts: impl IntoIterator<Item = S>) -> Self {
        let texts: Vec<String> = texts.into_iter().map(|t| canonical(t.as_ref())).collect();
        let exact = texts.iter().cloned().collect();
        Self { texts, exact }
    }

    /// Whether `text` equals an excluded text or appears inside one.
    pub fn contains(&self, text: &str) -> bool {
        let text = canonical(text);
        !text.is_empty() && (self.exact.contains(&text) || self.texts.iter().any(|t| t.contains(&text)))
    }

    fn equals(&self, text: &str) -> bool {
        self.exact.contains(&canonical(text))
    }

    /// How many texts are excluded.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// Marks removed and whitespace collapsed.
fn canonical(text: &str) -> String {
    let normalized = HebrewNormalizer::default().normalize(text);
    normalized.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One pair per passage of `min_words` words or more: a span of it (cut
/// from the text as `normalizer` normalises it, the encoder's setting) and,
/// as hard negatives, BM25's best-scoring other passages for the span.
/// Passages whose text repeats an earlier passage's are used once, so that
/// a passage is never its own negative. Pairs touching `excluded` are left
/// out. The same passages and options give the same pairs.
///
/// ```
/// use nodefusion_udfs::finetune::{span_pairs, Exclusions, SpanOptions};
/// let passages = [
///     "the quick brown fox jumps over the lazy dog",
///     "a slow green turtle walks under the busy bridge",
///     "the lazy cat sleeps all day in the warm sun",
/// ];
/// let pairs = span_pairs(&passages, &Exclusions::default(), None, &SpanOptions::default())?;
/// assert_eq!(pairs.len(), 3);
/// // A span that shares words with another passage gets it as a negative.
/// assert!(pairs.iter().all(|p| p.negatives.len() <= 1 && !p.negatives.contains(&p.positive)));
/// # Ok::<(), nodefusion_udfs::finetune::FineTuneError>(())
/// ```
pub fn span_pairs<S: AsRef<str> + Sync>(
    passages: &[S],
    excluded: &Exclusions,
    normalizer: Option<HebrewNormalizer>,
    options: &SpanOptions,
) -> Result<Vec<TrainingPair>> {
    options.validate()?;
    let mut seen = HashSet::new();
    let unique: Vec<&str> = passages
        .iter()
        .map(AsRef::as_ref)
        .filter(|text| !excluded.equals(text) && seen.insert(canonical(text)))
        .collect();
    let normalize = |text: &str| match normalizer {
        Some(n) => n.normalize(text),
        None => text.to_owned(),
    };
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut spans = Vec::new();
    for (index, text) in unique.iter().enumerate() {
        let normalized = normalize(text);
        let words: Vec<&str> = normalized.split_whitespace().collect();
        if words.len() < options.min_words {
            continue;
        }
        let span = cut_span(&words, options, &mut rng);
        if !span.is_empty() && !excluded.contains(&span) {
            spans.push((index, span));
        }
    }
    let negatives = hard_negatives(&unique, &spans, options.hard_negatives)?;
    Ok(spans
        .into_iter()
        .zip(negatives)
        .map(|((index, query), negatives)| TrainingPair {
            query,
            positive: unique[index].to_owned(),
            negatives: negatives.into_iter().map(|i| unique[i].to_owned()).collect(),
        })
        .collect())
}

/// A run of `words`, some dropped, some abbreviated; never empty.
fn cut_span(words: &[&str], options: &SpanOptions, rng: &mut StdRng) -> String {
    let fraction = rng.random_range(options.shortest..=options.longest);
    let len = ((words.len() as f64 * fraction).round() as usize).clamp(1, words.len());
    let start = rng.random_range(0..=words.len() - len);
    let mut out: Vec<String> = Vec::with_capacity(len);
    for word in &words[start..start + len] {
        let (drop, abbreviate) = (rng.random::<f64>(), rng.random::<f64>());
        if drop < options.drop_word {
            continue;
        }
        let letters = word.chars().count();
        if abbreviate < options.abbreviate_word && letters >= 4 {
            out.push(word.chars().take(3).chain(['\'']).collect());
        } else {
            out.push((*word).to_owned());
        }
    }
    if out.is_empty() {
        out.push(words[start].to_owned());
    }
    out.join(" ")
}

/// For each span, the indices of the `count` passages BM25 ranks best that
/// are not its own.
fn hard_negatives(passages: &[&str], spans: &[(usize, String)], count: usize) -> Result<Vec<Vec<usize>>> {
    if count == 0 || passages.len() < 2 {
        return Ok(vec![Vec::new(); spans.len()]);
    }
    let index = Bm25Index::build(passages, &Bm25Params::default())
        .map_err(|e| FineTuneError::Internal(format!("BM25 index of the training passages: {e}")))?;
    Ok(spans
        .par_iter()
        .map(|(own, span)| {
            index
                .search(span, count + 1)
                .into_iter()
                .map(|hit| hit.doc as usize)
                .filter(|doc| doc != own)
                .take(count)
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sentence() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["אב", "בית", "שלום", "מלך", "ארץ", "דבר", "יום", "מים"]),
            1..12,
        )
        .prop_map(|words| words.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// No pair carries an excluded text, or a query found inside one,
        /// and every pair's positive is one of the passages.
        #[test]
        fn pairs_never_touch_excluded_texts(
            passages in prop::collection::vec(sentence(), 1..40),
            excluded in prop::collection::vec(sentence(), 0..10),
            seed in any::<u64>(),
        ) {
            let exclusions = Exclusions::new(&excluded);
            let options = SpanOptions { seed, min_words: 2, hard_negatives: 2, ..SpanOptions::default() };
            let pairs = span_pairs(&passages, &exclusions, None, &options).unwrap();
            for pair in &pairs {
                prop_assert!(!exclusions.contains(&pair.query), "query {:?}", pair.query);
                prop_assert!(passages.contains(&pair.positive));
                for text in std::iter::once(&pair.positive).chain(&pair.negatives) {
                    prop_assert!(!excluded.iter().any(|e| canonical(e) == canonical(text)), "{text:?}");
                }
                prop_assert!(pair.negatives.iter().all(|n| canonical(n) != canonical(&pair.positive)));
            }
            prop_assert_eq!(pairs, span_pairs(&passages, &exclusions, None, &options).unwrap());
        }
    }

    #[test]
    fn spans_are_runs_of_the_passage_words() {
        let passage = "one two three four five six seven eight nine ten";
        let options = SpanOptions {
            drop_word: 0.0,
            abbreviate_word: 0.0,
            hard_negatives: 0,
            ..SpanOptions::default()
        };
        let pairs = span_pairs(&[passage], &Exclusions::default(), None, &options).unwrap();
        assert_eq!(pairs.len(), 1);
        let words = pairs[0].query.split(' ').count();
        assert!((3..=7).contains(&words), "{}", pairs[0].query);
        assert!(passage.contains(&pairs[0].query));
    }

    #[test]
    fn bad_options_are_refused_by_field() {
        let options = SpanOptions {
            shortest: 0.9,
            longest: 0.5,
            ..SpanOptions::default()
        };
        let error = span_pairs(&["a b c d"], &Exclusions::default(), None, &options).unwrap_err();
        assert!(error.to_string().contains("spans.shortest"), "{error}");
    }
}
