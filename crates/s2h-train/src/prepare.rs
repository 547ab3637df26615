//! Everything checked and made before the first update: the phases (a plan's data written
//! first), every record read and tokenized, the tokenizer and the model configuration. A start
//! that fails here leaves no run behind.

use std::fs;
use std::path::Path;

use s2h_mixture::{
    Component, EvalCheck, Existing, RECORDS_FILE, Record, WriteOptions, read_records,
};
use s2h_vlm::{VlmConfig, VlmTokenizer};

use crate::config::{DataSource, Duration, TrainConfig};
use crate::corpus::build_tokenizer;
use crate::data::{PhaseData, PhaseSpec, batches_per_epoch};
use crate::processor::Processor;
use crate::run_dir::{DATA_DIR, TOKENIZER_FILE};
use crate::{Result, TrainError};

/// A run ready to train.
pub(crate) struct Prepared {
    pub phases: Vec<PhaseSpec>,
    pub data: Vec<PhaseData>,
    /// Updates of each phase.
    pub steps: Vec<u64>,
    pub model_config: VlmConfig,
    pub processor: Processor,
}

pub(crate) fn prepare(config: &TrainConfig, run: &Path) -> Result<Prepared> {
    let phases = resolve_phases(config, run)?;
    let records: Vec<Vec<Record>> = phases
        .iter()
        .map(|p| {
            let records = read_records(&p.data_dir)?;
            if records.is_empty() {
                return Err(TrainError::Data {
                    path: p.data_dir.clone(),
                    message: format!("{RECORDS_FILE} holds no record"),
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
        .map(|r| PhaseData::encode(&processor, r, &config.targets))
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

/// The phases of the run; a plan's data is written into `RUN/data/` first (resumably: a phase
/// written completely before is kept).
fn resolve_phases(config: &TrainConfig, run: &Path) -> Result<Vec<PhaseSpec>> {
    match &config.data {
        DataSource::Records { dir } => {
            if !dir.join(RECORDS_FILE).is_file() {
                return Err(TrainError::Data {
                    path: dir.clone(),
                    message: format!(
                        "no {RECORDS_FILE} here; write one with `cargo run --release --example \
                         generate`"
                    ),
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
            let check = EvalCheck {
                default_sets: config.check_eval_overlap,
                dirs: Vec::new(),
            };
            let options = WriteOptions {
                existing: Existing::Keep,
                ..WriteOptions::default()
            };
            let written =
                s2h_mixture::write_plan(plan, &run.join(DATA_DIR), &check, &options, &|| {})?;
            Ok(plan
                .phases
                .iter()
                .zip(written)
                .map(|(phase, (dir, _))| PhaseSpec {
                    label: phase.label(),
                    data_dir: dir,
                    lr: phase.lr.unwrap_or(config.lr),
                    trainable: phase.trainable(),
                })
                .collect())
        }
    }
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
    let texts: Vec<String> = records
        .iter()
        .flatten()
        .flat_map(|r| [r.prompt.clone(), r.target.clone()])
        .collect();
    let tokenizer = build_tokenizer(
        config.tokenizer,
        &config.task_config,
        config.corpus_per_set,
        config.seed,
        &texts,
    )?;
    let tmp = run.join(format!("{TOKENIZER_FILE}.tmp"));
    tokenizer.save(&tmp)?;
    fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))?;
    Ok(tokenizer)
}
