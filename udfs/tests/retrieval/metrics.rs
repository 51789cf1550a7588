use std::collections::BTreeMap;

use nodefusion_udfs::metrics::{Measure, MetricsError, Qrels, Run, evaluate};
use serde::Deserialize;

use crate::support::assert_close;

#[derive(Deserialize)]
struct Fixture {
    cutoffs: Vec<usize>,
    qrels: Qrels,
    run: Run,
    evaluated_queries: Vec<String>,
    per_query: BTreeMap<String, BTreeMap<String, f64>>,
    mean: BTreeMap<String, f64>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics_fixture.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn measures(cutoffs: &[usize]) -> Vec<Measure> {
    let mut m = vec![Measure::Map];
    for &k in cutoffs {
        m.extend([Measure::Ndcg(k), Measure::Recall(k), Measure::Mrr(k)]);
    }
    m
}

#[test]
fn metrics_equal_pytrec_eval_per_query_and_on_average() {
    let f = fixture();
    let ev = evaluate(&f.qrels, &f.run, &measures(&f.cutoffs)).unwrap();
    assert_eq!(ev.per_query.keys().cloned().collect::<Vec<_>>(), f.evaluated_queries);
    let mut compared = 0;
    for (q, expected) in &f.per_query {
        for (name, want) in expected {
            assert_close(ev.per_query[q][name], *want, 1e-6, &format!("{q} {name}"));
            compared += 1;
        }
    }
    for (name, want) in &f.mean {
        assert_close(ev.mean[name], *want, 1e-6, &format!("mean {name}"));
    }
    assert_eq!(compared, f.evaluated_queries.len() * (1 + 3 * f.cutoffs.len()));
}

#[test]
fn tied_scores_are_ranked_by_docid_descending() {
    let mut qrels = Qrels::new();
    qrels.entry("q".into()).or_default().insert("a".into(), 1);
    let mut run = Run::new();
    run.entry("q".into())
        .or_default()
        .extend([("a".into(), 1.0), ("b".into(), 1.0)]);
    let ev = evaluate(&qrels, &run, &[Measure::Mrr(10)]).unwrap();
    assert_eq!(ev.per_query["q"]["recip_rank_cut_10"], 0.5);
}

#[test]
fn queries_missing_from_qrels_or_run_are_not_evaluated() {
    let mut qrels = Qrels::new();
    qrels.entry("only_qrels".into()).or_default().insert("a".into(), 1);
    qrels.entry("both".into()).or_default().insert("a".into(), 1);
    let mut run = Run::new();
    run.entry("only_run".into()).or_default().insert("a".into(), 1.0);
    run.entry("both".into()).or_default().insert("a".into(), 1.0);
    let ev = evaluate(&qrels, &run, &[Measure::Recall(1)]).unwrap();
    assert_eq!(ev.per_query.keys().collect::<Vec<_>>(), vec!["both"]);
    assert_eq!(ev.mean["recall_1"], 1.0);
}

#[test]
fn a_nan_score_is_an_error_naming_query_and_doc() {
    let mut qrels = Qrels::new();
    qrels.entry("q".into()).or_default().insert("a".into(), 1);
    let mut run = Run::new();
    run.entry("q".into()).or_default().insert("d7".into(), f64::NAN);
    let err = evaluate(&qrels, &run, &[Measure::Map]).unwrap_err();
    assert_eq!(
        err,
        MetricsError::NanScore {
            query: "q".into(),
            doc: "d7".into()
        }
    );
}
