//! Verse citations in the text of a mishnah: `שנאמר (דברים ו, ז) ובשכבך
//! ובקומך`. Each parenthesised group is classified, `(שם)` is resolved to
//! the citation before it, and the quoted words around it become the query.

use super::bible::{Bible, OutOfRange, VerseRef};
use super::numeral::parse_hebrew_numeral;
use super::report::SkipReason;

/// What a parenthesised group says, before it is checked against the text
/// of the Bible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parenthesis {
    /// A book, chapter and verse: `(דברים ו, ז)`, `(שמואל א' א, יא)`.
    Verse(VerseRef),
    /// `(שם)`: the verse of the citation before it.
    Same,
    /// A citation that cannot name a verse (an unknown book, a chapter
    /// without a verse, a number that is not a numeral), or no citation at
    /// all (`(נוסח אחר מפני)`, `(בן נבט)`).
    Unusable(SkipReason),
}

impl Parenthesis {
    /// Whether the group is meant as a reference, resolvable or not.
    pub fn is_citation(&self) -> bool {
        !matches!(self, Self::Unusable(SkipReason::NotACitation))
    }
}

/// Classifies the text inside a pair of parentheses.
///
/// A citation is a book name (as [`Bible::resolve_book`] knows it) followed
/// by a chapter and a verse in Hebrew numerals, separated by spaces and
/// commas. A book with only a chapter is [`SkipReason::MissingVerse`]; a
/// comma-separated `<words> <numeral>, <numeral>` whose words are no book is
/// [`SkipReason::UnknownBook`]; anything else is
/// [`SkipReason::NotACitation`].
pub fn parse_parenthesis(bible: &Bible, inner: &str) -> Parenthesis {
    let inner = inner.trim();
    if inner == "שם" {
        return Parenthesis::Same;
    }
    let spaced = inner.replace(',', " ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    // Longest book name first: `שמואל א' א, יא` is book `שמואל א`, not `שמואל`.
    for split in (1..=tokens.len().min(4)).rev() {
        let Some(book) = bible.resolve_book(&tokens[..split].join(" ")) else {
            continue;
        };
        let numbers: Vec<Option<u32>> = tokens[split..].iter().map(|t| parse_hebrew_numeral(t)).collect();
        return match numbers.as_slice() {
            [Some(chapter), Some(verse)] => Parenthesis::Verse(VerseRef {
                book,
                chapter: *chapter,
                verse: *verse,
            }),
            [] | [Some(_)] => Parenthesis::Unusable(SkipReason::MissingVerse),
            _ => Parenthesis::Unusable(SkipReason::MalformedNumber),
        };
    }
    let numbered = tokens.len() >= 3
        && tokens[tokens.len() - 2..]
            .iter()
            .all(|t| parse_hebrew_numeral(t).is_some());
    if inner.contains(',') && numbered && tokens.len() <= 6 {
        Parenthesis::Unusable(SkipReason::UnknownBook)
    } else {
        Parenthesis::Unusable(SkipReason::NotACitation)
    }
}

/// One parenthesised group of a mishnah and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Citation {
    /// Its position among the mishnah's parenthesised groups, from 1.
    pub ordinal: usize,
    /// The text inside the parentheses, as written.
    pub group: String,
    /// The verse it cites (a `(שם)` resolved, the verse checked against the
    /// Bible), or why there is none.
    pub verse: Result<VerseRef, SkipReason>,
    /// The quoted words; empty for groups that are no citation.
    pub quote: String,
}

/// Finds the parenthesised groups of a mishnah, in order, and for each the
/// verse it cites and the words it quotes.
///
/// The quote is the text after the closing parenthesis up to the next
/// citation, sentence end (`.`, `:`, `?`, `!`) or word announcing another
/// quote (`שנאמר`, `ואומר`, `נאמר`, …), leaving out groups that are no
/// citation (textual variants) and a trailing `וגו'`.
///
/// When nothing follows, the citation is taken to come after its quote
/// (`ועל לא תשנא את אחיך בלבבך (שם).`) and the quote is the text before it,
/// back to the previous sentence end or announcing word; there is none when
/// another citation comes first, since text between two citations is the
/// quote of the first. When that text is only an announcing word
/// (`שנאמר (זכריה ו, יד). והעטרות …`), the quote is the next sentence. A
/// citation with a verse but no quote becomes [`SkipReason::EmptyQuote`].
///
/// `(שם)` takes the verse of the closest citation before it in the same
/// mishnah (every `(שם)` in the package has one).
pub fn extract_citations(bible: &Bible, mishnah: &str) -> Vec<Citation> {
    let text = strip_markup(mishnah);
    let pieces = split_pieces(bible, &text);
    let mut citations = Vec::new();
    let mut previous: Option<Result<VerseRef, SkipReason>> = None;
    for (index, piece) in pieces.iter().enumerate() {
        let Piece::Group { ordinal, inner, parsed } = piece else {
            continue;
        };
        let verse = match parsed {
            Parenthesis::Verse(at) => match bible.verse(*at) {
                Ok(_) => Ok(*at),
                Err(OutOfRange::Chapter) => Err(SkipReason::ChapterOutOfRange),
                Err(OutOfRange::Verse) => Err(SkipReason::VerseOutOfRange),
            },
            Parenthesis::Same => match previous {
                Some(Ok(at)) => Ok(at),
                Some(Err(_)) => Err(SkipReason::SameAfterUnresolved),
                None => Err(SkipReason::SameWithoutPrevious),
            },
            Parenthesis::Unusable(reason) => Err(*reason),
        };
        if parsed.is_citation() {
            previous = Some(verse);
        }
        let quote = if parsed.is_citation() {
            quote_around(&pieces, index)
        } else {
            String::new()
        };
        let verse = match verse {
            Ok(_) if quote.is_empty() => Err(SkipReason::EmptyQuote),
            other => other,
        };
        citations.push(Citation {
            ordinal: *ordinal,
            group: inner.to_string(),
            verse,
            quote,
        });
    }
    citations
}

/// A run of text, a sentence end, or a parenthesised group.
enum Piece<'a> {
    Text(&'a str),
    Stop,
    Group {
        ordinal: usize,
        inner: &'a str,
        parsed: Parenthesis,
    },
}

impl Piece<'_> {
    /// Whether the piece ends a quote: a sentence end or a citation.
    fn ends_quote(&self) -> bool {
        match self {
            Piece::Text(_) => false,
            Piece::Stop => true,
            Piece::Group { parsed, .. } => parsed.is_citation(),
        }
    }
}

fn split_pieces<'a>(bible: &Bible, text: &'a str) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut ordinal = 0;
    let mut start = 0;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '.' | ':' | '?' | '!' => {
                pieces.push(Piece::Text(&text[start..at]));
                pieces.push(Piece::Stop);
                start = at + c.len_utf8();
            }
            '(' => {
                let Some(close) = text[at..].find(')').map(|offset| at + offset) else {
                    continue;
                };
                pieces.push(Piece::Text(&text[start..at]));
                ordinal += 1;
                let inner = &text[at + 1..close];
                pieces.push(Piece::Group {
                    ordinal,
                    inner,
                    parsed: parse_parenthesis(bible, inner),
                });
                start = close + 1;
                // Skip the group's inside, which may hold `.` of its own.
                for (inside, _) in chars.by_ref() {
                    if inside == close {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    pieces.push(Piece::Text(&text[start..]));
    pieces
}

/// Words that announce a quote: a quote runs up to the next of them, a
/// citation right after one has its quote after it, not before.
const INTRODUCERS: &[&str] = &[
    "שנאמר",
    "ונאמר",
    "נאמר",
    "לומר",
    "ואומר",
    "שנא'",
    "שכתוב",
    "וכתיב",
    "כתיב",
    "דכתיב",
];

fn quote_around(pieces: &[Piece<'_>], index: usize) -> String {
    let after = collect_forward(&pieces[index + 1..]);
    if !after.is_empty() {
        return after;
    }
    let before = collect_backward(&pieces[..index]);
    let introduced = before
        .split_whitespace()
        .last()
        .is_some_and(|w| INTRODUCERS.contains(&w));
    if !before.is_empty() && !introduced {
        return before;
    }
    // `שנאמר (זכריה ו, יד). והעטרות …`: the quote is the next sentence.
    let rest = &pieces[index + 1..];
    let first = rest.iter().position(|p| !text_is_blank(p)).unwrap_or(rest.len());
    if !matches!(rest.get(first), Some(Piece::Stop)) {
        return String::new();
    }
    let next = rest[first..]
        .iter()
        .position(|p| !matches!(p, Piece::Stop) && !text_is_blank(p))
        .map_or(rest.len(), |n| first + n);
    collect_forward(&rest[next..])
}

fn text_is_blank(piece: &Piece<'_>) -> bool {
    matches!(piece, Piece::Text(t) if t.trim().is_empty())
}

fn collect_forward(pieces: &[Piece<'_>]) -> String {
    let mut words = Vec::new();
    for piece in pieces.iter().take_while(|p| !p.ends_quote()) {
        if let Piece::Text(text) = piece {
            words.extend(text.split_whitespace());
        }
    }
    // `ובשכבך ובקומך ובית הלל אומרים … שנאמר`: stop where the next quote is announced.
    if let Some(cut) = words.iter().skip(1).position(|w| INTRODUCERS.contains(w)) {
        words.truncate(cut + 1);
        if words.last().is_some_and(|w| matches!(*w, "תלמוד" | "ת\"ל")) {
            words.pop();
        }
    }
    clean_quote(words)
}

fn collect_backward(pieces: &[Piece<'_>]) -> String {
    let mut runs = Vec::new();
    for piece in pieces.iter().rev() {
        match piece {
            Piece::Text(text) => runs.push(*text),
            Piece::Stop => break,
            // Text between two citations is the quote of the first.
            Piece::Group { parsed, .. } if parsed.is_citation() => return String::new(),
            Piece::Group { .. } => {}
        }
    }
    let words: Vec<&str> = runs.into_iter().rev().flat_map(str::split_whitespace).collect();
    // `… שנאמר מזרעך לא תתן (ויקרא יח, כא).`: the quote starts after the announcement.
    match words.iter().rposition(|w| INTRODUCERS.contains(w)) {
        Some(cut) if cut + 1 < words.len() => clean_quote(words[cut + 1..].to_vec()),
        _ => clean_quote(words),
    }
}

/// Joins the words, dropping a trailing "and so on" and stray commas.
fn clean_quote(mut words: Vec<&str>) -> String {
    while words
        .last()
        .is_some_and(|w| matches!(*w, "וגו'" | "וגו׳" | "וגומר" | "וגו" | "," | ";"))
    {
        words.pop();
    }
    words
        .join(" ")
        .trim_matches(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .to_string()
}

/// Removes HTML tags (`<br>`, `<small>`, `<b>`) that the source keeps in a
/// few mishnayot.
fn strip_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let is_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        match after.find('>') {
            Some(close) if is_tag => {
                out.push_str(&rest[..open]);
                out.push(' ');
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
