//! Scoring of any model's outputs on s2h evaluation sets (SPEC §13), without a model: parse
//! each output with the task's parser ([`s2h_cot::parse_answer`]), verify it
//! ([`s2h_tasks::Instance::verify`]), read the chain of thought of the table tasks step by
//! step, and aggregate per task and split.
//!
//! ```no_run
//! # fn main() -> Result<(), s2h_eval::EvalError> {
//! use std::path::Path;
//!
//! let scored = s2h_eval::score_files(Path::new("data/ctr-hard"), Path::new("preds.jsonl"))?;
//! println!("{}", s2h_eval::render_table(&scored.metrics));
//! let files = scored.write(Path::new("results/metrics.json"))?;
//! # let _ = files;
//! # Ok(())
//! # }
//! ```
//!
//! With the default `model` feature, [`evaluate_model`] generates a model's outputs on an eval
//! set (`s2h_vlm::generate`, prompts from `s2h_train::Processor`) and scores them the same way
//! (`docs/evaluation.md`); `default-features = false` leaves the crate free of Burn.
//!
//! Also: the S2H table ([`s2h_table`]) and the loss-curve chart ([`charts`]) that the
//! quickstart and the figure pipeline write, and the failure modes of paper appendix K
//! ([`failure_modes`]: Fig 30, Fig 31, Table 14) computed from scored results.
//!
//! Files: a predictions file is JSONL with one `{"id", "output"}` object per eval record, or
//! the `.xlsx` result file of a VLMEvalKit run on the eval set's TSV ([`vlmevalkit`]);
//! results are `metrics.json` ([`Metrics`]) and, beside it, `metrics.per_example.jsonl`
//! ([`ExampleResult`] per line; an evaluation adds what generation did). `docs/scoring.md`
//! defines every metric.

pub mod charts;
pub mod convert;
mod error;
mod eval_set;
#[cfg(feature = "model")]
pub mod evaluate;
mod example;
pub mod failure_modes;
mod metrics;
mod predictions;
mod report;
pub mod s2h_table;
pub mod vlmevalkit;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use s2h_mixture::Record;
use serde::Serialize;

pub use error::{EvalError, LISTED_IDS, Result};
pub use eval_set::{check_task, read_eval_set};
#[cfg(feature = "model")]
pub use evaluate::{
    EvalOptions, EvalReport, LoadedModel, PredictionRecord, evaluate_dirs, evaluate_model,
    evaluate_model_with_progress, evaluate_on, load_model_dir,
};
pub use example::{
    ExampleResult, OptionOnly, StepFieldAccuracy, TableCotScore, score_output, score_parsed,
    score_record, score_table_cot,
};
pub use failure_modes::{
    GridCotScore, GridFailureModes, Table14Row, TableFailureModes, VaCotScore, grid_failure_modes,
    table_failure_modes, table14,
};
pub use metrics::{
    GroupMetrics, Metrics, ParseFailure, aggregate, display_order, is_rate, main_accuracy, names,
    verdict_metrics,
};
pub use predictions::{Prediction, match_predictions, read_predictions, read_predictions_for};
pub use report::{
    METRICS_FILE, PER_EXAMPLE_SUFFIX, per_example_path, read_example_results, read_metrics,
    render_table, write_example_results, write_metrics,
};
pub use vlmevalkit::read_vlmevalkit_results;

/// The outcome of scoring a predictions file: one result per eval record, in eval-set order,
/// and their metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub results: Vec<ExampleResult>,
    pub metrics: Metrics,
}

/// Where [`Scored::write`] put its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoredFiles {
    pub metrics: PathBuf,
    pub per_example: PathBuf,
}

impl Scored {
    /// Write `metrics_path` (pretty JSON) and the per-example results beside it
    /// ([`per_example_path`]).
    pub fn write(&self, metrics_path: &Path) -> Result<ScoredFiles> {
        let per_example = per_example_path(metrics_path);
        write_metrics(metrics_path, &self.metrics)?;
        write_example_results(&per_example, &self.results)?;
        Ok(ScoredFiles {
            metrics: metrics_path.to_path_buf(),
            per_example,
        })
    }
}

/// Score predictions against eval records: every record needs exactly one prediction and every
/// prediction must belong to a record ([`match_predictions`]).
pub fn score(records: &[Record], predictions: &[Prediction]) -> Result<Scored> {
    let results = match_predictions(records, predictions)?
        .into_iter()
        .map(|(record, prediction)| score_record(record, &prediction.output))
        .collect::<Result<Vec<_>>>()?;
    let metrics = aggregate(&results);
    Ok(Scored { results, metrics })
}

/// Read an eval set (a dataset directory or its `records.jsonl`) and a predictions file (JSONL,
/// or a VLMEvalKit result `.xlsx`: [`read_predictions_for`]), and score them.
pub fn score_files(eval: &Path, predictions: &Path) -> Result<Scored> {
    let records = s2h_mixture::read_records(eval)?;
    let predictions = read_predictions_for(predictions, &records)?;
    score(&records, &predictions)
}
