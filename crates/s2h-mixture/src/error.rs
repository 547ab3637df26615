use std::path::PathBuf;

/// Everything that can go wrong while building or writing records.
#[derive(Debug, thiserror::Error)]
pub enum MixtureError {
    #[error(transparent)]
    Task(#[from] s2h_tasks::TaskError),
    #[error(transparent)]
    Render(#[from] s2h_render::RenderError),
    #[error("{action} `{path}`: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "`{0}` already holds a dataset (records.jsonl); choose another directory or allow overwriting"
    )]
    OutputExists(PathBuf),
    #[error("{path}, line {line}: {reason}")]
    BadRecord {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("invalid dataset request: {0}")]
    InvalidRequest(String),
}

impl MixtureError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| MixtureError::Io {
            action,
            path,
            error,
        }
    }
}

pub type Result<T, E = MixtureError> = std::result::Result<T, E>;
