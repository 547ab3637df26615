//! The training loop (SPEC §12): phases of a plan in order, each a fresh AdamW (no weight
//! decay) and a fresh warmup-cosine schedule on the previous phase's weights — but a phase that
//! `continues` keeps the previous phase's AdamW and runs on along its schedule (paper Fig 8,
//! "Mix → Mix+"); masked LM loss over the selected target tokens of each global batch,
//! accumulated over micro-batches; frozen components get no gradient and no optimizer state;
//! checkpoints every K updates and at the `keep_steps`.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use s2h_mixture::Component;
use s2h_vlm::Vlm;
use s2h_vlm::burn::module::AutodiffModule;
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;

use crate::checkpoint::{self, Retention, TrainState};
use crate::config::TrainConfig;
use crate::data::{PhaseData, PhaseSpec, batches_per_epoch, epoch_batches};
use crate::prepare::{Prepared, prepare};
use crate::run_dir::{self, LOG_FILE, Log, LogLine, TrainSummary};
use crate::schedule::{PhaseSchedule, phase_schedules};
use crate::start::{Start, fresh_optimizer, start};
use crate::step::{Optim, UpdateOptions, accumulate_gradients, update};
use crate::{Result, TrainError};

/// Train as `config` says, on backend `B` (with autodiff), on `device`.
pub fn train<B: AutodiffBackend>(config: &TrainConfig, device: &B::Device) -> Result<TrainSummary> {
    let bar = if config.progress {
        progress_bar()
    } else {
        ProgressBar::hidden()
    };
    train_with_bar::<B>(config, device, bar)
}

/// [`train`], showing progress on `bar` (hidden or not, as the caller chose).
pub(crate) fn train_with_bar<B: AutodiffBackend>(
    config: &TrainConfig,
    device: &B::Device,
    bar: ProgressBar,
) -> Result<TrainSummary> {
    config.validate()?;
    let run = config.out.clone();
    // Held to the end: a second process cannot train in the same directory meanwhile.
    let run_dir = run_dir::open(config)?;
    let prepared = prepare(config, &run)?;
    if !run_dir.resuming {
        run_dir::write_config(config)?;
    }
    let Start {
        mut model,
        mut state,
        mut optim,
        mut last_checkpoint,
    } = start::<B>(config, &prepared, run_dir.resuming, device)?;
    let mut log = Log::open(&run, state.global_step)?;
    let total_steps: u64 = prepared.steps.iter().sum();
    bar.set_length(total_steps);
    bar.set_position(state.global_step);
    let name = run
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let Prepared {
        phases,
        tasks,
        mut data,
        steps,
        model_config,
        processor,
    } = prepared;

    let continues: Vec<bool> = phases.iter().map(|p| p.continues).collect();
    let schedules = phase_schedules(&steps, &continues);
    while state.phase < phases.len() {
        let p = state.phase;
        data[p].load_images(&processor, &phases[p].data_dir)?;
        bar.set_prefix(format!(
            "{name} {}/{} {}",
            p + 1,
            phases.len(),
            phases[p].label
        ));
        // Each phase starts a fresh optimizer, but for the one resumed mid-phase or continuing
        // the phase before it.
        let mut phase_optim = optim.take().unwrap_or_else(|| fresh_optimizer(config));
        let next_continues = continues.get(p + 1).copied().unwrap_or(false);
        let phase = PhaseRun {
            config,
            spec: &phases[p],
            data: &data[p],
            total: steps[p],
            schedule: schedules[p],
            next_continues,
            image_size: model_config.image_size(),
        };
        let stopped;
        (model, stopped) = phase.run(
            model,
            &mut phase_optim,
            &mut state,
            &mut last_checkpoint,
            &mut log,
            &bar,
            device,
        )?;
        if stopped {
            break;
        }
        // The next phase continues with this optimizer (moments and step counts).
        if next_continues {
            optim = Some(phase_optim);
        }
    }
    bar.finish_and_clear();

    let completed = state.phase >= phases.len();
    let model_dir = if completed {
        let training = run_dir::TrainingRecord { tasks };
        Some(run_dir::save_final_model(
            &run,
            &model_config,
            &processor.tokenizer,
            &model.valid(),
            &training,
        )?)
    } else {
        None
    };
    let loss_curve = run_dir::read_loss_curve(&run.join(LOG_FILE))?;
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
    run_dir::write_summary(&run, &summary)?;
    drop(run_dir);
    Ok(summary)
}

/// One phase being trained.
struct PhaseRun<'a> {
    config: &'a TrainConfig,
    spec: &'a PhaseSpec,
    data: &'a PhaseData,
    /// Updates of the phase.
    total: u64,
    /// Where the phase's updates sit in their (possibly chained) schedule.
    schedule: PhaseSchedule,
    /// Whether the next phase continues this one (its boundary checkpoint keeps the optimizer).
    next_continues: bool,
    image_size: usize,
}

impl PhaseRun<'_> {
    /// Train from `state` to the end of the phase (or to `stop_after`); returns the model and
    /// whether the run stopped early.
    #[allow(clippy::too_many_arguments)]
    fn run<B: AutodiffBackend>(
        &self,
        mut model: Vlm<B>,
        optim: &mut Optim<B>,
        state: &mut TrainState,
        last_checkpoint: &mut Option<u64>,
        log: &mut Log,
        bar: &ProgressBar,
        device: &B::Device,
    ) -> Result<(Vlm<B>, bool)> {
        let config = self.config;
        let lengths = self.data.lengths();
        let bpe = batches_per_epoch(self.data.records.len(), config.batch_size);
        let frozen: Vec<Component> = Component::ALL
            .into_iter()
            .filter(|c| !self.spec.trainable.contains(c))
            .collect();
        let micro = config.micro_batch();
        let mut order: Option<(u64, Vec<Vec<usize>>)> = None;
        // The sum of every update's `health` since the last check: read (a sync) only at logged
        // updates and checkpoints.
        let mut health: Option<Tensor<B::InnerBackend, 1>> = None;
        let mut since_log = Instant::now();
        let mut tokens_since_log = 0u64;
        loop {
            let started = Instant::now();
            let s = state.phase_step;
            let (epoch, bi) = (s / bpe, s % bpe);
            if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let batches = epoch_batches(
                    &lengths,
                    config.batch_size,
                    state.data_seed,
                    state.phase,
                    epoch,
                    config.bucket_batches,
                );
                order = Some((epoch, batches));
            }
            let rows: &[usize] = match &order {
                Some((_, batches)) => &batches[bi as usize],
                None => &[],
            };
            let lr = self
                .schedule
                .learning_rate(s, self.spec.lr, config.warmup_ratio);
            let log_now =
                (state.global_step + 1).is_multiple_of(config.log_every) || s + 1 == self.total;
            let chunks: Vec<&[usize]> = rows.chunks(micro).collect();
            let total_targets = rows.iter().map(|&i| self.data.records[i].n_targets()).sum();
            let gradients = accumulate_gradients(&model, chunks.len(), total_targets, |m| {
                self.data.batch(chunks[m], self.image_size, device)
            })?;
            let options = UpdateOptions {
                lr,
                frozen: &frozen,
                clip: config.clip_grad,
            };
            let out = update(model, optim, gradients, &options);
            health = Some(match health.take() {
                Some(h) => h + out.health(),
                None => out.health(),
            });
            let logged = if log_now {
                let loss: f32 = out.loss.into_scalar().elem();
                let norm: f32 = out.grad_norm.into_scalar().elem();
                if !(loss.is_finite() && norm.is_finite()) {
                    return Err(TrainError::Diverged {
                        step: state.global_step + 1,
                        what: format!("the loss is {loss} and the gradient norm {norm}"),
                        last_checkpoint: *last_checkpoint,
                    });
                }
                Some((loss, norm))
            } else {
                None
            };
            model = out.model;
            state.phase_step += 1;
            state.global_step += 1;
            state.tokens_seen += out.tokens as u64;
            state.examples_seen = state.examples_seen.map(|n| n + rows.len() as u64);
            tokens_since_log += out.tokens as u64;
            state.epoch = state.phase_step / bpe;
            state.batch_index = state.phase_step % bpe;
            state.wall_time_s += started.elapsed().as_secs_f64();
            if let Some((loss, grad_norm)) = logged {
                let line = LogLine {
                    step: state.global_step,
                    phase: self.spec.label.clone(),
                    phase_step: state.phase_step,
                    epoch,
                    loss,
                    lr,
                    grad_norm,
                    tokens_per_s: tokens_since_log as f64
                        / since_log.elapsed().as_secs_f64().max(1e-9),
                };
                log.append(&line)?;
                bar.set_message(format!(
                    "loss {loss:.4} lr {lr:.2e} {:.0} tok/s",
                    line.tokens_per_s
                ));
                since_log = Instant::now();
                tokens_since_log = 0;
            }
            bar.inc(1);
            let phase_done = state.phase_step == self.total;
            let stop_now = config.stop_after.is_some_and(|n| state.global_step >= n);
            let periodic =
                config.save_every > 0 && state.global_step.is_multiple_of(config.save_every);
            let retention = Retention {
                newest: config.keep_checkpoints,
                keep_steps: config.keep_steps.as_ref(),
            };
            let kept = retention.keeps(state.global_step);
            if phase_done {
                // The phase boundary checkpoint records the next phase at step 0 (its
                // optimizer starts fresh, unless it continues this phase).
                state.phase += 1;
                state.phase_step = 0;
                state.epoch = 0;
                state.batch_index = 0;
            }
            if phase_done || periodic || stop_now || kept {
                check_health(health.take(), &model, state.global_step, *last_checkpoint)?;
                checkpoint::save(
                    &config.out,
                    &model,
                    (!phase_done || self.next_continues).then_some(&*optim),
                    state,
                    retention,
                    config.fail_checkpoint_at,
                )?;
                *last_checkpoint = Some(state.global_step);
            }
            if stop_now || phase_done {
                return Ok((model, stop_now));
            }
        }
    }
}

/// Refuse to go on (and to save) when an update since the last check had a non-finite loss or
/// gradient, or a weight is no longer finite.
fn check_health<B: AutodiffBackend>(
    health: Option<Tensor<B::InnerBackend, 1>>,
    model: &Vlm<B>,
    step: u64,
    last_checkpoint: Option<u64>,
) -> Result<()> {
    let diverged = |what: String| {
        Err(TrainError::Diverged {
            step,
            what,
            last_checkpoint,
        })
    };
    if let Some(h) = health {
        let h: f32 = h.into_scalar().elem();
        if !h.is_finite() {
            return diverged(format!(
                "a loss or gradient of an update since update {} was NaN or infinite",
                last_checkpoint.unwrap_or(0)
            ));
        }
    }
    if let Some(param) = model.valid().non_finite_param() {
        return diverged(format!("weight `{param}` is NaN or infinite"));
    }
    Ok(())
}

/// A bar in the trainer's style (its length and position are set when the run is prepared).
pub(crate) fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
