use crate::{Split, TaskKind};

/// Everything that can go wrong while generating or checking task instances.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("task {task} has no `{split}` split; use one of: {available}")]
    UnsupportedSplit {
        task: TaskKind,
        split: Split,
        available: String,
    },
    #[error("invalid {task} configuration: {reason}")]
    InvalidConfig { task: TaskKind, reason: String },
    #[error(
        "could not generate {task}/{split} instance (seed {seed}, index {index}) within {attempts} attempts; \
         the configuration is probably too tight (e.g. a table too small for the requested path lengths)"
    )]
    GenerationFailed {
        task: TaskKind,
        split: Split,
        seed: u64,
        index: u64,
        attempts: u32,
    },
    #[error("unknown {what} `{given}`; expected one of: {expected}")]
    UnknownName {
        what: &'static str,
        given: String,
        expected: String,
    },
    #[error("an answer for task {answer} cannot be checked against a {instance} instance")]
    TaskMismatch {
        instance: TaskKind,
        answer: TaskKind,
    },
}

pub type Result<T, E = TaskError> = std::result::Result<T, E>;
