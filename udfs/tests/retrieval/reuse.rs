//! Reusing an index built from the same source instead of building it again
//! (`SaveIndex::reuse`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::plaid::{PlaidBuildParams, PlaidIndex, SearchParams};
use nodefusion_udfs::store::{IndexLocation, IndexSource, LoadIndex, SaveIndex, SourceDigest, StoreError};
use object_store::memory::InMemory;

use crate::support::{MultiVectorCorpus, hebrew_like_corpus, multivector_corpus};

fn corpus() -> (MultiVectorCorpus, Vec<String>) {
    let c = multivector_corpus(200, 6, 64, 21);
    let ids = (0..c.docs.len()).map(|i| format!("passage-{i}")).collect();
    (c, ids)
}

fn plaid_source(dim: usize, docs: &[Vec<f32>], ids: &[String]) -> SourceDigest {
    IndexSource::of::<PlaidIndex>()
        .settings(&PlaidBuildParams::default())
        .u32s(&[dim as u32])
        .floats(docs)
        .strs(ids)
        .finish()
}

fn build_plaid(c: &MultiVectorCorpus, ids: &[String]) -> PlaidIndex {
    let docs = DocEmbeddings::from_docs(c.dim, &c.docs).unwrap();
    PlaidIndex::build(&docs, &PlaidBuildParams::default())
        .unwrap()
        .with_external_ids(ids)
        .unwrap()
}

fn location(dir: &Path, name: &str) -> IndexLocation {
    IndexLocation::new(dir.to_str().unwrap(), name).unwrap()
}

/// The data files of an index folder (its one generation), by name.
fn data_files(index: &Path) -> Vec<std::path::PathBuf> {
    let generation = std::fs::read_dir(index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a generation folder");
    let mut files: Vec<_> = std::fs::read_dir(generation)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn an_index_built_from_the_same_source_is_copied_and_searches_the_same() {
    let (c, ids) = corpus();
    let dir = tempfile::tempdir().unwrap();
    let source = plaid_source(c.dim, &c.docs, &ids);
    let built = build_plaid(&c, &ids);
    let first = location(dir.path(), "first/plaid");
    let written = built.save_built_from(&first, false, &source).unwrap();
    assert_eq!(written.source.as_deref(), Some(source.as_str()));

    let second = location(dir.path(), "second/plaid");
    let copied = PlaidIndex::reuse(&second, &first, &source, false)
        .unwrap()
        .expect("the same source is reused");
    assert_eq!(copied.files, written.files);
    assert_eq!(copied.source, written.source);
    assert_eq!((&copied.params, &copied.counts), (&written.params, &written.counts));

    let loaded = PlaidIndex::load(&second).unwrap();
    let params = SearchParams::for_k(10);
    assert_eq!(
        loaded.search_batch(&c.queries, &params).unwrap(),
        built.search_batch(&c.queries, &params).unwrap()
    );
    // On a local disk the copy is a hard link: no byte is written twice.
    for (a, b) in data_files(&dir.path().join("first/plaid"))
        .iter()
        .zip(data_files(&dir.path().join("second/plaid")))
    {
        assert_eq!(
            a.metadata().unwrap().ino(),
            b.metadata().unwrap().ino(),
            "{}",
            b.display()
        );
    }
    // The copy lives on when the original goes.
    std::fs::remove_dir_all(dir.path().join("first")).unwrap();
    assert_eq!(PlaidIndex::load(&second).unwrap().num_docs(), c.docs.len());
}

#[test]
fn another_source_another_kind_or_no_record_is_not_reused_and_writes_nothing() {
    let (c, ids) = corpus();
    let dir = tempfile::tempdir().unwrap();
    let source = plaid_source(c.dim, &c.docs, &ids);
    let from = location(dir.path(), "from/plaid");
    let to = location(dir.path(), "to/plaid");

    // Nothing there yet.
    assert!(PlaidIndex::reuse(&to, &from, &source, false).unwrap().is_none());
    build_plaid(&c, &ids).save_built_from(&from, false, &source).unwrap();

    // One passage id differs.
    let mut other_ids = ids.clone();
    other_ids[17] = "renamed".into();
    let other = plaid_source(c.dim, &c.docs, &other_ids);
    assert_ne!(other, source);
    assert!(PlaidIndex::reuse(&to, &from, &other, false).unwrap().is_none());

    // One float differs by one bit.
    let mut nudged = c.docs.clone();
    nudged[3][5] = f32::from_bits(nudged[3][5].to_bits() ^ 1);
    assert!(
        PlaidIndex::reuse(&to, &from, &plaid_source(c.dim, &nudged, &ids), false)
            .unwrap()
            .is_none()
    );

    // The same digest asked of another kind.
    assert!(Bm25Index::reuse(&to, &from, &source, false).unwrap().is_none());

    // An index written without a source is never reused.
    let unrecorded = location(dir.path(), "unrecorded/plaid");
    build_plaid(&c, &ids).write(&unrecorded, false).unwrap();
    assert!(PlaidIndex::reuse(&to, &unrecorded, &source, false).unwrap().is_none());

    assert!(!dir.path().join("to").exists(), "a refused reuse writes nothing");
}

#[test]
fn a_missing_file_fails_the_reuse_and_leaves_nothing_behind() {
    let (docs, _) = hebrew_like_corpus(120, 5, 800, 4);
    let ids: Vec<String> = (0..docs.len()).map(|i| format!("verse-{i}")).collect();
    let source = IndexSource::of::<Bm25Index>()
        .settings(&Bm25Params::default())
        .strs(&docs)
        .strs(&ids)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let from = location(dir.path(), "from/bm25");
    Bm25Index::build(&docs, &Bm25Params::default())
        .unwrap()
        .with_external_ids(&ids)
        .unwrap()
        .save_built_from(&from, false, &source)
        .unwrap();
    let gone = data_files(&dir.path().join("from/bm25")).pop().unwrap();
    std::fs::remove_file(&gone).unwrap();

    let to = location(dir.path(), "to/bm25");
    let err = Bm25Index::reuse(&to, &from, &source, false).unwrap_err();
    assert!(matches!(err, StoreError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains(&gone.display().to_string()), "{err}");
    let left: Vec<_> = walk(&dir.path().join("to"));
    assert!(left.is_empty(), "the partial copy is removed: {left:?}");
}

/// Every file below `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}

#[test]
fn an_index_in_another_store_is_copied_through_memory() {
    let (c, ids) = corpus();
    let source = plaid_source(c.dim, &c.docs, &ids);
    let a = IndexLocation::from_store("memory://a/plaid", Arc::new(InMemory::new()), "plaid".into());
    let b = IndexLocation::from_store("memory://b/plaid", Arc::new(InMemory::new()), "plaid".into());
    let built = build_plaid(&c, &ids);
    built.save_built_from(&a, false, &source).unwrap();
    assert!(PlaidIndex::reuse(&b, &a, &source, false).unwrap().is_some());
    let params = SearchParams::for_k(5);
    assert_eq!(
        PlaidIndex::load(&b).unwrap().search_batch(&c.queries, &params).unwrap(),
        built.search_batch(&c.queries, &params).unwrap()
    );
    // Without override an index already there is kept.
    let err = PlaidIndex::reuse(&b, &a, &source, false).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
}
