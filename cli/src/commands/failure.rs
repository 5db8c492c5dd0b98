//! Why a command failed: one line for the user and the kind of failure
//! ([`Exit`]), which the command line turns into its exit code (0 ok · 1 the
//! task failed · 2 bad input · 3 denied · 4 trap or limit · 5 timed out).
//!
//! Every error reaches a [`Failure`] through a conversion that says which
//! kind it is; there is no catch-all.

use nexus::bindings::{Error, TaskError};
use nexus::bus::BrokerError;
use nexus::policy::PolicyError;
use nexus::runtime::LoadError;
use nexus::setup::SetupError;
use nexus::task::{Limit, TaskFailure};

/// The kinds of failure, each with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: the task, a gate or a stored step failed.
    TaskFailed,
    /// 2: bad input: arguments, a policy, the configuration, a task, a
    /// component.
    BadInput,
    /// 3: refused by a policy (or a component's pin).
    Denied,
    /// 4: a trap or a resource limit.
    Limit,
    /// 5: timed out.
    TimedOut,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::TaskFailed => 1,
            Exit::BadInput => 2,
            Exit::Denied => 3,
            Exit::Limit => 4,
            Exit::TimedOut => 5,
        }
    }
}

#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    /// Bad input, in the words of `e`.
    pub fn bad_input(e: impl std::fmt::Display) -> Failure {
        Failure::new(Exit::BadInput, e.to_string())
    }

    /// A task that did not succeed, with the kind of its failure.
    pub fn task(f: &TaskFailure) -> Failure {
        Failure::new(exit_of(f), f.to_string())
    }

    /// A component that would not load: denied when its sha256 does not
    /// match the policy's pin, bad input otherwise.
    pub fn load(e: LoadError) -> Failure {
        let exit = if matches!(e, LoadError::HashMismatch { .. }) {
            Exit::Denied
        } else {
            Exit::BadInput
        };
        Failure::new(exit, e.to_string())
    }
}

/// A policy or configuration file that does not read.
impl From<PolicyError> for Failure {
    fn from(e: PolicyError) -> Self {
        Failure::bad_input(e)
    }
}

/// A project id that belongs elsewhere, or a setup that does not read.
impl From<SetupError> for Failure {
    fn from(e: SetupError) -> Self {
        Failure::bad_input(e)
    }
}

/// The journal could not do what was asked.
impl From<BrokerError> for Failure {
    fn from(e: BrokerError) -> Self {
        Failure::new(Exit::TaskFailed, format!("the journal: {e}"))
    }
}

/// A generation that could not run.
impl From<nexus::generate::Error> for Failure {
    fn from(e: nexus::generate::Error) -> Self {
        use nexus::generate::Error as E;
        match e {
            E::BadInput(message) => Failure::new(Exit::BadInput, message),
            E::Load(e) => Failure::load(e),
            E::Task(f) => Failure::task(&f),
            E::Journal(e) => e.into(),
            E::Failed(message) => Failure::new(Exit::TaskFailed, message),
            E::Stopped => Failure::new(Exit::TaskFailed, "the generation was stopped"),
        }
    }
}

/// The kind of a task's failure (see `nexus run --help` for the codes).
fn exit_of(f: &TaskFailure) -> Exit {
    match f {
        // A denial the agent passed on is still a denial.
        TaskFailure::Refused(Error::Denied(_))
        | TaskFailure::Agent {
            error: TaskError::Capability(Error::Denied(_)),
            ..
        } => Exit::Denied,
        TaskFailure::Agent { .. } | TaskFailure::DeadLetter { .. } => Exit::TaskFailed,
        TaskFailure::Refused(_) => Exit::TaskFailed,
        TaskFailure::Limit {
            limit: Limit::WallTime,
            ..
        } => Exit::TimedOut,
        TaskFailure::Limit { .. } | TaskFailure::Trap { .. } => Exit::Limit,
    }
}
