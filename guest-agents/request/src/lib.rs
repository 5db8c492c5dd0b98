//! The request parser: one English sentence asking for an app becomes a
//! spec — the entities it keeps (nouns and compound nouns), their typed
//! fields with ranges and choices, the relations the verbs and
//! prepositions state, whether people log in — with no LLM. Every decision
//! carries a note saying which words led to it.
//!
//! It reads with a lexicon (`lexicon.txt`: what kind of thing a noun
//! names, what type an attribute word has, what a verb does to its subject
//! and object) and a shallow grammar (noun phrases, `with` lists,
//! prepositions, relative clauses, verb phrases).

mod grammar;
mod ground;
mod lexicon;
mod meaning;
mod words;

pub use ground::{Grounded, Verdict, ground};
pub use meaning::Understanding;
use nexus_spec::Spec;

/// Reads `request` into a spec that holds together (see
/// [`Spec::normalised`]), and the notes that say why.
pub fn understand(request: &str) -> Understanding {
    let mut u = meaning::understand(request);
    match u.spec.clone().normalised() {
        Ok(spec) => u.spec = spec,
        Err(e) => {
            // Relations are the likeliest to clash; the entities stand.
            u.notes.push(format!("relations dropped: {e}"));
            u.spec.relations.clear();
            u.spec = u
                .spec
                .clone()
                .normalised()
                .unwrap_or_else(|_| fallback(request));
        }
    }
    u
}

/// The spec of last resort: one entity of items.
fn fallback(request: &str) -> Spec {
    Spec {
        name: nexus_spec::slug(request),
        title: "App".into(),
        auth: false,
        entities: vec![nexus_spec::Entity {
            name: "Item".into(),
            plural: String::new(),
            fields: vec![
                nexus_spec::Field::new("name", "string", true),
                nexus_spec::Field::new("description", "text", false),
            ],
            owned: false,
        }],
        relations: Vec::new(),
        features: vec!["crud".into()],
    }
    .normalised()
    .expect("the fallback spec holds together")
}

/// The grammar's reading of `request`: parts of speech, then phrases (for
/// seeing why a request was understood as it was).
pub fn parse_tree(request: &str) -> String {
    let (parse, tokens) = grammar::parse(request);
    let tags: Vec<String> = tokens
        .iter()
        .map(|t| format!("{}/{:?}", t.text, t.tag))
        .collect();
    format!("{}\n{parse:#?}", tags.join(" "))
}

/// A few lines a person reads: entities with their fields, relations.
pub fn summary(spec: &Spec) -> String {
    let mut out = format!(
        "{} ({}){}\n",
        spec.title,
        spec.name,
        if spec.auth { ", users log in" } else { "" }
    );
    for e in &spec.entities {
        let fields: Vec<String> = e
            .fields
            .iter()
            .map(|f| {
                let mut s = format!("{} {}", f.name, f.kind);
                if !f.choices.is_empty() {
                    s.push_str(&format!(" [{}]", f.choices.join("|")));
                }
                if f.min.is_some() || f.max.is_some() {
                    s.push_str(&format!(
                        " {}..{}",
                        f.min.map(nexus_spec::number_literal).unwrap_or_default(),
                        f.max.map(nexus_spec::number_literal).unwrap_or_default()
                    ));
                }
                if f.unique {
                    s.push_str(" unique");
                }
                if f.required {
                    s.push('!');
                }
                s
            })
            .collect();
        out.push_str(&format!(
            "  {}{}: {}\n",
            e.name,
            if e.owned { " (per user)" } else { "" },
            fields.join(", ")
        ));
    }
    for r in &spec.relations {
        match &r.through {
            Some(t) => out.push_str(&format!("  {} ↔ {} through {t}\n", r.from, r.to)),
            None => out.push_str(&format!(
                "  {} → {} ({}{})\n",
                r.from,
                r.to,
                r.field,
                if r.required { ", required" } else { "" }
            )),
        }
    }
    out
}
