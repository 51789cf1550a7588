//! [`IndexSource`]: a digest of what an index is built from, recorded in
//! its manifest so that a later build from the same inputs can reuse it
//! instead of building again ([`SaveIndex::reuse`](super::SaveIndex::reuse)).

use serde::Serialize;

use super::columns::{Pod, encode};

/// A digest of what an index is built from: its kind and format version,
/// the build settings, and every input (documents, ids, embeddings), fed
/// by the caller. Two builds with equal sources produce interchangeable
/// indexes, so the second may copy the first
/// ([`SaveIndex::reuse`](super::SaveIndex::reuse)).
///
/// What the digest cannot see is the build code itself: a new build
/// algorithm with the same format version and inputs finds the old index
/// reusable. Bump the kind's format version, or build without reuse, when
/// the algorithm changes.
///
/// ```
/// use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
/// use nodefusion_udfs::store::IndexSource;
/// let texts = ["שלום עולם", "עולם"];
/// let ids = ["a", "b"];
/// let source = |texts: &[&str]| {
///     IndexSource::of::<Bm25Index>()
///         .settings(&Bm25Params::default())
///         .strs(texts)
///         .strs(&ids)
///         .finish()
/// };
/// assert_eq!(source(&texts), source(&texts));
/// assert_ne!(source(&texts), source(&["שלום", "עולם"]));
/// ```
#[derive(Clone, Debug)]
pub struct IndexSource(blake3::Hasher);

/// The finished digest: 64 hex digits, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceDigest(pub(crate) String);

impl SourceDigest {
    /// The digest as the manifest's `source` field holds it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SourceDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl IndexSource {
    /// A source for an index of kind `I`: starts with the format tag, the
    /// kind and its format version.
    pub fn of<I: super::SaveIndex>() -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"nodefusion-index-source/1\0");
        let mut source = Self(hasher);
        source.bytes(I::KIND.as_bytes());
        source.0.update(&I::FORMAT_VERSION.to_le_bytes());
        source
    }

    /// Adds build settings, by their JSON form (a plain settings struct
    /// always has one; one that fails to serialise adds its error text, so
    /// it never matches a real one).
    pub fn settings(mut self, settings: &impl Serialize) -> Self {
        let json = serde_json::to_vec(settings).unwrap_or_else(|e| format!("unserialisable: {e}").into_bytes());
        self.bytes(&json);
        self
    }

    /// Adds a list of strings (texts, ids), each with its length.
    pub fn strs<S: AsRef<str>>(mut self, strings: &[S]) -> Self {
        self.0.update(&(strings.len() as u64).to_le_bytes());
        for s in strings {
            self.bytes(s.as_ref().as_bytes());
        }
        self
    }

    /// Adds a list of float arrays (embedding matrices), each with its
    /// length and its values' bits.
    pub fn floats<F: AsRef<[f32]>>(mut self, arrays: &[F]) -> Self {
        self.0.update(&(arrays.len() as u64).to_le_bytes());
        for values in arrays {
            self.numbers(values.as_ref());
        }
        self
    }

    /// Adds a list of integers (dimensions, counts).
    pub fn u32s(mut self, values: &[u32]) -> Self {
        self.numbers(values);
        self
    }

    /// The digest.
    pub fn finish(&self) -> SourceDigest {
        SourceDigest(self.0.finalize().to_hex().to_string())
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// `values`' length, then their little-endian bytes, encoded a slice at
    /// a time as the index files are ([`encode`]).
    fn numbers<T: Pod>(&mut self, values: &[T]) {
        self.0.update(&(values.len() as u64).to_le_bytes());
        for chunk in values.chunks(4096) {
            self.0.update(&encode(chunk));
        }
    }
}
