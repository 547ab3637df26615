//! The run directory: its files, the policy for starting or resuming a run in it, the training
//! log (`metrics.jsonl`), the final model and the summary.
//!
//! ```text
//! RUN/train_config.json   the configuration (what must agree on resume)
//! RUN/tokenizer.json      the run's tokenizer
//! RUN/data/NN-phase/      a plan's phase data (written by s2h_mixture::write_plan)
//! RUN/metrics.jsonl       one LogLine per logged update
//! RUN/checkpoints/        see crate::checkpoint
//! RUN/model/              the final model directory (s2h_vlm::save_model)
//! RUN/summary.json        TrainSummary
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use s2h_vlm::burn::prelude::Backend;
use s2h_vlm::{Vlm, VlmConfig, VlmTokenizer, save_model};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomically;
use crate::config::TrainConfig;
use crate::{Result, TrainError};

pub const CONFIG_FILE: &str = "train_config.json";
/// The training log: one [`LogLine`] per logged update (not an evaluation's `metrics.json`).
pub const LOG_FILE: &str = "metrics.jsonl";
/// The run's tokenizer, named as in a model directory.
pub use s2h_vlm::store::TOKENIZER_FILE;
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

/// One line of the training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
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

fn to_json<T: Serialize>(value: &T, pretty: bool) -> Result<String> {
    let json = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    json.map_err(|e| TrainError::Config(e.to_string()))
}

/// Create the run directory (or check the one being resumed). Returns whether a run is being
/// resumed.
pub(crate) fn open(config: &TrainConfig) -> Result<bool> {
    let run = &config.out;
    let config_path = run.join(CONFIG_FILE);
    if config_path.is_file() {
        if !config.resume {
            return Err(TrainError::RunExists(run.clone()));
        }
        let text = fs::read_to_string(&config_path).map_err(|e| TrainError::io(&config_path, e))?;
        let stored: TrainConfig = serde_json::from_str(&text).map_err(|e| TrainError::Resume {
            path: config_path.clone(),
            message: format!("unreadable configuration: {e}"),
        })?;
        if stored != config.run_identity() {
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
        let tmp_tokenizer = format!("{TOKENIZER_FILE}.tmp");
        for entry in fs::read_dir(run).map_err(|e| TrainError::io(run, e))? {
            let entry = entry.map_err(|e| TrainError::io(run, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let leftover = [TOKENIZER_FILE, DATA_DIR, &tmp_tokenizer].contains(&name.as_str());
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

/// Record the run's configuration: written once everything checked out, so a start that fails
/// leaves no run to resume.
pub(crate) fn write_config(config: &TrainConfig) -> Result<()> {
    let json = to_json(&config.run_identity(), true)?;
    write_atomically(&config.out.join(CONFIG_FILE), json.as_bytes())
}

/// The training log, opened for appending.
pub(crate) struct Log {
    path: PathBuf,
    file: fs::File,
}

impl Log {
    /// Open `RUN/metrics.jsonl`, keeping only the lines of updates up to `step` (those of the
    /// checkpoint being resumed), so a resumed run neither repeats nor loses a line.
    pub(crate) fn open(run: &Path, step: u64) -> Result<Self> {
        let path = run.join(LOG_FILE);
        if path.is_file() {
            let text = fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
            let kept: String = text
                .lines()
                .filter(|line| serde_json::from_str::<LogLine>(line).is_ok_and(|m| m.step <= step))
                .map(|line| format!("{line}\n"))
                .collect();
            if kept.len() != text.len() {
                write_atomically(&path, kept.as_bytes())?;
            }
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        Ok(Log { path, file })
    }

    /// Append one line and flush it.
    pub(crate) fn append(&mut self, line: &LogLine) -> Result<()> {
        let mut json = to_json(line, false)?;
        json.push('\n');
        self.file
            .write_all(json.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| TrainError::io(&self.path, e))
    }
}

/// (step, loss) of every line of a training log.
pub fn read_loss_curve(path: &Path) -> Result<Vec<(u64, f32)>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<LogLine>(line).ok())
        .map(|m| (m.step, m.loss))
        .collect())
}

/// Write the final model into `RUN/model/` (through `model.tmp/`, renamed into place).
pub(crate) fn save_final_model<B: Backend>(
    run: &Path,
    config: &VlmConfig,
    tokenizer: &VlmTokenizer,
    model: &Vlm<B>,
) -> Result<PathBuf> {
    let dir = run.join(MODEL_DIR);
    let tmp = run.join(format!("{MODEL_DIR}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    save_model(&tmp, config, tokenizer, model)?;
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
    Ok(dir)
}

pub(crate) fn write_summary(run: &Path, summary: &TrainSummary) -> Result<()> {
    write_atomically(&run.join(SUMMARY_FILE), to_json(summary, true)?.as_bytes())
}
