use nodefusion_udfs::hebrew::{HebrewNormalizer, normalize};
use proptest::prelude::*;

#[test]
fn niqqud_and_cantillation_are_removed() {
    // Genesis 1:1 with niqqud and te'amim.
    let pointed = "בְּרֵאשִׁ֖ית בָּרָ֣א אֱלֹהִ֑ים אֵ֥ת הַשָּׁמַ֖יִם וְאֵ֥ת הָאָֽרֶץ׃";
    assert_eq!(normalize(pointed), "בראשית ברא אלהים את השמים ואת הארץ ");
}

#[test]
fn maqaf_paseq_and_sof_pasuq_become_spaces() {
    assert_eq!(normalize("עַל־פְּנֵי"), "על פני");
    assert_eq!(normalize("א׀ב"), "א ב");
    assert_eq!(normalize("סוף׃"), "סוף ");
}

#[test]
fn final_letters_fold_only_when_asked() {
    let text = "ךםןףץ";
    assert_eq!(normalize(text), text);
    assert_eq!(HebrewNormalizer { fold_finals: true }.normalize(text), "כמנפצ");
}

#[test]
fn geresh_and_gershayim_are_kept() {
    assert_eq!(normalize("רמב״ם ג׳"), "רמב״ם ג׳");
}

#[test]
fn normalizer_round_trips_through_serde() {
    let n = HebrewNormalizer { fold_finals: true };
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(json, r#"{"fold_finals":true}"#);
    assert_eq!(serde_json::from_str::<HebrewNormalizer>(&json).unwrap(), n);
    assert_eq!(
        serde_json::from_str::<HebrewNormalizer>("{}").unwrap(),
        HebrewNormalizer::default()
    );
}

/// Characters worth mixing: Hebrew letters, finals, marks, separators, Latin, digits.
fn hebrewish() -> impl Strategy<Value = String> {
    let pool: Vec<char> = ('\u{0590}'..='\u{05FF}')
        .chain('\u{FB1D}'..='\u{FB4F}')
        .chain(['a', 'Z', '1', ' ', '-', '\u{034F}', 'é', 'ß'])
        .collect();
    proptest::collection::vec(proptest::sample::select(pool), 0..40).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn normalization_is_idempotent(text in hebrewish(), fold in any::<bool>()) {
        let n = HebrewNormalizer { fold_finals: fold };
        let once = n.normalize(&text);
        prop_assert_eq!(n.normalize(&once), once);
    }

    #[test]
    fn text_without_hebrew_is_unchanged(text in "[a-zA-Z0-9 .,;:!?éüßЖж中]{0,40}", fold in any::<bool>()) {
        prop_assert_eq!(HebrewNormalizer { fold_finals: fold }.normalize(&text), text);
    }

    #[test]
    fn no_marks_survive_normalization(text in hebrewish()) {
        let out = normalize(&text);
        prop_assert!(!out.chars().any(|c| ('\u{0591}'..='\u{05C7}').contains(&c)), "{:?}", out);
    }
}
