//! Lucene-style BM25 with a Hebrew-aware tokeniser and precomputed scores.
//!
//! References: S. Robertson, H. Zaragoza, *The Probabilistic Relevance
//! Framework: BM25 and Beyond* (2009); Apache Lucene's `BM25Similarity`;
//! the "eager scoring" idea of `bm25s` (X. H. Lù, 2024): every (term, doc)
//! score is computed at index time, so a query is a sum of posting lists.
//!
//! For a term `t` in document `d` with term frequency `tf`, document length
//! `dl` (terms after tokenisation), average length `avgdl` over `N` documents
//! and document frequency `df`:
//!
//! ```text
//! idf(t)     = ln(1 + (N - df + 0.5) / (df + 0.5))                 (Lucene)
//! score(t,d) = idf(t) · tf / (tf + k1 · (1 - b + b · dl / avgdl))  (Lucene ≥ 8)
//! score(q,d) = Σ_{t ∈ q} score(t,d)   (a repeated query term counts each time)
//! ```
//!
//! Lucene ≥ 8 drops the classic `(k1 + 1)` numerator factor, a constant that
//! does not change rankings. Unlike Lucene, `dl` is exact (Lucene stores it
//! lossily in one byte). Defaults: `k1 = 1.5`, `b = 0.75`.
//!
//! Storage is term → postings of `(doc, precomputed score)` in CSR form; a
//! query adds its terms' postings into a dense per-thread accumulator and
//! keeps the top k with a heap. The index is persisted with [`crate::store`].
//!
//! ```
//! use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
//! let docs = ["בְּרֵאשִׁית בָּרָא אֱלֹהִים", "וְהָאָרֶץ הָיְתָה תֹהוּ וָבֹהוּ", "ויאמר אלהים יהי אור"];
//! let index = Bm25Index::build(&docs, &Bm25Params::default()).unwrap();
//! let hits = index.search("אור", 2);
//! assert_eq!(hits[0].doc, 2);
//! // Pointed and unpointed queries are the same query.
//! assert_eq!(index.search("אֱלֹהִים", 3), index.search("אלהים", 3));
//! ```

mod tokenizer;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use self::tokenizer::Tokenizer;
use crate::hit::top_k;
use crate::hit::{DocId, Hit};
use crate::store::{
    self, Array, IndexLocation, IndexReader, IndexWriter, Manifest, ManifestFields, StoreError, StoredIndex,
    StringTable,
};

/// Format version this build writes.
pub const FORMAT_VERSION: u32 = 1;
/// Oldest format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Index kind recorded in the manifest.
pub const INDEX_KIND: &str = "bm25";

/// Errors of BM25 indexing and search.
#[derive(Debug, thiserror::Error)]
pub enum Bm25Error {
    /// A parameter is out of range.
    #[error("invalid BM25 parameter {name}: expected {expected}, found {found}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// Valid range.
        expected: &'static str,
        /// Value given.
        found: String,
    },
    /// External ids must match the documents one to one.
    #[error("expected one external id per document ({expected}), found {found}")]
    ExternalIdCount {
        /// Number of documents.
        expected: usize,
        /// Number of ids.
        found: usize,
    },
    /// Too many documents for 32-bit document ids.
    #[error("too many documents: at most {max} are supported, found {found}")]
    TooManyDocuments {
        /// Limit.
        max: u64,
        /// Number given.
        found: usize,
    },
    /// Persistence failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = Bm25Error> = std::result::Result<T, E>;

/// BM25 parameters; stored in the index manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bm25Params {
    /// Term-frequency saturation (default 1.5).
    pub k1: f32,
    /// Length normalisation in `[0, 1]` (default 0.75).
    pub b: f32,
    /// How documents and queries are split into terms.
    pub tokenizer: Tokenizer,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Self {
            k1: 1.5,
            b: 0.75,
            tokenizer: Tokenizer::default(),
        }
    }
}

impl Bm25Params {
    fn validate(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(Bm25Error::InvalidParam {
                name: "k1",
                expected: "a finite number >= 0",
                found: self.k1.to_string(),
            });
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(Bm25Error::InvalidParam {
                name: "b",
                expected: "a number in [0, 1]",
                found: self.b.to_string(),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Counts {
    num_docs: u64,
    num_terms: u64,
    num_postings: u64,
    total_terms: u64,
    avgdl: f64,
    has_external_ids: bool,
}

/// A BM25 index: vocabulary, postings with precomputed scores, document
/// lengths and optional external ids.
#[derive(Clone)]
pub struct Bm25Index {
    params: Bm25Params,
    /// Sorted vocabulary; term id = position.
    vocab: StringTable,
    /// `num_terms + 1` offsets into `post_docs` / `post_scores`.
    post_offsets: Array<u64>,
    post_docs: Array<u32>,
    post_scores: Array<f32>,
    doc_lens: Array<u32>,
    external_ids: Option<StringTable>,
    counts: Counts,
}

impl std::fmt::Debug for Bm25Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25Index")
            .field("params", &self.params)
            .field("counts", &self.counts)
            .finish()
    }
}

thread_local! {
    static SCRATCH: RefCell<(Vec<f32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

impl Bm25Index {
    /// Builds an index over `docs`; document `i` gets id `i`.
    pub fn build<S: AsRef<str> + Sync>(docs: &[S], params: &Bm25Params) -> Result<Self> {
        params.validate()?;
        let tok = &params.tokenizer;
        let terms: Vec<Vec<String>> = docs.par_iter().map(|d| tok.tokenize(d.as_ref())).collect();
        Self::build_from_terms(&terms, params)
    }

    /// Builds an index from documents that are already split into terms
    /// (the tokeniser in `params` is still used for queries).
    pub fn build_from_terms<S: AsRef<str> + Sync>(docs: &[Vec<S>], params: &Bm25Params) -> Result<Self> {
        params.validate()?;
        if docs.len() as u64 > u32::MAX as u64 {
            return Err(Bm25Error::TooManyDocuments {
                max: u32::MAX as u64,
                found: docs.len(),
            });
        }
        // Vocabulary, sorted so that a term's id is its rank.
        let unique: HashSet<&str> = docs
            .par_iter()
            .fold(HashSet::new, |mut set, d| {
                set.extend(d.iter().map(|t| t.as_ref()));
                set
            })
            .reduce(HashSet::new, |mut a, mut b| {
                if a.len() < b.len() {
                    std::mem::swap(&mut a, &mut b);
                }
                a.extend(b);
                a
            });
        let mut vocab: Vec<&str> = unique.into_iter().collect();
        vocab.par_sort_unstable();
        let term_id: HashMap<&str, u32> = vocab.iter().enumerate().map(|(i, t)| (*t, i as u32)).collect();

        // Per document: (term id, tf) sorted by term id.
        let doc_terms: Vec<Vec<(u32, u32)>> = docs
            .par_iter()
            .map(|d| {
                let mut ids: Vec<u32> = d.iter().map(|t| term_id[t.as_ref()]).collect();
                ids.sort_unstable();
                let mut out: Vec<(u32, u32)> = Vec::new();
                for id in ids {
                    match out.last_mut() {
                        Some((last, tf)) if *last == id => *tf += 1,
                        _ => out.push((id, 1)),
                    }
                }
                out
            })
            .collect();
        let doc_lens: Vec<u32> = docs.iter().map(|d| d.len() as u32).collect();
        let total_terms: u64 = doc_lens.iter().map(|&l| l as u64).sum();
        let n = docs.len();
        let avgdl = if n == 0 { 0.0 } else { total_terms as f64 / n as f64 };

        // Document frequencies → CSR offsets.
        let mut df = vec![0u64; vocab.len()];
        for d in &doc_terms {
            for &(t, _) in d {
                df[t as usize] += 1;
            }
        }
        let mut offsets = Vec::with_capacity(vocab.len() + 1);
        offsets.push(0u64);
        let mut acc = 0u64;
        for &f in &df {
            acc += f;
            offsets.push(acc);
        }
        let idf: Vec<f64> = df
            .iter()
            .map(|&f| (1.0 + (n as f64 - f as f64 + 0.5) / (f as f64 + 0.5)).ln())
            .collect();
        let num_postings = acc as usize;
        let mut post_docs = vec![0u32; num_postings];
        let mut post_scores = vec![0f32; num_postings];
        let mut cursor: Vec<u64> = offsets[..vocab.len()].to_vec();
        let (k1, b) = (params.k1 as f64, params.b as f64);
        for (doc, terms) in doc_terms.iter().enumerate() {
            let norm = if avgdl > 0.0 {
                k1 * (1.0 - b + b * doc_lens[doc] as f64 / avgdl)
            } else {
                k1
            };
            for &(t, tf) in terms {
                let slot = cursor[t as usize] as usize;
                cursor[t as usize] += 1;
                post_docs[slot] = doc as u32;
                let tf = tf as f64;
                post_scores[slot] = (idf[t as usize] * tf / (tf + norm)) as f32;
            }
        }
        let counts = Counts {
            num_docs: n as u64,
            num_terms: vocab.len() as u64,
            num_postings: num_postings as u64,
            total_terms,
            avgdl,
            has_external_ids: false,
        };
        Ok(Self {
            params: params.clone(),
            vocab: StringTable::from_strings(&vocab),
            post_offsets: Array::from_vec(offsets),
            post_docs: Array::from_vec(post_docs),
            post_scores: Array::from_vec(post_scores),
            doc_lens: Array::from_vec(doc_lens),
            external_ids: None,
            counts,
        })
    }

    /// Attaches external document ids (one per document, in id order).
    ///
    /// ```
    /// use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
    /// let index = Bm25Index::build(&["a b", "b c"], &Bm25Params::default()).unwrap()
    ///     .with_external_ids(&["gen-1-1", "gen-1-2"]).unwrap();
    /// let hit = index.search("c", 1)[0];
    /// assert_eq!(index.external_id(hit.doc), Some("gen-1-2"));
    /// ```
    pub fn with_external_ids<S: AsRef<str>>(mut self, ids: &[S]) -> Result<Self> {
        if ids.len() as u64 != self.counts.num_docs {
            return Err(Bm25Error::ExternalIdCount {
                expected: self.counts.num_docs as usize,
                found: ids.len(),
            });
        }
        self.external_ids = Some(StringTable::from_strings(ids));
        self.counts.has_external_ids = true;
        Ok(self)
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> &Bm25Params {
        &self.params
    }

    /// Number of documents.
    pub fn num_docs(&self) -> usize {
        self.counts.num_docs as usize
    }

    /// Number of distinct terms.
    pub fn num_terms(&self) -> usize {
        self.vocab.len()
    }

    /// Number of (term, document) postings.
    pub fn num_postings(&self) -> usize {
        self.post_docs.len()
    }

    /// Average document length in terms.
    pub fn avg_doc_len(&self) -> f64 {
        self.counts.avgdl
    }

    /// External id of `doc`, when the index has them.
    pub fn external_id(&self, doc: DocId) -> Option<&str> {
        let ids = self.external_ids.as_ref()?;
        ((doc as usize) < ids.len()).then(|| ids.get(doc as usize))
    }

    /// Number of documents containing `term` (already a normalised term).
    pub fn doc_freq(&self, term: &str) -> usize {
        self.vocab.binary_search(term).map_or(0, |t| self.postings(t).0.len())
    }

    fn postings(&self, term: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.post_offsets[term] as usize, self.post_offsets[term + 1] as usize);
        (&self.post_docs[a..b], &self.post_scores[a..b])
    }

    /// The best `k` documents for the text `query`, by score descending then
    /// doc id ascending. Documents sharing no term with the query are not returned.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit> {
        let mut terms = Vec::new();
        self.params.tokenizer.for_each_term(query, |t| {
            if let Some(id) = self.vocab.binary_search(t) {
                terms.push(id);
            }
        });
        self.search_term_ids(&terms, k)
    }

    /// Like [`search`](Self::search) for a query already split into terms.
    pub fn search_terms<S: AsRef<str>>(&self, terms: &[S], k: usize) -> Vec<Hit> {
        let ids: Vec<usize> = terms
            .iter()
            .filter_map(|t| self.vocab.binary_search(t.as_ref()))
            .collect();
        self.search_term_ids(&ids, k)
    }

    /// [`search`](Self::search) for many queries, in parallel.
    pub fn search_batch<S: AsRef<str> + Sync>(&self, queries: &[S], k: usize) -> Vec<Vec<Hit>> {
        queries.par_iter().map(|q| self.search(q.as_ref(), k)).collect()
    }

    fn search_term_ids(&self, terms: &[usize], k: usize) -> Vec<Hit> {
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (acc, touched) = &mut *guard;
            if acc.len() < self.num_docs() {
                acc.resize(self.num_docs(), 0.0);
            }
            touched.clear();
            for &t in terms {
                let (docs, scores) = self.postings(t);
                for (&d, &s) in docs.iter().zip(scores) {
                    let slot = &mut acc[d as usize];
                    if *slot == 0.0 {
                        touched.push(d);
                    }
                    *slot += s;
                }
            }
            let hits = top_k(
                touched.iter().map(|&d| Hit {
                    doc: d,
                    score: acc[d as usize],
                }),
                k,
            );
            for &d in touched.iter() {
                acc[d as usize] = 0.0;
            }
            hits
        })
    }

    /// Writes the index to `location`. With `overwrite` (the pipeline's
    /// `override`) false an existing index is an error; with true it is
    /// replaced atomically (see [`crate::store`]).
    pub fn write(&self, location: &IndexLocation, overwrite: bool) -> Result<Manifest> {
        store::save(self, location, overwrite)
    }

    /// Async form of [`write`](Self::write).
    pub async fn write_async(&self, location: &IndexLocation, overwrite: bool) -> Result<Manifest> {
        store::save_async(self, location, overwrite).await
    }

    /// Per-term document frequencies of the `n` most frequent terms (for
    /// inspection and tests).
    pub fn top_terms(&self, n: usize) -> Vec<(String, usize)> {
        let mut all: Vec<(usize, usize)> = (0..self.vocab.len()).map(|t| (t, self.postings(t).0.len())).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.into_iter()
            .take(n)
            .map(|(t, df)| (self.vocab.get(t).to_owned(), df))
            .collect()
    }
}

impl StoredIndex for Bm25Index {
    const KIND: &'static str = INDEX_KIND;
    const FORMAT_VERSION: u32 = FORMAT_VERSION;
    const OLDEST_READABLE_VERSION: u32 = OLDEST_READABLE_VERSION;
    type Error = Bm25Error;

    async fn write_files(&self, w: &mut IndexWriter<'_>) -> Result<ManifestFields> {
        w.put_strings("vocab", &self.vocab).await?;
        w.put_array("postings.off", &self.post_offsets).await?;
        w.put_array("postings.doc", &self.post_docs).await?;
        w.put_array("postings.score", &self.post_scores).await?;
        w.put_array("doclens.u32", &self.doc_lens).await?;
        if let Some(ids) = &self.external_ids {
            w.put_strings("external_ids", ids).await?;
        }
        Ok(ManifestFields::new(&self.params, &self.counts))
    }

    async fn read_files(r: &IndexReader) -> Result<Self> {
        let params: Bm25Params = r.params()?;
        let counts: Counts = r.counts()?;
        let vocab = r.read_strings("vocab").await?;
        let post_offsets = r.read_array::<u64>("postings.off").await?;
        let post_docs = r.read_array::<u32>("postings.doc").await?;
        let post_scores = r.read_array::<f32>("postings.score").await?;
        let doc_lens = r.read_array::<u32>("doclens.u32").await?;
        let external_ids = if counts.has_external_ids {
            Some(r.read_strings("external_ids").await?)
        } else {
            None
        };
        let bad = |file: &str, reason: String| r.invalid_content(file, reason);
        if vocab.len() as u64 != counts.num_terms {
            return Err(bad(
                "vocab.off",
                format!("expected {} terms, found {}", counts.num_terms, vocab.len()),
            )
            .into());
        }
        if (1..vocab.len()).any(|i| vocab.get_bytes(i - 1) >= vocab.get_bytes(i)) {
            return Err(bad("vocab.str", "expected strictly sorted terms".into()).into());
        }
        if post_offsets.len() != vocab.len() + 1
            || post_offsets.first() != Some(&0)
            || post_offsets.windows(2).any(|w| w[0] > w[1])
            || post_offsets.last().copied() != Some(post_docs.len() as u64)
        {
            return Err(bad(
                "postings.off",
                format!(
                    "expected {} non-decreasing offsets from 0 to {}, the entries of postings.doc",
                    vocab.len() + 1,
                    post_docs.len()
                ),
            )
            .into());
        }
        if post_scores.len() != post_docs.len() {
            return Err(bad(
                "postings.score",
                format!(
                    "expected {} scores, one per entry of postings.doc, found {}",
                    post_docs.len(),
                    post_scores.len()
                ),
            )
            .into());
        }
        if doc_lens.len() as u64 != counts.num_docs {
            return Err(bad(
                "doclens.u32",
                format!("expected {} lengths, found {}", counts.num_docs, doc_lens.len()),
            )
            .into());
        }
        if let Some(d) = post_docs.iter().find(|&&d| d as u64 >= counts.num_docs) {
            return Err(bad(
                "postings.doc",
                format!("expected doc ids < {}, found {d}", counts.num_docs),
            )
            .into());
        }
        if let Some(ids) = &external_ids
            && ids.len() as u64 != counts.num_docs
        {
            return Err(bad(
                "external_ids.off",
                format!("expected {} ids, found {}", counts.num_docs, ids.len()),
            )
            .into());
        }
        Ok(Self {
            params,
            vocab,
            post_offsets,
            post_docs,
            post_scores,
            doc_lens,
            external_ids,
            counts,
        })
    }
}
