//! `s2h-train`: the training loop of the s2h VLM (SPEC §12).
//!
//! - [`TrainConfig`]: everything a run needs (serde, `Default`, [`TrainConfig::preset`]);
//! - [`train`]: run it on a backend chosen at compile time, [`train_on`] at run time;
//! - [`schedule`]: the warmup-cosine learning rate as a closed-form function of the step;
//! - [`data`]: tokenize once, images decoded once, a seeded length-bucketed batch order;
//! - [`checkpoint`]: atomic step checkpoints and the resume state.
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
pub mod data;
mod error;
pub mod schedule;
mod trainer;

pub use config::{DataSource, Duration, TokenizerSpec, TrainConfig};
pub use error::{Result, TrainError};
pub use trainer::{
    CONFIG_FILE, DATA_DIR, METRICS_FILE, MODEL_DIR, MetricsLine, SUMMARY_FILE, TOKENIZER_FILE,
    TrainSummary, read_loss_curve, train,
};

pub use s2h_vlm::BackendKind;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{BackendTask, run_on};

struct TrainTask<'a>(&'a TrainConfig);

impl BackendTask for TrainTask<'_> {
    type Output = Result<TrainSummary>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        train::<B>(self.0, &device)
    }
}

/// [`train`] on the backend named at run time (flex, ndarray, wgpu, cuda — those compiled in).
pub fn train_on(backend: BackendKind, config: &TrainConfig) -> Result<TrainSummary> {
    run_on(backend, TrainTask(config))?
}

pub use s2h_vlm::VlmConfig;
