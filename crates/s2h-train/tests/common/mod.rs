//! Helpers shared by the training tests: small CTR data, a model much smaller than `tiny`, and a
//! run configuration that trains in seconds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use s2h_mixture::{DatasetSpec, Supervision, write_dataset};
use s2h_tasks::{Split, TaskConfig, TaskKind};
use s2h_train::{DataSource, Duration, TrainConfig, train};
use s2h_vlm::burn::backend::{Autodiff, Flex};
use s2h_vlm::{TokenizerKind, VlmConfig};

pub type B = Autodiff<Flex>;

/// Small CTR tables (2 × 4, paths of 2–3 cells), so records are short and tests fast.
pub fn small_tasks() -> TaskConfig {
    TaskConfig {
        ctr: s2h_tasks::table::CtrConfig::tiny(),
        ..TaskConfig::default()
    }
}

/// `count` CTR simple records of `supervision` (small images) in `dir`.
pub fn dataset(dir: &Path, supervision: Supervision, count: u64) -> PathBuf {
    let mut spec = DatasetSpec::new(TaskKind::Ctr, Split::Simple, 3, count, supervision);
    spec.tasks = small_tasks();
    spec.image = spec.image.with_size(150, 80);
    write_dataset(&spec, dir, false, &|| {}).unwrap();
    dir.to_path_buf()
}

pub fn config(data: &Path, out: &Path) -> TrainConfig {
    TrainConfig {
        data: DataSource::Records {
            dir: data.to_path_buf(),
        },
        out: out.to_path_buf(),
        model: VlmConfig::micro(),
        tokenizer: TokenizerKind::Compact,
        corpus_per_set: 1,
        task_config: small_tasks(),
        batch_size: 8,
        lr: 3e-3,
        duration: Duration::Steps(20),
        log_every: 1,
        save_every: 5,
        progress: false,
        check_eval_overlap: false,
        ..TrainConfig::default()
    }
}

/// Starting weights for runs that must begin from the same model: a one-update run, whose only
/// update has learning rate 0 (the warmup starts at 0), saved as a model directory. Runs that
/// start `init_from` it do not depend on the backend's global generator, which other tests in
/// this process draw from at the same time.
pub fn start_model(data: &Path, dir: &Path) -> PathBuf {
    let summary = run(&TrainConfig {
        duration: Duration::Steps(1),
        save_every: 0,
        ..config(data, dir)
    })
    .unwrap();
    summary.model_dir.unwrap()
}

pub fn run(config: &TrainConfig) -> s2h_train::Result<s2h_train::TrainSummary> {
    train::<B>(config, &Default::default())
}

pub fn losses(summary: &s2h_train::TrainSummary) -> Vec<(u64, f32)> {
    summary.loss_curve.clone()
}
