//! Runs trained side by side, each in a child process (`s2h_train::worker`), train exactly as
//! they would alone, and a child's failure comes back as an error naming its run.
//!
//! No libtest harness: the children are this executable started again, so `worker::serve` must be
//! the first thing `main` does.

mod common;

use std::path::Path;

use s2h_mixture::Supervision;
use s2h_train::{BackendKind, DataSource, TrainConfig, TrainError, TrainSummary};
use s2h_vlm::store::WEIGHTS_FILE;

fn main() {
    s2h_train::worker::serve();
    type Check = fn(&Path);
    let checks: [(&str, Check); 3] = [
        (
            "children train as a run alone does",
            children_train_as_alone,
        ),
        (
            "runs beyond the cores wait their turn and all train",
            more_runs_than_cores,
        ),
        (
            "a failing child is reported with its run",
            failing_child_is_reported,
        ),
    ];
    for (name, check) in checks {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        check(tmp.path());
        println!("test {name} ... ok");
    }
}

/// The tensor bytes of a run's model file: what follows the safetensors header (burn-store writes
/// the header's metadata map in an order that changes from process to process).
fn weights(summary: &TrainSummary) -> Vec<u8> {
    let dir = summary
        .model_dir
        .as_ref()
        .expect("a finished run has a model");
    let bytes = std::fs::read(dir.join(WEIGHTS_FILE)).expect("the model's weights");
    let header = u64::from_le_bytes(bytes[..8].try_into().expect("a header length")) as usize;
    bytes[8 + header..].to_vec()
}

fn children_train_as_alone(tmp: &Path) {
    assert!(s2h_train::worker::can_spawn());
    let data = common::dataset(&tmp.join("data"), Supervision::Text, 40);
    let run = |name: &str, seed: u64| TrainConfig {
        seed,
        duration: s2h_train::Duration::Steps(6),
        ..common::config(&data, &tmp.join(name))
    };
    let (a, b) = (run("a", 1), run("b", 2));
    let side_by_side = s2h_train::train_all(BackendKind::Flex, &[a.clone(), b.clone()])
        .expect("two runs side by side");
    let alone = common::run(&TrainConfig {
        out: tmp.join("a-alone"),
        ..a
    })
    .expect("the first run alone");
    assert_eq!(side_by_side[0].loss_curve, alone.loss_curve);
    assert_eq!(weights(&side_by_side[0]), weights(&alone));
    // The other child trained its own run, not a copy of the first.
    assert_ne!(side_by_side[1].loss_curve, alone.loss_curve);
    assert_eq!(side_by_side[1].steps, 6);
}

/// With more runs than cores, the extra runs queue (one child per core) and each still trains its
/// own configuration, reported in the order given.
fn more_runs_than_cores(tmp: &Path) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let data = common::dataset(&tmp.join("data"), Supervision::Text, 20);
    let configs: Vec<TrainConfig> = (0..cores as u64 + 2)
        .map(|i| TrainConfig {
            seed: i,
            duration: s2h_train::Duration::Steps(2 + i),
            ..common::config(&data, &tmp.join(format!("run-{i}")))
        })
        .collect();
    let summaries = s2h_train::train_all(BackendKind::Flex, &configs).expect("every run trains");
    assert_eq!(summaries.len(), configs.len());
    for (i, summary) in summaries.iter().enumerate() {
        assert_eq!(
            summary.steps,
            2 + i as u64,
            "run {i} trained its own length"
        );
        assert!(
            tmp.join(format!("run-{i}"))
                .join(s2h_train::MODEL_DIR)
                .join(WEIGHTS_FILE)
                .is_file(),
            "run {i} has its model"
        );
    }
}

fn failing_child_is_reported(tmp: &Path) {
    let data = common::dataset(&tmp.join("data"), Supervision::Text, 20);
    let good = common::config(&data, &tmp.join("good"));
    let missing = tmp.join("no-such-data");
    let bad = TrainConfig {
        data: DataSource::Records {
            dir: missing.clone(),
        },
        ..common::config(&data, &tmp.join("bad"))
    };
    match s2h_train::train_all(BackendKind::Flex, &[good, bad]) {
        Err(TrainError::Child { out, message }) => {
            assert_eq!(out, tmp.join("bad"));
            assert!(
                message.contains(&missing.display().to_string()),
                "the message names the missing data: {message}"
            );
        }
        other => panic!("expected the bad run's error, got {other:?}"),
    }
}
