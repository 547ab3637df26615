//! Interop with the evaluation code people already use: outputs worded as in the authors'
//! released data, a VA output that names only its option, and VLMEvalKit's result files.

use std::path::{Path, PathBuf};

use s2h_mixture::{EvalSetSpec, Existing, Record, RenderOptions, WriteOptions, write_eval_set};
use s2h_tasks::{Answer, Instance, Modality, Split, TaskKind};

use crate::*;

/// An eval set of `count` text records written with its VLMEvalKit TSV, and its records.
fn eval_set(task: TaskKind, split: Split, count: u64) -> (tempfile::TempDir, Vec<Record>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = EvalSetSpec::new(task, split, Modality::Text, count);
    let options = WriteOptions {
        existing: Existing::Refuse,
        formats: "tsv".parse().expect("formats"),
    };
    write_eval_set(
        &spec,
        &RenderOptions::default(),
        dir.path(),
        &options,
        &|| {},
    )
    .expect("eval set written");
    let records = s2h_mixture::read_records(dir.path()).expect("records");
    (dir, records)
}

fn gold(records: &[Record]) -> Vec<Prediction> {
    records
        .iter()
        .map(|r| Prediction::new(&r.id, &r.target))
        .collect()
}

fn group(scored: &Scored, task: TaskKind) -> &GroupMetrics {
    scored.metrics.group(task, None).expect("pooled group")
}

#[test]
fn outputs_in_the_authors_wording_score_like_gold() {
    let (_dir, records) = eval_set(TaskKind::Ctr, Split::Hard, 3);
    let predictions: Vec<Prediction> = records
        .iter()
        .map(|r| match &r.instance {
            Instance::Table(t) => Prediction::new(&r.id, s2h_cot::table::authors_output(t)),
            _ => panic!("not a table"),
        })
        .collect();
    let scored = score(&records, &predictions).expect("scored");
    let g = group(&scored, TaskKind::Ctr);
    for name in [
        names::EXACT_MATCH_ANSWER,
        names::EXACT_MATCH_COT,
        names::EXACT_MATCH_MAX,
        names::STEP_ROW_ACCURACY,
        names::STEP_COL_LABEL_ACCURACY,
        names::STEP_VALUE_ACCURACY,
        names::CELL_PRECISION,
    ] {
        assert_eq!(g.metric(name), Some(1.0), "{name}");
    }
    assert_eq!(g.metric(names::PARSE_FAILURE_RATE), Some(0.0));

    let (_dir, records) = eval_set(TaskKind::Va, Split::Simple, 3);
    let predictions: Vec<Prediction> = records
        .iter()
        .map(|r| {
            let Answer::Analogy(a) = &r.answer else {
                panic!("not a VA answer");
            };
            let cot = r.target.split("Example 1: (").next().expect("cot");
            Prediction::new(
                &r.id,
                format!("{cot}\n{}", s2h_cot::analogy::authors_answer(a)),
            )
        })
        .collect();
    let scored = score(&records, &predictions).expect("scored");
    let g = group(&scored, TaskKind::Va);
    assert_eq!(g.metric(names::EXACT_MATCH), Some(1.0));
    assert_eq!(g.metric(names::OPTION_CORRECT), Some(1.0));
}

#[test]
fn a_bare_right_option_scores_option_correct_only() {
    let (dir, records) = eval_set(TaskKind::Va, Split::Simple, 4);
    let option = |r: &Record| match &r.answer {
        Answer::Analogy(a) => a.option,
        _ => panic!("not a VA answer"),
    };
    let mut predictions = gold(&records);
    predictions[0].output = format!("Answer: {}", option(&records[0]));
    predictions[1].output = format!("Answer: {}", option(&records[1]) % 4 + 1);
    predictions[3].output = "I cannot tell.".to_string();
    let scored = score(&records, &predictions).expect("scored");
    let g = group(&scored, TaskKind::Va);
    for (name, value) in [
        (names::OPTION_CORRECT, 2.0 / 4.0),
        (names::EXACT_MATCH, 1.0 / 4.0),
        (names::PARSE_FAILURE_RATE, 3.0 / 4.0),
        ("example_patterns_correct", 1.0 / 4.0),
        (names::CONSISTENCY_ERROR_RATE, 3.0 / 4.0),
    ] {
        assert_eq!(g.metric(name), Some(value), "{name}");
    }
    assert_eq!(g.parsed, 1);
    assert_eq!(g.parse_failures.len(), 3);
    let r = &scored.results;
    assert_eq!(
        r[0].option_only,
        Some(OptionOnly {
            option: option(&records[0]),
            correct: true
        })
    );
    assert!(r[1].option_only.is_some_and(|o| !o.correct));
    assert_eq!((r[2].option_only, r[3].option_only), (None, None));
    // The per-example file keeps it, and scoring it again gives the same metrics.
    let files = scored
        .write(&dir.path().join("results").join("metrics.json"))
        .expect("written");
    assert_eq!(
        read_example_results(&files.per_example).expect("read back"),
        scored.results
    );
    let again = score_files(dir.path(), &files.per_example).expect("rescored");
    assert_eq!(again.metrics, scored.metrics);
}

/// One sheet row of a VLMEvalKit result file: the TSV's columns plus `prediction`.
enum Cell {
    Number(f64),
    Text(String),
    Empty,
}

fn write_xlsx(path: &Path, header: &[&str], rows: &[Vec<Cell>]) {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, name) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *name).expect("header");
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match cell {
                Cell::Number(x) => {
                    sheet.write_number(r, c, *x).expect("number");
                }
                Cell::Text(s) => {
                    sheet.write_string(r, c, s).expect("text");
                }
                Cell::Empty => {}
            }
        }
    }
    workbook.save(path).expect("xlsx saved");
}

/// VLMEvalKit's result rows for `records` (TSV index = position), in reverse order.
fn result_rows(records: &[Record], outputs: &[String], with_id: bool) -> Vec<Vec<Cell>> {
    records
        .iter()
        .zip(outputs)
        .enumerate()
        .rev()
        .map(|(i, (r, output))| {
            let mut row = vec![
                Cell::Number(i as f64),
                Cell::Text(r.prompt.clone()),
                Cell::Text("Answer: …".to_string()),
            ];
            if with_id {
                row.push(Cell::Text(r.id.clone()));
            }
            row.push(if output.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(output.clone())
            });
            row
        })
        .collect()
}

#[test]
fn vlmevalkit_result_files_score_like_predictions_files() {
    let (dir, records) = eval_set(TaskKind::Ctr, Split::Simple, 4);
    let mut outputs: Vec<String> = records.iter().map(|r| r.target.clone()).collect();
    outputs[1] = outputs[1].replace("(sum ", "(sum 1");
    outputs[2] = String::new();
    let predictions: Vec<Prediction> = records
        .iter()
        .zip(&outputs)
        .map(|(r, o)| Prediction::new(&r.id, o))
        .collect();
    let want = score(&records, &predictions).expect("scored");
    assert_eq!(
        group(&want, TaskKind::Ctr).metric(names::EXACT_MATCH_ANSWER),
        Some(0.5)
    );

    let xlsx = dir
        .path()
        .join("model_OurEval_ConsecutiveTableReadout_SIMPLE_text.xlsx");
    let header = ["index", "question", "answer", "id", "prediction"];
    write_xlsx(&xlsx, &header, &result_rows(&records, &outputs, true));
    let read = read_predictions_for(&xlsx, &records).expect("xlsx read");
    assert_eq!(read.len(), 4);
    let got = score_files(dir.path(), &xlsx).expect("xlsx scored");
    assert_eq!(got.metrics, want.metrics);
    assert_eq!(got.results, want.results);

    // Without an `id` column the index alone maps rows to records.
    let header = ["index", "question", "answer", "prediction"];
    write_xlsx(&xlsx, &header, &result_rows(&records, &outputs, false));
    assert_eq!(
        score_files(dir.path(), &xlsx).expect("scored").metrics,
        want.metrics
    );
    // An index written as text (VLMEvalKit keeps it as text when one index is not a number).
    let mut rows = result_rows(&records, &outputs, false);
    for (k, row) in rows.iter_mut().enumerate() {
        row[0] = Cell::Text((records.len() - 1 - k).to_string());
    }
    write_xlsx(&xlsx, &header, &rows);
    assert_eq!(
        score_files(dir.path(), &xlsx).expect("scored").metrics,
        want.metrics
    );
}

fn xlsx_error(
    dir: &Path,
    records: &[Record],
    header: &[&str],
    rows: Vec<Vec<Cell>>,
) -> (PathBuf, String) {
    let path = dir.join("results.xlsx");
    write_xlsx(&path, header, &rows);
    let err = read_predictions_for(&path, records)
        .expect_err("an error")
        .to_string();
    assert!(err.contains("results.xlsx"), "{err}");
    (path, err)
}

#[test]
fn broken_result_files_are_errors_naming_the_file_and_row() {
    let (dir, records) = eval_set(TaskKind::Ctr, Split::Simple, 3);
    let outputs: Vec<String> = records.iter().map(|r| r.target.clone()).collect();
    let full = ["index", "question", "answer", "id", "prediction"];

    let (_, err) = xlsx_error(
        dir.path(),
        &records,
        &["index", "question", "answer", "id"],
        result_rows(&records, &outputs, true),
    );
    assert!(
        err.contains("`prediction`") && err.contains("index, question, answer, id"),
        "{err}"
    );
    let mut rows = result_rows(&records, &outputs, true);
    rows.iter_mut().for_each(|r| r[0] = Cell::Text("x".into()));
    let (_, err) = xlsx_error(
        dir.path(),
        &records,
        &["idx", "question", "answer", "id", "prediction"],
        rows,
    );
    assert!(err.contains("`index`"), "{err}");

    let cases: [(usize, Cell, &str); 4] = [
        (1, Cell::Text("0_3".into()), "`0_3` is not a whole number"),
        (1, Cell::Number(1.5), "`1.5` is not a whole number"),
        (2, Cell::Number(7.0), "index 7 is not a record"),
        (0, Cell::Empty, "`index` cell is empty"),
    ];
    for (at, cell, needle) in cases {
        let mut rows = result_rows(&records, &outputs, true);
        rows[at][0] = cell;
        let (_, err) = xlsx_error(dir.path(), &records, &full, rows);
        // Sheet rows count from 1, the header being row 1.
        let row = format!("row {}", at + 2);
        assert!(err.contains(&row) && err.contains(needle), "{err}");
    }
    let (_, err) = {
        let mut rows = result_rows(&records, &outputs, true);
        rows[1][0] = Cell::Number(2.0);
        xlsx_error(dir.path(), &records, &full, rows)
    };
    assert!(
        err.contains("row 3") && err.contains("index 2") && err.contains("row 2"),
        "{err}"
    );
    let (_, err) = {
        let mut rows = result_rows(&records, &outputs, true);
        rows[0][3] = Cell::Text("ctr-simple-s0-i99-text".into());
        xlsx_error(dir.path(), &records, &full, rows)
    };
    assert!(
        err.contains("row 2")
            && err.contains("ctr-simple-s0-i99-text")
            && err.contains(&records[2].id),
        "{err}"
    );

    // Not a spreadsheet at all; and a spreadsheet handed to the JSONL reader.
    let fake = dir.path().join("fake.xlsx");
    std::fs::write(&fake, "{\"id\": \"a\", \"output\": \"b\"}\n").expect("write");
    let err = read_predictions_for(&fake, &records)
        .expect_err("not an xlsx")
        .to_string();
    assert!(err.contains("fake.xlsx"), "{err}");
    let real = dir.path().join("real.xlsx");
    write_xlsx(&real, &full, &result_rows(&records, &outputs, true));
    let err = read_predictions(&real).expect_err("not JSONL").to_string();
    assert!(
        err.contains("real.xlsx") && err.contains("VLMEvalKit"),
        "{err}"
    );
    // A result file cut short anywhere is an error naming it, never a panic.
    let bytes = std::fs::read(&real).expect("read");
    let cut = dir.path().join("cut.xlsx");
    for len in (0..bytes.len()).step_by(97) {
        std::fs::write(&cut, &bytes[..len]).expect("write");
        let err = read_predictions_for(&cut, &records).expect_err("cut short");
        assert!(err.to_string().contains("cut.xlsx"), "{err}");
    }
    // Damaged bytes anywhere: an error or, where the damage is harmless, predictions.
    for at in (0..bytes.len()).step_by(61) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        std::fs::write(&cut, &damaged).expect("write");
        if let Err(e) = read_predictions_for(&cut, &records) {
            assert!(e.to_string().contains("cut.xlsx"), "{e}");
        }
    }
}
