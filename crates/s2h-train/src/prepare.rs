//! Everything checked and made before the first update: the phases (a plan's data written
//! first), every record read and tokenized, the tokenizer and the model configuration. A start
//! that fails here leaves no run behind.

use std::fs;
use std::path::Path;

use s2h_mixture::{
    Component, EvalCheck, Existing, RECORDS_FILE, Record, SegmentKind, WriteOptions,
    check_training_records, read_records,
};
use s2h_tasks::TaskKind;
use s2h_vlm::{VlmConfig, VlmTokenizer};

use crate::config::{DataSource, Duration, TrainConfig};
use crate::corpus::build_tokenizer;
use crate::data::{PhaseData, PhaseSpec, batches_per_epoch};
use crate::processor::{ALL_TARGETS, Processor};
use crate::run_dir::{DATA_DIR, TOKENIZER_FILE};
use crate::{Result, TrainError};

/// A run ready to train.
pub(crate) struct Prepared {
    pub phases: Vec<PhaseSpec>,
    /// The tasks of the training records (recorded with the final model).
    pub tasks: Vec<TaskKind>,
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
        .map(|p| read_phase(&p.data_dir))
        .collect::<Result<_>>()?;
    // Updates of each phase; known before any tokenizer is built, so a `keep_steps` beyond the
    // run fails fast.
    let steps: Vec<u64> = records
        .iter()
        .map(|r| match config.duration {
            Duration::Steps(n) => n,
            Duration::Epochs(e) => e * batches_per_epoch(r.len(), config.batch_size),
        })
        .collect();
    if let Some(keep) = &config.keep_steps {
        keep.check_total(steps.iter().sum())?;
    }
    let (tokenizer, model_config) = match &config.init_from {
        Some(dir) => {
            let model_config = s2h_vlm::load_config_any(dir)?;
            let tokenizer = VlmTokenizer::from_file(&dir.join(s2h_vlm::store::TOKENIZER_FILE))?;
            if tokenizer.vocab_size() > model_config.decoder.vocab_size {
                return Err(TrainError::Config(format!(
                    "init_from {}: the tokenizer has {} tokens but the model's vocabulary holds {}",
                    dir.display(),
                    tokenizer.vocab_size(),
                    model_config.decoder.vocab_size
                )));
            }
            if model_config.vision.is_some()
                && tokenizer.image_id() as usize != model_config.image_token_id
            {
                return Err(TrainError::Config(format!(
                    "init_from {}: the tokenizer's image token is id {} but the model places \
                     image features at id {}",
                    dir.display(),
                    tokenizer.image_id(),
                    model_config.image_token_id
                )));
            }
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
    check_supply(config, &phases, &records, &data)?;
    let mut tasks: Vec<TaskKind> = records.iter().flatten().map(|r| r.task).collect();
    tasks.sort_unstable();
    tasks.dedup();
    Ok(Prepared {
        phases,
        tasks,
        data,
        steps,
        model_config,
        processor,
    })
}

/// The records of a phase, checked: at least one, none an evaluation instance, every image on
/// disk (so a missing PNG stops the run before its first update, not at a later phase).
fn read_phase(dir: &Path) -> Result<Vec<Record>> {
    let records = read_records(dir)?;
    if records.is_empty() {
        return Err(TrainError::Data {
            path: dir.to_path_buf(),
            message: format!("{RECORDS_FILE} holds no record"),
        });
    }
    check_training_records(&records).map_err(|e| TrainError::EvalData {
        path: dir.to_path_buf(),
        message: format!(
            "{e}; train on data written by `generate` with a training seed (below 2^63), \
             never on an evaluation set"
        ),
    })?;
    if let Some((r, path)) = records
        .iter()
        .filter_map(|r| r.image.as_ref().map(|p| (r, dir.join(p))))
        .find(|(_, path)| !path.is_file())
    {
        return Err(TrainError::Data {
            path: dir.to_path_buf(),
            message: format!(
                "the image of record `{}`, {}, is missing",
                r.id,
                path.display()
            ),
        });
    }
    Ok(records)
}

/// Refuse a run whose data cannot supply what it asks for: a phase with no target token at all
/// (e.g. `converted_text` on text records), a target kind chosen explicitly that no record
/// has, or a component chosen explicitly for a phase that cannot train it (the vision tower and
/// projector get no gradient from text records).
fn check_supply(
    config: &TrainConfig,
    phases: &[PhaseSpec],
    records: &[Vec<Record>],
    data: &[PhaseData],
) -> Result<()> {
    let refuse = |path: &Path, message: String| {
        Err(TrainError::Data {
            path: path.to_path_buf(),
            message,
        })
    };
    let names = |kinds: &[SegmentKind]| {
        kinds
            .iter()
            .map(|k| kind_name(*k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (p, phase) in phases.iter().enumerate() {
        if data[p].records.iter().all(|r| r.n_targets() == 0) {
            return refuse(
                &phase.data_dir,
                format!(
                    "no record of phase `{}` has a token of the target segments [{}]; its \
                     records' segments are [{}]",
                    phase.label,
                    names(&config.targets),
                    names(&present_kinds(&records[p]))
                ),
            );
        }
    }
    if config.targets != ALL_TARGETS {
        let present: Vec<SegmentKind> = present_kinds(records.iter().flatten());
        if let Some(k) = config.targets.iter().find(|k| !present.contains(k)) {
            return refuse(
                &phases[0].data_dir,
                format!(
                    "target segment {} is in no training record (they have [{}]); choose \
                     targets the data has",
                    kind_name(*k),
                    names(&present)
                ),
            );
        }
    }
    for (p, phase) in phases.iter().enumerate() {
        let explicit = match &config.data {
            DataSource::Records { .. } => config.trainable.is_some(),
            DataSource::Plan { plan } => plan.phases[p].train.is_some(),
        };
        let has_images = records[p].iter().any(|r| r.image.is_some());
        if explicit
            && !has_images
            && let Some(c) = phase
                .trainable
                .iter()
                .find(|c| matches!(c, Component::Vision | Component::Projector))
        {
            return refuse(
                &phase.data_dir,
                format!(
                    "phase `{}` is to train the {} component, but its records have no \
                         image, so it would get no gradient; train `lm` on text data",
                    phase.label,
                    if *c == Component::Vision {
                        "vision"
                    } else {
                        "projector"
                    }
                ),
            );
        }
    }
    Ok(())
}

/// A segment kind as files and options write it (`converted_text`).
fn kind_name(kind: SegmentKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// The segment kinds that occur in `records`, in `ALL_TARGETS` order.
fn present_kinds<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<SegmentKind> {
    let mut present = [false; ALL_TARGETS.len()];
    for segment in records.into_iter().flat_map(|r| &r.segments) {
        if let Some(i) = ALL_TARGETS.iter().position(|k| *k == segment.kind) {
            present[i] = true;
        }
    }
    ALL_TARGETS
        .into_iter()
        .zip(present)
        .filter_map(|(k, p)| p.then_some(k))
        .collect()
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
                continues: false,
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
                .enumerate()
                .map(|(i, (phase, (dir, _)))| PhaseSpec {
                    label: phase.label(),
                    data_dir: dir,
                    // A continuing phase without `lr` trains at the rate of the one it continues.
                    lr: plan.phase_lr(i).unwrap_or(config.lr),
                    trainable: phase.trainable(),
                    continues: i > 0 && phase.continues,
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
