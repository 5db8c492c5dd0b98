//! The analyst agent under its shipped policy: the request parser without a
//! model; with one, the model's spec through the LLM capability, checked
//! against the request and repaired or replaced when it is not the one the
//! request describes.

mod support;

use nexus::config::{BackendConfig, BackendKind, LlmConfig};
use nexus::project::Project;
use nexus::runtime::{Runtime, RuntimeOptions};
use serde_json::{Value, json};
use support::llm_server::{Behavior, LlmServer};

async fn analyst(llm: LlmConfig) -> (std::sync::Arc<Project>, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(std::env::temp_dir().join("nexus-test-component-cache")),
        llm,
        ..Default::default()
    })
    .unwrap();
    let policy = nexus::policy::Policy::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/analyst.toml"),
    )
    .unwrap();
    let agent = rt
        .load_agent(&support::component("analyst"), policy)
        .await
        .unwrap();
    let project = Project::open(rt, "analysis", "t1", &dir.path().join("p")).unwrap();
    project.add_agent(agent);
    (project, dir)
}

async fn analyze(project: &std::sync::Arc<Project>, description: &str) -> Value {
    let out = project
        .run(
            "analyst",
            "analyze",
            &json!({ "description": description }).to_string(),
        )
        .await
        .unwrap();
    serde_json::from_str(&out.payload).unwrap()
}

fn entities(v: &Value) -> Vec<&str> {
    v["spec"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn without_a_model_the_parser_reads_the_three_reference_requests() {
    let (p, _dir) = analyst(LlmConfig::default()).await;

    let todo = analyze(&p, "todo app").await;
    assert_eq!(todo["source"], "parser");
    assert!(todo["note"].as_str().unwrap().contains("no model answers"));
    assert_eq!(entities(&todo), ["Todo"]);
    let fields: Vec<&str> = todo["spec"]["entities"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"title") && fields.contains(&"done"),
        "{fields:?}"
    );

    let blog = analyze(&p, "blog with posts, comments and users").await;
    assert_eq!(entities(&blog), ["Post", "Comment"]);
    assert_eq!(blog["spec"]["auth"], true);
    assert_eq!(blog["spec"]["relations"][0]["from"], "Comment");
    assert_eq!(blog["spec"]["relations"][0]["to"], "Post");
    assert_eq!(blog["spec"]["relations"][0]["field"], "post_id");
    assert_eq!(blog["spec"]["entities"][1]["plural"], "comments");

    let inventory = analyze(&p, "inventory with products, suppliers and orders").await;
    assert_eq!(entities(&inventory), ["Product", "Supplier", "Order"]);
    assert_eq!(inventory["spec"]["auth"], false);
    assert_eq!(inventory["spec"]["relations"].as_array().unwrap().len(), 2);
    // Why: which words led to each decision.
    assert!(
        inventory["understood"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("Product → Supplier")),
        "{inventory}"
    );
}

fn library_spec() -> Value {
    json!({
        "name": "library", "title": "Library", "auth": true,
        "entities": [
            {"name": "Book", "fields": [{"name": "title", "type": "string", "required": true}, {"name": "isbn", "type": "string"}]},
            {"name": "Author", "fields": [{"name": "name", "type": "string", "required": true}]},
            {"name": "Loan", "fields": [{"name": "borrower", "type": "string", "required": true}, {"name": "due_date", "type": "date", "required": true}, {"name": "returned", "type": "boolean"}]}
        ],
        "relations": [{"from": "Book", "to": "Author"}, {"from": "Loan", "to": "Book", "required": true}],
        "features": ["due date reminders"]
    })
}

fn with_model(server: &LlmServer) -> LlmConfig {
    LlmConfig {
        backend: Some(BackendConfig {
            kind: BackendKind::Ollama,
            base_url: server.ollama_url(),
            api_key: None,
            keep_alive: None,
            num_ctx: None,
        }),
        retries: 0,
        ..LlmConfig::default()
    }
}

#[tokio::test]
async fn with_a_model_the_spec_comes_from_it_under_a_schema() {
    let server = LlmServer::start().await;
    server.script(
        "deepseek-coder:6.7b",
        Behavior::Reply(vec![library_spec().to_string()]),
    );
    let (p, _dir) = analyst(with_model(&server)).await;
    let v = analyze(&p, "a library with books, authors and loans").await;
    assert_eq!(v["source"], "llm", "{v}");
    assert_eq!(entities(&v), ["Book", "Author", "Loan"]);
    let loan = &v["spec"]["entities"][2];
    assert_eq!(loan["plural"], "loans");
    assert!(
        loan["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "due_date" && f["type"] == "date")
    );
    assert_eq!(v["spec"]["relations"][1]["field"], "book_id");
    // The request carried the spec schema as Ollama's `format`.
    let sent = server.chat_requests("deepseek-coder:6.7b");
    assert_eq!(
        sent[0].body["format"]["required"],
        json!(["name", "title", "auth", "entities"])
    );
    assert_eq!(sent[0].body["options"]["temperature"], 0.0);
}

#[tokio::test]
async fn a_relation_to_a_missing_entity_is_dropped_and_the_model_spec_repaired() {
    let server = LlmServer::start().await;
    let mut broken = library_spec();
    broken["relations"] =
        json!([{"from": "Loan", "to": "Member"}, {"from": "Book", "to": "Author"}]);
    server.script(
        "deepseek-coder:6.7b",
        Behavior::Reply(vec![broken.to_string()]),
    );
    let (p, _dir) = analyst(with_model(&server)).await;
    let v = analyze(&p, "a library with books, authors and loans").await;
    assert_eq!(v["source"], "llm");
    assert_eq!(v["check"]["verdict"], "repaired", "{v}");
    assert!(
        v["check"]["reasons"]
            .to_string()
            .contains("dropped relation Loan → Member"),
        "{v}"
    );
    assert_eq!(entities(&v), ["Book", "Author", "Loan"]);
    assert_eq!(v["spec"]["relations"].as_array().unwrap().len(), 1, "{v}");
}

/// A schema-valid answer about something else: an entity named after the
/// app, a relation to an entity that does not exist. The project is still
/// the one the request describes, and the answer says the model's spec was
/// replaced and why.
#[tokio::test]
async fn an_ungrounded_model_spec_is_replaced_by_the_parsers() {
    let server = LlmServer::start().await;
    let nonsense = json!({
        "name": "todo", "title": "ToDo App", "auth": false,
        "entities": [
            {"name": "TodoApp", "fields": [{"name": "name", "type": "string", "required": true}]},
            {"name": "Widget", "fields": [{"name": "label", "type": "string"}]}
        ],
        "relations": [{"from": "Widget", "to": "Gadget"}]
    });
    server.script(
        "deepseek-coder:6.7b",
        Behavior::Reply(vec![nonsense.to_string()]),
    );
    let (p, _dir) = analyst(with_model(&server)).await;
    let v = analyze(&p, "a todo app with users and tags").await;
    assert_eq!(v["source"], "parser", "{v}");
    assert_eq!(v["check"]["verdict"], "replaced", "{v}");
    let reasons = v["check"]["reasons"].to_string();
    assert!(reasons.contains("`TodoApp` names the app"), "{reasons}");
    assert!(
        reasons.contains("`Widget` is not named in the request"),
        "{reasons}"
    );
    assert!(reasons.contains("Widget → Gadget"), "{reasons}");
    let names = entities(&v);
    assert!(
        names.contains(&"Todo") && names.contains(&"Tag"),
        "{names:?}"
    );
    assert_eq!(v["spec"]["auth"], true);
}
