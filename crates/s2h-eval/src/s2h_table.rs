//! The S2H table: models (named by what they were trained on) evaluated on sets of a split and a
//! modality, one row each, with a task's headline metrics as percentages — the table the
//! quickstart prints and the figure pipeline's tables are made of. Markdown for people, CSV for
//! plots.

use std::collections::BTreeMap;
use std::path::Path;

use s2h_tasks::{Modality, Split, TaskKind};

use crate::metrics::names;
use crate::{EvalError, Metrics, Result};

/// One row: a model evaluated on one set.
#[derive(Debug, Clone, PartialEq)]
pub struct S2hRow {
    /// What the model was trained with: a supervision or recipe name (`text`, `mix_plus`, …).
    pub trained_on: String,
    /// Split and modality of the evaluation set.
    pub split: Split,
    pub modality: Modality,
    pub examples: usize,
    pub metrics: BTreeMap<String, f64>,
}

impl S2hRow {
    /// The row of `task` and `split` in an evaluation's metrics (empty if it has none).
    pub fn from_metrics(
        trained_on: impl Into<String>,
        metrics: &Metrics,
        task: TaskKind,
        split: Split,
        modality: Modality,
    ) -> Self {
        let group = metrics.group(task, Some(split));
        S2hRow {
            trained_on: trained_on.into(),
            split,
            modality,
            examples: group.map_or(0, |g| g.examples),
            metrics: group.map(|g| g.metrics.clone()).unwrap_or_default(),
        }
    }
}

/// The columns of a task's table, `(title, metric)`: the main accuracy first, then the partial
/// metrics of SPEC §13 (paper K.1 for the table tasks), then the parse failures.
pub fn columns(task: TaskKind) -> &'static [(&'static str, &'static str)] {
    match task {
        TaskKind::Ctr | TaskKind::Tr => &[
            ("exact match", names::EXACT_MATCH_MAX),
            ("cell precision", names::CELL_PRECISION),
            ("cell recall", names::CELL_RECALL),
            ("step row", names::STEP_ROW_ACCURACY),
            ("step column", names::STEP_COL_ACCURACY),
            ("step value", names::STEP_VALUE_ACCURACY),
            ("parse failures", names::PARSE_FAILURE_RATE),
        ],
        TaskKind::Grid => &[
            ("valid path", names::VALID_PATH_ACCURACY),
            ("obstacles entered", names::OBSTACLES_ENTERED),
            ("parse failures", names::PARSE_FAILURE_RATE),
        ],
        TaskKind::Va => &[
            ("exact match", names::EXACT_MATCH),
            ("option correct", names::OPTION_CORRECT),
            ("parse failures", names::PARSE_FAILURE_RATE),
        ],
    }
}

/// A metric as the table shows it: a rate as a percentage with one decimal, a count (obstacles
/// entered) with two decimals, `-` when absent.
fn percent(row: &S2hRow, metric: &str) -> String {
    row.metrics.get(metric).map_or("-".into(), |v| {
        if crate::metrics::is_rate(metric) {
            format!("{:.1}", 100.0 * v)
        } else {
            format!("{v:.2}")
        }
    })
}

/// A Markdown table under `title`: one line per row, `trained on / evaluated on`, the number of
/// examples, then one column per metric of `task`.
pub fn markdown(title: &str, task: TaskKind, rows: &[S2hRow]) -> String {
    let columns = columns(task);
    let mut s = format!("{title}\n\n| trained on / evaluated on | n |");
    for (title, _) in columns {
        s.push_str(&format!(" {title} |"));
    }
    s.push_str("\n|---|---|");
    s.push_str(&"---|".repeat(columns.len()));
    for r in rows {
        s.push_str(&format!(
            "\n| {} / {} {} | {} |",
            r.trained_on, r.split, r.modality, r.examples
        ));
        for (_, metric) in columns {
            s.push_str(&format!(" {} |", percent(r, metric)));
        }
    }
    s.push('\n');
    s
}

/// The same rows as CSV: `trained_on,split,modality,examples` and one column per metric of
/// `task` (named by the metric, values as fractions; empty when absent).
pub fn csv(task: TaskKind, rows: &[S2hRow]) -> String {
    let columns = columns(task);
    let mut s = String::from("trained_on,split,modality,examples");
    for (_, metric) in columns {
        s.push(',');
        s.push_str(metric);
    }
    for r in rows {
        s.push_str(&format!(
            "\n{},{},{},{}",
            r.trained_on, r.split, r.modality, r.examples
        ));
        for (_, metric) in columns {
            s.push(',');
            if let Some(v) = r.metrics.get(*metric) {
                s.push_str(&v.to_string());
            }
        }
    }
    s.push('\n');
    s
}

/// Write `DIR/s2h_table.md` ([`markdown`]) and `DIR/s2h_table.csv` ([`csv`]), each atomically;
/// returns the Markdown.
pub fn write(dir: &Path, title: &str, task: TaskKind, rows: &[S2hRow]) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(EvalError::io("cannot create directory", dir))?;
    let table = markdown(title, task, rows);
    s2h_mixture::files::write_atomically(&dir.join("s2h_table.md"), table.as_bytes())?;
    s2h_mixture::files::write_atomically(&dir.join("s2h_table.csv"), csv(task, rows).as_bytes())?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(trained_on: &str, split: Split, exact: Option<f64>) -> S2hRow {
        let mut metrics = BTreeMap::new();
        if let Some(v) = exact {
            metrics.insert(names::EXACT_MATCH_MAX.to_string(), v);
        }
        metrics.insert(names::CELL_RECALL.to_string(), 0.875);
        S2hRow {
            trained_on: trained_on.into(),
            split,
            modality: Modality::Image,
            examples: 40,
            metrics,
        }
    }

    #[test]
    fn markdown_and_csv_show_every_row_and_metric() {
        let rows = [
            row("mix_plus", Split::Simple, Some(0.5)),
            row("text", Split::Hard, None),
        ];
        let md = markdown("CTR", TaskKind::Ctr, &rows);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "CTR");
        assert_eq!(lines.len(), 2 + 2 + rows.len());
        assert!(lines[4].starts_with("| mix_plus / simple image | 40 | 50.0 | - | 87.5 |"));
        assert!(lines[5].starts_with("| text / hard image | 40 | - | - | 87.5 |"));
        let csv = csv(TaskKind::Ctr, &rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "trained_on,split,modality,examples,exact_match_max,cell_precision,cell_recall,\
             step_row_accuracy,step_col_accuracy,step_value_accuracy,parse_failure_rate"
        );
        assert_eq!(lines[1], "mix_plus,simple,image,40,0.5,,0.875,,,,");
        assert_eq!(lines[2], "text,hard,image,40,,,0.875,,,,");
    }

    /// Obstacles entered is a mean count, not a rate: shown as it is, not as a percentage.
    #[test]
    fn counts_are_not_shown_as_percentages() {
        let mut r = row("mix_plus", Split::Hard, None);
        r.metrics
            .insert(names::VALID_PATH_ACCURACY.to_string(), 0.25);
        r.metrics.insert(names::OBSTACLES_ENTERED.to_string(), 0.78);
        let md = markdown("Grid", TaskKind::Grid, &[r]);
        assert!(md.contains("| 25.0 | 0.78 |"), "{md}");
    }
}
