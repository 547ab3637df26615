//! Writing and reading the results — `metrics.json` and the per-example JSONL beside it — and
//! the plain-text table for people.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::metrics::{GroupMetrics, display_order, is_rate};
use crate::{EvalError, ExampleResult, Metrics, Result};

/// The metrics file of a scoring or an evaluation (`score --out DIR`, `evaluate --out DIR`).
pub const METRICS_FILE: &str = "metrics.json";

/// The suffix that names the per-example results file beside a metrics file.
pub const PER_EXAMPLE_SUFFIX: &str = ".per_example.jsonl";

/// How many parse failures per group the text table lists.
const LISTED_FAILURES: usize = 5;

/// The per-example results file written beside `metrics_path`: `DIR/metrics.json` →
/// `DIR/metrics.per_example.jsonl`.
pub fn per_example_path(metrics_path: &Path) -> PathBuf {
    let stem = metrics_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".to_string());
    metrics_path.with_file_name(format!("{stem}{PER_EXAMPLE_SUFFIX}"))
}

/// Write `metrics.json` as pretty JSON (through a temporary file, so a reader never sees half
/// of it). The parent directory is created if missing.
pub fn write_metrics(path: &Path, metrics: &Metrics) -> Result<()> {
    let mut text = serde_json::to_string_pretty(metrics).map_err(|error| EvalError::Serialise {
        what: "the metrics",
        error,
    })?;
    text.push('\n');
    write_atomically(path, text.as_bytes())
}

/// Read a `metrics.json` back.
pub fn read_metrics(path: &Path) -> Result<Metrics> {
    let text = fs::read_to_string(path).map_err(EvalError::io("cannot read", path))?;
    serde_json::from_str(&text).map_err(|e| EvalError::BadMetrics {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Write the per-example results, one JSON object per line, in eval-set order.
pub fn write_example_results(path: &Path, results: &[ExampleResult]) -> Result<()> {
    write_lines(path, results, "a per-example result")
}

/// Write one JSON object per line, atomically; `what` names an item in errors.
pub(crate) fn write_lines<T: serde::Serialize>(
    path: &Path,
    items: &[T],
    what: &'static str,
) -> Result<()> {
    let mut bytes = Vec::new();
    for item in items {
        let line =
            serde_json::to_string(item).map_err(|error| EvalError::Serialise { what, error })?;
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    write_atomically(path, &bytes)
}

/// Read a per-example results file back (`score`'s or `evaluate`'s: the generation fields an
/// evaluation adds are skipped).
pub fn read_example_results(path: &Path) -> Result<Vec<ExampleResult>> {
    let file = fs::File::open(path).map_err(EvalError::io("cannot open", path))?;
    let mut results = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let bad = |reason: String| EvalError::BadResult {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        results.push(ExampleResult::from_json_line(&line).map_err(bad)?);
    }
    Ok(results)
}

/// Write `bytes` through a temporary file renamed into place, so an interrupted run never
/// leaves half a file (the parent directory is created if missing).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(EvalError::io("cannot create directory", parent))?;
    }
    Ok(s2h_mixture::files::write_atomically(path, bytes)?)
}

/// A plain-text report: per task, one column per split present (and `all` when there are
/// several), one row per metric; then the first few unparseable outputs of each split.
pub fn render_table(metrics: &Metrics) -> String {
    let mut out = String::new();
    let mut tasks: Vec<_> = metrics.groups.iter().map(|g| g.task).collect();
    tasks.dedup();
    for (t, task) in tasks.into_iter().enumerate() {
        let splits: Vec<&GroupMetrics> = metrics
            .groups
            .iter()
            .filter(|g| g.task == task && g.split.is_some())
            .collect();
        let mut columns = splits.clone();
        if splits.len() > 1 {
            columns.extend(
                metrics
                    .groups
                    .iter()
                    .filter(|g| g.task == task && g.split.is_none()),
            );
        }
        let mut rows: Vec<(String, Vec<String>)> = vec![
            (
                "examples".to_string(),
                columns.iter().map(|g| g.examples.to_string()).collect(),
            ),
            (
                "parsed".to_string(),
                columns.iter().map(|g| g.parsed.to_string()).collect(),
            ),
        ];
        let mut names: Vec<String> = display_order(task).iter().map(|s| s.to_string()).collect();
        for g in &columns {
            for name in g.metrics.keys() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        for name in names {
            if columns.iter().all(|g| g.metric(&name).is_none()) {
                continue;
            }
            let cells = columns
                .iter()
                .map(|g| match g.metric(&name) {
                    None => "-".to_string(),
                    Some(v) if is_rate(&name) => format!("{:.1}%", v * 100.0),
                    Some(v) => format!("{v:.2}"),
                })
                .collect();
            rows.push((name, cells));
        }

        let header: Vec<String> = columns
            .iter()
            .map(|g| match g.split {
                Some(s) => s.to_string(),
                None => "all".to_string(),
            })
            .collect();
        let name_width = rows
            .iter()
            .map(|(n, _)| n.len())
            .chain([task.name().len()])
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..columns.len())
            .map(|c| {
                rows.iter()
                    .map(|(_, cells)| cells[c].chars().count())
                    .chain([header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        if t > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{:<name_width$}", task.name());
        for (h, w) in header.iter().zip(&widths) {
            let _ = write!(out, "  {h:>w$}");
        }
        out.push('\n');
        let total = name_width + widths.iter().map(|w| w + 2).sum::<usize>();
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for (name, cells) in &rows {
            let _ = write!(out, "{name:<name_width$}");
            for (cell, w) in cells.iter().zip(&widths) {
                let _ = write!(out, "  {cell:>w$}");
            }
            out.push('\n');
        }
        for g in &splits {
            if g.parse_failures.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "{}: {} unparseable output(s):",
                g.label(),
                g.parse_failures.len()
            );
            for f in g.parse_failures.iter().take(LISTED_FAILURES) {
                let _ = writeln!(out, "  {}: {}", f.id, one_line(&f.error, 160));
            }
            if g.parse_failures.len() > LISTED_FAILURES {
                let _ = writeln!(
                    out,
                    "  … and {} more (every one is in the per-example file)",
                    g.parse_failures.len() - LISTED_FAILURES
                );
            }
        }
    }
    out
}

/// The text on one line, cut to at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
