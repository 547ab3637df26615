//! Evaluating a model on an eval set: generate every record's output greedily
//! ([`s2h_vlm::generate`]), score the outputs with the same code as the `score` example
//! ([`crate::score`]), and add the generation length and, in "Convert" mode, the conversion
//! accuracy.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use s2h_mixture::Record;
use s2h_tasks::TaskKind;
use s2h_train::{Processor, TrainingRecord};
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::generate::{self, GenerateOptions, StopReason};
use s2h_vlm::{BackendKind, BackendTask, Vlm, burn, run_on};
use serde::Serialize;

use crate::convert::{self, ConversionMetrics, ConversionScore};
use crate::metrics::names;
use crate::report::{METRICS_FILE, per_example_path, write_lines, write_metrics};
use crate::{EvalError, ExampleResult, Metrics, Prediction, Result, check_task, read_eval_set};

/// How to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvalOptions {
    pub generate: GenerateOptions,
    /// Pre-fill the assistant turn with the first word of the conversion prompt, to the end of
    /// its token ([`convert::prefill`]), and score the conversion too.
    pub convert: bool,
    /// The task the model was trained on, when known: records of another task are an error.
    pub task: Option<TaskKind>,
}

/// One line of an evaluation's per-example results (`metrics.per_example.jsonl`, as `score`
/// writes): the scored output ([`ExampleResult`]: id, output, parsed answer or parse error,
/// verdict) plus what generation did. [`crate::read_example_results`] reads it back, and it is a
/// valid predictions file for `score` (it has `id` and `output`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionRecord {
    #[serde(flatten)]
    pub result: ExampleResult,
    /// Tokens generated, `</s>` included when the model wrote it (pre-filled text excluded).
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
    /// Write `DIR/metrics.json` and `DIR/metrics.per_example.jsonl`, as `score` does, each
    /// atomically (an interrupted run leaves either the old file or the new one, never half of
    /// one).
    pub fn write(&self, dir: &Path) -> Result<crate::ScoredFiles> {
        let metrics = dir.join(METRICS_FILE);
        let per_example = per_example_path(&metrics);
        write_metrics(&metrics, &self.metrics)?;
        write_lines(&per_example, &self.predictions, "a per-example result")?;
        Ok(crate::ScoredFiles {
            metrics,
            per_example,
        })
    }
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
    let prefix = if options.convert {
        let tokens = processor
            .tokenizer
            .encode_with_offsets(s2h_cot::CONVERT_LINE)?;
        convert::prefill(tokens.into_iter().map(|(_, span)| span.end))
    } else {
        ""
    };
    let prompts = records
        .iter()
        .map(|r| processor.prompt(r, data_dir, prefix))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let generations = generate::greedy_with_progress(
        model,
        &processor.tokenizer,
        &prompts,
        &options.generate,
        progress,
    )?;
    // The output is the whole assistant turn, pre-filled text included, so the parsers see what
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
    let (config, tokenizer, model) = s2h_vlm::load_model::<B>(dir, device)?;
    let processor = Processor::new(tokenizer, &config);
    Ok(LoadedModel {
        model,
        processor,
        config,
    })
}

/// The records of an eval set (a directory or its `records.jsonl`; at most `limit` when given),
/// checked to be one task's — `expected` when given, else one the model in `model_dir` was
/// trained on when its directory says (`training.json`) — and the directory their images live
/// in.
fn open_eval_set(
    model_dir: &Path,
    eval: &Path,
    limit: Option<usize>,
    expected: Option<TaskKind>,
) -> Result<(Vec<Record>, PathBuf)> {
    let mut records = read_eval_set(eval)?;
    if let Some(limit) = limit {
        records.truncate(limit);
    }
    let task = check_task(&records, expected)?;
    if expected.is_none()
        && let Some(training) = TrainingRecord::read(model_dir)?
        && !training.tasks.contains(&task)
    {
        let tasks: Vec<String> = training.tasks.iter().map(|t| t.to_string()).collect();
        return Err(EvalError::NotTrainedOn {
            found: task,
            tasks: tasks.join(", "),
        });
    }
    let data_dir = if eval.is_dir() {
        eval.to_path_buf()
    } else {
        eval.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    Ok((records, data_dir))
}

/// Load the model in `model_dir`, evaluate it on the eval set `eval` (a directory or its
/// `records.jsonl`; at most `limit` records when given) on `device`.
pub fn evaluate_dirs<B: Backend>(
    model_dir: &Path,
    eval: &Path,
    limit: Option<usize>,
    options: &EvalOptions,
    device: &B::Device,
) -> Result<EvalReport> {
    let (records, data_dir) = open_eval_set(model_dir, eval, limit, options.task)?;
    let loaded = load_model_dir::<B>(model_dir, device)?;
    evaluate_model(
        &loaded.model,
        &loaded.processor,
        &records,
        &data_dir,
        options,
    )
}

/// [`evaluate_dirs`] on the backend named at run time (inference runs without the autodiff
/// graph), once per entry of `passes` with the model loaded once (e.g. plain, then "Convert");
/// `progress(pass, n, total)` is called as `n` more of the `total` records of pass `pass` are
/// decoded. The eval set is read and checked before the model is loaded.
pub fn evaluate_on(
    backend: BackendKind,
    model_dir: &Path,
    eval: &Path,
    limit: Option<usize>,
    passes: &[EvalOptions],
    progress: &mut dyn FnMut(usize, usize, usize),
) -> Result<Vec<EvalReport>> {
    let expected = passes.first().and_then(|p| p.task);
    let (records, data_dir) = open_eval_set(model_dir, eval, limit, expected)?;
    let task = EvaluateTask {
        model_dir,
        records: &records,
        data_dir: &data_dir,
        passes,
        progress,
    };
    run_on(backend, task)?
}

struct EvaluateTask<'a> {
    model_dir: &'a Path,
    records: &'a [Record],
    data_dir: &'a Path,
    passes: &'a [EvalOptions],
    progress: &'a mut dyn FnMut(usize, usize, usize),
}

impl BackendTask for EvaluateTask<'_> {
    type Output = Result<Vec<EvalReport>>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let loaded = load_model_dir::<B::InnerBackend>(self.model_dir, &device)?;
        let (progress, total) = (self.progress, self.records.len());
        self.passes
            .iter()
            .enumerate()
            .map(|(pass, options)| {
                evaluate_model_with_progress(
                    &loaded.model,
                    &loaded.processor,
                    self.records,
                    self.data_dir,
                    options,
                    &mut |n| progress(pass, n, total),
                )
            })
            .collect()
    }
}
