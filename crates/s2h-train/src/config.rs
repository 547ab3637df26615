//! The configuration of a training run: one serde struct with defaults and presets, written
//! beside the run as `train_config.json`.

use std::path::PathBuf;

use s2h_mixture::{Component, Plan, SegmentKind};
use s2h_tasks::TaskConfig;
use s2h_vlm::{TokenizerKind, VlmConfig};
use serde::{Deserialize, Serialize};

use crate::reading::ReadingStage;
use crate::{Result, TrainError};

/// Where the training records come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Built once per run: the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// A directory with `records.jsonl` (and `images/`), e.g. written by `generate`: one phase.
    Records { dir: PathBuf },
    /// A training plan (SPEC §9): each phase is materialised into `RUN/data/NN-label/` first.
    Plan { plan: Plan },
}

/// How long each phase trains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    /// Optimizer updates per phase.
    Steps(u64),
    /// Passes over each phase's records (a plan's mixtures already repeat their records as
    /// Algorithm 1 says, so plans use 1).
    Epochs(u64),
}

/// Checkpoints kept for good, besides the newest `keep_checkpoints` — what an analysis across
/// training reads. JSON `{"every": 100}` (global steps 100, 200, …) or `{"steps": [100, 250]}`.
/// Steps are global update counts (1-based, over all phases), as in the checkpoint names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepSteps {
    /// Every this many updates.
    Every(u64),
    /// These updates.
    Steps(Vec<u64>),
}

impl KeepSteps {
    /// Whether the checkpoint of global step `step` is kept for good.
    pub fn contains(&self, step: u64) -> bool {
        match self {
            KeepSteps::Every(n) => *n > 0 && step > 0 && step.is_multiple_of(*n),
            KeepSteps::Steps(steps) => steps.contains(&step),
        }
    }

    /// Check the numbers on their own.
    fn validate(&self) -> std::result::Result<(), String> {
        match self {
            KeepSteps::Every(0) => Err("keep_steps `every` must be at least 1 update".into()),
            KeepSteps::Steps(steps) if steps.is_empty() => {
                Err("keep_steps lists no step; leave it out to keep none".into())
            }
            KeepSteps::Steps(steps) if steps.contains(&0) => Err(
                "keep_steps lists step 0; steps count updates from 1 (checkpoint step-N is \
                 after N updates)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// Check the listed steps against the `total` updates of the run.
    pub(crate) fn check_total(&self, total: u64) -> Result<()> {
        if let KeepSteps::Steps(steps) = self
            && let Some(beyond) = steps.iter().copied().filter(|s| *s > total).max()
        {
            return Err(TrainError::Config(format!(
                "keep_steps lists step {beyond}, but the run has {total} updates in all"
            )));
        }
        Ok(())
    }
}

/// Everything a run needs. `Default` is a tiny-model run of one epoch; see [`TrainConfig::preset`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub data: DataSource,
    /// The run directory.
    pub out: PathBuf,
    /// Start from this model directory instead of fresh weights: s2h's layout (a previous run's
    /// `RUN/model`) or a Hugging Face checkpoint (Llama, Qwen2, LLaVA; docs/pretrained.md).
    /// Weights, configuration and tokenizer (with its chat template) are taken from it.
    pub init_from: Option<PathBuf>,
    /// The model; its vocabulary size and image token id are set from the run's tokenizer.
    pub model: VlmConfig,
    /// Teach the vision tower to read before the first phase (a fresh run only: a resumed one
    /// has it in its checkpoints); see [`crate::reading`]. The phases say whether they train the
    /// tower further (`train`); s2h's tiers freeze it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading: Option<ReadingStage>,
    /// The tokenizer built for the run (from the task corpus plus the training records).
    pub tokenizer: TokenizerKind,
    /// Task parameters of the tokenizer corpus (use the same as the data).
    pub task_config: TaskConfig,
    /// Instances per (task, split) in the tokenizer corpus.
    pub corpus_per_set: u64,
    /// Records per optimizer update (the global batch).
    pub batch_size: usize,
    /// Records per forward/backward pass; the global batch is accumulated from these.
    /// `None`: the whole batch at once.
    pub micro_batch_size: Option<usize>,
    /// Peak learning rate (a plan phase's `lr` overrides it).
    pub lr: f64,
    pub duration: Duration,
    pub warmup_ratio: f64,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// Clip the global gradient norm to this value.
    pub clip_grad: Option<f64>,
    /// Components trained in a `Records` run (a plan's phases say their own); `None`: all.
    pub trainable: Option<Vec<Component>>,
    /// Segment kinds whose tokens enter the loss.
    pub targets: Vec<SegmentKind>,
    pub seed: u64,
    /// Checkpoint every this many updates (and always at the end of each phase); 0: only then.
    pub save_every: u64,
    /// Complete checkpoints kept on disk (the newest ones, besides those of `keep_steps`).
    pub keep_checkpoints: usize,
    /// Checkpoints written at these steps (whatever `save_every` says) and kept for good: never
    /// removed by the `keep_checkpoints` pruning, also not by a later session with other
    /// `keep_steps`. Not part of what the run computes, so `resume` may change it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_steps: Option<KeepSteps>,
    /// Write a metrics line every this many updates.
    pub log_every: u64,
    /// Records per length-sorting window, in global batches (0: no bucketing).
    pub bucket_batches: usize,
    /// Check that no training instance is an evaluation instance when materialising a plan.
    pub check_eval_overlap: bool,
    /// Continue the run in `out` from its last checkpoint.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop (after writing a checkpoint) once this many updates are done in total; a later
    /// `resume` continues. For time-boxed sessions.
    pub stop_after: Option<u64>,
    /// Tests only: fail half-way through writing the checkpoint of this step.
    #[doc(hidden)]
    pub fail_checkpoint_at: Option<u64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: DataSource::Records {
                dir: PathBuf::from("data"),
            },
            out: PathBuf::from("runs/run"),
            init_from: None,
            model: VlmConfig::tiny(),
            reading: None,
            tokenizer: TokenizerKind::Bpe { vocab_size: 1024 },
            task_config: TaskConfig::default(),
            corpus_per_set: 20,
            batch_size: 8,
            micro_batch_size: None,
            lr: 1e-3,
            duration: Duration::Epochs(1),
            warmup_ratio: 0.03,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            clip_grad: None,
            trainable: None,
            targets: crate::processor::ALL_TARGETS.to_vec(),
            seed: 0,
            save_every: 500,
            keep_checkpoints: 2,
            keep_steps: None,
            log_every: 10,
            bucket_batches: 16,
            check_eval_overlap: true,
            resume: false,
            progress: true,
            stop_after: None,
            fail_checkpoint_at: None,
        }
    }
}

impl TrainConfig {
    /// Defaults for a model preset (`tiny`, `small`, `base`, `quickstart`): the model and a learning rate
    /// and batch size that suit it.
    pub fn preset(name: &str) -> Result<Self> {
        let model = VlmConfig::preset(name)?;
        let (lr, batch) = match name.trim().to_ascii_lowercase().as_str() {
            "tiny" => (1e-3, 8),
            "small" => (5e-4, 16),
            "quickstart" => (1.5e-3, 8),
            _ => (2e-4, 32),
        };
        Ok(TrainConfig {
            model,
            lr,
            batch_size: batch,
            ..TrainConfig::default()
        })
    }

    /// The micro-batch size actually used.
    pub fn micro_batch(&self) -> usize {
        self.micro_batch_size
            .unwrap_or(self.batch_size)
            .clamp(1, self.batch_size.max(1))
    }

    /// Check the numbers before anything is read or written.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
        if let Some(m) = self.micro_batch_size
            && (m == 0 || !self.batch_size.is_multiple_of(m))
        {
            return bad(format!(
                "micro-batch size {m} must be positive and divide the batch size {}",
                self.batch_size
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("learning rate must be positive, not {}", self.lr));
        }
        match self.duration {
            Duration::Steps(0) | Duration::Epochs(0) => {
                return bad("train for at least one step or epoch".into());
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return bad(format!(
                "warmup ratio must lie in [0, 1), not {}",
                self.warmup_ratio
            ));
        }
        if !(0.0..1.0).contains(&self.beta_1) || !(0.0..1.0).contains(&self.beta_2) {
            return bad("AdamW betas must lie in [0, 1)".into());
        }
        if self.epsilon.is_nan() || self.epsilon <= 0.0 {
            return bad("AdamW epsilon must be positive".into());
        }
        if let Some(c) = self.clip_grad
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!("gradient clipping norm must be positive, not {c}"));
        }
        if let Some(t) = &self.trainable
            && t.is_empty()
        {
            return bad("no component is trainable; list at least one".into());
        }
        if self.targets.is_empty() {
            return bad("no target segment kind selected for the loss".into());
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1".into());
        }
        if self.keep_checkpoints == 0 {
            return bad("keep at least one checkpoint".into());
        }
        if let Some(keep) = &self.keep_steps {
            keep.validate().map_err(TrainError::Config)?;
        }
        if let Some(stage) = &self.reading {
            stage.validate().map_err(TrainError::Config)?;
        }
        if let TokenizerKind::Bpe { vocab_size } = self.tokenizer
            && vocab_size < 300
        {
            return bad(format!(
                "a byte-level BPE vocabulary needs at least 300 tokens (256 bytes + specials), not {vocab_size}"
            ));
        }
        if let DataSource::Plan { plan } = &self.data {
            plan.validate()?;
        }
        Ok(())
    }

    /// The fields that must agree between a run and its resumption (everything but the
    /// session controls and which checkpoints are kept for good, which change nothing the run
    /// computes).
    pub(crate) fn run_identity(&self) -> TrainConfig {
        TrainConfig {
            keep_steps: None,
            resume: false,
            progress: false,
            stop_after: None,
            fail_checkpoint_at: None,
            ..self.clone()
        }
    }
}
