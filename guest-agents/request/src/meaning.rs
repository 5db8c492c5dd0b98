//! From the grammar's phrases to a spec: which nouns are things the app
//! keeps, which are their fields, and how they relate — with the reason for
//! each decision.

use crate::grammar::{Clause, Np, OTHERS, PRONOUN, Parse, Post, Vp};
use crate::lexicon::{Form, Kind, VerbClass, lexicon};
use crate::words::{ident, is_adjective, is_plural, pascal, singular};
use nexus_spec::{Entity, Field, Relation, Spec, slug};

/// Words that mean the people who log in.
const USER_WORDS: &[&str] = &["user", "login"];
/// Words in a request that say people log in.
const AUTH_WORDS: &[&str] = &[
    "user",
    "users",
    "login",
    "logins",
    "authentication",
    "auth",
    "password",
    "passwords",
];
/// Time words that make a date, not an entity ("per day").
const TIME_WORDS: &[&str] = &[
    "season", "semester", "term", "quarter", "day", "date", "week", "month", "year", "hour",
    "minute", "time", "night", "weekday",
];
/// Nouns a request names that group others and are linked many-to-many.
const TAG_WORDS: &[&str] = &["tag", "label"];
/// People who make things; a thing hangs off its maker.
const MAKERS: &[&str] = &[
    "author",
    "artist",
    "writer",
    "creator",
    "designer",
    "photographer",
    "instructor",
    "teacher",
    "speaker",
    "chef",
    "developer",
    "publisher",
    "editor",
    "organizer",
    "organiser",
    "host",
    "seller",
    "vendor",
    "supplier",
    "manufacturer",
    "brand",
    "landlord",
    "owner",
    "studio",
    "label",
    "tutor",
    "trainer",
    "coach",
    "agent",
];

/// Things that admit to or pay for an event.
const TOKENS: &[&str] = &["ticket", "pass", "voucher", "coupon", "badge", "wristband"];

/// People who belong to an organisation (an employee to a company, a
/// player to a team).
const AFFILIATED: &[&str] = &[
    "employee",
    "staff",
    "player",
    "athlete",
    "contact",
    "member",
    "student",
    "pupil",
    "teacher",
    "doctor",
    "nurse",
    "agent",
    "volunteer",
    "worker",
    "coach",
    "manager",
    "technician",
    "mechanic",
    "waiter",
    "chef",
    "librarian",
    "instructor",
    "trainer",
    "lead",
    "recruiter",
    "developer",
    "designer",
    "engineer",
    "tutor",
];

#[derive(Debug, Clone)]
struct Ent {
    key: String,
    kind: Kind,
    fields: Vec<Field>,
    owned: bool,
}

#[derive(Debug, Clone)]
struct Rel {
    child: String,
    parent: String,
    field: Option<String>,
    required: bool,
    why: String,
    /// Said in so many words (not inferred from names or lists).
    stated: bool,
}

#[derive(Debug, Clone)]
struct Link {
    a: String,
    b: String,
    through: String,
}

/// What a noun phrase stands for.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    User,
    App,
    Entity(String),
    Attr,
    Skip(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ctx {
    /// The object of a preposition: a plural names rows ("sightings of
    /// species"), a singular with an article unknown to the lexicon is an
    /// attribute ("for a short reason").
    Prep,
    /// A list of what the app keeps, a subject, a verb's object, a
    /// preposition's object.
    Thing,
    /// After `with` or `has`: attributes unless a bare plural.
    Attr,
}

/// The result: the spec and the reasons behind it.
pub struct Understanding {
    pub spec: Spec,
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Model {
    ents: Vec<Ent>,
    rels: Vec<Rel>,
    /// Relations implied by how things are named or listed; added after
    /// the stated ones, where they fit.
    implied: Vec<Rel>,
    links: Vec<Link>,
    auth: bool,
    notes: Vec<String>,
    /// Nouns that name the app.
    app: Vec<String>,
    /// Attributes that came with no owner (`planting dates` in a list).
    loose: Vec<(Np, Vec<String>)>,
    /// Keys of nouns seen in places only a thing can be (for compounds).
    mentioned: Vec<String>,
    /// Whether relations added now are stated by the request.
    stating: bool,
    /// Who made what: (row, its makers, made by users, the row is an
    /// action's noun like a rating from "rate").
    made: Vec<(String, Vec<String>, bool, bool)>,
    /// (verb, object) pairs stated ("submit" an expense report).
    acts: Vec<(String, String)>,
    /// Words already used as attributes ("free seats").
    attr_words: Vec<String>,
    /// What the last verb acted on, for "them" and "it".
    last_objects: Vec<String>,
    /// Keys in the order they were first named.
    order: Vec<String>,
}

fn quote(np: &Np) -> String {
    format!("“{}”", np.text())
}

impl Model {
    fn find(&self, key: &str) -> Option<usize> {
        self.ents.iter().position(|e| e.key == key)
    }

    fn has(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    fn kind_of(&self, key: &str) -> Kind {
        self.find(key).map_or(Kind::Thing, |i| self.ents[i].kind)
    }

    /// The key an already known entity goes by: `reports` after `expense
    /// reports` is the same entity.
    fn resolve(&self, key: &str) -> String {
        if self.has(key) {
            return key.to_string();
        }
        let tail = format!("_{key}");
        let ends: Vec<&Ent> = self
            .ents
            .iter()
            .filter(|e| e.key.ends_with(&tail))
            .collect();
        if ends.len() == 1 {
            return ends[0].key.clone();
        }
        key.to_string()
    }

    fn add(&mut self, key: &str, why: String) -> String {
        let key = self.resolve(key);
        if !self.has(&key) {
            let lx = lexicon();
            let head = key.rsplit('_').next().unwrap_or(&key);
            let mut kind = lx
                .noun(&key)
                .or_else(|| lx.noun(head))
                .map_or_else(|| kind_by_ending(head), |n| n.kind);
            // "repair jobs", "service visits": what happens, named by the
            // action.
            if lx.noun(&key).is_none()
                && let Some((first, _)) = key.split_once('_')
                && lx.noun(first).is_some_and(|n| n.kind == Kind::Event)
                && matches!(kind, Kind::Thing | Kind::Content)
            {
                kind = Kind::Event;
            }
            self.notes.push(format!("{}: {why}", pascal(&key)));
            self.order.push(key.clone());
            self.ents.push(Ent {
                key: key.clone(),
                kind,
                fields: Vec::new(),
                owned: false,
            });
        }
        key
    }

    fn relate(&mut self, child: &str, parent: &str, required: bool, why: String) {
        self.relate_as(child, parent, None, required, why);
    }

    fn relate_as(
        &mut self,
        child: &str,
        parent: &str,
        field: Option<String>,
        required: bool,
        why: String,
    ) {
        if child == parent {
            return;
        }
        if self
            .rels
            .iter()
            .any(|r| r.child == child && r.parent == parent && r.field == field)
        {
            return;
        }
        // The first statement wins: a later one the other way round would
        // make the references go round.
        if self.reaches(parent, child) {
            return;
        }
        self.rels.push(Rel {
            child: child.into(),
            parent: parent.into(),
            field,
            required,
            why,
            stated: self.stating,
        });
    }

    fn imply(&mut self, child: &str, parent: &str, why: String) {
        if child != parent {
            self.implied.push(Rel {
                child: child.into(),
                parent: parent.into(),
                field: None,
                required: false,
                why,
                stated: false,
            });
        }
    }

    fn related(&self, a: &str, b: &str) -> bool {
        self.rels
            .iter()
            .any(|r| (r.child == a && r.parent == b) || (r.child == b && r.parent == a))
            || self.links.iter().any(|l| {
                (l.a == a && l.b == b) || (l.a == b && l.b == a) || l.through == a || l.through == b
            })
    }

    /// Whether `to` can be reached from `from` following references.
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut at = vec![from.to_string()];
        let mut seen: Vec<String> = Vec::new();
        while let Some(x) = at.pop() {
            if x == to {
                return true;
            }
            for r in self.rels.iter().filter(|r| r.child == x) {
                if !seen.contains(&r.parent) {
                    seen.push(r.parent.clone());
                    at.push(r.parent.clone());
                }
            }
        }
        false
    }

    fn field(&mut self, owner: &str, mut f: Field, why: String) {
        // Only what the type can carry: choices for an enum, a range for a
        // number.
        if f.kind != "enum" {
            f.choices.clear();
        } else if f.choices.len() < 2 {
            f.kind = "string".into();
            f.choices.clear();
        }
        if !f.is_numeric() {
            f.min = None;
            f.max = None;
        }
        let Some(i) = self.find(owner) else { return };
        let e = &mut self.ents[i];
        if let Some(old) = e.fields.iter_mut().find(|x| x.name == f.name) {
            // A later mention may add what an earlier one left open.
            if old.choices.is_empty() && !f.choices.is_empty() {
                old.kind = f.kind.clone();
                old.choices = f.choices.clone();
            }
            if old.min.is_none() && f.min.is_some() {
                old.min = f.min;
            }
            if old.max.is_none() && f.max.is_some() {
                old.max = f.max;
            }
            return;
        }
        self.notes.push(format!(
            "{}.{} ({}{}): {why}",
            pascal(owner),
            f.name,
            f.kind,
            constraint_text(&f)
        ));
        e.fields.push(f);
    }

    fn link(&mut self, a: &str, b: &str, through: &str, why: String) {
        if a == b
            || self
                .links
                .iter()
                .any(|l| (l.a == a && l.b == b) || (l.a == b && l.b == a))
        {
            return;
        }
        self.notes.push(format!(
            "{} ↔ {} through {}: {why}",
            pascal(a),
            pascal(b),
            pascal(through)
        ));
        self.links.push(Link {
            a: a.into(),
            b: b.into(),
            through: through.into(),
        });
    }
}

/// The kind of a noun the lexicon does not know, from how it ends:
/// `viewing`, `renewal`, `shipment` happen; `trustee`, `pianist` are
/// people.
fn kind_by_ending(word: &str) -> Kind {
    const THINGS_IN_ER: &[&str] = &[
        "order",
        "number",
        "folder",
        "paper",
        "poster",
        "letter",
        "chapter",
        "center",
        "centre",
        "register",
        "trailer",
        "filter",
        "parameter",
        "computer",
        "server",
        "container",
        "banner",
        "sticker",
        "counter",
        "timer",
        "cover",
        "water",
        "power",
        "layer",
        "corner",
        "border",
        "flyer",
        "voucher",
        "printer",
        "scooter",
        "tractor",
        "locker",
        "charger",
        "reminder",
        "planner",
        "ledger",
        "binder",
        "shelter",
        "theater",
        "theatre",
        "meter",
        "calendar",
        "header",
        "footer",
        "answer",
        "offer",
        "sensor",
        "monitor",
        "elevator",
        "motor",
        "radiator",
        "generator",
        "mirror",
        "door",
        "floor",
        "color",
        "colour",
        "error",
        "sector",
        "factor",
        "vector",
        "flavor",
        "flavour",
        "honor",
        "labor",
        "labour",
        "behavior",
        "harbor",
        "razor",
        "guarantee",
        "fee",
        "coffee",
        "committee",
        "degree",
        "plant",
        "restaurant",
        "event",
        "moment",
        "comment",
        "apartment",
        "department",
        "instrument",
        "document",
        "equipment",
        "statement",
        "segment",
        "element",
        "garment",
        "ornament",
        "monument",
        "tournament",
        "fragment",
        "compartment",
        "supplement",
        "implement",
        "material",
        "journal",
        "animal",
        "hospital",
        "terminal",
        "portal",
        "manual",
        "festival",
        "signal",
        "pedal",
        "metal",
        "medal",
        "crystal",
        "tutorial",
        "page",
        "image",
        "message",
        "package",
        "garage",
        "stage",
        "village",
        "cottage",
        "luggage",
        "storage",
        "voltage",
        "mortgage",
        "sausage",
        "beverage",
        "heritage",
        "wage",
        "cage",
    ];
    if THINGS_IN_ER.contains(&word) {
        return Kind::Thing;
    }
    let ends = |s: &[&str]| {
        s.iter()
            .any(|e| word.len() > e.len() + 2 && word.ends_with(e))
    };
    if ends(&[
        "ing", "tion", "sion", "ment", "ance", "ence", "al", "ship", "age",
    ]) {
        Kind::Event
    } else if ends(&["er", "or", "ist", "ee", "ant", "ent", "ian"]) {
        Kind::Person
    } else {
        Kind::Thing
    }
}

fn constraint_text(f: &Field) -> String {
    let mut parts = Vec::new();
    if !f.choices.is_empty() {
        parts.push(f.choices.join("/"));
    }
    match (f.min, f.max) {
        (Some(a), Some(b)) => parts.push(format!(
            "{}–{}",
            nexus_spec::number_literal(a),
            nexus_spec::number_literal(b)
        )),
        (Some(a), None) => parts.push(format!("≥ {}", nexus_spec::number_literal(a))),
        (None, Some(b)) => parts.push(format!("≤ {}", nexus_spec::number_literal(b))),
        _ => {}
    }
    if f.unique {
        parts.push("unique".into());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(", {}", parts.join(", "))
    }
}

/// The attribute entry for a field name: the whole name, its last word,
/// its last word's singular.
fn attr_entry(name: &str) -> Option<&'static crate::lexicon::Attr> {
    let lx = lexicon();
    let last = name.rsplit('_').next().unwrap_or(name);
    lx.attrs
        .get(name)
        .or_else(|| lx.attrs.get(last))
        .or_else(|| lx.attrs.get(&singular(last)))
}

fn is_attr_word(word: &str) -> bool {
    let lx = lexicon();
    lx.attrs.contains_key(word) || lx.attrs.contains_key(&singular(word))
}

fn is_entity_noun(word: &str) -> bool {
    lexicon().nouns.contains_key(&singular(word))
}

fn is_time_word(word: &str) -> bool {
    let s = singular(word);
    TIME_WORDS.contains(&s.as_str()) || lexicon().units.contains(word)
}

/// A field for `name` typed from what the words say.
fn typed_field(name: &str) -> Field {
    let mut f = Field::new(name, "string", false);
    if let Some(a) = attr_entry(name) {
        f.kind = a.kind.clone();
        f.min = a.min;
        f.max = a.max;
        f.unique = a.unique;
        if !a.choices.is_empty() {
            f.choices = a.choices.clone();
        }
    } else if name.ends_with("_at") {
        f.kind = "datetime".into();
    } else if name.ends_with("_on") || name.ends_with("_date") {
        f.kind = "date".into();
    } else if name.starts_with("is_") || name.starts_with("has_") {
        f.kind = "boolean".into();
    } else if name.ends_with("_count") || name.starts_with("number_of") {
        f.kind = "integer".into();
        f.min = Some(0.0);
    }
    // "a party size", "a team size": how many people; a size alone is a
    // garment's.
    if let Some(what) = name.strip_suffix("_size") {
        let word = what.rsplit('_').next().unwrap_or(what);
        let people = word == "party"
            || lexicon()
                .nouns
                .get(word)
                .is_some_and(|n| matches!(n.kind, Kind::Person | Kind::Org | Kind::Group));
        if people {
            f.kind = "integer".into();
            f.min = Some(1.0);
            f.max = None;
            f.choices.clear();
        }
    }
    // "a dose number", "a floor number": a count; "a phone number", "a
    // serial number": an identifier.
    if let Some(what) = name.strip_suffix("_number")
        && !matches!(
            what.rsplit('_').next().unwrap_or(what),
            "phone"
                | "serial"
                | "license"
                | "licence"
                | "tracking"
                | "account"
                | "reference"
                | "order"
                | "invoice"
                | "plate"
                | "id"
                | "passport"
                | "flight"
                | "room"
                | "apartment"
                | "unit"
                | "table"
                | "house"
                | "street"
                | "vat"
                | "tax"
                | "part"
                | "model"
                | "policy"
                | "case"
                | "ticket"
                | "booking"
                | "confirmation"
                | "membership"
                | "card"
                | "seat"
                | "jersey"
                | "batch"
                | "lot"
                | "registration"
                | "contact"
                | "mobile"
                | "fax"
        )
    {
        f.kind = "integer".into();
        f.min = Some(0.0);
    }
    // "nightly rate", "hourly wage": money.
    if (name.starts_with("nightly_")
        || name.starts_with("hourly_")
        || name.starts_with("daily_")
        || name.starts_with("monthly_")
        || name.starts_with("weekly_"))
        && (name.ends_with("rate") || name.ends_with("price") || name.ends_with("fee"))
    {
        f.kind = "decimal".into();
        f.min = Some(0.0);
    }
    f
}

/// Field names the generated code cannot take as they are.
fn usable_name(owner: &str, name: &str) -> String {
    const TAKEN: &[&str] = &[
        "id", "type", "from", "class", "def", "import", "return", "in", "is", "not", "and", "or",
        "with", "global", "lambda", "pass", "raise", "try", "while", "yield", "none", "true",
        "false", "self", "metadata", "default", "delete", "new", "function", "var", "let", "const",
        "async", "await", "user", "users", "owner_id",
    ];
    let mut n = ident(name);
    if n.is_empty() {
        n = "value".into();
    }
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        n = format!("n_{n}");
    }
    if TAKEN.contains(&n.as_str()) {
        n = format!("{owner}_{n}");
    }
    n.chars().take(40).collect()
}

struct Reader<'a> {
    m: Model,
    parse: &'a Parse,
    /// The subject of the clause being read, for "they".
    subject_now: Vec<(Role, Np)>,
    /// "start at one station and end at another": the role a reference
    /// made now plays.
    role_prefix: Option<&'static str>,
}

impl Reader<'_> {
    /// Singular words of a phrase with the adjectives that are not part of
    /// a name left out: (modifiers, head).
    fn words(np: &Np) -> (Vec<String>, String) {
        let mut words: Vec<String> = np
            .words
            .iter()
            .filter(|w| !is_adjective(w))
            .cloned()
            .collect();
        if words.is_empty() {
            words = np.words.clone();
        }
        let head = singular(words.last().map_or("", String::as_str));
        let mut mods: Vec<String> = words[..words.len() - 1].iter().map(|w| ident(w)).collect();
        // "short links": an adjective that is part of a known name.
        if mods.is_empty()
            && let Some(a) = np.adjectives.last()
            && lexicon()
                .nouns
                .contains_key(&format!("{}_{}", ident(a), ident(&head)))
        {
            mods.push(ident(a));
        }
        (mods, ident(&head))
    }

    /// What a phrase stands for here.
    fn role(&self, np: &Np, ctx: Ctx) -> Role {
        let lx = lexicon();
        let (mods, head) = Self::words(np);
        if head.is_empty() {
            return Role::Skip("no noun".into());
        }
        if USER_WORDS.contains(&head.as_str()) {
            return Role::User;
        }
        if np.counted || np.flag {
            return Role::Attr;
        }
        // "a loyalty card with a stamp count": something with fields of
        // its own is a row.
        if np.posts.iter().any(|p| matches!(p, Post::With(items) if items.iter().any(|i| is_attr_word(i.head()) || i.det.is_some())))
            && !is_time_word(np.head())
            && !lx.units.contains(np.head())
                        && (!is_attr_word(&head) || lx.nouns.contains_key(&head))
        {
            return Role::Entity(head);
        }
        // "an instrument (piano, guitar or violin)": one of those values.
        if !np.is_plural() && np.posts.iter().any(|p| matches!(p, Post::Choices(_))) {
            return Role::Attr;
        }
        // "optionally anonymous": a yes/no.
        if np.words.len() == 1 && np.det.is_none() && is_adjective(&np.words[0]) {
            return Role::Attr;
        }
        if self.m.app.contains(&head) && !np.is_plural() {
            return Role::App;
        }
        if is_time_word(np.head()) || lx.units.contains(np.head()) {
            return Role::Attr;
        }
        // "a time window", "a date range", "a time slot".
        if matches!(
            head.as_str(),
            "window" | "slot" | "period" | "range" | "frame" | "timeframe"
        ) && (mods.iter().any(|m| is_time_word(m)) || head == "timeframe" || head == "period")
        {
            return Role::Attr;
        }
        let compound = if mods.is_empty() {
            head.clone()
        } else {
            format!("{}_{head}", mods.join("_"))
        };
        if lx.nouns.contains_key(&compound) && mods.len() == 1 && !lx.attrs.contains_key(&compound)
        {
            return Role::Entity(compound);
        }
        let entity_word = lx.nouns.contains_key(&head);
        let attr_word = is_attr_word(&head) || lx.attrs.contains_key(&compound);
        let known = self.m.has(&head) || self.m.mentioned.contains(&head);
        if self.m.attr_words.contains(&head) && !self.m.has(&head) && ctx != Ctx::Attr {
            return Role::Attr;
        }
        let bare_plural = np.is_plural() && np.det.is_none() && np.count.is_none();
        let article = matches!(
            np.det.as_deref(),
            Some("a" | "an" | "its" | "their" | "the" | "one" | "his" | "her")
        );
        if lx.mass.contains(&head) && !entity_word && !np.is_plural() && ctx == Ctx::Thing {
            return Role::Skip(format!(
                "“{}” names the domain, not a thing kept",
                np.head()
            ));
        }
        let singular_with_article = article && !np.is_plural();
        match ctx {
            // After `with` or `has`: attributes, unless the words name
            // rows ("hotels have rooms", "with tags").
            Ctx::Attr => {
                // "a date, a duration and notes": the word itself is an
                // attribute in the plural.
                if lx.attrs.contains_key(np.head()) && is_plural(np.head()) && !known {
                    return Role::Attr;
                }
                let rows = (bare_plural && (!attr_word || known || entity_word))
                    || ((known || entity_word) && !attr_word && (known || !singular_with_article))
                    || (known && !article);
                if (attr_word && !entity_word) || !rows {
                    Role::Attr
                } else {
                    Role::Entity(head)
                }
            }
            Ctx::Prep => {
                let string_attr = attr_entry(&head).is_none_or(|a| a.kind == "string");
                let rows_word = entity_word || known;
                if bare_plural && !lx.units.contains(np.head()) && (rows_word || string_attr) {
                    Role::Entity(head)
                } else if !rows_word && !np.is_plural() && kind_by_ending(&head) != Kind::Person {
                    Role::Attr
                } else if entity_word
                    && !known
                    && !np.is_plural()
                    && !mods.is_empty()
                    && matches!(np.det.as_deref(), Some("a" | "an"))
                    && !lx.nouns.contains_key(&compound)
                {
                    // "from a source language into a target language"
                    Role::Attr
                } else if attr_word && !rows_word {
                    Role::Attr
                } else {
                    Role::Entity(head)
                }
            }
            // A bare plural names rows ("with languages, lessons and
            // words", "teach subjects") unless it counts something ("hours").
            Ctx::Thing
                if bare_plural
                    && !lx.units.contains(np.head())
                    && (entity_word || !attr_word)
                    && !is_time_word(np.head()) =>
            {
                Role::Entity(head)
            }
            Ctx::Thing => {
                if attr_word && !known && (!entity_word || singular_with_article) {
                    Role::Attr
                } else {
                    Role::Entity(head)
                }
            }
        }
    }

    /// The entity a phrase names, added if new; the key it goes by.
    fn entity(&mut self, np: &Np, why: &str) -> Option<String> {
        let lx = lexicon();
        let (mut mods, head) = Self::words(np);
        let mut owned = false;
        let mut owner_of = None;
        if let Some(p) = &np.possessor {
            if USER_WORDS.contains(&singular(p).as_str()) {
                owned = true;
            } else {
                // "clients' pianos": the pianos belong to clients.
                let who = Np {
                    words: vec![p.clone()],
                    ..Np::default()
                };
                owner_of = self.entity(&who, "whose");
            }
        }
        if mods
            .first()
            .is_some_and(|m| USER_WORDS.contains(&singular(m).as_str()))
        {
            mods.remove(0);
            owned = true;
            self.m.auth = true;
        }
        // Modifiers that name the app are not part of the name, nor are
        // hyphenated ones ("multiple-choice questions").
        mods.retain(|m| (!self.m.app.contains(m) || m == &head) && !m.contains('_'));
        let head_kind = lx.noun(&head).map(|n| n.kind);
        // "menu dishes", "hotel rooms": the modifier says where they are.
        if let Some(m) = mods.last().map(|m| singular(m))
            && !lx.nouns.contains_key(&format!("{}_{head}", mods.join("_")))
            && head_kind.is_some()
            && lx
                .noun(&m)
                .is_some_and(|n| matches!(n.kind, Kind::Group | Kind::Org | Kind::Place))
            && !self.m.has(&format!("{m}_{head}"))
        {
            if self.m.has(&m) || self.m.mentioned.contains(&m) {
                let parent = self.m.resolve(&m);
                self.m.imply(&head, &parent, quote(np));
            }
            mods.clear();
        }
        // "electricity meter readings": a meter reading.
        if mods.len() > 1 {
            let full = format!("{}_{head}", mods.join("_"));
            if !lx.nouns.contains_key(&full) {
                mods.drain(..mods.len() - 1);
            }
        }
        // "vaccination records", "expense entries": the vaccinations.
        if matches!(head.as_str(), "record" | "entry" | "log")
            && let Some(m) = mods.last()
            && lx
                .noun(m)
                .map_or_else(|| kind_by_ending(m), |n| n.kind)
                .is_occurrence()
        {
            let key = self.m.add(m, format!("{why} {}", quote(np)));
            if owned {
                self.own(&key);
            }
            return Some(key);
        }
        let compound = if mods.is_empty() {
            head.clone()
        } else {
            format!("{}_{head}", mods.join("_"))
        };
        let key = if mods.is_empty() || lx.nouns.contains_key(&compound) {
            compound.clone()
        } else {
            let m = singular(mods.last().unwrap());
            let m_is_entity = lx.nouns.contains_key(&m) && !lx.attrs.contains_key(&m)
                || self.m.has(&m)
                || self.m.mentioned.contains(&m);
            let m_kind = lx.noun(&m).map_or_else(|| kind_by_ending(&m), |n| n.kind);
            // "ticket types": tickets point at their type.
            if matches!(
                head.as_str(),
                "type" | "kind" | "tier" | "level" | "plan" | "class" | "category"
            ) && m_is_entity
            {
                let key = self.m.add(&compound, format!("{why} {}", quote(np)));
                if self.m.has(&m) || self.m.mentioned.contains(&m) {
                    self.m.imply(&m, &key, quote(np));
                }
                return Some(key);
            }
            if m_is_entity && !m_kind.is_occurrence() && head_kind.is_some_and(Kind::is_occurrence)
            {
                // "customer orders", "lesson completion": the order of a
                // customer, the completion of a lesson.
                let parent = self.m.add(&m, format!("named in {}", quote(np)));
                let child = self.m.add(&head, format!("{why} {}", quote(np)));
                self.m.imply(&child, &parent, quote(np).to_string());
                if owned {
                    self.own(&child);
                }
                return Some(child);
            }
            if self.m.has(&head) && !self.m.has(&compound) {
                head.clone()
            } else {
                if m_is_entity {
                    let parent = self.m.resolve(&m);
                    if self.m.has(&parent) {
                        self.m.imply(&compound, &parent, quote(np));
                    }
                }
                compound
            }
        };
        if key.is_empty() || key.len() > 40 {
            return None;
        }
        let key = self.m.add(&key, format!("{why} {}", quote(np)));
        if owned {
            self.own(&key);
        }
        if let Some(o) = owner_of {
            self.m
                .relate(&key, &o, true, format!("{}’ {}", o, np.text()));
        }
        Some(key)
    }

    fn own(&mut self, key: &str) {
        self.m.auth = true;
        if let Some(i) = self.m.find(key)
            && !self.m.ents[i].owned
        {
            self.m.ents[i].owned = true;
            self.m.notes.push(format!(
                "{}: each row belongs to the user who made it",
                pascal(key)
            ));
        }
    }

    /// First pass: nouns that stand where only things can.
    fn mention(&mut self) {
        let mut seen = Vec::new();
        let mut visit = |np: &Np| {
            let (_, head) = Self::words(np);
            // "…, each service having a price": a thing of its own.
            let each = matches!(np.det.as_deref(), Some("each" | "every"));
            if (np.is_plural() && !is_attr_word(&head)) || (each && !is_time_word(np.head())) {
                let (mods, _) = Self::words(np);
                if !mods.is_empty() {
                    seen.push(format!("{}_{head}", mods.join("_")));
                }
                seen.push(head);
            }
        };
        fn walk(np: &Np, f: &mut dyn FnMut(&Np)) {
            f(np);
            for p in &np.posts {
                match p {
                    Post::Prep(_, nps) | Post::With(nps) => nps.iter().for_each(|n| walk(n, f)),
                    Post::Clause(vp) => {
                        vp.objects.iter().for_each(|n| walk(n, f));
                        vp.preps
                            .iter()
                            .flat_map(|(_, n)| n)
                            .for_each(|n| walk(n, f));
                    }
                    _ => {}
                }
            }
        }
        if let Some(h) = &self.parse.head {
            for p in &h.posts {
                if let Post::With(nps) | Post::Prep(_, nps) = p {
                    nps.iter().for_each(|n| walk(n, &mut visit));
                }
            }
        }
        for l in &self.parse.lists {
            l.iter().for_each(|n| walk(n, &mut visit));
        }
        for c in &self.parse.clauses {
            c.subject.iter().for_each(|n| walk(n, &mut visit));
            for vp in &c.vps {
                vp.objects.iter().for_each(|n| walk(n, &mut visit));
                vp.preps
                    .iter()
                    .flat_map(|(_, n)| n)
                    .for_each(|n| walk(n, &mut visit));
            }
        }
        self.m.mentioned = seen;
    }

    /// Fields from an attribute phrase, for `owner`.
    fn attribute(&mut self, owner: &str, np: &Np, shared_head: Option<&Np>) {
        // "an answer to each question": a row of its own, about the question;
        // "a seat at one table" is a reference to the table.
        if self.promotes(np) {
            let mut bare = np.clone();
            bare.det = None;
            if let Some(key) = self.entity(&bare, "about another row:") {
                self.m.relate(
                    &key,
                    owner,
                    true,
                    format!("{} with {}", pascal(owner), quote(np)),
                );
                self.posts(&key, np);
            }
            return;
        }
        let (mods, head) = Self::words(np);
        let mut words: Vec<String> = np
            .adjectives
            .iter()
            .filter(|a| {
                !matches!(
                    a.as_str(),
                    "a" | "an"
                        | "the"
                        | "each"
                        | "every"
                        | "their"
                        | "its"
                        | "own"
                        | "new"
                        | "multiple"
                        | "several"
                        | "various"
                        | "different"
                        | "optional"
                        | "required"
                        | "main"
                        | "current"
                        | "actual"
                        | "unique"
                        | "distinct"
                )
            })
            .map(|a| ident(a))
            .collect();
        words.extend(mods.iter().cloned());
        // "hours", "minutes", "calories": counted in the plural.
        let raw_head = np.head().to_string();
        let head_word =
            if lexicon().attrs.contains_key(&raw_head) || lexicon().units.contains(&raw_head) {
                ident(&raw_head)
            } else {
                head.clone()
            };
        // "check-in and check-out dates": the first takes the last's head.
        if let Some(shared) = shared_head {
            words.push(head_word.clone());
            let shared_head = singular(shared.head());
            words.push(ident(&shared_head));
        } else {
            words.push(head_word.clone());
        }
        let quoted = quote(np);
        // "a time window", "a time slot", "a period": when it starts and ends.
        if matches!(head.as_str(), "window" | "slot" | "period" | "timeframe")
            || (head == "range" && words.iter().any(|w| w == "time" || w == "date"))
        {
            let date = words.iter().any(|w| w == "date");
            let (a, b, k) = if date {
                ("start_date", "end_date", "date")
            } else {
                ("starts_at", "ends_at", "datetime")
            };
            self.m.field(owner, Field::new(a, k, true), quoted.clone());
            self.m.field(owner, Field::new(b, k, true), quoted);
            return;
        }
        // "a salary range": its lowest and highest.
        if head == "range" && words.len() >= 2 {
            let base = words[..words.len() - 1].join("_");
            let t = typed_field(&base);
            for end in ["min", "max"] {
                let mut f = t.clone();
                f.name = usable_name(owner, &format!("{base}_{end}"));
                self.m.field(owner, f, quoted.clone());
            }
            return;
        }
        // "per day": the date of the row.
        if is_time_word(&raw_head)
            && words.len() == 1
            && (head == "day" || head == "date" || !lexicon().attrs.contains_key(&raw_head))
        {
            let f = match head.as_str() {
                "hour" | "minute" | "time" => Field::new("time", "datetime", true),
                "season" | "semester" | "term" | "quarter" => Field::new(&head, "string", false),
                "week" | "month" | "year" => Field::new(&head, "date", true),
                _ => Field::new("date", "date", true),
            };
            self.m.field(owner, f, quoted);
            return;
        }
        let mut name = words.join("_");
        let mut f = typed_field(&name);
        // "an organic flag", "optionally anonymous": yes or no.
        if matches!(head.as_str(), "flag" | "indicator" | "toggle") && words.len() >= 2 {
            name = words[..words.len() - 1].join("_");
            f = Field::new(&name, "boolean", false);
        } else if words.len() == 1 && np.det.is_none() && is_adjective(&np.words[0]) {
            f = Field::new(&name, "boolean", false);
        }
        // "whether the queen was seen"
        if np.flag {
            name = np
                .words
                .iter()
                .map(|w| ident(w))
                .collect::<Vec<_>>()
                .join("_");
            f = Field::new(&name, "boolean", false);
        }
        // "a number of bedrooms": how many.
        if np.counted {
            // "the number of birds seen": bird_count.
            let words: Vec<String> = np
                .adjectives
                .iter()
                .chain(np.words.iter())
                .cloned()
                .collect();
            let n = words.len();
            name = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i + 1 == n {
                        ident(&singular(w))
                    } else {
                        ident(w)
                    }
                })
                .collect::<Vec<_>>()
                .join("_");
            name.push_str("_count");
            f = Field::new(&name, "integer", false).range(Some(0.0), None);
        }
        self.m.attr_words.push(head.clone());
        // "a price per word": money per unit, not a reference.
        let mut per_unit = false;
        if matches!(f.kind.as_str(), "decimal" | "number")
            && let Some(Post::Prep(_, objs)) = np
                .posts
                .iter()
                .find(|p| matches!(p, Post::Prep(pp, _) if pp == "per"))
            && objs.len() == 1
            && !objs[0].is_plural()
        {
            name = format!("{name}_per_{}", ident(&singular(objs[0].head())));
            per_unit = true;
        }
        for p in &np.posts {
            match p {
                Post::Unit(u) => {
                    let unit = if u == "sqm" || u == "m3" {
                        u.as_str()
                    } else {
                        unit_suffix(u)
                    };
                    if matches!(f.kind.as_str(), "enum" | "date" | "datetime") {
                        // "finish times in seconds": a length of time.
                        f.kind = if f.kind == "enum" {
                            "number"
                        } else {
                            "integer"
                        }
                        .into();
                        f.choices.clear();
                        f.min = Some(0.0);
                    }
                    if !name.ends_with(unit) {
                        name = format!("{name}_{unit}");
                    }
                    if f.kind == "string" {
                        f.kind = "integer".into();
                        f.min = Some(0.0);
                    }
                    if matches!(unit, "minutes" | "seconds" | "hours" | "days")
                        && f.kind == "number"
                        && unit != "hours"
                    {
                        f.kind = "integer".into();
                    }
                }
                Post::Choices(c) => {
                    let choices: Vec<String> = c
                        .iter()
                        .filter_map(|x| nexus_spec::choice_value(x))
                        .collect();
                    if choices.len() >= 2 {
                        f.kind = "enum".into();
                        f.choices = choices;
                        f.min = None;
                        f.max = None;
                    }
                }
                Post::Range(lo, hi) => {
                    if !f.is_numeric() {
                        f.kind = "integer".into();
                    }
                    f.choices.clear();
                    f.min = *lo;
                    f.max = *hi;
                    if f.kind == "integer"
                        && (lo.is_some_and(|v| v.fract() != 0.0)
                            || hi.is_some_and(|v| v.fract() != 0.0))
                    {
                        f.kind = "number".into();
                    }
                }
                _ => {}
            }
        }
        if f.kind == "enum" && f.choices.is_empty() {
            let states = lexicon().states(owner);
            if states.len() >= 2 {
                f.choices = states;
            } else {
                f.kind = "string".into();
            }
        }
        // "a unique SKU"
        if np
            .adjectives
            .iter()
            .any(|a| a == "unique" || a == "distinct")
        {
            f.unique = true;
        }
        f.name = usable_name(owner, &name);
        // "a score" of a match between two teams: one for each side.
        let sides: Vec<String> = self
            .m
            .rels
            .iter()
            .filter(|r| r.child == owner)
            .filter_map(|r| r.field.as_ref())
            .filter_map(|fname| fname.split_once('_').map(|(side, _)| side.to_string()))
            .filter(|s| s == "home" || s == "away")
            .collect();
        if f.name == "score" && sides.len() == 2 {
            for side in sides {
                let mut g = f.clone();
                g.name = format!("{side}_score");
                g.min = Some(0.0);
                g.kind = "integer".into();
                self.m.field(owner, g, quoted.clone());
            }
        } else {
            self.m.field(owner, f, quoted.clone());
        }
        // "hours per project", "hours worked per project": a reference.
        for p in &np.posts {
            match p {
                Post::Prep(prep, _) if per_unit && prep == "per" => {}
                Post::Prep(prep, objs) => {
                    for o in objs {
                        self.prep_object(owner, prep, o, objs.len());
                    }
                }
                Post::Clause(vp) if vp.objects.is_empty() => {
                    for (prep, objs) in &vp.preps {
                        for o in objs {
                            self.prep_object(owner, prep, o, objs.len());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// `owner <prep> o`: a reference, or a field when `o` is an attribute.
    fn prep_object(&mut self, owner: &str, prep: &str, o: &Np, count: usize) {
        if prep == "with" {
            // "stored with a timestamp and a referrer"
            self.with_list(owner, std::slice::from_ref(o));
            return;
        }
        let o = &self.resolve_pronoun(o);
        // "fish of various species", "books of different genres": what
        // kind each one is.
        if prep == "of"
            && o.adjectives
                .iter()
                .any(|a| matches!(a.as_str(), "various" | "different" | "many" | "all"))
            && o.posts.is_empty()
        {
            let name = ident(&singular(o.head()));
            self.m.field(
                owner,
                Field::new(&usable_name(owner, &name), "string", false),
                format!("“… of {}”", o.text()),
            );
            return;
        }
        // "between a white player and a black player": two references to
        // players, named for their sides.
        if prep == "between" && count == 2 && o.words.len() + o.adjectives.len() >= 2 {
            let side = o
                .adjectives
                .first()
                .or(o.words.first())
                .map(|w| ident(w))
                .unwrap_or_default();
            let mut head_only = o.clone();
            head_only.words = vec![o.head().to_string()];
            head_only.adjectives.clear();
            if let Some(parent) = self.entity(&head_only, "between") {
                self.m.relate_as(
                    owner,
                    &parent,
                    Some(format!("{side}_{parent}_id")),
                    true,
                    format!("“… between … {}”", o.text()),
                );
            }
            return;
        }
        // "pick skills from a shared list": the skills are the list.
        if matches!(
            o.head(),
            "list" | "catalog" | "catalogue" | "pool" | "set" | "database" | "library"
        ) && !o.is_plural()
            && matches!(o.det.as_deref(), Some("a" | "an" | "the"))
        {
            return;
        }
        // "rent courts by the hour": how it is charged, not a field.
        if prep == "by" && is_time_word(o.head()) {
            return;
        }
        let role = match self.role(o, Ctx::Prep) {
            // "ranked by position", "tracked by species": by what, unless
            // by someone.
            Role::Entity(k)
                if prep == "by"
                    && !self.m.has(&k)
                    && !lexicon()
                        .noun(&k)
                        .map_or_else(|| kind_by_ending(&k), |n| n.kind)
                        .is_agent() =>
            {
                Role::Attr
            }
            r => r,
        };
        match role {
            Role::Entity(_) => {
                let Some(parent) = self.entity(o, prep) else {
                    return;
                };
                let quoted = format!("“… {prep} {}”", o.text());
                self.m.last_objects = vec![parent.clone()];
                if matches!(o.det.as_deref(), Some("their" | "his" | "her")) {
                    let owners: Vec<String> = self
                        .subject_now
                        .iter()
                        .filter_map(|(r, _)| match r {
                            Role::Entity(k) => Some(k.clone()),
                            _ => None,
                        })
                        .collect();
                    for s in owners {
                        self.m
                            .relate(&parent, &s, true, format!("“… their {}”", o.text()));
                    }
                }
                let many = matches!(o.det.as_deref(), Some("several" | "multiple" | "many"));
                let container = matches!(
                    self.m.kind_of(owner),
                    Kind::Group | Kind::Org | Kind::Collection | Kind::Place
                );
                if many {
                    // "assigned to several members": many-to-many.
                    let through = format!("{owner}_{parent}");
                    self.m.link(owner, &parent, &through, quoted);
                } else if prep == "between" && (o.count == Some(2.0) || count == 1 && o.is_plural())
                {
                    let (a, b) = sides(&parent);
                    for side in [a, b] {
                        self.m.relate_as(
                            owner,
                            &parent,
                            Some(format!("{side}_{parent}_id")),
                            true,
                            quoted.clone(),
                        );
                    }
                } else if prep == "of"
                    && container
                    && !self.m.kind_of(&parent).is_occurrence()
                    && !matches!(self.m.kind_of(&parent), Kind::Group | Kind::Org)
                {
                    // "teams of participants", "decks of cards": they hold
                    // them.
                    self.m.relate(&parent, owner, true, quoted);
                } else if let Some(role) = self.role_prefix {
                    self.m.relate_as(
                        owner,
                        &parent,
                        Some(format!("{role}_{parent}_id")),
                        true,
                        quoted,
                    );
                } else {
                    let required = matches!(
                        prep,
                        "in" | "on"
                            | "of"
                            | "to"
                            | "against"
                            | "per"
                            | "for"
                            | "at"
                            | "inside"
                            | "within"
                            | "under"
                    );
                    self.m.relate(owner, &parent, required, quoted);
                }
                // "sightings of species at locations", "per project per
                // day": later prepositions are the owner's.
                let mut own = o.clone();
                let mut outer = Vec::new();
                let agent = self.m.kind_of(&parent).is_agent();
                own.posts.retain(|p| match p {
                    // "commissions from clients, each with a budget": the
                    // commissions'.
                    Post::EachWith(_) if agent => {
                        outer.push(p.clone());
                        false
                    }
                    // "sightings of species at locations", "showtimes of
                    // films on screens": where and when are the owner's;
                    // "dishes from restaurants" stays with the dishes.
                                        Post::Prep(pp, objs)
                        if (prep == "of" && matches!(pp.as_str(), "at" | "on" | "in" | "during" | "within"))
                            || objs.iter().all(|x| is_time_word(x.head()))
                            // "for each musician at each rehearsal"
                            || objs.iter().all(|x| matches!(x.det.as_deref(), Some("each" | "every"))) =>
                    {
                        outer.push(p.clone());
                        false
                    }
                    _ => true,
                });
                self.posts(&parent, &own);
                for p in outer {
                    match p {
                        Post::Prep(pp, objs) => {
                            for x in &objs {
                                self.prep_object(owner, &pp, x, objs.len());
                            }
                        }
                        Post::EachWith(items) => self.with_list(owner, &items),
                        _ => {}
                    }
                }
            }
            Role::Attr => self.attribute(owner, o, None),
            Role::User => {
                if matches!(prep, "by" | "for" | "of" | "from") {
                    self.own(owner);
                }
            }
            _ => {}
        }
    }

    /// `them` / `it` as what the last verb acted on.
    fn resolve_pronoun(&self, np: &Np) -> Np {
        if np.words.first().map(String::as_str) == Some(OTHERS) {
            return match self.subject_now.first() {
                Some((_, subject)) => Np {
                    det: Some("other".into()),
                    ..subject.clone()
                },
                None => np.clone(),
            };
        }
        if np.words.first().map(String::as_str) != Some(PRONOUN) {
            return np.clone();
        }
        match self.m.last_objects.first() {
            Some(k) => Np {
                words: k.split('_').map(str::to_string).collect(),
                det: Some("the".into()),
                ..Np::default()
            },
            None => np.clone(),
        }
    }

    /// What follows a phrase naming `owner`.
    fn posts(&mut self, owner: &str, np: &Np) {
        for p in &np.posts {
            match p {
                Post::With(items) | Post::EachWith(items) => self.with_list(owner, items),
                Post::Prep(prep, objs) => {
                    for o in objs {
                        self.prep_object(owner, prep, o, objs.len());
                    }
                }
                // "appointments where a client books a service with a
                // stylist": the appointment is what the booking makes.
                Post::Clause(vp) if vp.describes_owner => {
                    let mut v = (**vp).clone();
                    let who = v.subject.take();
                    let subject = match who.as_deref() {
                        Some(w) => match self.role(w, Ctx::Thing) {
                            Role::Entity(_) => match self.entity(w, "does something:") {
                                Some(k) => vec![(Role::Entity(k), w.clone())],
                                None => Vec::new(),
                            },
                            Role::User => vec![(Role::User, w.clone())],
                            _ => Vec::new(),
                        },
                        None => Vec::new(),
                    };
                    if let Some(verb) = v.verbs.first_mut() {
                        verb.noun = Some(owner.to_string());
                    }
                    let mut e = Some(owner.to_string());
                    self.vp(&subject, &v, &mut e);
                }
                Post::Clause(vp) if vp.object_is_owner => {
                    let mut bare = np.clone();
                    bare.posts.clear();
                    let mut v = vp.clone();
                    let who = v.subject.take();
                    // "... that teams register for": teams register for them.
                    let goes_to = v.preps.iter().position(|(_, objs)| objs.is_empty());
                    match goes_to {
                        Some(i) => v.preps[i].1 = vec![bare],
                        None if v.objects.is_empty() => v.objects = vec![bare],
                        None => v.preps.push(("for".into(), vec![bare])),
                    }
                    let they = who.as_ref().is_some_and(|w| w.words == ["they"]);
                    // "the albums they are kept in": they are what the list
                    // is about.
                    let first_named = self
                        .m
                        .order
                        .iter()
                        .find(|k| **k != owner && !self.m.kind_of(k).is_agent())
                        .cloned();
                    let me = who
                        .as_ref()
                        .is_some_and(|w| matches!(w.words[0].as_str(), "i" | "we" | "you"));
                    let subject = match who {
                        _ if they && !self.subject_now.is_empty() => self.subject_now.clone(),
                        _ if they && first_named.is_some() => {
                            let k = first_named.unwrap_or_default();
                            vec![(
                                Role::Entity(k.clone()),
                                Np {
                                    words: vec![k],
                                    ..Np::default()
                                },
                            )]
                        }
                        _ if me => vec![(
                            Role::User,
                            Np {
                                words: vec!["user".into()],
                                ..Np::default()
                            },
                        )],
                        Some(w) => match self.role(&w, Ctx::Thing) {
                            Role::Entity(_) => match self.entity(&w, "does something:") {
                                Some(k) => vec![(Role::Entity(k), *w)],
                                None => continue,
                            },
                            Role::User => vec![(Role::User, *w)],
                            _ => continue,
                        },
                        None => vec![(
                            Role::User,
                            Np {
                                words: vec!["user".into()],
                                ..Np::default()
                            },
                        )],
                    };
                    self.vp(&subject, &v, &mut None);
                }
                Post::Clause(vp) => {
                    let subject = vec![(Role::Entity(owner.to_string()), np.clone())];
                    self.vp(&subject, vp, &mut None);
                }
                Post::Flag(word) => {
                    let f = Field::new(&usable_name(owner, &ident(word)), "boolean", false);
                    self.m.field(owner, f, format!("“{} … {word}”", np.text()));
                }
                Post::States(items) => {
                    let choices: Vec<String> = items
                        .iter()
                        .filter_map(|c| nexus_spec::choice_value(c))
                        .collect();
                    if choices.len() >= 2 {
                        let f = Field {
                            choices,
                            ..Field::new("status", "enum", true)
                        };
                        self.m
                            .field(owner, f, format!("“{} is {}”", np.text(), items.join(", ")));
                    }
                }
                // "a grade from 0 to 100": its value.
                Post::Range(lo, hi) => {
                    let name = match owner {
                        "rating" | "review" => "rating",
                        "grade" | "score" | "mark" | "evaluation" => "score",
                        _ => "value",
                    };
                    let mut f = Field::new(name, "integer", true).range(*lo, *hi);
                    if lo.is_some_and(|v| v.fract() != 0.0) || hi.is_some_and(|v| v.fract() != 0.0)
                    {
                        f.kind = "number".into();
                    }
                    self.m.field(owner, f, quote(np));
                }
                Post::Appos(_) | Post::Choices(_) | Post::Unit(_) => {}
            }
        }
    }

    /// `a reporter …, both developers`: a reference to a developer named
    /// for its role. Whether `it` was one.
    fn appositive(&mut self, owner: &str, it: &Np) -> bool {
        let Some(Post::Appos(what)) = it.posts.iter().find(|p| matches!(p, Post::Appos(_))) else {
            return false;
        };
        let Some(target) = self.entity(what, "named as") else {
            return false;
        };
        let role = ident(&singular(it.head()));
        self.m.relate_as(
            owner,
            &target,
            Some(format!("{role}_id")),
            false,
            format!("“{} …, both {}”", it.text(), what.text()),
        );
        true
    }

    /// An attribute phrase that is a row of its own: something made about
    /// another row ("an answer to each question", "a score for each quiz").
    fn promotes(&self, np: &Np) -> bool {
        let names_entity = np.posts.iter().any(|p| match p {
            Post::Prep(prep, objs) => {
                prep != "in"
                    && objs
                        .iter()
                        .any(|o| matches!(self.role(o, Ctx::Prep), Role::Entity(_)))
            }
            _ => false,
        });
        let key = ident(&singular(np.head()));
        names_entity
            && !is_time_word(np.head())
            && lexicon().noun(&key).is_some_and(|n| {
                matches!(
                    n.kind,
                    Kind::Response | Kind::Content | Kind::Event | Kind::Join
                )
            })
    }

    /// `owner with a, b and c`.
    fn with_list(&mut self, owner: &str, items: &[Np]) {
        let last = items.last();
        for (i, it) in items.iter().enumerate() {
            // "a reporter and an assignee, both developers": references.
            if self.appositive(owner, it) {
                continue;
            }
            match self.role(it, Ctx::Attr) {
                Role::Attr => {
                    // "check-in and check-out dates"
                    let shared = last.filter(|l| {
                        i + 1 < items.len()
                            && it.words.len() == 1
                            && it.det.is_none()
                            && !is_attr_word(it.head())
                            && l.words.len() >= 2
                            && l.is_plural()
                            && is_attr_word(l.head())
                    });
                    self.attribute(owner, it, shared);
                }
                Role::Entity(_) => {
                    let Some(key) = self.entity(it, "with") else {
                        continue;
                    };
                    let quoted = format!("“… with {}”", it.text());
                    let owner_kind = self.m.kind_of(owner);
                    let kind = self.m.kind_of(&key);
                    if TAG_WORDS.contains(&key.as_str()) {
                        let through = format!("{owner}_{key}");
                        self.m.link(owner, &key, &through, quoted);
                    } else if owner_kind.is_occurrence()
                        && (kind.is_agent() || !kind.is_occurrence())
                    {
                        self.m.relate(owner, &key, false, quoted);
                    } else {
                        self.m.relate(&key, owner, true, quoted);
                    }
                    // "appointments with doctors for a date": the date is
                    // the appointment's.
                    let mut own = it.clone();
                    let mut outer = Vec::new();
                    let owner_acts = self.m.kind_of(owner).is_occurrence();
                    own.posts.retain(|p| match p {
                        Post::Prep(pp, objs)
                            if (owner_acts && pp != "of")
                                || objs.iter().all(|x| self.role(x, Ctx::Prep) == Role::Attr) =>
                        {
                            outer.push((pp.clone(), objs.clone()));
                            false
                        }
                        _ => true,
                    });
                    self.posts(&key, &own);
                    for (pp, objs) in outer {
                        for x in &objs {
                            self.prep_object(owner, &pp, x, objs.len());
                        }
                    }
                }
                Role::User => {
                    self.m.auth = true;
                }
                _ => {}
            }
        }
    }

    /// A list of what the app keeps.
    fn list(&mut self, items: &[Np], why: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for it in items {
            match self.role(it, Ctx::Thing) {
                Role::Entity(_) => {
                    if let Some(k) = self.entity(it, why) {
                        self.posts(&k, it);
                        keys.push(k);
                    }
                }
                Role::User => {
                    self.m.auth = true;
                    self.m
                        .notes
                        .push("users: sign-up and login (auth), not an entity".into());
                }
                Role::Attr => self.m.loose.push((it.clone(), keys.clone())),
                Role::Skip(why) => self.m.notes.push(format!("skipped {}: {why}", quote(it))),
                Role::App => {}
            }
        }
        keys
    }

    fn clause(&mut self, c: &Clause, last_subject: &mut Vec<(Role, Np)>) {
        let mut subject: Vec<(Role, Np)> = Vec::new();
        for np in &c.subject {
            let role = self.role(np, Ctx::Thing);
            let role = match role {
                Role::Entity(_) => match self.entity(np, "does something:") {
                    Some(k) => {
                        // "artworks by artists belong to collections"
                        self.posts(&k, np);
                        Role::Entity(k)
                    }
                    None => continue,
                },
                Role::User => {
                    self.m.auth = true;
                    Role::User
                }
                r => r,
            };
            subject.push((role, np.clone()));
        }
        if subject.is_empty() && c.subject.is_empty() {
            subject = last_subject.clone();
        }
        // "their finish times are recorded in seconds": fields of what was
        // last made.
        if !subject.is_empty()
            && subject.iter().all(|(r, _)| *r == Role::Attr)
            && let Some(last) = self.m.made.last().map(|(k, ..)| k.clone())
        {
            for (_, np) in &subject {
                let mut a = np.clone();
                for vp in &c.vps {
                    for (_, objs) in &vp.preps {
                        for o in objs {
                            if lexicon().units.contains(o.head()) {
                                a.posts.push(Post::Unit(o.head().to_string()));
                            }
                        }
                    }
                }
                self.attribute(&last, &a, None);
            }
            return;
        }
        let made_before = self.m.made.len();
        self.subject_now = subject.clone();
        let mut event = None;
        for vp in &c.vps {
            self.vp(&subject, vp, &mut event);
            self.remember_objects(vp);
        }
        // "after a session the student leaves a review": the review is of
        // the session.
        if let Some(ctx) = &c.context
            && is_time_word(ctx.head())
        {
            let made: Vec<String> = self.m.made[made_before..]
                .iter()
                .map(|(x, ..)| x.clone())
                .collect();
            for x in made {
                self.attribute(&x, ctx, None);
            }
        } else if let Some(ctx) = &c.context
            && let Role::Entity(_) = self.role(ctx, Ctx::Thing)
            && let Some(k) = self.entity(ctx, "after")
        {
            let made: Vec<String> = self.m.made[made_before..]
                .iter()
                .map(|(x, ..)| x.clone())
                .collect();
            for x in made {
                self.m
                    .relate(&x, &k, true, format!("“after {} …”", ctx.text()));
            }
        }
        *last_subject = subject;
    }

    /// The row an action makes: `reserve` → Reservation.
    fn event_of(&mut self, verb: &crate::lexicon::Verb, why: String) -> String {
        // "when I water them": a watering.
        let noun = verb.noun.clone().unwrap_or_else(|| gerund(&verb.lemma));
        let mut key = self.m.resolve(&noun);
        // "housekeepers clean rooms, and each cleaning task has ...": the
        // task is the cleaning.
        if !self.m.has(&key) {
            let prefix = format!("{noun}_");
            if let Some(k) = self
                .m
                .ents
                .iter()
                .map(|e| &e.key)
                .chain(self.m.mentioned.iter())
                .find(|k| k.starts_with(&prefix))
            {
                key = k.clone();
            }
        }
        self.m.add(&key, why)
    }

    fn vp(&mut self, subject: &[(Role, Np)], vp: &Vp, event: &mut Option<String>) {
        let mut vp = vp.clone();
        for o in &mut vp.objects {
            *o = self.resolve_pronoun(o);
        }
        for (_, objs) in &mut vp.preps {
            for o in objs.iter_mut() {
                *o = self.resolve_pronoun(o);
            }
        }
        // A verb read from its place: "students RSVP to events" makes an
        // RSVP; "lots come from farms" places the lots.
        if let Some(v) = vp
            .verbs
            .first()
            .filter(|v| v.guessed && v.class == VerbClass::Light)
        {
            let to_something = vp
                .preps
                .iter()
                .any(|(p, objs)| matches!(p.as_str(), "to" | "for" | "on") && !objs.is_empty());
            let placed = vp.preps.iter().any(|(p, _)| {
                matches!(
                    p.as_str(),
                    "from" | "at" | "in" | "into" | "inside" | "within"
                )
            });
            if to_something {
                vp.verbs[0] = crate::lexicon::Verb {
                    class: VerbClass::Act,
                    noun: Some(ident(&v.lemma)),
                    ..v.clone()
                };
            } else if !vp.objects.is_empty()
                && vp
                    .preps
                    .iter()
                    .any(|(p, objs)| p == "with" && !objs.is_empty())
            {
                // "badges that scouts earn with an earned date"
                vp.verbs[0] = crate::lexicon::Verb {
                    class: VerbClass::Act,
                    noun: Some(format!("{}ing", ident(&v.lemma).trim_end_matches('e'))),
                    ..v.clone()
                };
            } else if placed && vp.objects.is_empty() {
                vp.verbs[0] = crate::lexicon::Verb {
                    class: VerbClass::Locate,
                    ..v.clone()
                };
            }
        }
        let vp = &vp;
        let Some(verb) = vp.verbs.first() else { return };
        // "nurses work shifts in wards": the shifts are theirs.
        if verb.class == VerbClass::Locate && !vp.objects.is_empty() && !vp.passive {
            let v = read_as(vp, verb, VerbClass::Make);
            return self.vp(subject, &v, event);
        }
        // "artists accept commissions from clients": they take them on.
        if verb.class == VerbClass::Judge
            && (vp.preps.iter().any(|(p, _)| p == "from")
                || vp.objects.iter().any(|o| {
                    o.posts
                        .iter()
                        .any(|p| matches!(p, Post::Prep(pp, _) if pp == "from"))
                }))
        {
            let v = read_as(vp, verb, VerbClass::Make);
            return self.vp(subject, &v, event);
        }
        // "recipes are assigned to days of the week as breakfast, lunch or
        // dinner": each assignment is a row.
        if vp.class() == VerbClass::Send
            && vp.passive
            && let Some(noun) = verb.noun.clone()
            && let Some((_, when)) = vp
                .preps
                .iter()
                .find(|(p, objs)| p == "to" && objs.iter().all(|o| is_time_word(o.head())))
        {
            let e = self.m.add(&noun, format!("made when … {} …", verb.lemma));
            for (r, np) in subject {
                if let Role::Entity(s) = r {
                    self.m
                        .relate(&e, s, true, format!("“{} {} …”", np.text(), verb.lemma));
                }
            }
            for w in when {
                let weekday = w.posts.iter().any(|p| matches!(p, Post::Prep(pp, o) if pp == "of" && o.iter().any(|x| x.head() == "week")));
                let f = if weekday {
                    Field::new("day", "enum", true).choices(&[
                        "monday",
                        "tuesday",
                        "wednesday",
                        "thursday",
                        "friday",
                        "saturday",
                        "sunday",
                    ])
                } else {
                    Field::new(&singular(w.head()), "date", true)
                };
                self.m.field(&e, f, format!("“… to {}”", w.text()));
            }
            if !vp.choices.is_empty() {
                let values: Vec<&str> = vp.choices.iter().map(String::as_str).collect();
                let f = Field::new("kind", "enum", true).choices(&values);
                self.m
                    .field(&e, f, format!("“… as {}”", vp.choices.join(", ")));
            }
            *event = Some(e);
            return;
        }
        let prefix = match verb.lemma.as_str() {
            "start" | "begin" | "depart" => Some("start"),
            "end" | "finish" | "arrive" => Some("end"),
            _ => None,
        };
        if prefix.is_some() && vp.objects.is_empty() {
            self.role_prefix = prefix;
            let mut v = read_as(vp, verb, VerbClass::Locate);
            v.verbs[0].lemma = format!("{}_at", verb.lemma);
            self.vp(subject, &v, event);
            self.role_prefix = None;
            return;
        }
        let subj_entities: Vec<String> = subject
            .iter()
            .filter_map(|(r, _)| match r {
                Role::Entity(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        let by_user = subject.iter().any(|(r, _)| *r == Role::User);
        let each = subject
            .iter()
            .any(|(_, np)| matches!(np.det.as_deref(), Some("each" | "every")));
        // "each walk lasting 30 or 60 minutes": a measure of it.
        if let Some((values, unit)) = &vp.measure {
            let base = match verb.lemma.as_str() {
                "weigh" => "weight",
                "cost" => "cost",
                _ => "duration",
            };
            let name = format!("{base}_{}", unit_suffix(unit));
            for s in &subj_entities {
                let mut f = Field::new(&name, "integer", true).range(Some(0.0), None);
                if values.len() >= 2 {
                    f = f.choices(
                        &values
                            .iter()
                            .map(|v| nexus_spec::number_literal(*v))
                            .collect::<Vec<_>>()
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>(),
                    );
                    f.min = None;
                }
                self.m.field(s, f, format!("“… {} {}”", verb.lemma, unit));
            }
            return;
        }
        // "each booking holds one seat", "each meeting discusses one book":
        // one of them for each, so each points at its one.
        if each
            && !matches!(
                vp.class(),
                VerbClass::Act | VerbClass::Link | VerbClass::Judge
            )
        {
            let mut rest = Vec::new();
            for o in &vp.objects {
                let valued = o
                    .posts
                    .iter()
                    .any(|p| matches!(p, Post::Choices(_) | Post::Range(..)));
                let one = (matches!(o.det.as_deref(), Some("one" | "a" | "an" | "single"))
                    || o.count == Some(1.0))
                    && !valued;
                let is_entity = matches!(self.role(o, Ctx::Thing), Role::Entity(_))
                    && (is_entity_noun(o.head()) || self.m.has(&ident(&singular(o.head()))));
                if one && is_entity && !vp.passive {
                    if let Some(k) = self.entity(o, "one each:") {
                        for s in &subj_entities {
                            self.m.relate(
                                s,
                                &k,
                                true,
                                format!("“each … {} {}”", verb.lemma, o.text()),
                            );
                            // "... for one showtime": also the subject's.
                            for p in &o.posts {
                                if let Post::Prep(pp, objs) = p {
                                    for x in objs {
                                        self.prep_object(s, pp, x, objs.len());
                                    }
                                }
                            }
                        }
                    }
                } else {
                    rest.push(o.clone());
                }
            }
            if rest.len() != vp.objects.len() {
                let mut v = vp.clone();
                v.objects = rest;
                if v.objects.is_empty() && v.preps.is_empty() {
                    return;
                }
                return self.vp(subject, &v, event);
            }
        }
        // "owners register their dogs": theirs.
        let their_object = matches!(
            vp.class(),
            VerbClass::Act | VerbClass::Link | VerbClass::Make
        ) && !subj_entities.is_empty()
            && vp
                .objects
                .iter()
                .any(|o| matches!(o.det.as_deref(), Some("their" | "his" | "her")));
        let for_something = vp
            .preps
            .iter()
            .any(|(p, objs)| matches!(p.as_str(), "for" | "in" | "to") && !objs.is_empty());
        if their_object && for_something && verb.noun.is_some() {
            // "... register their dogs for events": the dogs are theirs,
            // and each registration is a row.
            for o in &vp.objects {
                if let Role::Entity(_) = self.role(o, Ctx::Thing)
                    && let Some(k) = self.entity(o, "theirs:")
                {
                    for s in &subj_entities {
                        self.m.relate(
                            &k,
                            s,
                            true,
                            format!("“… {} their {}”", verb.lemma, o.text()),
                        );
                    }
                }
            }
            let mut v = read_as(vp, verb, VerbClass::Act);
            for o in &mut v.objects {
                o.det = Some("the".into());
            }

            return self.vp(subject, &v, event);
        }
        if their_object {
            let v = read_as(vp, verb, VerbClass::Have);
            return self.vp(subject, &v, event);
        }
        // "attendees register for events": with no object, a make verb
        // that names its row acts.
        if vp.class() == VerbClass::Make
            && !vp.passive
            && vp.objects.is_empty()
            && verb.noun.is_some()
            && !vp.preps.is_empty()
        {
            let v = read_as(vp, verb, VerbClass::Act);
            return self.vp(subject, &v, event);
        }
        // "users follow other users": a row per pair, the followed user by
        // id.
        if vp.class() == VerbClass::Link
            && by_user
            && vp
                .objects
                .iter()
                .any(|o| self.role(o, Ctx::Thing) == Role::User)
        {
            let e = self.event_of(verb, "users follow users".to_string());
            self.own(&e);
            let f = Field::new(
                &format!("{}ed_user_id", verb.lemma.trim_end_matches('e')),
                "integer",
                true,
            )
            .range(Some(1.0), None);
            self.m.field(&e, f, format!("“users {} users”", verb.lemma));
        }
        let subj_text = subject
            .iter()
            .map(|(_, np)| np.text())
            .collect::<Vec<_>>()
            .join(" and ");
        let said = |obj: &str| format!("“{subj_text} {} {obj}”", verb.lemma);
        // "tasting notes give a bottle a score": the bottle gets it.
        if !vp.second.is_empty() {
            for o in &vp.objects {
                if let Role::Entity(_) = self.role(o, Ctx::Thing)
                    && let Some(k) = self.entity(o, "given to:")
                {
                    for s in &subj_entities {
                        self.m.relate(s, &k, true, said(&o.text()));
                    }
                }
            }
            let mut v = vp.clone();
            v.objects = std::mem::take(&mut v.second);
            let light = crate::lexicon::Verb {
                class: VerbClass::Have,
                ..verb.clone()
            };
            v.verbs = vec![light];
            return self.vp(subject, &v, event);
        }
        // "... by paying a fee and choosing a distance": after the action,
        // how it was done.
        if !vp.then.is_empty() {
            let mut main = vp.clone();
            let then = std::mem::take(&mut main.then);
            self.vp(subject, &main, event);
            for t in &then {
                let mut t = t.clone();
                t.participle = true;
                self.vp(subject, &t, event);
            }
            return;
        }
        // "... and can be marked done"
        if let Some(word) = &vp.flag {
            for s in &subj_entities {
                let f = Field::new(&usable_name(s, &ident(word)), "boolean", false);
                self.m.field(s, f, format!("“… {} {word}”", verb.lemma));
            }
            return;
        }
        // "slopes rated green, blue, red or black"
        if !vp.choices.is_empty() && vp.passive {
            let name = verb.noun.clone().unwrap_or_else(|| verb.lemma.clone());
            for s in &subj_entities {
                let values: Vec<&str> = vp.choices.iter().map(String::as_str).collect();
                let f = Field::new(&usable_name(s, &name), "enum", true).choices(&values);
                self.m.field(
                    s,
                    f,
                    format!("“… {} {}”", verb.lemma, vp.choices.join(", ")),
                );
            }
            return;
        }
        // Objects, or the objects of the prepositions after the verb
        // ("subscribe to lists", "work at companies").
        let mut targets: Vec<(Option<String>, Np)> =
            vp.objects.iter().map(|o| (None, o.clone())).collect();
        if targets.is_empty() || matches!(vp.class(), VerbClass::Act | VerbClass::Link) {
            for (p, objs) in &vp.preps {
                if p == "by" && vp.passive {
                    continue;
                }
                for o in objs {
                    if targets.iter().all(|(_, t)| t.text() != o.text()) {
                        targets.push((Some(p.clone()), o.clone()));
                    }
                }
            }
        }
        let class = if vp.part_of {
            VerbClass::Have
        } else {
            vp.class()
        };
        match class {
            VerbClass::Have | VerbClass::Make | VerbClass::Light if !vp.passive || vp.part_of => {
                let mut attrs = Vec::new();
                for (prep, o) in &targets {
                    if prep.is_some() && !vp.objects.is_empty() {
                        continue;
                    }
                    // "rides that start at one station": where they are.
                    if let Some(p) = prep {
                        for s in &subj_entities {
                            self.prep_object(s, p, o, 1);
                        }
                        continue;
                    }
                    // What a record keeps is its fields ("water tests record the
                    // pH and the temperature").
                    let recorder = !subj_entities.is_empty()
                        && !by_user
                        && subj_entities.iter().all(|s| !self.m.kind_of(s).is_agent());
                    let ctx = if class == VerbClass::Have
                        || (recorder && class != VerbClass::Have)
                        || (vp.participle && event.is_some())
                    {
                        Ctx::Attr
                    } else {
                        Ctx::Thing
                    };
                    // "has a reporter and an assignee, both developers"
                    if subj_entities.len() == 1 && self.appositive(&subj_entities[0], o) {
                        continue;
                    }
                    // "each match records the home team and the away team":
                    // the match names a team in each role.
                    if subj_entities.len() == 1
                        && !self.m.kind_of(&subj_entities[0]).is_agent()
                        && !o.is_plural()
                    {
                        let s = subj_entities[0].clone();
                        let words: Vec<String> = o
                            .adjectives
                            .iter()
                            .chain(o.words.iter())
                            .filter(|w| !matches!(w.as_str(), "a" | "an" | "the" | "each" | "its"))
                            .cloned()
                            .collect();
                        if words.len() == 2 {
                            let head = self.m.resolve(&ident(&singular(&words[1])));
                            let side = ident(&words[0]);
                            if head != s
                                && self.m.has(&head)
                                && self.m.kind_of(&head).is_agent()
                                && !self.m.has(&side)
                            {
                                self.m.relate_as(
                                    &s,
                                    &head,
                                    Some(format!("{side}_{head}_id")),
                                    true,
                                    said(&o.text()),
                                );
                                continue;
                            }
                        }
                    }
                    let mut role = self.role(o, ctx);
                    // "record a score for each quiz": the score is the row.
                    let mut o = o.clone();
                    if role == Role::Attr && class != VerbClass::Have && self.promotes(&o) {
                        o.det = None;
                        role = Role::Entity(String::new());
                    }
                    let o = &o;
                    match role {
                        Role::Entity(_) => {
                            let Some(key) = self.entity(o, "kept:") else {
                                continue;
                            };
                            let kind = self.m.kind_of(&key);
                            for s in &subj_entities {
                                // "orders containing menu items with a
                                // quantity", "recipes use ingredients in a
                                // quantity": a line for each, with the
                                // quantity.
                                let measured = o.posts.iter().any(|p| match p {
                                    Post::With(items) | Post::Prep(_, items) => {
                                        items.iter().any(|i| {
                                            matches!(
                                                singular(i.head()).as_str(),
                                                "quantity" | "amount" | "count" | "qty" | "portion"
                                            )
                                        })
                                    }
                                    _ => false,
                                });
                                if measured && !self.m.kind_of(s).is_agent() && !kind.is_agent() {
                                    let through = if matches!(
                                        s.as_str(),
                                        "order" | "invoice" | "cart" | "purchase" | "bill" | "sale"
                                    ) {
                                        format!("{s}_item")
                                    } else {
                                        format!("{s}_{key}")
                                    };
                                    self.m.link(s, &key, &through, said(&o.text()));
                                    self.m.add(&through, format!("a {} in a {s}", o.text()));
                                    for p in &o.posts {
                                        match p {
                                            Post::With(items) => self.with_list(&through, items),
                                            Post::Prep(_, items) => {
                                                for i in items {
                                                    self.attribute(&through, i, None);
                                                }
                                            }
                                            _ => {}
                                        }
                                    }
                                    continue;
                                }
                                // A playlist holds songs that are also
                                // elsewhere: many-to-many ("each gig has an
                                // ordered list of songs").
                                // Tags are shared: "posts have tags" gives
                                // the same tag to many posts.
                                if class == VerbClass::Have
                                    && (self.m.kind_of(s) == Kind::Collection
                                        || o.listed
                                        || TAG_WORDS.contains(&key.as_str()))
                                {
                                    let through = format!("{s}_{key}");
                                    self.m.link(s, &key, &through, said(&o.text()));
                                    // "... with a position": the list's own.
                                    if o.listed {
                                        self.m.add(
                                            &through,
                                            format!("the list of {} of a {s}", o.text()),
                                        );
                                        for p in &o.posts {
                                            if let Post::With(items) = p {
                                                self.with_list(&through, items);
                                            }
                                        }
                                    }
                                    continue;
                                }
                                if class == VerbClass::Light && !kind.is_occurrence() && !vp.part_of
                                {
                                    self.m.relate(&key, s, false, said(&o.text()));
                                } else {
                                    self.m.relate(&key, s, true, said(&o.text()));
                                }
                            }
                            if by_user && class != VerbClass::Have {
                                self.own(&key);
                            }
                            self.m.acts.push((verb.lemma.clone(), key.clone()));
                            self.m
                                .made
                                .push((key.clone(), subj_entities.clone(), by_user, false));
                            self.posts(&key, o);
                            *event = Some(key);
                        }
                        Role::Attr => attrs.push(o.clone()),
                        Role::User => self.m.auth = true,
                        _ => {}
                    }
                }
                let made_here: Vec<String> = self
                    .m
                    .made
                    .iter()
                    .rev()
                    .take(vp.objects.len())
                    .filter(|(_, mk, u, _)| *mk == subj_entities && *u == by_user)
                    .map(|(k, ..)| k.clone())
                    .collect();
                let recorder = !subj_entities.is_empty()
                    && !by_user
                    && subj_entities.iter().all(|s| !self.m.kind_of(s).is_agent());
                if !attrs.is_empty() && class != VerbClass::Have && !made_here.is_empty() {
                    // "donations of any amount, optionally anonymous"
                    let e = made_here[0].clone();
                    for a in &attrs {
                        self.attribute(&e, a, None);
                    }
                } else if !attrs.is_empty() && vp.participle && event.is_some() {
                    // "inspect hives, recording the date and the yield"
                    let e = event.clone().unwrap_or_default();
                    for a in &attrs {
                        self.attribute(&e, a, None);
                    }
                } else if !attrs.is_empty() && recorder {
                    // "each roast batch records a roast level": its own.
                    for s in &subj_entities {
                        for a in &attrs {
                            self.attribute(s, a, None);
                        }
                    }
                } else if !attrs.is_empty() {
                    if class == VerbClass::Have {
                        for s in &subj_entities {
                            for a in &attrs {
                                self.attribute(s, a, None);
                            }
                        }
                    } else {
                        // "employees record hours": each record is a row.
                        let entry = self.entry_key(verb, &attrs);
                        let key = self
                            .m
                            .add(&entry, format!("what {} {}", subj_text, verb.lemma));
                        for s in &subj_entities {
                            self.m.relate(&key, s, true, said(&attrs[0].text()));
                        }
                        if by_user {
                            self.own(&key);
                        }
                        for a in &attrs {
                            self.attribute(&key, a, None);
                        }
                        *event = Some(key);
                    }
                }
                // "objects at a place": prepositions after the objects.
                if !vp.objects.is_empty() {
                    for (p, objs) in &vp.preps {
                        if let Some(e) = event.clone() {
                            for o in objs {
                                self.prep_object(&e, p, o, objs.len());
                            }
                        }
                    }
                }
            }
            VerbClass::Have
            | VerbClass::Make
            | VerbClass::Light
            | VerbClass::Send
            | VerbClass::Locate => {
                // Passive ("talks given by speakers", "campaigns are sent
                // to lists", "activities logged against deals"), placing
                // ("contacts work at companies") and sending.
                // "drivers are assigned routes": the routes go to the
                // drivers.
                if vp.passive && class == VerbClass::Send {
                    for o in &vp.objects {
                        if let Role::Entity(_) = self.role(o, Ctx::Thing)
                            && let Some(k) = self.entity(o, "given:")
                        {
                            for s in &subj_entities {
                                self.m.relate(&k, s, true, said(&o.text()));
                            }
                            self.posts(&k, o);
                        }
                    }
                }
                let movers: Vec<String> =
                    if vp.passive || class == VerbClass::Locate || vp.objects.is_empty() {
                        subj_entities.clone()
                    } else {
                        let mut v = Vec::new();
                        for o in &vp.objects {
                            if let Role::Entity(_) = self.role(o, Ctx::Thing)
                                && let Some(k) = self.entity(o, "sent:")
                            {
                                for s in &subj_entities {
                                    self.m.relate(&k, s, false, said(&o.text()));
                                }
                                self.posts(&k, o);
                                v.push(k);
                            }
                        }
                        v
                    };
                for (p, objs) in &vp.preps {
                    for o in objs {
                        for m in &movers {
                            if p == "by" {
                                match self.role(o, Ctx::Thing) {
                                    Role::Entity(_) => {
                                        if let Some(k) = self.entity(o, "by") {
                                            self.m.relate(
                                                m,
                                                &k,
                                                true,
                                                format!("“… {} by {}”", verb.lemma, o.text()),
                                            );
                                        }
                                    }
                                    Role::User => self.own(m),
                                    _ => {}
                                }
                            } else {
                                self.prep_object(m, p, o, objs.len());
                            }
                        }
                    }
                }
                if class == VerbClass::Make && vp.passive {
                    for m in &movers {
                        *event = Some(m.clone());
                    }
                }
            }
            VerbClass::Act | VerbClass::Link => {
                let range = vp.range.or_else(|| {
                    vp.objects
                        .iter()
                        .flat_map(|o| &o.posts)
                        .find_map(|p| match p {
                            Post::Range(a, b) => Some((*a, *b)),
                            _ => None,
                        })
                });
                let noun_kind = verb
                    .noun
                    .as_deref()
                    .and_then(|n| lexicon().noun(n))
                    .map(|n| n.kind);
                // "pre-order cakes, choosing a size and a flavor": what was
                // chosen belongs to the order.
                if vp.participle
                    && let Some(e) = event.clone()
                    && !vp.objects.is_empty()
                {
                    self.with_list(&e, &vp.objects);
                    return;
                }
                // "candidates apply with a resume link": about the
                // application.
                let withs: Vec<Np> = targets
                    .iter()
                    .filter(|(p, _)| p.as_deref() == Some("with"))
                    .map(|(_, o)| o.clone())
                    .collect();
                targets.retain(|(p, _)| p.as_deref() != Some("with"));
                // "each game is played between two players": the game has
                // them.
                if vp.passive && targets.iter().any(|(p, _)| p.as_deref() == Some("between")) {
                    for s in &subj_entities {
                        for (_, objs) in vp.preps.iter().filter(|(p, _)| p == "between") {
                            for o in objs {
                                self.prep_object(s, "between", o, objs.len());
                            }
                        }
                        self.with_list(s, &withs);
                    }
                    return;
                }
                // "articles are tagged with topics": the topics are what
                // they are linked with.
                if vp.passive
                    && targets.is_empty()
                    && vp.class() == VerbClass::Link
                    && !withs.is_empty()
                {
                    let mut v = vp.clone();
                    v.passive = false;
                    v.objects = withs.clone();
                    v.preps.retain(|(p, _)| p != "with");
                    return self.vp(subject, &v, event);
                }
                // "entries, each rated from 1 to 5": a rating of their own.
                if vp.passive && targets.is_empty() && noun_kind == Some(Kind::Response) {
                    let name = verb.noun.clone().unwrap_or_else(|| verb.lemma.clone());
                    for s in &subj_entities {
                        let (lo, hi) = range.unwrap_or((Some(1.0), Some(5.0)));
                        let f = Field::new(&usable_name(s, &name), "integer", true).range(lo, hi);
                        self.m.field(s, f, format!("“… {} …”", verb.lemma));
                        self.with_list(s, &withs);
                    }
                    return;
                }
                // "agents reply with comments": the comments are what the
                // reply makes.
                if targets.is_empty()
                    && event.is_none()
                    && withs.len() == 1
                    && matches!(noun_kind, Some(Kind::Response | Kind::Content))
                    && lexicon()
                        .noun(&singular(withs[0].head()))
                        .is_some_and(|n| matches!(n.kind, Kind::Response | Kind::Content))
                    && let Some(e) = self.entity(
                        &withs[0],
                        &format!("made when {subj_text} {} with:", verb.lemma),
                    )
                {
                    let quoted = format!("“{subj_text} {} with {}”", verb.lemma, withs[0].text());
                    for s in &subj_entities {
                        self.m.relate(&e, s, true, quoted.clone());
                    }
                    if by_user {
                        self.own(&e);
                    }
                    self.posts(&e, &withs[0]);
                    *event = Some(e);
                    return;
                }
                if targets.is_empty() && !withs.is_empty() {
                    let e = match event.clone() {
                        Some(e) => e,
                        None => {
                            let e = self.event_of(
                                verb,
                                format!("made when “{subj_text} {} …”", verb.lemma),
                            );
                            for s in &subj_entities {
                                self.m.relate(&e, s, true, said(""));
                            }
                            if by_user {
                                self.own(&e);
                            }
                            e
                        }
                    };
                    self.with_list(&e, &withs);
                    *event = Some(e);
                    return;
                }
                for (prep, o) in &targets {
                    let ctx = if prep.is_some() {
                        Ctx::Prep
                    } else {
                        Ctx::Thing
                    };
                    match self.role(o, ctx) {
                        Role::Entity(_) => {
                            let Some(key) = self.entity(o, "acted on:") else {
                                continue;
                            };
                            let kind = self.m.kind_of(&key);
                            let quoted = said(&format!(
                                "{}{}",
                                prep.as_ref().map(|p| format!("{p} ")).unwrap_or_default(),
                                o.text()
                            ));
                            // "teachers grade each submission": one grade
                            // for each, a field of it.
                            let one_each = prep.is_none()
                                && (matches!(
                                    o.det.as_deref(),
                                    Some("each" | "every" | "the" | "its" | "their")
                                ) || !o.is_plural());
                            if kind.is_occurrence()
                                && one_each
                                && noun_kind == Some(Kind::Response)
                                && verb.noun.as_deref() != Some(key.as_str())
                            {
                                let name = verb.noun.clone().unwrap_or_default();
                                let mut f = typed_field(&name);
                                if let Some((lo, hi)) = range {
                                    f = Field::new(&name, "integer", false).range(lo, hi);
                                } else if f.kind == "string" {
                                    f = Field::new(&name, "number", false).range(Some(0.0), None);
                                }
                                f.name = usable_name(&key, &name);
                                self.m.field(&key, f, quoted.clone());
                                continue;
                            }
                            // "clients order projects", "customers request
                            // moves": the project, the move is the row.
                            let head = key.rsplit('_').next().unwrap_or(&key);
                            let work = (matches!(verb.noun.as_deref(), Some("order" | "purchase"))
                                && (matches!(kind, Kind::Group | Kind::Content) || TOKENS.contains(&head)))
                                // "patients request refills": a refill request.
                                || (verb.lemma == "request" && !kind.is_agent() && lexicon().noun(&key).is_none_or(|n| n.kind != Kind::Thing));
                            if (kind.is_occurrence() || work)
                                && prep.is_none()
                                && verb.noun.as_deref() != Some(key.as_str())
                            {
                                // "book appointments": the appointment is
                                // the row.
                                for s in &subj_entities {
                                    self.m.relate(&key, s, true, quoted.clone());
                                }
                                if by_user {
                                    self.own(&key);
                                }
                                self.posts(&key, o);
                                *event = Some(key);
                                continue;
                            }
                            // "users record dreams and tag them": tags, linked
                            // with the dreams.
                            if matches!(
                                verb.lemma.as_str(),
                                "tag" | "label" | "categorize" | "categorise"
                            ) && !matches!(kind, Kind::Group | Kind::Collection)
                            {
                                let t = match verb.lemma.as_str() {
                                    "tag" => "tag",
                                    "label" => "label",
                                    _ => "category",
                                };
                                let tag = self.m.add(
                                    t,
                                    format!("what {} are {}ged with", o.text(), verb.lemma),
                                );
                                let through = format!("{key}_{tag}");
                                self.m.link(&key, &tag, &through, quoted.clone());
                                continue;
                            }
                            // "mentors pick skills": a row per pair.
                            if vp.class() == VerbClass::Link && verb.noun.is_none() {
                                for s in &subj_entities {
                                    let through = format!("{s}_{key}");
                                    self.m.link(s, &key, &through, quoted.clone());
                                }
                                continue;
                            }
                            let e = match event
                                .clone()
                                .filter(|e| verb.noun.as_deref() == Some(e.as_str()))
                            {
                                Some(e) => e,
                                None => self.event_of(verb, format!("made when {}", quoted)),
                            };
                            if e == key {
                                continue;
                            }
                            for s in &subj_entities {
                                self.m.relate(&e, s, true, quoted.clone());
                            }
                            if by_user {
                                self.own(&e);
                            }
                            self.m.acts.push((verb.lemma.clone(), key.clone()));
                            self.m
                                .made
                                .push((e.clone(), subj_entities.clone(), by_user, true));
                            if subj_entities.contains(&key) {
                                // "members follow other members": the
                                // follower and the one followed.
                                let past = lexicon()
                                    .verbs
                                    .iter()
                                    .filter(|(_, (v, f))| v.lemma == verb.lemma && *f == Form::Past)
                                    .map(|(w, _)| w.clone())
                                    .min()
                                    .unwrap_or_else(|| {
                                        format!("{}ed", verb.lemma.trim_end_matches('e'))
                                    });
                                self.m.relate_as(
                                    &e,
                                    &key,
                                    Some(format!("{past}_{key}_id")),
                                    true,
                                    quoted.clone(),
                                );
                            } else {
                                self.m.relate(&e, &key, true, quoted.clone());
                            }
                            if vp.class() == VerbClass::Link {
                                for s in &subj_entities {
                                    self.m.link(s, &key, &e, quoted.clone());
                                }
                            }
                            // Prepositions on the object are about the
                            // action ("reserve a space for a time window").
                            for p in &o.posts {
                                match p {
                                    Post::Prep(pp, objs) => {
                                        for x in objs {
                                            self.prep_object(&e, pp, x, objs.len());
                                        }
                                    }
                                    Post::With(items) => self.with_list(&key, items),
                                    Post::Clause(v) => {
                                        let s = vec![(Role::Entity(key.clone()), o.clone())];
                                        self.vp(&s, v, &mut None);
                                    }
                                    _ => {}
                                }
                            }
                            let range = vp.range.or_else(|| {
                                o.posts.iter().find_map(|p| match p {
                                    Post::Range(a, b) => Some((*a, *b)),
                                    _ => None,
                                })
                            });
                            if verb.lemma == "rate" || range.is_some() {
                                let (lo, hi) = range.unwrap_or((Some(1.0), Some(5.0)));
                                let name = if verb.lemma == "rate" {
                                    "rating".to_string()
                                } else {
                                    usable_name(&e, verb.noun.as_deref().unwrap_or("value"))
                                };
                                let mut f = Field::new(&name, "integer", true).range(lo, hi);
                                if lo.is_some_and(|v| v.fract() != 0.0)
                                    || hi.is_some_and(|v| v.fract() != 0.0)
                                {
                                    f.kind = "number".into();
                                }
                                self.m.field(&e, f, quoted.clone());
                            }
                            *event = Some(e);
                        }
                        Role::Attr => {
                            // "... and pay a fee": a field of what they did.
                            let e = match event.clone() {
                                Some(e) => e,
                                None => {
                                    let e = self.event_of(
                                        verb,
                                        format!("made when “{subj_text} {} …”", verb.lemma),
                                    );
                                    for s in &subj_entities {
                                        self.m.relate(&e, s, true, said(&o.text()));
                                    }
                                    if by_user {
                                        self.own(&e);
                                    }
                                    e
                                }
                            };
                            self.attribute(&e, o, None);
                            *event = Some(e);
                        }
                        Role::User => self.m.auth = true,
                        _ => {}
                    }
                }
                // "lent to other museums with a start and an end date"
                if let Some(e) = event.clone()
                    && !withs.is_empty()
                {
                    self.with_list(&e, &withs);
                }
                // "RSVP to events with yes, no or maybe": the answer.
                if let Some(e) = event.clone()
                    && !vp.choices.is_empty()
                {
                    let values: Vec<&str> = vp.choices.iter().map(String::as_str).collect();
                    let f = Field::new("response", "enum", true).choices(&values);
                    self.m
                        .field(&e, f, format!("“… with {}”", vp.choices.join(", ")));
                }
            }
            VerbClass::Judge => {
                let mut states: Vec<String> = Vec::new();
                for v in &vp.verbs {
                    if let Some(s) = &v.noun
                        && v.class == VerbClass::Judge
                        && !states.contains(s)
                    {
                        states.push(s.clone());
                    }
                }
                let objects: Vec<String> = if vp.passive {
                    subj_entities.clone()
                } else {
                    let mut v = Vec::new();
                    for (_, o) in &targets {
                        if let Role::Entity(_) = self.role(o, Ctx::Thing)
                            && let Some(k) = self.entity(o, "decided on:")
                        {
                            v.push(k);
                        }
                    }
                    v
                };
                for o in &objects {
                    let known = lexicon().states(o);
                    let choices = if states.iter().all(|s| known.contains(s)) {
                        known
                    } else {
                        let submitted = self.m.acts.iter().any(|(v, k)| v == "submit" && k == o);
                        let mut c =
                            vec![if submitted { "submitted" } else { "pending" }.to_string()];
                        c.extend(states.iter().cloned());
                        c
                    };
                    let f = Field::new("status", "enum", true);
                    let f = Field { choices, ..f };
                    let verbs = vp
                        .verbs
                        .iter()
                        .map(|v| v.lemma.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ");
                    self.m.field(o, f, format!("“{subj_text} {verbs} …”"));
                    if !vp.passive {
                        for s in &subj_entities {
                            let field = format!("{s}_id");
                            self.m.relate_as(
                                o,
                                s,
                                Some(field),
                                false,
                                format!("“{subj_text} {verbs} …”"),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Remembers what a verb acted on, for a pronoun after it.
    fn remember_objects(&mut self, vp: &Vp) {
        let keys: Vec<String> = vp
            .objects
            .iter()
            .map(|o| self.m.resolve(&ident(&singular(o.head()))))
            .filter(|k| self.m.has(k))
            .collect();
        if !keys.is_empty() {
            self.m.last_objects = keys;
        }
    }

    /// The name of a row an action records when its object is only
    /// attributes ("employees record hours" in a timesheet app).
    fn entry_key(&self, verb: &crate::lexicon::Verb, attrs: &[Np]) -> String {
        let lx = lexicon();
        let head = self.parse.head.as_ref();
        if let Some(h) = head {
            for w in &h.words {
                let w = singular(w);
                if let Some(d) = lx.domains.get(&w)
                    && d.ends_with("entry")
                {
                    return d.clone();
                }
            }
            let mods: Vec<String> = h.words[..h.words.len().saturating_sub(1)]
                .iter()
                .map(|w| ident(&singular(w)))
                .filter(|w| !self.m.has(w))
                .collect();
            if let Some(m) = mods.last() {
                return format!("{m}_entry");
            }
        }
        let first = Self::words(&attrs[0]).1;
        match verb.noun.as_deref() {
            Some(n) if n != "entry" => n.to_string(),
            _ => format!("{first}_entry"),
        }
    }
}

fn unit_suffix(u: &str) -> &'static str {
    match u {
        "minute" | "minutes" | "min" | "mins" => "minutes",
        "hour" | "hours" | "hr" | "hrs" => "hours",
        "second" | "seconds" | "sec" | "secs" => "seconds",
        "day" | "days" => "days",
        "week" | "weeks" => "weeks",
        "month" | "months" => "months",
        "year" | "years" => "years",
        "kg" | "kilogram" | "kilograms" => "kg",
        "g" | "gram" | "grams" => "g",
        "lb" | "lbs" | "pound" | "pounds" => "lb",
        "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => "km",
        "mile" | "miles" => "miles",
        "m" | "meter" | "meters" | "metre" | "metres" => "m",
        "cm" | "centimeter" | "centimeters" => "cm",
        "mm" => "mm",
        "ml" => "ml",
        "liter" | "liters" | "litre" | "litres" => "liters",
        "calorie" | "calories" | "kcal" => "kcal",
        "mg" | "milligram" | "milligrams" => "mg",
        "mcg" => "mcg",
        "oz" | "ounce" | "ounces" => "oz",
        "ft" | "foot" | "feet" => "ft",
        "inch" | "inches" => "inches",
        "tonne" | "tonnes" | "ton" | "tons" => "tonnes",
        "kwh" => "kwh",
        "mph" => "mph",
        "kmh" => "kmh",
        "bpm" => "bpm",
        "psi" => "psi",
        "stars" => "stars",
        "percent" => "percent",
        _ => "units",
    }
}

/// The same phrase with its verb read as one of `class`.
fn read_as(vp: &Vp, verb: &crate::lexicon::Verb, class: VerbClass) -> Vp {
    let mut v = vp.clone();
    v.verbs = vec![crate::lexicon::Verb {
        class,
        ..verb.clone()
    }];
    v
}

/// `water` → `watering`, `prune` → `pruning`, `log` → `logging`.
fn gerund(verb: &str) -> String {
    let b = verb.as_bytes();
    let vowel = |c: u8| b"aeiou".contains(&c);
    if verb.len() > 2 && verb.ends_with('e') && !verb.ends_with("ee") {
        format!("{}ing", &verb[..verb.len() - 1])
    } else if b.len() == 3 && !vowel(b[0]) && vowel(b[1]) && !vowel(b[2]) && !b"wxy".contains(&b[2])
    {
        format!("{verb}{}ing", b[2] as char)
    } else {
        format!("{verb}ing")
    }
}

/// The two sides of a row between two of the same: teams play home and
/// away; anything else goes from one to the other.
fn sides(parent: &str) -> (&'static str, &'static str) {
    match parent {
        "team" | "club" | "player" | "school" => ("home", "away"),
        _ => ("from", "to"),
    }
}

/// Where a kind sits when nothing says how two nouns relate: children
/// point at parents of a lower rank.
fn implied_parent(child: Kind, child_key: &str, parent: Kind, parent_key: &str) -> Option<u8> {
    use Kind::*;
    let maker = MAKERS.contains(&parent_key);
    // Lower numbers are tried first.
    Some(match (child, parent) {
        (Event | Join, Thing | Content | Place) => 0,
        (Response, Content | Thing) => 0,
        (Event | Join | Response, Event) if child_key != parent_key => 3,
        (Event | Join | Response, Person) => 1,
        (Event | Join, Org | Group) => 2,
        (Thing | Content, Group) => 0,
        (Thing | Content | Place, Org) => 1,
        (Thing | Content | Group, Person) if maker => 1,
        // Musicians in sections, scouts in patrols.
        (Person, Group) if !maker => 1,
        // A ticket is for a performance.
        (Thing | Content, Event) if TOKENS.contains(&child_key) => 3,
        (Place, Place)
            if parent_key.ends_with("lot")
                || parent_key == "building"
                || parent_key == "warehouse" =>
        {
            1
        }
        (Person, Org) if AFFILIATED.contains(&child_key) => 1,
        (Group, Org) => 1,
        _ => return None,
    })
}

pub fn understand(request: &str) -> Understanding {
    let (parse, _) = crate::grammar::parse(request);
    let lx = lexicon();
    let mut r = Reader {
        m: Model::default(),
        parse: &parse,
        subject_now: Vec::new(),
        role_prefix: None,
    };
    let words: Vec<String> = request
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .map(str::to_string)
        .collect();
    if words.iter().any(|w| AUTH_WORDS.contains(&w.as_str()))
        || request.to_lowercase().contains("log in")
        || request.to_lowercase().contains("user account")
        || request.to_lowercase().contains("sign in")
    {
        r.m.auth = true;
    }
    // The app: its last noun names it, its other nouns its domain.
    let mut head_words: Vec<String> = Vec::new();
    let mut head_plural_list = None;
    if let Some(h) = &parse.head {
        if h.is_plural() && !h.words.iter().any(|w| lx.app.contains(&singular(w))) {
            // "Posts, comments and tags": no app named.
            head_plural_list = Some(h.clone());
        } else {
            head_words = h.words.iter().map(|w| ident(&singular(w))).collect();
            if let Some(last) = head_words.last() {
                r.m.app.push(last.clone());
            }
            for w in &head_words {
                if lx.app.contains(w) {
                    r.m.app.push(w.clone());
                }
            }
        }
    }
    r.mention();
    r.m.stating = true;
    let mut listed: Vec<Vec<String>> = Vec::new();
    let head_is_kept = head_plural_list.is_some();
    if let Some(h) = head_plural_list {
        let mut only = h.clone();
        only.posts.clear();
        let mut keys = r.list(std::slice::from_ref(&only), "listed:");
        let first = keys.first().cloned();
        for p in &h.posts {
            if let Post::With(items) = p {
                match &first {
                    // "expense reports with an amount and a date": theirs.
                    Some(k) if only.words.len() + only.adjectives.len() >= 1 => {
                        r.with_list(k, items)
                    }
                    _ => keys.extend(r.list(items, "listed:")),
                }
            }
        }
        if let Some(k) = keys.first().cloned() {
            let mut h2 = h.clone();
            h2.posts.retain(|p| !matches!(p, Post::With(_)));
            r.posts(&k, &h2);
        }
        listed.push(keys);
    }
    if let Some(h) = &parse.head {
        for p in &h.posts {
            match p {
                Post::With(_) if head_is_kept => {}
                Post::With(items) => {
                    let keys = r.list(items, "listed:");
                    listed.push(keys);
                }
                Post::Prep(prep, items) if matches!(prep.as_str(), "for" | "of" | "to") => {
                    // "a setlist app for my band": whose app, not a table.
                    let items: Vec<Np> = items
                        .iter()
                        .filter(|n| {
                            !matches!(n.det.as_deref(), Some("my" | "our" | "your"))
                                || n.is_plural()
                        })
                        .cloned()
                        .collect();
                    let keys = r.list(&items, "listed:");
                    listed.push(keys);
                }
                Post::Clause(vp) => {
                    // "a warehouse system tracking products, ..."
                    let mut keys = Vec::new();
                    for o in vp
                        .objects
                        .iter()
                        .chain(vp.preps.iter().flat_map(|(_, o)| o))
                    {
                        if let Some(k) = r.list(std::slice::from_ref(o), "kept:").pop() {
                            keys.push(k);
                        }
                    }
                    listed.push(keys);
                }
                _ => {}
            }
        }
    }
    for l in &parse.lists {
        let keys = r.list(l, "listed:");
        listed.push(keys);
    }
    let mut last_subject = Vec::new();
    for c in &parse.clauses {
        r.clause(c, &mut last_subject);
    }
    r.m.stating = false;
    merge_actions(&mut r.m);
    // Attributes named with no owner: "planting dates" in a list of beds
    // and plants is the planting's date.
    for (np, before) in std::mem::take(&mut r.m.loose) {
        let (mods, _) = Reader::words(&np);
        let action = mods.first().and_then(|m| {
            lx.verb(m).and_then(|(v, _)| {
                matches!(v.class, VerbClass::Act | VerbClass::Link)
                    .then(|| v.noun.clone().unwrap_or_else(|| v.lemma.clone()))
            })
        });
        match action {
            Some(noun) => {
                let key = r.m.add(&noun, format!("named in {}", quote(&np)));
                let mut bare = np.clone();
                bare.words.remove(0);
                r.attribute(&key, &bare, None);
                let all: Vec<String> = listed.iter().flatten().cloned().collect();
                for other in all {
                    let k = r.m.kind_of(&other);
                    if matches!(k, Kind::Thing | Kind::Place) {
                        r.m.relate(
                            &key,
                            &other,
                            true,
                            format!("{} of {}", pascal(&noun), pascal(&other)),
                        );
                    }
                }
            }
            None => {
                if let Some(owner) = before.last() {
                    r.attribute(owner, &np, None);
                }
            }
        }
    }
    // The app's domain, when the request names nothing else it keeps (or
    // only tags): "a todo app", "a recipe app with tags".
    let main: Vec<String> =
        r.m.ents
            .iter()
            .filter(|e| !TAG_WORDS.contains(&e.key.as_str()) && e.key != "category")
            .map(|e| e.key.clone())
            .collect();
    if main.is_empty() {
        let mut found = None;
        for w in head_words.iter() {
            if let Some(d) = lx.domains.get(w) {
                found = Some((d.clone(), format!("what a {w} app keeps")));
                break;
            }
        }
        if found.is_none() {
            for w in head_words.iter().rev().skip(1) {
                if !lx.mass.contains(w) && !lx.app.contains(w) && !is_adjective(w) {
                    found = Some((w.clone(), format!("what the {w} app is about")));
                    break;
                }
            }
        }
        let (key, why) = found.unwrap_or(("item".into(), "nothing more specific was named".into()));
        let key = r.m.add(&key, why);
        if r.m.auth {
            r.own(&key);
        }
        let tags: Vec<String> =
            r.m.ents
                .iter()
                .filter(|e| e.key != key)
                .map(|e| e.key.clone())
                .collect();
        for t in tags {
            if TAG_WORDS.contains(&t.as_str()) {
                let through = format!("{key}_{t}");
                r.m.link(
                    &key,
                    &t,
                    &through,
                    format!("{} can carry {}", pascal(&key), pascal(&t)),
                );
            } else {
                r.m.relate(
                    &key,
                    &t,
                    false,
                    format!("{} has a {}", pascal(&key), pascal(&t)),
                );
            }
        }
    }
    // "a car rental service": a rental is of a car; "a hotel booking
    // system": a booking is of what the hotel has (its rooms).
    for pair in head_words.windows(2) {
        let (a, b) = (r.m.resolve(&pair[0]), r.m.resolve(&pair[1]));
        if r.m.has(&a) && r.m.has(&b) && r.m.kind_of(&b).is_occurrence() {
            let mut target = a.clone();
            loop {
                let children: Vec<String> =
                    r.m.rels
                        .iter()
                        .filter(|x| {
                            x.parent == target
                                && !r.m.kind_of(&x.child).is_occurrence()
                                && !r.m.kind_of(&x.child).is_agent()
                        })
                        .map(|x| x.child.clone())
                        .collect();
                if children.len() == 1 && children[0] != b {
                    target = children[0].clone();
                } else {
                    break;
                }
            }
            if !r.m.related(&b, &target) {
                let why = format!(
                    "a {} {} is of a {}",
                    pair[0],
                    pair[1],
                    target.replace('_', " ")
                );
                r.m.relate(&b, &target, true, why.clone());
                r.m.notes
                    .push(format!("{} → {}: {why}", pascal(&b), pascal(&target)));
            }
        }
    }
    // Relations implied by names ("customer orders").
    for rel in std::mem::take(&mut r.m.implied) {
        if r.m.has(&rel.child) && r.m.has(&rel.parent) && !r.m.related(&rel.child, &rel.parent) {
            r.m.relate(&rel.child, &rel.parent, true, rel.why);
        }
    }
    // Nouns listed together with nothing said of how they relate: by what
    // kind of thing each is.
    for keys in &listed {
        let keys: Vec<String> = keys.iter().map(|k| r.m.resolve(k)).collect();
        for rank in 0..4u8 {
            for (ci, c) in keys.iter().enumerate() {
                let ck = r.m.kind_of(c);
                if r.m.rels.iter().any(|x| x.child == *c && x.stated) {
                    continue;
                }
                // The nearest earlier fitting noun, else the nearest later.
                let mut order: Vec<usize> = (0..ci).rev().collect();
                order.extend(ci + 1..keys.len());
                let mut taken: Vec<Kind> = Vec::new();
                for pi in order {
                    let p = &keys[pi];
                    let pk = r.m.kind_of(p);
                    // An action may be filed under several groups (a
                    // transaction's account and category).
                    let repeatable = ck.is_occurrence() && matches!(pk, Kind::Group | Kind::Org);
                    if p == c || (taken.contains(&pk) && !repeatable) {
                        continue;
                    }
                    if implied_parent(ck, c, pk, p) != Some(rank) {
                        continue;
                    }
                    taken.push(pk);
                    if r.m.related(c, p) || r.m.reaches(c, p) || r.m.reaches(p, c) {
                        continue;
                    }
                    // One container each: a song on an album is not also
                    // on the album's artist.
                    let has_parent_of_kind =
                        r.m.rels
                            .iter()
                            .any(|x| x.child == *c && r.m.kind_of(&x.parent) == pk);
                    if has_parent_of_kind && !repeatable {
                        continue;
                    }
                    if TAG_WORDS.contains(&p.as_str()) {
                        let through = format!("{c}_{p}");
                        r.m.link(c, p, &through, "listed together".into());
                        continue;
                    }
                    let why = format!("{} listed with {}", pascal(c), pascal(p));
                    r.m.notes
                        .push(format!("{} → {}: {why}", pascal(c), pascal(p)));
                    r.m.relate(c, p, false, why);
                }
            }
        }
    }
    // "add songs to playlists": a song is in many playlists, so a
    // collection holds its rows through a link.
    let into_collections: Vec<(String, String)> =
        r.m.rels
            .iter()
            .filter(|x| {
                x.field.is_none()
                    && r.m.kind_of(&x.parent) == Kind::Collection
                    && matches!(r.m.kind_of(&x.child), Kind::Thing | Kind::Content)
            })
            .map(|x| (x.child.clone(), x.parent.clone()))
            .collect();
    for (child, parent) in into_collections {
        r.m.rels
            .retain(|x| !(x.child == child && x.parent == parent));
        let why = format!(
            "a {} can be in many {}",
            child.replace('_', " "),
            nexus_spec::plural(&parent.replace('_', " "))
        );
        r.m.link(&parent, &child, &format!("{parent}_{child}"), why);
    }
    // An action with nothing it is about: about the app's main thing ("a
    // pet adoption site: ... adopters submit applications"; "a habit
    // tracker with daily check-ins").
    let orphans = |m: &Model| -> Vec<String> {
        m.ents
            .iter()
            .filter(|e| e.kind.is_occurrence())
            .filter(|e| {
                !m.rels
                    .iter()
                    .any(|x| x.child == e.key && !m.kind_of(&x.parent).is_agent())
                    && !m.links.iter().any(|l| l.through == e.key)
                    && !e.fields.iter().any(|f| f.name.ends_with("_user_id"))
                    // "members like other members": about the one liked.
                    && !m.rels.iter().any(|x| x.child == e.key && x.field.is_some())
            })
            .map(|e| e.key.clone())
            .collect()
    };
    if !orphans(&r.m).is_empty() {
        let thing_like = |m: &Model, k: &str| {
            m.has(k) && !m.kind_of(k).is_occurrence() && !m.kind_of(k).is_agent()
        };
        let mut main = head_words
            .iter()
            .rev()
            .map(|w| r.m.resolve(w))
            .find(|w| thing_like(&r.m, w));
        if main.is_none() {
            // "job board" → the job listings.
            main =
                r.m.order
                    .iter()
                    .find(|k| {
                        thing_like(&r.m, k)
                            && k.split('_')
                                .any(|part| head_words.iter().any(|h| h == part))
                    })
                    .cloned();
        }
        if main.is_none() {
            // "a habit tracker": the habits.
            let n = head_words.len();
            main = head_words[..n.saturating_sub(1)]
                .iter()
                .rev()
                .find(|w| {
                    lx.noun(w)
                        .is_some_and(|x| matches!(x.kind, Kind::Thing | Kind::Content))
                        && !lx.mass.contains(*w)
                        && !lx.app.contains(*w)
                })
                .map(|w| {
                    r.m.add(w, format!("what the {} app is about", head_words.join(" ")))
                });
        }
        if main.is_none() {
            main =
                r.m.order
                    .iter()
                    .find(|k| {
                        thing_like(&r.m, k)
                            && matches!(r.m.kind_of(k), Kind::Thing | Kind::Content | Kind::Place)
                    })
                    .cloned();
        }
        if let Some(main) = main {
            for o in orphans(&r.m) {
                if o == main {
                    continue;
                }
                let app = head_words.join(" ");
                let app = if head_words.last().is_some_and(|w| lx.app.contains(w)) {
                    app
                } else {
                    format!("{app} app")
                };
                let why = format!(
                    "in a {app}, a {} is about a {}",
                    o.replace('_', " "),
                    main.replace('_', " ")
                );
                r.m.relate(&o, &main, true, why);
            }
        }
    }
    // "orders of menu dishes; each order line has a quantity": the line
    // holds the dish.
    let lines: Vec<(String, String)> =
        r.m.rels
            .iter()
            .filter(|x| {
                let c = &x.child;
                (c.ends_with("_line") || c.ends_with("_item"))
                    && c.starts_with(&format!("{}_", x.parent))
            })
            .map(|x| (x.child.clone(), x.parent.clone()))
            .collect();
    for (line, parent) in lines {
        let moved: Vec<Rel> = r
            .m
            .rels
            .iter()
            .filter(|x| {
                x.child == parent && matches!(r.m.kind_of(&x.parent), Kind::Thing | Kind::Content)
            })
            .cloned()
            .collect();
        for mut x in moved {
            r.m.rels
                .retain(|y| !(y.child == x.child && y.parent == x.parent && y.field == x.field));
            x.child = line.clone();
            r.m.rels.push(x);
        }
    }
    let title = title(&parse, &r.m);
    build(r.m, title)
}

/// "users rate movies and write reviews": the rating is part of the review
/// the same people write, not a row of its own.
fn merge_actions(m: &mut Model) {
    let made = m.made.clone();
    for (e, makers, by_user, from_verb) in &made {
        if !from_verb || m.kind_of(e) != Kind::Response {
            continue;
        }
        let Some((r, ..)) = made.iter().find(|(r, mk, u, fv)| {
            r != e && !fv && m.kind_of(r) == Kind::Response && mk == makers && u == by_user
        }) else {
            continue;
        };
        let (Some(ei), Some(_)) = (m.find(e), m.find(r)) else {
            continue;
        };
        let moved = m.ents.remove(ei);
        let ri = m.find(r).unwrap();
        for f in moved.fields {
            m.ents[ri].fields.retain(|x| x.name != f.name);
            m.ents[ri].fields.push(f);
        }
        let rels: Vec<Rel> = m.rels.iter().filter(|x| &x.child == e).cloned().collect();
        m.rels.retain(|x| &x.child != e && &x.parent != e);
        for mut x in rels {
            x.child = r.clone();
            if !m
                .rels
                .iter()
                .any(|y| y.child == x.child && y.parent == x.parent)
            {
                m.rels.push(x);
            }
        }
        m.links.retain(|l| &l.through != e);
        m.notes.push(format!(
            "{}: the {} is part of it",
            pascal(r),
            e.replace('_', " ")
        ));
    }
}

fn title(parse: &Parse, m: &Model) -> String {
    let lx = lexicon();
    // "tenants report repairs", "track books": named after what it keeps.
    let kept = || {
        m.ents
            .iter()
            .find(|e| !e.kind.is_agent())
            .or(m.ents.first())
            .map(|e| {
                let words: Vec<&str> = e.key.split('_').collect();
                let n = words.len();
                words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        if i + 1 == n {
                            pascal(&nexus_spec::plural(w))
                        } else {
                            pascal(w)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| "App".into())
    };
    let Some(h) = &parse.head else {
        return kept();
    };
    const GENERIC: &[&str] = &[
        "app",
        "application",
        "system",
        "service",
        "tool",
        "platform",
        "software",
        "site",
        "website",
        "program",
        "solution",
        "web",
    ];
    let words: Vec<String> = h
        .words
        .iter()
        .filter(|w| !GENERIC.contains(&w.as_str()))
        .cloned()
        .collect();
    if words.is_empty() || h.is_plural() && !h.words.iter().any(|w| lx.app.contains(w)) {
        return kept();
    }
    words
        .iter()
        .map(|w| {
            if w.len() <= 3 && matches!(w.as_str(), "crm" | "erp" | "hr" | "cms" | "lms" | "api") {
                w.to_uppercase()
            } else {
                pascal(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Display fields: the names a row is known by.
const DISPLAY: &[&str] = &[
    "name", "title", "number", "code", "subject", "text", "question", "term", "front", "make",
];

fn build(mut m: Model, title: String) -> Understanding {
    let lx = lexicon();
    let mut entities = Vec::new();
    let fk_fields = |m: &Model, key: &str| -> Vec<String> {
        m.rels
            .iter()
            .filter(|r| r.child == key)
            .map(|r| {
                r.field
                    .clone()
                    .unwrap_or_else(|| format!("{}_id", r.parent))
            })
            .collect()
    };
    for e in &m.ents {
        let head = e.key.rsplit('_').next().unwrap_or(&e.key);
        // A link between two rows (a bookmark of a talk by an attendee)
        // needs no fields of its own; the same word standing alone (a
        // bookmarks app) does.
        let joins = m.links.iter().any(|l| l.through == e.key);
        let defaults: Vec<Field> = lx
            .noun(&e.key)
            .or_else(|| lx.noun(head))
            .filter(|n| !(joins && n.kind == Kind::Join))
            .map(|n| n.fields.clone())
            .unwrap_or_else(|| match e.kind {
                Kind::Join => Vec::new(),
                Kind::Event => vec![Field::new("date", "date", true)],
                Kind::Response => vec![Field::new("body", "text", true)],
                Kind::Content => vec![
                    Field::new("title", "string", true),
                    Field::new("body", "text", false),
                ],
                _ => vec![Field::new("name", "string", true)],
            });
        let fks = fk_fields(&m, &e.key);
        let mut fields: Vec<Field> = e.fields.clone();
        let explicit = !fields.is_empty();

        let has_display = fields.iter().any(|f| DISPLAY.contains(&f.name.as_str()));
        for d in defaults {
            if fields.iter().any(|f| f.name == d.name) || fks.contains(&d.name) {
                continue;
            }
            // "tutors teach subjects": the subjects are rows of their own.
            if d.kind == "string"
                && m.rels.iter().any(|r| {
                    (r.child == e.key && r.parent == d.name)
                        || (r.child == d.name && r.parent == e.key)
                })
            {
                continue;
            }
            // "a dosage in mg" stands for the usual dosage.
            if fields.iter().any(|f| {
                f.name
                    .strip_prefix(&format!("{}_", d.name))
                    .is_some_and(|unit| unit_suffix(unit) == unit)
            }) {
                continue;
            }
            // A default of the same kind as a stated field is left out
            // ("check-in date" stands for the booking's start).
            // A date and a time of day are one kind here: a stated
            // check-in date stands for a default start time.
            let family = |k: &str| if k == "datetime" { "date" } else { k }.to_string();
            let same_kind = fields.iter().any(|f| {
                family(&f.kind) == family(&d.kind)
                    && matches!(
                        d.kind.as_str(),
                        "date" | "datetime" | "decimal" | "integer" | "number"
                    )
            });
            let display = DISPLAY.contains(&d.name.as_str());
            if explicit && display && has_display {
                continue;
            }
            if same_kind && !display {
                continue;
            }
            // A relation carries the same fact ("Booking.status" stays).
            fields.push(d);
        }
        if fields.is_empty() && fks.is_empty() {
            fields.push(Field::new("name", "string", true));
        }
        // The name a row goes by is required.
        for f in &mut fields {
            if DISPLAY.contains(&f.name.as_str()) && f.kind == "string" {
                f.required = true;
            }
        }
        entities.push(Entity {
            name: pascal(&e.key),
            plural: String::new(),
            fields,
            owned: e.owned && m.auth,
        });
    }
    let mut relations: Vec<Relation> = Vec::new();
    for r in &m.rels {
        let mut rel = Relation::many_to_one(&pascal(&r.child), &pascal(&r.parent), r.required);
        if let Some(f) = &r.field {
            rel.field = f.clone();
        }
        relations.push(rel);
        m.notes.push(format!(
            "{} → {}{}: {}",
            pascal(&r.child),
            pascal(&r.parent),
            r.field
                .as_ref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default(),
            r.why
        ));
    }
    for l in &m.links {
        relations.push(Relation::many_to_many(
            &pascal(&l.a),
            &pascal(&l.b),
            &pascal(&l.through),
        ));
    }
    let spec = Spec {
        name: slug(&title),
        title,
        auth: m.auth,
        entities,
        relations,
        features: vec!["crud".into()],
    };
    // Keep the notes unique and in the order they were made.
    let mut notes: Vec<String> = Vec::new();
    for n in m.notes {
        if !notes.contains(&n) {
            notes.push(n);
        }
    }

    Understanding { spec, notes }
}
