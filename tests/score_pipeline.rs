//! Scoring end to end through the facade: generate a CTR text eval set, write a predictions
//! file of gold and corrupted outputs, score it, write the results and read them back.

use std::io::Write as _;

use s2h::eval::{self, Prediction, names};
use s2h::mixture::{DatasetSpec, Supervision, read_records, write_dataset};
use s2h::tasks::{Split, TaskKind};

#[test]
fn gold_and_corrupted_predictions_score_as_expected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let eval_dir = dir.path().join("ctr-medium");
    let spec = DatasetSpec::new(TaskKind::Ctr, Split::Medium, 11, 5, Supervision::Text);
    write_dataset(&spec, &eval_dir, false, &|| {}).expect("eval set written");
    let records = read_records(&eval_dir).expect("records");

    // Gold outputs, in shuffled order: ids, not positions, pair them with records.
    let gold_path = dir.path().join("gold.jsonl");
    let mut file = std::fs::File::create(&gold_path).expect("create");
    for r in records.iter().rev() {
        let line = serde_json::to_string(&Prediction::new(&r.id, &r.target)).expect("json");
        writeln!(file, "{line}").expect("write");
    }
    drop(file);
    let gold = eval::score_files(&eval_dir, &gold_path).expect("gold scored");
    assert_eq!(gold.results.len(), 5);
    let g = gold
        .metrics
        .group(TaskKind::Ctr, Some(Split::Medium))
        .expect("ctr/medium");
    for name in [
        names::EXACT_MATCH_ANSWER,
        names::EXACT_MATCH_COT,
        names::EXACT_MATCH_MAX,
        names::CELL_PRECISION,
        names::CELL_RECALL,
        names::STEP_VALUE_ACCURACY,
    ] {
        assert_eq!(g.metric(name), Some(1.0), "{name}");
    }

    // Record 0 loses its answer line; record 1 answers a wrong sum.
    let mut outputs: Vec<String> = records.iter().map(|r| r.target.clone()).collect();
    outputs[0] = outputs[0]
        .lines()
        .filter(|l| !l.starts_with("Answer:"))
        .collect::<Vec<_>>()
        .join("\n");
    let answer_at = outputs[1].rfind("(sum ").expect("sum");
    outputs[1] = format!("{}(sum 999)", &outputs[1][..answer_at]);
    let bad_path = dir.path().join("bad.jsonl");
    let lines: Vec<String> = records
        .iter()
        .zip(&outputs)
        .map(|(r, o)| serde_json::to_string(&Prediction::new(&r.id, o)).expect("json"))
        .collect();
    std::fs::write(&bad_path, lines.join("\n")).expect("write");
    let bad = eval::score_files(&eval_dir, &bad_path).expect("scored");
    let g = bad
        .metrics
        .group(TaskKind::Ctr, Some(Split::Medium))
        .expect("ctr/medium");
    assert_eq!(g.metric(names::EXACT_MATCH_ANSWER), Some(3.0 / 5.0));
    assert_eq!(g.metric(names::EXACT_MATCH_COT), Some(1.0));
    assert_eq!(g.metric(names::EXACT_MATCH_MAX), Some(1.0));
    assert_eq!(g.metric(names::PARSE_FAILURE_RATE), Some(1.0 / 5.0));
    assert_eq!(g.metric("sum_correct"), Some(3.0 / 5.0));
    assert_eq!(g.metric("values_exact"), Some(4.0 / 5.0));
    assert_eq!(g.parse_failures.len(), 1);
    assert_eq!(g.parse_failures[0].id, records[0].id);

    let files = bad
        .write(&dir.path().join("results").join("metrics.json"))
        .expect("written");
    assert_eq!(
        eval::read_metrics(&files.metrics).expect("metrics"),
        bad.metrics
    );
    let results = eval::read_example_results(&files.per_example).expect("per example");
    assert_eq!(results, bad.results);
    assert!(results[0].parse_error.is_some() && results[0].answer.is_none());
    assert!(eval::render_table(&bad.metrics).contains("60.0%"));

    // A prediction for an id the eval set lacks is refused, naming it.
    std::fs::write(
        &bad_path,
        format!(
            "{}\n{{\"id\": \"tr-hard-s0-i0-text\", \"output\": \"\"}}\n",
            lines.join("\n")
        ),
    )
    .expect("write");
    let err = eval::score_files(&eval_dir, &bad_path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tr-hard-s0-i0-text"), "{err}");
}
