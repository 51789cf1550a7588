use nodefusion_udfs::fusion::{
    FusionError, FusionMethod, FusionParams, RrfParams, fuse, fuse_hits, reciprocal_rank_fusion,
};
use nodefusion_udfs::hit::Hit;
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
        err.to_string().starts_with("fusion weight 0 must be finite and >= 0"),
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

const METHODS: [FusionMethod; 3] = [FusionMethod::Rrf, FusionMethod::MinMax, FusionMethod::ZScore];

fn ids<T: Copy>(fused: &[nodefusion_udfs::fusion::Fused<T>]) -> Vec<T> {
    fused.iter().map(|f| f.id).collect()
}

#[test]
fn min_max_and_z_score_follow_their_formulas() {
    let a = [("x", 4.0), ("y", 2.0), ("z", 0.0)];
    let b = [("y", 10.0), ("w", 5.0)];
    let params = |method| FusionParams {
        method,
        weights: Some(vec![1.0, 0.5]),
        ..Default::default()
    };
    let score = |fused: &[nodefusion_udfs::fusion::Fused<&str>], id| fused.iter().find(|f| f.id == id).unwrap().score;

    let min_max = fuse(&[&a[..], &b[..]], &params(FusionMethod::MinMax)).unwrap();
    assert!((score(&min_max, "y") - (0.5 + 0.5 * 1.0)).abs() < 1e-12);
    assert!((score(&min_max, "x") - 1.0).abs() < 1e-12);
    assert!((score(&min_max, "w") - 0.0).abs() < 1e-12);

    // σ_a = sqrt(8/3), σ_b = 2.5
    let z = fuse(&[&a[..], &b[..]], &params(FusionMethod::ZScore)).unwrap();
    let sa = (8.0f64 / 3.0).sqrt();
    assert!((score(&z, "x") - 4.0 / sa).abs() < 1e-12);
    assert!((score(&z, "y") - (2.0 / sa + 0.5 * 5.0 / 2.5)).abs() < 1e-12);
    assert_eq!(ids(&z), ["x", "y", "z", "w"]);
}

#[test]
fn a_list_without_signal_leaves_the_others_order_alone() {
    let dense = [(7u32, 0.9), (3, 0.7), (5, 0.69), (1, 0.2)];
    let empty: [(u32, f64); 0] = [];
    let flat = [(9u32, 0.0), (8, 0.0), (3, 0.0)];
    let single = [(4u32, 12.0)];
    for method in [FusionMethod::MinMax, FusionMethod::ZScore] {
        let params = FusionParams {
            method,
            ..Default::default()
        };
        assert_eq!(ids(&fuse(&[&empty[..], &dense[..]], &params).unwrap()), [7, 3, 5, 1]);
        // Flat and single-hit lists add their documents at the end, in order.
        assert_eq!(
            ids(&fuse(&[&dense[..], &flat[..]], &params).unwrap()),
            [7, 3, 5, 1, 9, 8]
        );
        assert_eq!(
            ids(&fuse(&[&dense[..], &single[..]], &params).unwrap()),
            [7, 3, 5, 1, 4]
        );
    }
}

#[test]
fn fuse_rejects_bad_input_with_clear_messages() {
    let a = [(1u32, f64::NAN)];
    let err = fuse(&[&a[..]], &FusionParams::default()).unwrap_err();
    assert_eq!(err, FusionError::NonFiniteScore { list: 0, index: 0 });
    assert_eq!(err.to_string(), "list 0 has a non-finite score at position 0");
    let ok = [(1u32, 1.0)];
    let err = fuse(
        &[&ok[..]],
        &FusionParams {
            weights: Some(vec![1.0, 1.0]),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "fusion needs one weight per ranked list: expected 1 weights, found 2"
    );
    let err = fuse(
        &[&ok[..]],
        &FusionParams {
            rrf_k: f64::INFINITY,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err, FusionError::InvalidK(f64::INFINITY));
}

proptest! {
    /// Order-keeping rerank: with weight 0 on the reranker's list, fusion
    /// returns the first stage's order exactly, whatever the method, ties
    /// included.
    #[test]
    fn zero_weight_on_the_reranker_keeps_the_first_stage_order(
        first_scores in proptest::collection::vec(0u8..6, 0..40),
        rerank_scores in proptest::collection::vec(-5.0f64..5.0, 0..40),
        method_index in 0usize..3,
    ) {
        // First stage: ids 0.., scores non-increasing (ties likely).
        let mut sorted = first_scores.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let first: Vec<(u32, f64)> = sorted.iter().enumerate().map(|(i, &s)| (i as u32, f64::from(s))).collect();
        let mut reranked: Vec<(u32, f64)> = first.iter().zip(&rerank_scores).map(|((id, _), &s)| (*id, s)).collect();
        reranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let params = FusionParams { method: METHODS[method_index], weights: Some(vec![1.0, 0.0]), ..Default::default() };
        let fused = fuse(&[&first[..], &reranked[..]], &params).unwrap();
        let expected: Vec<u32> = first.iter().map(|(id, _)| *id).collect();
        prop_assert_eq!(ids(&fused), expected);
    }
}
