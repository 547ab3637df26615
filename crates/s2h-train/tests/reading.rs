//! The reading stage: the vision tower taught to name what each region of the training images
//! shows, before the phases, then kept frozen.

mod common;

use std::path::Path;

use s2h_mixture::{Component, Supervision};
use s2h_train::{Duration, READING_FILE, ReadingReport, ReadingStage, TrainConfig, TrainError};
use s2h_vlm::burn::backend::Flex;
use s2h_vlm::{VisionConfig, VitConfig, VlmConfig};

use common::*;

/// The micro decoder with a ViT that sees enough pixels to tell words apart: 64×64 images,
/// patches of 8 (an 8×8 token grid).
fn reader_model() -> VlmConfig {
    let mut model = VlmConfig::micro();
    model.vision = Some(VisionConfig::new().with_vit(Some(VitConfig::new(96, 12, 48, 1, 2))));
    model
}

fn reading_config(data: &Path, out: &Path, stage: ReadingStage) -> TrainConfig {
    TrainConfig {
        model: reader_model(),
        reading: Some(stage),
        trainable: Some(vec![Component::Projector, Component::Lm]),
        duration: Duration::Steps(2),
        save_every: 0,
        ..config(data, out)
    }
}

fn report(run: &Path) -> ReadingReport {
    let text = std::fs::read_to_string(run.join(READING_FILE)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The tower's weights of a finished run's model.
fn tower(run: &s2h_train::TrainSummary) -> Vec<f32> {
    let dir = run.model_dir.as_ref().unwrap();
    let (_, _, model) = s2h_vlm::load_model::<Flex>(dir, &Default::default()).unwrap();
    let vit = model.vision.unwrap().vit.unwrap();
    let patches = vit.patch_embed.weight.val().into_data();
    let positions = vit.pos_embed.val().into_data();
    patches
        .iter::<f32>()
        .chain(positions.iter::<f32>())
        .collect()
}

#[test]
fn the_tower_learns_to_read_the_table_before_the_phases_and_stays_frozen() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Image, 400);
    let stage = ReadingStage {
        steps: 300,
        batch_size: 16,
        lr: 1e-3,
        images: 400,
    };
    let out = tmp.path().join("run");
    let summary = run_on(&reading_config(&data, &out, stage.clone()));
    let read = report(&out);
    assert_eq!(read.skipped, None);
    assert_eq!((read.train_images, read.held_out_images), (360, 40));
    assert_eq!(read.steps, 300);
    // The 2x4 table's 8 body cells, each a value word, marked when highlighted: 20 labels.
    assert_eq!((read.cells, read.labels), (8, 20));
    assert!((0.0..=1.0).contains(&read.held_out_accuracy));
    assert!(read.chance > 0.0 && read.chance < 0.5, "{read:?}");
    // The tower and head fit the labels, from ln(labels) for a uniform guess to well below it
    // (1.7 against 3.0 here), and name held-out cells above chance (29% against 7% here; reading
    // them well takes thousands of images: docs/training.md has the cpu tier's numbers).
    let uniform = (read.labels as f32).ln();
    assert!(
        read.final_loss < 0.7 * uniform,
        "loss {} against {uniform} for a uniform guess: {read:?}",
        read.final_loss
    );
    assert!(read.held_out_accuracy > read.chance + 0.1, "{read:?}");

    // The phases left the tower as the reading stage made it: a longer run ends with the same
    // tower, and a run without the stage with another.
    let longer = run_on(&TrainConfig {
        duration: Duration::Steps(6),
        ..reading_config(&data, &tmp.path().join("longer"), stage)
    });
    assert_eq!(tower(&summary), tower(&longer));
    let unread = run_on(&TrainConfig {
        reading: None,
        ..reading_config(&data, &tmp.path().join("unread"), ReadingStage::default())
    });
    assert_ne!(tower(&summary), tower(&unread));
}

fn run_on(config: &TrainConfig) -> s2h_train::TrainSummary {
    let summary = run(config).unwrap();
    assert!(summary.completed);
    summary
}

#[test]
fn text_records_skip_the_stage_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 8);
    let out = tmp.path().join("run");
    run_on(&TrainConfig {
        trainable: Some(vec![Component::Lm]),
        ..reading_config(&data, &out, ReadingStage::default())
    });
    let read = report(&out);
    assert!(read.skipped.is_some_and(|why| why.contains("no image")));
    assert_eq!(read.train_images, 0);
}

#[test]
fn impossible_stages_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Image, 8);
    let bad = ReadingStage {
        steps: 0,
        ..ReadingStage::default()
    };
    let out = tmp.path().join("run");
    let err = run(&reading_config(&data, &out, bad)).unwrap_err();
    assert!(
        matches!(err, TrainError::Config(ref m) if m.contains("reading")),
        "{err}"
    );
    assert!(!out.exists());

    // A model without a vision tower has nothing to teach.
    let mut text_only = reading_config(&data, &tmp.path().join("text"), ReadingStage::default());
    text_only.model.vision = None;
    text_only.trainable = Some(vec![Component::Lm]);
    let err = run(&text_only).unwrap_err();
    assert!(err.to_string().contains("vision tower"), "{err}");
}

#[test]
fn the_stage_is_part_of_what_a_resumed_run_must_agree_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Image, 16);
    let stage = ReadingStage {
        steps: 2,
        batch_size: 4,
        images: 16,
        ..ReadingStage::default()
    };
    let out = tmp.path().join("run");
    let first = TrainConfig {
        duration: Duration::Steps(4),
        save_every: 2,
        stop_after: Some(2),
        ..reading_config(&data, &out, stage.clone())
    };
    assert!(!run(&first).unwrap().completed);
    let other = TrainConfig {
        resume: true,
        stop_after: None,
        reading: Some(ReadingStage { steps: 3, ..stage }),
        ..first.clone()
    };
    let err = run(&other).unwrap_err();
    assert!(err.to_string().contains("reading"), "{err}");
    // The same stage resumes from the checkpoint, without teaching the tower again.
    let before = std::fs::read(out.join(READING_FILE)).unwrap();
    let same = TrainConfig {
        resume: true,
        stop_after: None,
        ..first
    };
    assert!(run(&same).unwrap().completed);
    assert_eq!(std::fs::read(out.join(READING_FILE)).unwrap(), before);
}
