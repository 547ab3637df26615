use std::path::PathBuf;

/// Everything that can go wrong in `s2h-vlm`, with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum VlmError {
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    #[error("unknown preset `{0}`; expected one of: tiny, small, base, quickstart")]
    UnknownPreset(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("batch: {0}")]
    Batch(String),
    #[error("invalid generation options: {0}")]
    InvalidOptions(String),
    #[error(
        "prompt `{id}` is {len} tokens long but the model's context holds {max}; use a model of a \
         longer context (`max_seq_len`) or a shorter prompt"
    )]
    PromptTooLong { id: String, len: usize, max: usize },
    // The cause is in the message, not also a `source` (a CLI's `{:#}` would print it twice).
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    ModelDir { path: PathBuf, message: String },
    #[error("unknown backend `{0}`; expected one of: flex, ndarray, wgpu, cuda")]
    UnknownBackend(String),
    #[error(
        "backend `{name}` was not compiled in; rebuild with `--features {name}` (compiled in: {compiled})"
    )]
    BackendNotCompiled {
        name: &'static str,
        compiled: String,
    },
    #[error("backend `{name}` has no usable device: {message}")]
    NoDevice { name: &'static str, message: String },
}

pub type Result<T, E = VlmError> = std::result::Result<T, E>;

impl VlmError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        VlmError::Io {
            path: path.into(),
            error,
        }
    }
}
