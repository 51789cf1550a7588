//! Loading: the projection layouts (Stanford ColBERT, PyLate, none), and
//! errors that name the missing or malformed file. Model directories are
//! built in temporary folders from the test model (`scripts/fetch-model.sh`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use nodefusion_udfs::colbert::{ColbertError, EncoderConfig, ModelSource, TokenEmbeddings, default_test_model_dir};
use tempfile::TempDir;

const EPS: f32 = 1e-5;
const TEXT: &str = "The LORD is my shepherd; I shall not want.";

fn test_model() -> PathBuf {
    default_test_model_dir().unwrap_or_else(|e| panic!("{e}"))
}

/// A temporary model directory holding `files` of the test model.
fn model_with(files: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let (from, to) = (test_model().join(f), dir.path().join(f));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    dir
}

fn full_model() -> TempDir {
    model_with(&["config.json", "tokenizer.json", "model.safetensors"])
}

fn load_err(config: EncoderConfig) -> ColbertError {
    match config.load() {
        Ok(_) => panic!("expected an error for {config:?}"),
        Err(e) => e,
    }
}

fn load_dir_err(dir: &Path) -> ColbertError {
    load_err(EncoderConfig::from_dir(dir))
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `scale * [I_k | 0]`: a projection that keeps the first `k` dimensions.
fn truncating_projection(k: usize, scale: f32) -> Tensor {
    let mut w = vec![0f32; k * 384];
    for i in 0..k {
        w[i * 384 + i] = scale;
    }
    Tensor::from_vec(w, (k, 384), &Device::Cpu).unwrap()
}

fn assert_close(a: &TokenEmbeddings, b: &TokenEmbeddings, what: &str) {
    assert_eq!((a.tokens, a.dim), (b.tokens, b.dim), "{what}: shapes differ");
    let worst = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= EPS, "{what}: max abs difference {worst}");
}

fn truncated_reference(k: usize) -> TokenEmbeddings {
    EncoderConfig {
        dim: Some(k),
        ..EncoderConfig::from_dir(test_model())
    }
    .load()
    .unwrap()
    .encode_document(TEXT)
    .unwrap()
}

#[test]
fn a_model_without_projection_uses_the_hidden_states() {
    let encoder = EncoderConfig::from_dir(test_model()).load().unwrap();
    assert!(!encoder.has_projection());
    assert_eq!((encoder.dim(), encoder.hidden_size()), (384, 384));
}

#[test]
fn stanford_layout_projection_is_read_from_the_main_checkpoint() {
    let dir = model_with(&["config.json", "tokenizer.json"]);
    let mut tensors = candle_core::safetensors::load(test_model().join("model.safetensors"), &Device::Cpu).unwrap();
    tensors.insert("linear.weight".into(), truncating_projection(64, 3.0));
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).unwrap();

    let encoder = EncoderConfig::from_dir(dir.path()).load().unwrap();
    assert!(encoder.has_projection());
    assert_eq!(encoder.dim(), 64);
    let got = encoder.encode_document(TEXT).unwrap();
    assert_close(&got, &truncated_reference(64), "stanford projection");
}

/// A PyLate model directory whose Dense module is `weight` (+ `bias`).
fn pylate_model(weight: Tensor, bias: Option<Tensor>, activation: &str) -> TempDir {
    let dir = full_model();
    write(
        &dir.path().join("modules.json"),
        r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"name":"1","path":"1_Dense","type":"pylate.models.Dense.Dense"}]"#,
    );
    let out = weight.dim(0).unwrap();
    write(
        &dir.path().join("1_Dense/config.json"),
        &format!(
            r#"{{"in_features":384,"out_features":{out},"bias":{},"activation_function":"{activation}"}}"#,
            bias.is_some()
        ),
    );
    let mut tensors = HashMap::from([("linear.weight".to_owned(), weight)]);
    if let Some(b) = bias {
        tensors.insert("linear.bias".to_owned(), b);
    }
    candle_core::safetensors::save(&tensors, dir.path().join("1_Dense/model.safetensors")).unwrap();
    dir
}

#[test]
fn pylate_layout_projection_is_read_from_the_dense_module() {
    let bias = Tensor::zeros(48, DType::F32, &Device::Cpu).unwrap();
    let dir = pylate_model(
        truncating_projection(48, -1.0),
        Some(bias),
        "torch.nn.modules.linear.Identity",
    );
    let encoder = EncoderConfig::from_dir(dir.path()).load().unwrap();
    assert!(encoder.has_projection());
    assert_eq!(encoder.dim(), 48);
    let got = encoder.encode_document(TEXT).unwrap();
    let mut expected = truncated_reference(48);
    expected.data.iter_mut().for_each(|x| *x = -*x);
    assert_close(&got, &expected, "pylate projection");
}

#[test]
fn dim_may_shrink_a_projection_but_not_grow_it() {
    let dir = pylate_model(truncating_projection(48, 1.0), None, "torch.nn.modules.linear.Identity");
    let small = EncoderConfig {
        dim: Some(16),
        ..EncoderConfig::from_dir(dir.path())
    };
    assert_eq!(small.load().unwrap().dim(), 16);
    let err = load_err(EncoderConfig {
        dim: Some(64),
        ..EncoderConfig::from_dir(dir.path())
    });
    assert_eq!(
        err.to_string(),
        "invalid encoder config: dim is 64, but the model's vectors have 48 dimensions; \
         use None or at most 48"
    );
}

#[test]
fn a_dense_module_with_an_activation_is_unsupported() {
    let dir = pylate_model(truncating_projection(8, 1.0), None, "torch.nn.modules.activation.Tanh");
    let err = load_dir_err(dir.path());
    match err {
        ColbertError::Unsupported { path, reason } => {
            assert_eq!(path, dir.path().join("1_Dense/config.json"));
            assert!(reason.contains("Tanh"), "{reason}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_listed_dense_module_without_weights_names_the_file() {
    let dir = pylate_model(truncating_projection(8, 1.0), None, "torch.nn.modules.linear.Identity");
    std::fs::remove_file(dir.path().join("1_Dense/model.safetensors")).unwrap();
    match load_dir_err(dir.path()) {
        ColbertError::MissingFile { path, expected } => {
            assert_eq!(path, dir.path().join("1_Dense/model.safetensors"));
            assert!(expected.contains("linear.weight"), "{expected}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_projection_of_the_wrong_width_names_the_file() {
    let dir = pylate_model(
        Tensor::zeros((8, 100), DType::F32, &Device::Cpu).unwrap(),
        None,
        "torch.nn.modules.linear.Identity",
    );
    write(&dir.path().join("1_Dense/config.json"), r#"{"out_features":8}"#);
    let weights = dir.path().join("1_Dense/model.safetensors");
    assert_eq!(
        load_dir_err(dir.path()).to_string(),
        format!(
            "malformed model file {}: expected linear.weight of shape [dim, 384]; found shape [8, 100]",
            weights.display()
        )
    );
}

#[test]
fn malformed_modules_json_names_the_file() {
    let dir = full_model();
    write(&dir.path().join("modules.json"), "{not json");
    match load_dir_err(dir.path()) {
        ColbertError::MalformedFile { path, .. } => {
            assert_eq!(path, dir.path().join("modules.json"))
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn missing_files_are_named_in_order() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        load_dir_err(dir.path()).to_string(),
        format!(
            "missing model file {}: expected a BERT config.json (hidden_size, num_hidden_layers, …)",
            dir.path().join("config.json").display()
        )
    );
    let dir = model_with(&["config.json"]);
    assert_eq!(
        load_dir_err(dir.path()).to_string(),
        format!(
            "missing model file {}: expected a Hugging Face tokenizers file (tokenizer.json)",
            dir.path().join("tokenizer.json").display()
        )
    );
    let dir = model_with(&["config.json", "tokenizer.json"]);
    assert_eq!(
        load_dir_err(dir.path()).to_string(),
        format!(
            "missing model file {}: expected the encoder weights in safetensors format",
            dir.path().join("model.safetensors").display()
        )
    );
}

fn assert_malformed(err: ColbertError, file: &Path) {
    match err {
        ColbertError::MalformedFile { ref path, .. } => assert_eq!(path, file, "{err}"),
        other => panic!("expected a malformed-file error for {}: {other}", file.display()),
    }
}

#[test]
fn corrupt_config_json_names_the_file() {
    let dir = full_model();
    let path = dir.path().join("config.json");
    std::fs::remove_file(&path).unwrap();
    write(&path, r#"{"model_type": "bert", "hidden_size": "#);
    assert_malformed(load_dir_err(dir.path()), &path);
    write(&path, r#"{"model_type": "bert"}"#);
    let err = load_dir_err(dir.path());
    assert!(err.to_string().contains("missing field"), "{err}");
    assert_malformed(err, &path);
}

#[test]
fn corrupt_tokenizer_json_names_the_file() {
    let dir = full_model();
    let path = dir.path().join("tokenizer.json");
    std::fs::remove_file(&path).unwrap();
    write(&path, r#"{"version": "1.0", "model": 42}"#);
    assert_malformed(load_dir_err(dir.path()), &path);
}

#[test]
fn corrupt_weights_name_the_file() {
    let dir = model_with(&["config.json", "tokenizer.json"]);
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!").unwrap();
    assert_malformed(load_dir_err(dir.path()), &path);

    // Valid safetensors, but not a BERT.
    let other = HashMap::from([("foo".to_owned(), Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap())]);
    candle_core::safetensors::save(&other, &path).unwrap();
    let err = load_dir_err(dir.path());
    assert!(err.to_string().contains("BERT weights"), "{err}");
    assert_malformed(err, &path);
}

#[test]
fn unknown_model_types_are_unsupported() {
    let dir = full_model();
    let path = dir.path().join("config.json");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#""model_type": "bert""#, r#""model_type": "t5""#);
    std::fs::remove_file(&path).unwrap();
    write(&path, &config);
    assert_eq!(
        load_dir_err(dir.path()).to_string(),
        format!(
            "unsupported model in {}: model_type 't5' is not run by this encoder; \
             supported: [\"bert\", \"xlm-roberta\"]",
            path.display()
        )
    );
}

#[test]
fn marker_tokens_must_be_in_the_vocabulary() {
    let err = load_err(EncoderConfig {
        markers: nodefusion_udfs::colbert::Markers::Tokens {
            query: "[Q]".into(),
            document: "[unused1]".into(),
        },
        ..EncoderConfig::from_dir(test_model())
    });
    match err {
        ColbertError::Config { field, reason } => {
            assert_eq!(field, "markers.query");
            assert!(reason.contains("'[Q]'"), "{reason}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn unusable_config_values_name_the_field() {
    let base = || EncoderConfig::from_dir(test_model());
    let cases = [
        (
            EncoderConfig {
                batch_size: 0,
                ..base()
            },
            "batch_size",
        ),
        (
            EncoderConfig {
                query_maxlen: 2,
                ..base()
            },
            "query_maxlen",
        ),
        (
            EncoderConfig {
                doc_maxlen: 1000,
                ..base()
            },
            "doc_maxlen",
        ),
        (
            EncoderConfig {
                dim: Some(1000),
                ..base()
            },
            "dim",
        ),
        (EncoderConfig { dim: Some(0), ..base() }, "dim"),
        (
            EncoderConfig {
                threads: Some(0),
                ..base()
            },
            "threads",
        ),
    ];
    for (config, expected) in cases {
        match load_err(config) {
            ColbertError::Config { field, .. } => assert_eq!(field, expected),
            other => panic!("unexpected error for {expected}: {other}"),
        }
    }
}

#[cfg(not(feature = "hub"))]
#[test]
fn hub_models_need_the_hub_feature() {
    let err = load_err(EncoderConfig::from_hub("colbert-ir/colbertv2.0"));
    assert!(matches!(err, ColbertError::Hub { ref repo, .. } if repo == "colbert-ir/colbertv2.0"));
    assert!(err.to_string().contains("`hub` feature"), "{err}");
}

#[test]
fn config_is_a_plain_hashable_value() {
    use std::collections::HashSet;
    let a = EncoderConfig::from_dir(test_model());
    let b = EncoderConfig {
        model: ModelSource::Dir(test_model()),
        ..a.clone()
    };
    let set: HashSet<EncoderConfig> = [a.clone(), b].into_iter().collect();
    assert_eq!(set.len(), 1);
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<EncoderConfig>(&json).unwrap(), a);
    // Missing fields take the ColBERTv2 defaults.
    let partial: EncoderConfig = serde_json::from_str(r#"{"model": {"dir": "/m"}, "doc_maxlen": 300}"#).unwrap();
    assert_eq!(
        partial,
        EncoderConfig {
            doc_maxlen: 300,
            ..EncoderConfig::from_dir("/m")
        }
    );
}

#[test]
fn a_model_digest_names_the_files_content_and_loading_checks_it() {
    use nodefusion_udfs::colbert::model_digest;
    let original = model_digest(&test_model()).unwrap();
    assert_eq!(original.len(), 64);
    // The same files elsewhere: the same digest.
    let same = full_model();
    assert_eq!(model_digest(same.path()).unwrap(), original);
    let config = |dir: &Path, digest: &str| EncoderConfig {
        model_digest: Some(digest.to_owned()),
        ..EncoderConfig::from_dir(dir)
    };
    assert!(config(same.path(), &original).load().is_ok());

    // One byte more in config.json: another digest, and a config naming the
    // old one refuses the changed files.
    let changed = model_with(&["tokenizer.json", "model.safetensors"]);
    let text = std::fs::read_to_string(test_model().join("config.json")).unwrap();
    write(&changed.path().join("config.json"), &format!("{text} "));
    let digest = model_digest(changed.path()).unwrap();
    assert_ne!(digest, original);
    match load_err(config(changed.path(), &original)) {
        ColbertError::ModelChanged { path, expected, found } => {
            assert_eq!(path, changed.path());
            assert_eq!((expected, found), (original, digest));
        }
        other => panic!("expected ModelChanged, got {other}"),
    }
}
