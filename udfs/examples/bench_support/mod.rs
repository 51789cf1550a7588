//! Deterministic benchmark passages shared by the encoder examples.

/// A small deterministic generator (64-bit LCG); no seed file needed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ENGLISH: &[&str] = &[
    "and",
    "the",
    "LORD",
    "said",
    "unto",
    "Moses",
    "people",
    "land",
    "of",
    "Israel",
    "went",
    "up",
    "into",
    "mountain",
    "water",
    "bread",
    "house",
    "king",
    "David",
    "city",
    "Jerusalem",
    "heaven",
    "earth",
    "light",
    "darkness",
    "spirit",
    "covenant",
    "blessed",
    "children",
    "wilderness",
    "gathered",
    "together",
    "before",
    "after",
    "seven",
    "days",
    "forty",
    "years",
    "altar",
    "gold",
    "silver",
    "commanded",
    "spoke",
    "saying",
    "behold",
    "servant",
    "shepherd",
    "green",
    "pastures",
];
const HEBREW: &[&str] = &[
    "וַיֹּאמֶר",
    "יְהוָה",
    "אֶל",
    "מֹשֶׁה",
    "הָעָם",
    "אֶרֶץ",
    "יִשְׂרָאֵל",
    "וַיֵּלֶךְ",
    "הָהָר",
    "מַיִם",
    "לֶחֶם",
    "בַּיִת",
    "מֶלֶךְ",
    "דָּוִד",
    "עִיר",
    "יְרוּשָׁלַיִם",
    "שָׁמַיִם",
    "אוֹר",
    "חֹשֶׁךְ",
    "רוּחַ",
    "בְּרִית",
    "בָּרוּךְ",
    "בְּנֵי",
    "מִדְבָּר",
    "שִׁבְעָה",
    "יָמִים",
    "אַרְבָּעִים",
    "שָׁנָה",
    "בראשית",
    "ברא",
    "אלהים",
    "השמים",
    "הארץ",
    "ויהי",
    "ערב",
    "בקר",
    "יום",
];

/// `n` passages of 20–40 words: two thirds English, one third Hebrew, with
/// some punctuation, as Bible verses look.
pub fn passages(n: usize) -> Vec<String> {
    let mut rng = Lcg(0x05ee_dc01_be47);
    (0..n)
        .map(|i| {
            let words = if i % 3 == 2 { HEBREW } else { ENGLISH };
            let len = 20 + rng.below(21);
            let mut text = String::new();
            for w in 0..len {
                if w > 0 {
                    text.push(' ');
                }
                text.push_str(words[rng.below(words.len())]);
                match rng.below(12) {
                    0 => text.push(','),
                    1 => text.push(';'),
                    2 if w + 1 < len => text.push(':'),
                    _ => {}
                }
            }
            text.push('.');
            text
        })
        .collect()
}
