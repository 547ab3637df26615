use s2h_tasks::TaskKind;

/// Why a model's output could not be read back as a structured answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no line starting with `Answer:` was found")]
    NoAnswerLine,
    #[error("the output has conflicting answer lines: `{first}` and `{second}`")]
    Ambiguous { first: String, second: String },
    #[error("cannot read the {task} answer `{line}`: {reason}")]
    Malformed {
        task: TaskKind,
        line: String,
        reason: String,
    },
}

pub type Result<T, E = ParseError> = std::result::Result<T, E>;
