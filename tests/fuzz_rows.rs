//! Fuzzing the row conversion with proptest: arbitrary rows survive the
//! trip through Arrow unchanged, and arbitrary Arrow arrays read as rows
//! give rows or an error, never a panic.
//!
//! The default run tries a few hundred cases per target; a long run sets
//! the count: `NODEFUSION_FUZZ_CASES=20000 cargo test --test fuzz_rows --release`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Array, Int64Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use nodefusion::arrow_convert::{from_arrow, to_arrow};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde::{Deserialize, Serialize};

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Stage {
    Colbert,
    Bm25,
    Fused,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Score {
    Missing,
    Exact(f32),
    Ranked { rank: u32, score: f32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Hit {
    uuid: String,
    score: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Passage {
    uuid: String,
    text: String,
    embeddings: Vec<f32>,
    tokens: Option<i64>,
    hits: Vec<Hit>,
    stage: Stage,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Judged {
    uuid: String,
    scores: Vec<Score>,
}

/// Text of any characters, Hebrew weighted in.
fn text() -> impl Strategy<Value = String> {
    let character = prop_oneof![
        2 => proptest::char::range('\u{0590}', '\u{05FF}'),
        1 => any::<char>(),
        1 => proptest::char::range(' ', '~'),
    ];
    proptest::collection::vec(character, 0..24).prop_map(|c| c.into_iter().collect())
}

/// Floats that compare equal to themselves (NaN does not).
fn number() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>().prop_filter("not NaN", |x| !x.is_nan()),
        Just(0.0),
        Just(-0.0),
        Just(f32::INFINITY),
        Just(f32::MIN_POSITIVE),
    ]
}

fn passage() -> impl Strategy<Value = Passage> {
    (
        text(),
        text(),
        proptest::collection::vec(number(), 0..12),
        any::<Option<i64>>(),
        proptest::collection::vec((text(), number()).prop_map(|(uuid, score)| Hit { uuid, score }), 0..4),
        prop_oneof![Just(Stage::Colbert), Just(Stage::Bm25), Just(Stage::Fused)],
    )
        .prop_map(|(uuid, text, embeddings, tokens, hits, stage)| Passage {
            uuid,
            text,
            embeddings,
            tokens,
            hits,
            stage,
        })
}

fn judged() -> impl Strategy<Value = Judged> {
    let score = prop_oneof![
        Just(Score::Missing),
        number().prop_map(Score::Exact),
        (any::<u32>(), number()).prop_map(|(rank, score)| Score::Ranked { rank, score }),
    ];
    (text(), proptest::collection::vec(score, 0..5)).prop_map(|(uuid, scores)| Judged { uuid, scores })
}

/// An Arrow array of one of several shapes, some like `Passage`, most not,
/// with nulls anywhere.
fn array() -> impl Strategy<Value = ArrayRef> {
    let nulls = |len: usize| proptest::collection::vec(any::<bool>(), len).prop_map(NullBuffer::from);
    let leaf = (1..6usize).prop_flat_map(move |len| {
        prop_oneof![
            proptest::collection::vec(any::<i64>(), len).prop_map(|v| Arc::new(Int64Array::from(v)) as ArrayRef),
            proptest::collection::vec(text(), len).prop_map(|v| Arc::new(StringArray::from(v)) as ArrayRef),
            (proptest::collection::vec(number(), len), nulls(len))
                .prop_map(|(v, n)| Arc::new(Float32Array::new(v.into(), Some(n))) as ArrayRef),
            proptest::collection::vec(any::<bool>(), len).prop_map(|v| Arc::new(BooleanArray::from(v)) as ArrayRef),
        ]
    });
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            // A list array over the inner values, cut at random lengths.
            (inner.clone(), proptest::collection::vec(0..3usize, 1..4)).prop_map(|(values, cuts)| {
                let total: usize = cuts.iter().sum();
                let mut lengths = cuts;
                if total > values.len() {
                    lengths = vec![values.len()];
                } else {
                    lengths.push(values.len() - total);
                }
                let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
                Arc::new(ListArray::new(field, OffsetBuffer::from_lengths(lengths), values, None)) as ArrayRef
            }),
            // A struct of named columns of equal length.
            (
                inner,
                proptest::sample::select(vec!["uuid", "text", "embeddings", "tokens", "hits", "stage", "score"])
            )
                .prop_map(|(column, name)| {
                    let fields = Fields::from(vec![Field::new(name, column.data_type().clone(), true)]);
                    let other = Arc::new(StringArray::from(vec![Some("x"); column.len()])) as ArrayRef;
                    let fields = Fields::from(
                        fields
                            .iter()
                            .cloned()
                            .chain([Arc::new(Field::new("uuid", DataType::Utf8, true))])
                            .filter(|f| f.name() != "uuid" || name == "uuid")
                            .collect::<Vec<_>>(),
                    );
                    let mut columns = vec![column];
                    if fields.len() == 2 {
                        columns.push(other);
                    }
                    Arc::new(StructArray::new(fields, columns, None)) as ArrayRef
                }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rows_survive_the_trip_through_arrow(rows in proptest::collection::vec(passage(), 0..6)) {
        let array = to_arrow(&rows).unwrap();
        prop_assert_eq!(array.len(), rows.len());
        prop_assert_eq!(from_arrow::<Passage>(array.as_ref()).unwrap(), rows);
    }

    #[test]
    fn rows_holding_enums_with_data_survive_the_trip_through_arrow(rows in proptest::collection::vec(judged(), 0..6)) {
        // Stored as JSON, which has no infinity: refused, never changed.
        let infinite = rows.iter().flat_map(|r| &r.scores).any(|s| match s {
            Score::Exact(x) | Score::Ranked { score: x, .. } => !x.is_finite(),
            Score::Missing => false,
        });
        match to_arrow(&rows) {
            Ok(array) => {
                prop_assert!(!infinite);
                prop_assert_eq!(from_arrow::<Judged>(array.as_ref()).unwrap(), rows);
            }
            Err(e) => prop_assert!(infinite && e.to_string().contains("has no JSON form"), "{}", e),
        }
    }

    #[test]
    fn any_array_reads_as_rows_or_an_error(array in array()) {
        for read in [
            |a: &dyn Array| from_arrow::<Passage>(a).map(drop),
            |a: &dyn Array| from_arrow::<Judged>(a).map(drop),
            |a: &dyn Array| from_arrow::<Hit>(a).map(drop),
            |a: &dyn Array| from_arrow::<Vec<f32>>(a).map(drop),
            |a: &dyn Array| from_arrow::<String>(a).map(drop),
            |a: &dyn Array| from_arrow::<Stage>(a).map(drop),
        ] {
            let outcome = catch_unwind(AssertUnwindSafe(|| read(array.as_ref())));
            prop_assert!(outcome.is_ok(), "panicked on {:?}", array);
        }
    }
}
