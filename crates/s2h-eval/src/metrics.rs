//! Aggregated metrics per task and split (SPEC §13).

use std::collections::BTreeMap;

use s2h_tasks::{Split, TaskKind};
use serde::{Deserialize, Serialize};

use crate::ExampleResult;
use crate::failure_modes;

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
    /// absent when there are none (paper K.1).
    pub const FIRST_WRONG_INDEX_MEAN: &str = "first_wrong_index_mean";
    /// Share of the wrong CoTs whose first wrong value comes before the 12th (paper K.1: "56%
    /// of wrong outputs err before the 12th number"); absent when no CoT is wrong.
    pub const FIRST_WRONG_BEFORE_12_SHARE: &str = "first_wrong_before_12_share";
    /// The same CoTs as a share of all outputs (paper K.1: "26% of all").
    pub const FIRST_WRONG_BEFORE_12_SHARE_OF_ALL: &str = "first_wrong_before_12_share_of_all";
    /// Σ correctly listed cells / Σ listed cells, pooled over outputs (paper K.1, Fig 30).
    pub const CELL_PRECISION: &str = "cell_precision";
    /// Σ correctly listed cells / Σ highlighted (path) cells, pooled over outputs.
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
    /// The same count averaged as the authors' scorer does: over parsed outputs whose moves are
    /// not the gold list (absent when there are none). For figures that match the paper's.
    pub const OBSTACLES_ENTERED_NON_GOLD: &str = "obstacles_entered_non_gold";
    /// Share of outputs whose chain of thought names S and D at the right cells (paper K.2 (a)).
    pub const SOURCE_DESTINATION_CORRECT: &str = "source_destination_correct";

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

    // Visual Analogy, paper Table 14: error rates of the chain-of-thought steps, each Σ wrong
    // steps / Σ steps over the group's outputs, absent when the step never comes up
    // (`failure_modes::VaCotScore` defines the steps).
    /// Example attribute lines of line or shape types with a wrong value set.
    pub const COT_EXAMPLES_TYPE_VALUES_ERROR_RATE: &str = "cot_examples_type_values_error_rate";
    /// … of line or shape colors.
    pub const COT_EXAMPLES_COLOR_VALUES_ERROR_RATE: &str = "cot_examples_color_values_error_rate";
    /// … of shape sizes.
    pub const COT_EXAMPLES_SIZE_VALUES_ERROR_RATE: &str = "cot_examples_size_values_error_rate";
    /// … of shape quantities.
    pub const COT_EXAMPLES_QUANTITY_VALUES_ERROR_RATE: &str =
        "cot_examples_quantity_values_error_rate";
    /// … of shape positions.
    pub const COT_EXAMPLES_POSITION_VALUES_ERROR_RATE: &str =
        "cot_examples_position_values_error_rate";
    /// Examples whose stated pattern (d_i, r_i) is wrong ("held-out (d_i, r_i)").
    pub const COT_EXAMPLES_PATTERN_ERROR_RATE: &str = "cot_examples_pattern_error_rate";
    /// Outputs whose examples have different domains but whose stated patterns do not ("d1≠d2").
    pub const COT_EXAMPLES_DISTINCT_DOMAINS_ERROR_RATE: &str =
        "cot_examples_distinct_domains_error_rate";
    /// Outputs that state the wrong shared relation r.
    pub const COT_EXAMPLES_RELATION_ERROR_RATE: &str = "cot_examples_relation_error_rate";
    /// Query attribute lines of types with a wrong value set.
    pub const COT_QUERY_TYPE_VALUES_ERROR_RATE: &str = "cot_query_type_values_error_rate";
    /// … of colors.
    pub const COT_QUERY_COLOR_VALUES_ERROR_RATE: &str = "cot_query_color_values_error_rate";
    /// … of sizes.
    pub const COT_QUERY_SIZE_VALUES_ERROR_RATE: &str = "cot_query_size_values_error_rate";
    /// … of quantities.
    pub const COT_QUERY_QUANTITY_VALUES_ERROR_RATE: &str = "cot_query_quantity_values_error_rate";
    /// … of positions.
    pub const COT_QUERY_POSITION_VALUES_ERROR_RATE: &str = "cot_query_position_values_error_rate";
    /// Options whose stated pattern has the wrong domain ("attribute domain").
    pub const COT_OPTIONS_DOMAIN_ERROR_RATE: &str = "cot_options_domain_error_rate";
    /// Option attribute lines with a wrong value set ("attribute values").
    pub const COT_OPTIONS_VALUES_ERROR_RATE: &str = "cot_options_values_error_rate";
    /// Options whose stated pattern has the wrong relation.
    pub const COT_OPTIONS_RELATION_ERROR_RATE: &str = "cot_options_relation_error_rate";
    /// Outputs whose chain of thought does not single out the right option ("identify
    /// solution").
    pub const COT_OPTIONS_SOLUTION_ERROR_RATE: &str = "cot_options_solution_error_rate";
    /// Outputs with any wrong step in the chain of thought ("whole CoT").
    pub const COT_ERROR_RATE: &str = "cot_error_rate";
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
            | names::OBSTACLES_ENTERED_NON_GOLD
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
            names::FIRST_WRONG_BEFORE_12_SHARE,
            names::FIRST_WRONG_BEFORE_12_SHARE_OF_ALL,
            names::CELL_PRECISION,
            names::CELL_RECALL,
            names::STEP_ROW_ACCURACY,
            names::STEP_COL_ACCURACY,
            names::STEP_ROW_LABEL_ACCURACY,
            names::STEP_COL_LABEL_ACCURACY,
            names::STEP_VALUE_ACCURACY,
        ]),
        TaskKind::Grid => order.extend_from_slice(&[
            names::OBSTACLES_ENTERED_NON_GOLD,
            names::SOURCE_DESTINATION_CORRECT,
        ]),
        TaskKind::Va => {
            order.extend_from_slice(&[
                names::EXAMPLE_PATTERN_ERROR_RATE,
                names::OPTION_PATTERN_ERROR_RATE,
                names::CONSISTENCY_ERROR_RATE,
            ]);
            order.extend(failure_modes::va_step_metrics());
        }
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
            // Paper K.1, from the pooled counts.
            let k1 = failure_modes::table_failure_modes(members.iter().copied());
            if let Some(mean) = k1.first_wrong_index_mean() {
                put(names::FIRST_WRONG_INDEX_MEAN, mean);
            }
            if let Some(share) = k1.first_wrong_before_12_share() {
                put(names::FIRST_WRONG_BEFORE_12_SHARE, share);
            }
            put(
                names::FIRST_WRONG_BEFORE_12_SHARE_OF_ALL,
                k1.first_wrong_before_12_share_of_all().unwrap_or(0.0),
            );
            put(names::CELL_PRECISION, k1.cell_precision());
            put(names::CELL_RECALL, k1.cell_recall());
            histogram = k1.first_wrong_index_histogram;
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
        TaskKind::Grid => {
            put(names::VALID_PATH_ACCURACY, correct);
            // Paper K.2: (b)–(d) are the Verdict sub-metrics above; (a) and the authors' (d).
            let k2 = failure_modes::grid_failure_modes(members.iter().copied());
            if let Some(v) = k2.source_destination_correct {
                put(names::SOURCE_DESTINATION_CORRECT, v);
            }
            if let Some(v) = k2.obstacles_entered_non_gold {
                put(names::OBSTACLES_ENTERED_NON_GOLD, v);
            }
        }
        TaskKind::Va => {
            put(names::EXACT_MATCH, correct);
            // Paper K.3, Table 14 (its exact-match row is `exact_match` above).
            for row in failure_modes::table14(members.iter().copied()) {
                if let (Some(name), Some(rate)) = (row.metric, row.rate()) {
                    put(name, rate);
                }
            }
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
