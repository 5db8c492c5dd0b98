//! A shallow grammar of requests: words get parts of speech from the
//! lexicon and their neighbours, then group into noun phrases (with what
//! follows them: `with ...`, prepositions, relative clauses, choices,
//! ranges) and clauses (subject, verbs, objects).

use crate::lexicon::{Form, Verb, VerbClass, lexicon};
use crate::words::{Token, is_adjective, is_plural, singular, tokenize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Det,
    Num,
    Prep,
    Of,
    With,
    To,
    Conj,
    /// that, which, who
    Rel,
    /// where, when: a clause follows
    Where,
    Modal,
    Aux,
    Neg,
    Adv,
    Pron,
    Verb,
    Noun,
    Adj,
    Mark(char),
}

#[derive(Debug, Clone)]
pub struct Tok {
    pub text: String,
    pub num: Option<f64>,
    pub tag: Tag,
    pub verb: Option<(Verb, Form)>,
}

const DETS: &[&str] = &[
    "a", "an", "the", "each", "every", "any", "some", "all", "their", "its", "his", "her", "my",
    "our", "your", "this", "these", "those", "no", "both", "another", "many", "multiple",
    "several", "one's", "whose",
];
const PREPS: &[&str] = &[
    "in", "on", "at", "for", "from", "by", "between", "against", "per", "into", "under", "within",
    "inside", "about", "across", "through", "over", "among", "during", "after", "before",
    "without", "via", "onto", "toward", "towards", "around", "near", "along", "beside", "behind",
    "under", "above", "below", "as",
];
const CONJS: &[&str] = &["and", "or", "nor", "plus", "but", "either", "then"];
const MODALS: &[&str] = &[
    "can", "could", "may", "might", "should", "must", "will", "would", "shall", "cannot",
];
const AUX: &[&str] = &[
    "is", "are", "was", "were", "be", "been", "being", "am", "become", "becomes",
];
const ADVS: &[&str] = &[
    "also",
    "only",
    "too",
    "directly",
    "easily",
    "later",
    "together",
    "optionally",
    "usually",
    "often",
    "always",
    "just",
    "even",
    "already",
    "still",
    "then",
    "quickly",
    "online",
    "publicly",
    "privately",
    "separately",
    "up",
    "down",
];
const PRONOUNS: &[&str] = &[
    "they",
    "them",
    "it",
    "he",
    "she",
    "we",
    "i",
    "you",
    "someone",
    "anyone",
    "everyone",
    "somebody",
    "everybody",
    "anybody",
    "people_pron",
    "others",
];

/// A verb's form from its spelling when the lexicon lists only the base.
fn verb_of(word: &str) -> Option<(Verb, Form)> {
    let lx = lexicon();
    if let Some(v) = lx.verb(word) {
        return Some(v.clone());
    }
    // "pre-order", "re-book": the verb after the prefix.
    for prefix in ["pre-", "re-", "co-", "un-", "pre", "re"] {
        if let Some(rest) = word.strip_prefix(prefix)
            && rest.len() > 3
            && let Some(v) = lx.verb(rest)
        {
            return Some(v.clone());
        }
    }
    let derived = verb_by_ending(word);
    if derived.is_some() {
        return derived;
    }
    // A participle the lexicon does not know ("calories burned").
    if word.len() > 4
        && word.ends_with("ed")
        && !word.ends_with("eed")
        && !nouny(word)
        && !crate::words::is_adjective(word)
    {
        let lemma = word.trim_end_matches("ed").to_string();
        return Some((
            Verb {
                lemma,
                class: VerbClass::Light,
                noun: None,
                guessed: true,
            },
            Form::Past,
        ));
    }
    None
}

fn verb_by_ending(word: &str) -> Option<(Verb, Form)> {
    let lx = lexicon();
    let tries: Vec<(String, Form)> = [
        word.strip_suffix("ing")
            .map(|s| vec![(s.to_string(), Form::Ing), (format!("{s}e"), Form::Ing)]),
        word.strip_suffix("ed")
            .map(|s| vec![(s.to_string(), Form::Past), (format!("{s}e"), Form::Past)]),
        word.strip_suffix("es")
            .map(|s| vec![(s.to_string(), Form::Third)]),
        word.strip_suffix('s')
            .map(|s| vec![(s.to_string(), Form::Third)]),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .collect();
    for (base, form) in tries {
        if let Some((v, Form::Base)) = lx.verb(&base) {
            return Some((v.clone(), form));
        }
    }
    None
}

/// A word that can be a noun: the lexicon knows it as one, or knows no
/// verb of that spelling.
fn nouny(word: &str) -> bool {
    let lx = lexicon();
    let s = singular(word);
    lx.nouns.contains_key(&s)
        || lx.attrs.contains_key(word)
        || lx.attrs.contains_key(&s)
        || lx.app.contains(&s)
}

fn closed_tag(w: &str) -> Option<Tag> {
    Some(if DETS.contains(&w) {
        Tag::Det
    } else if w == "of" {
        Tag::Of
    } else if w == "with" {
        Tag::With
    } else if w == "to" {
        Tag::To
    } else if PREPS.contains(&w) {
        Tag::Prep
    } else if CONJS.contains(&w) {
        Tag::Conj
    } else if matches!(w, "that" | "which" | "who" | "whom") {
        Tag::Rel
    } else if matches!(w, "where" | "when" | "whereas" | "while" | "so") {
        Tag::Where
    } else if MODALS.contains(&w) {
        Tag::Modal
    } else if AUX.contains(&w) {
        Tag::Aux
    } else if matches!(w, "not" | "never" | "don't" | "doesn't" | "can't") {
        Tag::Neg
    } else if ADVS.contains(&w) {
        Tag::Adv
    } else if PRONOUNS.contains(&w) {
        Tag::Pron
    } else {
        return None;
    })
}

/// Parts of speech, left to right, each word judged by the tags before it
/// and the words after it.
pub fn tag(tokens: &[Token]) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let (text, num, tag, verb) = match t {
            Token::Number(v) => (format!("{v}"), Some(*v), Tag::Num, None),
            Token::Mark(c) => (c.to_string(), None, Tag::Mark(*c), None),
            Token::Word(w) => {
                let (tag, verb) = word_tag(w, &out, tokens.get(i + 1), tokens.get(i + 2));
                (w.clone(), None, tag, verb)
            }
        };
        out.push(Tok {
            text,
            num,
            tag,
            verb,
        });
    }
    // "apply to open positions": an adjective after "to", not a verb.
    for i in 1..out.len().saturating_sub(2) {
        if out[i].tag == Tag::To
            && out[i - 1].tag == Tag::Verb
            && out[i + 1].tag == Tag::Verb
            && is_adjective(&out[i + 1].text)
            && out[i + 2].tag == Tag::Noun
            && is_plural(&out[i + 2].text)
        {
            out[i + 1].tag = Tag::Adj;
            out[i + 1].verb = None;
        }
    }
    // "each visit notes the weight": after "each X", a plural-looking word
    // before "the" is what X does.
    for i in 2..out.len().saturating_sub(1) {
        if matches!(out[i - 2].text.as_str(), "each" | "every")
            && out[i - 1].tag == Tag::Noun
            && !is_plural(&out[i - 1].text)
            && out[i].tag == Tag::Noun
            && out[i].text.len() > 4
            && out[i].text.ends_with('s')
            && !out[i].text.ends_with("ss")
            && matches!(
                out[i + 1].text.as_str(),
                "the" | "a" | "an" | "its" | "their"
            )
        {
            let lemma = singular(&out[i].text);
            out[i].tag = Tag::Verb;
            out[i].verb = Some((
                Verb {
                    lemma,
                    class: VerbClass::Light,
                    noun: None,
                    guessed: true,
                },
                Form::Third,
            ));
        }
    }
    // "a score out of 100": a range, not part of the name.
    for i in 0..out.len().saturating_sub(2) {
        if out[i].text == "out" && out[i + 1].text == "of" && out[i + 2].tag == Tag::Num {
            out[i].tag = Tag::Prep;
        }
    }
    // "... and both add comments": "both" stands for the people before it.
    for i in 0..out.len().saturating_sub(2) {
        if matches!(out[i].text.as_str(), "both" | "all")
            && out[i].tag == Tag::Det
            && i > 0
            && matches!(out[i - 1].tag, Tag::Conj | Tag::Mark(_))
            && let Some(v) = verb_of(&out[i + 1].text).filter(|v| matches!(v.1, Form::Base))
            && matches!(out[i + 2].tag, Tag::Noun | Tag::Det | Tag::Adj)
        {
            out[i].tag = Tag::Pron;
            out[i + 1].tag = Tag::Verb;
            out[i + 1].verb = Some(v);
            out[i + 2].tag = if out[i + 2].tag == Tag::Det {
                Tag::Det
            } else {
                Tag::Noun
            };
        }
    }
    // "get" / "gets" before a participle is a passive auxiliary.
    for i in 0..out.len().saturating_sub(1) {
        if matches!(out[i].text.as_str(), "get" | "gets" | "got")
            && let Some(v) = verb_of(&out[i + 1].text).filter(|v| v.1 == Form::Past)
        {
            out[i].tag = Tag::Aux;
            out[i].verb = None;
            out[i + 1].tag = Tag::Verb;
            out[i + 1].verb = Some(v);
        }
    }
    out
}

/// A word the lexicon does not know, used as a verb: after a plural
/// subject or `each X`, before its object ("students receive a grade",
/// "each meeting discusses one book").
fn unknown_verb(w: &str, before: &[Tok], next: Option<&Token>) -> Option<(Verb, Form)> {
    let lx = lexicon();
    // "when I water them": between a person and what they act on, even a
    // noun is a verb.
    let after_person = before.last().is_some_and(|t| {
        t.tag == Tag::Pron && matches!(t.text.as_str(), "i" | "we" | "you" | "they")
    }) && matches!(
        next.and_then(Token::word),
        Some("them" | "it" | "my" | "our" | "the" | "their")
    );
    // "... and fertilize them"
    let after_and = before.last().is_some_and(|t| t.tag == Tag::Conj)
        && matches!(next.and_then(Token::word), Some("them" | "it"));
    if (after_person || after_and) && w.len() >= 3 && !matches!(w, "whether" | "when" | "if") {
        return Some((
            Verb {
                lemma: w.to_string(),
                class: VerbClass::Act,
                noun: None,
                guessed: true,
            },
            Form::Base,
        ));
    }
    if nouny(w) || is_adjective(w) || lx.units.contains(w) || w.len() < 3 {
        return None;
    }
    let prev = before.last()?;
    let next_tag = next.and_then(Token::word).and_then(closed_tag);
    // "..., noting the weather": a participle after a comma, before its
    // object.
    if prev.tag == Tag::Mark(',')
        && w.len() > 5
        && w.ends_with("ing")
        && matches!(next_tag, Some(Tag::Det))
    {
        return Some((
            Verb {
                lemma: w.trim_end_matches("ing").to_string(),
                class: VerbClass::Light,
                noun: None,
                guessed: true,
            },
            Form::Ing,
        ));
    }
    if prev.tag != Tag::Noun {
        return None;
    }
    let plural_subject = is_plural(&prev.text);
    // "students RSVP to events", "lots come from farms", "creators launch
    // campaigns".
    let object_next = matches!(next_tag, Some(Tag::Det | Tag::Num))
        || matches!(next, Some(Token::Number(_)))
        || (matches!(next_tag, Some(Tag::Prep | Tag::To | Tag::With)) && !is_plural(w))
        || (plural_subject
            && next
                .and_then(Token::word)
                .is_some_and(|n| closed_tag(n).is_none() && is_plural(n) && !is_adjective(n)));
    if !object_next {
        return None;
    }
    // "each debate in a round pits ...": the subject began with each.
    let each = before
        .iter()
        .rev()
        .take_while(|t| {
            !matches!(
                t.tag,
                Tag::Verb | Tag::Mark(';' | ':' | '.' | ',') | Tag::Where | Tag::Conj
            )
        })
        .any(|t| matches!(t.text.as_str(), "each" | "every"));
    let (lemma, form) = if plural_subject && !w.ends_with('s') {
        (w.to_string(), Form::Base)
    } else if each && w.ends_with('s') {
        let stem = w
            .strip_suffix("es")
            .filter(|s| s.ends_with("ss") || s.ends_with("sh") || s.ends_with("ch"));
        (stem.unwrap_or(&w[..w.len() - 1]).to_string(), Form::Third)
    } else {
        return None;
    };
    Some((
        Verb {
            lemma,
            class: VerbClass::Light,
            noun: None,
            guessed: true,
        },
        form,
    ))
}

fn next_starts_object(next: Option<&Token>) -> bool {
    match next {
        None => false,
        Some(Token::Number(_)) => true,
        Some(Token::Mark(_)) => false,
        Some(Token::Word(w)) => match closed_tag(w) {
            Some(Tag::Det | Tag::Pron | Tag::Num) => true,
            Some(_) => false,
            // A participle does not start an object ("reports made of").
            None => {
                !verb_of(w).is_some_and(|(_, f)| matches!(f, Form::Past | Form::Ing)) || nouny(w)
            }
        },
    }
}

fn word_tag(
    w: &str,
    before: &[Tok],
    next: Option<&Token>,
    after: Option<&Token>,
) -> (Tag, Option<(Verb, Form)>) {
    if let Some(t) = closed_tag(w) {
        // "an IT asset tracker"
        if t == Tag::Pron && before.last().is_some_and(|b| b.tag == Tag::Det) {
            return (Tag::Noun, None);
        }
        return (t, None);
    }
    let Some((verb, form)) = verb_of(w) else {
        if let Some(v) = unknown_verb(w, before, next) {
            return (Tag::Verb, Some(v));
        }
        return (if is_adjective(w) { Tag::Adj } else { Tag::Noun }, None);
    };
    let noun = || (if is_adjective(w) { Tag::Adj } else { Tag::Noun }, None);
    let as_verb = (Tag::Verb, Some((verb.clone(), form)));
    // The nearest tag that says something (adverbs and negation do not).
    let prev = before
        .iter()
        .rev()
        .find(|t| !matches!(t.tag, Tag::Adv | Tag::Neg));
    let clause_has_verb = || {
        before
            .iter()
            .rev()
            .take_while(|t| !matches!(t.tag, Tag::Mark(';' | ':' | '.') | Tag::Where))
            .any(|t| t.tag == Tag::Verb)
    };
    let next_word = next.and_then(Token::word);
    let next_is_plural_noun = next_word.is_some_and(|n| closed_tag(n).is_none() && is_plural(n));
    let next_is_singular_noun =
        next_word.is_some_and(|n| closed_tag(n).is_none() && !is_plural(n) && !is_adjective(n));
    let Some(prev) = prev else {
        // The first word: an imperative only before an object.
        return if form == Form::Base && next_starts_object(next) && !nouny(w) {
            as_verb
        } else {
            noun()
        };
    };
    match prev.tag {
        Tag::Modal | Tag::Rel | Tag::Pron => as_verb,
        // "is split into shares": some participles look like the base.
        Tag::Aux => {
            if matches!(form, Form::Past | Form::Ing)
                || (form == Form::Base && !nouny(w) && !is_adjective(w))
            {
                as_verb
            } else {
                noun()
            }
        }
        Tag::To => {
            if form == Form::Base && (next_starts_object(next) || next.is_none()) {
                as_verb
            } else {
                noun()
            }
        }
        Tag::Prep | Tag::Of | Tag::With => {
            // "for tracking expenses": a gerund with its object.
            if form == Form::Ing && (next_is_plural_noun || next_starts_object(next)) && !nouny(w) {
                as_verb
            } else {
                noun()
            }
        }
        // "an ordered list", "a shared calendar": a participle before its
        // noun describes it.
        Tag::Det
            if form == Form::Past
                && next_word.is_some_and(|n| {
                    closed_tag(n).is_none() && verb_of(n).is_none_or(|(_, f)| f != Form::Past)
                }) =>
        {
            (Tag::Adj, None)
        }
        // "..., each rated from 1 to 5": a participle about each of them.
        Tag::Det if matches!(prev.text.as_str(), "each" | "every") && form == Form::Past => as_verb,
        // "tutors with a rate between 20 and 150 teach subjects": a verb
        // after the end of a range.
        Tag::Num
            if form == Form::Base
                && !nouny(w)
                && (next_is_plural_noun || next_starts_object(next))
                && before.len() >= 2
                && matches!(before[before.len() - 2].tag, Tag::Conj | Tag::To)
                && !clause_has_verb() =>
        {
            as_verb
        }
        Tag::Det | Tag::Adj | Tag::Num | Tag::Verb => noun(),
        Tag::Noun => {
            let subject_plural = is_plural(&prev.text) || prev.text == "people";
            // "a series has", "the series have": both.
            let invariant = crate::words::is_invariant(&prev.text);
            match form {
                Form::Base if subject_plural && next.is_some() => {
                    if next_starts_object(next)
                        || matches!(
                            next_word.and_then(closed_tag),
                            Some(Tag::Prep | Tag::To | Tag::With | Tag::Of | Tag::Adv | Tag::Conj)
                        )
                    {
                        as_verb
                    } else {
                        noun()
                    }
                }
                Form::Third if !subject_plural || invariant => {
                    let prep_next =
                        matches!(next_word.and_then(closed_tag), Some(Tag::Prep | Tag::To));
                    if (next_starts_object(next) && !prep_next)
                        || (prep_next && verb.class == VerbClass::Locate)
                    {
                        as_verb
                    } else {
                        noun()
                    }
                }
                Form::Past => {
                    // A participle after its noun ("hours worked", "courses
                    // made of lessons") or a past-tense verb.
                    if before.len() >= 2
                        && matches!(before[before.len() - 2].tag, Tag::Det)
                        && next_is_singular_noun
                    {
                        noun()
                    } else {
                        as_verb
                    }
                }
                Form::Ing => {
                    let compound_plural_next = next_is_singular_noun
                        && after
                            .and_then(Token::word)
                            .is_some_and(|a| closed_tag(a).is_none() && is_plural(a));
                    if compound_plural_next {
                        return as_verb;
                    }
                    if (next_is_plural_noun
                        || matches!(next, Some(Token::Number(_)))
                        || matches!(
                            next_word.and_then(closed_tag),
                            Some(Tag::Det | Tag::Num | Tag::Pron)
                        ))
                        && !next_is_singular_noun
                    {
                        as_verb
                    } else {
                        noun()
                    }
                }
                _ => noun(),
            }
        }
        Tag::Conj | Tag::Mark(',') => {
            // "... and write reviews", "approve or reject reports".
            let just_after_verb = before.len() >= 2
                && before[before.len() - 2].tag == Tag::Verb
                && prev.tag == Tag::Conj;
            let object_follows = matches!(
                next_word.and_then(closed_tag),
                Some(Tag::Det | Tag::Pron | Tag::To | Tag::Prep | Tag::With)
            ) || matches!(next, Some(Token::Number(_)));
            // "... and book walks": an action verb before its object.
            let compound_object = after
                .and_then(Token::word)
                .is_some_and(|a| closed_tag(a).is_none() && is_plural(a));
            let acts_on_next = form == Form::Base
                && matches!(
                    verb.class,
                    VerbClass::Act | VerbClass::Link | VerbClass::Make
                )
                && next_word.is_some_and(|n| {
                    closed_tag(n).is_none() && (is_plural(n) || is_adjective(n) || compound_object)
                });
            // ", donated food items": a participle describing the noun after
            // it.
            if form == Form::Past && next_is_plural_noun {
                return (Tag::Adj, None);
            }
            // "... by paying a fee and choosing a distance", ", recording
            // the date": a participle with its object.
            let participle_clause = form == Form::Ing
                && matches!(next_word.and_then(closed_tag), Some(Tag::Det | Tag::Pron));
            if (form != Form::Ing || participle_clause)
                && clause_has_verb()
                && (just_after_verb
                    || object_follows
                    || acts_on_next
                    || (!nouny(w) && next.is_some()))
            {
                as_verb
            } else {
                noun()
            }
        }
        Tag::Where | Tag::Mark(_) => {
            if form == Form::Base && matches!(next_word.and_then(closed_tag), Some(Tag::Det)) {
                as_verb
            } else {
                noun()
            }
        }
        Tag::Neg | Tag::Adv => noun(),
    }
}

/// A noun phrase and what follows it.
#[derive(Debug, Clone, Default)]
pub struct Np {
    /// The last determiner (`a`, `each`, `their`).
    pub det: Option<String>,
    /// A number before it (`two teams`).
    pub count: Option<f64>,
    /// Modifiers and the head, as written.
    pub words: Vec<String>,
    /// Adjectives before it (`nightly`, `total`).
    pub adjectives: Vec<String>,
    /// A possessor (`user's playlists`).
    pub possessor: Option<String>,
    pub posts: Vec<Post>,
    /// `a number of bedrooms`: a count of them, not rows of them.
    pub counted: bool,
    /// `whether the queen was seen`: yes or no.
    pub flag: bool,
    /// `an ordered list of songs`: kept in a list of the owner's own.
    pub listed: bool,
}

impl Np {
    pub fn head(&self) -> &str {
        self.words.last().map_or("", String::as_str)
    }

    pub fn is_plural(&self) -> bool {
        is_plural(self.head()) || self.count.is_some_and(|c| c > 1.0)
    }

    /// `a nightly rate` / `check-in dates` as written.
    pub fn text(&self) -> String {
        let mut w: Vec<&str> = self.adjectives.iter().map(String::as_str).collect();
        w.extend(self.words.iter().map(String::as_str));
        w.join(" ")
    }
}

#[derive(Debug, Clone)]
pub enum Post {
    /// `in rooms`, `between two teams`.
    Prep(String, Vec<Np>),
    /// `with a type, a duration and calories burned`.
    With(Vec<Np>),
    /// `, each with a link and a price`: the fields of each of them (or,
    /// after people, of what they are named with).
    EachWith(Vec<Np>),
    /// `that work at companies`, `made of lessons`, `logged against deals`.
    Clause(Box<Vp>),
    /// `of low, medium or high`, `(in or out)`.
    Choices(Vec<String>),
    /// `from 1 to 10`.
    Range(Option<f64>, Option<f64>),
    /// `in minutes`, `per kg`.
    Unit(String),
    /// `, one of which is correct`, `that is optional`: a yes/no field.
    Flag(String),
    /// `is draft, sent or paid`: the states of its status.
    States(Vec<String>),
    /// `, both developers`: what the items before it are.
    Appos(Box<Np>),
}

/// A range's lowest and highest values, either open.
pub type Bounds = (Option<f64>, Option<f64>);

/// Verbs with their objects.
#[derive(Debug, Clone, Default)]
pub struct Vp {
    pub verbs: Vec<Verb>,
    pub passive: bool,
    /// `made of`, `consist of`: the object is part of the subject.
    pub part_of: bool,
    pub objects: Vec<Np>,
    /// Prepositions right after the verb (`subscribe to lists`).
    pub preps: Vec<(String, Vec<Np>)>,
    pub range: Option<(Option<f64>, Option<f64>)>,
    /// `lasting 30 or 60 minutes`: the values and their unit.
    pub measure: Option<(Vec<f64>, String)>,
    /// `that anyone can like`: the phrase it follows is its object and
    /// whoever does it is a user.
    pub object_is_owner: bool,
    /// `that teams register for`: who does it, when the phrase it follows
    /// is its object.
    pub subject: Option<Box<Np>>,
    /// `give a bottle a score`: the second object (the first is who gets
    /// it).
    pub second: Vec<Np>,
    /// `by paying a fee and choosing a distance`: how it is done.
    pub then: Vec<Vp>,
    /// `rated green, blue, red or black`.
    pub choices: Vec<String>,
    /// An `-ing` participle (`recording the date`).
    pub participle: bool,
    /// `marked done`: the yes/no it sets.
    pub flag: Option<String>,
    /// `appointments where a client books a service`: the phrase it follows
    /// is the row the action makes.
    pub describes_owner: bool,
}

impl Vp {
    pub fn class(&self) -> VerbClass {
        self.verbs.first().map_or(VerbClass::Light, |v| v.class)
    }
}

/// A subject and what it does.
#[derive(Debug, Clone, Default)]
pub struct Clause {
    pub subject: Vec<Np>,
    pub vps: Vec<Vp>,
    /// `after a session, ...`: what the clause happens about.
    pub context: Option<Np>,
}

/// The whole request: what the app is, then what it keeps.
#[derive(Debug, Clone, Default)]
pub struct Parse {
    /// The noun phrase naming the app (`a hotel booking system`), with
    /// what follows it (`with cars, branches and rentals`).
    pub head: Option<Np>,
    pub clauses: Vec<Clause>,
    /// Noun phrases standing on their own (`: posts, comments and tags`).
    pub lists: Vec<Vec<Np>>,
}

struct P<'a> {
    t: &'a [Tok],
}

impl P<'_> {
    fn tag(&self, i: usize) -> Option<Tag> {
        self.t.get(i).map(|t| t.tag)
    }

    fn text(&self, i: usize) -> &str {
        self.t.get(i).map_or("", |t| t.text.as_str())
    }

    fn is_boundary_or_list_end(&self, i: usize) -> bool {
        self.is_boundary(i) || matches!(self.tag(i), Some(Tag::Mark(',')) | Some(Tag::Conj))
    }

    fn is_boundary(&self, i: usize) -> bool {
        matches!(
            self.tag(i),
            None | Some(Tag::Mark(';' | ':' | '.')) | Some(Tag::Where)
        )
    }

    /// After adverbs, modals, auxiliaries and negation: a verb?
    fn verb_at(&self, mut i: usize) -> Option<usize> {
        while matches!(
            self.tag(i),
            Some(Tag::Adv | Tag::Modal | Tag::Aux | Tag::Neg)
        ) {
            i += 1;
        }
        (self.tag(i) == Some(Tag::Verb)).then_some(i)
    }

    /// Separators of a list: `,` `and` `, and` `or`. Returns where the next
    /// item starts and whether a comma came before a conjunction.
    fn separator(&self, i: usize) -> Option<(usize, bool, bool)> {
        let mut j = i;
        let mut comma = false;
        let mut conj = false;
        if self.tag(j) == Some(Tag::Mark(',')) || self.tag(j) == Some(Tag::Mark('/')) {
            comma = true;
            j += 1;
            // ", optionally anonymous"
            while self.tag(j) == Some(Tag::Adv) {
                j += 1;
            }
        }
        if self.tag(j) == Some(Tag::Conj) && self.text(j) != "then" {
            conj = true;
            j += 1;
            // "and also", "and then"
            while self.tag(j) == Some(Tag::Adv) {
                j += 1;
            }
        }
        (j > i).then_some((j, comma, conj))
    }

    /// One noun phrase at `i`, with what follows it.
    fn np(&self, i: usize, nested: bool) -> Option<(Np, usize)> {
        // "whether the queen was seen": a yes/no named by what it says.
        // "whether they have been claimed": a yes/no named by its word.
        if self.text(i) == "whether" && self.tag(i + 1) == Some(Tag::Pron) {
            let mut k = i + 2;
            while matches!(
                self.tag(k),
                Some(Tag::Aux | Tag::Neg | Tag::Modal | Tag::Verb)
            ) && self
                .t
                .get(k + 1)
                .is_some_and(|t| !matches!(t.tag, Tag::Mark(_) | Tag::Conj))
            {
                k += 1;
            }
            let np = Np {
                words: vec![self.text(k).to_string()],
                flag: true,
                ..Np::default()
            };
            return Some((np, k + 1));
        }
        // "whether the queen was seen", "whether the team escaped".
        if self.text(i) == "whether" {
            let mut k = i + 1;
            let mut words = Vec::new();
            while matches!(self.tag(k), Some(Tag::Det | Tag::Adj)) {
                k += 1;
            }
            while self.tag(k) == Some(Tag::Noun) {
                words.push(self.text(k).to_string());
                k += 1;
            }
            while matches!(self.tag(k), Some(Tag::Aux | Tag::Neg | Tag::Modal)) {
                k += 1;
            }
            if matches!(self.tag(k), Some(Tag::Verb | Tag::Adj | Tag::Noun)) {
                words.push(self.text(k).to_string());
                k += 1;
            }
            if !words.is_empty() {
                let np = Np {
                    words,
                    flag: true,
                    ..Np::default()
                };
                return Some((np, k));
            }
        }
        self.np_with(i, nested, true)
    }

    /// `with_list`: whether a `with` list after it is its own (not after
    /// the object of a preposition: "matches between two teams with a
    /// score" — the score is the match's).
    fn np_with(&self, i: usize, nested: bool, with_list: bool) -> Option<(Np, usize)> {
        // "at most 8 spots", "up to 3 renewals": how many, with a limit.
        let limited = match (self.text(i), self.text(i + 1)) {
            ("at", "most") | ("up", "to") => Some(true),
            ("at", "least") => Some(false),
            _ => None,
        };
        if let Some(most) = limited
            && let Some(n) = self.number(i + 2)
            && self.tag(i + 3) == Some(Tag::Noun)
            && is_plural(self.text(i + 3))
            && !lexicon().units.contains(self.text(i + 3))
        {
            let (mut np, k) = self.np_with(i + 3, nested, with_list)?;
            np.counted = true;
            np.posts.push(if most {
                Post::Range(Some(0.0), Some(n))
            } else {
                Post::Range(Some(n), None)
            });
            return Some((np, k));
        }
        let mut np = Np::default();
        let mut j = i;
        loop {
            match self.tag(j) {
                Some(Tag::Det) => np.det = Some(self.text(j).to_string()),
                Some(Tag::Num) => np.count = self.t[j].num,
                Some(Tag::Adj) if np.words.is_empty() => {
                    np.adjectives.push(self.text(j).to_string())
                }
                _ => break,
            }
            j += 1;
        }
        while matches!(self.tag(j), Some(Tag::Noun | Tag::Adj)) {
            let w = self.text(j).to_string();
            // "a quantity available": an adjective after its noun is not
            // part of the name.
            if self.tag(j) == Some(Tag::Adj)
                && !np.words.is_empty()
                && !matches!(self.tag(j + 1), Some(Tag::Noun | Tag::Adj))
            {
                np.adjectives.push(w);
                j += 1;
                continue;
            }
            // `user's playlists`
            if self.tag(j + 1) == Some(Tag::Mark('\'')) {
                np.possessor = Some(w);
                j += 2;
                continue;
            }
            if self.tag(j) == Some(Tag::Adj) && np.words.is_empty() {
                np.adjectives.push(w);
            } else {
                np.words.push(w);
            }
            j += 1;
        }
        if np.words.is_empty() {
            // An adjective standing alone is a noun here (`in or out`).
            if let Some(a) = np.adjectives.pop() {
                np.words.push(a);
            } else {
                return None;
            }
        }
        let j = self.posts(&mut np, j, nested, with_list);
        Some((unwrap_quantity(np), j))
    }

    fn number(&self, i: usize) -> Option<f64> {
        match self.tag(i) {
            Some(Tag::Num) => self.t[i].num,
            _ => None,
        }
    }

    /// `from 1 to 10`, `between 1 and 5`, `1 to 5`, `up to 10`, `at least 18`.
    fn range(&self, i: usize) -> Option<(Bounds, usize)> {
        let w = self.text(i);
        if (w == "from" || w == "between")
            && let Some(lo) = self.number(i + 1)
        {
            let sep = self.text(i + 2);
            if (sep == "to" || sep == "and")
                && let Some(hi) = self.number(i + 3)
            {
                return Some(((Some(lo), Some(hi)), self.skip_unit(i + 4)));
            }
        }
        if let Some(lo) = self.number(i)
            && self.text(i + 1) == "to"
            && let Some(hi) = self.number(i + 2)
        {
            return Some(((Some(lo), Some(hi)), self.skip_unit(i + 3)));
        }
        if ((w == "up" && self.text(i + 1) == "to") || (w == "at" && self.text(i + 1) == "most"))
            && let Some(hi) = self.number(i + 2)
        {
            return Some(((None, Some(hi)), self.skip_unit(i + 3)));
        }
        if w == "at"
            && self.text(i + 1) == "least"
            && let Some(lo) = self.number(i + 2)
        {
            return Some(((Some(lo), None), self.skip_unit(i + 3)));
        }
        if w == "out"
            && self.text(i + 1) == "of"
            && let Some(hi) = self.number(i + 2)
        {
            return Some(((Some(1.0_f64.min(hi)), Some(hi)), self.skip_unit(i + 3)));
        }
        None
    }

    fn skip_unit(&self, i: usize) -> usize {
        if lexicon().units.contains(self.text(i)) || matches!(self.text(i), "stars" | "points") {
            i + 1
        } else {
            i
        }
    }

    /// Words of a choice list (`low, medium or high`) from `i`, if that is
    /// what follows.
    fn choices(&self, i: usize, close: Option<char>) -> Option<(Vec<String>, usize)> {
        let lx = lexicon();
        let mut items: Vec<String> = Vec::new();
        let mut j = i;
        if self.text(j) == "either" {
            j += 1;
        }
        let mut saw_or = false;
        // Where the list ends if what follows a separator is not a choice.
        let mut end = i;
        loop {
            let mut words = Vec::new();
            while let Some(t) = self.t.get(j) {
                // "in progress", "on hold": a preposition inside a choice.
                let inner_prep = matches!(t.tag, Tag::Prep)
                    && matches!(self.tag(j + 1), Some(Tag::Noun | Tag::Adj))
                    && matches!(self.tag(j + 2), None | Some(Tag::Mark(_) | Tag::Conj));
                // A verb ends the list only when an object follows it ("and
                // has a reporter"), not as a value ("moderate or hard").
                let verb_with_object = t.tag == Tag::Verb
                    && !t.verb.as_ref().is_some_and(|(_, f)| *f == Form::Past)
                    && (!words.is_empty()
                        || matches!(
                            self.tag(j + 1),
                            Some(Tag::Det | Tag::Noun | Tag::Pron | Tag::Num | Tag::Adj)
                        ));
                if verb_with_object
                    || (matches!(
                        t.tag,
                        Tag::Aux
                            | Tag::Modal
                            | Tag::Rel
                            | Tag::Where
                            | Tag::With
                            | Tag::Prep
                            | Tag::Of
                            | Tag::To
                    ) && !inner_prep)
                {
                    break;
                }
                if matches!(t.tag, Tag::Mark(_) | Tag::Conj)
                    || (t.tag == Tag::Det && matches!(t.text.as_str(), "a" | "an" | "the"))
                {
                    break;
                }
                words.push(t.text.clone());
                j += 1;
                if words.len() > 3 {
                    return None;
                }
            }
            // "..., and attendance is taken": a new clause, not a choice.
            let clause_next = matches!(self.tag(j), Some(Tag::Aux | Tag::Modal | Tag::Verb));
            if words.is_empty() || (clause_next && !items.is_empty()) {
                if items.is_empty() {
                    return None;
                }
                j = end;
                break;
            }
            items.push(words.join(" "));
            end = j;
            match self.tag(j) {
                Some(Tag::Mark(',' | '/')) => {
                    j += 1;
                    if self.tag(j) == Some(Tag::Conj) {
                        saw_or |= self.text(j) == "or";
                        j += 1;
                    }
                }
                Some(Tag::Conj) => {
                    saw_or |= self.text(j) == "or";
                    j += 1;
                }
                Some(Tag::Mark(c)) if Some(c) == close => {
                    j += 1;
                    break;
                }
                _ => break,
            }
        }
        // A list of things the app keeps is not a list of choices.
        let entity_like = items.iter().any(|it| {
            let s = singular(it.rsplit(' ').next().unwrap_or(it));
            lx.nouns.get(&s).is_some_and(|n| {
                !lx.attrs.contains_key(&s) && n.kind != crate::lexicon::Kind::Group
            }) && is_plural(it.rsplit(' ').next().unwrap_or(it))
        });
        let slashed = (i..j).any(|k| self.tag(k) == Some(Tag::Mark('/')));
        (items.len() >= 2 && (saw_or || close.is_some() || slashed) && !entity_like)
            .then_some((items, j))
    }

    fn posts(&self, np: &mut Np, mut j: usize, nested: bool, with_list: bool) -> usize {
        loop {
            let before = j;
            if let Some((r, k)) = self.range(j) {
                np.posts.push(Post::Range(r.0, r.1));
                j = k;
            }
            match self.tag(j) {
                Some(Tag::With) if with_list => {
                    let (items, k) = self.list(j + 1, true, nested);
                    if !items.is_empty() {
                        np.posts.push(Post::With(items));
                        j = k;
                    }
                }
                // "passes of type day, week or season"
                Some(Tag::Of)
                    if matches!(
                        self.text(j + 1),
                        "type" | "kind" | "size" | "class" | "grade" | "level"
                    ) && let Some((items, k)) = self.choices(j + 2, None) =>
                {
                    np.posts.push(Post::With(vec![Np {
                        words: vec![self.text(j + 1).to_string()],
                        det: Some("a".into()),
                        posts: vec![Post::Choices(items)],
                        ..Np::default()
                    }]));
                    j = k;
                }
                Some(Tag::Of) => {
                    // "teams of up to 4 participants"
                    let mut at = j + 1;
                    let mut most = None;
                    if let Some(((_, hi), k)) = self.range(at)
                        && matches!(self.tag(k), Some(Tag::Noun | Tag::Adj))
                    {
                        most = hi;
                        at = k;
                    }
                    if most.is_some()
                        && let Some((mut objs, k)) = self.pp_objects(at)
                    {
                        for o in &mut objs {
                            o.count = most;
                        }
                        np.posts.push(Post::Prep("of".into(), objs));
                        j = k;
                    } else if let Some((items, k)) = self.choices(j + 1, None) {
                        np.posts.push(Post::Choices(items));
                        j = k;
                    } else if let Some((first, k)) = self.np_with(j + 1, true, false) {
                        // "wishlists of items, each with a link": the items'.
                        let (objs, k) = match self.pp_objects(j + 1) {
                            Some((objs, k2)) if k2 > k => (objs, k2),
                            _ => (vec![first], k),
                        };
                        np.posts.push(Post::Prep("of".into(), objs));
                        j = k;
                    }
                }
                Some(Tag::Prep | Tag::To) => {
                    let prep = self.text(j).to_string();
                    // "stops in order": their position.
                    if prep == "in"
                        && matches!(self.text(j + 1), "order" | "sequence")
                        && !matches!(self.tag(j + 2), Some(Tag::Noun | Tag::Of))
                    {
                        np.posts.push(Post::With(vec![Np {
                            words: vec!["position".into()],
                            det: Some("a".into()),
                            ..Np::default()
                        }]));
                        j += 2;
                        continue;
                    }
                    // "in square meters"
                    if prep == "in"
                        && matches!(self.text(j + 1), "square" | "cubic" | "sq")
                        && lexicon().units.contains(self.text(j + 2))
                    {
                        let unit = if self.text(j + 1) == "cubic" {
                            "m3"
                        } else {
                            "sqm"
                        };
                        np.posts.push(Post::Unit(unit.into()));
                        j += 3;
                        continue;
                    }
                    if (prep == "in" || prep == "per")
                        && (lexicon().units.contains(self.text(j + 1))
                            || self.text(j + 1) == "stars")
                        && !(prep == "per"
                            && matches!(
                                self.text(j + 1),
                                "day" | "week" | "month" | "year" | "hour"
                            ))
                    {
                        let unit = self.text(j + 1).to_string();
                        np.posts.push(Post::Unit(if prep == "per" {
                            format!("per_{unit}")
                        } else {
                            unit
                        }));
                        j += 2;
                    } else if self.tag(j) == Some(Tag::To) && self.tag(j + 1) == Some(Tag::Verb) {
                        return j;
                    } else if let Some((mut objs, k)) = self.pp_objects(j + 1) {
                        // "shipments from warehouses to customers": both
                        // ends are the shipment's.
                        let mut to = None;
                        if prep == "from"
                            && let Some(last) = objs.last_mut()
                            && let Some(at) = last
                                .posts
                                .iter()
                                .position(|p| matches!(p, Post::Prep(q, _) if q == "to"))
                        {
                            to = Some(last.posts.remove(at));
                        }
                        np.posts.push(Post::Prep(prep, objs));
                        np.posts.extend(to);
                        j = k;
                    }
                }
                Some(Tag::Mark('(')) => {
                    if let Some((r, k)) = self.range(j + 1) {
                        np.posts.push(Post::Range(r.0, r.1));
                        j = k;
                        if self.tag(j) == Some(Tag::Mark(')')) {
                            j += 1;
                        }
                    } else if let Some((items, k)) = self.choices(j + 1, Some(')')) {
                        // "(description, hours, hourly rate)": its fields.
                        let said_or = (j..k)
                            .any(|x| self.text(x) == "or" || self.tag(x) == Some(Tag::Mark('/')));
                        let fields = !said_or
                            && items.iter().all(|it| {
                                let last = it.rsplit(' ').next().unwrap_or(it);
                                lexicon().attrs.contains_key(last)
                                    || lexicon().attrs.contains_key(&singular(last))
                            });
                        if fields {
                            let nps = items
                                .iter()
                                .map(|it| Np {
                                    words: it.split(' ').map(str::to_string).collect(),
                                    ..Np::default()
                                })
                                .map(|mut n| {
                                    let adj: Vec<String> = n
                                        .words
                                        .iter()
                                        .take_while(|w| is_adjective(w) && n.words.len() > 1)
                                        .cloned()
                                        .collect();
                                    n.words.drain(..adj.len());
                                    n.adjectives = adj;
                                    n
                                })
                                .collect();
                            np.posts.push(Post::With(nps));
                        } else {
                            np.posts.push(Post::Choices(items));
                        }
                        j = k;
                    } else {
                        // Skip an aside we cannot read.
                        let mut k = j + 1;
                        while k < self.t.len() && self.tag(k) != Some(Tag::Mark(')')) {
                            k += 1;
                        }
                        j = k + 1;
                    }
                }
                // ", one of which is correct"
                Some(Tag::Mark(','))
                    if self.tag(j + 1) == Some(Tag::Num)
                        && self.tag(j + 2) == Some(Tag::Of)
                        && self.tag(j + 3) == Some(Tag::Rel)
                        && self.tag(j + 4) == Some(Tag::Aux)
                        && matches!(self.tag(j + 5), Some(Tag::Adj | Tag::Noun)) =>
                {
                    np.posts.push(Post::Flag(self.text(j + 5).to_string()));
                    j += 6;
                }
                // ", each with a description, a budget and a deadline"
                Some(Tag::Mark(','))
                    if matches!(self.text(j + 1), "each" | "every")
                        && self.tag(j + 2) == Some(Tag::With) =>
                {
                    let (items, k) = self.list(j + 3, true, nested);
                    if items.is_empty() {
                        return j;
                    }
                    np.posts.push(Post::EachWith(items));
                    j = k;
                }
                // "appointments where a client books a service": the clause
                // describes one of them.
                Some(Tag::Where)
                    if nested
                        && self.text(j) == "where"
                        && np.is_plural()
                        && matches!(self.tag(j + 1), Some(Tag::Det | Tag::Noun | Tag::Adj)) =>
                {
                    let (c, k) = self.clause(j + 1);
                    if c.vps.is_empty() {
                        return j;
                    }
                    for mut vp in c.vps {
                        vp.subject = c.subject.first().cloned().map(Box::new);
                        vp.describes_owner = true;
                        np.posts.push(Post::Clause(Box::new(vp)));
                    }
                    j = k;
                }
                // "tools they own": what they own.
                Some(Tag::Pron)
                    if matches!(self.text(j), "they" | "we" | "i" | "you")
                        && self.verb_at(j + 1).is_some() =>
                {
                    let v = self.verb_at(j + 1).unwrap_or(j + 1);
                    let (mut vp, k2) = self.vp(v);
                    vp.object_is_owner = true;
                    vp.subject = Some(Box::new(Np {
                        words: vec![self.text(j).to_string()],
                        ..Np::default()
                    }));
                    np.posts.push(Post::Clause(Box::new(vp)));
                    j = k2;
                }
                // "tournaments that teams register for"
                Some(Tag::Rel)
                    if matches!(self.tag(j + 1), Some(Tag::Det | Tag::Noun | Tag::Adj))
                        && let Some((who, k)) = self.np_with(j + 1, true, false)
                        && self.verb_at(k).is_some() =>
                {
                    let v = self.verb_at(k).unwrap_or(k);
                    let (mut vp, k2) = self.vp(v);
                    vp.object_is_owner = true;
                    vp.subject = Some(Box::new(who));
                    np.posts.push(Post::Clause(Box::new(vp)));
                    j = k2;
                }
                // ", each rated from 1 to 5 with an optional note"
                Some(Tag::Mark(','))
                    if matches!(self.text(j + 1), "each" | "every")
                        && self.tag(j + 2) == Some(Tag::Verb) =>
                {
                    let (mut vp, k) = self.vp(j + 2);
                    vp.passive = self.t[j + 2]
                        .verb
                        .as_ref()
                        .is_some_and(|(_, f)| *f == Form::Past);
                    np.posts.push(Post::Clause(Box::new(vp)));
                    j = k;
                }
                // "that is optional", "which can be public"
                Some(Tag::Rel)
                    if {
                        let mut k = j + 1;
                        self.skip_aux(&mut k);
                        k > j + 1
                            && matches!(self.tag(k), Some(Tag::Adj))
                            && !matches!(self.tag(k + 1), Some(Tag::Noun))
                    } =>
                {
                    let mut k = j + 1;
                    self.skip_aux(&mut k);
                    if let Some((items, k2)) = self.choices(k, None) {
                        np.posts.push(Post::States(items));
                        j = k2;
                    } else {
                        np.posts.push(Post::Flag(self.text(k).to_string()));
                        j = k + 1;
                    }
                }
                // "updates that anyone can like": they are what is liked.
                Some(Tag::Rel)
                    if matches!(self.tag(j + 1), Some(Tag::Pron))
                        && self.verb_at(j + 2).is_some() =>
                {
                    let k = self.verb_at(j + 2).unwrap_or(j + 2);
                    let (mut vp, k2) = self.vp(k);
                    vp.object_is_owner = true;
                    np.posts.push(Post::Clause(Box::new(vp)));
                    j = k2;
                }
                Some(Tag::Rel)
                    if {
                        let mut k = j + 1;
                        self.skip_aux(&mut k);
                        self.tag(k) == Some(Tag::Verb)
                    } =>
                {
                    let mut k = j + 1;
                    let passive = self.skip_aux(&mut k);
                    let (mut vp, mut k2) = self.vp(k);
                    vp.passive |= passive;
                    np.posts.push(Post::Clause(Box::new(vp)));
                    // "... that start at one station and end at another"
                    while let Some((k3, _, conj)) = self.separator(k2) {
                        if !conj || self.tag(k3) != Some(Tag::Verb) {
                            break;
                        }
                        let (vp2, k4) = self.vp(k3);
                        np.posts.push(Post::Clause(Box::new(vp2)));
                        k2 = k4;
                    }
                    j = k2;
                }
                Some(Tag::Rel) => {
                    let mut k = j + 1;
                    let passive = self.skip_aux(&mut k);
                    if self.tag(k) == Some(Tag::Verb) {
                        let (mut vp, k2) = self.vp(k);
                        vp.passive |= passive;
                        np.posts.push(Post::Clause(Box::new(vp)));
                        j = k2;
                    }
                }
                Some(Tag::Verb)
                    if self.t[j]
                        .verb
                        .as_ref()
                        .is_some_and(|(_, f)| matches!(f, Form::Past | Form::Ing)) =>
                {
                    let past = self.t[j]
                        .verb
                        .as_ref()
                        .is_some_and(|(_, f)| *f == Form::Past);
                    let (mut vp, k) = self.vp(j);
                    vp.passive = past;
                    np.posts.push(Post::Clause(Box::new(vp)));
                    j = k;
                }
                Some(Tag::Adv) if self.text(j) == "such" && self.text(j + 1) == "as" => {}
                Some(Tag::Noun) if self.text(j) == "such" && self.text(j + 1) == "as" => {
                    if let Some((items, k)) = self.choices(j + 2, None) {
                        np.posts.push(Post::Choices(items));
                        j = k;
                    }
                }
                _ => {}
            }
            if j == before {
                return j;
            }
        }
    }

    fn skip_aux(&self, k: &mut usize) -> bool {
        let mut passive = false;
        while matches!(
            self.tag(*k),
            Some(Tag::Adv | Tag::Modal | Tag::Aux | Tag::Neg)
        ) {
            passive |= self.tag(*k) == Some(Tag::Aux);
            *k += 1;
        }
        passive
    }

    /// The objects of a preposition: `rooms`, `two teams`, `rooms and
    /// halls` (a comma ends them).
    fn pp_objects(&self, i: usize) -> Option<(Vec<Np>, usize)> {
        // "end at another": the same kind as before.
        if matches!(self.text(i), "another" | "one")
            && !matches!(self.tag(i + 1), Some(Tag::Noun | Tag::Adj))
        {
            return Some((
                vec![Np {
                    words: vec![PRONOUN.into()],
                    ..Np::default()
                }],
                i + 1,
            ));
        }
        // "add songs to them": what the clause before named.
        if matches!(self.text(i), "them" | "it") && self.tag(i) == Some(Tag::Pron) {
            return Some((
                vec![Np {
                    words: vec![PRONOUN.into()],
                    ..Np::default()
                }],
                i + 1,
            ));
        }
        let (first, mut j) = self.np_with(i, true, false)?;
        let mut items = vec![first];
        while let Some((k, comma, conj)) = self.separator(j) {
            if comma || !conj {
                break;
            }
            if self.verb_at(k).is_some() {
                break;
            }
            let Some((np, k2)) = self.np_with(k, true, false) else {
                break;
            };
            if self.verb_at(k2).is_some() {
                break;
            }
            // "of copies and a color": a new item of the list around it.
            if items[0].det.is_none() != np.det.is_none() {
                break;
            }
            items.push(np);
            j = k2;
        }
        // "for check-in and check-out dates": both are dates.
        distribute(&mut items);
        Some((items, j))
    }

    /// A list of noun phrases. Stops where a new clause starts (a noun
    /// phrase followed by a verb) or a verb follows the separator.
    /// `attrs`: a `with` list, which a `, and` ends when a bare plural
    /// follows and the list is itself nested in another.
    fn list(&self, i: usize, attrs: bool, nested: bool) -> (Vec<Np>, usize) {
        let Some((first, mut j)) = self.np(i, nested || attrs) else {
            return (Vec::new(), i);
        };
        if self.verb_at(j).is_some() && !attrs && self.verb_at(j) != Some(j) {
            // handled by the caller
        }
        let mut items = vec![first];
        while let Some((k, comma, conj)) = self.separator(j) {
            if self.verb_at(k).is_some() {
                break;
            }
            // ", both developers": what the items are.
            if comma
                && !conj
                && matches!(self.text(k), "both" | "all")
                && let Some((what, k2)) = self.np(k + 1, true)
                && what.posts.is_empty()
                && what.is_plural()
                && self.is_boundary_or_list_end(k2)
            {
                for it in &mut items {
                    it.posts.push(Post::Appos(Box::new(what.clone())));
                }
                j = k2;
                break;
            }
            let Some((np, k2)) = self.np(k, nested || attrs) else {
                break;
            };
            // "..., and each invoice is draft, sent or paid": a new clause.
            if self.verb_at(k2).is_some() || self.tag(k2) == Some(Tag::Aux) {
                break;
            }
            if attrs && nested && comma && conj && np.det.is_none() && np.is_plural() {
                let lx = lexicon();
                let s = singular(np.head());
                if !lx.attrs.contains_key(&s) && !lx.attrs.contains_key(np.head()) {
                    break;
                }
            }
            items.push(np);
            j = k2;
        }
        distribute(&mut items);
        (merge_alternatives(items), j)
    }

    /// Verbs (`approve or reject`) with their objects or prepositions.
    fn vp(&self, i: usize) -> (Vp, usize) {
        let mut vp = Vp::default();
        let mut j = i;
        if let Some((v, f)) = &self.t[j].verb {
            vp.verbs.push(v.clone());
            vp.participle = *f == Form::Ing;
        }
        j += 1;
        // "approve or reject reports"
        while self.tag(j) == Some(Tag::Conj) && self.tag(j + 1) == Some(Tag::Verb) {
            if self.next_object_after(j + 2) {
                if let Some((v, _)) = &self.t[j + 1].verb {
                    vp.verbs.push(v.clone());
                }
                j += 2;
            } else {
                break;
            }
        }
        // "made (up) of", "consist of"
        if self.text(j) == "up" {
            j += 1;
        }
        if self.tag(j) == Some(Tag::Of) {
            vp.part_of = true;
            j += 1;
        }
        // "lasting 30 or 60 minutes"
        if self.tag(j) == Some(Tag::Num) {
            let mut values = Vec::new();
            let mut k = j;
            while let Some(v) = self.number(k) {
                values.push(v);
                k += 1;
                if matches!(self.tag(k), Some(Tag::Conj | Tag::Mark(',')))
                    && self.tag(k + 1) == Some(Tag::Num)
                {
                    k += 1;
                }
            }
            if lexicon().units.contains(self.text(k)) {
                vp.measure = Some((values, self.text(k).to_string()));
                j = k + 1;
            }
        }
        // "can be marked done", "flagged as urgent": a yes/no.
        if matches!(
            vp.verbs.first().map(|v| v.lemma.as_str()),
            Some("mark" | "flag" | "set")
        ) && matches!(
            self.tag(j + usize::from(self.text(j) == "as")),
            Some(Tag::Adj | Tag::Noun | Tag::Verb)
        ) {
            let k = j + usize::from(self.text(j) == "as");
            if !matches!(self.tag(k + 1), Some(Tag::Noun)) {
                vp.flag = Some(self.text(k).to_string());
                j = k + 1;
            }
        }
        // "slopes rated green, blue, red or black"
        if matches!(self.tag(j), Some(Tag::Noun | Tag::Adj))
            && let Some((items, k)) = self.choices(j, None)
            && (j..k).any(|x| self.text(x) == "or")
        {
            vp.choices = items;
            j = k;
        }
        self.vp_rest(vp, j)
    }

    /// What follows a verb: objects, prepositions, how it is done.
    fn vp_rest(&self, mut vp: Vp, mut j: usize) -> (Vp, usize) {
        loop {
            if let Some((r, k)) = self.range(j) {
                vp.range = Some(r);
                j = k;
                continue;
            }
            // "by paying an entry fee and choosing a distance"
            if matches!(self.text(j), "by" | "while" | "when") && self.tag(j + 1) == Some(Tag::Verb)
            {
                let mut k = j + 1;
                loop {
                    let (sub, k2) = self.vp(k);
                    vp.then.push(sub);
                    k = k2;
                    match self.separator(k) {
                        Some((k3, _, _)) if self.tag(k3) == Some(Tag::Verb) => k = k3,
                        _ => break,
                    }
                }
                j = k;
                continue;
            }
            match self.tag(j) {
                // "assigned to days as breakfast, lunch or dinner"
                Some(Tag::Prep)
                    if self.text(j) == "as"
                        && vp.choices.is_empty()
                        && let Some((items, k)) = self.choices(j + 1, None) =>
                {
                    vp.choices = items;
                    j = k;
                }
                // "RSVP to events with yes, no or maybe"
                Some(Tag::With)
                    if vp.choices.is_empty()
                        && let Some((items, k)) = self.choices(j + 1, None)
                        && (j..k).any(|x| self.text(x) == "or")
                        && items
                            .iter()
                            .all(|i| !lexicon().nouns.contains_key(&singular(i))) =>
                {
                    vp.choices = items;
                    j = k;
                }
                Some(Tag::With) => {
                    let (items, k) = self.list(j + 1, true, true);
                    if items.is_empty() {
                        break;
                    }
                    vp.preps.push(("with".into(), items));
                    j = k;
                }
                // "a message to write on top": what it is for, not kept.
                Some(Tag::To) if self.tag(j + 1) == Some(Tag::Verb) => {
                    let mut k = j + 2;
                    while matches!(
                        self.tag(k),
                        Some(Tag::Prep | Tag::Noun | Tag::Det | Tag::Adj | Tag::Adv)
                    ) {
                        k += 1;
                    }
                    j = k;
                }
                Some(Tag::Prep | Tag::To | Tag::Of) => {
                    let prep = self.text(j).to_string();
                    match self.pp_objects(j + 1) {
                        Some((objs, k)) => {
                            vp.preps.push((prep, objs));
                            j = k;
                        }
                        // "the albums they are kept in": the preposition's
                        // object is what the clause is about.
                        None if self.is_boundary_or_list_end(j + 1)
                            || self.tag(j + 1) == Some(Tag::Mark(')')) =>
                        {
                            vp.preps.push((prep, Vec::new()));
                            j += 1;
                        }
                        None => break,
                    }
                }
                Some(Tag::Adv) => j += 1,
                Some(Tag::Det | Tag::Num | Tag::Noun | Tag::Adj) if vp.objects.is_empty() => {
                    let (objs, k) = self.list(j, false, true);
                    if objs.is_empty() {
                        break;
                    }
                    vp.objects = objs;
                    j = k;
                }
                // "give a bottle a score": a second object.
                Some(Tag::Det) if !vp.objects.is_empty() && vp.second.is_empty() => {
                    let (objs, k) = self.list(j, false, true);
                    if objs.is_empty() {
                        break;
                    }
                    vp.second = objs;
                    j = k;
                }
                // "couriers deliver them": what the clause before named.
                Some(Tag::Pron) if vp.objects.is_empty() => {
                    if matches!(self.text(j), "them" | "it") {
                        vp.objects.push(Np {
                            words: vec![PRONOUN.into()],
                            ..Np::default()
                        });
                    }
                    // "users follow others": others of the subject's kind.
                    if self.text(j) == "others" {
                        vp.objects.push(Np {
                            words: vec![OTHERS.into()],
                            ..Np::default()
                        });
                    }
                    j += 1;
                }
                // "..., with a count and a date"
                Some(Tag::Mark(',')) if self.tag(j + 1) == Some(Tag::With) => j += 1,
                _ => break,
            }
        }
        (vp, j)
    }

    fn next_object_after(&self, j: usize) -> bool {
        matches!(
            self.tag(j),
            Some(
                Tag::Det
                    | Tag::Num
                    | Tag::Noun
                    | Tag::Adj
                    | Tag::Prep
                    | Tag::To
                    | Tag::Of
                    | Tag::Pron
            )
        ) || self.is_boundary(j)
    }

    /// A clause at `i`: subject (maybe none), then verb phrases joined by
    /// `and` / `,`.
    fn clause(&self, i: usize) -> (Clause, usize) {
        let mut c = Clause::default();
        let mut j = i;
        if self.verb_at(j).is_none() {
            let (subject, k) = self.list(j, false, false);
            c.subject = subject;
            j = k;
        }
        // "each prescription is for a medication": where it belongs.
        {
            let mut k = j;
            if self.skip_aux(&mut k) && matches!(self.tag(k), Some(Tag::Prep | Tag::To)) {
                let be = Vp {
                    verbs: vec![Verb {
                        lemma: "be".into(),
                        class: VerbClass::Locate,
                        noun: None,
                        guessed: false,
                    }],
                    ..Vp::default()
                };
                let (vp, k2) = self.vp_rest(be, k);
                if !vp.preps.is_empty() {
                    c.vps.push(vp);
                    return (c, k2);
                }
            }
        }
        // "each invoice is draft, sent or paid": the states it goes through.
        {
            let mut k = j;
            if self.skip_aux(&mut k)
                && self.tag(k) != Some(Tag::Verb)
                && let Some((items, k2)) = self.choices(k, None)
            {
                for np in &mut c.subject {
                    np.posts.push(Post::States(items.clone()));
                }
                return (c, k2);
            }
        }
        loop {
            let mut k = j;
            let passive = self.skip_aux(&mut k);
            if self.tag(k) != Some(Tag::Verb) {
                break;
            }
            let (mut vp, k2) = self.vp(k);
            vp.passive |= passive
                && self.t[k]
                    .verb
                    .as_ref()
                    .is_some_and(|(_, f)| *f == Form::Past);
            c.vps.push(vp);
            j = k2;
            // "... and pay a fee"
            match self.separator(j) {
                Some((k3, _, _)) if self.verb_at(k3).is_some() => j = k3,
                _ => break,
            }
        }
        (c, j)
    }
}

/// "a pass or fail result", "a color or black-and-white choice": one field
/// whose choices are the first words.
fn merge_alternatives(items: Vec<Np>) -> Vec<Np> {
    let mut out: Vec<Np> = Vec::new();
    for it in items {
        if let Some(prev) = out.last()
            && prev.words.len() == 1
            && prev.posts.is_empty()
            && prev.det.is_some()
            && it.det.is_none()
            && it.words.len() == 2
            && !is_plural(it.head())
            && matches!(
                it.head(),
                "result"
                    | "choice"
                    | "option"
                    | "outcome"
                    | "answer"
                    | "status"
                    | "setting"
                    | "mode"
                    | "preference"
                    | "type"
            )
        {
            let first = out.pop().unwrap_or_default();
            let mut merged = it.clone();
            merged.words = vec![it.head().to_string()];
            merged.det = first.det.clone();
            merged.posts.push(Post::Choices(vec![
                first.words[0].clone(),
                it.words[0].clone(),
            ]));
            out.push(merged);
            continue;
        }
        out.push(it);
    }
    out
}

/// "check-in and check-out dates", "a start and an end date": the first
/// item takes the last one's head.
/// Words that name one of a pair ("start and end dates", "home and away
/// scores").
const PAIRED: &[&str] = &[
    "start",
    "end",
    "first",
    "last",
    "opening",
    "closing",
    "min",
    "max",
    "home",
    "away",
    "front",
    "back",
    "pickup",
    "return",
    "departure",
    "arrival",
];

fn distribute(items: &mut [Np]) {
    let lx = lexicon();
    for i in 0..items.len().saturating_sub(1) {
        let next = &items[i + 1];
        let head = next.head().to_string();
        let attr_head = lx.attrs.contains_key(&head) || lx.attrs.contains_key(&singular(&head));
        if next.words.len() < 2 || !attr_head {
            continue;
        }
        let it = &items[i];
        let bare = it.det.is_none() && it.adjectives.is_empty();
        let paired = PAIRED.contains(&it.head());
        let single = it.words.len() == 1 && it.posts.is_empty() && !is_plural(it.head());
        let pairs_with_next = PAIRED.contains(&next.words[0].as_str());
        if single
            && ((paired && pairs_with_next)
                || (bare && !paired && !lx.attrs.contains_key(it.head())))
        {
            items[i].words.push(head);
        }
    }
}

/// "a number of bedrooms" is a count of bedrooms; "a thread of messages"
/// and "a list of items" are the messages and the items.
fn unwrap_quantity(np: Np) -> Np {
    // "an ordered list of songs": the songs, kept in a list of its own.
    if matches!(np.head(), "list" | "selection" | "lineup")
        && np.words.len() == 1
        && let Some(Post::Prep(p, objs)) = np.posts.first()
        && p == "of"
        && objs.len() == 1
        && objs[0].is_plural()
    {
        let mut inner = objs[0].clone();
        inner.posts.extend(np.posts[1..].iter().cloned());
        inner.listed = true;
        return inner;
    }
    let counted = matches!(np.head(), "number" | "count");
    let wrapper = counted
        || matches!(
            np.head(),
            "thread"
                | "set"
                | "series"
                | "history"
                | "bunch"
                | "pair"
                | "couple"
                | "variety"
                | "lot"
                | "lots"
                | "collection_of"
        );
    if np.words.len() != 1 || !wrapper {
        return np;
    }
    let Some(Post::Prep(p, objs)) = np.posts.first() else {
        return np;
    };
    if p != "of" || objs.len() != 1 {
        return np;
    }
    let mut inner = objs[0].clone();
    inner.posts.extend(np.posts[1..].iter().cloned());
    inner.counted = counted;
    if inner.det.is_none() && !inner.is_plural() {
        inner.det = np.det.clone();
    }
    inner
}

/// What an object pronoun stands in for, until the meaning is read.
pub const PRONOUN: &str = "<them>";
/// "others" as an object: more of what the subject is.
pub const OTHERS: &str = "<others>";

/// Leading words that ask for the app rather than describe it.
const PREAMBLE: &[&str] = &[
    "build",
    "create",
    "make",
    "generate",
    "develop",
    "design",
    "write",
    "code",
    "implement",
    "i",
    "we",
    "want",
    "need",
    "would",
    "like",
    "please",
    "me",
    "us",
    "let's",
    "lets",
    "give",
    "could",
    "can",
    "you",
    "an_app",
    "just",
    "simply",
    "basically",
    "help",
    "something",
    "to",
    // "track books I've read", "log my runs": what is kept follows.
    "track",
    "log",
    "manage",
    "organize",
    "organise",
    "catalog",
    "catalogue",
    "record",
];

pub fn parse(request: &str) -> (Parse, Vec<Tok>) {
    let tokens = tokenize(request);
    let mut start = 0;
    while let Some(Token::Word(w)) = tokens.get(start) {
        if PREAMBLE.contains(&w.as_str()) {
            start += 1;
        } else {
            break;
        }
    }
    let mut toks = tag(&tokens[start..]);
    // "books I've read with a rating": what the person did to them says
    // which books, not what is kept.
    let mut i = 1;
    while i + 1 < toks.len() {
        if toks[i - 1].tag == Tag::Noun
            && is_plural(&toks[i - 1].text)
            && matches!(toks[i].text.as_str(), "i" | "we")
            && matches!(toks[i + 1].tag, Tag::Verb | Tag::Noun)
            && toks
                .get(i + 2)
                .is_none_or(|t| matches!(t.tag, Tag::With | Tag::Mark(_) | Tag::Conj))
        {
            toks.drain(i..i + 2);
        } else {
            i += 1;
        }
    }
    let p = P { t: &toks };
    let mut out = Parse::default();
    let mut j = 0;
    // The app: "a hotel booking system", "an app for ...". A request
    // that starts with a clause ("tenants report repairs ...") names no
    // app: its first words are the clause's subject.
    if let Some((np, k)) = p.np(j, false)
        && !(p.verb_at(k).is_some() && np.det.is_none() && !lexicon().app.contains(np.head()))
    {
        out.head = Some(np);
        j = k;
    }
    while j < toks.len() {
        let before = j;
        match p.tag(j) {
            Some(Tag::Mark(_) | Tag::Where | Tag::Conj | Tag::Rel | Tag::Adv) => {
                j += 1;
                continue;
            }
            // "each week, flatmates get chores": rows by the week.
            Some(Tag::Det)
                if matches!(p.text(j), "each" | "every")
                    && matches!(
                        p.text(j + 1),
                        "week" | "day" | "month" | "year" | "morning" | "evening" | "night"
                    )
                    && p.tag(j + 2) == Some(Tag::Mark(',')) =>
            {
                let ctx = Np {
                    words: vec![p.text(j + 1).to_string()],
                    det: Some("each".into()),
                    ..Np::default()
                };
                let (mut c, k2) = p.clause(j + 3);
                c.context = Some(ctx);
                if !c.vps.is_empty() {
                    out.clauses.push(c);
                }
                j = k2.max(j + 3);
                continue;
            }
            Some(Tag::Prep)
                if matches!(
                    p.text(j),
                    "after" | "before" | "during" | "following" | "upon"
                ) && let Some((ctx, k)) = p.np_with(j + 1, true, false) =>
            {
                // "after a session the student leaves a review"
                let k = if p.tag(k) == Some(Tag::Mark(',')) {
                    k + 1
                } else {
                    k
                };
                let (mut c, k2) = p.clause(k);
                c.context = Some(ctx);
                if !c.vps.is_empty() {
                    out.clauses.push(c);
                }
                j = k2.max(k + 1);
                continue;
            }
            Some(Tag::Prep | Tag::To | Tag::With | Tag::Of) => {
                // "an app for managing ...", "an app to track ...", "for
                // hotels".
                if p.tag(j + 1) == Some(Tag::Verb) {
                    let (c, k) = p.clause(j + 1);
                    out.clauses.push(c);
                    j = k;
                } else {
                    let (items, k) = p.list(j + 1, false, false);
                    if !items.is_empty() {
                        out.lists.push(items);
                    }
                    j = k.max(j + 1);
                }
                continue;
            }
            _ => {}
        }
        let (c, k) = p.clause(j);
        if c.vps.is_empty() {
            if !c.subject.is_empty() {
                out.lists.push(c.subject);
            }
        } else {
            out.clauses.push(c);
        }
        j = if k > before { k } else { before + 1 };
    }
    (out, toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<(String, Tag)> {
        tag(&tokenize(s))
            .into_iter()
            .map(|t| (t.text, t.tag))
            .collect()
    }

    fn tag_of(s: &str, word: &str) -> Tag {
        tags(s)
            .into_iter()
            .find(|(w, _)| w == word)
            .unwrap_or_else(|| panic!("{word} in {s}"))
            .1
    }

    #[test]
    fn verbs_and_nouns_by_context() {
        assert_eq!(tag_of("shelters list pets", "list"), Tag::Verb);
        assert_eq!(tag_of("subscribers subscribe to lists", "lists"), Tag::Noun);
        assert_eq!(tag_of("a movie review site", "review"), Tag::Noun);
        assert_eq!(tag_of("a hotel booking system", "booking"), Tag::Noun);
        assert_eq!(tag_of("a system tracking products", "tracking"), Tag::Verb);
        assert_eq!(
            tag_of("with books and customer orders", "orders"),
            Tag::Noun
        );
        assert_eq!(tag_of("hours worked per project", "worked"), Tag::Verb);
        assert_eq!(
            tag_of("users rate movies and write reviews", "write"),
            Tag::Verb
        );
        assert_eq!(tag_of("locations and stock movements", "stock"), Tag::Noun);
        assert_eq!(tag_of("a nightly rate", "nightly"), Tag::Adj);
        assert_eq!(tag_of("parking lots have spaces", "parking"), Tag::Noun);
        assert_eq!(tag_of("users can like photos", "like"), Tag::Verb);
    }

    #[test]
    fn a_clause_with_objects_and_their_attributes() {
        let (p, _) = parse("a hotel booking system: hotels have rooms with a nightly rate");
        assert_eq!(p.head.unwrap().words, ["hotel", "booking", "system"]);
        let c = &p.clauses[0];
        assert_eq!(c.subject[0].head(), "hotels");
        assert_eq!(c.vps[0].verbs[0].lemma, "have");
        let rooms = &c.vps[0].objects[0];
        assert_eq!(rooms.head(), "rooms");
        assert!(matches!(&rooms.posts[0], Post::With(a) if a[0].text() == "nightly rate"));
    }

    #[test]
    fn choices_and_ranges() {
        let (p, _) = parse("plants with a light requirement of low, medium or high");
        let head = p.head.unwrap();
        let Post::With(attrs) = &head.posts[0] else {
            panic!()
        };
        assert!(matches!(&attrs[0].posts[0], Post::Choices(c) if c == &["low", "medium", "high"]));
        let (p, _) = parse("a site where users rate movies from 1 to 10");
        assert_eq!(p.clauses[0].vps[0].objects[0].head(), "movies");
        let found = p.clauses[0].vps[0].range.is_some()
            || p.clauses[0].vps[0].objects[0]
                .posts
                .iter()
                .any(|x| matches!(x, Post::Range(Some(1.0), Some(10.0))));
        assert!(found, "{p:?}");
    }
}
