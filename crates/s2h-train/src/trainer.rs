//! The training loop (SPEC §12): phases of a plan in order, each a fresh AdamW (no weight
//! decay) and a fresh warmup-cosine schedule on the previous phase's weights; masked LM loss
//! over the selected target tokens of each global batch, accumulated over micro-batches;
//! frozen components get no gradient and no optimizer state; checkpoints every K updates.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use s2h_mixture::{Component, EvalTexts, Record, WriteOptions, read_records, write_mixture};
use s2h_vlm::burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use s2h_vlm::burn::optim::{
    AdamW, AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer, adaptor::OptimizerAdaptor,
};
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{Processor, Vlm, VlmConfig, VlmTokenizer, masked_lm_loss, save_model};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, TrainState};
use crate::config::{DataSource, Duration, TrainConfig};
use crate::data::{PhaseData, PhaseSpec, batches_per_epoch, epoch_batches, micro_batch};
use crate::schedule::{learning_rate, warmup_steps};
use crate::{Result, TrainError};

pub const CONFIG_FILE: &str = "train_config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const MODEL_DIR: &str = "model";
pub const DATA_DIR: &str = "data";
pub const SUMMARY_FILE: &str = "summary.json";

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Loss of the last logged update.
    pub final_loss: Option<f32>,
    /// Updates done in the whole run (all sessions).
    pub steps: u64,
    /// Updates the run will have when finished.
    pub total_steps: u64,
    /// Whether every phase finished (false after `stop_after`).
    pub completed: bool,
    /// Training wall time over all sessions, seconds.
    pub wall_time_s: f64,
    /// Real (unpadded) tokens per second over all sessions.
    pub tokens_per_s: f64,
    /// The final model directory (`save_model` format), when completed.
    pub model_dir: Option<PathBuf>,
    /// (global step, loss) of every logged update.
    pub loss_curve: Vec<(u64, f32)>,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    /// Global update count after this update (1-based).
    pub step: u64,
    pub phase: String,
    pub phase_step: u64,
    pub epoch: u64,
    pub loss: f32,
    pub lr: f64,
    pub grad_norm: f32,
    pub tokens_per_s: f64,
}

/// Held from seeding the backend's generator to the end of a model's initialisation.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

type Optim<B> = OptimizerAdaptor<AdamW, Vlm<B>, B>;
type Rec = BinFileRecorder<FullPrecisionSettings>;

/// Everything prepared before the first update: data checked and tokenized, tokenizer built.
struct Prepared {
    phases: Vec<PhaseSpec>,
    data: Vec<PhaseData>,
    steps: Vec<u64>,
    model_config: VlmConfig,
    processor: Processor,
}

/// Train as `config` says, on backend `B` (with autodiff), on `device`.
pub fn train<B: AutodiffBackend>(config: &TrainConfig, device: &B::Device) -> Result<TrainSummary> {
    config.validate()?;
    let run = config.out.clone();
    let resuming = open_run(config)?;
    let prepared = prepare(config, &run)?;
    if !resuming {
        // Written once everything checked out: a failed start leaves no run to resume.
        let json = serde_json::to_string_pretty(&config.run_identity())
            .map_err(|e| TrainError::Config(e.to_string()))?;
        checkpoint::write_atomically(&run.join(CONFIG_FILE), json.as_bytes())?;
    }
    let latest = if resuming {
        checkpoint::latest(&run)?
    } else {
        None
    };
    let (mut model, mut state, mut optim_record) = match latest {
        Some((dir, state)) => {
            // Drawn weights are replaced by the checkpoint's, but drawing takes from the
            // backend's global generator: not while another run seeds it.
            let model = {
                let _turn = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                prepared.model_config.init::<B>(device)?
            };
            let record =
                Recorder::<B>::load(&Rec::new(), dir.join(checkpoint::MODEL_RECORD), device)
                    .map_err(|e| ckpt_err(&dir, e))?;
            let model = model.load_record(record);
            let optim = if state.phase < prepared.phases.len() && state.phase_step > 0 {
                Some(
                    Recorder::<B>::load(
                        &Rec::new(),
                        dir.join(checkpoint::OPTIMIZER_RECORD),
                        device,
                    )
                    .map_err(|e| ckpt_err(&dir, e))?,
                )
            } else {
                None
            };
            (model, state, optim)
        }
        None => {
            let model = match &config.init_from {
                Some(dir) => s2h_vlm::load_model::<B>(dir, device)?.2,
                None => {
                    // Seeded initialisation: the same seed gives the same starting weights. The
                    // backend's generator is global, so runs in one process (tests, the
                    // quickstart's two models) take turns between seeding and drawing.
                    let _turn = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                    B::seed(device, config.seed);
                    prepared.model_config.init::<B>(device)?
                }
            };
            let state = TrainState {
                global_step: 0,
                phase: 0,
                phase_step: 0,
                epoch: 0,
                batch_index: 0,
                data_seed: config.seed,
                tokens_seen: 0,
                wall_time_s: 0.0,
            };
            (model, state, None)
        }
    };
    truncate_metrics(&run.join(METRICS_FILE), state.global_step)?;
    let total_steps: u64 = prepared.steps.iter().sum();
    let bar = progress_bar(config.progress, total_steps, state.global_step);
    let mut metrics = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.join(METRICS_FILE))
        .map_err(|e| TrainError::io(run.join(METRICS_FILE), e))?;

    let Prepared {
        phases,
        mut data,
        steps,
        model_config,
        processor,
    } = prepared;
    let image_size = model_config.image_size();
    let micro = config.micro_batch();
    let mut stopped = false;

    while state.phase < phases.len() {
        let p = state.phase;
        let phase = &phases[p];
        let total = steps[p];
        let warmup = warmup_steps(total, config.warmup_ratio);
        let phase_data = &mut data[p];
        phase_data.load_images(&processor, &phase.data_dir)?;
        let lengths = phase_data.lengths();
        let bpe = batches_per_epoch(phase_data.records.len(), config.batch_size);
        let mut optim: Optim<B> = AdamWConfig::new()
            .with_beta_1(config.beta_1)
            .with_beta_2(config.beta_2)
            .with_epsilon(config.epsilon)
            .with_weight_decay(0.0)
            .init::<B, Vlm<B>>();
        if let Some(record) = optim_record.take() {
            optim = optim.load_record(record);
        }
        let frozen: Vec<Component> = Component::ALL
            .into_iter()
            .filter(|c| !phase.trainable.contains(c))
            .collect();
        let mut order: Option<(u64, Vec<Vec<usize>>)> = None;
        let mut since_log = Instant::now();
        let mut tokens_since_log = 0u64;
        bar.set_prefix(format!("{}/{} {}", p + 1, phases.len(), phase.label));

        while state.phase_step < total {
            let started = Instant::now();
            let s = state.phase_step;
            let (epoch, bi) = (s / bpe, s % bpe);
            if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let batches = epoch_batches(
                    &lengths,
                    config.batch_size,
                    state.data_seed,
                    p,
                    epoch,
                    config.bucket_batches,
                );
                order = Some((epoch, batches));
            }
            let rows = match &order {
                Some((_, batches)) => batches[bi as usize].clone(),
                None => Vec::new(),
            };
            let lr = learning_rate(s, total, phase.lr, warmup);
            let log_now = (state.global_step + 1) % config.log_every == 0 || s + 1 == total;
            let out = update(
                model,
                &mut optim,
                phase_data,
                &rows,
                micro,
                image_size,
                lr,
                &frozen,
                config.clip_grad,
                log_now,
                device,
            );
            model = out.model;
            state.phase_step += 1;
            state.global_step += 1;
            state.tokens_seen += out.tokens as u64;
            tokens_since_log += out.tokens as u64;
            let (next_epoch, next_bi) = (state.phase_step / bpe, state.phase_step % bpe);
            state.epoch = next_epoch;
            state.batch_index = next_bi;
            state.wall_time_s += started.elapsed().as_secs_f64();
            if let Some((loss, grad_norm)) = out.logged {
                let elapsed = since_log.elapsed().as_secs_f64().max(1e-9);
                let line = MetricsLine {
                    step: state.global_step,
                    phase: phase.label.clone(),
                    phase_step: state.phase_step,
                    epoch,
                    loss,
                    lr,
                    grad_norm,
                    tokens_per_s: tokens_since_log as f64 / elapsed,
                };
                let mut json =
                    serde_json::to_string(&line).map_err(|e| TrainError::Config(e.to_string()))?;
                json.push('\n');
                metrics
                    .write_all(json.as_bytes())
                    .and_then(|_| metrics.flush())
                    .map_err(|e| TrainError::io(run.join(METRICS_FILE), e))?;
                bar.set_message(format!(
                    "loss {loss:.4} lr {lr:.2e} {:.0} tok/s",
                    line.tokens_per_s
                ));
                since_log = Instant::now();
                tokens_since_log = 0;
            }
            bar.inc(1);
            let phase_done = state.phase_step == total;
            let stop_now = config.stop_after.is_some_and(|n| state.global_step >= n);
            let periodic = config.save_every > 0 && state.global_step % config.save_every == 0;
            if phase_done {
                // The phase boundary checkpoint records the next phase at step 0 (its
                // optimizer starts fresh).
                state.phase += 1;
                state.phase_step = 0;
                state.epoch = 0;
                state.batch_index = 0;
            }
            if phase_done || periodic || stop_now {
                save_checkpoint(
                    config,
                    &run,
                    &model,
                    (!phase_done).then_some(&optim),
                    &state,
                )?;
            }
            if stop_now {
                stopped = true;
            }
            if stop_now || phase_done {
                break;
            }
        }
        if stopped {
            break;
        }
    }
    bar.finish_and_clear();

    let completed = state.phase >= phases.len();
    let model_dir = if completed {
        let dir = run.join(MODEL_DIR);
        let tmp = run.join(format!("{MODEL_DIR}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        }
        save_model(&tmp, &model_config, &processor.tokenizer, &model.valid())?;
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
        }
        fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
        Some(dir)
    } else {
        None
    };
    let loss_curve = read_loss_curve(&run.join(METRICS_FILE))?;
    let summary = TrainSummary {
        final_loss: loss_curve.last().map(|(_, l)| *l),
        steps: state.global_step,
        total_steps,
        completed,
        wall_time_s: state.wall_time_s,
        tokens_per_s: state.tokens_seen as f64 / state.wall_time_s.max(1e-9),
        model_dir,
        loss_curve,
    };
    let json =
        serde_json::to_string_pretty(&summary).map_err(|e| TrainError::Config(e.to_string()))?;
    checkpoint::write_atomically(&run.join(SUMMARY_FILE), json.as_bytes())?;
    Ok(summary)
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("{e}; delete this checkpoint directory to fall back to an older one"),
    }
}

/// Create the run directory (or check the one being resumed). Returns whether a run is being
/// resumed.
fn open_run(config: &TrainConfig) -> Result<bool> {
    let run = &config.out;
    let config_path = run.join(CONFIG_FILE);
    let identity = config.run_identity();
    if config_path.is_file() {
        if !config.resume {
            return Err(TrainError::RunExists(run.clone()));
        }
        let text = fs::read_to_string(&config_path).map_err(|e| TrainError::io(&config_path, e))?;
        let stored: TrainConfig = serde_json::from_str(&text).map_err(|e| TrainError::Resume {
            path: config_path.clone(),
            message: format!("unreadable configuration: {e}"),
        })?;
        if stored != identity {
            return Err(TrainError::Resume {
                path: run.clone(),
                message: "the run was started with another configuration; pass the same \
                          options as the first session (see train_config.json)"
                    .into(),
            });
        }
        return Ok(true);
    }
    // No run was started here. What an attempt that failed before its first update left
    // (tokenizer, plan data) is removed so that it cannot leak into this run; anything else in
    // the directory is someone's, and refused.
    if run.is_dir() {
        for entry in fs::read_dir(run).map_err(|e| TrainError::io(run, e))? {
            let entry = entry.map_err(|e| TrainError::io(run, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let leftover =
                [TOKENIZER_FILE, DATA_DIR, "tokenizer.json.tmp"].contains(&name.as_str());
            if leftover {
                let path = entry.path();
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.map_err(|e| TrainError::io(&path, e))?;
            } else if !config.resume {
                return Err(TrainError::RunExists(run.clone()));
            }
        }
    }
    fs::create_dir_all(run).map_err(|e| TrainError::io(run, e))?;
    Ok(false)
}

/// The phases of the run, with plan data materialised into `RUN/data/` (resumably: a phase
/// whose `records.jsonl` exists is complete).
fn resolve_phases(config: &TrainConfig, run: &Path) -> Result<Vec<PhaseSpec>> {
    match &config.data {
        DataSource::Records { dir } => {
            if !dir.join("records.jsonl").is_file() {
                return Err(TrainError::Data {
                    path: dir.clone(),
                    message: "no records.jsonl here; write one with `cargo run --release \
                              --example generate`"
                        .into(),
                });
            }
            Ok(vec![PhaseSpec {
                label: "train".into(),
                data_dir: dir.clone(),
                lr: config.lr,
                trainable: config
                    .trainable
                    .clone()
                    .unwrap_or_else(|| Component::ALL.to_vec()),
            }])
        }
        DataSource::Plan { plan } => {
            let mut phases = Vec::new();
            for (i, phase) in plan.phases.iter().enumerate() {
                let dir = run.join(DATA_DIR).join(plan.phase_dir(i));
                if !dir.join("records.jsonl").is_file() {
                    fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
                    let mixture = phase.mixture(plan.seed)?;
                    let render = plan.render_options(phase);
                    let mut eval = EvalTexts::new(render.text);
                    if config.check_eval_overlap {
                        for &task in &mixture.tasks {
                            eval.add_default_sets(task, &render.tasks)?;
                        }
                    }
                    let options = WriteOptions {
                        overwrite: true,
                        ..WriteOptions::default()
                    };
                    write_mixture(&mixture, &render, &eval, &dir, &options, &|| {})?;
                }
                phases.push(PhaseSpec {
                    label: phase.label(),
                    data_dir: dir,
                    lr: phase.lr.unwrap_or(config.lr),
                    trainable: phase.trainable(),
                });
            }
            Ok(phases)
        }
    }
}

fn prepare(config: &TrainConfig, run: &Path) -> Result<Prepared> {
    let phases = resolve_phases(config, run)?;
    let records: Vec<Vec<Record>> = phases
        .iter()
        .map(|p| {
            let records = read_records(&p.data_dir)?;
            if records.is_empty() {
                return Err(TrainError::Data {
                    path: p.data_dir.clone(),
                    message: "records.jsonl holds no record".into(),
                });
            }
            Ok(records)
        })
        .collect::<Result<_>>()?;
    let (tokenizer, model_config) = match &config.init_from {
        Some(dir) => {
            let model_config = s2h_vlm::load_config(dir)?;
            let tokenizer = VlmTokenizer::from_file(&dir.join(s2h_vlm::store::TOKENIZER_FILE))?;
            let path = run.join(TOKENIZER_FILE);
            if !path.is_file() {
                tokenizer.save(&path)?;
            }
            (tokenizer, model_config)
        }
        None => {
            let tokenizer = run_tokenizer(config, run, &records)?;
            let model_config = config.model.clone().with_vocab(&tokenizer);
            (tokenizer, model_config)
        }
    };
    model_config.validate()?;
    if records.iter().flatten().any(|r| r.image.is_some()) && model_config.vision.is_none() {
        return Err(TrainError::Config(
            "the data has image records but the model has no vision tower".into(),
        ));
    }
    let processor = Processor::new(tokenizer, &model_config);
    let data: Vec<PhaseData> = records
        .iter()
        .map(|r| PhaseData::tokenize(&processor, r, &config.targets))
        .collect::<Result<_>>()?;
    let steps = data
        .iter()
        .map(|d| match config.duration {
            Duration::Steps(n) => n,
            Duration::Epochs(e) => e * batches_per_epoch(d.records.len(), config.batch_size),
        })
        .collect();
    Ok(Prepared {
        phases,
        data,
        steps,
        model_config,
        processor,
    })
}

/// The run's tokenizer: read back when resuming, else built from the task corpus (every split
/// of every task, so evaluation texts are covered) plus the training texts, and saved.
fn run_tokenizer(
    config: &TrainConfig,
    run: &Path,
    records: &[Vec<Record>],
) -> Result<VlmTokenizer> {
    let path = run.join(TOKENIZER_FILE);
    if path.is_file() {
        return Ok(VlmTokenizer::from_file(&path)?);
    }
    let mut texts = s2h_vlm::corpus(&config.task_config, config.corpus_per_set, config.seed)?;
    for r in records.iter().flatten() {
        texts.push(r.prompt.clone());
        texts.push(r.target.clone());
    }
    let tokenizer = VlmTokenizer::build(config.tokenizer.kind(), &texts)?;
    let tmp = run.join(format!("{TOKENIZER_FILE}.tmp"));
    tokenizer.save(&tmp)?;
    fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))?;
    Ok(tokenizer)
}

struct UpdateOut<B: AutodiffBackend> {
    model: Vlm<B>,
    tokens: usize,
    /// (loss, grad norm) when the update is logged.
    logged: Option<(f32, f32)>,
}

/// One optimizer update on the global batch `rows`.
#[allow(clippy::too_many_arguments)]
fn update<B: AutodiffBackend>(
    model: Vlm<B>,
    optim: &mut Optim<B>,
    data: &PhaseData,
    rows: &[usize],
    micro: usize,
    image_size: usize,
    lr: f64,
    frozen: &[Component],
    clip: Option<f64>,
    log: bool,
    device: &B::Device,
) -> UpdateOut<B> {
    // The loss is the mean over every target token of the global batch: each micro-batch's
    // mean is weighted by its share of those tokens, so accumulation equals one big batch.
    let total_targets: usize = rows.iter().map(|&i| data.records[i].n_targets).sum();
    let mut accumulator = GradientsAccumulator::<Vlm<B>>::new();
    let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
    let mut tokens = 0;
    for chunk in rows.chunks(micro) {
        let batch = micro_batch::<B>(data, chunk, image_size, device);
        tokens += batch.n_tokens;
        if batch.n_targets == 0 {
            continue;
        }
        let logits = model.forward(batch.input_ids.clone(), batch.images);
        let loss = masked_lm_loss(logits, batch.input_ids, batch.loss_mask)
            .mul_scalar(batch.n_targets as f64 / total_targets.max(1) as f64);
        let inner = loss.clone().inner();
        loss_sum = Some(match loss_sum {
            Some(sum) => sum + inner,
            None => inner,
        });
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        accumulator.accumulate(&model, grads);
    }
    let mut grads = accumulator.grads();
    for component in frozen {
        let mut drop = DropGrads { grads: &mut grads };
        match component {
            Component::Vision => model.vision.visit(&mut drop),
            Component::Projector => model.projector.visit(&mut drop),
            Component::Lm => model.decoder.visit(&mut drop),
        }
    }
    let mut norm_value = None;
    if clip.is_some() || log {
        let mut norm = SquaredNorm::<B> {
            grads: &grads,
            sum: None,
        };
        model.visit(&mut norm);
        let value = norm
            .sum
            .map(|s| s.sqrt().into_scalar().elem::<f32>())
            .unwrap_or(0.0);
        norm_value = Some(value);
        if let Some(max) = clip {
            if value as f64 > max {
                let mut scale = ScaleGrads {
                    grads: &mut grads,
                    scale: max / (value as f64 + 1e-6),
                };
                model.visit(&mut scale);
            }
        }
    }
    let model = optim.step(lr, model, grads);
    let logged = log.then(|| {
        let loss = loss_sum
            .map(|l| l.into_scalar().elem::<f32>())
            .unwrap_or(0.0);
        (loss, norm_value.unwrap_or(0.0))
    });
    UpdateOut {
        model,
        tokens,
        logged,
    }
}

/// Removes the gradients of a frozen component: the optimizer then neither moves its
/// parameters nor keeps state for them.
struct DropGrads<'a> {
    grads: &'a mut GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for DropGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = self.grads.remove::<B::InnerBackend, D>(param.id);
    }
}

struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    scale: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.scale));
        }
    }
}

fn save_checkpoint<B: AutodiffBackend>(
    config: &TrainConfig,
    run: &Path,
    model: &Vlm<B>,
    optim: Option<&Optim<B>>,
    state: &TrainState,
) -> Result<()> {
    let tmp = checkpoint::begin(run, state.global_step)?;
    let recorder = Rec::new();
    Recorder::<B>::record(
        &recorder,
        model.clone().into_record(),
        tmp.join(checkpoint::MODEL_RECORD),
    )
    .map_err(|e| ckpt_err(&tmp, e))?;
    if config.fail_checkpoint_at == Some(state.global_step) {
        return Err(TrainError::InjectedFailure(state.global_step));
    }
    if let Some(optim) = optim {
        Recorder::<B>::record(
            &recorder,
            optim.to_record(),
            tmp.join(checkpoint::OPTIMIZER_RECORD),
        )
        .map_err(|e| ckpt_err(&tmp, e))?;
    }
    checkpoint::finish(run, &tmp, state, config.keep_checkpoints)?;
    Ok(())
}

/// Keep only the metrics lines of updates up to `step` (those of the checkpoint being resumed),
/// so a resumed run neither repeats nor loses a line.
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    let text = fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str::<MetricsLine>(line).is_ok_and(|m| m.step <= step))
        .map(|line| format!("{line}\n"))
        .collect();
    if kept.len() != text.len() {
        checkpoint::write_atomically(path, kept.as_bytes())?;
    }
    Ok(())
}

/// (step, loss) of every line of a metrics file.
pub fn read_loss_curve(path: &Path) -> Result<Vec<(u64, f32)>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<MetricsLine>(line).ok())
        .map(|m| (m.step, m.loss))
        .collect())
}

fn progress_bar(show: bool, total: u64, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(done);
    bar
}
