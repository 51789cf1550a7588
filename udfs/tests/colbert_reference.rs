//! The encoder against an independent PyTorch/transformers implementation of
//! ColBERT's recipe on the same model (all-MiniLM-L6-v2), English and Hebrew
//! (with and without niqqud). The fixture is written by
//! `tests/fixtures/make_colbert_fixture.py`; the model by
//! `scripts/fetch-model.sh`.

use std::sync::OnceLock;

use nodefusion_udfs::colbert::{ColbertEncoder, EncoderConfig, Markers, TextKind, default_test_model_dir};
use serde::Deserialize;

const FIXTURE: &str = include_str!("fixtures/colbert_minilm_reference.json");
const MIN_COSINE: f32 = 0.999;

#[derive(Deserialize)]
struct Fixture {
    query_maxlen: usize,
    doc_maxlen: usize,
    skiplist: Vec<u32>,
    cases: Vec<Case>,
    plain: Vec<Plain>,
}

#[derive(Deserialize)]
struct Case {
    kind: String,
    text: String,
    input_ids: Vec<u32>,
    attention_mask: Vec<u32>,
    token_ids: Vec<u32>,
    positions: Vec<usize>,
    vectors: Vec<Vec<f32>>,
    pooled: Vec<f32>,
}

#[derive(Deserialize)]
struct Plain {
    text: String,
    input_ids: Vec<u32>,
    pooled: Vec<f32>,
}

fn fixture() -> Fixture {
    serde_json::from_str(FIXTURE).expect("fixture is valid JSON")
}

/// The fixture's reference encodes the text as given: no normalisation.
fn model_config() -> EncoderConfig {
    let dir = default_test_model_dir().unwrap_or_else(|e| panic!("{e}"));
    EncoderConfig {
        normalize_hebrew: None,
        ..EncoderConfig::from_dir(dir)
    }
}

fn encoder() -> &'static ColbertEncoder {
    static ENCODER: OnceLock<ColbertEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        let f = fixture();
        EncoderConfig {
            query_maxlen: f.query_maxlen,
            doc_maxlen: f.doc_maxlen,
            ..model_config()
        }
        .load()
        .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn kind_of(case: &Case) -> TextKind {
    match case.kind.as_str() {
        "query" => TextKind::Query,
        "document" => TextKind::Document,
        other => panic!("unknown kind {other} in fixture"),
    }
}

#[test]
fn model_inputs_match_colberts_tokenisation() {
    let encoder = encoder();
    for case in fixture().cases {
        let input = encoder.prepare(kind_of(&case), &case.text).unwrap();
        assert_eq!(input.input_ids, case.input_ids, "{} {:?}", case.kind, case.text);
        assert_eq!(
            input.attention_mask, case.attention_mask,
            "{} {:?}",
            case.kind, case.text
        );
    }
}

#[test]
fn token_vectors_match_the_pytorch_reference() {
    let encoder = encoder();
    let mut worst = f32::MAX;
    for case in fixture().cases {
        let out = encoder.encode(kind_of(&case), &[&case.text]).unwrap().remove(0);
        assert_eq!(out.token_ids, case.token_ids, "{} {:?}", case.kind, case.text);
        assert_eq!(out.embeddings.tokens, case.token_ids.len());
        for (&pos, expected) in case.positions.iter().zip(&case.vectors) {
            let got = out.embeddings.token(pos).unwrap();
            let cos = cosine(got, expected);
            worst = worst.min(cos);
            assert!(
                cos >= MIN_COSINE,
                "{} {:?}: token {pos} (id {}) cosine {cos}",
                case.kind,
                case.text,
                case.token_ids[pos]
            );
        }
    }
    eprintln!("lowest token cosine to the reference: {worst}");
}

#[test]
fn pooled_vectors_match_the_pytorch_reference() {
    let encoder = encoder();
    for case in fixture().cases {
        let out = encoder.encode(kind_of(&case), &[&case.text]).unwrap().remove(0);
        let cos = cosine(&out.pooled, &case.pooled);
        assert!(cos >= MIN_COSINE, "{} {:?}: pooled cosine {cos}", case.kind, case.text);
    }
}

#[test]
fn pooled_vector_without_markers_is_the_sentence_embedding() {
    let f = fixture();
    let encoder = EncoderConfig {
        markers: Markers::None,
        doc_maxlen: f.doc_maxlen,
        ..model_config()
    }
    .load()
    .unwrap();
    for plain in f.plain {
        let input = encoder.prepare(TextKind::Document, &plain.text).unwrap();
        assert_eq!(input.input_ids, plain.input_ids, "{:?}", plain.text);
        let out = encoder.encode(TextKind::Document, &[&plain.text]).unwrap().remove(0);
        let cos = cosine(&out.pooled, &plain.pooled);
        assert!(cos >= MIN_COSINE, "{:?}: pooled cosine {cos}", plain.text);
    }
}

#[test]
fn skiplist_is_colberts_ascii_punctuation() {
    let encoder = encoder();
    let f = fixture();
    // Every skiplisted id vanishes from a document made of all of them.
    let punctuation: String = (0u8..128)
        .map(char::from)
        .filter(char::is_ascii_punctuation)
        .flat_map(|c| [c, ' '])
        .collect();
    let input = encoder.prepare(TextKind::Document, &punctuation).unwrap();
    let mut dropped: Vec<u32> = (0..input.input_ids.len())
        .filter(|i| !input.kept.contains(i))
        .map(|i| input.input_ids[i])
        .collect();
    dropped.sort_unstable();
    assert_eq!(dropped, f.skiplist);
}
