//! Nothing silently wrong (issue 13): divergence stops a run without saving NaN weights; data and
//! options the data cannot supply are refused; one process per run directory; a start that
//! failed can be started again; a moved run resumes; a damaged checkpoint is passed over.

mod common;

use std::fs;
use std::path::Path;

use s2h_mixture::{Component, SegmentKind, Supervision};
use s2h_train::checkpoint::{self, CHECKPOINTS_DIR};
use s2h_train::{Duration, TrainConfig, TrainError, TrainingRecord};
use s2h_vlm::VlmConfig;
use s2h_vlm::burn::backend::Flex;
use s2h_vlm::burn::module::AutodiffModule;

use common::*;

/// Every checkpoint left on disk loads, with finite weights.
fn checkpoints_are_finite(run: &Path) -> usize {
    let model = |dir: &Path| {
        let config = VlmConfig::micro();
        let tok = s2h_vlm::VlmTokenizer::from_file(&run.join("tokenizer.json")).unwrap();
        let init = config
            .with_vocab(&tok)
            .init::<B>(&Default::default())
            .unwrap();
        checkpoint::load_model(dir, init, &Default::default()).unwrap()
    };
    let all: Vec<_> = checkpoint::intact(run).unwrap().collect();
    for (dir, _) in &all {
        assert_eq!(
            model(dir).valid().non_finite_param(),
            None,
            "{}",
            dir.display()
        );
    }
    all.len()
}

#[test]
fn a_diverging_run_stops_and_keeps_only_finite_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 16);
    let out = tmp.path().join("run");
    let cfg = TrainConfig {
        lr: 1e9,
        save_every: 1,
        log_every: 5,
        ..config(&data, &out)
    };
    match run(&cfg) {
        Err(TrainError::Diverged { step, .. }) => assert!(step >= 2, "diverged at {step}"),
        other => panic!("expected a divergence error, got {other:?}"),
    }
    assert!(!out.join("model").exists(), "a diverged run wrote a model");
    assert!(checkpoints_are_finite(&out) >= 1);
    // The log holds only finite losses.
    let log = fs::read_to_string(out.join("metrics.jsonl")).unwrap_or_default();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["loss"].as_f64().is_some_and(f64::is_finite), "{line}");
    }
}

#[test]
fn evaluation_instances_are_refused_as_training_data() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 4);
    // Records of an evaluation seed (top bit set), as `generate` used to write them.
    let path = data.join("records.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let eval_seed = (1u64 << 63) | 3;
    let edited: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["seed"] = serde_json::json!(eval_seed);
            format!("{v}\n")
        })
        .collect();
    fs::write(&path, edited).unwrap();
    let err = run(&config(&data, &tmp.path().join("run"))).unwrap_err();
    assert!(matches!(err, TrainError::EvalData { .. }), "{err}");
}

#[test]
fn targets_and_components_the_data_cannot_supply_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 4);
    let run_dir = |n: &str| tmp.path().join(n);
    let err = run(&TrainConfig {
        targets: vec![SegmentKind::ConvertedText],
        ..config(&data, &run_dir("a"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("converted_text"), "{err}");
    let err = run(&TrainConfig {
        targets: vec![SegmentKind::Answer, SegmentKind::ConvertedText],
        ..config(&data, &run_dir("b"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("converted_text"), "{err}");
    let err = run(&TrainConfig {
        trainable: Some(vec![Component::Vision]),
        ..config(&data, &run_dir("c"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("vision"), "{err}");
    // The defaults on the same data train.
    let ok = run(&TrainConfig {
        duration: Duration::Steps(1),
        ..config(&data, &run_dir("d"))
    });
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn a_run_directory_in_use_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 4);
    let out = tmp.path().join("run");
    fs::create_dir_all(&out).unwrap();
    // Another process (here: this test) holds the run's lock.
    let lock = fs::File::create(out.join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let err = run(&config(&data, &out)).unwrap_err();
    assert!(matches!(err, TrainError::RunInUse(_)), "{err}");
    drop(lock);
    let cfg = TrainConfig {
        duration: Duration::Steps(2),
        ..config(&data, &out)
    };
    assert!(run(&cfg).is_ok());
}

/// A start that failed — a missing image, a failure before the first checkpoint — leaves
/// nothing that stops the corrected command, with or without `--resume`.
#[test]
fn a_failed_start_can_be_started_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Image, 4);
    let out = tmp.path().join("run");
    let images = data.join("images");
    let moved = tmp.path().join("images-elsewhere");
    fs::rename(&images, &moved).unwrap();
    let cfg = TrainConfig {
        duration: Duration::Steps(2),
        ..config(&data, &out)
    };
    let err = run(&cfg).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    fs::rename(&moved, &images).unwrap();
    // Fails while writing its first checkpoint: the run never started.
    let err = run(&TrainConfig {
        fail_checkpoint_at: Some(2),
        ..cfg.clone()
    })
    .unwrap_err();
    assert!(matches!(err, TrainError::InjectedFailure(2)), "{err}");
    // No half-written checkpoint stays behind.
    let leftovers: Vec<_> = fs::read_dir(out.join(CHECKPOINTS_DIR))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let summary = run(&cfg).unwrap();
    assert!(summary.completed);
}

/// Sixteen text records and a shared starting model: the configuration of an 8-update run in a
/// given directory, checkpointed every 2 updates (the newest 3 kept), and that run done straight.
fn eight_update_runs(tmp: &Path) -> (impl Fn(&Path) -> TrainConfig, s2h_train::TrainSummary) {
    let data = dataset(&tmp.join("data"), Supervision::Text, 16);
    let start = start_model(&data, &tmp.join("start"));
    let base = move |out: &Path| TrainConfig {
        init_from: Some(start.clone()),
        duration: Duration::Steps(8),
        save_every: 2,
        keep_checkpoints: 3,
        ..config(&data, out)
    };
    let straight = run(&base(&tmp.join("straight"))).unwrap();
    (base, straight)
}

/// A run moved to another directory resumes there, equal to a straight run; options that differ
/// are named.
#[test]
fn a_moved_run_resumes_and_differing_options_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, straight) = eight_update_runs(tmp.path());
    let first = tmp.path().join("first");
    run(&TrainConfig {
        stop_after: Some(4),
        ..base(&first)
    })
    .unwrap();
    let moved = tmp.path().join("moved");
    fs::rename(&first, &moved).unwrap();
    let err = run(&TrainConfig {
        resume: true,
        lr: 1e-2,
        batch_size: 4,
        ..base(&moved)
    })
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("`lr`") && message.contains("`batch_size`"),
        "{message}"
    );
    let resumed = run(&TrainConfig {
        resume: true,
        ..base(&moved)
    })
    .unwrap();
    assert_eq!(resumed.loss_curve, straight.loss_curve);
}

/// A truncated newest checkpoint is passed over for the one before it, and the run still ends
/// equal to a straight run.
#[test]
fn a_damaged_checkpoint_falls_back_to_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, straight) = eight_update_runs(tmp.path());
    let out = tmp.path().join("run");
    run(&TrainConfig {
        stop_after: Some(6),
        ..base(&out)
    })
    .unwrap();
    let (newest, state) = checkpoint::latest(&out).unwrap().unwrap();
    assert_eq!(state.global_step, 6);
    let model = newest.join("model.bin");
    let bytes = fs::read(&model).unwrap();
    fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let (fallback, state) = checkpoint::latest(&out).unwrap().unwrap();
    assert_eq!(state.global_step, 4, "{}", fallback.display());
    let resumed = run(&TrainConfig {
        resume: true,
        ..base(&out)
    })
    .unwrap();
    assert_eq!(resumed.loss_curve, straight.loss_curve);
}

#[test]
fn the_model_directory_records_its_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 4);
    let summary = run(&TrainConfig {
        duration: Duration::Steps(1),
        ..config(&data, &tmp.path().join("run"))
    })
    .unwrap();
    let dir = summary.model_dir.unwrap();
    let record = TrainingRecord::read(&dir).unwrap().unwrap();
    assert_eq!(record.tasks, vec![s2h_tasks::TaskKind::Ctr]);
    // And the directory still loads as a model.
    assert!(s2h_vlm::load_model::<Flex>(&dir, &Default::default()).is_ok());
}
