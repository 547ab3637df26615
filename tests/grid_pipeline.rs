//! Grid Navigation end to end: generate records with the dataset export for every supervision,
//! read them back, and check the fields, the images (size, S and D colours at their layout
//! boxes, ink in glyph cells) and that the gold target parses and verifies.

use s2h::cot::{CONVERT_PROMPT, IMAGE_PLACEHOLDER};
use s2h::mixture::{DatasetSpec, Record, SegmentKind, Supervision, read_records, write_dataset};
use s2h::render::{BBox, Role, TextOptions};
use s2h::tasks::grid::{CellContent, GridInstance};
use s2h::tasks::{Answer, Cell, Instance, Split, TaskKind};

const SKY_BLUE: [u8; 3] = [0x87, 0xce, 0xeb];
const DARK_GREEN: [u8; 3] = [0x00, 0x64, 0x00];

fn grid_of(record: &Record) -> &GridInstance {
    match &record.instance {
        Instance::Grid(g) => g,
        other => panic!("{} holds a {:?} instance", record.id, other.task()),
    }
}

/// The pixel just inside the top-left corner of a box, clear of the border and the S/D letter.
fn corner(image: &image::RgbImage, b: BBox) -> [u8; 3] {
    let inset = (b.w * 0.12).max(3.0);
    image
        .get_pixel((b.x + inset) as u32, (b.y + inset) as u32)
        .0
}

/// Dark pixels in the middle 70% of a box (well away from its border lines).
fn dark_pixels(image: &image::RgbImage, b: BBox) -> usize {
    let (x0, x1) = ((b.x + 0.15 * b.w) as u32, (b.x + 0.85 * b.w) as u32);
    let (y0, y1) = ((b.y + 0.15 * b.h) as u32, (b.y + 0.85 * b.h) as u32);
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .filter(|&(x, y)| image.get_pixel(x, y).0.iter().all(|&v| v < 110))
        .count()
}

fn check_image(dir: &std::path::Path, record: &Record, size: (u32, u32)) {
    let inst = grid_of(record);
    let path = record
        .image
        .as_ref()
        .expect("image records name their image");
    let image = image::open(dir.join(path)).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), size, "{}", record.id);
    let layout = record
        .layout
        .as_ref()
        .expect("image records carry a layout");
    assert_eq!((layout.width, layout.height), size);
    let count = |role| layout.regions.iter().filter(|r| r.role == role).count();
    assert_eq!(count(Role::Cell), (inst.rows * inst.cols) as usize);
    assert_eq!(count(Role::RowLabel), inst.rows as usize);
    assert_eq!(count(Role::ColLabel), inst.cols as usize);
    assert_eq!(corner(&image, layout.cell(inst.start).unwrap()), SKY_BLUE);
    assert_eq!(
        corner(&image, layout.cell(inst.destination).unwrap()),
        DARK_GREEN
    );
    for r in 1..=inst.rows {
        for c in 1..=inst.cols {
            let cell = Cell::new(r, c);
            let b = layout.cell(cell).unwrap();
            let dark = dark_pixels(&image, b);
            match inst.content(cell) {
                CellContent::Object(_) | CellContent::Obstacle(_) => {
                    assert!(
                        dark as f32 > 0.02 * b.w * b.h,
                        "{} {cell} {:?}: only {dark} dark pixels",
                        record.id,
                        inst.content(cell)
                    )
                }
                CellContent::Empty => {
                    assert_eq!(dark, 0, "{} {cell} is empty", record.id);
                    assert_eq!(corner(&image, b), [255, 255, 255]);
                }
                CellContent::Start | CellContent::Destination => {}
            }
        }
    }
}

#[test]
fn grid_records_for_every_supervision_are_complete_and_correct() {
    let text_options = TextOptions::default();
    for (split, size) in [(Split::Simple, (448, 448)), (Split::Hard, (1000, 1000))] {
        for supervision in Supervision::ALL {
            let count = 3;
            let mut spec = DatasetSpec::new(TaskKind::Grid, split, 5, count, supervision);
            spec.image = spec.image.with_size(size.0, size.1);
            let dir = tempfile::tempdir().unwrap();
            let summary = write_dataset(&spec, dir.path(), false, &|| {}).unwrap();
            assert_eq!(summary.records, count);
            let records = read_records(dir.path()).unwrap();
            assert_eq!(records.len(), count as usize);
            for (i, record) in records.iter().enumerate() {
                let what = &record.id;
                assert_eq!(record.task, TaskKind::Grid);
                assert_eq!(
                    (record.split, record.seed, record.index),
                    (split, 5, i as u64)
                );
                assert_eq!(record.supervision, supervision);
                let inst = grid_of(record);
                assert_eq!(
                    record.instance,
                    spec.tasks
                        .generate(TaskKind::Grid, split, 5, i as u64)
                        .unwrap()
                );
                assert_eq!(record.answer, Answer::Grid(inst.gold_answer()));
                let tex = s2h::render::render_text(&record.instance, &text_options);
                assert!(tex.starts_with("\\begin{tabular}"));

                // Segments and target.
                let kinds: Vec<SegmentKind> = record.segments.iter().map(|s| s.kind).collect();
                let joined: String = record.segments.iter().map(|s| s.text.as_str()).collect();
                assert_eq!(record.target, joined, "{what}");
                let cot = record.segment_text(SegmentKind::Cot);
                let steps = cot.lines().filter(|l| l.starts_with("Step ")).count();
                assert_eq!(steps, inst.dfs_steps as usize, "{what}");
                for o in &inst.objects {
                    assert!(cot.contains(&format!("collect {}", o.name)), "{what}");
                }
                assert!(
                    record
                        .segment_text(SegmentKind::Answer)
                        .starts_with("Answer: ")
                );
                match supervision {
                    Supervision::Text => {
                        assert_eq!(kinds, [SegmentKind::Cot, SegmentKind::Answer]);
                        assert!(record.prompt.starts_with(&tex), "{what}");
                        assert!(record.image.is_none() && record.layout.is_none());
                    }
                    Supervision::Image | Supervision::ImageViaText => {
                        assert!(record.prompt.starts_with(IMAGE_PLACEHOLDER), "{what}");
                        assert!(record.prompt.contains("sky blue"), "{what}");
                        if supervision == Supervision::ImageViaText {
                            assert_eq!(
                                kinds,
                                [
                                    SegmentKind::ConvertPrompt,
                                    SegmentKind::ConvertedText,
                                    SegmentKind::Cot,
                                    SegmentKind::Answer
                                ]
                            );
                            assert!(
                                record
                                    .segment_text(SegmentKind::ConvertPrompt)
                                    .starts_with(CONVERT_PROMPT)
                            );
                            assert_eq!(
                                record.segment_text(SegmentKind::ConvertedText).trim_end(),
                                tex
                            );
                        } else {
                            assert_eq!(kinds, [SegmentKind::Cot, SegmentKind::Answer]);
                        }
                        check_image(dir.path(), record, size);
                    }
                }
                for o in &inst.objects {
                    assert!(record.prompt.contains(&o.name), "{what}");
                }

                // The gold target parses back to the gold answer, which verifies.
                let parsed = s2h::cot::parse_answer(TaskKind::Grid, &record.target).unwrap();
                assert_eq!(parsed, record.answer, "{what}");
                let verdict = record.instance.verify(&parsed).unwrap();
                assert!(verdict.correct, "{what}: {verdict:?}");
            }
        }
    }
}
