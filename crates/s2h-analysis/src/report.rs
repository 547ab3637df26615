//! The files of an analysis: `OUT/step-<N>.json` per checkpoint ([`StepReport`]) and
//! `OUT/summary.csv` with one row per checkpoint, oldest first. No plotting: the figure pipeline
//! reads these.

use std::fs;
use std::path::{Path, PathBuf};

use crate::measure::StepReport;
use crate::{AnalysisError, Result};

pub const SUMMARY_FILE: &str = "summary.csv";

/// The columns of `summary.csv`, in order.
pub const SUMMARY_COLUMNS: [&str; 14] = [
    "step",
    "examples_seen",
    "loss_image_solution",
    "loss_conversion",
    "loss_solution_given_conversion",
    "grad_norm_mean",
    "alignment",
    "cosine",
    "adam_alignment",
    "adam_alignment_state",
    "projected_alignment",
    "projected_cosine",
    "n_simple",
    "n_hard",
];

pub fn step_file(out: &Path, step: u64) -> PathBuf {
    out.join(format!("step-{step}.json"))
}

/// Write `report` as `OUT/step-<N>.json` (atomically).
pub fn write_step(out: &Path, report: &StepReport) -> Result<PathBuf> {
    let path = step_file(out, report.step);
    let json = serde_json::to_string_pretty(report).map_err(|e| AnalysisError::file(&path, e))?;
    s2h_mixture::files::write_atomically(&path, json.as_bytes())?;
    Ok(path)
}

/// Read a `step-<N>.json`.
pub fn read_step(path: &Path) -> Result<StepReport> {
    let text = fs::read_to_string(path).map_err(|e| AnalysisError::file(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| AnalysisError::file(path, format!("not a step report: {e}")))
}

/// Every `step-<N>.json` in `out`, oldest first.
pub fn read_steps(out: &Path) -> Result<Vec<StepReport>> {
    let mut reports = Vec::new();
    for entry in fs::read_dir(out).map_err(|e| AnalysisError::file(out, e))? {
        let path = entry.map_err(|e| AnalysisError::file(out, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let is_step = name
            .strip_prefix("step-")
            .and_then(|s| s.strip_suffix(".json"))
            .is_some_and(|s| s.parse::<u64>().is_ok());
        if is_step {
            reports.push(read_step(&path)?);
        }
    }
    reports.sort_by_key(|r| r.step);
    Ok(reports)
}

/// `summary.csv` of `reports` (empty cells for values not measured).
pub fn summary_csv(reports: &[StepReport]) -> String {
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut csv = SUMMARY_COLUMNS.join(",");
    csv.push('\n');
    for r in reports {
        let cells = [
            r.step.to_string(),
            r.examples_seen.map(|e| e.to_string()).unwrap_or_default(),
            num(Some(r.loss_image_solution)),
            num(r.loss_conversion),
            num(r.loss_solution_given_conversion),
            num(Some(r.grad_norm_mean)),
            num(r.alignment),
            num(r.cosine),
            num(r.adam_alignment),
            num(r.adam_alignment_state),
            num(r.projected.as_ref().and_then(|p| p.alignment)),
            num(r.projected.as_ref().and_then(|p| p.cosine)),
            r.n_simple.to_string(),
            r.n_hard.to_string(),
        ];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

/// Rewrite `OUT/summary.csv` from every step report in `out`.
pub fn write_summary(out: &Path) -> Result<PathBuf> {
    let reports = read_steps(out)?;
    let path = out.join(SUMMARY_FILE);
    s2h_mixture::files::write_atomically(&path, summary_csv(&reports).as_bytes())?;
    Ok(path)
}
