//! The built-in analysis: known nouns and their usual fields and relations,
//! read from the request. It knows to-do lists, blogs and inventories well
//! and gives any other noun a sensible record.

use nexus_spec::{Entity, Field, Relation, Spec, slug};

fn field(name: &str, kind: &str, required: bool) -> Field {
    Field {
        name: name.into(),
        kind: kind.into(),
        required,
    }
}

/// Fields of nouns the heuristic knows.
fn known(noun: &str) -> Option<(&'static str, Vec<Field>)> {
    Some(match noun {
        "todo" | "task" => (
            "Todo",
            vec![
                field("title", "string", true),
                field("description", "text", false),
                field("done", "boolean", false),
                field("due_date", "date", false),
                field("priority", "integer", false),
            ],
        ),
        "tag" | "label" => (
            "Tag",
            vec![
                field("name", "string", true),
                field("color", "string", false),
            ],
        ),
        "post" | "article" => (
            "Post",
            vec![
                field("title", "string", true),
                field("body", "text", true),
                field("published", "boolean", false),
                field("published_at", "datetime", false),
            ],
        ),
        "comment" => (
            "Comment",
            vec![
                field("body", "text", true),
                field("author_name", "string", false),
            ],
        ),
        "product" => (
            "Product",
            vec![
                field("name", "string", true),
                field("sku", "string", true),
                field("description", "text", false),
                field("price", "number", true),
                field("quantity", "integer", false),
            ],
        ),
        "supplier" | "vendor" => (
            "Supplier",
            vec![
                field("name", "string", true),
                field("email", "email", false),
                field("phone", "string", false),
            ],
        ),
        "order" | "purchase" => (
            "Order",
            vec![
                field("quantity", "integer", true),
                field("status", "string", false),
                field("order_date", "date", false),
            ],
        ),
        "customer" | "client" => (
            "Customer",
            vec![
                field("name", "string", true),
                field("email", "email", false),
                field("address", "text", false),
            ],
        ),
        "category" => (
            "Category",
            vec![
                field("name", "string", true),
                field("description", "text", false),
            ],
        ),
        "note" => (
            "Note",
            vec![
                field("title", "string", true),
                field("content", "text", false),
            ],
        ),
        "event" => (
            "Event",
            vec![
                field("title", "string", true),
                field("starts_at", "datetime", true),
                field("location", "string", false),
            ],
        ),
        "book" => (
            "Book",
            vec![
                field("title", "string", true),
                field("isbn", "string", false),
                field("published_year", "integer", false),
            ],
        ),
        "author" => (
            "Author",
            vec![field("name", "string", true), field("bio", "text", false)],
        ),
        _ => return None,
    })
}

/// Many-to-one links between nouns the heuristic knows: (from, to, required).
const LINKS: &[(&str, &str, bool)] = &[
    ("Comment", "Post", true),
    ("Post", "Category", false),
    ("Product", "Supplier", false),
    ("Product", "Category", false),
    ("Order", "Product", true),
    ("Order", "Customer", false),
    ("Todo", "Tag", false),
    ("Todo", "Category", false),
    ("Book", "Author", false),
    ("Note", "Category", false),
];

/// Entities whose rows belong to the user who made them, when there is auth.
const OWNED: &[&str] = &["Todo", "Post", "Comment", "Note", "Order"];

const AUTH_WORDS: &[&str] = &[
    "user",
    "users",
    "login",
    "log",
    "auth",
    "authentication",
    "account",
    "accounts",
    "sign",
    "signup",
];

/// Words that are never entities.
const STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "app",
    "application",
    "with",
    "and",
    "or",
    "for",
    "of",
    "to",
    "simple",
    "small",
    "web",
    "system",
    "manager",
    "management",
    "tracker",
    "tracking",
    "site",
    "website",
    "service",
    "api",
    "that",
    "has",
    "have",
    "which",
    "my",
    "our",
    "their",
    "list",
    "lists",
    "in",
    "on",
    "by",
    "build",
    "make",
    "create",
    "me",
    "please",
    "using",
    "fastapi",
    "react",
    "backend",
    "frontend",
    "basic",
    "full",
    "stack",
    "crud",
    "where",
    "can",
    "each",
];

fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    if word.ends_with("sses")
        || word.ends_with("xes")
        || word.ends_with("ches")
        || word.ends_with("shes")
    {
        return word[..word.len() - 2].to_string();
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
}

fn pascal(word: &str) -> String {
    let mut c = word.chars();
    c.next().map_or(String::new(), |f| {
        f.to_ascii_uppercase().to_string() + c.as_str()
    })
}

pub fn analyze(request: &str) -> Spec {
    let lower = request.to_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let auth = words.iter().any(|w| AUTH_WORDS.contains(&w.as_str()));

    let mut entities: Vec<Entity> = Vec::new();
    let add = |entities: &mut Vec<Entity>, name: &str, fields: Vec<Field>| {
        if !entities.iter().any(|e| e.name == name) {
            entities.push(Entity {
                name: name.to_string(),
                plural: String::new(),
                fields,
                owned: false,
            });
        }
    };
    // Domain words imply their core entities.
    if words
        .iter()
        .any(|w| w == "todo" || w == "todos" || w == "tasks")
    {
        let (n, f) = known("todo").unwrap();
        add(&mut entities, n, f);
    }
    if words.iter().any(|w| w == "blog") {
        let (n, f) = known("post").unwrap();
        add(&mut entities, n, f);
    }
    if words
        .iter()
        .any(|w| w == "inventory" || w == "shop" || w == "store")
    {
        let (n, f) = known("product").unwrap();
        add(&mut entities, n, f);
    }
    // Every other noun becomes an entity: known ones with their fields,
    // unknown ones (after "with", or in a list) with a name and description.
    let listed: Vec<String> = match lower.split_once(" with ") {
        Some((_, rest)) => rest
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    for w in &words {
        let noun = singular(w);
        if AUTH_WORDS.contains(&w.as_str())
            || AUTH_WORDS.contains(&noun.as_str())
            || STOP.contains(&w.as_str())
        {
            continue;
        }
        if let Some((n, f)) = known(&noun) {
            add(&mut entities, n, f);
        } else if listed.contains(w)
            && noun.len() >= 3
            && noun.chars().all(|c| c.is_ascii_lowercase())
        {
            add(
                &mut entities,
                &pascal(&noun),
                vec![
                    field("name", "string", true),
                    field("description", "text", false),
                ],
            );
        }
    }
    if entities.is_empty() {
        add(
            &mut entities,
            "Item",
            vec![
                field("name", "string", true),
                field("description", "text", false),
            ],
        );
    }
    for e in &mut entities {
        e.owned = auth && OWNED.contains(&e.name.as_str());
    }
    let relations = LINKS
        .iter()
        .filter(|(from, to, _)| {
            entities.iter().any(|e| e.name == *from) && entities.iter().any(|e| e.name == *to)
        })
        .map(|(from, to, required)| Relation {
            from: (*from).into(),
            to: (*to).into(),
            field: String::new(),
            required: *required,
        })
        .collect();

    let title: String = {
        let domain = ["todo", "blog", "inventory", "shop", "library", "store"]
            .iter()
            .find(|d| words.iter().any(|w| w == *d || singular(w) == **d));
        match domain {
            Some(d) => format!("{} App", pascal(d)),
            None => pascal(&entities[0].name.to_lowercase()) + " App",
        }
    };
    let mut features = vec!["crud".to_string()];
    if words
        .iter()
        .any(|w| w == "search" || w == "filter" || w == "filtering")
    {
        features.push("search".into());
    }
    Spec {
        name: slug(&title),
        title,
        auth,
        entities,
        relations,
        features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &Spec) -> Vec<&str> {
        s.entities.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn todo_app() {
        let s = analyze("a todo app").normalised().unwrap();
        assert_eq!(names(&s), ["Todo"]);
        assert!(!s.auth);
        assert_eq!(s.name, "todo-app");
    }

    #[test]
    fn todo_app_with_users_and_tags() {
        let s = analyze("a todo app with users and tags")
            .normalised()
            .unwrap();
        assert_eq!(names(&s), ["Todo", "Tag"]);
        assert!(s.auth && s.entities[0].owned);
        assert_eq!(s.relations[0].field, "tag_id");
    }

    #[test]
    fn blog() {
        let s = analyze("blog with posts, comments and users")
            .normalised()
            .unwrap();
        assert_eq!(names(&s), ["Post", "Comment"]);
        assert!(s.auth);
        assert_eq!(
            (s.relations[0].from.as_str(), s.relations[0].to.as_str()),
            ("Comment", "Post")
        );
    }

    #[test]
    fn inventory() {
        let s = analyze("inventory with products, suppliers and orders")
            .normalised()
            .unwrap();
        assert_eq!(names(&s), ["Product", "Supplier", "Order"]);
        assert!(!s.auth);
        let rel: Vec<(&str, &str)> = s
            .relations
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str()))
            .collect();
        assert_eq!(rel, [("Product", "Supplier"), ("Order", "Product")]);
    }

    #[test]
    fn unknown_nouns_get_a_record() {
        let s = analyze("a garden planner with plants, beds and seasons")
            .normalised()
            .unwrap();
        assert_eq!(names(&s), ["Plant", "Bed", "Season"]);
    }
}
