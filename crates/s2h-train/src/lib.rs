//! `s2h-train`: where records meet the model, and the training loop of the s2h VLM (SPEC §12).
//!
//! - [`corpus`]: the task texts and words a run's tokenizer is built from;
//! - [`processor`]: a record → token ids, loss mask by segment kind, image bytes, prompts;
//! - [`TrainConfig`]: everything a run needs (serde, `Default`, [`TrainConfig::preset`]);
//! - [`train`]: run it on a backend chosen at compile time, [`train_on`] at run time;
//! - [`reading`]: the reading stage, the vision tower taught alone to name what each region of
//!   the training images shows before the phases start;
//! - [`step`]: the update step (masked loss, gradients, freezing, clipping, AdamW), callable
//!   on its own;
//! - [`schedule`]: the warmup-cosine learning rate as a closed-form function of the step;
//! - [`data`]: tokenize once, images decoded once, a seeded length-bucketed batch order;
//! - [`run_dir`]: the files of a run directory, the training log, the summary;
//! - [`checkpoint`]: atomic step checkpoints and the resume state;
//! - [`worker`]: runs trained side by side, each in a child process.
//!
//! ```no_run
//! use s2h_train::{DataSource, TrainConfig, Duration};
//! let config = TrainConfig {
//!     data: DataSource::Records { dir: "data/ctr".into() },
//!     out: "runs/ctr".into(),
//!     duration: Duration::Steps(200),
//!     ..TrainConfig::preset("tiny").unwrap()
//! };
//! let summary = s2h_train::train_on(s2h_vlm::BackendKind::Flex, &config).unwrap();
//! println!("final loss {:?}, model in {:?}", summary.final_loss, summary.model_dir);
//! ```

pub mod checkpoint;
mod config;
pub mod corpus;
pub mod data;
mod error;
mod prepare;
pub mod processor;
pub mod reading;
pub mod run_dir;
pub mod schedule;
mod start;
pub mod step;
mod trainer;
pub mod worker;

pub use config::{DataSource, Duration, KeepSteps, TrainConfig};
pub use corpus::build_tokenizer;
pub use error::{Result, TrainError};
pub use processor::{ALL_TARGETS, EncodedRecord, Processor};
pub use reading::{READING_FILE, ReadingReport, ReadingStage};
pub use run_dir::{
    CONFIG_FILE, DATA_DIR, LOG_FILE, LogLine, MODEL_DIR, SUMMARY_FILE, TOKENIZER_FILE,
    TRAINING_FILE, TrainSummary, TrainingRecord, read_loss_curve,
};
pub use trainer::train;

use indicatif::{MultiProgress, ProgressBar};
pub use s2h_vlm::BackendKind;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{BackendTask, run_on};

struct TrainTask<'a> {
    config: &'a TrainConfig,
    bar: Option<ProgressBar>,
}

impl BackendTask for TrainTask<'_> {
    type Output = Result<TrainSummary>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        match self.bar {
            Some(bar) => trainer::train_with_bar::<B>(self.config, &device, bar),
            None => train::<B>(self.config, &device),
        }
    }
}

/// [`train`] on the backend named at run time (flex, ndarray, wgpu, cuda — those compiled in).
pub fn train_on(backend: BackendKind, config: &TrainConfig) -> Result<TrainSummary> {
    run_on(backend, TrainTask { config, bar: None })?
}

/// [`checkpoint::export_model`] on the backend named at run time.
pub fn export_model_on(
    backend: BackendKind,
    run: &std::path::Path,
    step: u64,
    out: &std::path::Path,
) -> Result<()> {
    struct Export<'a> {
        run: &'a std::path::Path,
        step: u64,
        out: &'a std::path::Path,
    }
    impl BackendTask for Export<'_> {
        type Output = Result<()>;
        fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
            checkpoint::export_model::<B>(self.run, self.step, self.out, &device)
        }
    }
    run_on(backend, Export { run, step, out })?
}

/// [`train_on`], showing progress on `bar`.
pub(crate) fn train_on_with_bar(
    backend: BackendKind,
    config: &TrainConfig,
    bar: ProgressBar,
) -> Result<TrainSummary> {
    run_on(
        backend,
        TrainTask {
            config,
            bar: Some(bar),
        },
    )?
}

/// Train every configuration side by side, with one progress bar per run (for those with
/// `progress` on): e.g. two small models on a 2-core CPU, where each run's matrices are too small
/// to use both cores. On a CPU backend in a binary that called [`worker::serve`], each run trains
/// in a child process with its share of the cores (one process's autodiff passes take turns),
/// as many at once as there are cores and the rest as the first finish; otherwise each on a
/// thread. Returns the summaries in order; the first error wins.
pub fn train_all(backend: BackendKind, configs: &[TrainConfig]) -> Result<Vec<TrainSummary>> {
    let bars = MultiProgress::new();
    let mut run_bars: Vec<ProgressBar> = configs
        .iter()
        .map(|config| {
            if config.progress {
                bars.add(trainer::progress_bar())
            } else {
                ProgressBar::hidden()
            }
        })
        .collect();
    let cpu = matches!(backend, BackendKind::Flex | BackendKind::Ndarray);
    if cpu && configs.len() > 1 && worker::can_spawn() {
        return worker::train_in_children(backend, configs, run_bars);
    }
    std::thread::scope(|scope| {
        let runs: Vec<_> = configs
            .iter()
            .zip(run_bars.drain(..))
            .map(|(config, bar)| {
                let task = TrainTask {
                    config,
                    bar: Some(bar),
                };
                scope.spawn(move || run_on(backend, task))
            })
            .collect();
        runs.into_iter()
            .zip(configs)
            .map(|(run, config)| match run.join() {
                Ok(result) => result?,
                Err(_) => Err(TrainError::Panicked(config.out.clone())),
            })
            .collect()
    })
}

pub use s2h_vlm::VlmConfig;
