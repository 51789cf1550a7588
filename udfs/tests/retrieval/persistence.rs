use std::path::{Path, PathBuf};

use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidError, PlaidIndex, SearchParams};
use nodefusion_udfs::store::{IndexHandle, IndexLocation, LoadIndex, MANIFEST_FILE, StoreError};

use crate::support::{hebrew_like_corpus, multivector_corpus};

fn small_plaid() -> (PlaidIndex, Vec<Vec<f32>>) {
    let c = multivector_corpus(300, 8, 128, 11);
    let docs = DocEmbeddings::from_docs(c.dim, &c.docs).unwrap();
    let ids: Vec<String> = (0..docs.len()).map(|i| format!("passage-{i}")).collect();
    let index = PlaidIndex::build(&docs, &PlaidBuildParams::default())
        .unwrap()
        .with_external_ids(&ids)
        .unwrap();
    (index, c.queries)
}

fn small_bm25() -> (Bm25Index, Vec<String>) {
    let (docs, queries) = hebrew_like_corpus(400, 30, 1500, 12);
    let ids: Vec<String> = (0..docs.len()).map(|i| format!("verse-{i}")).collect();
    (
        Bm25Index::build(&docs, &Bm25Params::default())
            .unwrap()
            .with_external_ids(&ids)
            .unwrap(),
        queries,
    )
}

/// The single generation folder of an index.
fn generation_dir(index_dir: &Path) -> PathBuf {
    let gens: Vec<PathBuf> = std::fs::read_dir(index_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(gens.len(), 1, "expected one generation folder, found {gens:?}");
    gens[0].clone()
}

fn location(dir: &tempfile::TempDir, name: &str) -> IndexLocation {
    IndexLocation::new(dir.path().to_str().unwrap(), name).unwrap()
}

#[test]
fn plaid_round_trip_gives_identical_results() {
    let (index, queries) = small_plaid();
    let dir = tempfile::tempdir().unwrap();
    let loc = location(&dir, "plaid");
    let manifest = index.write(&loc, false).unwrap();
    assert_eq!(manifest.kind, "plaid");
    let loaded = PlaidIndex::load(&loc).unwrap();
    let params = SearchParams::for_k(10);
    assert_eq!(
        loaded.search_batch(&queries, &params).unwrap(),
        index.search_batch(&queries, &params).unwrap()
    );
    assert_eq!(loaded.external_id(7), Some("passage-7"));
    assert_eq!(loaded.storage(), index.storage());
    assert_eq!(loaded.decompress(3), index.decompress(3));
}

#[test]
fn bm25_round_trip_gives_identical_results() {
    let (index, queries) = small_bm25();
    let dir = tempfile::tempdir().unwrap();
    let loc = location(&dir, "bm25");
    index.write(&loc, false).unwrap();
    let loaded = Bm25Index::load(&loc).unwrap();
    assert_eq!(loaded.search_batch(&queries, 10), index.search_batch(&queries, 10));
    assert_eq!(loaded.params(), index.params());
    assert_eq!(loaded.external_id(5), Some("verse-5"));
    assert_eq!(loaded.num_postings(), index.num_postings());
}

#[test]
fn handles_serialise_and_load_from_a_file_url() {
    let (index, queries) = small_bm25();
    let dir = tempfile::tempdir().unwrap();
    index.write(&location(&dir, "bm25"), false).unwrap();
    let url = format!("file://{}/bm25", dir.path().display());
    let handle: IndexHandle<Bm25Index> = serde_json::from_str(&format!(r#"{{"uri":"{url}"}}"#)).unwrap();
    assert_eq!(
        handle.load().unwrap().search(&queries[0], 5),
        index.search(&queries[0], 5)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_load_works_inside_an_async_runtime() {
    let (index, queries) = small_plaid();
    let dir = tempfile::tempdir().unwrap();
    index.write_async(&location(&dir, "p"), false).await.unwrap();
    let handle = IndexHandle::<PlaidIndex>::new(format!("{}/p", dir.path().display()));
    let blocking = handle.load().unwrap();
    let async_loaded = handle.load_async().await.unwrap();
    assert_eq!(
        blocking.search(&queries[0], 10).unwrap(),
        async_loaded.search(&queries[0], 10).unwrap()
    );
}

#[test]
fn corrupted_file_error_names_the_file() {
    let (index, _) = small_plaid();
    let dir = tempfile::tempdir().unwrap();
    index.write(&location(&dir, "plaid"), false).unwrap();
    let file = generation_dir(&dir.path().join("plaid")).join("residuals.u8");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xFF;
    std::fs::write(&file, bytes).unwrap();
    let err = PlaidIndex::load(&location(&dir, "plaid")).unwrap_err();
    assert!(
        matches!(err, PlaidError::Store(StoreError::ChecksumMismatch { .. })),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&*file.to_string_lossy()), "{msg}");
    assert!(msg.contains("is corrupted: expected sha256"), "{msg}");
}

#[test]
fn truncated_file_error_names_the_file() {
    let (index, _) = small_bm25();
    let dir = tempfile::tempdir().unwrap();
    index.write(&location(&dir, "bm25"), false).unwrap();
    let file = generation_dir(&dir.path().join("bm25")).join("postings.score");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let msg = Bm25Index::load(&location(&dir, "bm25")).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "index file '{}' is truncated or overwritten: expected {} bytes, found {}",
            file.display(),
            bytes.len(),
            bytes.len() / 2
        )
    );
}

#[test]
fn missing_file_error_names_the_file() {
    let (index, _) = small_bm25();
    let dir = tempfile::tempdir().unwrap();
    index.write(&location(&dir, "bm25"), false).unwrap();
    let file = generation_dir(&dir.path().join("bm25")).join("vocab.str");
    std::fs::remove_file(&file).unwrap();
    let msg = Bm25Index::load(&location(&dir, "bm25")).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "index file '{}' is listed in the manifest but missing",
            file.display()
        )),
        "{msg}"
    );
}

#[test]
fn foreign_folder_is_not_an_index() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("stuff")).unwrap();
    std::fs::write(dir.path().join("stuff/notes.txt"), "hello").unwrap();
    let msg = PlaidIndex::load(&location(&dir, "stuff")).unwrap_err().to_string();
    let root = dir.path().join("stuff");
    assert_eq!(
        msg,
        format!(
            "no nodefusion index at '{}': expected the manifest '{}/{MANIFEST_FILE}', which does not exist (the location holds other objects, e.g. 'notes.txt')",
            root.display(),
            root.display()
        )
    );
    let msg = Bm25Index::load(&location(&dir, "nothing_here"))
        .unwrap_err()
        .to_string();
    assert!(msg.ends_with("(the location is empty or does not exist)"), "{msg}");
}

#[test]
fn manifest_of_another_format_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("x")).unwrap();
    let manifest = dir.path().join("x").join(MANIFEST_FILE);
    std::fs::write(&manifest, r#"{"version": 3, "files": []}"#).unwrap();
    let msg = Bm25Index::load(&location(&dir, "x")).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "'{}' is not a valid nodefusion index manifest: missing field",
            manifest.display()
        )),
        "{msg}"
    );
}

#[test]
fn opening_an_index_as_the_wrong_kind_is_an_error() {
    let (index, _) = small_bm25();
    let dir = tempfile::tempdir().unwrap();
    index.write(&location(&dir, "bm25"), false).unwrap();
    let msg = PlaidIndex::load(&location(&dir, "bm25")).unwrap_err().to_string();
    assert!(msg.ends_with("is a 'bm25' index, expected a 'plaid' index"), "{msg}");
}

#[test]
fn index_from_a_newer_incompatible_version_is_rejected() {
    let (index, _) = small_bm25();
    let dir = tempfile::tempdir().unwrap();
    index.write(&location(&dir, "bm25"), false).unwrap();
    let path = dir.path().join("bm25").join(MANIFEST_FILE);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["format_version"] = 7.into();
    m["min_reader_version"] = 5.into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let msg = Bm25Index::load(&location(&dir, "bm25")).unwrap_err().to_string();
    assert!(
        msg.ends_with("has format version 7 and needs a reader of version >= 5; this build reads versions 1..=1"),
        "{msg}"
    );
}

#[test]
fn override_false_on_an_existing_index_is_an_error() {
    let (index, queries) = small_bm25();
    let dir = tempfile::tempdir().unwrap();
    let loc = location(&dir, "bm25");
    index.write(&loc, false).unwrap();
    let err = index.write(&loc, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "an index already exists at '{}' and override = false; pass override = true to replace it",
            dir.path().join("bm25").display()
        )
    );
    // Nothing was staged and the index is intact.
    generation_dir(&dir.path().join("bm25"));
    assert_eq!(
        Bm25Index::load(&loc).unwrap().search(&queries[0], 5),
        index.search(&queries[0], 5)
    );
}

#[test]
fn override_true_replaces_the_index_and_removes_the_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let loc = location(&dir, "idx");
    let first = Bm25Index::build(&["alpha beta", "gamma"], &Bm25Params::default()).unwrap();
    let first_manifest = first.write(&loc, false).unwrap();
    let (second, queries) = small_bm25();
    let second_manifest = second.write(&loc, true).unwrap();
    assert_ne!(first_manifest.generation, second_manifest.generation);
    let loaded = Bm25Index::load(&loc).unwrap();
    assert_eq!(loaded.num_docs(), second.num_docs());
    assert_eq!(loaded.search(&queries[1], 5), second.search(&queries[1], 5));
    assert_eq!(
        generation_dir(&dir.path().join("idx")),
        dir.path().join("idx").join(&second_manifest.generation)
    );
}

#[test]
fn a_half_written_generation_is_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let loc = location(&dir, "idx");
    let (index, queries) = small_bm25();
    index.write(&loc, false).unwrap();
    // A writer that crashed before publishing leaves a staging folder only.
    let staging = dir.path().join("idx").join("gen-crashed");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("vocab.str"), "partial").unwrap();
    assert_eq!(
        Bm25Index::load(&loc).unwrap().search(&queries[0], 5),
        index.search(&queries[0], 5)
    );
}
