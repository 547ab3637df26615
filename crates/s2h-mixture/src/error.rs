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
    /// Holds the records file that is in the way.
    #[error(
        "`{0}` already exists: the directory holds a dataset; choose another directory or allow \
         overwriting"
    )]
    OutputExists(PathBuf),
    #[error(
        "`{path}` holds a complete dataset other than the one asked for ({reason}); delete the \
         directory or overwrite it"
    )]
    OutputDiffers { path: PathBuf, reason: String },
    #[error("{path}, line {line}: {reason}")]
    BadRecord {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("invalid dataset request: {0}")]
    InvalidRequest(String),
    #[error("unknown {what} `{given}`; expected one of: {expected}")]
    UnknownName {
        what: &'static str,
        given: String,
        expected: String,
    },
    #[error("invalid mixture: {0}")]
    InvalidMixture(String),
    #[error("invalid training plan{}: {reason}", .path.as_ref().map(|p| format!(" `{}`", p.display())).unwrap_or_default())]
    InvalidPlan {
        path: Option<PathBuf>,
        reason: String,
    },
    #[error(
        "training seed {0} is 2^63 or more; seeds with the top bit set are reserved for evaluation \
         sets: use a seed below 2^63 = 9223372036854775808 for training data, and write an \
         evaluation set as one (`generate eval-set`, `write_eval_set`: its base seed gets the top \
         bit)"
    )]
    TrainingSeed(u64),
    /// A record read as training data is an evaluation instance.
    #[error(
        "record {position} (`{id}`) is an evaluation instance: its seed {seed} has the top bit \
         set, which only evaluation sets use; train on data written with a seed below 2^63 \
         (a range, mixture or plan), never on an evaluation set"
    )]
    EvalRecord {
        position: usize,
        id: String,
        seed: u64,
    },
    #[error(
        "refusing to write a training set that overlaps an evaluation set: training record `{train_id}` has the same text rendering as evaluation record `{eval_id}`"
    )]
    EvalOverlap { train_id: String, eval_id: String },
    #[error("reading the evaluation set `{path}`: {error}")]
    EvalSet {
        path: PathBuf,
        error: Box<MixtureError>,
    },
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error("`{path}` {reason}")]
    DirInUse { path: PathBuf, reason: String },
    #[error("manifest check failed for `{path}`: {reason}")]
    ManifestMismatch { path: PathBuf, reason: String },
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
