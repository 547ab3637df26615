//! The checkpoints of a run (or a bare model directory, as one "checkpoint"), loaded for
//! analysis: the weights, the processor of the run's tokenizer, and the AdamW moments when the
//! checkpoint kept them (checkpoints written mid-phase do; a phase boundary starts a fresh
//! optimizer, so its checkpoint has none).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use s2h_train::checkpoint;
use s2h_train::run_dir::{CONFIG_FILE, MODEL_DIR, SUMMARY_FILE, TrainSummary};
use s2h_train::step::Optim;
use s2h_train::{Processor, TrainConfig};
use s2h_vlm::burn::module::{Module, ModuleVisitor, Param, ParamId};
use s2h_vlm::burn::optim::{AdamWConfig, Optimizer};
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{Vlm, VlmConfig, VlmTokenizer};

use crate::alignment::{AdamHyper, Moments};
use crate::grads::FlatGrad;
use crate::params::ParamInfo;
use crate::{AnalysisError, Result};

/// One model state to analyse.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRef {
    /// Optimizer updates done (for a bare model directory: the run's when the directory is a
    /// run's final model, else 0).
    pub step: u64,
    /// Training records seen, when the checkpoint records it.
    pub examples_seen: Option<u64>,
    pub dir: PathBuf,
    /// A run checkpoint (weights and maybe optimizer records) or a model directory.
    pub is_model_dir: bool,
}

/// Where the states to analyse come from: a run directory (its intact checkpoints, oldest
/// first) or a model directory (`config.json`, `model.safetensors`, `tokenizer.json`).
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub checkpoints: Vec<CheckpointRef>,
    /// The run's configuration (`None` for a model directory).
    pub train_config: Option<TrainConfig>,
}

impl Source {
    pub fn open(path: &Path) -> Result<Self> {
        if path.join(s2h_vlm::store::CONFIG_FILE).is_file()
            && path.join(s2h_vlm::store::WEIGHTS_FILE).is_file()
        {
            // A run's final model knows its step from the run's summary.
            let step = path
                .parent()
                .map(|run| run.join(SUMMARY_FILE))
                .filter(|p| p.is_file() && path.file_name().is_some_and(|n| n == MODEL_DIR))
                .and_then(|p| fs::read_to_string(p).ok())
                .and_then(|t| serde_json::from_str::<TrainSummary>(&t).ok())
                .map_or(0, |s| s.steps);
            return Ok(Source {
                path: path.to_path_buf(),
                checkpoints: vec![CheckpointRef {
                    step,
                    examples_seen: None,
                    dir: path.to_path_buf(),
                    is_model_dir: true,
                }],
                train_config: None,
            });
        }
        let config_path = path.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(AnalysisError::file(
                path,
                format!(
                    "neither a run directory (no {CONFIG_FILE}) nor a model directory (no {} and {})",
                    s2h_vlm::store::CONFIG_FILE,
                    s2h_vlm::store::WEIGHTS_FILE
                ),
            ));
        }
        let text =
            fs::read_to_string(&config_path).map_err(|e| AnalysisError::file(&config_path, e))?;
        let config: TrainConfig = serde_json::from_str(&text).map_err(|e| {
            AnalysisError::file(&config_path, format!("not a training configuration: {e}"))
        })?;
        let mut checkpoints: Vec<CheckpointRef> = checkpoint::intact(path)?
            .map(|(dir, state)| CheckpointRef {
                step: state.global_step,
                examples_seen: state.examples_seen,
                dir,
                is_model_dir: false,
            })
            .collect();
        checkpoints.reverse();
        if checkpoints.is_empty() {
            let model = path.join(MODEL_DIR);
            if model.join(s2h_vlm::store::WEIGHTS_FILE).is_file() {
                return Source::open(&model);
            }
            return Err(AnalysisError::file(
                path,
                "the run has no intact checkpoint and no final model",
            ));
        }
        Ok(Source {
            path: path.to_path_buf(),
            checkpoints,
            train_config: Some(config),
        })
    }

    /// The checkpoints at `steps` (all when `None`); an error names a missing step and the ones
    /// there are.
    pub fn select(&self, steps: Option<&[u64]>) -> Result<Vec<CheckpointRef>> {
        let Some(steps) = steps else {
            return Ok(self.checkpoints.clone());
        };
        steps
            .iter()
            .map(|s| {
                self.checkpoints
                    .iter()
                    .find(|c| c.step == *s)
                    .cloned()
                    .ok_or_else(|| {
                        let have: Vec<String> =
                            self.checkpoints.iter().map(|c| c.step.to_string()).collect();
                        AnalysisError::file(
                            &self.path,
                            format!(
                                "no intact checkpoint of step {s} (there are: {}); keep it with the run's `keep_steps`",
                                have.join(", ")
                            ),
                        )
                    })
            })
            .collect()
    }

    /// Adam's hyper-parameters of the run (the paper's for a model directory).
    pub fn adam(&self) -> AdamHyper {
        match &self.train_config {
            Some(c) => AdamHyper {
                beta_1: c.beta_1 as f64,
                beta_2: c.beta_2 as f64,
                epsilon: c.epsilon as f64,
            },
            None => AdamHyper::default(),
        }
    }

    /// The model of `checkpoint` and the processor of its tokenizer.
    pub fn load<B: AutodiffBackend>(
        &self,
        checkpoint: &CheckpointRef,
        device: &B::Device,
    ) -> Result<(Vlm<B>, Processor, VlmConfig)> {
        if checkpoint.is_model_dir {
            let (config, tokenizer, model) = s2h_vlm::load_model::<B>(&checkpoint.dir, device)?;
            return Ok((model, Processor::new(tokenizer, &config), config));
        }
        let (tokenizer, config) = self.run_model_config()?;
        let model = config.init::<B>(device)?;
        let model = checkpoint::load_model(&checkpoint.dir, model, device)?;
        if let Some(param) = s2h_vlm::burn::module::AutodiffModule::valid(&model).non_finite_param()
        {
            return Err(AnalysisError::file(
                &checkpoint.dir,
                format!("weight `{param}` is NaN or infinite"),
            ));
        }
        Ok((model, Processor::new(tokenizer, &config), config))
    }

    /// The run's tokenizer and model configuration, as the trainer made them.
    fn run_model_config(&self) -> Result<(VlmTokenizer, VlmConfig)> {
        if self.train_config.is_none() {
            return Err(AnalysisError::Invalid("not a run directory".into()));
        }
        Ok(checkpoint::run_model_config(&self.path)?)
    }

    /// The AdamW moments of `params` in `checkpoint`, as `h` of Eq 8 uses them (raw, without
    /// bias correction); `Ok(None)` with the reason when the checkpoint has no optimizer state
    /// for them.
    pub fn moments<B: AutodiffBackend>(
        &self,
        checkpoint: &CheckpointRef,
        model: &Vlm<B>,
        params: &[ParamInfo],
        device: &B::Device,
    ) -> Result<std::result::Result<Moments<B::InnerBackend>, String>> {
        if checkpoint.is_model_dir {
            return Ok(Err("a model directory keeps no optimizer state".into()));
        }
        let record_file = checkpoint
            .dir
            .join(format!("{}.bin", checkpoint::OPTIMIZER_RECORD));
        if !record_file.is_file() {
            return Ok(Err(
                "the checkpoint keeps no optimizer state (it ends a phase, and the next phase starts a fresh optimizer)"
                    .into(),
            ));
        }
        let optim: Optim<B> = AdamWConfig::new().init::<B, Vlm<B>>();
        let optim = checkpoint::load_optimizer(&checkpoint.dir, optim, device)?;
        let mut records = optim.to_record();
        let mut take = TakeMoments::<B> {
            records: &mut records,
            wanted: params.iter().map(|p| p.id).collect(),
            m: HashMap::new(),
            v: HashMap::new(),
        };
        model.visit(&mut take);
        let (mut m, mut v) = (Vec::new(), Vec::new());
        for p in params {
            match (take.m.remove(&p.id), take.v.remove(&p.id)) {
                (Some(a), Some(b)) => {
                    m.push(a);
                    v.push(b);
                }
                _ => {
                    return Ok(Err(format!(
                        "the optimizer keeps no state for `{}` (frozen in training?)",
                        p.name
                    )));
                }
            }
        }
        Ok(Ok(Moments {
            m: FlatGrad { parts: m },
            v: FlatGrad { parts: v },
        }))
    }
}

/// The optimizer's per-parameter records (Burn keeps them in its own hash map type).
type Records<B> = <Optim<B> as Optimizer<Vlm<B>, B>>::Record;

struct TakeMoments<'a, B: AutodiffBackend> {
    records: &'a mut Records<B>,
    wanted: std::collections::HashSet<ParamId>,
    m: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
    v: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for TakeMoments<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.wanted.contains(&param.id) {
            return;
        }
        let Some(record) = self.records.remove(&param.id) else {
            return;
        };
        let state = record.into_state::<D>();
        let momentum = state.momentum;
        let n = momentum.moment_1.shape().num_elements();
        self.m.insert(param.id, momentum.moment_1.reshape([n]));
        self.v.insert(param.id, momentum.moment_2.reshape([n]));
    }
}
