//! `nexus policy check`: policy files, each error with file, line and fix.

use super::failure::Failure;
use clap::Subcommand;
use nexus::policy::Policy;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Check policy files and summarise what each grants; every error names
    /// the file, the line and a fix.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(crate) fn policy(command: PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Check { files } => policy_check(&files),
    }
}

pub(crate) fn policy_check(files: &[PathBuf]) -> Result<(), Failure> {
    let mut bad = 0;
    for f in files {
        match Policy::load(f) {
            Ok(p) => nexus::say!("ok    {}: {}", f.display(), p.summary()),
            Err(e) => {
                bad += 1;
                nexus::say!("error {e}");
            }
        }
    }
    if bad > 0 {
        return Err(Failure::bad_input(format!(
            "{bad} of {} policies have errors",
            files.len()
        )));
    }
    Ok(())
}
