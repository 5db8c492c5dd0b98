//! `nexus models`: the LLM backend's health, its models, and what each role
//! resolves to now.

use super::failure::Failure;
use super::{Global, runtime};

pub(crate) async fn models(g: &Global) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let llm = &rt.services().llm;
    let Some(backend) = &llm.config().backend else {
        nexus::say!(
            "no LLM backend is configured (NEXUS_LLM_BACKEND=none); agents use built-in planning and templates"
        );
        return Ok(());
    };
    let started = std::time::Instant::now();
    let listed = llm.list_models(std::time::Duration::from_secs(5)).await;
    let took = started.elapsed().as_millis();
    let available = match listed {
        Ok(models) => {
            nexus::say!(
                "{}: ok, {} models ({took} ms)",
                llm.backend_name(),
                models.len()
            );
            for m in &models {
                nexus::say!("  {m}");
            }
            models
        }
        Err(e) => {
            nexus::say!(
                "no LLM backend answers: {} ({e}); agents will use built-in planning and templates",
                llm.backend_name()
            );
            Vec::new()
        }
    };
    nexus::say!("roles ({}):", backend.kind.name());
    let mut roles: Vec<&String> = llm.config().models.keys().collect();
    roles.sort();
    for role in roles {
        let chain = llm.config().chain(role);
        match llm.resolve(role, &available) {
            Some(m) if Some(&m) == chain.first() => nexus::say!("  {role:<13} -> {m}"),
            Some(m) => nexus::say!("  {role:<13} -> {m} (fallback; {} is missing)", chain[0]),
            None => nexus::say!("  {role:<13} -> none of {chain:?} is available"),
        }
    }
    Ok(())
}
