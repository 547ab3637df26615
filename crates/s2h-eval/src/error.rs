use std::path::PathBuf;

/// Everything that can go wrong while scoring predictions or writing the results.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Task(#[from] s2h_tasks::TaskError),
    #[error(transparent)]
    Mixture(#[from] s2h_mixture::MixtureError),
    #[error(transparent)]
    Render(#[from] s2h_render::RenderError),
    #[cfg(feature = "model")]
    #[error(transparent)]
    Model(#[from] s2h_vlm::VlmError),
    #[cfg(feature = "model")]
    #[error(transparent)]
    Prompt(#[from] s2h_train::TrainError),
    #[error("{action} `{path}`: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path}, line {line}: {reason}; each line must be a JSON object such as \
         {{\"id\": \"ctr-simple-s0-i0-text\", \"output\": \"...\"}}"
    )]
    BadPrediction {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("`{path}`: {reason}")]
    BadSheet { path: PathBuf, reason: String },
    #[error("{path}, row {row}: {reason}")]
    BadSheetRow {
        path: PathBuf,
        row: usize,
        reason: String,
    },
    #[error("{path}, line {line}: not a per-example result: {reason}")]
    BadResult {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("`{path}` is not a metrics file written by s2h-eval: {reason}")]
    BadMetrics { path: PathBuf, reason: String },
    #[error("eval record `{id}` holds a malformed instance: {reason}; regenerate the eval set")]
    InvalidInstance { id: String, reason: String },
    #[error("the eval set holds no records; there is nothing to score")]
    EmptyEvalSet,
    #[error(
        "{count} id(s) appear in more than one eval record ({ids}); score each eval set on its own"
    )]
    DuplicateRecords { count: usize, ids: String },
    #[error("{count} id(s) have more than one prediction ({ids}); keep exactly one output per id")]
    DuplicatePredictions { count: usize, ids: String },
    #[error(
        "{count} prediction(s) have ids that are not in the eval set ({ids}); score predictions \
         against the eval set they were made for"
    )]
    UnknownIds { count: usize, ids: String },
    #[error(
        "{count} eval record(s) have no prediction ({ids}); every record of the eval set needs \
         exactly one prediction"
    )]
    MissingPredictions { count: usize, ids: String },
    #[error(
        "the eval set mixes tasks ({tasks}); a model is trained on one task, so evaluate each \
         task's eval set on its own"
    )]
    MixedTasks { tasks: String },
    #[error(
        "the eval set is for task `{found}` but the model is evaluated on `{expected}`; pass the \
         eval set of `{expected}` (or the task the model was trained on)"
    )]
    TaskMismatch {
        expected: s2h_tasks::TaskKind,
        found: s2h_tasks::TaskKind,
    },
    #[error(
        "the eval set is for task `{found}` but the model was trained on {tasks} (its \
         training.json says); pass the eval set of that task, or --task {found} to evaluate it on \
         this task anyway"
    )]
    NotTrainedOn {
        found: s2h_tasks::TaskKind,
        tasks: String,
    },
    #[error("`{path}` has no records.jsonl; pass an eval set written by `generate eval-set`")]
    NoEvalSet { path: PathBuf },
    #[error(
        "`{path}` already holds evaluation results; pass --overwrite to replace them or choose \
         another output directory"
    )]
    OutputExists { path: PathBuf },
    #[error("cannot serialise {what}: {error}")]
    Serialise {
        what: &'static str,
        error: serde_json::Error,
    },
}

impl EvalError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| EvalError::Io {
            action,
            path,
            error,
        }
    }
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// How many ids an error message lists before it says how many more there are.
pub const LISTED_IDS: usize = 5;

/// "`a`, `b`, `c`" or "`a`, `b`, … and 7 more".
pub(crate) fn list_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> (usize, String) {
    let ids: Vec<&str> = ids.into_iter().collect();
    let mut text = ids
        .iter()
        .take(LISTED_IDS)
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LISTED_IDS {
        text.push_str(&format!(", … and {} more", ids.len() - LISTED_IDS));
    }
    (ids.len(), text)
}
