use nodefusion_udfs::fusion::{FusionError, Hit, RrfParams, fuse_hits, reciprocal_rank_fusion};
use proptest::prelude::*;

#[test]
fn rrf_score_is_the_sum_of_weighted_reciprocal_ranks() {
    let a = vec![10u32, 20, 30];
    let b = vec![30u32, 40];
    let params = RrfParams {
        k: 60.0,
        weights: Some(vec![1.0, 2.0]),
        top_k: None,
    };
    let fused = reciprocal_rank_fusion(&[a, b], &params).unwrap();
    let score = |id| fused.iter().find(|f| f.id == id).unwrap().score;
    assert!((score(30) - (1.0 / 63.0 + 2.0 / 61.0)).abs() < 1e-12);
    assert!((score(40) - 2.0 / 62.0).abs() < 1e-12);
    assert!((score(10) - 1.0 / 61.0).abs() < 1e-12);
    assert_eq!(fused[0].id, 30);
}

#[test]
fn rrf_counts_a_repeated_document_once_at_its_best_rank() {
    let fused = reciprocal_rank_fusion(&[vec!["x", "y", "x"]], &RrfParams::default()).unwrap();
    assert_eq!(fused.len(), 2);
    assert!((fused[0].score - 1.0 / 61.0).abs() < 1e-12);
}

#[test]
fn rrf_rejects_bad_parameters_with_clear_messages() {
    let lists = [vec![1u32]];
    let err = reciprocal_rank_fusion(
        &lists,
        &RrfParams {
            k: -1.0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err, FusionError::InvalidK(-1.0));
    assert_eq!(err.to_string(), "RRF constant k must be finite and >= 0, found -1");
    let err = reciprocal_rank_fusion(
        &lists,
        &RrfParams {
            weights: Some(vec![f64::NAN]),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("RRF weight 0 must be finite and >= 0"),
        "{err}"
    );
}

#[test]
fn fuse_hits_uses_list_order_not_scores() {
    let a = vec![Hit { doc: 1, score: 0.1 }, Hit { doc: 2, score: 100.0 }];
    let fused = fuse_hits(
        &[a],
        &RrfParams {
            top_k: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        fused,
        vec![Hit {
            doc: 1,
            score: (1.0f64 / 61.0) as f32
        }]
    );
}

fn ranked_list() -> impl Strategy<Value = Vec<u32>> {
    proptest::sample::subsequence((0u32..30).collect::<Vec<_>>(), 0..30).prop_shuffle()
}

proptest! {
    #[test]
    fn a_single_list_keeps_its_order(list in ranked_list()) {
        let fused = reciprocal_rank_fusion(std::slice::from_ref(&list), &RrfParams::default()).unwrap();
        let ids: Vec<u32> = fused.iter().map(|f| f.id).collect();
        prop_assert_eq!(ids, list);
    }

    #[test]
    fn fusion_returns_the_union_sorted_by_score(lists in proptest::collection::vec(ranked_list(), 0..5)) {
        let fused = reciprocal_rank_fusion(&lists, &RrfParams::default()).unwrap();
        let mut union: Vec<u32> = lists.iter().flatten().copied().collect();
        union.sort_unstable();
        union.dedup();
        let mut ids: Vec<u32> = fused.iter().map(|f| f.id).collect();
        ids.sort_unstable();
        prop_assert_eq!(ids, union);
        prop_assert!(fused.windows(2).all(|w| w[0].score > w[1].score || (w[0].score == w[1].score && w[0].id < w[1].id)));
    }

    #[test]
    fn list_order_does_not_matter_with_equal_weights(lists in proptest::collection::vec(ranked_list(), 1..5)) {
        let forward = reciprocal_rank_fusion(&lists, &RrfParams::default()).unwrap();
        let mut rev = lists.clone();
        rev.reverse();
        let backward = reciprocal_rank_fusion(&rev, &RrfParams::default()).unwrap();
        prop_assert_eq!(forward.len(), backward.len());
        for (f, b) in forward.iter().zip(&backward) {
            prop_assert_eq!(f.id, b.id);
            prop_assert!((f.score - b.score).abs() < 1e-12);
        }
    }

    #[test]
    fn a_document_ranked_first_everywhere_wins(lists in proptest::collection::vec(ranked_list(), 1..5)) {
        let lists: Vec<Vec<u32>> = lists.into_iter().map(|mut l| { l.retain(|&x| x != 999); l.insert(0, 999); l }).collect();
        let fused = reciprocal_rank_fusion(&lists, &RrfParams::default()).unwrap();
        prop_assert_eq!(fused[0].id, 999);
    }
}
