//! Hebrew text normalisation shared by BM25 and the ColBERT encoder.
//!
//! Reference: the Unicode Hebrew block (U+0590–U+05FF, *The Unicode Standard*,
//! chapter 9.1) and the Alphabetic Presentation Forms block (U+FB1D–U+FB4F).
//!
//! What [`HebrewNormalizer::normalize`] does, character by character:
//!
//! | input | output |
//! |---|---|
//! | cantillation marks U+0591–U+05AF | removed |
//! | niqqud points U+05B0–U+05BD, rafe U+05BF, shin/sin dots U+05C1–U+05C2, upper/lower dots U+05C4–U+05C5, qamats qatan U+05C7 | removed |
//! | maqaf U+05BE (a word joiner that separates words for search) | space |
//! | paseq U+05C0, sof pasuq U+05C3, nun hafukha U+05C6 (punctuation) | space |
//! | combining grapheme joiners U+034F after Hebrew (used in pointed Bible text) | removed |
//! | presentation forms U+FB1D–U+FB4F (letters with a dagesh, shin dot, …) | the base letter(s) |
//! | final letters ך ם ן ף ץ | כ מ נ פ צ, only when `fold_finals` is set |
//! | everything else (letters, geresh, gershayim, other scripts) | unchanged |
//!
//! The mapping is idempotent: normalising twice gives the same text as once.
//!
//! ```
//! use nodefusion_udfs::hebrew::{normalize, HebrewNormalizer};
//! // "In the beginning God created" (Genesis 1:1), pointed and with cantillation.
//! let pointed = "בְּרֵאשִׁ֖ית בָּרָ֣א אֱלֹהִ֑ים";
//! assert_eq!(normalize(pointed), "בראשית ברא אלהים");
//! let folding = HebrewNormalizer { fold_finals: true };
//! assert_eq!(folding.normalize(pointed), "בראשית ברא אלהימ");
//! // The maqaf joins words in writing; it is a separator for search.
//! assert_eq!(normalize("כָּל־הָאָרֶץ"), "כל הארץ");
//! ```

use serde::{Deserialize, Serialize};

/// Hebrew normalisation settings; serde-serialisable so that an index can
/// record exactly how its text was normalised.
///
/// The default keeps final letters as they are (what an encoder wants); the
/// BM25 tokeniser turns `fold_finals` on by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct HebrewNormalizer {
    /// Fold final letter forms onto their medial forms (ך→כ, ם→מ, ן→נ, ף→פ, ץ→צ).
    pub fold_finals: bool,
}

/// Normalises `text` with the default settings (marks removed, final letters kept).
///
/// ```
/// assert_eq!(nodefusion_udfs::hebrew::normalize("שָׁלוֹם, world"), "שלום, world");
/// ```
pub fn normalize(text: &str) -> String {
    HebrewNormalizer::default().normalize(text)
}

/// What to do with one character.
enum Action {
    Keep,
    Drop,
    Space,
    Replace(char),
    Replace2(char, char),
}

impl HebrewNormalizer {
    /// Normalises `text`; see the [module documentation](self) for the mapping.
    ///
    /// ```
    /// use nodefusion_udfs::hebrew::HebrewNormalizer;
    /// let n = HebrewNormalizer { fold_finals: true };
    /// assert_eq!(n.normalize("מֶלֶךְ"), "מלכ");
    /// ```
    pub fn normalize(&self, text: &str) -> String {
        // Fast path: nothing in the Hebrew block, the CGJ or presentation forms.
        if !text.chars().any(is_hebrew_related) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut after_hebrew = false;
        for c in text.chars() {
            let action = self.action(c, after_hebrew);
            // A run of joiners after Hebrew is dropped as a whole, so that
            // normalising the output again changes nothing.
            after_hebrew = is_hebrew_block(c) || is_presentation_form(c) || (c == CGJ && after_hebrew);
            match action {
                Action::Keep => out.push(c),
                Action::Drop => {}
                Action::Space => out.push(' '),
                Action::Replace(r) => out.push(r),
                Action::Replace2(a, b) => {
                    out.push(a);
                    out.push(b);
                }
            }
        }
        out
    }

    fn action(&self, c: char, after_hebrew: bool) -> Action {
        match c {
            '\u{0591}'..='\u{05BD}' | '\u{05BF}' | '\u{05C1}' | '\u{05C2}' | '\u{05C4}' | '\u{05C5}' | '\u{05C7}' => {
                Action::Drop
            }
            '\u{05BE}' | '\u{05C0}' | '\u{05C3}' | '\u{05C6}' => Action::Space,
            CGJ if after_hebrew => Action::Drop,
            'ך' | 'ם' | 'ן' | 'ף' | 'ץ' if self.fold_finals => Action::Replace(fold_final(c)),
            '\u{FB1D}'..='\u{FB4F}' => match presentation_base(c) {
                Some(Base::One(b)) => Action::Replace(self.fold(b)),
                Some(Base::Two(a, b)) => Action::Replace2(a, b),
                None => Action::Keep,
            },
            _ => Action::Keep,
        }
    }

    fn fold(&self, c: char) -> char {
        if self.fold_finals { fold_final(c) } else { c }
    }
}

/// The combining grapheme joiner, which pointed Bible text puts between marks.
const CGJ: char = '\u{034F}';

fn is_hebrew_block(c: char) -> bool {
    ('\u{0590}'..='\u{05FF}').contains(&c)
}

fn is_presentation_form(c: char) -> bool {
    ('\u{FB1D}'..='\u{FB4F}').contains(&c)
}

fn is_hebrew_related(c: char) -> bool {
    is_hebrew_block(c) || is_presentation_form(c) || c == CGJ
}

fn fold_final(c: char) -> char {
    match c {
        'ך' => 'כ',
        'ם' => 'מ',
        'ן' => 'נ',
        'ף' => 'פ',
        'ץ' => 'צ',
        other => other,
    }
}

enum Base {
    One(char),
    Two(char, char),
}

/// Base letters of the Hebrew presentation forms (their canonical or
/// compatibility decompositions with the marks removed).
fn presentation_base(c: char) -> Option<Base> {
    let one = |b| Some(Base::One(b));
    match c {
        '\u{FB1D}' => one('י'),        // yod with hiriq
        '\u{FB1F}' => one('\u{05F2}'), // yiddish yod yod patah
        '\u{FB20}' => one('ע'),        // alternative ayin
        '\u{FB21}' => one('א'),        // wide letters FB21–FB28
        '\u{FB22}' => one('ד'),
        '\u{FB23}' => one('ה'),
        '\u{FB24}' => one('כ'),
        '\u{FB25}' => one('ל'),
        '\u{FB26}' => one('ם'),
        '\u{FB27}' => one('ר'),
        '\u{FB28}' => one('ת'),
        '\u{FB2A}'..='\u{FB2D}' => one('ש'), // shin with dots / dagesh
        '\u{FB2E}'..='\u{FB30}' => one('א'), // alef with patah, qamats, mapiq
        '\u{FB31}' => one('ב'),
        '\u{FB32}' => one('ג'),
        '\u{FB33}' => one('ד'),
        '\u{FB34}' => one('ה'),
        '\u{FB35}' => one('ו'),
        '\u{FB36}' => one('ז'),
        '\u{FB38}' => one('ט'),
        '\u{FB39}' => one('י'),
        '\u{FB3A}' => one('ך'),
        '\u{FB3B}' => one('כ'),
        '\u{FB3C}' => one('ל'),
        '\u{FB3E}' => one('מ'),
        '\u{FB40}' => one('נ'),
        '\u{FB41}' => one('ס'),
        '\u{FB43}' => one('ף'),
        '\u{FB44}' => one('פ'),
        '\u{FB46}' => one('צ'),
        '\u{FB47}' => one('ק'),
        '\u{FB48}' => one('ר'),
        '\u{FB49}' => one('ש'),
        '\u{FB4A}' => one('ת'),
        '\u{FB4B}' => one('ו'), // vav with holam
        '\u{FB4C}' => one('ב'), // with rafe
        '\u{FB4D}' => one('כ'),
        '\u{FB4E}' => one('פ'),
        '\u{FB4F}' => Some(Base::Two('א', 'ל')), // alef-lamed ligature
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presentation_forms_become_base_letters() {
        assert_eq!(normalize("\u{FB2A}\u{FB31}\u{FB4F}"), "שבאל");
        let fold = HebrewNormalizer { fold_finals: true };
        assert_eq!(fold.normalize("\u{FB3A}"), "כ");
    }

    #[test]
    fn cgj_is_removed_only_after_hebrew() {
        assert_eq!(normalize("יְרוּשָׁלַ\u{034F}ִם"), "ירושלם");
        assert_eq!(normalize("a\u{034F}b"), "a\u{034F}b");
    }

    #[test]
    fn a_run_of_cgjs_after_hebrew_is_removed_whole() {
        // Found by the idempotence property: the second joiner used to survive
        // the first pass and be removed by the second.
        assert_eq!(normalize("\u{05C8}\u{034F}\u{034F}"), "\u{05C8}");
        assert_eq!(normalize("א\u{034F}\u{034F}\u{034F}ב"), "אב");
        assert_eq!(normalize("a\u{034F}\u{034F}"), "a\u{034F}\u{034F}");
    }

    #[test]
    fn other_scripts_are_unchanged() {
        let s = "Ünïcödé – Ελληνικά, 中文, العربية";
        assert_eq!(normalize(s), s);
    }
}
