use std::path::PathBuf;

/// Everything that can go wrong in an analysis, with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("{0}")]
    Invalid(String),
    #[error("`{path}`: {message}")]
    File { path: PathBuf, message: String },
    #[error("evaluation set `{path}`: {message}")]
    Set { path: PathBuf, message: String },
    #[error(transparent)]
    Train(#[from] s2h_train::TrainError),
    #[error(transparent)]
    Vlm(#[from] s2h_vlm::VlmError),
    #[error(transparent)]
    Eval(#[from] s2h_eval::EvalError),
    #[error(transparent)]
    Mixture(#[from] s2h_mixture::MixtureError),
    #[error(transparent)]
    Projection(#[from] crate::projection::ProjectionError),
}

impl AnalysisError {
    pub(crate) fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        AnalysisError::File {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

pub type Result<T, E = AnalysisError> = std::result::Result<T, E>;
