//! The table tasks end to end: generator → renderers → CoT → canonical JSONL + PNG → read back,
//! parsed and verified, across crates.

mod common;

use std::collections::HashSet;

use s2h::mixture::{DatasetSpec, SegmentKind, Supervision, read_records, write_dataset};
use s2h::tasks::{Cell, Instance, Split, TaskKind};

fn write(spec: &DatasetSpec, threads: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| write_dataset(spec, dir.path(), false, &|| {}))
        .expect("dataset written");
    dir
}

#[test]
fn records_carry_the_spec_fields_and_their_images_show_the_path() {
    for (task, split) in [(TaskKind::Ctr, Split::Medium), (TaskKind::Tr, Split::Hard)] {
        let mut spec = DatasetSpec::new(task, split, 9, 4, Supervision::ImageViaText);
        spec.image = spec.image.with_size(750, 400);
        let dir = write(&spec, 2);

        let text = std::fs::read_to_string(dir.path().join("records.jsonl")).expect("jsonl");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json line");
            common::assert_record_fields(&v);
            let table = &v["instance"]["table"];
            assert!(table["row_labels"].is_array() && table["col_labels"].is_array());
            assert!(table["values"][0].is_array());
            assert!(v["instance"]["path"][0].is_array(), "cells are [row, col]");
            assert!(v["answer"]["values"].is_array() && v["answer"]["sum"].is_u64());
            assert_eq!(v["task"], task.name());
        }

        for record in read_records(dir.path()).expect("records read back") {
            let Instance::Table(instance) = &record.instance else {
                panic!("a table task produced another instance");
            };
            // Every highlighted cell is yellow in the PNG on disk, and no other body cell is.
            let path = record.image.as_ref().expect("image path");
            let png = image::open(dir.path().join(path))
                .expect("PNG decodes")
                .to_rgb8();
            assert_eq!(png.dimensions(), (750, 400));
            let layout = record.layout.as_ref().expect("layout");
            let on_path: HashSet<Cell> = instance.path.iter().copied().collect();
            for r in 1..=instance.table.rows() {
                for c in 1..=instance.table.cols() {
                    let cell = Cell::new(r, c);
                    let b = layout.cell(cell).expect("every cell has a box");
                    let px = png
                        .get_pixel((b.x + b.w * 0.1) as u32, (b.y + b.h * 0.15) as u32)
                        .0;
                    assert_eq!(
                        px == [255, 255, 0],
                        on_path.contains(&cell),
                        "{cell}: {px:?}"
                    );
                }
            }
            // The converted text is the LaTeX rendering, and the target reads back to the gold.
            assert!(
                record
                    .segment_text(SegmentKind::ConvertedText)
                    .starts_with("\\begin{tabular}")
            );
            let parsed = s2h::cot::parse_answer(task, &record.target).expect("gold parses");
            assert!(record.instance.verify(&parsed).expect("same task").correct);
        }
    }
}

#[test]
fn one_and_four_threads_write_identical_files() {
    let mut spec = DatasetSpec::new(TaskKind::Ctr, Split::Hard, 2, 10, Supervision::Image);
    spec.image = spec.image.with_size(448, 448);
    spec.start_index = 100;
    let (a, b) = (write(&spec, 1), write(&spec, 4));
    let files = |dir: &tempfile::TempDir| {
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("images"))
            .expect("images dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files(&a), files(&b));
    assert_eq!(files(&a).len(), 10);
    for name in files(&a) {
        let path = |d: &tempfile::TempDir| d.path().join("images").join(&name);
        assert_eq!(std::fs::read(path(&a)).ok(), std::fs::read(path(&b)).ok());
    }
    assert_eq!(
        std::fs::read(a.path().join("records.jsonl")).ok(),
        std::fs::read(b.path().join("records.jsonl")).ok()
    );
}

#[test]
fn a_shard_equals_the_same_indices_of_a_longer_run() {
    let whole = DatasetSpec::new(TaskKind::Tr, Split::Simple, 4, 6, Supervision::Text);
    let mut shard = whole.clone();
    shard.start_index = 3;
    shard.count = 3;
    let (a, b) = (write(&whole, 2), write(&shard, 1));
    let lines = |d: &tempfile::TempDir| {
        std::fs::read_to_string(d.path().join("records.jsonl"))
            .expect("jsonl")
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&a)[3..], lines(&b)[..]);
}
