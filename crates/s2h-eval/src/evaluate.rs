//! Evaluating a model on an eval set: decode every record's prompt greedily
//! ([`crate::decode`]), score the outputs with the same code as the `score` example
//! ([`crate::score`]), and add the generation length and, in "Convert" mode, the conversion
//! accuracy.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use s2h_mixture::Record;
use s2h_tasks::{Split, TaskKind};
use s2h_vlm::{Processor, Vlm, burn};
use serde::Serialize;

use crate::convert::{self, ConversionMetrics, ConversionScore};
use crate::decode::{self, DecodeOptions, Prompt, StopReason};
use crate::metrics::names;
use crate::report::write_atomically;
use crate::{EvalError, ExampleResult, Metrics, Prediction, Result};

/// The file of per-example outputs and verdicts in an evaluation's output directory.
pub const PREDICTIONS_FILE: &str = "predictions.jsonl";
/// The metrics file in an evaluation's output directory.
pub const METRICS_FILE: &str = "metrics.json";

/// How to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvalOptions {
    pub decode: DecodeOptions,
    /// Pre-fill the assistant turn with the first word of the conversion prompt
    /// ([`convert::prefill_word`]) and score the conversion too.
    pub convert: bool,
    /// The task the model was trained on, when known: records of another task are an error.
    pub task: Option<TaskKind>,
}

/// One line of `predictions.jsonl`: the scored output ([`ExampleResult`]: id, output, parsed
/// answer or parse error, verdict) plus what decoding did. It is also a valid predictions file
/// for the `score` example (it has `id` and `output`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionRecord {
    #[serde(flatten)]
    pub result: ExampleResult,
    /// Tokens generated, `</s>` included when the model wrote it (pre-filled words excluded).
    pub generated_tokens: usize,
    pub stop: StopReason,
    /// "Convert" mode: how well the output wrote the image as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion: Option<ConversionScore>,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// One per record, in eval-set order.
    pub predictions: Vec<PredictionRecord>,
    /// Every SPEC §13 metric per task and split, plus `mean_generated_tokens` (and the
    /// conversion metrics in "Convert" mode) in each group.
    pub metrics: Metrics,
    /// "Convert" mode: conversion accuracy over all records.
    pub conversion: Option<ConversionMetrics>,
}

impl EvalReport {
    /// Write `DIR/predictions.jsonl` and `DIR/metrics.json`, each atomically (an interrupted run
    /// leaves either the old file or the new one, never half of one). Returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        let predictions = dir.join(PREDICTIONS_FILE);
        let metrics = dir.join(METRICS_FILE);
        let mut bytes = Vec::new();
        for p in &self.predictions {
            let line = serde_json::to_string(p).map_err(|error| EvalError::Serialise {
                what: "a prediction",
                error,
            })?;
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        write_atomically(&predictions, &bytes)?;
        crate::write_metrics(&metrics, &self.metrics)?;
        Ok((predictions, metrics))
    }
}

/// The single task of an eval set. Errors: no records, records of several tasks, or a task
/// other than `expected`.
pub fn check_task(records: &[Record], expected: Option<TaskKind>) -> Result<TaskKind> {
    let first = records.first().ok_or(EvalError::EmptyEvalSet)?.task;
    let mut tasks: Vec<TaskKind> = records.iter().map(|r| r.task).collect();
    tasks.sort_unstable();
    tasks.dedup();
    if tasks.len() > 1 {
        let tasks = tasks
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(EvalError::MixedTasks { tasks });
    }
    match expected {
        Some(expected) if expected != first => Err(EvalError::TaskMismatch {
            expected,
            found: first,
        }),
        _ => Ok(first),
    }
}

/// The decoding prompt of a record: its prompt in the chat template, plus the pre-filled first
/// word of the conversion prompt when `convert` is set. The image is read from `data_dir`.
pub fn record_prompt(
    processor: &Processor,
    record: &Record,
    data_dir: &Path,
    convert: bool,
) -> Result<Prompt> {
    let rec_err = |e: s2h_vlm::VlmError| EvalError::Model(format!("record `{}`: {e}", record.id));
    let image = match &record.image {
        Some(rel) => Some(processor.load_image(&data_dir.join(rel)).map_err(rec_err)?),
        None => None,
    };
    let mut input_ids = processor
        .prompt_ids(&record.prompt, image.is_some())
        .map_err(rec_err)?;
    if convert {
        // Tokenized on its own, as the training records' convert-prompt segment is, so these are
        // the first tokens the model saw there.
        input_ids.extend(
            processor
                .tokenizer
                .encode(convert::prefill_word())
                .map_err(rec_err)?,
        );
    }
    Ok(Prompt {
        id: record.id.clone(),
        input_ids,
        image,
    })
}

/// Evaluate `model` on `records` (images under `data_dir`).
pub fn evaluate_model<B: Backend>(
    model: &Vlm<B>,
    processor: &Processor,
    records: &[Record],
    data_dir: &Path,
    options: &EvalOptions,
) -> Result<EvalReport> {
    evaluate_model_with_progress(model, processor, records, data_dir, options, &mut |_| {})
}

/// [`evaluate_model`], calling `progress(n)` as each batch of `n` records is decoded.
pub fn evaluate_model_with_progress<B: Backend>(
    model: &Vlm<B>,
    processor: &Processor,
    records: &[Record],
    data_dir: &Path,
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<EvalReport> {
    check_task(records, options.task)?;
    let prompts = records
        .iter()
        .map(|r| record_prompt(processor, r, data_dir, options.convert))
        .collect::<Result<Vec<_>>>()?;
    let generations =
        decode::greedy_with_progress(model, processor, &prompts, &options.decode, progress)?;
    let prefix = if options.convert {
        convert::prefill_word()
    } else {
        ""
    };
    // The output is the whole assistant turn, pre-filled word included, so the parsers see what
    // the model was trained to write.
    let outputs: Vec<Prediction> = generations
        .iter()
        .map(|g| Prediction::new(g.id.clone(), format!("{prefix}{}", g.text)))
        .collect();
    let scored = crate::score(records, &outputs)?;
    let predictions: Vec<PredictionRecord> = scored
        .results
        .into_iter()
        .zip(&generations)
        .zip(records)
        .map(|((result, g), record)| PredictionRecord {
            conversion: options
                .convert
                .then(|| convert::score_conversion(&result.output, &convert::gold_text(record))),
            result,
            generated_tokens: g.generated_tokens(),
            stop: g.stop,
        })
        .collect();
    let mut metrics = scored.metrics;
    add_generation_metrics(&mut metrics, &predictions);
    let conversion = options.convert.then(|| {
        let scores: Vec<ConversionScore> = predictions
            .iter()
            .filter_map(|p| p.conversion.clone())
            .collect();
        convert::aggregate_conversion(&scores)
    });
    Ok(EvalReport {
        predictions,
        metrics,
        conversion,
    })
}

/// Add the generation length (and conversion accuracy) to each task/split group.
fn add_generation_metrics(metrics: &mut Metrics, predictions: &[PredictionRecord]) {
    for group in &mut metrics.groups {
        let members: Vec<&PredictionRecord> = predictions
            .iter()
            .filter(|p| {
                p.result.task == group.task && group.split.is_none_or(|s| s == p.result.split)
            })
            .collect();
        if members.is_empty() {
            continue;
        }
        let n = members.len() as f64;
        let tokens: usize = members.iter().map(|p| p.generated_tokens).sum();
        group
            .metrics
            .insert(names::MEAN_GENERATED_TOKENS.into(), tokens as f64 / n);
        let scores: Vec<ConversionScore> = members
            .iter()
            .filter_map(|p| p.conversion.clone())
            .collect();
        if !scores.is_empty() {
            let c = convert::aggregate_conversion(&scores);
            group
                .metrics
                .insert(names::CONVERSION_EXACT.into(), c.exact_rate);
            if let Some(cells) = c.cell_accuracy {
                group
                    .metrics
                    .insert(names::CONVERSION_CELL_ACCURACY.into(), cells);
            }
        }
    }
}

/// A model directory loaded for evaluation.
pub struct LoadedModel<B: Backend> {
    pub model: Vlm<B>,
    pub processor: Processor,
    pub config: s2h_vlm::VlmConfig,
}

/// Load a model directory (`config.json`, `tokenizer.json`, `model.safetensors`) on `device`,
/// with a clear error naming the missing or broken file.
pub fn load_model_dir<B: Backend>(dir: &Path, device: &B::Device) -> Result<LoadedModel<B>> {
    if !dir.is_dir() {
        return Err(EvalError::Model(format!(
            "model directory `{}` does not exist; pass the `model` directory a training run wrote",
            dir.display()
        )));
    }
    for file in [
        s2h_vlm::store::CONFIG_FILE,
        s2h_vlm::store::TOKENIZER_FILE,
        s2h_vlm::store::WEIGHTS_FILE,
    ] {
        if !dir.join(file).is_file() {
            return Err(EvalError::Model(format!(
                "model directory `{}` has no {file}; a model directory holds config.json, \
                 tokenizer.json and model.safetensors (written by training)",
                dir.display()
            )));
        }
    }
    let (config, tokenizer, model) =
        s2h_vlm::load_model::<B>(dir, device).map_err(|e| EvalError::Model(e.to_string()))?;
    let processor = Processor::new(tokenizer, &config);
    Ok(LoadedModel {
        model,
        processor,
        config,
    })
}

/// Read an eval set directory's records, with a clear error when it is not one.
pub fn read_eval_set(dir: &Path) -> Result<Vec<Record>> {
    let file = if dir.is_dir() {
        dir.join("records.jsonl")
    } else {
        dir.to_path_buf()
    };
    if !file.is_file() {
        return Err(EvalError::NoEvalSet {
            path: dir.to_path_buf(),
        });
    }
    Ok(s2h_mixture::read_records(&file)?)
}

/// Load the model in `model_dir`, evaluate it on the eval set in `eval_dir` (at most `limit`
/// records when given) on `device`.
pub fn evaluate_dirs<B: Backend>(
    model_dir: &Path,
    eval_dir: &Path,
    limit: Option<usize>,
    options: &EvalOptions,
    device: &B::Device,
) -> Result<EvalReport> {
    let mut records = read_eval_set(eval_dir)?;
    if let Some(limit) = limit {
        records.truncate(limit);
    }
    check_task(&records, options.task)?;
    let loaded = load_model_dir::<B>(model_dir, device)?;
    let data_dir = if eval_dir.is_dir() {
        eval_dir
    } else {
        eval_dir.parent().unwrap_or(Path::new("."))
    };
    evaluate_model(
        &loaded.model,
        &loaded.processor,
        &records,
        data_dir,
        options,
    )
}

/// Accuracy (the task's main metric, pooled over splits) of a metrics set: the number a
/// with/without "Convert" comparison reads.
pub fn main_accuracy(metrics: &Metrics, task: TaskKind) -> Option<f64> {
    let name = match task {
        TaskKind::Ctr | TaskKind::Tr => names::EXACT_MATCH_MAX,
        TaskKind::Grid => names::VALID_PATH_ACCURACY,
        TaskKind::Va => names::EXACT_MATCH,
    };
    metrics.group(task, None::<Split>)?.metric(name)
}
