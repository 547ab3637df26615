//! Scoring tests on small generated sets: gold targets score full marks, each corruption costs
//! exactly its share, and every file or id problem is a clear error.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use s2h_cot::ParseError;
use s2h_mixture::{DatasetSpec, Record, Supervision, read_records, write_dataset};
use s2h_tasks::analogy::Pattern;
use s2h_tasks::grid::{GridInstance, GridObject, GridObstacle, ObstacleKind};
use s2h_tasks::labels::DIGIT_WORDS;
use s2h_tasks::table::TableInstance;
use s2h_tasks::{Answer, Cell, Instance, Move, Split, TaskConfig, TaskKind};

use crate::*;

const N: usize = 4;

fn generate(task: TaskKind, split: Split, count: u64) -> Vec<Record> {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = DatasetSpec::new(task, split, 5, count, Supervision::Text);
    write_dataset(&spec, dir.path(), false, &|| {}).expect("dataset written");
    read_records(dir.path()).expect("records read back")
}

/// Four CTR simple text records, generated once.
fn ctr() -> &'static [Record] {
    static SET: OnceLock<Vec<Record>> = OnceLock::new();
    SET.get_or_init(|| generate(TaskKind::Ctr, Split::Simple, N as u64))
}

fn table(record: &Record) -> &TableInstance {
    match &record.instance {
        Instance::Table(t) => t,
        _ => panic!("not a table record"),
    }
}

fn gold(records: &[Record]) -> Vec<Prediction> {
    records
        .iter()
        .map(|r| Prediction::new(&r.id, &r.target))
        .collect()
}

/// Gold outputs, except record `i` which says `output`.
fn with_output(records: &[Record], i: usize, output: String) -> Vec<Prediction> {
    let mut p = gold(records);
    p[i].output = output;
    p
}

fn lines(record: &Record) -> Vec<String> {
    record.target.lines().map(str::to_string).collect()
}

/// A CoT step line as the template writes it.
fn step_line(k: usize, instance: &TableInstance, cell: Cell, value: u8) -> String {
    format!(
        "Step {k}: row {} ({}), column {} ({}): {} ({value})",
        cell.row,
        instance.table.row_label(cell),
        cell.col,
        instance.table.col_label(cell),
        DIGIT_WORDS[usize::from(value)],
    )
}

fn answer_line(values: &[u8], sum: u32) -> String {
    let v: Vec<String> = values.iter().map(u8::to_string).collect();
    format!("Answer: {} (sum {sum})", v.join(", "))
}

fn only_group(scored: &Scored) -> &GroupMetrics {
    scored
        .metrics
        .group(TaskKind::Ctr, Some(Split::Simple))
        .expect("ctr/simple group")
}

/// Every metric of `bad` equals the gold one except those listed, which equal their value.
fn assert_changes(gold: &GroupMetrics, bad: &GroupMetrics, expected: &[(&str, f64)]) {
    let keys: BTreeSet<&String> = gold.metrics.keys().chain(bad.metrics.keys()).collect();
    for key in keys {
        let want = match expected.iter().find(|(k, _)| k == key) {
            Some(&(_, v)) => Some(v),
            None if key == names::MEAN_OUTPUT_CHARS => continue,
            None => gold.metric(key),
        };
        let got = bad.metric(key);
        match (want, got) {
            (Some(w), Some(g)) => assert!((w - g).abs() < 1e-12, "{key}: want {w}, got {g}"),
            _ => assert_eq!(want, got, "{key}"),
        }
    }
    for (key, _) in expected {
        assert!(bad.metrics.contains_key(*key), "{key} missing");
    }
}

fn score_ok(records: &[Record], predictions: &[Prediction]) -> Scored {
    score(records, predictions).expect("scored")
}

fn mean_chars(predictions: &[Prediction]) -> f64 {
    predictions
        .iter()
        .map(|p| p.output.chars().count() as f64)
        .sum::<f64>()
        / predictions.len() as f64
}

#[test]
fn gold_targets_score_full_marks_on_every_metric() {
    let mut records = ctr().to_vec();
    records.extend(generate(TaskKind::Ctr, Split::Hard, 2));
    records.extend(generate(TaskKind::Tr, Split::Simple, 2));
    let predictions = gold(&records);
    let scored = score_ok(&records, &predictions);
    assert_eq!(scored.metrics.examples, N + 4);
    let labels: Vec<String> = scored.metrics.groups.iter().map(|g| g.label()).collect();
    assert_eq!(
        labels,
        ["ctr/simple", "ctr/hard", "ctr/all", "tr/simple", "tr/all"]
    );
    assert_eq!(
        scored
            .metrics
            .group(TaskKind::Ctr, None)
            .map(|g| g.examples),
        Some(N + 2)
    );
    for g in &scored.metrics.groups {
        assert_eq!(g.parsed, g.examples, "{}", g.label());
        assert!(g.parse_failures.is_empty() && g.first_wrong_index_histogram.is_empty());
        for name in display_order(g.task) {
            let value = g.metric(name);
            match name {
                names::PARSE_FAILURE_RATE | names::FIRST_WRONG_BEFORE_12_SHARE_OF_ALL => {
                    assert_eq!(value, Some(0.0), "{name}")
                }
                names::FIRST_WRONG_INDEX_MEAN | names::FIRST_WRONG_BEFORE_12_SHARE => {
                    assert_eq!(value, None, "no CoT is wrong")
                }
                names::MEAN_OUTPUT_CHARS => assert!(value.is_some_and(|v| v > 100.0)),
                _ => assert_eq!(value, Some(1.0), "{}: {name}", g.label()),
            }
        }
        let expected: BTreeSet<&str> = display_order(g.task)
            .into_iter()
            .filter(|&n| {
                n != names::FIRST_WRONG_INDEX_MEAN && n != names::FIRST_WRONG_BEFORE_12_SHARE
            })
            .collect();
        let got: BTreeSet<&str> = g.metrics.keys().map(String::as_str).collect();
        assert_eq!(got, expected, "{}", g.label());
    }
    let simple = only_group(&scored);
    assert_eq!(
        simple.metric(names::MEAN_OUTPUT_CHARS),
        Some(mean_chars(&predictions[..N]))
    );
    for (r, record) in scored.results.iter().zip(&records) {
        assert_eq!(r.id, record.id);
        let cot = r.table_cot.as_ref().expect("table CoT scored");
        assert!(r.correct() && cot.values_exact && cot.first_wrong_index.is_none());
        assert_eq!(cot.steps, table(record).path.len());
        assert_eq!((cot.cell_precision, cot.cell_recall), (1.0, 1.0));
        assert!(r.parse_error.is_none());
    }
}

#[test]
fn one_wrong_answer_value_costs_exactly_its_share() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    let i = 1;
    let inst = table(&records[i]);
    let l = inst.path.len() as f64;
    let mut values = inst.gold_answer().values;
    values[0] = (values[0] + 1) % 10;
    let sum = values.iter().map(|&v| u32::from(v)).sum();
    let mut text = lines(&records[i]);
    let last = text.len() - 1;
    text[last] = answer_line(&values, sum);
    let bad = score_ok(records, &with_output(records, i, text.join("\n")));
    let drop = 1.0 - 1.0 / N as f64;
    assert_changes(
        only_group(&base),
        only_group(&bad),
        &[
            (names::EXACT_MATCH_ANSWER, drop),
            ("values_exact", drop),
            ("sum_correct", drop),
            ("value_accuracy", 1.0 - 1.0 / l / N as f64),
            ("correct_prefix", drop),
        ],
    );
}

#[test]
fn a_wrong_sum_alone_fails_the_answer_but_not_the_values() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    let i = 2;
    let answer = table(&records[i]).gold_answer();
    let mut text = lines(&records[i]);
    let last = text.len() - 1;
    text[last] = answer_line(&answer.values, answer.sum + 1);
    let bad = score_ok(records, &with_output(records, i, text.join("\n")));
    let drop = 1.0 - 1.0 / N as f64;
    assert_changes(
        only_group(&base),
        only_group(&bad),
        &[(names::EXACT_MATCH_ANSWER, drop), ("sum_correct", drop)],
    );
}

#[test]
fn a_missing_answer_line_is_a_listed_parse_failure_while_the_cot_still_counts() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    let i = 0;
    let mut text = lines(&records[i]);
    text.pop();
    let predictions = with_output(records, i, text.join("\n"));
    let bad = score_ok(records, &predictions);
    let g = only_group(&bad);
    let drop = 1.0 - 1.0 / N as f64;
    let mut expected = vec![
        (names::EXACT_MATCH_ANSWER, drop),
        (names::PARSE_FAILURE_RATE, 1.0 / N as f64),
        (names::MEAN_OUTPUT_CHARS, mean_chars(&predictions)),
    ];
    for &name in verdict_metrics(TaskKind::Ctr) {
        expected.push((name, drop));
    }
    assert_changes(only_group(&base), g, &expected);
    assert_eq!(g.parsed, N - 1);
    assert_eq!(g.parse_failures.len(), 1);
    assert_eq!(g.parse_failures[0].id, records[i].id);
    assert!(g.parse_failures[0].error.contains("Answer:"));
    let r = &bad.results[i];
    assert!(r.answer.is_none() && r.verdict.is_none() && !r.correct());
    assert!(r.parse_error.is_some());
    let table = render_table(&bad.metrics);
    assert!(
        table.contains("1 unparseable output") && table.contains(&records[i].id),
        "{table}"
    );
}

#[test]
fn one_wrong_cot_value_is_found_at_its_step() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    let i = 3;
    let inst = table(&records[i]);
    let l = inst.path.len() as f64;
    let k = 2;
    let cell = inst.path[k - 1];
    let mut text = lines(&records[i]);
    text[k - 1] = step_line(k, inst, cell, (inst.table.value(cell) + 3) % 10);
    let bad = score_ok(records, &with_output(records, i, text.join("\n")));
    let g = only_group(&bad);
    assert_changes(
        only_group(&base),
        g,
        &[
            (names::EXACT_MATCH_COT, 1.0 - 1.0 / N as f64),
            (names::STEP_VALUE_ACCURACY, 1.0 - 1.0 / l / N as f64),
            (names::FIRST_WRONG_INDEX_MEAN, k as f64),
            // Step 2 comes before the 12th: the one wrong CoT errs early.
            (names::FIRST_WRONG_BEFORE_12_SHARE, 1.0),
            (names::FIRST_WRONG_BEFORE_12_SHARE_OF_ALL, 1.0 / N as f64),
        ],
    );
    assert_eq!(g.first_wrong_index_histogram, [(k, 1)].into());
    assert_eq!(
        bad.results[i]
            .table_cot
            .as_ref()
            .and_then(|c| c.first_wrong_index),
        Some(k)
    );
}

#[test]
fn the_max_of_two_drops_only_when_answer_and_cot_are_both_wrong() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    let i = 1;
    let inst = table(&records[i]);
    let mut text = lines(&records[i]);
    let cell = inst.path[0];
    text[0] = step_line(1, inst, cell, (inst.table.value(cell) + 1) % 10);
    let answer = inst.gold_answer();
    let last = text.len() - 1;
    text[last] = answer_line(&answer.values, answer.sum + 2);
    let bad = score_ok(records, &with_output(records, i, text.join("\n")));
    let g = only_group(&bad);
    let drop = 1.0 - 1.0 / N as f64;
    assert_changes(
        only_group(&base),
        g,
        &[
            (names::EXACT_MATCH_ANSWER, drop),
            (names::EXACT_MATCH_COT, drop),
            (names::EXACT_MATCH_MAX, drop),
            ("sum_correct", drop),
            (names::FIRST_WRONG_INDEX_MEAN, 1.0),
            (names::FIRST_WRONG_BEFORE_12_SHARE, 1.0),
            (names::FIRST_WRONG_BEFORE_12_SHARE_OF_ALL, 1.0 / N as f64),
            (
                names::STEP_VALUE_ACCURACY,
                1.0 - 1.0 / inst.path.len() as f64 / N as f64,
            ),
        ],
    );
}

#[test]
fn swapped_cot_steps_cost_the_fields_that_differ() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    // Two consecutive cells in one row with different values: swapping their steps leaves the
    // row fields right and gets the column, its label and the value wrong twice.
    let (i, k) = records
        .iter()
        .enumerate()
        .find_map(|(i, r)| {
            let t = table(r);
            (0..t.path.len() - 1)
                .find(|&k| {
                    let (a, b) = (t.path[k], t.path[k + 1]);
                    a.row == b.row && t.table.value(a) != t.table.value(b)
                })
                .map(|k| (i, k))
        })
        .expect("some record has two differing neighbours in a row");
    let l = table(&records[i]).path.len() as f64;
    let mut text = lines(&records[i]);
    text.swap(k, k + 1);
    let bad = score_ok(records, &with_output(records, i, text.join("\n")));
    let two = 1.0 - 2.0 / l / N as f64;
    let early = if k + 1 < 12 { 1.0 } else { 0.0 };
    assert_changes(
        only_group(&base),
        only_group(&bad),
        &[
            (names::EXACT_MATCH_COT, 1.0 - 1.0 / N as f64),
            (names::FIRST_WRONG_INDEX_MEAN, (k + 1) as f64),
            (names::FIRST_WRONG_BEFORE_12_SHARE, early),
            (names::FIRST_WRONG_BEFORE_12_SHARE_OF_ALL, early / N as f64),
            (names::STEP_COL_ACCURACY, two),
            (names::STEP_COL_LABEL_ACCURACY, two),
            (names::STEP_VALUE_ACCURACY, two),
        ],
    );
}

#[test]
fn a_wrong_label_costs_only_its_field() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    let i = 2;
    let inst = table(&records[i]);
    let l = inst.path.len() as f64;
    let k = 3;
    let cell = inst.path[k - 1];
    let mut text = lines(&records[i]);
    let label = format!("({})", inst.table.row_label(cell));
    assert!(text[k - 1].contains(&label));
    text[k - 1] = text[k - 1].replacen(&label, "(BogusGadget)", 1);
    let bad = score_ok(records, &with_output(records, i, text.join("\n")));
    assert_changes(
        only_group(&base),
        only_group(&bad),
        &[(names::STEP_ROW_LABEL_ACCURACY, 1.0 - 1.0 / l / N as f64)],
    );
}

#[test]
fn an_extra_off_path_step_lowers_cell_precision_only_among_cell_metrics() {
    let records = ctr();
    let base = score_ok(records, &gold(records));
    let i = 0;
    let inst = table(&records[i]);
    let l = inst.path.len();
    let off = (1..=inst.table.rows())
        .flat_map(|r| (1..=inst.table.cols()).map(move |c| Cell::new(r, c)))
        .find(|c| !inst.path.contains(c))
        .expect("an off-path cell");
    let mut text = lines(&records[i]);
    text.insert(l, step_line(l + 1, inst, off, inst.table.value(off)));
    let bad = score_ok(records, &with_output(records, i, text.join("\n")));
    // Precision is pooled (paper K.1): every path cell of the N outputs is listed right, and
    // one cell more is listed.
    let listed_right: usize = records
        .iter()
        .map(|r| table(r).path.iter().collect::<BTreeSet<_>>().len())
        .sum();
    let early = if l + 1 < 12 { 1.0 } else { 0.0 };
    assert_changes(
        only_group(&base),
        only_group(&bad),
        &[
            (names::EXACT_MATCH_COT, 1.0 - 1.0 / N as f64),
            (names::FIRST_WRONG_INDEX_MEAN, (l + 1) as f64),
            (names::FIRST_WRONG_BEFORE_12_SHARE, early),
            (names::FIRST_WRONG_BEFORE_12_SHARE_OF_ALL, early / N as f64),
            (
                names::CELL_PRECISION,
                listed_right as f64 / (listed_right + 1) as f64,
            ),
        ],
    );
}

#[test]
fn missing_duplicated_and_unknown_ids_are_clear_errors() {
    let records = ctr();

    let mut p = gold(records);
    p.truncate(N - 2);
    let err = score(records, &p).unwrap_err();
    assert!(matches!(
        err,
        EvalError::MissingPredictions { count: 2, .. }
    ));
    let text = err.to_string();
    assert!(
        text.contains(&records[N - 1].id) && text.contains(&records[N - 2].id),
        "{text}"
    );

    let mut p = gold(records);
    p.push(p[1].clone());
    let text = score(records, &p).unwrap_err().to_string();
    assert!(
        text.contains("more than one prediction") && text.contains(&records[1].id),
        "{text}"
    );

    let mut p = gold(records);
    p.extend((0..7).map(|k| Prediction::new(format!("nope-{k}"), "Answer: 1 (sum 1)")));
    let err = score(records, &p).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EvalError::UnknownIds { count: 7, .. }));
    assert!(
        text.contains("`nope-0`") && text.contains("and 2 more") && !text.contains("nope-6"),
        "{text}"
    );

    let mut twice = records.to_vec();
    twice.push(records[0].clone());
    let text = score(&twice, &gold(&twice)).unwrap_err().to_string();
    assert!(
        text.contains("more than one eval record") && text.contains(&records[0].id),
        "{text}"
    );
    assert!(matches!(score(&[], &[]), Err(EvalError::EmptyEvalSet)));
}

#[test]
fn malformed_prediction_lines_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("preds.jsonl");
    let good = serde_json::to_string(&Prediction::new("a", "Answer: 1 (sum 1)")).expect("json");
    for (bad, needle) in [
        (r#"{"id": "b"}"#, "missing field `output`"),
        (r#"{"id": "b", "output": 3}"#, "invalid type"),
        ("not json", "expected"),
    ] {
        std::fs::write(&path, format!("{good}\n\n{bad}\n")).expect("write");
        let err = read_predictions(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, EvalError::BadPrediction { line: 3, .. }),
            "{text}"
        );
        assert!(
            text.contains("preds.jsonl") && text.contains("line 3") && text.contains(needle),
            "{text}"
        );
        assert!(!text.contains("at line 1"), "{text}");
    }
    std::fs::write(
        &path,
        format!("{good}\n{{\"id\": \"b\", \"output\": \"x\", \"model\": \"m\"}}\n"),
    )
    .expect("write");
    let read = read_predictions(&path).expect("extra fields are ignored");
    assert_eq!(read.len(), 2);
    let missing = read_predictions(&dir.path().join("absent.jsonl")).unwrap_err();
    assert!(missing.to_string().contains("absent.jsonl"), "{missing}");
}

#[test]
fn results_files_round_trip() {
    let records = ctr();
    let mut text = lines(&records[1]);
    text.pop();
    let cell = table(&records[1]).path[0];
    text[0] = step_line(
        1,
        table(&records[1]),
        cell,
        (table(&records[1]).table.value(cell) + 1) % 10,
    );
    let scored = score_ok(records, &with_output(records, 1, text.join("\n")));
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics_path = dir.path().join("run").join("metrics.json");
    let files = scored.write(&metrics_path).expect("written");
    assert_eq!(files.metrics, metrics_path);
    assert_eq!(
        files.per_example,
        dir.path().join("run").join("metrics.per_example.jsonl")
    );
    assert_eq!(
        read_metrics(&files.metrics).expect("metrics"),
        scored.metrics
    );
    assert_eq!(
        read_example_results(&files.per_example).expect("results"),
        scored.results
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.metrics).expect("read"))
            .expect("json");
    assert_eq!(json["groups"][0]["task"], "ctr");
    assert_eq!(json["groups"][1]["split"], serde_json::Value::Null);
    assert!(json["groups"][0]["metrics"]["exact_match_max"].is_f64());
    assert_eq!(json["groups"][0]["first_wrong_index_histogram"]["1"], 1);

    std::fs::write(&files.metrics, "{\"examples\": 1}").expect("write");
    let err = read_metrics(&files.metrics).unwrap_err().to_string();
    assert!(
        err.contains("metrics.json") && err.contains("groups"),
        "{err}"
    );
}

#[test]
fn the_text_table_shows_every_metric_and_split() {
    let mut records = ctr().to_vec();
    records.extend(generate(TaskKind::Ctr, Split::Hard, 1));
    let scored = score_ok(&records, &gold(&records));
    let table = render_table(&scored.metrics);
    for needle in [
        "ctr",
        "simple",
        "hard",
        "all",
        "exact_match_max",
        "100.0%",
        "step_col_label_accuracy",
    ] {
        assert!(table.contains(needle), "{needle}:\n{table}");
    }
    assert!(!table.contains("first_wrong_index_mean"), "{table}");
    assert!(!table.contains("unparseable"), "{table}");
}

#[test]
fn per_example_path_sits_beside_the_metrics() {
    assert_eq!(
        per_example_path(Path::new("out/metrics.json")),
        Path::new("out/metrics.per_example.jsonl")
    );
    assert_eq!(
        per_example_path(Path::new("hard.json")),
        Path::new("hard.per_example.jsonl")
    );
}

/// 3×3: S top left, an obstacle right of it, the star top right, D bottom right.
fn small_grid() -> Instance {
    Instance::Grid(GridInstance::from_layout(
        3,
        3,
        Cell::new(1, 1),
        Cell::new(3, 3),
        vec![GridObject {
            name: "star".to_string(),
            cell: Cell::new(1, 3),
        }],
        vec![GridObstacle {
            kind: ObstacleKind::Dot,
            cell: Cell::new(1, 2),
        }],
    ))
}

#[test]
fn grid_metrics_average_the_verdicts() {
    use Move::*;
    let grid = small_grid();
    let answers: Vec<std::result::Result<Answer, ParseError>> = vec![
        Ok(grid.gold_answer()),
        Ok(Answer::Grid(s2h_tasks::grid::GridAnswer {
            moves: vec![Right, Right, Down, Down],
        })),
        Ok(Answer::Grid(s2h_tasks::grid::GridAnswer {
            moves: vec![Down, Down, Right, Right],
        })),
        Err(ParseError::NoAnswerLine),
    ];
    let results: Vec<ExampleResult> = answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            score_parsed(&format!("g{i}"), Split::Simple, &grid, "out", a).expect("scored")
        })
        .collect();
    assert!(results[0].correct() && results[0].table_cot.is_none());
    let metrics = aggregate(&results);
    let g = metrics
        .group(TaskKind::Grid, Some(Split::Simple))
        .expect("group");
    let want = [
        (names::VALID_PATH_ACCURACY, 0.25),
        ("stays_inside", 0.75),
        ("reaches_destination_ignoring_obstacles", 0.75),
        ("objects_collected", 0.5),
        (names::OBSTACLES_ENTERED, 1.0 / 3.0),
        // The authors' average leaves out the gold move list: 1 obstacle over 2 outputs.
        (names::OBSTACLES_ENTERED_NON_GOLD, 0.5),
        // No output says where S and D are.
        (names::SOURCE_DESTINATION_CORRECT, 0.0),
        (names::PARSE_FAILURE_RATE, 0.25),
        (names::MEAN_OUTPUT_CHARS, 3.0),
    ];
    for (name, value) in want {
        let got = g.metric(name).unwrap_or(f64::NAN);
        assert!((got - value).abs() < 1e-12, "{name}: {got}");
    }
    assert_eq!(g.metrics.len(), want.len());
    assert_eq!(
        g.parse_failures,
        [ParseFailure {
            id: "g3".into(),
            error: ParseError::NoAnswerLine.to_string()
        }]
    );

    // Nothing parsed: the count of obstacles has no mean, the rates are all 0.
    let none = aggregate(&results[3..]);
    let g = &none.groups[0];
    assert_eq!(g.metric(names::OBSTACLES_ENTERED), None);
    assert_eq!(g.metric(names::VALID_PATH_ACCURACY), Some(0.0));
    assert_eq!(g.metric("objects_collected"), Some(0.0));
}

#[test]
fn analogy_metrics_separate_option_and_per_step_errors() {
    let va = TaskConfig::default()
        .generate(TaskKind::Va, Split::Simple, 0, 0)
        .expect("puzzle");
    let Answer::Analogy(gold) = va.gold_answer() else {
        panic!("not an analogy answer");
    };
    let mut wrong_option = gold.clone();
    wrong_option.option = gold.option % 4 + 1;
    let mut wrong_consistency = gold.clone();
    wrong_consistency.options[0].consistent = !gold.options[0].consistent;
    let mut wrong_example = gold.clone();
    wrong_example.example_patterns[0] = Pattern::ALL
        .iter()
        .copied()
        .find(|&p| p != gold.example_patterns[0])
        .expect("another pattern");
    let results: Vec<ExampleResult> = [gold, wrong_option, wrong_consistency, wrong_example]
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            score_parsed(
                &format!("v{i}"),
                Split::Simple,
                &va,
                "",
                Ok(Answer::Analogy(a)),
            )
            .expect("scored")
        })
        .collect();
    let metrics = aggregate(&results);
    let g = metrics.group(TaskKind::Va, None).expect("pooled group");
    for (name, value) in [
        (names::EXACT_MATCH, 0.25),
        (names::OPTION_CORRECT, 0.75),
        ("example_patterns_correct", 1.0 - 0.5 / 4.0),
        ("consistency_correct", 1.0 - 0.25 / 4.0),
        ("option_patterns_correct", 1.0),
        (names::EXAMPLE_PATTERN_ERROR_RATE, 0.5 / 4.0),
        (names::CONSISTENCY_ERROR_RATE, 0.25 / 4.0),
        (names::OPTION_PATTERN_ERROR_RATE, 0.0),
        (names::PARSE_FAILURE_RATE, 0.0),
    ] {
        let got = g.metric(name).unwrap_or(f64::NAN);
        assert!((got - value).abs() < 1e-12, "{name}: {got}");
    }
}

#[test]
fn the_known_verdict_metrics_are_what_the_verifiers_report() {
    let config = TaskConfig::default();
    let instances = [
        config.generate(TaskKind::Ctr, Split::Simple, 0, 0),
        config.generate(TaskKind::Tr, Split::Simple, 0, 0),
        Ok(small_grid()),
        config.generate(TaskKind::Va, Split::Simple, 0, 0),
    ];
    for instance in instances {
        let instance = instance.expect("instance");
        let verdict = instance.verify(&instance.gold_answer()).expect("verdict");
        let got: BTreeSet<&str> = verdict.metrics.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = verdict_metrics(instance.task()).iter().copied().collect();
        assert_eq!(got, want, "{}", instance.task());
    }
}

#[test]
fn a_table_answer_against_a_grid_is_an_error_not_a_panic() {
    let err = score_parsed(
        "x",
        Split::Simple,
        &small_grid(),
        "",
        Ok(Answer::Table(s2h_tasks::table::TableAnswer::from_values(
            vec![1],
        ))),
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::Task(_)), "{err}");
}

#[test]
fn a_malformed_table_instance_is_an_error_not_a_panic() {
    let damaged = |damage: &dyn Fn(&mut TableInstance)| {
        let mut record = ctr()[0].clone();
        if let Instance::Table(t) = &mut record.instance {
            damage(t);
        }
        score_record(&record, &record.target)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let err = damaged(&|t| t.path.push(Cell::new(99, 1)));
    assert!(
        err.contains(&ctr()[0].id) && err.contains("[99, 1]"),
        "{err}"
    );
    let err = damaged(&|t| {
        t.table.values.pop();
    });
    assert!(err.contains("rows"), "{err}");
}

#[test]
fn va_chain_of_thought_step_rates_reach_the_metrics() {
    let records = generate(TaskKind::Va, Split::Hard, 3);
    let base = score_ok(&records, &gold(&records));
    let g = base
        .metrics
        .group(TaskKind::Va, Some(Split::Hard))
        .expect("va/hard");
    for name in failure_modes::va_step_metrics() {
        if let Some(v) = g.metric(name) {
            assert_eq!(v, 0.0, "{name}");
        }
    }
    for name in [
        names::COT_EXAMPLES_TYPE_VALUES_ERROR_RATE,
        names::COT_EXAMPLES_COLOR_VALUES_ERROR_RATE,
        names::COT_EXAMPLES_PATTERN_ERROR_RATE,
        names::COT_EXAMPLES_DISTINCT_DOMAINS_ERROR_RATE,
        names::COT_EXAMPLES_RELATION_ERROR_RATE,
        names::COT_OPTIONS_DOMAIN_ERROR_RATE,
        names::COT_OPTIONS_VALUES_ERROR_RATE,
        names::COT_OPTIONS_RELATION_ERROR_RATE,
        names::COT_OPTIONS_SOLUTION_ERROR_RATE,
        names::COT_ERROR_RATE,
    ] {
        assert_eq!(g.metric(name), Some(0.0), "{name}");
    }

    // Record 0 reads the first panel of example 1 with a color no panel has. Both panel kinds
    // have a color attribute, so each output has 2 example color lines: 1 wrong of 6.
    let mut text = lines(&records[0]);
    let at = text
        .iter()
        .position(|l| l.starts_with("line_color:") || l.starts_with("shape_color:"))
        .expect("a color line");
    let (name, rest) = text[at].split_once(": ").expect("line");
    let (_, rest) = rest.split_once('}').expect("set");
    text[at] = format!("{name}: {{7}}{rest}");
    let bad = score_ok(&records, &with_output(&records, 0, text.join("\n")));
    let g_bad = bad
        .metrics
        .group(TaskKind::Va, Some(Split::Hard))
        .expect("va/hard");
    assert_changes(
        g,
        g_bad,
        &[
            (names::COT_EXAMPLES_COLOR_VALUES_ERROR_RATE, 1.0 / 6.0),
            (names::COT_ERROR_RATE, 1.0 / 3.0),
        ],
    );
    let rows = table14(&bad.results);
    let color = rows
        .iter()
        .find(|r| r.metric == Some(names::COT_EXAMPLES_COLOR_VALUES_ERROR_RATE))
        .expect("row");
    assert_eq!((color.wrong, color.of), (1, 6));
}

#[test]
fn grid_and_va_failure_scores_round_trip_through_the_results_file() {
    let mut records = generate(TaskKind::Grid, Split::Simple, 2);
    records.extend(generate(TaskKind::Va, Split::Simple, 2));
    let mut predictions = gold(&records);
    predictions[1].output = "S is at (1, 1), D is at (1, 2).\nAnswer: up".to_string();
    let scored = score_ok(&records, &predictions);
    let g = scored
        .metrics
        .group(TaskKind::Grid, None)
        .expect("grid group");
    // The gold output names S and D; the other names at most one of them right (S and D never
    // share a cell) and goes astray from the gold moves.
    assert_eq!(g.metric(names::SOURCE_DESTINATION_CORRECT), Some(0.5));
    assert!(scored.results[0].grid_cot.is_some_and(|c| c.answer_is_gold));
    assert!(
        scored.results[1]
            .grid_cot
            .is_some_and(|c| !c.answer_is_gold)
    );
    assert!(scored.results[2].va_cot.is_some_and(|c| c.cot_correct));
    assert_eq!(
        g.metric(names::OBSTACLES_ENTERED_NON_GOLD),
        scored.results[1]
            .verdict
            .as_ref()
            .and_then(|v| v.metric(names::OBSTACLES_ENTERED))
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let files = scored
        .write(&dir.path().join("metrics.json"))
        .expect("written");
    let back = read_example_results(&files.per_example).expect("results");
    assert_eq!(back, scored.results);
    // The figures' numbers come out the same from the file as from memory.
    assert_eq!(
        grid_failure_modes(&back),
        grid_failure_modes(&scored.results)
    );
    assert_eq!(table14(&back), table14(&scored.results));
    assert_eq!(aggregate(&back), scored.metrics);
}
