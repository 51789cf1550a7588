//! Hebrew numerals (gematria) as printed in chapter and verse references.

/// Parses a Hebrew numeral such as `ז` (7), `טו` (15), `טז` (16), `קיט`
/// (119) or `קכ"ו` (126) into its value.
///
/// Geresh and gershayim (`'`, `׳`, `"`, `״`) are ignored wherever they
/// stand. The letters must be in the standard order: hundreds (`ק` to `ת`,
/// with `ת` repeatable for 500 and more, as in `תק` or `תתק`), then at most
/// one tens letter, then at most one units letter; `טו` and `טז` (the usual
/// spellings of 15 and 16) are accepted, and so are `יה` and `יו`. Anything
/// else (final letters, a second units letter, letters out of order, words
/// like `על` or `טפח`) is not a numeral and gives `None`.
pub fn parse_hebrew_numeral(text: &str) -> Option<u32> {
    let letters: Vec<char> = text.chars().filter(|c| !matches!(c, '\'' | '"' | '׳' | '״')).collect();
    if letters.is_empty() {
        return None;
    }
    let mut value = 0;
    let mut rest = letters.as_slice();
    // Hundreds: any number of ת, then at most one of ק ר ש.
    while let [first, tail @ ..] = rest {
        match first {
            'ת' => value += 400,
            _ => break,
        }
        rest = tail;
    }
    if let [first @ ('ק' | 'ר' | 'ש'), tail @ ..] = rest {
        value += letter_value(*first)?;
        rest = tail;
    }
    // The two spellings that avoid writing a divine name: ט followed by ו or ז.
    if let ['ט', second @ ('ו' | 'ז')] = rest {
        return Some(value + 9 + letter_value(*second)?);
    }
    if let [first @ ('י' | 'כ' | 'ל' | 'מ' | 'נ' | 'ס' | 'ע' | 'פ' | 'צ'), tail @ ..] = rest {
        value += letter_value(*first)?;
        rest = tail;
    }
    if let [first @ ('א'..='ט'), tail @ ..] = rest {
        value += letter_value(*first)?;
        rest = tail;
    }
    rest.is_empty().then_some(value)
}

fn letter_value(letter: char) -> Option<u32> {
    Some(match letter {
        'א' => 1,
        'ב' => 2,
        'ג' => 3,
        'ד' => 4,
        'ה' => 5,
        'ו' => 6,
        'ז' => 7,
        'ח' => 8,
        'ט' => 9,
        'י' => 10,
        'כ' => 20,
        'ל' => 30,
        'מ' => 40,
        'נ' => 50,
        'ס' => 60,
        'ע' => 70,
        'פ' => 80,
        'צ' => 90,
        'ק' => 100,
        'ר' => 200,
        'ש' => 300,
        'ת' => 400,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_hebrew_numeral;

    #[test]
    fn every_value_up_to_999_written_canonically_round_trips() {
        for n in 1..1000 {
            assert_eq!(parse_hebrew_numeral(&write(n)), Some(n), "{n} written as {}", write(n));
        }
    }

    /// The standard spelling of `n`, written independently of the parser.
    fn write(mut n: u32) -> String {
        let mut out = String::new();
        while n >= 400 {
            out.push('ת');
            n -= 400;
        }
        let hundreds = ['ק', 'ר', 'ש'];
        if n >= 100 {
            out.push(hundreds[(n / 100 - 1) as usize]);
            n %= 100;
        }
        if n == 15 || n == 16 {
            out.push('ט');
            out.push(if n == 15 { 'ו' } else { 'ז' });
            return out;
        }
        let tens = ['י', 'כ', 'ל', 'מ', 'נ', 'ס', 'ע', 'פ', 'צ'];
        if n >= 10 {
            out.push(tens[(n / 10 - 1) as usize]);
            n %= 10;
        }
        let units = ['א', 'ב', 'ג', 'ד', 'ה', 'ו', 'ז', 'ח', 'ט'];
        if n > 0 {
            out.push(units[(n - 1) as usize]);
        }
        out
    }
}
