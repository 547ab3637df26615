//! Scoring one output: parse the final answer, verify it, and for the table tasks read the chain
//! of thought step by step (SPEC §13).

use std::collections::HashSet;

use s2h_cot::ParseError;
use s2h_cot::table::{CotStep, parse_chain_of_thought, values_from_chain_of_thought};
use s2h_mixture::Record;
use s2h_tasks::table::TableInstance;
use s2h_tasks::{Answer, Cell, Instance, Split, TaskKind, Verdict};
use serde::{Deserialize, Serialize};

use crate::failure_modes::{GridCotScore, VaCotScore, score_grid_cot, score_va_cot};
use crate::{EvalError, Result};

/// The score of one output. `answer` and `verdict` are present when the final answer parsed;
/// otherwise `parse_error` says why not, and the example counts as wrong on every metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleResult {
    pub id: String,
    pub task: TaskKind,
    pub split: Split,
    /// The model's whole output, as given.
    pub output: String,
    /// Length of the output in characters (Unicode scalar values).
    pub output_chars: usize,
    pub answer: Option<Answer>,
    pub parse_error: Option<String>,
    pub verdict: Option<Verdict>,
    /// CTR/TR only: what the chain of thought says, step by step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_cot: Option<TableCotScore>,
    /// VA only, when the answer block did not parse but an `Answer: N` line did: the option it
    /// names, scored alone (the lenient `option_correct`, paper Table 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_only: Option<OptionOnly>,
    /// Grid only: the S and D the output states, and whether its moves are the gold ones
    /// (paper K.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_cot: Option<GridCotScore>,
    /// VA only: the chain of thought's steps against the gold ones (paper K.3, Table 14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub va_cot: Option<VaCotScore>,
}

/// The option index of a VA output read from its `Answer: N` line alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionOnly {
    pub option: u8,
    /// It is the gold option.
    pub correct: bool,
}

impl ExampleResult {
    /// True when the final answer parsed and is fully correct (`Verdict.correct`).
    pub fn correct(&self) -> bool {
        self.verdict.as_ref().is_some_and(|v| v.correct)
    }

    pub fn parsed(&self) -> bool {
        self.answer.is_some()
    }
}

/// Score a model output for an eval record.
pub fn score_record(record: &Record, output: &str) -> Result<ExampleResult> {
    score_output(&record.id, record.split, &record.instance, output)
}

/// Score a model output for an instance: parse it with the task's parser
/// ([`s2h_cot::parse_answer`]) and hand it to [`score_parsed`].
pub fn score_output(
    id: &str,
    split: Split,
    instance: &Instance,
    output: &str,
) -> Result<ExampleResult> {
    let parsed = s2h_cot::parse_answer(instance.task(), output);
    score_parsed(id, split, instance, output, parsed)
}

/// Score an output whose final answer was already parsed (or failed to parse): verify the
/// answer against the instance and, for the table tasks, score the chain of thought in `output`.
/// An error means the answer belongs to another task family than the instance.
pub fn score_parsed(
    id: &str,
    split: Split,
    instance: &Instance,
    output: &str,
    parsed: std::result::Result<Answer, ParseError>,
) -> Result<ExampleResult> {
    if let Instance::Table(table) = instance {
        check_table(id, table)?;
    }
    let (answer, parse_error, verdict) = match parsed {
        Ok(answer) => {
            let verdict = instance.verify(&answer)?;
            (Some(answer), None, Some(verdict))
        }
        Err(e) => (None, Some(e.to_string()), None),
    };
    let table_cot = match instance {
        Instance::Table(table) => Some(score_table_cot(table, output)),
        _ => None,
    };
    // A VA output that names an option without the rest of its answer block still answers the
    // question the lenient metric asks.
    let option_only = match (instance, &answer) {
        (Instance::Analogy(puzzle), None) => {
            s2h_cot::analogy::parse_option(output)
                .ok()
                .map(|option| OptionOnly {
                    option,
                    correct: s2h_tasks::analogy::verify_option(puzzle, option),
                })
        }
        _ => None,
    };
    // The failure-mode steps of paper K.2 and K.3 need the instance, which the results file
    // does not keep: read them now.
    let grid_cot = match (instance, &answer) {
        (Instance::Grid(grid), Some(Answer::Grid(moves))) => {
            Some(score_grid_cot(grid, output, Some(moves)))
        }
        (Instance::Grid(grid), _) => Some(score_grid_cot(grid, output, None)),
        _ => None,
    };
    let va_cot = match instance {
        Instance::Analogy(puzzle) => Some(score_va_cot(puzzle, output)),
        _ => None,
    };
    Ok(ExampleResult {
        id: id.to_string(),
        task: instance.task(),
        split,
        output: output.to_string(),
        output_chars: output.chars().count(),
        answer,
        parse_error,
        verdict,
        table_cot,
        option_only,
        grid_cot,
        va_cot,
    })
}

/// A table instance read from a file must be well formed before its cells are looked up.
fn check_table(id: &str, instance: &TableInstance) -> Result<()> {
    let table = &instance.table;
    let bad = |reason: String| {
        Err(EvalError::InvalidInstance {
            id: id.to_string(),
            reason,
        })
    };
    if table.values.len() != table.row_labels.len()
        || table
            .values
            .iter()
            .any(|row| row.len() != table.col_labels.len())
    {
        return bad(format!(
            "its values are not {} rows of {} columns, as its labels say",
            table.row_labels.len(),
            table.col_labels.len()
        ));
    }
    if instance.path.is_empty() {
        return bad("its path is empty".to_string());
    }
    if let Some(cell) = instance.path.iter().find(|&&c| !table.contains(c)) {
        return bad(format!("its path cell {cell} lies outside the table"));
    }
    Ok(())
}

/// What the chain of thought of a table output says, compared with the gold path (paper E.1 and
/// K.1). The CoT's step lines carry values but no sum, so only the value list is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableCotScore {
    /// Step lines read from the output.
    pub steps: usize,
    /// The values of the steps, when every step line gave one.
    pub values: Option<Vec<u8>>,
    /// The CoT's value list equals the gold value list.
    pub values_exact: bool,
    /// 1-based position of the first step whose value is wrong or missing, comparing step k
    /// with gold value k; a CoT shorter than the path is wrong at its first missing step, a
    /// longer one at the first extra step. `None` exactly when `values_exact`.
    pub first_wrong_index: Option<usize>,
    /// Of the distinct cells the steps name, the fraction on the gold path (wherever listed);
    /// 0 when no step names a cell. The group's `cell_precision` pools the counts below instead
    /// of averaging this (paper K.1).
    pub cell_precision: f64,
    /// Of the gold path's cells, the fraction some step names (wherever listed).
    pub cell_recall: f64,
    /// Distinct cells the steps name ("listed").
    pub cells_listed: usize,
    /// Of those, the cells on the gold path ("correctly listed").
    pub cells_listed_on_path: usize,
    /// Distinct cells of the gold path ("highlighted").
    pub cells_on_path: usize,
    /// Per-field accuracy of the steps against the gold path, position by position.
    pub fields: StepFieldAccuracy,
}

/// Fractions of the gold path's positions k where step k has the field right; a missing step
/// or an unreadable field is wrong, steps beyond the path are not counted. Labels are compared
/// ignoring ASCII case and surrounding spaces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepFieldAccuracy {
    pub row: f64,
    pub col: f64,
    pub row_label: f64,
    pub col_label: f64,
    pub value: f64,
}

/// Compare the chain of thought in `output` with the gold path of `instance`.
pub fn score_table_cot(instance: &TableInstance, output: &str) -> TableCotScore {
    let steps = parse_chain_of_thought(output);
    let gold = instance.gold_answer().values;
    let values = values_from_chain_of_thought(&steps);
    let values_exact = values.as_ref() == Some(&gold);

    let first_wrong_index = (0..gold.len().max(steps.len()))
        .find(|&k| gold.get(k).copied() != steps.get(k).and_then(|s| s.value))
        .map(|k| k + 1);

    let path: HashSet<Cell> = instance.path.iter().copied().collect();
    let listed: HashSet<Cell> = steps.iter().filter_map(CotStep::cell).collect();
    let on_path = listed.intersection(&path).count();
    let fraction = |hits: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            hits as f64 / of as f64
        }
    };

    let table = &instance.table;
    let n = instance.path.len();
    let count = |right: &dyn Fn(&CotStep, Cell) -> bool| {
        let hits = instance
            .path
            .iter()
            .zip(&steps)
            .filter(|&(&cell, step)| right(step, cell))
            .count();
        fraction(hits, n)
    };
    let same_label = |got: &Option<String>, want: &str| {
        got.as_deref()
            .is_some_and(|g| g.trim().eq_ignore_ascii_case(want.trim()))
    };
    let fields = StepFieldAccuracy {
        row: count(&|s, c| s.row == Some(c.row)),
        col: count(&|s, c| s.col == Some(c.col)),
        row_label: count(&|s, c| same_label(&s.row_label, table.row_label(c))),
        col_label: count(&|s, c| same_label(&s.col_label, table.col_label(c))),
        value: count(&|s, c| s.value == Some(table.value(c))),
    };
    TableCotScore {
        steps: steps.len(),
        values,
        values_exact,
        first_wrong_index,
        cell_precision: fraction(on_path, listed.len()),
        cell_recall: fraction(on_path, path.len()),
        cells_listed: listed.len(),
        cells_listed_on_path: on_path,
        cells_on_path: path.len(),
        fields,
    }
}

/// The fields of a result line as they sit in the file; `answer` is read with the line's task.
#[derive(Deserialize)]
struct RawResult {
    id: String,
    task: TaskKind,
    split: Split,
    output: String,
    output_chars: usize,
    answer: Option<serde_json::Value>,
    parse_error: Option<String>,
    verdict: Option<Verdict>,
    #[serde(default)]
    table_cot: Option<TableCotScore>,
    #[serde(default)]
    option_only: Option<OptionOnly>,
    #[serde(default)]
    grid_cot: Option<GridCotScore>,
    #[serde(default)]
    va_cot: Option<VaCotScore>,
}

impl ExampleResult {
    /// Read one line of a per-example results file back.
    pub fn from_json_line(line: &str) -> std::result::Result<ExampleResult, String> {
        let raw: RawResult =
            serde_json::from_str(line).map_err(|e| crate::predictions::json_reason(&e))?;
        let answer = raw
            .answer
            .map(|a| Answer::from_json(raw.task, a))
            .transpose()
            .map_err(|e| format!("field `answer`: {e}"))?;
        Ok(ExampleResult {
            id: raw.id,
            task: raw.task,
            split: raw.split,
            output: raw.output,
            output_chars: raw.output_chars,
            answer,
            parse_error: raw.parse_error,
            verdict: raw.verdict,
            table_cot: raw.table_cot,
            option_only: raw.option_only,
            grid_cot: raw.grid_cot,
            va_cot: raw.va_cot,
        })
    }
}
