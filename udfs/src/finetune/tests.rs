//! Training on the test model (all-MiniLM-L6-v2): the loss falls, a saved
//! checkpoint encodes as the in-memory network, gradients match finite
//! differences, and a seed fixes the weights.

use candle_core::{DType, Tensor};

use super::train::{PreparedPair, Trainer};
use super::*;
use crate::colbert::{EncoderConfig, ModelSource, TextKind, default_test_model_dir};

const FACTS: [(&str, &str); 8] = [
    ("psalms author", "The psalms are attributed to King David."),
    ("first king", "Saul was anointed the first king of Israel."),
    ("flood boat", "Noah built an ark before the great flood."),
    ("burning bush", "Moses saw a bush that burned and was not consumed."),
    (
        "giant slain",
        "A shepherd boy killed the giant with a sling and a stone.",
    ),
    (
        "tower languages",
        "The builders of the tower were scattered with many languages.",
    ),
    ("sea parted", "The waters divided and the people crossed on dry ground."),
    ("walls fell", "The walls of the city fell after the trumpets sounded."),
];

fn encoder() -> EncoderConfig {
    EncoderConfig::from_dir(default_test_model_dir().expect("run scripts/fetch-model.sh"))
}

fn pairs() -> Vec<TrainingPair> {
    FACTS.iter().map(|(q, d)| TrainingPair::new(*q, *d)).collect()
}

fn config() -> FineTuneConfig {
    FineTuneConfig {
        steps: 3,
        batch_size: 4,
        micro_batch: 2,
        learning_rate: 1e-4,
        warmup_steps: 0,
        ..FineTuneConfig::default()
    }
}

fn mean_loss(trainer: &Trainer, prepared: &[PreparedPair]) -> f64 {
    let all: Vec<&PreparedPair> = prepared.iter().collect();
    trainer
        .loss(&all, 1.0)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar()
        .unwrap()
}

#[test]
fn a_few_steps_lower_the_loss() {
    let config = FineTuneConfig {
        batch_size: 8,
        micro_batch: 4,
        ..config()
    };
    let mut trainer = Trainer::new(&encoder(), &config, DType::F32).unwrap();
    let prepared = trainer.prepare(&pairs()).unwrap();
    let before = mean_loss(&trainer, &prepared);
    let batch: Vec<&PreparedPair> = prepared.iter().collect();
    for _ in 0..3 {
        trainer.step(&batch, config.learning_rate).unwrap();
    }
    let after = mean_loss(&trainer, &prepared);
    assert!(after < 0.9 * before, "loss {before} -> {after}");
}

#[test]
fn a_saved_checkpoint_encodes_as_the_in_memory_network() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tuned");
    let mut trainer = Trainer::new(&encoder(), &config(), DType::F32).unwrap();
    let prepared = trainer.prepare(&pairs()).unwrap();
    let batch: Vec<&PreparedPair> = prepared.iter().take(4).collect();
    trainer.step(&batch, 1e-3).unwrap();
    let report = FineTuneReport {
        pairs: 4,
        pairs_seen: 4,
        steps: 1,
        losses: vec![],
        trained_weights: trainer.trained_weights().unwrap(),
        seconds: 0.0,
        pairs_digest: pairs_digest(&pairs()),
    };
    trainer.save(&out, &report).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors", MANIFEST_FILE] {
        assert!(out.join(file).is_file(), "{file}");
    }

    let tuned = EncoderConfig {
        model: ModelSource::Dir(out.clone()),
        ..encoder()
    }
    .load()
    .unwrap();
    let base = encoder().load().unwrap();
    let texts = [
        "who wrote the psalms?",
        "The walls of the city fell, after the trumpets sounded.",
    ];
    for kind in [TextKind::Query, TextKind::Document] {
        let in_memory = trainer.encode(kind, &texts).unwrap();
        let loaded = tuned.encode(kind, &texts).unwrap();
        let untrained = base.encode(kind, &texts).unwrap();
        for ((memory, loaded), untrained) in in_memory.iter().zip(&loaded).zip(&untrained) {
            assert_eq!(memory.len(), loaded.embeddings.data.len());
            let gap = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(gap(memory, &loaded.embeddings.data) < 1e-4, "{kind:?}");
            // The test could fail: training moved the vectors.
            assert!(gap(memory, &untrained.embeddings.data) > 1e-3, "{kind:?}");
        }
    }
}

#[test]
fn gradients_agree_with_finite_differences() {
    let trainer = Trainer::new(&encoder(), &config(), DType::F64).unwrap();
    let prepared = trainer.prepare(&pairs()).unwrap();
    let batch: Vec<&PreparedPair> = prepared.iter().take(3).collect();
    let name = "encoder.layer.3.intermediate.dense.weight";
    let vars = trainer.network.vars().unwrap();
    let param = vars.get(name).expect(name);
    let loss = trainer.loss(&batch, 1.0).unwrap();
    let grads = loss.backward().unwrap();
    let grad: Vec<Vec<f64>> = grads.get(param.as_tensor()).unwrap().to_vec2().unwrap();
    let original = param.as_tensor().copy().unwrap();
    let h = 1e-6;
    for (row, col) in [(0, 0), (7, 100), (1000, 383), (1535, 17)] {
        let at = |delta: f64| -> f64 {
            let mut values: Vec<Vec<f64>> = original.to_vec2().unwrap();
            values[row][col] += delta;
            param
                .set(&Tensor::new(values, &candle_core::Device::Cpu).unwrap())
                .unwrap();
            trainer.loss(&batch, 1.0).unwrap().to_scalar::<f64>().unwrap()
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        let analytic = grad[row][col];
        let scale = analytic.abs().max(numeric.abs()).max(1e-6);
        assert!(
            (numeric - analytic).abs() / scale < 1e-4,
            "{name}[{row}][{col}]: backprop {analytic}, finite differences {numeric}"
        );
    }
    param.set(&original).unwrap();
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: u64| {
        let out = dir.path().join(name);
        let config = FineTuneConfig { seed, ..config() };
        let report = fine_tune(&encoder(), &pairs(), &config, &out, |_| {}).unwrap();
        assert_eq!(report.losses.len(), 3);
        std::fs::read(out.join("model.safetensors")).unwrap()
    };
    let first = run("a", 7);
    assert!(first == run("b", 7), "two runs with seed 7 wrote different weights");
    assert!(first != run("c", 8), "seeds 7 and 8 wrote the same weights");
}

#[test]
fn bad_settings_fail_before_loading_anything() {
    let config = FineTuneConfig {
        micro_batch: 3,
        batch_size: 4,
        ..FineTuneConfig::default()
    };
    let error = fine_tune(&encoder(), &pairs(), &config, "unused".as_ref(), |_| {}).unwrap_err();
    assert!(error.to_string().contains("micro_batch"), "{error}");
    let error = fine_tune(&encoder(), &[], &FineTuneConfig::default(), "unused".as_ref(), |_| {}).unwrap_err();
    assert!(matches!(error, FineTuneError::NoPairs(_)), "{error}");
}

/// Rows of the saved word embeddings that differ from the base model's.
fn changed_embedding_rows(out: &std::path::Path) -> usize {
    let load = |path: std::path::PathBuf| {
        let tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu).unwrap();
        let (_, words) = tensors
            .into_iter()
            .find(|(name, _)| name.ends_with("word_embeddings.weight"))
            .expect("a word embeddings tensor");
        words.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap()
    };
    let base = load(default_test_model_dir().unwrap().join("model.safetensors"));
    let trained = load(out.join("model.safetensors"));
    assert_eq!(base.len(), trained.len());
    base.iter().zip(&trained).filter(|(a, b)| a != b).count()
}

#[test]
fn word_embeddings_train_only_when_asked_and_only_for_the_tokens_seen() {
    let dir = tempfile::tempdir().unwrap();
    let frozen = dir.path().join("frozen");
    fine_tune(&encoder(), &pairs(), &config(), &frozen, |_| {}).unwrap();
    assert_eq!(changed_embedding_rows(&frozen), 0);

    let trained = dir.path().join("trained");
    let config = FineTuneConfig {
        train_embeddings: true,
        ..config()
    };
    fine_tune(&encoder(), &pairs(), &config, &trained, |_| {}).unwrap();
    // The eight pairs use far fewer than 400 of the 30,522 tokens of the
    // vocabulary; a row no text uses gets no gradient and no decay.
    let changed = changed_embedding_rows(&trained);
    assert!((1..400).contains(&changed), "{changed} embedding rows changed");
}
