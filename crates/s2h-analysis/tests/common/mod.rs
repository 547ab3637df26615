//! The fixture of the analysis tests: a short run with kept checkpoints and the three sets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use s2h_analysis::Source;
use s2h_analysis::grads::Example;
use s2h_analysis::sets::{EvalSet, SOLUTION};
use s2h_mixture::{DatasetSpec, Supervision, write_dataset};
use s2h_tasks::{Split, TaskConfig, TaskKind};
use s2h_train::{DataSource, Duration, Processor, TrainConfig, train};
use s2h_vlm::burn::backend::{Autodiff, Flex};
use s2h_vlm::{TokenizerKind, Vlm, VlmConfig};

pub type B = Autodiff<Flex>;
pub type I = Flex;

pub fn tasks() -> TaskConfig {
    TaskConfig {
        ctr: s2h_tasks::table::CtrConfig::tiny(),
        ..TaskConfig::default()
    }
}

pub fn dataset(
    dir: &Path,
    split: Split,
    seed: u64,
    count: u64,
    supervision: Supervision,
) -> PathBuf {
    let mut spec = DatasetSpec::new(TaskKind::Ctr, split, seed, count, supervision);
    spec.tasks = tasks();
    spec.image = spec.image.with_size(150, 80);
    write_dataset(&spec, dir, false, &|| {}).unwrap();
    dir.to_path_buf()
}

/// A run of 10 updates on simple image records with checkpoints at 5 (mid-phase: optimizer
/// kept) and 10 (the phase's end: none), and the three analysis sets. Made once per process.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub run: PathBuf,
    pub simple: PathBuf,
    pub hard: PathBuf,
    pub via_text: PathBuf,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let train_data = dataset(
            &root.join("train"),
            Split::Simple,
            1,
            16,
            Supervision::Image,
        );
        let simple = dataset(
            &root.join("simple"),
            Split::Simple,
            7,
            4,
            Supervision::Image,
        );
        let hard = dataset(&root.join("hard"), Split::Hard, 7, 3, Supervision::Image);
        let via_text = dataset(
            &root.join("via"),
            Split::Hard,
            7,
            3,
            Supervision::ImageViaText,
        );
        let run = root.join("run");
        let config = TrainConfig {
            data: DataSource::Records { dir: train_data },
            out: run.clone(),
            model: VlmConfig::micro(),
            tokenizer: TokenizerKind::Compact,
            corpus_per_set: 1,
            task_config: tasks(),
            batch_size: 8,
            lr: 3e-3,
            duration: Duration::Steps(10),
            save_every: 5,
            keep_checkpoints: 10,
            progress: false,
            check_eval_overlap: false,
            ..TrainConfig::default()
        };
        train::<B>(&config, &Default::default()).unwrap();
        Fixture {
            _dir: dir,
            run,
            simple,
            hard,
            via_text,
        }
    })
}

/// The model and processor of the fixture run's checkpoint at `step`.
pub fn checkpoint(step: u64) -> (Source, Vlm<B>, Processor) {
    let source = Source::open(&fixture().run).unwrap();
    let refs = source.select(Some(&[step])).unwrap();
    let (model, processor, _) = source.load::<B>(&refs[0], &Default::default()).unwrap();
    (source, model, processor)
}

pub fn examples(dir: &Path, supervision: Supervision, processor: &Processor) -> Vec<Example> {
    EvalSet::read(dir, supervision, None)
        .unwrap()
        .examples(processor, &SOLUTION)
        .unwrap()
}
