//! Evaluate a trained model on an eval set (SPEC §13): batched greedy decoding with the KV
//! cache, then the same scoring as the `score` example.
//!
//! cargo run --release --example evaluate -- --model runs/ctr/model --eval data/ctr-hard \
//!     --out results/ctr-hard [--convert] [--max-new-tokens 1024] [--batch 8] [--limit 100] \
//!     [--backend flex] [--task ctr] [--overwrite]
//!
//! Writes RES/predictions.jsonl (per example: id, output, parsed answer or parse error,
//! verdict, generated tokens) and RES/metrics.json; with --convert also RES/convert/ (the same
//! files for "Convert"-prompted decoding, with the conversion accuracy) and RES/convert.json
//! (accuracy with and without the pre-fill). See docs/evaluation.md.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use s2h_eval::decode::DecodeOptions;
use s2h_eval::{EvalOptions, EvalReport, METRICS_FILE, PREDICTIONS_FILE, render_table};
use s2h_tasks::TaskKind;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{BackendKind, BackendTask, run_on};

#[derive(Parser, Debug, Clone)]
#[command(about = "Evaluate a trained s2h model on an eval set")]
struct Args {
    /// Model directory (config.json, tokenizer.json, model.safetensors), e.g. RUN/model.
    #[arg(long)]
    model: PathBuf,
    /// Eval set directory written by `generate eval-set` (it holds records.jsonl).
    #[arg(long)]
    eval: PathBuf,
    /// Output directory for predictions.jsonl and metrics.json.
    #[arg(long)]
    out: PathBuf,
    /// Also decode with the assistant turn pre-filled with the first word of the conversion
    /// prompt, and report accuracy with and without it plus the conversion accuracy.
    #[arg(long)]
    convert: bool,
    #[arg(long, default_value_t = 1024)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Evaluate the first N records only.
    #[arg(long)]
    limit: Option<usize>,
    /// flex (CPU, default), ndarray, wgpu or cuda (the latter need `--features`).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// The task the model was trained on: an eval set of another task is refused.
    #[arg(long)]
    task: Option<String>,
    /// Recompute the whole sequence at each step instead of using the KV cache (slow).
    #[arg(long)]
    no_cache: bool,
    /// Replace results already in --out.
    #[arg(long)]
    overwrite: bool,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let backend: BackendKind = args.backend.parse()?;
    let task = match &args.task {
        Some(t) => Some(t.parse::<TaskKind>().map_err(|e| anyhow!("--task: {e}"))?),
        None => None,
    };
    // Check everything a user can get wrong before loading the model.
    let mut records = s2h_eval::read_eval_set(&args.eval)?;
    if let Some(limit) = args.limit {
        records.truncate(limit);
    }
    s2h_eval::check_task(&records, task)?;
    let existing: Vec<PathBuf> = [
        PREDICTIONS_FILE,
        METRICS_FILE,
        "convert.json",
        "convert/metrics.json",
    ]
    .iter()
    .map(|f| args.out.join(f))
    .filter(|p| p.exists())
    .collect();
    if !existing.is_empty() && !args.overwrite {
        bail!(s2h_eval::EvalError::OutputExists {
            path: args.out.clone()
        });
    }
    if args.out.is_file() {
        bail!(
            "--out `{}` is a file; pass a directory for predictions.jsonl and metrics.json",
            args.out.display()
        );
    }
    run_on(
        backend,
        Evaluate {
            args,
            records,
            task,
        },
    )?
}

struct Evaluate {
    args: Args,
    records: Vec<s2h_mixture::Record>,
    task: Option<TaskKind>,
}

impl BackendTask for Evaluate {
    type Output = Result<()>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let Evaluate {
            args,
            records,
            task,
        } = self;
        // Inference needs no gradients: the inner backend skips the autodiff graph.
        let loaded = s2h_eval::load_model_dir::<B::InnerBackend>(&args.model, &device)?;
        let data_dir = if args.eval.is_dir() {
            args.eval.clone()
        } else {
            args.eval
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        };
        let task_kind = s2h_eval::check_task(&records, task)?;
        let mut options = EvalOptions {
            decode: DecodeOptions {
                max_new_tokens: args.max_new_tokens,
                batch: args.batch,
                use_cache: !args.no_cache,
                stop_at_end_token: true,
            },
            convert: false,
            task,
        };
        let passes: &[bool] = if args.convert {
            &[false, true]
        } else {
            &[false]
        };
        let mut reports: Vec<EvalReport> = Vec::new();
        for &convert in passes {
            options.convert = convert;
            let bar = ProgressBar::new(records.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} examples ({eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(if convert { "convert" } else { "plain" });
            let report = s2h_eval::evaluate_model_with_progress(
                &loaded.model,
                &loaded.processor,
                &records,
                &data_dir,
                &options,
                &mut |n| bar.inc(n as u64),
            )?;
            bar.finish();
            let dir = if convert {
                args.out.join("convert")
            } else {
                args.out.clone()
            };
            let (preds, metrics) = report.write(&dir)?;
            println!(
                "{}wrote {} and {}",
                if convert { "\"Convert\" prompt: " } else { "" },
                preds.display(),
                metrics.display()
            );
            print!("{}", render_table(&report.metrics));
            reports.push(report);
        }
        if let [plain, convert] = reports.as_slice() {
            let summary = serde_json::json!({
                "task": task_kind,
                "accuracy": s2h_eval::main_accuracy(&plain.metrics, task_kind),
                "accuracy_convert": s2h_eval::main_accuracy(&convert.metrics, task_kind),
                "conversion": convert.conversion,
            });
            s2h_mixture::files::write_atomically(
                &args.out.join("convert.json"),
                (serde_json::to_string_pretty(&summary)? + "\n").as_bytes(),
            )?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Ok(())
    }
}
