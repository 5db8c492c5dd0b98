//! Words: splitting a request into tokens, singular forms, names.

use crate::lexicon::lexicon;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Word(String),
    Number(f64),
    /// `,` `;` `:` `.` `(` `)` `/` `'s`
    Mark(char),
}

impl Token {
    pub fn word(&self) -> Option<&str> {
        match self {
            Token::Word(w) => Some(w),
            _ => None,
        }
    }
}

const NUMBER_WORDS: &[(&str, f64)] = &[
    ("zero", 0.0),
    ("one", 1.0),
    ("two", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("seven", 7.0),
    ("eight", 8.0),
    ("nine", 9.0),
    ("ten", 10.0),
    ("twelve", 12.0),
    ("twenty", 20.0),
    ("hundred", 100.0),
];

pub fn number_word(w: &str) -> Option<f64> {
    NUMBER_WORDS.iter().find(|(n, _)| *n == w).map(|(_, v)| *v)
}

/// Lower-cased words, numbers and punctuation marks. `1-10` becomes
/// `1 to 10`; `e-mail` and `to-do` become `email` and `todo`; a possessive
/// `'s` is a mark of its own.
pub fn tokenize(text: &str) -> Vec<Token> {
    let text = text
        .to_lowercase()
        .replace(['\u{2019}', '\u{2018}'], "'")
        .replace(['\u{2013}', '\u{2014}'], " - ");
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
                    || (chars[i] == ',' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                i += 1;
            }
            let n: String = chars[start..i].iter().filter(|c| **c != ',').collect();
            // "5k", "4x4": one word.
            if chars.get(i).is_some_and(|c| c.is_alphabetic()) {
                let mut w = n.clone();
                while i < chars.len() && chars[i].is_alphanumeric() {
                    w.push(chars[i]);
                    i += 1;
                }
                out.push(Token::Word(w));
                continue;
            }
            if let Ok(v) = n.parse() {
                out.push(Token::Number(v));
            }
            // `1-10`: a range.
            if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                out.push(Token::Word("to".into()));
                i += 1;
            }
            continue;
        }
        if c.is_alphabetic() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || (matches!(chars[i], '-' | '_')
                        && chars.get(i + 1).is_some_and(|d| d.is_alphanumeric())))
            {
                i += 1;
            }
            // "Q&A", "R&D", "B&B": one word of initials.
            if i - start == 1
                && chars.get(i) == Some(&'&')
                && chars.get(i + 1).is_some_and(|d| d.is_alphabetic())
                && !chars.get(i + 2).is_some_and(|d| d.is_alphanumeric())
            {
                let w: String = [chars[start], chars[i + 1]].iter().collect();
                out.push(Token::Word(w.to_lowercase()));
                i += 2;
                continue;
            }
            let w: String = chars[start..i].iter().collect();
            let w = match w.as_str() {
                "e-mail" | "e-mails" => w.replace('-', ""),
                "to-do" | "to-dos" => w.replace('-', ""),
                _ => w,
            };
            out.push(Token::Word(w));
            continue;
        }
        match c {
            // "I've", "we're", "I'd": the pronoun alone.
            '\'' if matches!(
                chars
                    .get(i + 1..)
                    .map(|r| r
                        .iter()
                        .take_while(|c| c.is_alphabetic())
                        .collect::<String>())
                    .as_deref(),
                Some("ve" | "re" | "m" | "d" | "ll")
            ) && matches!(
                out.last(),
                Some(Token::Word(w)) if matches!(w.as_str(), "i" | "we" | "you" | "they" | "he" | "she")
            ) =>
            {
                i += 1;
                while i < chars.len() && chars[i].is_alphabetic() {
                    i += 1;
                }
                continue;
            }
            '\'' => {
                // `user's` / `users'`: possessive.
                if chars.get(i + 1) == Some(&'s')
                    && !chars.get(i + 2).is_some_and(|d| d.is_alphanumeric())
                {
                    i += 1;
                }
                out.push(Token::Mark('\''));
            }
            ',' | ';' | ':' | '.' | '(' | ')' | '/' | '!' | '?' => out.push(Token::Mark(match c {
                '!' | '?' => '.',
                c => c,
            })),
            '&' | '+' => out.push(Token::Word("and".into())),
            '$' | '€' | '£' => {}
            '-' => out.push(Token::Mark(',')),
            _ => {}
        }
        i += 1;
    }
    for t in &mut out {
        if let Token::Word(w) = t
            && let Some(v) = number_word(w)
        {
            *t = Token::Number(v);
        }
    }
    drop_reciprocals(merge_phrasal(out))
}

/// "each other's tools", "one another's posts": the reciprocal says
/// nothing about what is kept; "follow each other" follows others.
fn drop_reciprocals(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let pair = (
            tokens.get(i).and_then(Token::word),
            tokens.get(i + 1).and_then(Token::word),
        );
        if matches!(
            pair,
            (Some("each"), Some("other")) | (Some("one"), Some("another"))
        ) {
            i += 2;
            if tokens.get(i) == Some(&Token::Mark('\'')) {
                i += 1;
            } else {
                // "players challenge each other": others of their kind.
                out.push(Token::Word("others".into()));
            }
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// `hand in`, `signed up`: one verb (`hand_in`, `signed_up`) when the
/// lexicon knows the pair.
fn merge_phrasal(tokens: Vec<Token>) -> Vec<Token> {
    let lx = lexicon();
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if let (Some(Token::Word(w)), Some(Token::Word(p))) = (tokens.get(i), tokens.get(i + 1))
            && matches!(p.as_str(), "in" | "up" | "out" | "off" | "on")
        {
            let joined = format!("{w}_{p}");
            if lx.verbs.contains_key(&joined) {
                out.push(Token::Word(joined));
                i += 2;
                continue;
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// The singular of an English noun (`categories` → `category`).
pub fn singular(word: &str) -> String {
    let lx = lexicon();
    if let Some(s) = lx.plurals.get(word) {
        return s.clone();
    }
    if let Some((head, last)) = word.rsplit_once(['-', '_']) {
        let sep = if word.contains('_') { '_' } else { '-' };
        // "check-ins": a short last part still loses its `s`.
        let last = match last.strip_suffix('s') {
            Some(stem) if last.len() <= 3 && !last.ends_with("ss") && !stem.is_empty() => {
                stem.to_string()
            }
            _ => singular(last),
        };
        return format!("{head}{sep}{last}");
    }
    let n = word.len();
    // "DJs", "CDs", "IDs": a short word's plural.
    if n == 3
        && word.ends_with('s')
        && !matches!(
            word,
            "bus" | "gas" | "yes" | "has" | "was" | "his" | "its" | "ass"
        )
        && !word[..2].chars().any(|c| "aeiou".contains(c))
    {
        return word[..2].to_string();
    }
    if n <= 3 || word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        return word.to_string();
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for end in ["sses", "xes", "ches", "shes", "zzes"] {
        if word.ends_with(end) {
            return word[..n - 2].to_string();
        }
    }
    if let Some(stem) = word.strip_suffix('s') {
        return stem.to_string();
    }
    word.to_string()
}

/// Nouns the same in both numbers (`series`, `species`).
pub fn is_invariant(word: &str) -> bool {
    lexicon().plurals.get(word).is_some_and(|s| s == word)
}

pub fn is_plural(word: &str) -> bool {
    singular(word) != word
        || lexicon()
            .plurals
            .get(word)
            .is_some_and(|s| s == word && word.ends_with('s') && word != "news")
}

/// `stock_movement` → `StockMovement`.
pub fn pascal(key: &str) -> String {
    key.split(['_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map_or(String::new(), |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

/// `check-in` → `check_in`; anything else a name cannot hold is dropped.
pub fn ident(word: &str) -> String {
    let mut out = String::new();
    for c in word.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if (c == '-' || c == '_' || c == ' ') && !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Words written with no article or adjective of their own look like an
/// adjective when they end like one (`nightly`, `monthly`).
pub fn is_adjective(word: &str) -> bool {
    // Nouns that end like adverbs.
    const NOUNS_IN_LY: &[&str] = &[
        "family",
        "supply",
        "assembly",
        "rally",
        "ally",
        "anomaly",
        "jelly",
        "belly",
        "lily",
        "bully",
        "folly",
        "butterfly",
        "dragonfly",
        "firefly",
        "monopoly",
        "homily",
        "reply",
        "italy",
        "sicily",
        "july",
        "melody",
        "fly",
    ];
    let lx = lexicon();
    lx.adjectives.contains(word)
        || (word.ends_with("ly")
            && !lx.nouns.contains_key(word)
            && !NOUNS_IN_LY.contains(&word)
            && word.len() > 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singulars() {
        for (p, s) in [
            ("categories", "category"),
            ("classes", "class"),
            ("matches", "match"),
            ("species", "species"),
            ("courses", "course"),
            ("statuses", "status"),
            ("status", "status"),
            ("people", "person"),
            ("check-outs", "check-out"),
            ("movies", "movie"),
            ("replies", "reply"),
            ("boxes", "box"),
            ("expenses", "expense"),
            ("analysis", "analysis"),
        ] {
            assert_eq!(singular(p), s, "{p}");
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(
            tokenize("rate movies 1-10 (in/out), user's e-mail"),
            vec![
                Token::Word("rate".into()),
                Token::Word("movies".into()),
                Token::Number(1.0),
                Token::Word("to".into()),
                Token::Number(10.0),
                Token::Mark('('),
                Token::Word("in".into()),
                Token::Mark('/'),
                Token::Word("out".into()),
                Token::Mark(')'),
                Token::Mark(','),
                Token::Word("user".into()),
                Token::Mark('\''),
                Token::Word("email".into()),
            ]
        );
    }
}
