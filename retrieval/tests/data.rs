//! Loading passages, queries and ground truths from Parquet, and the errors
//! bad input gets.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::parquet::arrow::ArrowWriter;
use nodefusion_retrieval::data::{
    GroundTruth, Passage, Query, check_ground_truths, load_ground_truths, load_passages, load_queries,
};

// The pipeline benchmark's local WebDAV-listing HTTP server; its latency knob is not needed here.
#[allow(dead_code)]
#[path = "../examples/bench_support/http_server.rs"]
mod http_server;

fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nodefusion-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn passages_load_from_a_directory_of_shards_in_any_url_form() {
    let dir = temp_dir("shards");
    for shard in 0..3 {
        let ids: Vec<String> = (0..4).map(|i| format!("p{shard}-{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        write(
            &dir.join(format!("part-{shard}.parquet")),
            vec![("uuid", strings(&ids)), ("text", strings(&["a", "b", "c", "d"]))],
        );
    }
    let plain = load_passages(dir.to_str().unwrap(), 4).await.unwrap();
    assert_eq!(plain.len(), 12);
    let url = format!("file://{}/", dir.display());
    let mut via_url = load_passages(&url, 1).await.unwrap();
    let mut plain_sorted = plain.clone();
    plain_sorted.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    via_url.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    assert_eq!(via_url, plain_sorted);
    assert!(plain.contains(&Passage {
        uuid: "p1-2".into(),
        text: "c".into()
    }));
}

#[tokio::test]
async fn paths_are_paths_and_file_urls_are_decoded() {
    let dir = temp_dir("paths").join("a [b] *c? d%20e");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.parquet");
    write(&file, vec![("uuid", strings(&["p"])), ("text", strings(&["t"]))]);
    // A sibling that a glob reading of the name would also match.
    let sibling = dir.parent().unwrap().join("a b *c? d%20e");
    std::fs::create_dir_all(&sibling).unwrap();
    write(
        &sibling.join("y.parquet"),
        vec![("uuid", strings(&["q"])), ("text", strings(&["u"]))],
    );
    let url = url::Url::from_file_path(&file).unwrap().to_string();
    let localhost = url.replacen("file://", "file://localhost", 1);
    let folder_url = url::Url::from_directory_path(&dir).unwrap().to_string();
    for location in [
        file.display().to_string(),
        dir.display().to_string(),
        url,
        localhost,
        folder_url,
    ] {
        let rows = load_passages(&location, 1)
            .await
            .unwrap_or_else(|e| panic!("{location}: {e}"));
        assert_eq!(rows.len(), 1, "{location}");
        assert_eq!(rows[0].uuid, "p", "{location}");
    }
    let err = load_passages("file://elsewhere/x.parquet", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("local path"), "{err}");
}

#[tokio::test]
async fn a_null_value_names_its_column_and_row() {
    let dir = temp_dir("nulls");
    let file = dir.join("p.parquet");
    let texts: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("b"), None, None]));
    write(
        &file,
        vec![("uuid", strings(&["p0", "p1", "p2", "p3"])), ("text", texts)],
    );
    let err = load_passages(file.to_str().unwrap(), 1).await.unwrap_err().to_string();
    assert!(
        err.ends_with("column 'text' is null in row 2 (counting from 0, 2 null rows)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_column_is_named_with_the_columns_found() {
    let dir = temp_dir("missing");
    let file = dir.join("p.parquet");
    write(&file, vec![("id", strings(&["a"])), ("text", strings(&["x"]))]);
    let err = load_passages(file.to_str().unwrap(), 1).await.unwrap_err().to_string();
    assert!(err.ends_with("missing column 'uuid'; found: id, text"), "{err}");
}

#[tokio::test]
async fn a_wrong_column_type_names_both_types() {
    let dir = temp_dir("types");
    let file = dir.join("q.parquet");
    write(
        &file,
        vec![
            ("uuid", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("text", strings(&["x"])),
        ],
    );
    let err = load_queries(file.to_str().unwrap(), 1).await.unwrap_err().to_string();
    assert!(err.ends_with("column 'uuid' is Int64, expected a string"), "{err}");
}

#[tokio::test]
async fn duplicate_ids_and_empty_corpora_are_rejected() {
    let dir = temp_dir("dups");
    let file = dir.join("p.parquet");
    write(
        &file,
        vec![("uuid", strings(&["a", "b", "a"])), ("text", strings(&["x", "y", "z"]))],
    );
    let err = load_passages(file.to_str().unwrap(), 1).await.unwrap_err().to_string();
    assert!(err.ends_with("duplicate passage uuid 'a'"), "{err}");
    let empty = dir.join("empty.parquet");
    write(&empty, vec![("uuid", strings(&[])), ("text", strings(&[]))]);
    let err = load_passages(empty.to_str().unwrap(), 1).await.unwrap_err().to_string();
    assert!(err.ends_with("the passages table is empty"), "{err}");
}

#[tokio::test]
async fn ground_truths_accept_any_integer_relevance_and_must_name_known_ids() {
    let dir = temp_dir("qrels");
    let file = dir.join("g.parquet");
    write(
        &file,
        vec![
            ("query_uuid", strings(&["q1", "q2"])),
            ("passage_uuid", strings(&["a", "zzz"])),
            ("relevance", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
        ],
    );
    let truths = load_ground_truths(file.to_str().unwrap(), 1).await.unwrap();
    assert_eq!(
        truths[0],
        GroundTruth {
            query_uuid: "q1".into(),
            passage_uuid: "a".into(),
            relevance: 1
        }
    );
    let queries = vec![
        Query {
            uuid: "q1".into(),
            text: "".into(),
        },
        Query {
            uuid: "q2".into(),
            text: "".into(),
        },
    ];
    let passages = vec![Passage {
        uuid: "a".into(),
        text: "".into(),
    }];
    let err = check_ground_truths(&truths, &queries, &passages)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "ground truth names unknown passage 'zzz' (1 such rows)");

    let unjudged: Vec<GroundTruth> = truths
        .iter()
        .map(|g| GroundTruth {
            relevance: 0,
            ..g.clone()
        })
        .collect();
    for none_relevant in [&unjudged[..], &[]] {
        let err = check_ground_truths(none_relevant, &queries, &passages)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("the ground truths judge no passage relevant"), "{err}");
    }
}

#[tokio::test]
async fn a_missing_file_is_a_read_error_naming_it() {
    let err = load_passages("/nonexistent/nodefusion/passages.parquet", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read /nonexistent/nodefusion/passages.parquet"),
        "{err}"
    );
}

#[tokio::test]
async fn passages_load_over_plain_http_from_one_file_or_a_listed_directory() {
    let dir = temp_dir("http");
    let shards = dir.join("shards");
    std::fs::create_dir_all(&shards).unwrap();
    for shard in 0..3 {
        let ids: Vec<String> = (0..4).map(|i| format!("h{shard}-{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        write(
            &shards.join(format!("part-{shard}.parquet")),
            vec![("uuid", strings(&ids)), ("text", strings(&["a", "b", "c", "d"]))],
        );
    }
    let server = http_server::HttpServer::start(&dir).unwrap();
    let one = load_passages(&format!("{}/shards/part-1.parquet", server.url()), 1)
        .await
        .unwrap();
    assert_eq!(
        one.iter().map(|p| p.uuid.as_str()).collect::<Vec<_>>(),
        ["h1-0", "h1-1", "h1-2", "h1-3"]
    );
    assert!(server.take_request_counts().contains_key("HEAD"));

    let mut all = load_passages(&format!("{}/shards/", server.url()), 3).await.unwrap();
    all.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    let mut local = load_passages(shards.to_str().unwrap(), 1).await.unwrap();
    local.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    assert_eq!(all.len(), 12);
    assert_eq!(all, local);
    assert_eq!(server.take_request_counts().get("PROPFIND"), Some(&1));

    let missing = format!("{}/shards/none.parquet", server.url());
    let err = load_passages(&missing, 1).await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("cannot read {missing}")), "{err}");
}

#[tokio::test]
async fn a_corrupt_shard_is_named_not_only_its_folder() {
    let dir = temp_dir("corrupt-shard");
    for shard in 0..3 {
        let ids: Vec<String> = (0..4).map(|i| format!("c{shard}-{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        write(
            &dir.join(format!("part-{shard}.parquet")),
            vec![("uuid", strings(&ids)), ("text", strings(&["a", "b", "c", "d"]))],
        );
    }
    let bad = dir.join("part-1.parquet");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_passages(dir.to_str().unwrap(), 2).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot read {}: shard {}: ", dir.display(), bad.display())),
        "{err}"
    );
}

#[tokio::test]
async fn dictionary_encoded_strings_are_accepted() {
    use datafusion::arrow::array::DictionaryArray;
    use datafusion::arrow::datatypes::Int32Type;
    let dir = temp_dir("dictionary");
    let dictionary =
        |values: &[&str]| -> ArrayRef { Arc::new(values.iter().copied().collect::<DictionaryArray<Int32Type>>()) };
    let path = dir.join("passages.parquet");
    write(
        &path,
        vec![
            ("uuid", dictionary(&["p0", "p1"])),
            ("text", dictionary(&["same", "same"])),
        ],
    );
    let passages = load_passages(path.to_str().unwrap(), 1).await.unwrap();
    assert_eq!(
        passages,
        [
            Passage {
                uuid: "p0".into(),
                text: "same".into()
            },
            Passage {
                uuid: "p1".into(),
                text: "same".into()
            }
        ]
    );
}
