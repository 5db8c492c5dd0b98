//! The parser's knowledge of words, read once from `lexicon.txt`.

use nexus_spec::Field;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// What kind of thing a noun names; decides how unrelated nouns relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Org,
    Place,
    Group,
    Collection,
    Thing,
    Content,
    Response,
    Event,
    Join,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "person" => Kind::Person,
            "org" => Kind::Org,
            "place" => Kind::Place,
            "group" => Kind::Group,
            "collection" => Kind::Collection,
            "thing" => Kind::Thing,
            "content" => Kind::Content,
            "response" => Kind::Response,
            "event" => Kind::Event,
            "join" => Kind::Join,
            _ => return None,
        })
    }

    /// People and organisations act; they are parents of what they make.
    pub fn is_agent(self) -> bool {
        matches!(self, Kind::Person | Kind::Org)
    }

    /// Rows about something else: they hang off what they are about.
    pub fn is_occurrence(self) -> bool {
        matches!(self, Kind::Event | Kind::Response | Kind::Join)
    }
}

#[derive(Debug, Clone)]
pub struct Noun {
    pub kind: Kind,
    pub fields: Vec<Field>,
}

/// What a word says about a field named with it.
#[derive(Debug, Clone)]
pub struct Attr {
    pub kind: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub choices: Vec<String>,
    pub unique: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerbClass {
    Have,
    Make,
    Act,
    Link,
    Locate,
    Send,
    Judge,
    Light,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Base,
    Third,
    Past,
    Ing,
}

#[derive(Debug, Clone)]
pub struct Verb {
    pub lemma: String,
    pub class: VerbClass,
    /// The row the action makes (`reserve` → `reservation`), or the state
    /// it leaves (`approve` → `approved`).
    pub noun: Option<String>,
    /// Read from its place in the sentence, not from the lexicon.
    pub guessed: bool,
}

#[derive(Default)]
pub struct Lexicon {
    pub nouns: HashMap<String, Noun>,
    pub attrs: HashMap<String, Attr>,
    pub states: HashMap<String, Vec<String>>,
    /// Every written form of a verb → (verb, which form).
    pub verbs: HashMap<String, (Verb, Form)>,
    pub app: HashSet<String>,
    pub mass: HashSet<String>,
    pub domains: HashMap<String, String>,
    pub plurals: HashMap<String, String>,
    pub adjectives: HashSet<String>,
    pub units: HashSet<String>,
}

/// `rating:integer!>=1<=5`, `status:enum=open|closed`, `isbn:string^`.
pub fn parse_field(text: &str) -> Option<Field> {
    let (name, rest) = text.split_once(':')?;
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (kind, mut flags) = rest.split_at(end);
    let mut f = Field::new(name, kind, false);
    while !flags.is_empty() {
        if let Some(r) = flags.strip_prefix('!') {
            f.required = true;
            flags = r;
        } else if let Some(r) = flags.strip_prefix('^') {
            f.unique = true;
            flags = r;
        } else if let Some(r) = flags.strip_prefix(">=").or(flags.strip_prefix("<=")) {
            let at_least = flags.starts_with(">=");
            let end = r
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(r.len());
            let v: f64 = r[..end].parse().ok()?;
            if at_least {
                f.min = Some(v);
            } else {
                f.max = Some(v);
            }
            flags = &r[end..];
        } else if let Some(r) = flags.strip_prefix('=') {
            f.choices = r.split('|').map(str::to_string).collect();
            flags = "";
        } else {
            return None;
        }
    }
    Some(f)
}

fn parse_attr(words: &[&str]) -> Option<Attr> {
    let mut a = Attr {
        kind: words.first()?.to_string(),
        min: None,
        max: None,
        choices: Vec::new(),
        unique: false,
    };
    for w in &words[1..] {
        if let Some(v) = w.strip_prefix(">=") {
            a.min = v.parse().ok();
        } else if let Some(v) = w.strip_prefix("<=") {
            a.max = v.parse().ok();
        } else if let Some(v) = w.strip_prefix('=') {
            a.choices = v.split('|').map(str::to_string).collect();
        } else if *w == "^" {
            a.unique = true;
        } else {
            return None;
        }
    }
    Some(a)
}

fn form_of(base: &str, form: &str) -> Form {
    if form.ends_with("ing") {
        Form::Ing
    } else if form.ends_with('s') && form.len() <= base.len() + 2 && !form.ends_with("ss") {
        Form::Third
    } else {
        Form::Past
    }
}

impl Lexicon {
    fn load(text: &str) -> Lexicon {
        let mut lx = Lexicon::default();
        let mut section = "";
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = match s {
                    "kinds" | "nouns" | "attributes" | "states" | "verbs" | "app" | "mass"
                    | "domains" | "plurals" | "adjectives" | "units" => s,
                    other => panic!("lexicon.txt: unknown section [{other}]"),
                };
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            macro_rules! bad {
                () => {
                    panic!("lexicon.txt [{section}]: cannot read `{line}`")
                };
            }
            match section {
                "kinds" => {}
                "nouns" => {
                    let kind = words
                        .get(1)
                        .and_then(|k| Kind::parse(k))
                        .unwrap_or_else(|| bad!());
                    let fields = words[2..]
                        .iter()
                        .map(|f| parse_field(f).unwrap_or_else(|| bad!()))
                        .collect();
                    lx.nouns.insert(words[0].into(), Noun { kind, fields });
                }
                "attributes" => {
                    let a = parse_attr(&words[1..]).unwrap_or_else(|| bad!());
                    lx.attrs.insert(words[0].into(), a);
                }
                "states" => {
                    let states = words.get(1).unwrap_or_else(|| bad!());
                    lx.states.insert(
                        words[0].into(),
                        states.split('|').map(str::to_string).collect(),
                    );
                }
                "verbs" => {
                    let class = match *words.get(1).unwrap_or_else(|| bad!()) {
                        "have" => VerbClass::Have,
                        "make" => VerbClass::Make,
                        "act" => VerbClass::Act,
                        "link" => VerbClass::Link,
                        "locate" => VerbClass::Locate,
                        "send" => VerbClass::Send,
                        "judge" => VerbClass::Judge,
                        "light" => VerbClass::Light,
                        _ => bad!(),
                    };
                    let noun = words.get(2).filter(|n| **n != "_").map(|n| n.to_string());
                    let verb = Verb {
                        lemma: words[0].into(),
                        class,
                        noun,
                        guessed: false,
                    };
                    lx.verbs
                        .entry(words[0].into())
                        .or_insert((verb.clone(), Form::Base));
                    // `hand_in hands handed handing`: the forms are of the
                    // verb before the particle.
                    let (base, particle) = match words[0].split_once('_') {
                        Some((b, p)) => (b, format!("_{p}")),
                        None => (words[0], String::new()),
                    };
                    for form in words.iter().skip(3) {
                        lx.verbs
                            .entry(format!("{form}{particle}"))
                            .or_insert((verb.clone(), form_of(base, form)));
                    }
                }
                "app" => lx.app.extend(words.iter().map(|w| w.to_string())),
                "mass" => lx.mass.extend(words.iter().map(|w| w.to_string())),
                "adjectives" => lx.adjectives.extend(words.iter().map(|w| w.to_string())),
                "units" => lx.units.extend(words.iter().map(|w| w.to_string())),
                "domains" => {
                    lx.domains.insert(
                        words[0].into(),
                        words.get(1).unwrap_or_else(|| bad!()).to_string(),
                    );
                }
                "plurals" => {
                    lx.plurals.insert(
                        words[0].into(),
                        words.get(1).unwrap_or_else(|| bad!()).to_string(),
                    );
                }
                _ => bad!(),
            }
        }
        lx
    }

    pub fn noun(&self, key: &str) -> Option<&Noun> {
        self.nouns.get(key)
    }

    pub fn verb(&self, word: &str) -> Option<&(Verb, Form)> {
        self.verbs.get(word)
    }

    /// The choices of a `status`/`stage` field of `owner`.
    pub fn states(&self, owner: &str) -> Vec<String> {
        let head = owner.rsplit('_').next().unwrap_or(owner);
        self.states
            .get(owner)
            .or_else(|| self.states.get(head))
            .or_else(|| self.states.get("*"))
            .cloned()
            .unwrap_or_default()
    }
}

pub fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| Lexicon::load(include_str!("lexicon.txt")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_reads() {
        let lx = lexicon();
        assert_eq!(lx.noun("room").unwrap().kind, Kind::Place);
        let review = &lx.noun("review").unwrap().fields[0];
        assert_eq!(
            (
                review.name.as_str(),
                review.min,
                review.max,
                review.required
            ),
            ("rating", Some(1.0), Some(5.0), true)
        );
        assert_eq!(lx.verb("gave").unwrap().0.lemma, "give");
        assert_eq!(lx.verb("reserves").unwrap().1, Form::Third);
        assert_eq!(lx.attrs["price"].kind, "decimal");
        assert_eq!(lx.states("deal")[0], "lead");
        assert!(lx.app.contains("tracker"));
    }

    #[test]
    fn every_lexicon_field_is_valid() {
        for (word, noun) in &lexicon().nouns {
            let e = nexus_spec::Entity {
                name: "Check".into(),
                plural: String::new(),
                fields: noun.fields.clone(),
                owned: false,
            };
            let spec = nexus_spec::Spec {
                name: "x".into(),
                title: "x".into(),
                auth: false,
                entities: vec![e],
                relations: Vec::new(),
                features: Vec::new(),
            };
            if !noun.fields.is_empty() {
                spec.normalised()
                    .unwrap_or_else(|e| panic!("lexicon noun `{word}`: {e}"));
            }
        }
    }
}
