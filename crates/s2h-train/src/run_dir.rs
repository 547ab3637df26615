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

use s2h_mixture::json_differences;
use s2h_tasks::TaskKind;
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

pub(crate) fn to_json<T: Serialize>(value: &T, pretty: bool) -> Result<String> {
    let json = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    json.map_err(|e| TrainError::Config(e.to_string()))
}

/// The lock file: held (an OS advisory lock) by the process training in the directory.
pub const LOCK_FILE: &str = ".lock";

/// A run directory opened for training: locked against a second process until dropped.
pub(crate) struct RunDir {
    /// Whether a started run (one with a complete checkpoint) is being resumed.
    pub resuming: bool,
    _lock: fs::File,
}

/// What a start that never reached its first checkpoint may have left; removed before a fresh
/// start so that none of it leaks into the new run.
const LEFTOVERS: [&str; 8] = [
    CONFIG_FILE,
    TOKENIZER_FILE,
    DATA_DIR,
    LOG_FILE,
    SUMMARY_FILE,
    crate::checkpoint::CHECKPOINTS_DIR,
    "tokenizer.json.tmp",
    "model.tmp",
];

/// Open the run directory `config.out` for training: create it, lock it (a second process is
/// refused while this one trains), and decide between a fresh start and resuming. A run has
/// started once it has a complete checkpoint; resuming one needs `resume` and the same options
/// (named when they differ). A directory whose start failed before its first checkpoint is
/// cleaned and started afresh, `resume` or not; files that are not a run's are never touched.
pub(crate) fn open(config: &TrainConfig) -> Result<RunDir> {
    let run = &config.out;
    fs::create_dir_all(run).map_err(|e| TrainError::io(run, e))?;
    let lock_path = run.join(LOCK_FILE);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| TrainError::io(&lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(TrainError::RunInUse(run.clone())),
        Err(fs::TryLockError::Error(e)) => return Err(TrainError::io(&lock_path, e)),
    }
    let started = crate::checkpoint::any(run)?;
    let config_path = run.join(CONFIG_FILE);
    if started && config_path.is_file() {
        if !config.resume {
            return Err(TrainError::RunExists(run.clone()));
        }
        let text = fs::read_to_string(&config_path).map_err(|e| TrainError::io(&config_path, e))?;
        let stored: TrainConfig = serde_json::from_str(&text).map_err(|e| TrainError::Resume {
            path: config_path.clone(),
            message: format!("unreadable configuration: {e}"),
        })?;
        let differences = differences(&stored.run_identity(), &config.run_identity())?;
        if !differences.is_empty() {
            return Err(TrainError::Resume {
                path: run.clone(),
                message: format!(
                    "the run was started with other options ({}); pass the same options as the \
                     first session (see {CONFIG_FILE})",
                    differences.join("; ")
                ),
            });
        }
        return Ok(RunDir {
            resuming: true,
            _lock: lock,
        });
    }
    for entry in fs::read_dir(run).map_err(|e| TrainError::io(run, e))? {
        let entry = entry.map_err(|e| TrainError::io(run, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name == LOCK_FILE {
            continue;
        }
        if !LEFTOVERS.contains(&name.as_str()) {
            // Someone's file (or a finished run whose checkpoints were deleted): not ours to
            // remove.
            return Err(TrainError::RunExists(run.clone()));
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| TrainError::io(&path, e))?;
    }
    Ok(RunDir {
        resuming: false,
        _lock: lock,
    })
}

/// The fields (dotted paths) where two configurations differ, with both values; the run
/// directory's own path is not compared, so a moved or copied run resumes.
fn differences(stored: &TrainConfig, now: &TrainConfig) -> Result<Vec<String>> {
    let strip = |c: &TrainConfig| -> Result<serde_json::Value> {
        let mut v = serde_json::to_value(c).map_err(|e| TrainError::Config(e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            o.remove("out");
        }
        Ok(v)
    };
    let shown = |v: &serde_json::Value| {
        let s = v.to_string();
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(57).collect::<String>())
        } else {
            s
        }
    };
    Ok(json_differences(&strip(stored)?, &strip(now)?)
        .into_iter()
        .map(|(at, run, here)| {
            format!(
                "`{at}` is {} now but {} in the run",
                shown(&here),
                shown(&run)
            )
        })
        .collect())
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

/// What a model directory written by training records of its training, beside the model files
/// (`RUN/model/training.json`): what evaluation checks an eval set against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The tasks of the training records.
    pub tasks: Vec<TaskKind>,
}

/// The training record of a model directory.
pub const TRAINING_FILE: &str = "training.json";

impl TrainingRecord {
    /// The record of the model in `dir`, if it has one (a model not made by training, e.g.
    /// converted from a checkpoint, has none).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(TRAINING_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| TrainError::Data {
                path,
                message: format!("not a training record: {e}"),
            })
    }
}

/// Write the final model into `RUN/model/` (through `model.tmp/`, renamed into place), with its
/// training record.
pub(crate) fn save_final_model<B: Backend>(
    run: &Path,
    config: &VlmConfig,
    tokenizer: &VlmTokenizer,
    model: &Vlm<B>,
    training: &TrainingRecord,
) -> Result<PathBuf> {
    let dir = run.join(MODEL_DIR);
    let tmp = run.join(format!("{MODEL_DIR}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    let saved = save_model(&tmp, config, tokenizer, model)
        .map_err(TrainError::from)
        .and_then(|()| {
            write_atomically(
                &tmp.join(TRAINING_FILE),
                to_json(training, true)?.as_bytes(),
            )
        });
    if let Err(e) = saved {
        // A full disk must not stay full of half a model.
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
    Ok(dir)
}

pub(crate) fn write_summary(run: &Path, summary: &TrainSummary) -> Result<()> {
    write_atomically(&run.join(SUMMARY_FILE), to_json(summary, true)?.as_bytes())
}
