//! The authors'-evaluator export: file names, columns, and the answers their scorer compares.

use std::fs;
use std::path::Path;

use s2h_tasks::{Answer, Instance, Modality, Move, Split, TaskKind};

use super::*;
use crate::interop::split_tsv;
use crate::record::{SegmentKind, read_records};
use crate::{EvalSetSpec, Existing, RenderOptions, WriteOptions, verify_manifest, write_eval_set};

fn write_set(
    dir: &Path,
    task: TaskKind,
    split: Split,
    modality: Modality,
    count: u64,
) -> Vec<Record> {
    let spec = EvalSetSpec::new(task, split, modality, count);
    let options = WriteOptions {
        existing: Existing::Refuse,
        formats: "oureval".parse().unwrap(),
    };
    let render = RenderOptions {
        image_size: Some([240, 160]),
        ..RenderOptions::default()
    };
    write_eval_set(&spec, &render, dir, &options, &|| {}).unwrap();
    read_records(dir).unwrap()
}

/// The header and the rows of a TSV file, each row as `column -> field`.
fn read_table(path: &Path) -> (Vec<String>, Vec<std::collections::HashMap<String, String>>) {
    let text = fs::read_to_string(path).unwrap();
    let mut rows = split_tsv(&text).unwrap().into_iter();
    let header = rows.next().unwrap();
    let rows = rows
        .map(|fields| {
            assert_eq!(fields.len(), header.len());
            header.iter().cloned().zip(fields).collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn file_names_follow_the_authors_dataset_names() {
    assert_eq!(
        file_name(TaskKind::Ctr, Split::Hard, Modality::Image),
        "OurEval_ConsecutiveTableReadout_HARD_image.tsv"
    );
    assert_eq!(
        file_name(TaskKind::Tr, Split::Simple, Modality::Text),
        "OurEval_TableReadout_SIMPLE_text.tsv"
    );
    assert_eq!(
        file_name(TaskKind::Grid, Split::Simple, Modality::Text),
        "OurEval_GridNavigation_SIMPLE_text.tsv"
    );
    assert_eq!(
        file_name(TaskKind::Va, Split::PatternHeldout, Modality::Image),
        "OurEval_VisualAnalogy_PATTERN_HELDOUT_image.tsv"
    );
    assert_eq!(
        file_name(TaskKind::Ctr, Split::Medium, Modality::Text),
        "OurEval_ConsecutiveTableReadout_MEDIUM_text.tsv"
    );
}

#[test]
fn grid_rows_carry_what_the_authors_grid_evaluator_reads() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_set(dir.path(), TaskKind::Grid, Split::Simple, Modality::Text, 4);
    let name = "OurEval_GridNavigation_SIMPLE_text.tsv";
    let manifest = verify_manifest(dir.path()).unwrap();
    assert!(
        manifest.files.iter().any(|f| f.path == name),
        "{manifest:?}"
    );
    let (header, rows) = read_table(&dir.path().join(name));
    assert_eq!(
        header,
        [
            "index",
            "question",
            "answer",
            "id",
            "text",
            "start_row",
            "start_col",
            "end_row",
            "end_col",
            "collect_objects_coordinates",
            "num_steps"
        ]
    );
    assert_eq!(rows.len(), 4);
    for (i, (row, record)) in rows.iter().zip(&records).enumerate() {
        let Instance::Grid(g) = &record.instance else {
            panic!("not a grid");
        };
        assert_eq!(row["index"], i.to_string());
        assert_eq!(row["id"], record.id);
        assert_eq!(row["question"], record.prompt);
        let cell = |c: s2h_tasks::Cell| [c.row.to_string(), c.col.to_string()];
        assert_eq!(
            [&row["start_row"], &row["start_col"]],
            cell(g.start).each_ref()
        );
        assert_eq!(
            [&row["end_row"], &row["end_col"]],
            cell(g.destination).each_ref()
        );
        assert_eq!(row["num_steps"], g.dfs_steps.to_string());
        let objects: Vec<String> = g
            .objects
            .iter()
            .map(|o| format!("{}-{}", o.cell.row, o.cell.col))
            .collect();
        assert_eq!(row["collect_objects_coordinates"], objects.join(":"));
        // The grid as integer codes, rows by line, cells by `:`: S 1, D 2, objects from 3,
        // obstacles negative, empty 0.
        let codes: Vec<Vec<i64>> = row["text"]
            .lines()
            .map(|l| l.split(':').map(|c| c.parse().unwrap()).collect())
            .collect();
        assert_eq!(codes.len(), g.rows as usize);
        assert!(codes.iter().all(|r| r.len() == g.cols as usize));
        let at = |c: s2h_tasks::Cell| codes[c.row as usize - 1][c.col as usize - 1];
        assert_eq!((at(g.start), at(g.destination)), (1, 2));
        for (k, o) in g.objects.iter().enumerate() {
            assert_eq!(at(o.cell), 3 + k as i64);
        }
        for o in &g.obstacles {
            assert!(at(o.cell) < 0);
        }
        let filled = 2 + g.objects.len() + g.obstacles.len();
        let zeros = codes.iter().flatten().filter(|&&c| c == 0).count();
        assert_eq!(zeros + filled, (g.rows * g.cols) as usize);
        // The gold moves as the Python list of (row, column) steps their evaluator compares.
        let Answer::Grid(a) = &record.answer else {
            panic!("not a grid answer");
        };
        let steps: Vec<String> = a
            .moves
            .iter()
            .map(|m| {
                let (dr, dc) = m.delta();
                format!("({dr}, {dc})")
            })
            .collect();
        assert_eq!(row["answer"], format!("[{}]", steps.join(", ")));
        assert!(a.moves.contains(&Move::Right) || a.moves.contains(&Move::Left));
    }
}

#[test]
fn table_and_analogy_answers_are_the_gold_outputs_their_scorer_compares() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_set(dir.path(), TaskKind::Ctr, Split::Simple, Modality::Image, 3);
    let (header, rows) = read_table(
        &dir.path()
            .join("OurEval_ConsecutiveTableReadout_SIMPLE_image.tsv"),
    );
    assert_eq!(header, ["index", "image", "question", "answer", "id"]);
    for (row, record) in rows.iter().zip(&records) {
        // Their table scorer reads numbers out of the whole output on both sides, so the gold
        // output itself is the answer.
        assert_eq!(row["answer"], record.target);
        assert!(!row["question"].contains("<image>"));
        assert!(row["image"].len() > 64);
    }

    let dir = tempfile::tempdir().unwrap();
    let records = write_set(dir.path(), TaskKind::Va, Split::Hard, Modality::Text, 3);
    let (header, rows) = read_table(&dir.path().join("OurEval_VisualAnalogy_HARD_text.tsv"));
    assert_eq!(header, ["index", "question", "answer", "id"]);
    for (row, record) in rows.iter().zip(&records) {
        assert_eq!(row["answer"], record.segment_text(SegmentKind::Answer));
        assert!(row["answer"].starts_with("Example 1: "));
    }
}

#[test]
fn a_mixture_gets_one_file_per_task_split_and_modality() {
    let dir = tempfile::tempdir().unwrap();
    let mixture = crate::Mixture::new(crate::MixtureKind::MixPlus, TaskKind::Ctr, 6, 0);
    let options = WriteOptions {
        existing: Existing::Refuse,
        formats: "tsv,oureval".parse().unwrap(),
    };
    let render = RenderOptions {
        image_size: Some([240, 160]),
        ..RenderOptions::default()
    };
    let eval = crate::EvalTexts::new(render.text);
    crate::write_mixture(&mixture, &render, &eval, dir.path(), &options, &|| {}).unwrap();
    let records = read_records(dir.path()).unwrap();
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(PREFIX))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "OurEval_ConsecutiveTableReadout_HARD_text.tsv",
            "OurEval_ConsecutiveTableReadout_SIMPLE_image.tsv",
            "OurEval_ConsecutiveTableReadout_SIMPLE_text.tsv",
        ]
    );
    // Every record is in exactly one file, under its position in records.jsonl.
    let mut seen = 0;
    for name in &names {
        let (_, rows) = read_table(&dir.path().join(name));
        for row in rows {
            let index: usize = row["index"].parse().unwrap();
            assert_eq!(row["id"], records[index].id);
            seen += 1;
        }
    }
    assert_eq!(seen, records.len());
    // Asked for again with the same formats, the complete dataset is kept; without the export
    // it is refused as different.
    let keep = WriteOptions {
        existing: Existing::Keep,
        ..options
    };
    crate::write_mixture(&mixture, &render, &eval, dir.path(), &keep, &|| {}).unwrap();
    let without = WriteOptions {
        existing: Existing::Keep,
        formats: "tsv".parse().unwrap(),
    };
    let err = crate::write_mixture(&mixture, &render, &eval, dir.path(), &without, &|| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains(PREFIX), "{err}");
}
