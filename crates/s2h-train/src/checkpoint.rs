//! Checkpoints: `RUN/checkpoints/step-NNNNNNNNN/` with the model and optimizer records (Burn's
//! binary recorder at full precision; parameter ids are kept, so the optimizer state finds its
//! parameters again) and `state.json`. Each is written into `.tmp-step-…` and renamed into place
//! when complete, so a run killed at any moment leaves only complete checkpoints under their
//! final names; leftover temporary directories are removed on resume.
//!
//! Pruning keeps the newest checkpoints (`keep_checkpoints`) and, for good, those of the
//! `keep_steps` ([`Retention`]); a kept checkpoint holds a `kept` file, so a later session with
//! other `keep_steps` spares it too.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use s2h_vlm::burn::module::{AutodiffModule, Module};
use s2h_vlm::burn::optim::Optimizer;
use s2h_vlm::burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{Vlm, VlmConfig, VlmTokenizer};
use serde::{Deserialize, Serialize};

use crate::config::{KeepSteps, TrainConfig};
use crate::run_dir::{CONFIG_FILE, TOKENIZER_FILE};
use crate::step::Optim;
use crate::{Result, TrainError};

type Rec = BinFileRecorder<FullPrecisionSettings>;

pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const STATE_FILE: &str = "state.json";
pub const MODEL_RECORD: &str = "model";
pub const OPTIMIZER_RECORD: &str = "optimizer";
/// Marks a checkpoint kept for good (written before the state file): pruning never removes it.
pub const KEPT_FILE: &str = "kept";

/// Which checkpoints a save leaves on disk: for good those of `keep_steps` and those marked kept
/// earlier, and of the others the newest `newest` (the one just written always stays).
/// `keep.into()` of a plain number keeps the newest that many.
#[derive(Debug, Clone, Copy)]
pub struct Retention<'a> {
    pub newest: usize,
    pub keep_steps: Option<&'a KeepSteps>,
}

impl From<usize> for Retention<'_> {
    fn from(newest: usize) -> Self {
        Retention {
            newest,
            keep_steps: None,
        }
    }
}

impl Retention<'_> {
    /// Whether the checkpoint of `step` is kept for good.
    pub fn keeps(&self, step: u64) -> bool {
        self.keep_steps.is_some_and(|k| k.contains(step))
    }
}

/// Where a run stands: everything besides the weights and optimizer moments that is needed to
/// continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer updates done in the whole run.
    pub global_step: u64,
    /// Current phase (0-based); equals the number of phases when the run is finished.
    pub phase: usize,
    /// Updates done in the current phase: the data position, and the scheduler position but for
    /// a phase that `continues` the one before it (its schedule position adds the updates of
    /// the phases it continues; see `schedule::phase_schedules`).
    pub phase_step: u64,
    /// Data position of the next update: epoch and batch index within it. The batch order of
    /// an epoch is a pure function of (`data_seed`, phase, epoch), so this is all the data
    /// iterator's state.
    pub epoch: u64,
    pub batch_index: u64,
    /// Seed of the data order streams (the trainer draws no other random numbers after
    /// initialisation).
    pub data_seed: u64,
    /// Real tokens seen and training wall time so far (for throughput across sessions).
    pub tokens_seen: u64,
    /// Training records seen (the x-axis unit of analyses across training); `None` in
    /// checkpoints written before it was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples_seen: Option<u64>,
    pub wall_time_s: f64,
    /// SHA-256 of each record file of the checkpoint, checked before it is used: a truncated or
    /// damaged checkpoint is passed over for the one before it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
}

pub fn checkpoints_dir(run: &Path) -> PathBuf {
    run.join(CHECKPOINTS_DIR)
}

fn step_name(step: u64) -> String {
    format!("step-{step:09}")
}

/// The `step-…` directories that hold a state file, newest first; removes temporary directories
/// left by an interrupted save.
fn complete(run: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let dir = checkpoints_dir(run);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    for entry in fs::read_dir(&dir).map_err(|e| TrainError::io(&dir, e))? {
        let entry = entry.map_err(|e| TrainError::io(&dir, e))?;
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(|e| TrainError::io(&path, e))?;
        }
    }
    listed(run)
}

/// The `step-…` directories that hold a state file, newest first, touching nothing (a run may be
/// training in the directory meanwhile).
fn listed(run: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let dir = checkpoints_dir(run);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| TrainError::io(&dir, e))? {
        let entry = entry.map_err(|e| TrainError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if entry.path().join(STATE_FILE).is_file() {
            found.push((step, entry.path()));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(found)
}

/// Whether the run has a checkpoint at all (intact or not): it has started.
pub fn any(run: &Path) -> Result<bool> {
    Ok(!complete(run)?.is_empty())
}

/// Read a checkpoint's state and check its files against their checksums.
fn verify(path: &Path) -> std::result::Result<TrainState, String> {
    let state_path = path.join(STATE_FILE);
    let text = fs::read_to_string(&state_path).map_err(|e| format!("unreadable state: {e}"))?;
    let state: TrainState =
        serde_json::from_str(&text).map_err(|e| format!("unreadable state: {e}"))?;
    for (file, expected) in &state.checksums {
        match s2h_vlm::store::sha256_file(&path.join(file)) {
            Ok(sum) if sum == *expected => {}
            Ok(_) => return Err(format!("{file} does not match its checksum")),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(state)
}

/// Every complete checkpoint whose files are intact, newest first, checked as the iterator
/// reaches it (a resume hashes only the checkpoints it gets to). A damaged one (unreadable
/// state, a truncated or altered record file) is passed over with a warning on stderr.
pub fn intact(run: &Path) -> Result<impl Iterator<Item = (PathBuf, TrainState)>> {
    Ok(complete(run)?
        .into_iter()
        .filter_map(|(_, path)| match verify(&path) {
            Ok(state) => Some((path, state)),
            Err(why) => {
                eprintln!(
                    "warning: checkpoint `{}` is damaged ({why}); falling back to an older one",
                    path.display()
                );
                None
            }
        }))
}

/// The newest intact checkpoint, if any (see [`intact`]).
pub fn latest(run: &Path) -> Result<Option<(PathBuf, TrainState)>> {
    Ok(intact(run)?.next())
}

/// Create the temporary directory of the checkpoint of `step`.
pub fn begin(run: &Path, step: u64) -> Result<PathBuf> {
    let dir = checkpoints_dir(run);
    let tmp = dir.join(format!(".tmp-{}", step_name(step)));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    Ok(tmp)
}

/// Write the state file last (after the `kept` mark of a kept step), move the directory into
/// place and drop older checkpoints as `keep` says ([`Retention`]).
pub fn finish<'k>(
    run: &Path,
    tmp: &Path,
    state: &TrainState,
    keep: impl Into<Retention<'k>>,
) -> Result<PathBuf> {
    let keep = keep.into();
    if keep.keeps(state.global_step) {
        write_synced(
            &tmp.join(KEPT_FILE),
            b"kept for good (keep_steps): pruning never removes this checkpoint\n",
        )?;
    }
    let state_path = tmp.join(STATE_FILE);
    let json = serde_json::to_string_pretty(state).map_err(|e| TrainError::Checkpoint {
        path: state_path.clone(),
        message: e.to_string(),
    })?;
    write_synced(&state_path, json.as_bytes())?;
    let dir = checkpoints_dir(run);
    let final_path = dir.join(step_name(state.global_step));
    if final_path.exists() {
        fs::remove_dir_all(&final_path).map_err(|e| TrainError::io(&final_path, e))?;
    }
    fs::rename(tmp, &final_path).map_err(|e| TrainError::io(&final_path, e))?;
    // Older checkpoints go only after the new one is in place. The one just written always
    // stays (after a resume that passed over a damaged newer checkpoint it is not the highest
    // step, and it must not be pruned as an old one).
    let mut others: Vec<u64> = fs::read_dir(&dir)
        .map_err(|e| TrainError::io(&dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("step-")
                .and_then(|s| s.parse().ok())
        })
        .filter(|&step| {
            step != state.global_step
                && !keep.keeps(step)
                && !dir.join(step_name(step)).join(KEPT_FILE).is_file()
        })
        .collect();
    others.sort_unstable();
    // The new checkpoint is one of the newest `keep.newest` unless it is kept for good.
    let budget = if keep.keeps(state.global_step) {
        keep.newest
    } else {
        keep.newest.saturating_sub(1)
    };
    let excess = others.len().saturating_sub(budget);
    for step in &others[..excess] {
        let old = dir.join(step_name(*step));
        fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
    }
    Ok(final_path)
}

/// Write the checkpoint of `state`: the model, the optimizer (`None` at a phase boundary where
/// the next phase starts a fresh one; a boundary into a phase that `continues` keeps it) and
/// the state file last, then move it into place and prune as `keep` says ([`Retention`]).
/// `fail_at` injects a failure half-way (tests only).
pub fn save<'k, B: AutodiffBackend>(
    run: &Path,
    model: &Vlm<B>,
    optim: Option<&Optim<B>>,
    state: &TrainState,
    keep: impl Into<Retention<'k>>,
    fail_at: Option<u64>,
) -> Result<PathBuf> {
    let tmp = begin(run, state.global_step)?;
    let written = write_records(&tmp, model, optim, state, fail_at)
        .and_then(|state| finish(run, &tmp, &state, keep));
    if written.is_err() {
        // A full disk must not stay full of half a checkpoint.
        let _ = fs::remove_dir_all(&tmp);
    }
    written
}

/// The record files of a checkpoint in `tmp`, and the state with their checksums.
fn write_records<B: AutodiffBackend>(
    tmp: &Path,
    model: &Vlm<B>,
    optim: Option<&Optim<B>>,
    state: &TrainState,
    fail_at: Option<u64>,
) -> Result<TrainState> {
    let recorder = Rec::new();
    let mut state = state.clone();
    let mut files = vec![MODEL_RECORD];
    Recorder::<B>::record(
        &recorder,
        model.clone().into_record(),
        tmp.join(MODEL_RECORD),
    )
    .map_err(|e| ckpt_err(tmp, e))?;
    if fail_at == Some(state.global_step) {
        return Err(TrainError::InjectedFailure(state.global_step));
    }
    if let Some(optim) = optim {
        Recorder::<B>::record(&recorder, optim.to_record(), tmp.join(OPTIMIZER_RECORD))
            .map_err(|e| ckpt_err(tmp, e))?;
        files.push(OPTIMIZER_RECORD);
    }
    for name in files {
        // Burn's file recorder adds the extension.
        let file = record_file(tmp, name)?;
        state
            .checksums
            .insert(file.clone(), s2h_vlm::store::sha256_file(&tmp.join(&file))?);
    }
    Ok(state)
}

/// The file name Burn's recorder gave record `name` in `dir` (`model` → `model.bin`).
fn record_file(dir: &Path, name: &str) -> Result<String> {
    let prefix = format!("{name}.");
    fs::read_dir(dir)
        .map_err(|e| TrainError::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|f| f.starts_with(&prefix))
        .ok_or_else(|| ckpt_err(dir, format!("the recorder wrote no `{name}` file")))
}

/// The weights of checkpoint `dir` in `model` (an initialised model of the run's shape).
pub fn load_model<B: AutodiffBackend>(
    dir: &Path,
    model: Vlm<B>,
    device: &B::Device,
) -> Result<Vlm<B>> {
    let record = Recorder::<B>::load(&Rec::new(), dir.join(MODEL_RECORD), device)
        .map_err(|e| ckpt_err(dir, e))?;
    Ok(model.load_record(record))
}

/// The tokenizer and model configuration of run `run`, as the trainer made them (its
/// `train_config.json` and `tokenizer.json`): what a checkpoint's weights fit.
pub fn run_model_config(run: &Path) -> Result<(VlmTokenizer, VlmConfig)> {
    let path = run.join(CONFIG_FILE);
    let text = fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    let config: TrainConfig = serde_json::from_str(&text).map_err(|e| TrainError::Data {
        path: path.clone(),
        message: format!("not a training configuration: {e}"),
    })?;
    let tokenizer = VlmTokenizer::from_file(&run.join(TOKENIZER_FILE))?;
    let model = match &config.init_from {
        Some(dir) => s2h_vlm::load_config_any(dir)?,
        None => config.model.clone().with_vocab(&tokenizer),
    };
    Ok((tokenizer, model))
}

/// Write the model of run `run` at update `step` (a kept checkpoint) as a model directory in
/// `out` (what `s2h_vlm::load_model` reads), so any checkpoint can be evaluated like a final
/// model. Only that checkpoint is read and checked, and nothing in the run is touched (it may
/// still be training). An error names the steps there are when `step` has no checkpoint.
pub fn export_model<B: AutodiffBackend>(
    run: &Path,
    step: u64,
    out: &Path,
    device: &B::Device,
) -> Result<()> {
    let dir = checkpoints_dir(run).join(step_name(step));
    if !dir.join(STATE_FILE).is_file() {
        let mut steps: Vec<u64> = listed(run)?.into_iter().map(|(s, _)| s).collect();
        steps.sort_unstable();
        let have: Vec<String> = steps.iter().map(u64::to_string).collect();
        return Err(TrainError::Checkpoint {
            path: checkpoints_dir(run),
            message: format!(
                "no checkpoint of update {step} (there are: {}); keep it with the run's \
                 `keep_steps`",
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            ),
        });
    }
    verify(&dir).map_err(|why| TrainError::Checkpoint {
        path: dir.clone(),
        message: format!("damaged: {why}"),
    })?;
    let (tokenizer, config) = run_model_config(run)?;
    let model = load_model(&dir, config.init::<B>(device)?, device)?;
    s2h_vlm::save_model(out, &config, &tokenizer, &model.valid())?;
    Ok(())
}

/// The optimizer state of checkpoint `dir` in `optim`.
pub fn load_optimizer<B: AutodiffBackend>(
    dir: &Path,
    optim: Optim<B>,
    device: &B::Device,
) -> Result<Optim<B>> {
    let record = Recorder::<B>::load(&Rec::new(), dir.join(OPTIMIZER_RECORD), device)
        .map_err(|e| ckpt_err(dir, e))?;
    Ok(optim.load_record(record))
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("{e}; delete this checkpoint directory to fall back to an older one"),
    }
}

pub use s2h_mixture::files::write_synced;

/// Write a run file under a temporary name, flushed to disk, and rename it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(s2h_mixture::files::write_atomically_synced(path, bytes)?)
}
