//! Fuzzing with proptest: arbitrary text through the Hebrew normaliser and
//! the BM25 tokenizer, and corrupted files through every index reader.
//!
//! The default run (with the other tests) tries a few hundred cases per
//! target; a long run sets the count:
//!
//! ```text
//! NODEFUSION_FUZZ_CASES=20000 cargo test -p nodefusion-udfs --test fuzz --release
//! ```
//!
//! The corrupted files are re-signed (size and sha256 in the manifest
//! updated), so that they reach the readers' own checks instead of stopping
//! at the checksum: whatever the bytes, loading gives an index or an error
//! naming the file, and a loaded index answers searches without panicking.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nodefusion_udfs::bm25::{Bm25Index, Bm25Params, Tokenizer};
use nodefusion_udfs::hebrew::{HebrewNormalizer, normalize};
use nodefusion_udfs::lookup::EmbeddingLookup;
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidIndex, SearchParams};
use nodefusion_udfs::store::{IndexLocation, LoadIndex, MANIFEST_FILE};
use proptest::prelude::*;
use proptest::test_runner::Config;
use sha2::{Digest, Sha256};

fn config() -> Config {
    let cases = std::env::var("NODEFUSION_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Characters weighted towards what the normaliser treats specially.
fn text() -> impl Strategy<Value = String> {
    let character = prop_oneof![
        3 => proptest::char::range('\u{0590}', '\u{05FF}'),
        1 => proptest::char::range('\u{FB1D}', '\u{FB4F}'),
        1 => Just('\u{034F}'),
        2 => proptest::char::range(' ', '~'),
        1 => prop_oneof![Just(' '), Just('\n'), Just('\t'), Just('\u{00A0}'), Just('\u{200F}')],
        1 => any::<char>(),
    ];
    proptest::collection::vec(character, 0..64).prop_map(|chars| chars.into_iter().collect())
}

/// Cantillation and niqqud: none survive normalising. (Presentation forms
/// that are letters become their base letters; the block's unassigned code
/// points and its few non-letters stay, which idempotence covers.)
fn is_mark(c: char) -> bool {
    ('\u{0591}'..='\u{05BD}').contains(&c) || "\u{05BF}\u{05C1}\u{05C2}\u{05C4}\u{05C5}\u{05C7}".contains(c)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_normaliser_is_idempotent_and_removes_every_mark(text in text(), fold_finals in any::<bool>()) {
        let normalizer = HebrewNormalizer { fold_finals };
        let once = normalizer.normalize(&text);
        prop_assert_eq!(&normalizer.normalize(&once), &once);
        prop_assert!(!once.chars().any(is_mark), "marks left in {:?}", once);
        if fold_finals {
            prop_assert!(!once.chars().any(|c| "ךםןףץ".contains(c)), "final letters left in {:?}", once);
        }
    }

    #[test]
    fn tokens_are_words_and_tokenizing_normalised_text_changes_nothing(text in text(), lowercase in any::<bool>()) {
        let mut tokenizer = Tokenizer::default();
        tokenizer.lowercase = lowercase;
        let tokens = tokenizer.tokenize(&text);
        for token in &tokens {
            prop_assert!(!token.is_empty() && !token.chars().any(char::is_whitespace), "{:?}", token);
        }
        prop_assert_eq!(tokenizer.tokenize(&tokenizer.hebrew.normalize(&text)), tokens.clone());
        prop_assert_eq!(normalize(&normalize(&text)), normalize(&text));
    }
}

/// The pristine indexes, written once: (name, folder).
fn pristine() -> &'static [(&'static str, PathBuf)] {
    static INDEXES: OnceLock<Vec<(&'static str, PathBuf)>> = OnceLock::new();
    INDEXES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nodefusion-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let texts: Vec<String> = (0..40)
            .map(|i| format!("מילה{} common word{} אלהים {}", i % 7, i % 5, i))
            .collect();
        let ids: Vec<String> = (0..texts.len()).map(|i| format!("doc-{i}")).collect();
        let location = |name: &str| IndexLocation::new(dir.to_str().unwrap(), name).unwrap();
        Bm25Index::build(&texts, &Bm25Params::default())
            .unwrap()
            .with_external_ids(&ids)
            .unwrap()
            .write(&location("bm25"), false)
            .unwrap();
        let docs = embeddings(40, 8);
        PlaidIndex::build(&docs, &PlaidBuildParams::default())
            .unwrap()
            .with_external_ids(&ids)
            .unwrap()
            .write(&location("plaid"), false)
            .unwrap();
        EmbeddingLookup::new(docs, &ids)
            .unwrap()
            .write(&location("lookup"), false)
            .unwrap();
        ["bm25", "plaid", "lookup"].map(|n| (n, dir.join(n))).to_vec()
    })
}

const DIM: usize = 16;

/// `docs` documents of `tokens` unit vectors, from a fixed generator.
fn embeddings(docs: usize, tokens: usize) -> DocEmbeddings {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let docs: Vec<Vec<f32>> = (0..docs)
        .map(|_| {
            let mut doc = Vec::with_capacity(tokens * DIM);
            for _ in 0..tokens {
                let token: Vec<f32> = (0..DIM).map(|_| next()).collect();
                let norm = token.iter().map(|x| x * x).sum::<f32>().sqrt();
                doc.extend(token.iter().map(|x| x / norm));
            }
            doc
        })
        .collect();
    DocEmbeddings::from_docs(DIM, &docs).unwrap()
}

/// A change to one data file's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set the byte at `at % len` to `value`.
    Byte { at: usize, value: u8 },
    /// Write `value` as 8 little-endian bytes at `at % len` (offsets, counts).
    Word { at: usize, value: u64 },
    /// Keep the first `at % len` bytes.
    Truncate { at: usize },
    /// Append bytes.
    Append { bytes: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Byte { at, value }),
        (
            any::<usize>(),
            prop_oneof![any::<u64>(), Just(u64::MAX), Just(u32::MAX as u64), Just(0), 0..1000u64]
        )
            .prop_map(|(at, value)| Mutation::Word { at, value }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        proptest::collection::vec(any::<u8>(), 1..24).prop_map(|bytes| Mutation::Append { bytes }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Byte { at, value } if !bytes.is_empty() => bytes[at % len] = *value,
        Mutation::Word { at, value } if !bytes.is_empty() => {
            for (i, b) in value.to_le_bytes().iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at % len + i) {
                    *slot = *b;
                }
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::Append { bytes: extra } => bytes.extend_from_slice(extra),
        _ => {}
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Copies index `which` (modulo the three), applies `mutation` to its data
/// file `file` (modulo their number) and re-signs it in the manifest.
/// Returns the copy's folder and the file's name.
fn corrupted_copy(which: usize, file: usize, mutation: &Mutation, case: &Path) -> (&'static str, PathBuf, String) {
    let (kind, folder) = &pristine()[which % 3];
    let copy = case.join(kind);
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(folder, &copy);
    let manifest_path = copy.join(MANIFEST_FILE);
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let generation = manifest["generation"].as_str().unwrap().to_owned();
    let files = manifest["files"].as_array_mut().unwrap();
    let n = files.len();
    let entry = &mut files[file % n];
    let name = entry["name"].as_str().unwrap().to_owned();
    let path = copy.join(&generation).join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    apply(&mut bytes, mutation);
    std::fs::write(&path, &bytes).unwrap();
    entry["bytes"] = bytes.len().into();
    entry["sha256"] = format!("{:x}", Sha256::digest(&bytes)).into();
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    (kind, copy, name)
}

/// Loads the index and uses it; `Err` holds the load error's message.
fn load_and_use(kind: &str, folder: &Path) -> Result<(), String> {
    let location = IndexLocation::parse(folder.to_str().unwrap()).unwrap();
    let query = embeddings(1, 4);
    let query = query.doc(0).unwrap();
    match kind {
        "bm25" => {
            let index = Bm25Index::load(&location).map_err(|e| e.to_string())?;
            for hit in index.search("מילה3 common אלהים word1", 10) {
                let _ = index.external_id(hit.doc);
            }
        }
        "plaid" => {
            let index = PlaidIndex::load(&location).map_err(|e| e.to_string())?;
            for k in [1, 5, 100] {
                if let Ok(hits) = index.search_with(query, &SearchParams::for_k(k)) {
                    for hit in hits {
                        let _ = index.external_id(hit.doc);
                    }
                }
            }
        }
        _ => {
            let lookup = EmbeddingLookup::load(&location).map_err(|e| e.to_string())?;
            for id in ["doc-0", "doc-39", "nobody"] {
                if let Some(doc) = lookup.id_of(id) {
                    let _ = lookup.docs().doc(doc);
                    let _ = lookup.external_id(doc);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_corrupted_index_file_is_an_error_naming_it_or_a_usable_index(
        which in 0..3usize,
        file in 0..16usize,
        mutation in mutation(),
    ) {
        let case = std::env::temp_dir().join(format!("nodefusion-fuzz-case-{}", std::process::id()));
        let (kind, folder, name) = corrupted_copy(which, file, &mutation, &case);
        let outcome = catch_unwind(AssertUnwindSafe(|| load_and_use(kind, &folder)));
        let _ = std::fs::remove_dir_all(&case);
        match outcome {
            Err(_) => prop_assert!(false, "{kind} panicked on {name} after {mutation:?}"),
            Ok(Err(message)) => prop_assert!(
                message.contains(&name),
                "{kind}, {name} after {mutation:?}: the error does not name the file: {message}"
            ),
            Ok(Ok(())) => {}
        }
    }
}
