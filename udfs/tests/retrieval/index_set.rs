//! Index sets: the indexes of one run published together, or not at all.

use std::path::Path;
use std::sync::Barrier;

use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::store::{INDEX_SET_FILE, IndexLocation, IndexSet, LoadIndex, StagedSet, StoreError};

/// The indexes of every set in these tests.
const NAMES: [&str; 2] = ["lexical", "titles"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn set_in(dir: &Path) -> IndexSet {
    IndexSet::new(dir.to_str().unwrap()).unwrap()
}

/// Stages a generation whose every index holds `docs` documents, so that
/// sets are told apart by their document counts.
fn stage(set: &IndexSet, docs: usize) -> StagedSet {
    let staged = set.stage();
    let texts: Vec<String> = (0..docs).map(|i| format!("word{i} common")).collect();
    let index = Bm25Index::build(&texts, &Bm25Params::default()).unwrap();
    for name in NAMES {
        index
            .write(&IndexLocation::new(staged.folder(), name).unwrap(), true)
            .unwrap();
    }
    staged
}

/// The document counts of the published indexes.
fn published_docs(set: &IndexSet) -> Vec<usize> {
    NAMES
        .iter()
        .map(|name| {
            let location = runtime().block_on(set.location(name)).unwrap();
            Bm25Index::load(&location).unwrap().num_docs()
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_published_set_is_found_by_name_and_its_generation_is_all_the_folder_holds() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_in(dir.path());
    assert!(runtime().block_on(set.published(&NAMES)).unwrap().is_empty());
    let staged = stage(&set, 3);
    let published = runtime().block_on(set.publish(&staged, &NAMES, false)).unwrap();
    assert!(published.notes.is_empty(), "{:?}", published.notes);
    assert_eq!(published_docs(&set), [3, 3]);
    assert_eq!(runtime().block_on(set.published(&NAMES)).unwrap(), NAMES);
    assert_eq!(entries(dir.path()), [INDEX_SET_FILE, staged.generation()]);
}

#[test]
fn without_override_an_existing_set_stays_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_in(dir.path());
    let first = stage(&set, 3);
    runtime().block_on(set.publish(&first, &NAMES, false)).unwrap();
    let second = stage(&set, 2);
    let error = runtime().block_on(set.publish(&second, &NAMES, false)).unwrap_err();
    assert!(matches!(error, StoreError::AlreadyExists { .. }), "{error}");
    runtime().block_on(set.discard(&second));
    assert_eq!(published_docs(&set), [3, 3]);
    assert_eq!(entries(dir.path()), [INDEX_SET_FILE, first.generation()]);
}

#[test]
fn override_replaces_the_set_and_removes_the_old_generation_and_older_layout_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_in(dir.path());
    // A folder written before sets: one index directly inside.
    Bm25Index::build(&["alpha"], &Bm25Params::default())
        .unwrap()
        .write(
            &IndexLocation::new(dir.path().to_str().unwrap(), "lexical").unwrap(),
            false,
        )
        .unwrap();
    assert_eq!(runtime().block_on(set.published(&NAMES)).unwrap(), ["lexical"]);
    let staged = stage(&set, 2);
    let error = runtime().block_on(set.publish(&staged, &NAMES, false)).unwrap_err();
    assert!(matches!(error, StoreError::AlreadyExists { .. }), "{error}");

    runtime().block_on(set.publish(&staged, &NAMES, true)).unwrap();
    assert_eq!(published_docs(&set), [2, 2]);
    assert_eq!(entries(dir.path()), [INDEX_SET_FILE, staged.generation()]);
    let next = stage(&set, 4);
    runtime().block_on(set.publish(&next, &NAMES, true)).unwrap();
    assert_eq!(published_docs(&set), [4, 4]);
    assert_eq!(entries(dir.path()), [INDEX_SET_FILE, next.generation()]);
}

#[test]
fn a_set_missing_one_of_its_indexes_is_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_in(dir.path());
    let staged = stage(&set, 2);
    let error = runtime()
        .block_on(set.publish(&staged, &["lexical", "titles", "vectors"], false))
        .unwrap_err();
    assert!(error.to_string().contains("vectors"), "{error}");
    assert!(runtime().block_on(set.current()).unwrap().is_none());
}

#[test]
fn a_run_that_never_publishes_leaves_the_published_set_and_is_reported_later() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_in(dir.path());
    let first = stage(&set, 3);
    runtime().block_on(set.publish(&first, &NAMES, false)).unwrap();
    // Killed after writing its indexes, before publishing them.
    let interrupted = stage(&set, 5);
    assert_eq!(published_docs(&set), [3, 3]);

    let next = stage(&set, 4);
    let published = runtime().block_on(set.publish(&next, &NAMES, true)).unwrap();
    assert_eq!(published_docs(&set), [4, 4]);
    assert!(
        published.notes.len() == 1 && published.notes[0].contains(interrupted.generation()),
        "{:?}",
        published.notes
    );
    // Reported, not removed: it may belong to a run still writing.
    assert!(dir.path().join(interrupted.generation()).exists());
}

#[test]
fn of_two_runs_writing_one_folder_at_once_one_complete_set_is_published() {
    for overwrite in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let set = set_in(dir.path());
        let start = Barrier::new(2);
        let outcomes: Vec<(StagedSet, Result<(), StoreError>)> = std::thread::scope(|s| {
            let runs: Vec<_> = [2, 3]
                .into_iter()
                .map(|docs| {
                    let (set, start) = (&set, &start);
                    s.spawn(move || {
                        let staged = stage(set, docs);
                        start.wait();
                        let outcome = runtime().block_on(set.publish(&staged, &NAMES, overwrite));
                        if outcome.is_err() {
                            runtime().block_on(set.discard(&staged));
                        }
                        (staged, outcome.map(drop))
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let docs = published_docs(&set);
        assert!(docs == [2, 2] || docs == [3, 3], "{docs:?}");
        let winner = runtime().block_on(set.current()).unwrap().unwrap().generation;
        if !overwrite {
            let refused: Vec<_> = outcomes.iter().filter(|(_, o)| o.is_err()).collect();
            assert_eq!(refused.len(), 1, "exactly one run is refused");
            assert!(matches!(refused[0].1, Err(StoreError::AlreadyExists { .. })));
            assert_eq!(entries(dir.path()), [INDEX_SET_FILE.to_string(), winner]);
        } else {
            assert!(outcomes.iter().all(|(_, o)| o.is_ok()));
        }
    }
}

#[test]
fn an_unreadable_pointer_is_an_error_until_a_run_replaces_it_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_in(dir.path());
    std::fs::write(dir.path().join(INDEX_SET_FILE), "{ not json").unwrap();
    let error = runtime().block_on(set.published(&NAMES)).unwrap_err();
    assert!(error.to_string().contains(INDEX_SET_FILE), "{error}");
    let staged = stage(&set, 2);
    assert!(runtime().block_on(set.publish(&staged, &NAMES, false)).is_err());
    let published = runtime().block_on(set.publish(&staged, &NAMES, true)).unwrap();
    assert!(published.notes[0].contains("unreadable"), "{:?}", published.notes);
    assert_eq!(published_docs(&set), [2, 2]);
}
