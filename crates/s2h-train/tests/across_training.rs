//! What analysis across training needs from a run (issue 14): checkpoints kept for good at
//! chosen steps (`keep_steps`), and a plan phase that continues the previous one with its
//! optimizer state and learning-rate schedule (the paper's "Mix → Mix+", Fig 8, footnote 12).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use s2h_mixture::{MixtureKind, Phase, Plan, Supervision};
use s2h_tasks::TaskKind;
use s2h_train::checkpoint::{self, CHECKPOINTS_DIR, KEPT_FILE, STATE_FILE, TrainState};
use s2h_train::schedule::{learning_rate, warmup_steps};
use s2h_train::{DataSource, Duration, KeepSteps, LogLine, TrainConfig, TrainError};
use s2h_vlm::Vlm;
use s2h_vlm::burn::optim::record::{AdaptorRecord, AdaptorRecordV1};
use s2h_vlm::burn::optim::{AdamWConfig, Optimizer};

use common::*;

/// The steps of the checkpoint directories of a run.
fn checkpoint_steps(run: &Path) -> BTreeSet<u64> {
    fs::read_dir(run.join(CHECKPOINTS_DIR))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("step-")
                .and_then(|s| s.parse().ok())
        })
        .collect()
}

fn step_dir(run: &Path, step: u64) -> PathBuf {
    run.join(CHECKPOINTS_DIR).join(format!("step-{step:09}"))
}

fn log_lines(run: &Path) -> Vec<LogLine> {
    fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Sixteen text records and a shared starting model: a 12-update run in a given directory,
/// checkpointed every 5 updates with only the newest one kept besides `keep`.
fn twelve_update_runs(tmp: &Path) -> impl Fn(&Path, Option<KeepSteps>) -> TrainConfig {
    let data = dataset(&tmp.join("data"), Supervision::Text, 16);
    let start = start_model(&data, &tmp.join("start"));
    move |out: &Path, keep: Option<KeepSteps>| TrainConfig {
        init_from: Some(start.clone()),
        duration: Duration::Steps(12),
        save_every: 5,
        keep_checkpoints: 1,
        keep_steps: keep,
        ..config(&data, out)
    }
}

#[test]
fn kept_checkpoints_are_written_and_never_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let base = twelve_update_runs(tmp.path());

    // Every 3: 3, 6, 9, 12 kept for good; of the others (the periodic 5 and 10) the newest one.
    let every = tmp.path().join("every");
    let summary = run(&base(&every, Some(KeepSteps::Every(3)))).unwrap();
    assert!(summary.completed);
    assert_eq!(checkpoint_steps(&every), BTreeSet::from([3, 6, 9, 10, 12]));
    for step in [3, 6, 9, 12] {
        assert!(step_dir(&every, step).join(KEPT_FILE).is_file(), "{step}");
    }
    assert!(!step_dir(&every, 10).join(KEPT_FILE).exists());
    // Every kept checkpoint is a complete one a resume or an analysis can load.
    let intact: BTreeSet<u64> = checkpoint::intact(&every)
        .unwrap()
        .map(|(_, state)| state.global_step)
        .collect();
    assert_eq!(intact, checkpoint_steps(&every));

    // A list, off the --save-every grid: 4 and 7 kept; of 5, 10 and 12 the newest.
    let listed = tmp.path().join("listed");
    run(&base(&listed, Some(KeepSteps::Steps(vec![7, 4])))).unwrap();
    assert_eq!(checkpoint_steps(&listed), BTreeSet::from([4, 7, 12]));

    // With none kept the pruning is as before: the newest one.
    let plain = tmp.path().join("plain");
    run(&base(&plain, None)).unwrap();
    assert_eq!(checkpoint_steps(&plain), BTreeSet::from([12]));
}

#[test]
fn a_run_keeping_checkpoints_resumes_exactly_and_may_change_what_it_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let base = twelve_update_runs(tmp.path());
    let straight = run(&base(
        &tmp.path().join("straight"),
        Some(KeepSteps::Every(3)),
    ))
    .unwrap();

    let out = tmp.path().join("resumed");
    let first = run(&TrainConfig {
        stop_after: Some(7),
        ..base(&out, Some(KeepSteps::Every(3)))
    })
    .unwrap();
    assert!(!first.completed);
    assert_eq!(checkpoint_steps(&out), BTreeSet::from([3, 6, 7]));
    // Another `keep_steps` on resume is accepted (it changes nothing the run computes); the
    // checkpoints kept by the first session stay although the new list lacks them.
    let resumed = run(&TrainConfig {
        resume: true,
        ..base(&out, Some(KeepSteps::Steps(vec![11])))
    })
    .unwrap();
    assert!(resumed.completed);
    assert_eq!(resumed.loss_curve, straight.loss_curve);
    assert_eq!(checkpoint_steps(&out), BTreeSet::from([3, 6, 11, 12]));
    // Resuming the finished run without any `keep_steps` removes none of them.
    let again = run(&TrainConfig {
        resume: true,
        ..base(&out, None)
    })
    .unwrap();
    assert_eq!(again.loss_curve, straight.loss_curve);
    assert_eq!(checkpoint_steps(&out), BTreeSet::from([3, 6, 11, 12]));
}

#[test]
fn keep_steps_the_run_cannot_have_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 8);
    let cfg = |name: &str, keep: KeepSteps| TrainConfig {
        duration: Duration::Steps(12),
        keep_steps: Some(keep),
        ..config(&data, &tmp.path().join(name))
    };
    let err = run(&cfg("beyond", KeepSteps::Steps(vec![5, 13]))).unwrap_err();
    assert!(matches!(err, TrainError::Config(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("step 13") && message.contains("12 updates"),
        "{message}"
    );
    // Refused before the run started: nothing to resume, no checkpoint.
    assert!(!tmp.path().join("beyond").join(CHECKPOINTS_DIR).exists());
    assert!(!tmp.path().join("beyond").join("train_config.json").exists());
    for (name, keep, needle) in [
        ("zero", KeepSteps::Every(0), "every"),
        ("empty", KeepSteps::Steps(vec![]), "no step"),
        ("step0", KeepSteps::Steps(vec![0, 3]), "step 0"),
    ] {
        let err = run(&cfg(name, keep)).unwrap_err();
        assert!(err.to_string().contains(needle), "{name}: {err}");
    }
    // The JSON shape of the field.
    let every: KeepSteps = serde_json::from_str(r#"{"every": 100}"#).unwrap();
    assert_eq!(every, KeepSteps::Every(100));
    let steps: KeepSteps = serde_json::from_str(r#"{"steps": [100, 250]}"#).unwrap();
    assert_eq!(steps, KeepSteps::Steps(vec![100, 250]));
}

/// Mix (12 records) then Mix+ (12 records, 6 of them hard text) on small CTR tables; the second
/// phase `continues` the first or not.
fn mix_then_mix_plus(continues: bool) -> Plan {
    let mut plan = Plan::single(Phase::new(MixtureKind::Mix, TaskKind::Ctr, 12), 1);
    let mut plus = Phase::new(MixtureKind::MixPlus, TaskKind::Ctr, 12);
    plus.continues = continues;
    plan.phases.push(plus);
    plan.task_config = small_tasks();
    plan.image_size = Some([150, 80]);
    plan
}

const PEAK: f64 = 3e-3;
const WARMUP: f64 = 0.2;

/// Six updates per phase, batches of 4, checkpoints at the boundary (6), at 8 and at the end.
fn chained_config(out: &Path, continues: bool, init_from: Option<PathBuf>) -> TrainConfig {
    TrainConfig {
        data: DataSource::Plan {
            plan: mix_then_mix_plus(continues),
        },
        init_from,
        duration: Duration::Steps(6),
        batch_size: 4,
        lr: PEAK,
        warmup_ratio: WARMUP,
        save_every: 8,
        keep_checkpoints: 3,
        ..config(Path::new("unused"), out)
    }
}

/// The largest AdamW step count in the optimizer record of checkpoint `dir`: the updates the
/// optimizer state has seen (the language model trains at every update).
fn optimizer_updates(dir: &Path) -> usize {
    let device = Default::default();
    let optim = AdamWConfig::new().init::<B, Vlm<B>>();
    let optim = checkpoint::load_optimizer(dir, optim, &device).unwrap();
    optim
        .to_record()
        .into_values()
        .filter_map(|record: AdaptorRecord<_, B>| match record {
            AdaptorRecord::V1(AdaptorRecordV1::Rank1(state)) => Some(state.momentum.time),
            AdaptorRecord::V1(AdaptorRecordV1::Rank2(state)) => Some(state.momentum.time),
            _ => None,
        })
        .max()
        .unwrap()
}

fn state(dir: &Path) -> TrainState {
    serde_json::from_str(&fs::read_to_string(dir.join(STATE_FILE)).unwrap()).unwrap()
}

#[test]
fn a_continuing_phase_keeps_the_optimizer_and_runs_on_along_one_schedule() {
    let tmp = tempfile::tempdir().unwrap();
    let chained = tmp.path().join("chained");
    let separate = tmp.path().join("separate");
    run(&chained_config(&chained, true, None)).unwrap();
    run(&chained_config(&separate, false, None)).unwrap();

    // One warmup-cosine schedule over the 12 updates of both phases (warmup ceil(0.2·12) = 3)…
    let lines = log_lines(&chained);
    let phases: Vec<&str> = lines.iter().map(|l| l.phase.as_str()).collect();
    assert_eq!(phases, [["mix"; 6], ["mix-plus"; 6]].concat());
    let warmup = warmup_steps(12, WARMUP);
    for (s, line) in lines.iter().enumerate() {
        let want = learning_rate(s as u64, 12, PEAK, warmup);
        assert!(
            (line.lr - want).abs() <= 1e-12 * PEAK,
            "update {s}: lr {} not {want}",
            line.lr
        );
    }
    assert!(lines[6].lr > 0.0 && lines[6].lr < lines[5].lr);
    // … where separate phases each warm up from 0 again over their own 6 updates.
    let lines = log_lines(&separate);
    assert_eq!(lines[6].lr, 0.0);
    for (s, line) in lines[6..].iter().enumerate() {
        let want = learning_rate(s as u64, 6, PEAK, warmup_steps(6, WARMUP));
        assert!((line.lr - want).abs() <= 1e-12 * PEAK);
    }

    // The boundary checkpoint into a continuing phase holds the optimizer (checksummed);
    // one into a fresh phase does not.
    let boundary = step_dir(&chained, 6);
    assert_eq!(state(&boundary).phase, 1);
    assert_eq!(state(&boundary).phase_step, 0);
    assert!(state(&boundary).checksums.contains_key("optimizer.bin"));
    assert!(boundary.join("optimizer.bin").is_file());
    assert!(!step_dir(&separate, 6).join("optimizer.bin").exists());
    assert_eq!(optimizer_updates(&boundary), 6);
    // Two updates into the second phase the continued optimizer has seen 8 updates, the fresh
    // one 2.
    assert_eq!(optimizer_updates(&step_dir(&chained, 8)), 8);
    assert_eq!(optimizer_updates(&step_dir(&separate, 8)), 2);
}

#[test]
fn a_chained_run_stopped_at_the_boundary_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    // A shared starting model whose tokenizer covers the plan's records (both updates of this
    // one-update-per-phase run have learning rate 0).
    let start = run(&TrainConfig {
        duration: Duration::Steps(1),
        save_every: 0,
        ..chained_config(&tmp.path().join("start"), false, None)
    })
    .unwrap()
    .model_dir
    .unwrap();
    let straight = run(&chained_config(
        &tmp.path().join("straight"),
        true,
        Some(start.clone()),
    ))
    .unwrap();
    assert_eq!(straight.loss_curve.len(), 12);

    let out = tmp.path().join("stopped");
    let cfg = chained_config(&out, true, Some(start.clone()));
    let first = run(&TrainConfig {
        stop_after: Some(6),
        ..cfg.clone()
    })
    .unwrap();
    assert!(!first.completed && first.steps == 6);
    let resumed = run(&TrainConfig {
        resume: true,
        ..cfg
    })
    .unwrap();
    assert!(resumed.completed);
    // Bit-identical on the CPU: the resumed second phase starts from the saved optimizer and
    // at the saved schedule position.
    assert_eq!(resumed.loss_curve, straight.loss_curve);

    // The unchained run from the same start differs in the second phase (fresh optimizer,
    // schedule from 0) — the chaining is not a no-op.
    let separate = run(&chained_config(
        &tmp.path().join("separate"),
        false,
        Some(start),
    ))
    .unwrap();
    assert_ne!(separate.loss_curve[6..], straight.loss_curve[6..]);
}
