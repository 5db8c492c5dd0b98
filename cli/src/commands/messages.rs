//! `nexus messages`: a project's message history from the journal.

use super::failure::Failure;
use super::{Global, journal_of, runtime};

pub(crate) async fn messages(g: &Global, id: &str, limit: u32, json: bool) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let journal = journal_of(&rt)?;
    for e in journal.history(id, limit).await? {
        let m = &e.message;
        let state = match &e.state {
            nexus::bus::State::Pending => "pending",
            nexus::bus::State::Done(_) => "done",
            nexus::bus::State::Dead(_) => "dead",
        };
        if json {
            nexus::say!(
                "{}",
                nexus::text::json_line(&serde_json::json!({
                    "id": m.id, "from": m.sender, "to": m.recipient, "kind": m.kind, "state": state,
                    "attempt": m.attempt, "created": e.created, "updated": e.updated, "error": e.last_error,
                }))
            );
        } else {
            let clip = |s: &str, n| nexus::text::clip(s, n);
            nexus::say!(
                "{} {:<8} {:>12} -> {:<12} {:<20} attempt {} {}",
                clip(&m.id, 12),
                state,
                clip(&m.sender, 12),
                clip(&m.recipient, 12),
                clip(&m.kind, 20),
                m.attempt,
                e.last_error
                    .as_deref()
                    .map(|s| clip(s, 120))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}
