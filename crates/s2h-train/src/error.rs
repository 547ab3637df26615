use std::path::PathBuf;

/// Everything that can go wrong in `s2h-train`, with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training configuration: {0}")]
    Config(String),
    #[error("training data `{path}`: {message}")]
    Data { path: PathBuf, message: String },
    #[error(
        "record `{id}` is {len} tokens long but the model's context holds {max}; shorten the record or raise `max_seq_len` (records are never truncated)"
    )]
    RecordTooLong { id: String, len: usize, max: usize },
    #[error("record `{id}`: {message}")]
    Record { id: String, message: String },
    #[error("prompt: {0}")]
    Prompt(String),
    #[error("image `{path}`: {message}")]
    Image { path: PathBuf, message: String },
    #[error(
        "run directory `{0}` already holds a run; pass --resume (`resume: true`) to continue it, or choose another --out"
    )]
    RunExists(PathBuf),
    #[error("cannot resume `{path}`: {message}")]
    Resume { path: PathBuf, message: String },
    #[error(
        "run directory `{0}` is in use: another process is training in it (it holds {0}/.lock); \
         wait for it to finish or choose another --out"
    )]
    RunInUse(PathBuf),
    #[error(
        "training diverged by update {step}: {what}; the run stopped without saving the diverged \
         weights{}; lower the learning rate or clip the gradient norm (clip_grad) and train again",
        .last_checkpoint.map(|s| format!(" (its last good checkpoint, of update {s}, is kept)")).unwrap_or_default()
    )]
    Diverged {
        step: u64,
        what: String,
        last_checkpoint: Option<u64>,
    },
    #[error("training data `{path}` holds evaluation instances: {message}")]
    EvalData { path: PathBuf, message: String },
    #[error("checkpoint `{path}`: {message}")]
    Checkpoint { path: PathBuf, message: String },
    // The cause is in the message, not also a `source` (a CLI's `{:#}` would print it twice).
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Model(#[from] s2h_vlm::VlmError),
    #[error(transparent)]
    Mixture(#[from] s2h_mixture::MixtureError),
    #[error("training `{out}` (in its own process): {message}")]
    Child { out: PathBuf, message: String },
    #[error("the training run in `{0}` stopped with a panic; this is a bug, please report it")]
    Panicked(PathBuf),
    /// Only raised by the failure injection of the tests (`TrainConfig::fail_checkpoint_at`).
    #[error("injected failure while writing the checkpoint of step {0}")]
    InjectedFailure(u64),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    /// What went wrong with a prompt, without the error kind's prefix (for a message that names
    /// the record instead).
    pub(crate) fn prompt_message(&self) -> String {
        match self {
            TrainError::Prompt(m) => m.clone(),
            TrainError::Model(s2h_vlm::VlmError::Tokenizer(m)) => m.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            error,
        }
    }
}
