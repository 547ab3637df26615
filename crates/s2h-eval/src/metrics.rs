//! Aggregated metrics per task and split (SPEC §13).

use std::collections::BTreeMap;

use s2h_tasks::{Split, TaskKind};
use serde::{Deserialize, Serialize};

use crate::ExampleResult;

/// The metric names as they appear in `metrics.json`. Every rate is a fraction in [0, 1]; an
/// unparseable output counts as wrong (0) in each of them.
pub mod names {
    // Every task.
    /// Fraction of outputs whose final answer could not be parsed.
    pub const PARSE_FAILURE_RATE: &str = "parse_failure_rate";
    /// Mean output length in characters.
    pub const MEAN_OUTPUT_CHARS: &str = "mean_output_chars";

    /// Model evaluation only: mean generated tokens per output, `</s>` included (paper Figs 4, 6).
    pub const MEAN_GENERATED_TOKENS: &str = "mean_generated_tokens";
    /// "Convert"-prompted evaluation only: share of outputs whose converted text equals the gold
    /// text rendering (paper Table 12).
    pub const CONVERSION_EXACT: &str = "conversion_exact";
    /// "Convert"-prompted evaluation of table tasks only: gold table cells reproduced at their
    /// row and column, pooled over outputs.
    pub const CONVERSION_CELL_ACCURACY: &str = "conversion_cell_accuracy";

    // CTR and TR.
    /// Exact match of the final answer: values and sum (`Verdict.correct`).
    pub const EXACT_MATCH_ANSWER: &str = "exact_match_answer";
    /// Exact match of the value list read from the chain of thought (it has no sum).
    pub const EXACT_MATCH_COT: &str = "exact_match_cot";
    /// Fraction of examples where the answer or the CoT is an exact match (paper E.1).
    pub const EXACT_MATCH_MAX: &str = "exact_match_max";
    /// Mean 1-based index of the first wrong CoT value, over examples whose CoT values are wrong;
    /// absent when there are none.
    pub const FIRST_WRONG_INDEX_MEAN: &str = "first_wrong_index_mean";
    pub const CELL_PRECISION: &str = "cell_precision";
    pub const CELL_RECALL: &str = "cell_recall";
    pub const STEP_ROW_ACCURACY: &str = "step_row_accuracy";
    pub const STEP_COL_ACCURACY: &str = "step_col_accuracy";
    pub const STEP_ROW_LABEL_ACCURACY: &str = "step_row_label_accuracy";
    pub const STEP_COL_LABEL_ACCURACY: &str = "step_col_label_accuracy";
    pub const STEP_VALUE_ACCURACY: &str = "step_value_accuracy";

    // Grid Navigation.
    /// A valid path: inside the grid, no obstacle, every object, ends on D (`Verdict.correct`).
    pub const VALID_PATH_ACCURACY: &str = "valid_path_accuracy";
    /// Mean number of obstacle cells entered, over the parsed outputs only (absent when none
    /// parsed): an unparsed output has no path to count.
    pub const OBSTACLES_ENTERED: &str = "obstacles_entered";

    // Visual Analogy.
    /// Every part of the answer right (`Verdict.correct`).
    pub const EXACT_MATCH: &str = "exact_match";
    /// The option index alone right (paper Table 10): the Verdict's `option_correct`, or, for an
    /// output whose answer block does not parse, its `Answer: N` line read alone.
    pub const OPTION_CORRECT: &str = "option_correct";
    /// 1 − mean `example_patterns_correct`: wrong example patterns per example pattern (K.3).
    pub const EXAMPLE_PATTERN_ERROR_RATE: &str = "example_pattern_error_rate";
    /// 1 − mean `option_patterns_correct`: wrong option patterns per option (K.3).
    pub const OPTION_PATTERN_ERROR_RATE: &str = "option_pattern_error_rate";
    /// 1 − mean `consistency_correct`: wrong consistent/inconsistent verdicts per option (K.3).
    pub const CONSISTENCY_ERROR_RATE: &str = "consistency_error_rate";
}

/// The Verdict sub-metrics each task's verifier reports (`s2h_tasks::*::verify`). Each is
/// averaged under its own name, so the keys are present even when nothing parsed; a sub-metric
/// a verifier adds later is averaged too, under its name.
pub fn verdict_metrics(task: TaskKind) -> &'static [&'static str] {
    match task {
        TaskKind::Ctr | TaskKind::Tr => &[
            "values_exact",
            "sum_correct",
            "length_correct",
            "value_accuracy",
            "correct_prefix",
        ],
        TaskKind::Grid => &[
            "stays_inside",
            "reaches_destination_ignoring_obstacles",
            "objects_collected",
            names::OBSTACLES_ENTERED,
        ],
        TaskKind::Va => &[
            names::OPTION_CORRECT,
            "example_patterns_correct",
            "option_patterns_correct",
            "consistency_correct",
        ],
    }
}

/// Sub-metrics that count mistakes rather than score success: averaged over parsed outputs only.
const MEAN_OVER_PARSED: &[&str] = &[names::OBSTACLES_ENTERED];

/// Metrics that are not fractions in [0, 1] (shown as plain numbers, not percentages).
pub fn is_rate(name: &str) -> bool {
    !matches!(
        name,
        names::MEAN_OUTPUT_CHARS
            | names::MEAN_GENERATED_TOKENS
            | names::FIRST_WRONG_INDEX_MEAN
            | names::OBSTACLES_ENTERED
    )
}

/// The metrics of a task's group in the order people read them: the main metric first.
pub fn display_order(task: TaskKind) -> Vec<&'static str> {
    let mut order = match task {
        TaskKind::Ctr | TaskKind::Tr => vec![
            names::EXACT_MATCH_MAX,
            names::EXACT_MATCH_ANSWER,
            names::EXACT_MATCH_COT,
        ],
        TaskKind::Grid => vec![names::VALID_PATH_ACCURACY],
        TaskKind::Va => vec![names::EXACT_MATCH],
    };
    order.extend_from_slice(verdict_metrics(task));
    match task {
        TaskKind::Ctr | TaskKind::Tr => order.extend_from_slice(&[
            names::FIRST_WRONG_INDEX_MEAN,
            names::CELL_PRECISION,
            names::CELL_RECALL,
            names::STEP_ROW_ACCURACY,
            names::STEP_COL_ACCURACY,
            names::STEP_ROW_LABEL_ACCURACY,
            names::STEP_COL_LABEL_ACCURACY,
            names::STEP_VALUE_ACCURACY,
        ]),
        TaskKind::Grid => {}
        TaskKind::Va => order.extend_from_slice(&[
            names::EXAMPLE_PATTERN_ERROR_RATE,
            names::OPTION_PATTERN_ERROR_RATE,
            names::CONSISTENCY_ERROR_RATE,
        ]),
    }
    // Model-evaluation metrics (generation length, conversion) are not listed: scoring a
    // predictions file does not produce them, and the table appends any extra metric anyway.
    order.extend_from_slice(&[names::PARSE_FAILURE_RATE, names::MEAN_OUTPUT_CHARS]);
    order
}

/// An output whose final answer could not be parsed, with the parser's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseFailure {
    pub id: String,
    pub error: String,
}

/// The metrics of one task on one split, or on all its splits pooled (`split: None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    pub task: TaskKind,
    /// `None` (`null` in JSON): every split of the task in the eval set, pooled.
    pub split: Option<Split>,
    pub examples: usize,
    /// Outputs whose final answer parsed.
    pub parsed: usize,
    /// Metric name ([`names`], [`verdict_metrics`]) → value.
    pub metrics: BTreeMap<String, f64>,
    /// CTR/TR: how many wrong CoTs first go wrong at each 1-based step index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub first_wrong_index_histogram: BTreeMap<usize, usize>,
    /// Every unparseable output of the group, in eval-set order.
    pub parse_failures: Vec<ParseFailure>,
}

impl GroupMetrics {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }

    /// `ctr/simple`, or `ctr/all` for the pooled group.
    pub fn label(&self) -> String {
        match self.split {
            Some(split) => format!("{}/{split}", self.task),
            None => format!("{}/all", self.task),
        }
    }
}

/// Everything `metrics.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub examples: usize,
    /// For each task present (in task order): one group per split present (in split order),
    /// then the pooled group of all its splits.
    pub groups: Vec<GroupMetrics>,
}

impl Metrics {
    /// The group of `task` on `split`, or the pooled group with `None`.
    pub fn group(&self, task: TaskKind, split: Option<Split>) -> Option<&GroupMetrics> {
        self.groups
            .iter()
            .find(|g| g.task == task && g.split == split)
    }
}

/// Aggregate per-example results into per-task, per-split metrics.
pub fn aggregate(results: &[ExampleResult]) -> Metrics {
    let mut keys: Vec<(TaskKind, Split)> = results.iter().map(|r| (r.task, r.split)).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut tasks: Vec<TaskKind> = keys.iter().map(|&(task, _)| task).collect();
    tasks.dedup();
    let mut groups = Vec::new();
    for task in tasks {
        for &(_, split) in keys.iter().filter(|(t, _)| *t == task) {
            let members: Vec<&ExampleResult> = results
                .iter()
                .filter(|r| r.task == task && r.split == split)
                .collect();
            groups.push(group(task, Some(split), &members));
        }
        let pooled: Vec<&ExampleResult> = results.iter().filter(|r| r.task == task).collect();
        groups.push(group(task, None, &pooled));
    }
    Metrics {
        examples: results.len(),
        groups,
    }
}

fn group(task: TaskKind, split: Option<Split>, members: &[&ExampleResult]) -> GroupMetrics {
    let n = members.len();
    let mean = |f: &dyn Fn(&ExampleResult) -> f64| -> f64 {
        if n == 0 {
            0.0
        } else {
            members.iter().map(|r| f(r)).sum::<f64>() / n as f64
        }
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let parsed: Vec<&&ExampleResult> = members.iter().filter(|r| r.parsed()).collect();
    let mut metrics = BTreeMap::new();
    let mut put = |name: &str, value: f64| {
        metrics.insert(name.to_string(), value);
    };

    put(names::PARSE_FAILURE_RATE, mean(&|r| flag(!r.parsed())));
    put(names::MEAN_OUTPUT_CHARS, mean(&|r| r.output_chars as f64));

    // Every Verdict sub-metric: the known ones and any other a verifier reports.
    let mut sub: Vec<String> = verdict_metrics(task)
        .iter()
        .map(|s| s.to_string())
        .collect();
    for r in &parsed {
        if let Some(v) = &r.verdict {
            for name in v.metrics.keys() {
                if !sub.contains(name) {
                    sub.push(name.clone());
                }
            }
        }
    }
    let verdict_metric = |r: &ExampleResult, name: &str| match (&r.verdict, r.option_only) {
        (Some(v), _) => v.metric(name).unwrap_or(0.0),
        // The lenient VA metric reads the option of an unparsed block on its own.
        (None, Some(o)) if name == names::OPTION_CORRECT => flag(o.correct),
        (None, _) => 0.0,
    };
    for name in &sub {
        if MEAN_OVER_PARSED.contains(&name.as_str()) {
            if !parsed.is_empty() {
                let total: f64 = parsed.iter().map(|r| verdict_metric(r, name)).sum();
                put(name, total / parsed.len() as f64);
            }
        } else {
            put(name, mean(&|r| verdict_metric(r, name)));
        }
    }

    let correct = mean(&|r| flag(r.correct()));
    let mut histogram = BTreeMap::new();
    match task {
        TaskKind::Ctr | TaskKind::Tr => {
            put(names::EXACT_MATCH_ANSWER, correct);
            let cot = |r: &ExampleResult, f: &dyn Fn(&crate::TableCotScore) -> f64| {
                r.table_cot.as_ref().map(f).unwrap_or(0.0)
            };
            put(
                names::EXACT_MATCH_COT,
                mean(&|r| cot(r, &|c| flag(c.values_exact))),
            );
            put(
                names::EXACT_MATCH_MAX,
                mean(&|r| {
                    flag(r.correct() || r.table_cot.as_ref().is_some_and(|c| c.values_exact))
                }),
            );
            let wrong: Vec<usize> = members
                .iter()
                .filter_map(|r| r.table_cot.as_ref()?.first_wrong_index)
                .collect();
            for &k in &wrong {
                *histogram.entry(k).or_insert(0) += 1;
            }
            if !wrong.is_empty() {
                put(
                    names::FIRST_WRONG_INDEX_MEAN,
                    wrong.iter().sum::<usize>() as f64 / wrong.len() as f64,
                );
            }
            put(
                names::CELL_PRECISION,
                mean(&|r| cot(r, &|c| c.cell_precision)),
            );
            put(names::CELL_RECALL, mean(&|r| cot(r, &|c| c.cell_recall)));
            put(
                names::STEP_ROW_ACCURACY,
                mean(&|r| cot(r, &|c| c.fields.row)),
            );
            put(
                names::STEP_COL_ACCURACY,
                mean(&|r| cot(r, &|c| c.fields.col)),
            );
            put(
                names::STEP_ROW_LABEL_ACCURACY,
                mean(&|r| cot(r, &|c| c.fields.row_label)),
            );
            put(
                names::STEP_COL_LABEL_ACCURACY,
                mean(&|r| cot(r, &|c| c.fields.col_label)),
            );
            put(
                names::STEP_VALUE_ACCURACY,
                mean(&|r| cot(r, &|c| c.fields.value)),
            );
        }
        TaskKind::Grid => put(names::VALID_PATH_ACCURACY, correct),
        TaskKind::Va => {
            put(names::EXACT_MATCH, correct);
            for (rate, of) in [
                (
                    names::EXAMPLE_PATTERN_ERROR_RATE,
                    "example_patterns_correct",
                ),
                (names::OPTION_PATTERN_ERROR_RATE, "option_patterns_correct"),
                (names::CONSISTENCY_ERROR_RATE, "consistency_correct"),
            ] {
                put(rate, 1.0 - mean(&|r| verdict_metric(r, of)));
            }
        }
    }

    GroupMetrics {
        task,
        split,
        examples: n,
        parsed: parsed.len(),
        metrics,
        first_wrong_index_histogram: histogram,
        parse_failures: members
            .iter()
            .filter_map(|r| {
                Some(ParseFailure {
                    id: r.id.clone(),
                    error: r.parse_error.clone()?,
                })
            })
            .collect(),
    }
}

/// Accuracy (the task's main metric, pooled over splits) of a metrics set: the number a
/// with/without "Convert" comparison reads.
pub fn main_accuracy(metrics: &Metrics, task: TaskKind) -> Option<f64> {
    let name = match task {
        TaskKind::Ctr | TaskKind::Tr => names::EXACT_MATCH_MAX,
        TaskKind::Grid => names::VALID_PATH_ACCURACY,
        TaskKind::Va => names::EXACT_MATCH,
    };
    metrics.group(task, None::<Split>)?.metric(name)
}
