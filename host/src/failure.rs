//! Why a command failed: one line for the user and the exit code it maps to
//! (0 ok · 1 the task failed · 2 bad input · 3 denied · 4 trap or limit ·
//! 5 timed out).

use crate::runtime::LoadError;
use crate::task::TaskFailure;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A task that did not succeed, with the exit code of its kind.
    pub fn task(f: &TaskFailure) -> Failure {
        Failure::new(f.exit_code() as u8, f.to_string())
    }

    /// A component that would not load: 3 when its sha256 does not match
    /// the policy's pin (a refusal), 2 otherwise.
    pub fn load(e: LoadError) -> Failure {
        let code = if matches!(e, LoadError::HashMismatch { .. }) {
            3
        } else {
            2
        };
        Failure::new(code, e.to_string())
    }
}

/// Anything else that goes wrong on the way is bad input (exit 2).
impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(2, e.to_string())
    }
}
