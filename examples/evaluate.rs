//! Evaluate a trained model on an eval set (SPEC §13): batched greedy decoding with the KV
//! cache, then the same scoring as the `score` example.
//!
//! cargo run --release --example evaluate -- --model runs/ctr/model --eval data/ctr-hard \
//!     --out results/ctr-hard [--convert] [--max-new-tokens 1024] [--batch 8] [--limit 100] \
//!     [--backend flex] [--task ctr] [--overwrite]
//! cargo run --release --example evaluate -- --model runs/ctr --step 500 --eval … --out …
//!
//! Writes RES/metrics.json and RES/metrics.per_example.jsonl (per example: id, output, parsed
//! answer or parse error, verdict, generated tokens), as `score` does; with --convert also
//! RES/convert/ (the same files for "Convert"-prompted decoding, with the conversion accuracy)
//! and RES/convert.json (accuracy with and without the pre-fill). See docs/evaluation.md.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::Parser;
use indicatif::{MultiProgress, ProgressBar};
use s2h::cli::progress_bar;
use s2h_eval::{EvalOptions, METRICS_FILE, main_accuracy, per_example_path, render_table};
use s2h_tasks::TaskKind;
use s2h_vlm::{BackendKind, GenerateOptions};

#[derive(Parser, Debug, Clone)]
#[command(about = "Evaluate a trained s2h model on an eval set")]
struct Args {
    /// Model directory (config.json, tokenizer.json, model.safetensors), e.g. RUN/model; with
    /// --step, a run directory.
    #[arg(long)]
    model: PathBuf,
    /// Evaluate the run's kept checkpoint of this update (written as a model directory to
    /// OUT/model first).
    #[arg(long)]
    step: Option<u64>,
    /// Eval set directory written by `generate eval-set` (it holds records.jsonl).
    #[arg(long)]
    eval: PathBuf,
    /// Output directory for metrics.json and metrics.per_example.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Also decode with the assistant turn pre-filled with the first word of the conversion
    /// prompt (to the end of its token), and report accuracy with and without it plus the conversion accuracy.
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
    s2h::cli::keep_freed_memory();
    s2h::cli::restore_sigpipe();
    s2h::cli::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let backend: BackendKind = args.backend.parse()?;
    let task = match &args.task {
        Some(t) => Some(t.parse::<TaskKind>().map_err(|e| anyhow!("--task: {e}"))?),
        None => None,
    };
    let convert_dir = args.out.join("convert");
    let existing: Vec<PathBuf> = [
        args.out.join(METRICS_FILE),
        per_example_path(&args.out.join(METRICS_FILE)),
        args.out.join("convert.json"),
        convert_dir.join(METRICS_FILE),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect();
    if !existing.is_empty() && !args.overwrite {
        bail!(s2h_eval::EvalError::OutputExists {
            path: args.out.clone()
        });
    }
    if args.out.is_file() {
        bail!(
            "--out `{}` is a file; pass a directory for {METRICS_FILE} and the per-example results",
            args.out.display()
        );
    }
    let plain = EvalOptions {
        generate: GenerateOptions {
            max_new_tokens: args.max_new_tokens,
            batch: args.batch,
            use_cache: !args.no_cache,
            stop_at_end_token: true,
        },
        convert: false,
        task,
    };
    let mut passes = vec![plain];
    if args.convert {
        passes.push(EvalOptions {
            convert: true,
            ..plain
        });
    }
    let model = match args.step {
        Some(step) => {
            let dir = args.out.join("model");
            s2h_train::export_model_on(backend, &args.model, step, &dir)?;
            dir
        }
        None => args.model.clone(),
    };
    let bars = MultiProgress::new();
    let bar_of: Vec<ProgressBar> = passes
        .iter()
        .map(|p| bars.add(progress_bar(0, if p.convert { "convert" } else { "plain" })))
        .collect();
    // The eval set is read and checked before the model is loaded.
    let reports = s2h_eval::evaluate_on(
        backend,
        &model,
        &args.eval,
        args.limit,
        &passes,
        &mut |pass, n, total| {
            bar_of[pass].set_length(total as u64);
            bar_of[pass].inc(n as u64);
        },
    )?;
    for bar in &bar_of {
        bar.finish();
    }
    for report in &reports {
        let convert = report.conversion.is_some();
        let dir = if convert { &convert_dir } else { &args.out };
        let files = report.write(dir)?;
        println!(
            "{}wrote {} and {}",
            if convert { "\"Convert\" prompt: " } else { "" },
            files.metrics.display(),
            files.per_example.display()
        );
        print!("{}", render_table(&report.metrics));
    }
    if let [plain, convert] = reports.as_slice() {
        let task = plain.predictions.first().map(|p| p.result.task);
        let accuracy = |r: &s2h_eval::EvalReport| task.and_then(|t| main_accuracy(&r.metrics, t));
        let summary = serde_json::json!({
            "task": task,
            "accuracy": accuracy(plain),
            "accuracy_convert": accuracy(convert),
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
