use std::path::PathBuf;

/// Everything that can go wrong in `s2h-train`, with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training configuration: {0}")]
    Config(String),
    #[error("training data `{path}`: {message}")]
    Data { path: PathBuf, message: String },
    #[error(
        "run directory `{0}` already holds a run; pass --resume (`resume: true`) to continue it, or choose another --out"
    )]
    RunExists(PathBuf),
    #[error("cannot resume `{path}`: {message}")]
    Resume { path: PathBuf, message: String },
    #[error("checkpoint `{path}`: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Model(#[from] s2h_vlm::VlmError),
    #[error(transparent)]
    Mixture(#[from] s2h_mixture::MixtureError),
    /// Only raised by the failure injection of the tests (`TrainConfig::fail_checkpoint_at`).
    #[error("injected failure while writing the checkpoint of step {0}")]
    InjectedFailure(u64),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
