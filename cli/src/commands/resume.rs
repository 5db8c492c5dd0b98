//! `nexus resume`: finish a project whose host was killed.

use super::failure::{Exit, Failure};
use super::{Global, journal_of, open_project, runtime};
use nexus::setup::Setup;

pub(crate) async fn resume(g: &Global, id: &str) -> Result<(), Failure> {
    let rt = runtime(g)?;
    let journal = journal_of(&rt)?;
    let setup = Setup::load(journal, id).await?.ok_or_else(|| Failure::bad_input(format!(
            "no project `{id}` in the journal; `nexus generate --name {id}` or `nexus run --project {id}` creates one"
        )))?;
    if setup.generation.is_some() {
        let progress = super::generate::Progress::new();
        let report = nexus::generate::resume(rt.clone(), id, &setup, progress.events()).await;
        progress.finish();
        return super::generate::summarize(&report?);
    }
    let (project, _) = open_project(&rt, id, &setup).await?;
    let report = project.resume().await.map_err(|f| Failure::task(&f))?;
    nexus::say!(
        "resumed `{id}`: {} messages delivered again, {} handled, {} failed",
        report.redelivered,
        report.handled,
        report.failed.len()
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::TaskFailed,
            format!(
                "{} messages failed for good (see `nexus messages {id}`)",
                report.failed.len()
            ),
        ))
    }
}
