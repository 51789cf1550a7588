//! The retrieval CLI on bad input, as a new user meets it: each case runs
//! the binary and checks its exit code, the first line of its message, and
//! that neither the index folder nor the output folder was touched.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::parquet::arrow::ArrowWriter;
use nodefusion_udfs::bm25::{Bm25Index, Bm25Params};
use nodefusion_udfs::store::{INDEX_SET_FILE, IndexLocation, IndexSet};

const BINARY: &str = env!("CARGO_BIN_EXE_nodefusion-retrieval");

fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) -> String {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path.display().to_string()
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn texts(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn integers(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

/// The input files of the cases, good and bad.
struct Files {
    dir: PathBuf,
    passages: String,
    queries: String,
    ground_truths: String,
}

impl Files {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn files(dir: &Path) -> Files {
    std::fs::create_dir_all(dir.join("shards")).unwrap();
    let passages = write(
        &dir.join("passages.parquet"),
        vec![
            ("uuid", texts(&["p0", "p1", "p2"])),
            ("text", texts(&["אבג", "דהו", "זחט"])),
        ],
    );
    let queries = write(
        &dir.join("queries.parquet"),
        vec![("uuid", texts(&["q0", "q1"])), ("text", texts(&["אבג", "זחט"]))],
    );
    let ground_truths = write(
        &dir.join("ground_truths.parquet"),
        vec![
            ("query_uuid", texts(&["q0", "q1"])),
            ("passage_uuid", texts(&["p0", "p2"])),
            ("relevance", integers(&[1, 2])),
        ],
    );
    write(
        &dir.join("no_uuid.parquet"),
        vec![("id", texts(&["p0"])), ("text", texts(&["אבג"]))],
    );
    write(
        &dir.join("null_text.parquet"),
        vec![
            ("uuid", texts(&["p0", "p1", "p2"])),
            ("text", strings(&[Some("אבג"), Some("דהו"), None])),
        ],
    );
    write(
        &dir.join("duplicate.parquet"),
        vec![("uuid", texts(&["p0", "p0"])), ("text", texts(&["א", "ב"]))],
    );
    write(
        &dir.join("integer_uuid.parquet"),
        vec![("uuid", integers(&[1, 2])), ("text", texts(&["א", "ב"]))],
    );
    write(
        &dir.join("empty.parquet"),
        vec![("uuid", texts(&[])), ("text", texts(&[]))],
    );
    write(
        &dir.join("nothing_relevant.parquet"),
        vec![
            ("query_uuid", texts(&["q0", "q1"])),
            ("passage_uuid", texts(&["p0", "p2"])),
            ("relevance", integers(&[0, 0])),
        ],
    );
    write(
        &dir.join("unknown_passage.parquet"),
        vec![
            ("query_uuid", texts(&["q0"])),
            ("passage_uuid", texts(&["p9"])),
            ("relevance", integers(&[1])),
        ],
    );
    std::fs::write(dir.join("not_parquet.parquet"), "uuid,text\np0,hello\n").unwrap();
    std::fs::copy(&passages, dir.join("shards/part-0.parquet")).unwrap();
    let bytes = std::fs::read(&passages).unwrap();
    std::fs::write(dir.join("shards/part-1.parquet"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(dir.join("a-file"), "").unwrap();
    Files {
        dir: dir.to_owned(),
        passages,
        queries,
        ground_truths,
    }
}

/// One bad invocation and what it must answer.
struct Case {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Exit code: 1 for refused input, 2 for arguments clap rejects.
    code: i32,
    /// The first line of stderr starts with this…
    starts: &'static str,
    /// …and contains each of these.
    contains: Vec<String>,
}

fn case(name: &'static str, args: &[&str], starts: &'static str, contains: &[&str]) -> Case {
    Case {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        code: 1,
        starts,
        contains: contains.iter().map(|c| c.to_string()).collect(),
    }
}

/// The data flags, with `passages` and `ground_truths` as given.
fn data(f: &Files, passages: &str, ground_truths: &str) -> Vec<String> {
    vec![
        "--passages".into(),
        passages.into(),
        "--queries".into(),
        f.queries.clone(),
        "--ground-truths".into(),
        ground_truths.into(),
    ]
}

fn with_data(mut case: Case, data: Vec<String>) -> Case {
    case.args.extend(data);
    case
}

fn cases(f: &Files, index_folder: &str, silent_server: u16, closed_port: u16) -> Vec<Case> {
    let good = |c: Case| with_data(c, data(f, &f.passages, &f.ground_truths));
    let bad_passages = |name, file: &str, contains: &[&str]| {
        let location = f.path(file);
        let mut want: Vec<&str> = vec![&location];
        want.extend(contains);
        with_data(
            case(name, &[], "error: node 'load_passages' failed: ", &want),
            data(f, &location, &f.ground_truths),
        )
    };
    let silent = format!("http://127.0.0.1:{silent_server}/passages.parquet");
    let mut http = with_data(
        case(
            "a server that never answers",
            &[],
            "error: node 'load_passages' failed: ",
            &[&silent, "no answer in time (1 s per request, 0 retries"],
        ),
        data(f, &silent, &f.ground_truths),
    );
    http.env = vec![
        ("NODEFUSION_REQUEST_TIMEOUT_SECS", "1".into()),
        ("NODEFUSION_RETRIES", "0".into()),
    ];
    let mut s3 = with_data(
        case(
            "s3 without credentials",
            &[],
            "error: node 'load_passages' failed: ",
            &["s3://nodefusion-none/passages.parquet: no AWS credentials"],
        ),
        data(f, "s3://nodefusion-none/passages.parquet", &f.ground_truths),
    );
    s3.env = vec![("AWS_METADATA_ENDPOINT", format!("http://127.0.0.1:{closed_port}"))];

    vec![
        good(case(
            "--top-k 0",
            &["--top-k", "0"],
            "error: --top-k must be at least 1",
            &[],
        )),
        good(case(
            "--rerank-k 0",
            &["--rerank-k", "0"],
            "error: --rerank-k must be at least 1",
            &[],
        )),
        Case {
            code: 2,
            ..good(case(
                "a negative --top-k",
                &["--top-k", "-3"],
                "error: unexpected argument",
                &[],
            ))
        },
        good(case(
            "an empty --index-folder",
            &["--index-folder", ""],
            "error: --index-folder is empty",
            &[],
        )),
        good(case(
            "the filesystem's root as --index-folder",
            &["--index-folder", "/"],
            "error: --index-folder '/' is the filesystem's root",
            &[],
        )),
        good(case(
            "an --output that is a file",
            &["--output", &f.path("a-file")],
            "error: --output ",
            &["is not a folder this run can write"],
        )),
        good(case(
            "an existing index set without --override",
            &["--index-folder", index_folder],
            "error: indexes already exist in ",
            &["(plaid, bm25, passages)", "--override"],
        )),
        good(case(
            "--sql that writes",
            &["--sql", "COPY (SELECT 1) TO 'x.parquet'"],
            "error: --sql takes a read-only query",
            &[],
        )),
        good(case(
            "--sql that does not parse",
            &["--sql", "SELEC 1"],
            "error: --sql does not parse",
            &[],
        )),
        good(case(
            "--partitions without ballista",
            &["--partitions", "2"],
            "error: --scheduler and --partitions are for --engine ballista",
            &[],
        )),
        good(case(
            "--partitions 0",
            &["--engine", "ballista", "--partitions", "0"],
            "error: --partitions must be at least 1",
            &[],
        )),
        good(case(
            "a fine-tuning temperature of 0",
            &["--fine-tune", "--fine-tune-temperature", "0"],
            "error: fine-tuning: invalid fine-tuning config: temperature is 0",
            &[],
        )),
        good(case(
            "a negative fine-tuning weight decay",
            &["--fine-tune", "--fine-tune-weight-decay=-1"],
            "error: fine-tuning: invalid fine-tuning config: weight_decay is -1",
            &[],
        )),
        Case {
            code: 2,
            ..good(case(
                "a fine-tuning setting without --fine-tune",
                &["--fine-tune-temperature", "0.1"],
                "error: the following required arguments were not provided",
                &[],
            ))
        },
        good(case(
            "a model directory without a model",
            &["--model", &f.path("shards")],
            "error: the encoder's model directory is not usable: ",
            &["config.json"],
        )),
        case(
            "passages without queries",
            &["--passages", &f.passages],
            "error: give all of --passages, --queries and --ground-truths, or none",
            &[],
        ),
        bad_passages("a missing file", "none.parquet", &["cannot read"]),
        bad_passages("a file that is not Parquet", "not_parquet.parquet", &["cannot read"]),
        bad_passages("a folder with a corrupt shard", "shards", &["shard", "part-1.parquet"]),
        bad_passages(
            "a missing column",
            "no_uuid.parquet",
            &["missing column 'uuid'; found: id, text"],
        ),
        bad_passages(
            "a column of the wrong type",
            "integer_uuid.parquet",
            &["column 'uuid' is Int64, expected a string"],
        ),
        bad_passages("a null value", "null_text.parquet", &["column 'text' is null in row 2"]),
        bad_passages("duplicate ids", "duplicate.parquet", &["duplicate passage uuid 'p0'"]),
        bad_passages("an empty corpus", "empty.parquet", &["the passages table is empty"]),
        with_data(
            case(
                "ground truths that judge nothing relevant",
                &[],
                "error: node ",
                &["judge no passage relevant"],
            ),
            data(f, &f.passages, &f.path("nothing_relevant.parquet")),
        ),
        with_data(
            case(
                "ground truths naming an unknown passage",
                &[],
                "error: node ",
                &["unknown passage 'p9'"],
            ),
            data(f, &f.passages, &f.path("unknown_passage.parquet")),
        ),
        with_data(
            case(
                "a file URL on another host",
                &[],
                "error: node 'load_passages' failed: ",
                &["file://elsewhere/passages.parquet", "must name a local path"],
            ),
            data(f, "file://elsewhere/passages.parquet", &f.ground_truths),
        ),
        http,
        s3,
    ]
}

/// Publishes a set of placeholder indexes under the run's index names.
fn publish_set(folder: &Path) {
    let set = IndexSet::new(folder.to_str().unwrap()).unwrap();
    let staged = set.stage();
    let index = Bm25Index::build(&["placeholder"], &Bm25Params::default()).unwrap();
    for name in ["plaid", "bm25", "passages"] {
        index
            .write(&IndexLocation::new(staged.folder(), name).unwrap(), false)
            .unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(set.publish(&staged, &["plaid", "bm25", "passages"], false))
        .unwrap();
}

/// A folder's entries, recursively, with file sizes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                found.push((path.clone(), 0));
                found.extend(snapshot(&path));
            } else {
                found.push((path.clone(), entry.metadata().unwrap().len()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn bad_input_is_refused_with_a_clear_first_line_and_leaves_the_folders_as_they_were() {
    let dir = std::env::temp_dir().join(format!("nodefusion-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let f = files(&dir.join("data"));
    let existing = dir.join("existing-indexes");
    publish_set(&existing);
    let existing_before = snapshot(&existing);
    assert!(existing.join(INDEX_SET_FILE).exists());

    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut connections = Vec::new();
        for stream in silent.incoming().take(8) {
            connections.push(stream);
        }
    });
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    let mut failures = Vec::new();
    for (i, case) in cases(&f, existing.to_str().unwrap(), silent_port, closed_port)
        .into_iter()
        .enumerate()
    {
        let index_folder = dir.join(format!("indexes-{i}"));
        let output = dir.join(format!("out-{i}"));
        let mut args = vec!["--no-progress".to_string()];
        for (flag, folder) in [("--index-folder", &index_folder), ("--output", &output)] {
            if !case.args.iter().any(|a| a == flag) {
                args.extend([flag.to_string(), folder.display().to_string()]);
            }
        }
        args.extend(case.args.iter().cloned());
        let mut command = Command::new(BINARY);
        command
            .args(&args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        command.env_remove("AWS_PROFILE").env_remove("AWS_SKIP_SIGNATURE");
        for (key, value) in &case.env {
            command.env(key, value);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
        let mut wrong = Vec::new();
        if out.status.code() != Some(case.code) {
            wrong.push(format!("exit code {:?}, expected {}", out.status.code(), case.code));
        }
        if !first.starts_with(case.starts) {
            wrong.push(format!("first line does not start with {:?}", case.starts));
        }
        for part in &case.contains {
            if !first.contains(part.as_str()) {
                wrong.push(format!("first line lacks {part:?}"));
            }
        }
        if !snapshot(&index_folder).is_empty() {
            wrong.push(format!("the index folder holds {:?}", snapshot(&index_folder)));
        }
        let outputs: Vec<_> = snapshot(&output).into_iter().filter(|(p, _)| p.is_file()).collect();
        if !outputs.is_empty() {
            wrong.push(format!("the output folder holds {outputs:?}"));
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}\n    stderr: {first}", case.name, wrong.join("; ")));
        }
    }
    assert_eq!(snapshot(&existing), existing_before, "the existing index set changed");
    drop(held);
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cache_flags_list_and_clear_a_cache_without_running_the_pipeline() {
    let dir = std::env::temp_dir().join(format!("nf-cli-cache-{}", std::process::id()));
    let node_dir = dir.join("some_crate.encode").join("ab");
    std::fs::create_dir_all(&node_dir).unwrap();
    std::fs::write(node_dir.join("ab12.nfc"), b"an entry").unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BINARY)
            .env("NODEFUSION_CACHE", &dir)
            .arg("--cache-dir")
            .arg(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["--cache-stats"]).contains("| some_crate.encode | 1 | 0.0 |"));
    let cleared = run(&["--clear-cache", "some_crate::encode", "--cache-stats"]);
    assert!(cleared.starts_with("removed 1 entries"), "{cleared}");
    assert!(!cleared.contains("some_crate"), "{cleared}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fine_tuned_models_are_listed_and_removed_only_by_name() {
    let root = std::env::temp_dir().join(format!("nf-cli-models-{}", std::process::id()));
    let models = root.join("models");
    let tuned = models.join("fine-tuned-0123456789abcdef");
    let base = models.join("multilingual-e5-small");
    let partial = models.join(".fine-tuned-fedcba9876543210.partial-7");
    for folder in [&tuned, &base, &partial] {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join("model.safetensors"), vec![0u8; 2_500_000]).unwrap();
    }
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BINARY)
            .env("NODEFUSION_CACHE", &root)
            .arg("--cache-dir")
            .arg(root.join("nodes"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let stats = run(&["--cache-stats"]);
    assert!(stats.contains("| fine-tuned | 1 | 2.5 |"), "{stats}");

    // Clearing the node cache keeps trained models.
    run(&["--clear-cache"]);
    assert!(tuned.exists());

    let cleared = run(&["--clear-cache", "fine-tuned", "--cache-stats"]);
    assert!(cleared.starts_with("removed 1 fine-tuned models from "), "{cleared}");
    assert!(!cleared.contains("| fine-tuned |"), "{cleared}");
    assert!(!tuned.exists());
    assert!(base.join("model.safetensors").exists(), "the base model was removed");
    assert!(partial.exists(), "a model being written was removed");
    std::fs::remove_dir_all(root).unwrap();
}
