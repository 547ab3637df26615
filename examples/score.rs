//! Score a predictions file against an eval set, without a model (SPEC §10, §13): every output
//! is parsed with its task's parser, verified, and aggregated per task and split.
//!
//! cargo run --release --example score -- --eval data/ctr-hard --predictions preds.jsonl \
//!     --out results/metrics.json
//!
//! `--predictions` may also be the `.xlsx` result file of a VLMEvalKit run on the eval set's TSV
//! (`<model>_<dataset>.xlsx`, rows matched to records by their `index`).
//!
//! Writes `results/metrics.json` and, beside it, `results/metrics.per_example.jsonl`, and prints
//! the metrics as a table. See docs/scoring.md for the file formats and every metric.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use s2h::eval::{METRICS_FILE, per_example_path, render_table, score_files};
use s2h::mixture::RECORDS_FILE;

#[derive(Parser, Debug)]
#[command(about = "Score model outputs on an s2h eval set (no model needed)")]
struct Args {
    /// Eval set: a directory written by the generate example (it holds records.jsonl), or that
    /// records.jsonl itself.
    #[arg(long)]
    eval: PathBuf,
    /// Predictions: JSONL with one {"id": ..., "output": ...} object per eval record, or the
    /// .xlsx result file of a VLMEvalKit run on the eval set's TSV (rows matched by `index`).
    #[arg(long)]
    predictions: PathBuf,
    /// Metrics file to write, e.g. results/metrics.json; the per-example results go beside it
    /// (results/metrics.per_example.jsonl). An existing directory gets metrics.json inside.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> std::process::ExitCode {
    s2h::cli::restore_sigpipe();
    s2h::cli::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let records = if args.eval.is_dir() {
        let records = args.eval.join(RECORDS_FILE);
        if !records.is_file() {
            bail!(
                "--eval `{}` holds no {RECORDS_FILE}; pass the --out directory of the generate example",
                args.eval.display()
            );
        }
        records
    } else if args.eval.is_file() {
        args.eval.clone()
    } else {
        bail!(
            "--eval `{}` does not exist; pass a directory written by the generate example (it holds {RECORDS_FILE})",
            args.eval.display()
        );
    };
    if !args.predictions.is_file() {
        bail!(
            "--predictions `{}` is not a file; pass a JSONL file with one {{\"id\": ..., \"output\": ...}} object per line, or a VLMEvalKit result .xlsx",
            args.predictions.display()
        );
    }
    let metrics_path = if args.out.is_dir() {
        args.out.join(METRICS_FILE)
    } else if args.out.extension().is_some_and(|e| e == "json") {
        args.out.clone()
    } else {
        bail!(
            "--out `{}` must name a .json file (e.g. results/metrics.json) or an existing directory",
            args.out.display()
        );
    };
    let per_example = per_example_path(&metrics_path);
    for (input, flag) in [(&args.predictions, "--predictions"), (&records, "--eval")] {
        if same_file(input, &metrics_path) || same_file(input, &per_example) {
            bail!(
                "writing the results would overwrite the {flag} file `{}`; choose another --out",
                input.display()
            );
        }
    }

    let scored = score_files(&records, &args.predictions).with_context(|| {
        format!(
            "scoring {} against {}",
            args.predictions.display(),
            records.display()
        )
    })?;
    print!("{}", render_table(&scored.metrics));
    let files = scored.write(&metrics_path).context("writing the results")?;
    println!(
        "\nscored {} outputs; wrote {} and {}",
        scored.results.len(),
        files.metrics.display(),
        files.per_example.display()
    );
    Ok(())
}

/// True when `output` would be the existing file `input` (compared after resolving links).
fn same_file(input: &Path, output: &Path) -> bool {
    let Ok(input) = input.canonicalize() else {
        return false;
    };
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match (parent.canonicalize(), output.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name) == input,
        _ => false,
    }
}
