//! ColBERT semantics of the encoder on the test model: markers, `[MASK]`
//! augmentation, attention masks, skiplist, truncation, normalisation, and
//! batch calls equal to one-text calls. Needs `scripts/fetch-model.sh`.

use std::sync::OnceLock;

use nodefusion_udfs::colbert::{
    ColbertEncoder, EncoderConfig, Markers, TextKind, TokenEmbeddings, default_test_model_dir,
};

const CLS: u32 = 101;
const SEP: u32 = 102;
const MASK: u32 = 103;
const Q_MARKER: u32 = 1; // [unused0]
const D_MARKER: u32 = 2; // [unused1]
const EPS: f32 = 1e-5;

fn model_config() -> EncoderConfig {
    let dir = default_test_model_dir().unwrap_or_else(|e| panic!("{e}"));
    EncoderConfig::from_dir(dir)
}

/// The default (ColBERTv2) encoder, loaded once for this test binary.
fn encoder() -> &'static ColbertEncoder {
    static ENCODER: OnceLock<ColbertEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| model_config().load().unwrap_or_else(|e| panic!("{e}")))
}

fn load(config: EncoderConfig) -> ColbertEncoder {
    config.load().unwrap_or_else(|e| panic!("{e}"))
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

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

const PASSAGES: [&str; 6] = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "וַיֹּאמֶר אֱלֹהִים, יְהִי אוֹר; וַיְהִי-אוֹר.",
    "Short.",
    "",
    "Psalm 23: The LORD is my shepherd; I shall not want. He maketh me to lie down in green \
     pastures: he leadeth me beside the still waters. He restoreth my soul.",
];

#[test]
fn query_is_marked_and_padded_with_masks_to_query_maxlen() {
    let input = encoder().prepare(TextKind::Query, "hello world").unwrap();
    assert_eq!(input.input_ids.len(), 32);
    assert_eq!(&input.input_ids[..5], &[CLS, Q_MARKER, 7592, 2088, SEP]);
    assert!(input.input_ids[5..].iter().all(|&id| id == MASK));
    // ColBERTv2 default: the masks are not attended to, but they are encoded.
    assert_eq!(&input.attention_mask[..5], &[1; 5]);
    assert!(input.attention_mask[5..].iter().all(|&m| m == 0));
    assert_eq!(input.kept, (0..32).collect::<Vec<_>>());
    let q = encoder().encode_query("hello world").unwrap();
    assert_eq!((q.tokens, q.dim), (32, 384));
}

#[test]
fn queries_without_augmentation_have_one_vector_per_token() {
    let plain = load(EncoderConfig {
        augment_queries: false,
        ..model_config()
    });
    let q = plain.encode(TextKind::Query, &["hello world"]).unwrap().remove(0);
    assert_eq!(q.token_ids, [CLS, Q_MARKER, 7592, 2088, SEP]);
    assert_eq!(q.embeddings.tokens, 5);
    // The attended tokens are the same, so their vectors are too.
    let augmented = encoder().encode(TextKind::Query, &["hello world"]).unwrap().remove(0);
    assert_close(
        &q.embeddings,
        &TokenEmbeddings {
            dim: augmented.embeddings.dim,
            tokens: 5,
            data: augmented.embeddings.data[..5 * augmented.embeddings.dim].to_vec(),
        },
        "unaugmented query",
    );
}

#[test]
fn attending_to_mask_tokens_is_configurable_and_changes_the_query() {
    let attending = load(EncoderConfig {
        attend_to_mask_tokens: true,
        ..model_config()
    });
    let input = attending.prepare(TextKind::Query, "hello world").unwrap();
    assert!(input.attention_mask.iter().all(|&m| m == 1));
    let a = attending.encode_query("hello world").unwrap();
    let b = encoder().encode_query("hello world").unwrap();
    let diff = a
        .token(2)
        .unwrap()
        .iter()
        .zip(b.token(2).unwrap())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff > 1e-3, "the word vector should see the masks: {diff}");
}

#[test]
fn document_is_marked_and_not_padded() {
    let input = encoder().prepare(TextKind::Document, "hello world").unwrap();
    assert_eq!(input.input_ids, [CLS, D_MARKER, 7592, 2088, SEP]);
    assert_eq!(input.attention_mask, [1; 5]);
}

#[test]
fn document_punctuation_is_dropped_from_the_output_only() {
    let text = "Hello, world: (a test)!";
    let with_skiplist = encoder().encode(TextKind::Document, &[text]).unwrap().remove(0);
    // [CLS] [unused1] hello world a test [SEP]
    assert_eq!(with_skiplist.token_ids, [CLS, D_MARKER, 7592, 2088, 1037, 3231, SEP]);
    let keep_all = load(EncoderConfig {
        mask_punctuation: false,
        ..model_config()
    });
    let all = keep_all.encode(TextKind::Document, &[text]).unwrap().remove(0);
    assert_eq!(all.token_ids.len(), 12);
    // The skiplist filters vectors; it does not change what the model sees.
    let kept: Vec<f32> = all
        .token_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| with_skiplist.token_ids.contains(id))
        .flat_map(|(i, _)| all.embeddings.token(i).unwrap().to_vec())
        .collect();
    assert_close(
        &with_skiplist.embeddings,
        &TokenEmbeddings {
            dim: 384,
            tokens: 7,
            data: kept,
        },
        "skiplist vs no skiplist",
    );
}

#[test]
fn queries_keep_punctuation() {
    let q = encoder().encode(TextKind::Query, &["who? what!"]).unwrap().remove(0);
    assert_eq!(&q.token_ids[..7], &[CLS, Q_MARKER, 2040, 1029, 2054, 999, SEP]);
}

#[test]
fn prefix_markers_are_prepended_text() {
    let e5 = load(EncoderConfig {
        markers: Markers::Prefix {
            query: "query: ".into(),
            document: "passage: ".into(),
        },
        ..model_config()
    });
    let q = e5.prepare(TextKind::Query, "hello").unwrap();
    // [CLS] query : hello [SEP] [MASK]…
    assert_eq!(&q.input_ids[..6], &[CLS, 23032, 1024, 7592, SEP, MASK]);
    assert_eq!(q.input_ids.len(), 32);
    let d = e5.prepare(TextKind::Document, "hello").unwrap();
    assert_eq!(d.input_ids, [CLS, 6019, 1024, 7592, SEP]);
}

#[test]
fn no_markers_encode_the_plain_text() {
    let plain = load(EncoderConfig {
        markers: Markers::None,
        ..model_config()
    });
    let d = plain.prepare(TextKind::Document, "hello world").unwrap();
    assert_eq!(d.input_ids, [CLS, 7592, 2088, SEP]);
}

#[test]
fn hebrew_is_normalised_by_default_and_only_when_asked() {
    // Genesis 1:3, pointed, with cantillation and a maqaf, and the same
    // words unpointed.
    let pointed = "וַיֹּ֥אמֶר אֱלֹהִ֖ים יְהִ֣י א֑וֹר וַֽיְהִי־אֽוֹר";
    let unpointed = "ויאמר אלהים יהי אור ויהי אור";
    let default = encoder();
    let a = default.prepare(TextKind::Document, pointed).unwrap();
    let b = default.prepare(TextKind::Document, unpointed).unwrap();
    assert_eq!(a, b, "normalised pointed text must tokenise like the unpointed text");
    assert_eq!(
        default.encode_document(pointed).unwrap(),
        default.encode_document(unpointed).unwrap()
    );
    // Latin text is untouched.
    let raw = load(EncoderConfig {
        normalize_hebrew: None,
        ..model_config()
    });
    for text in ["In the beginning, God.", "naïve café — 3.5%"] {
        assert_eq!(
            default.prepare(TextKind::Document, text).unwrap(),
            raw.prepare(TextKind::Document, text).unwrap()
        );
    }
    // Without normalisation the maqaf reaches the tokenizer (BERT's own
    // normaliser strips the points, which are combining marks, but keeps
    // the maqaf as punctuation).
    assert_ne!(raw.prepare(TextKind::Document, pointed).unwrap(), b);
}

#[test]
fn every_vector_and_the_pooled_vector_are_unit_length() {
    for kind in [TextKind::Query, TextKind::Document] {
        for out in encoder().encode(kind, &PASSAGES).unwrap() {
            for v in out.embeddings.iter() {
                assert!((norm(v) - 1.0).abs() < 1e-4, "{kind:?} token norm {}", norm(v));
            }
            assert_eq!(out.pooled.len(), 384);
            assert!((norm(&out.pooled) - 1.0).abs() < 1e-4);
        }
    }
}

#[test]
fn dim_truncates_before_normalising() {
    let small = load(EncoderConfig {
        dim: Some(128),
        ..model_config()
    });
    assert_eq!(small.dim(), 128);
    let text = PASSAGES[1];
    let full = encoder().encode_document(text).unwrap();
    let cut = small.encode_document(text).unwrap();
    assert_eq!((cut.tokens, cut.dim), (full.tokens, 128));
    let expected: Vec<f32> = full
        .iter()
        .flat_map(|v| {
            let n = norm(&v[..128]);
            v[..128].iter().map(move |x| x / n).collect::<Vec<_>>()
        })
        .collect();
    assert_close(
        &cut,
        &TokenEmbeddings {
            dim: 128,
            tokens: full.tokens,
            data: expected,
        },
        "dim 128",
    );
}

#[test]
fn batch_documents_equal_one_document_calls() {
    // batch_size 4 makes two buckets of different lengths.
    let encoder = load(EncoderConfig {
        batch_size: 4,
        ..model_config()
    });
    let batch = encoder.encode_documents_batch(&PASSAGES).unwrap();
    assert_eq!(batch.len(), PASSAGES.len());
    for (text, got) in PASSAGES.iter().zip(&batch) {
        // Not close: equal, float for float.
        assert_eq!(got, &encoder.encode_document(text).unwrap(), "{text}");
    }
}

#[test]
fn batch_queries_equal_one_query_calls() {
    let encoder = load(EncoderConfig {
        batch_size: 4,
        ..model_config()
    });
    let batch = encoder.encode_queries_batch(&PASSAGES).unwrap();
    for (text, got) in PASSAGES.iter().zip(&batch) {
        assert_eq!(got, &encoder.encode_query(text).unwrap(), "{text}");
    }
}

/// The encoder runs without padding, so a text's floats do not depend on
/// what shares its call: not on longer texts, not on how many, not on
/// queries whose augmentation tokens are not attended to.
#[test]
fn a_text_encodes_to_the_same_floats_whatever_shares_its_call() {
    let long = PASSAGES[5].repeat(4);
    let mut crowd: Vec<&str> = vec![long.as_str()];
    crowd.extend(PASSAGES);
    for kind in [TextKind::Document, TextKind::Query] {
        for text in ["Short.", PASSAGES[2]] {
            let alone = encoder().encode(kind, &[text]).unwrap().remove(0);
            let mut call = crowd.clone();
            call.insert(3, text);
            let shared = encoder().encode(kind, &call).unwrap().remove(3);
            assert_eq!(shared, alone, "{kind:?} {text:?}");
        }
    }
}

#[test]
fn batch_results_come_back_in_input_order() {
    let texts = ["a b c d e f g h", "a", "a b c"];
    let out = encoder().encode(TextKind::Document, &texts).unwrap();
    let tokens: Vec<usize> = out.iter().map(|e| e.embeddings.tokens).collect();
    assert_eq!(tokens, [11, 4, 6]);
}

#[test]
fn an_empty_batch_gives_no_output() {
    let none: [&str; 0] = [];
    assert!(encoder().encode_documents_batch(&none).unwrap().is_empty());
    assert!(encoder().encode_queries_batch(&none).unwrap().is_empty());
}

#[test]
fn empty_text_encodes_to_the_special_tokens() {
    for text in ["", "   \n\t "] {
        let d = encoder().encode(TextKind::Document, &[text]).unwrap().remove(0);
        assert_eq!(d.token_ids, [CLS, D_MARKER, SEP]);
        let q = encoder().encode(TextKind::Query, &[text]).unwrap().remove(0);
        assert_eq!(&q.token_ids[..4], &[CLS, Q_MARKER, SEP, MASK]);
        assert_eq!(q.embeddings.tokens, 32);
    }
}

#[test]
fn long_text_is_truncated_keeping_the_end_token() {
    let long = "word ".repeat(200_000);
    let d = encoder().prepare(TextKind::Document, &long).unwrap();
    assert_eq!(d.input_ids.len(), 180);
    assert_eq!(d.input_ids.last(), Some(&SEP));
    let q = encoder().prepare(TextKind::Query, &long).unwrap();
    assert_eq!(q.input_ids.len(), 32);
    assert_eq!(q.input_ids.last(), Some(&SEP));
    assert!(!q.input_ids.contains(&MASK));
    let e = encoder().encode_document(&long).unwrap();
    assert_eq!(e.tokens, 180);
}

#[test]
fn own_thread_pool_gives_the_same_vectors() {
    let one_thread = load(EncoderConfig {
        threads: Some(1),
        ..model_config()
    });
    for text in &PASSAGES[..3] {
        let a = one_thread.encode_document(text).unwrap();
        let b = encoder().encode_document(text).unwrap();
        assert_close(&a, &b, text);
    }
}

#[test]
fn embeddings_round_trip_through_serde() {
    let e = encoder().encode_document("hello world").unwrap();
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(serde_json::from_str::<TokenEmbeddings>(&json).unwrap(), e);
}

#[test]
fn late_interaction_prefers_the_relevant_passage() {
    let q = encoder().encode_query("who is my shepherd?").unwrap();
    let maxsim = |d: &TokenEmbeddings| -> f32 {
        q.iter()
            .map(|qv| {
                d.iter()
                    .map(|dv| qv.iter().zip(dv).map(|(a, b)| a * b).sum::<f32>())
                    .fold(f32::MIN, f32::max)
            })
            .sum()
    };
    let docs = encoder().encode_documents_batch(&[PASSAGES[0], PASSAGES[5]]).unwrap();
    assert!(maxsim(&docs[1]) > maxsim(&docs[0]));
}
