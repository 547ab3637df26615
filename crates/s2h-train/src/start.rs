//! Where training starts: a fresh run (the seeded initial weights or `init_from`) or a resumed
//! one (the newest intact checkpoint that loads, its optimizer when it was saved mid-phase or at
//! the boundary into a phase that continues the one before it).

use s2h_vlm::Vlm;
use s2h_vlm::burn::optim::AdamWConfig;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;

use crate::checkpoint::{self, TrainState};
use crate::config::TrainConfig;
use crate::prepare::Prepared;
use crate::reading::read_first;
use crate::step::Optim;
use crate::{Result, TrainError};

/// AdamW as the run's configuration says, without weight decay.
pub(crate) fn fresh_optimizer<B: AutodiffBackend>(config: &TrainConfig) -> Optim<B> {
    AdamWConfig::new()
        .with_beta_1(config.beta_1)
        .with_beta_2(config.beta_2)
        .with_epsilon(config.epsilon)
        .with_weight_decay(0.0)
        .init::<B, Vlm<B>>()
}

/// Where training starts.
pub(crate) struct Start<B: AutodiffBackend> {
    pub model: Vlm<B>,
    pub state: TrainState,
    /// The optimizer of a run resumed mid-phase or at the boundary into a continuing phase
    /// (another phase boundary starts a fresh one).
    pub optim: Option<Optim<B>>,
    /// The update of the newest checkpoint on disk.
    pub last_checkpoint: Option<u64>,
}

/// The model and state to start from: when resuming, the newest intact checkpoint that loads
/// (a damaged or unreadable one is passed over, with a warning, for the one before it); else the
/// seeded initial weights or `init_from`, with the tower taught to read when the run says so.
pub(crate) fn start<B: AutodiffBackend>(
    config: &TrainConfig,
    prepared: &Prepared,
    resuming: bool,
    device: &B::Device,
) -> Result<Start<B>> {
    if resuming {
        let mut last_error = None;
        for (dir, state) in checkpoint::intact(&config.out)? {
            match resume_from::<B>(config, prepared, &dir, &state, device) {
                Ok((model, optim)) => {
                    return Ok(Start {
                        model,
                        last_checkpoint: Some(state.global_step),
                        state,
                        optim,
                    });
                }
                Err(e) => {
                    eprintln!(
                        "warning: checkpoint `{}` does not load ({e}); falling back",
                        dir.display()
                    );
                    last_error = Some(e);
                }
            }
        }
        return Err(TrainError::Resume {
            path: config.out.clone(),
            message: match last_error {
                Some(e) => format!("no checkpoint loads; the last error: {e}"),
                None => "no intact checkpoint is left".into(),
            },
        });
    }
    let model = match &config.init_from {
        // s2h's layout or a Hugging Face checkpoint; its tokenizer was taken in `prepare`.
        Some(dir) => s2h_vlm::load_weights::<B>(dir, device)?.1,
        // The same seed gives the same starting weights.
        None => prepared
            .model_config
            .init_seeded::<B>(config.seed, device)?,
    };
    let model = match &config.reading {
        Some(stage) => read_first(
            stage,
            &prepared.phases,
            &prepared.processor,
            &prepared.model_config,
            model,
            config.seed,
            &config.out,
            device,
        )?,
        None => model,
    };
    let state = TrainState {
        global_step: 0,
        phase: 0,
        phase_step: 0,
        epoch: 0,
        batch_index: 0,
        data_seed: config.seed,
        tokens_seen: 0,
        examples_seen: Some(0),
        wall_time_s: 0.0,
        checksums: Default::default(),
    };
    Ok(Start {
        model,
        state,
        optim: None,
        last_checkpoint: None,
    })
}

/// The model (and, mid-phase or entering a continuing phase, the optimizer) of checkpoint
/// `dir`.
fn resume_from<B: AutodiffBackend>(
    config: &TrainConfig,
    prepared: &Prepared,
    dir: &std::path::Path,
    state: &TrainState,
    device: &B::Device,
) -> Result<(Vlm<B>, Option<Optim<B>>)> {
    // The drawn weights are replaced by the checkpoint's.
    let model = prepared.model_config.init::<B>(device)?;
    let model = checkpoint::load_model(dir, model, device)?;
    let needs_optimizer = prepared
        .phases
        .get(state.phase)
        .is_some_and(|phase| state.phase_step > 0 || phase.continues);
    let optim = if needs_optimizer {
        Some(checkpoint::load_optimizer(
            dir,
            fresh_optimizer(config),
            device,
        )?)
    } else {
        None
    };
    Ok((model, optim))
}
