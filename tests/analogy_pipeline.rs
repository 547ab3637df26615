//! Visual Analogy end to end: generate records with the dataset writer for every split and
//! supervision, then check them the way a consumer of the files would.

mod common;

use std::fs;
use std::path::Path;

use s2h::cot;
use s2h::mixture::{DatasetSpec, Record, SegmentKind, Supervision, read_records, write_dataset};
use s2h::render::{AnalogyTextFormat, Role};
use s2h::tasks::{Answer, Instance, Split, TaskKind};
use serde_json::Value;

const SPLITS: [Split; 3] = [Split::Simple, Split::Hard, Split::PatternHeldout];
const COUNT: u64 = 3;

fn write(spec: &DatasetSpec) -> (tempfile::TempDir, Vec<Record>, Vec<Value>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let summary = write_dataset(spec, dir.path(), false, &|| {}).expect("dataset is written");
    assert_eq!(summary.records, spec.count);
    let records = read_records(dir.path()).expect("records read back");
    let raw: Vec<Value> = fs::read_to_string(dir.path().join("records.jsonl"))
        .expect("records file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    (dir, records, raw)
}

/// The field layout of SPEC §10 for a VA record.
fn check_fields(raw: &Value) {
    common::assert_record_fields(raw);
    assert_eq!(raw["task"], "va");
    let inst = &raw["instance"];
    let check_panel = |p: &Value| {
        let kind = p["kind"].as_str().expect("panel kind");
        let objects = p["objects"].as_array().expect("panel objects");
        assert!(!objects.is_empty());
        for o in objects {
            assert!(o["type"].is_string() && o["color"].is_u64(), "{o}");
            match kind {
                "lines" => assert!(o.get("size").is_none()),
                "shapes" => {
                    assert!(o["size"].is_u64());
                    let pos = o["position"].as_array().expect("position");
                    assert_eq!(pos.len(), 2);
                    assert!(
                        pos.iter()
                            .all(|v| (1..=3).contains(&v.as_u64().unwrap_or(0)))
                    );
                }
                other => panic!("panel kind {other}"),
            }
        }
    };
    let examples = inst["examples"].as_array().expect("examples");
    assert_eq!(examples.len(), 2);
    for row in examples {
        let row = row.as_array().expect("example row");
        assert_eq!(row.len(), 3);
        row.iter().for_each(check_panel);
    }
    let query = inst["query"].as_array().expect("query");
    assert_eq!(query.len(), 2);
    query.iter().for_each(check_panel);
    let options = inst["options"].as_array().expect("options");
    assert_eq!(options.len(), 4);
    options.iter().for_each(check_panel);
    assert!(["AND", "OR", "XOR", "Progression"].contains(&inst["relation"].as_str().unwrap_or("")));

    let answer = &raw["answer"];
    let patterns = answer["example_patterns"].as_array().expect("patterns");
    assert_eq!(patterns.len(), 2);
    for p in patterns {
        assert_eq!(p.as_array().map(Vec::len), Some(2), "{p}");
    }
    let options = answer["options"].as_array().expect("option answers");
    assert_eq!(options.len(), 4);
    for o in options {
        assert_eq!(o["pattern"].as_array().map(Vec::len), Some(2), "{o}");
        assert!(o["consistent"].is_boolean());
    }
    assert!((1..=4).contains(&answer["option"].as_u64().unwrap_or(0)));
}

/// The image decodes at its size and every panel's box (inside its border) shows something.
fn check_image(dir: &Path, record: &Record, width: u32, height: u32) {
    let path = record.image.as_ref().expect("image path");
    let img = image::open(dir.join(path))
        .expect("image decodes")
        .to_rgb8();
    assert_eq!((img.width(), img.height()), (width, height));
    let layout = record.layout.as_ref().expect("layout");
    assert_eq!((layout.width, layout.height), (width, height));
    assert_eq!(layout.regions.len(), 13);
    let mut names = Vec::new();
    for region in &layout.regions {
        assert_eq!(region.role, Role::Panel);
        let b = region.bbox;
        let margin = (b.w * 0.06).max(2.0);
        let (x0, x1) = ((b.x + margin) as u32, (b.x + b.w - margin) as u32);
        let (y0, y1) = ((b.y + margin) as u32, (b.y + b.h - margin) as u32);
        assert!(x1 <= width && y1 <= height);
        let inked = (x0..x1)
            .flat_map(|x| (y0..y1).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 != [255, 255, 255])
            .count();
        let name = region.name.clone().expect("panel name");
        assert!(inked > 0, "{} shows nothing", name);
        names.push(name);
    }
    for name in [
        "example 1 panel 1",
        "example 2 panel 3",
        "query panel 1",
        "query panel 2",
        "query panel 3",
        "option 1",
        "option 4",
    ] {
        assert!(names.iter().any(|n| n == name), "no region {name}");
    }
}

fn check_target(record: &Record) {
    let answer_part = record.segment_text(SegmentKind::Answer);
    assert!(answer_part.starts_with("Example 1:"), "{answer_part}");
    let parsed = cot::parse_answer(TaskKind::Va, &record.target).expect("target parses");
    assert_eq!(parsed, record.answer);
    assert_eq!(parsed, record.instance.gold_answer());
    assert!(record.instance.verify(&parsed).expect("same task").correct);
    let Answer::Analogy(answer) = &parsed else {
        panic!("not a VA answer");
    };
    assert_eq!(
        cot::analogy::parse_option(&record.target).expect("option"),
        answer.option
    );
    let cot_part = record.segment_text(SegmentKind::Cot);
    assert!(cot_part.contains("Example 1 follows"), "{cot_part}");
}

#[test]
fn every_split_and_supervision_writes_checkable_records() {
    for split in SPLITS {
        for supervision in Supervision::ALL {
            let mut spec = DatasetSpec::new(TaskKind::Va, split, 5, COUNT, supervision);
            // The paper's canvas for one supervision, a small one for the others.
            let (w, h) = if supervision == Supervision::Image {
                (800, 900)
            } else {
                (336, 378)
            };
            spec.image = spec.image.with_size(w, h);
            let (dir, records, raw) = write(&spec);
            assert_eq!(records.len(), COUNT as usize);
            for (record, raw) in records.iter().zip(&raw) {
                check_fields(raw);
                assert_eq!(record.split, split);
                assert_eq!(record.supervision, supervision);
                assert!(matches!(record.instance, Instance::Analogy(_)));
                check_target(record);
                match supervision {
                    Supervision::Text => {
                        assert!(record.image.is_none() && record.layout.is_none());
                        assert!(record.prompt.starts_with("Example 1 panel 1: "));
                    }
                    Supervision::Image | Supervision::ImageViaText => {
                        assert!(record.prompt.starts_with(cot::IMAGE_PLACEHOLDER));
                        check_image(dir.path(), record, w, h);
                    }
                }
                if supervision == Supervision::ImageViaText {
                    let converted = record.segment_text(SegmentKind::ConvertedText);
                    assert!(converted.starts_with("Example 1 panel 1: "));
                    assert!(converted.contains("; type: "), "{converted}");
                }
            }
        }
    }
}

#[test]
fn lossless_text_reaches_the_records() {
    let mut spec = DatasetSpec::new(TaskKind::Va, Split::Hard, 9, COUNT, Supervision::Text);
    spec.text.analogy = AnalogyTextFormat::Lossless;
    let (_dir, records, _) = write(&spec);
    for record in &records {
        let Instance::Analogy(inst) = &record.instance else {
            panic!("not a VA instance");
        };
        let lossless = s2h::render::analogy::describe(inst, AnalogyTextFormat::Lossless);
        assert!(record.prompt.starts_with(&lossless), "{}", record.prompt);
        // Lossless lines hold object codes, not attribute sets.
        let first = record.prompt.lines().next().unwrap_or("");
        assert!(!first.contains("type:"), "{first}");
        let code_like = first
            .split("; ")
            .nth(1)
            .is_some_and(|codes| codes.split(", ").all(|c| c.contains('-')));
        assert!(code_like, "{first}");
        check_target(record);
    }
}
