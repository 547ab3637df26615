//! Generate a dataset: `DIR/records.jsonl` plus `DIR/images/*.png` (SPEC §10).
//!
//! cargo run --release --example generate -- --task ctr --split simple --count 1000 --seed 0 \
//!     --supervision image --out data/ctr-simple

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use s2h::mixture::{DatasetSpec, Supervision, write_dataset};
use s2h::render::{AnalogyTextFormat, ImageOptions};
use s2h::tasks::{Split, TaskKind};

#[derive(Parser, Debug)]
#[command(about = "Generate s2h task records (JSONL + PNG)")]
struct Args {
    /// Task: ctr, tr, grid or va.
    #[arg(long, value_parser = parse_with::<TaskKind>)]
    task: TaskKind,
    /// Split: simple, medium (ctr only), hard, pattern_heldout (va only).
    #[arg(long, value_parser = parse_with::<Split>)]
    split: Split,
    /// Number of instances.
    #[arg(long)]
    count: u64,
    /// Dataset seed; every instance is a function of (task, split, seed, index).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// First instance index (to generate shards of one range separately).
    #[arg(long, default_value_t = 0)]
    start_index: u64,
    /// Supervision: text, image or image_via_text.
    #[arg(long, value_parser = parse_with::<Supervision>)]
    supervision: Supervision,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Image size as WIDTHxHEIGHT (default: the paper's size for the task).
    #[arg(long, value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// Multiplier on the fitted font sizes of images.
    #[arg(long, default_value_t = 1.0)]
    font_scale: f32,
    /// Text rendering of Visual Analogy puzzles: lossy (paper default) or lossless.
    #[arg(long, default_value = "lossy", value_parser = parse_text_format)]
    text_format: AnalogyTextFormat,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Replace an existing records.jsonl in --out.
    #[arg(long)]
    overwrite: bool,
}

fn parse_with<T: std::str::FromStr<Err: std::fmt::Display>>(s: &str) -> Result<T, String> {
    s.parse::<T>().map_err(|e| e.to_string())
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let err = || format!("`{s}` is not a size; write WIDTHxHEIGHT, e.g. 448x448");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(err)?;
    Ok((
        w.trim().parse().map_err(|_| err())?,
        h.trim().parse().map_err(|_| err())?,
    ))
}

fn parse_text_format(s: &str) -> Result<AnalogyTextFormat, String> {
    match s {
        "lossy" => Ok(AnalogyTextFormat::Lossy),
        "lossless" => Ok(AnalogyTextFormat::Lossless),
        _ => Err(format!("`{s}` is not a text format; use lossy or lossless")),
    }
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
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let mut spec = DatasetSpec::new(
        args.task,
        args.split,
        args.seed,
        args.count,
        args.supervision,
    );
    spec.start_index = args.start_index;
    spec.text.analogy = args.text_format;
    if args.supervision == Supervision::Text && (args.size.is_some() || args.font_scale != 1.0) {
        bail!("--size and --font-scale apply to images; --supervision text writes none");
    }
    let mut image = ImageOptions::paper(args.task);
    if let Some((w, h)) = args.size {
        image = image.with_size(w, h);
    }
    image.font_scale = args.font_scale;
    spec.image = image;

    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        pool = pool.num_threads(threads);
    }
    let pool = pool.build().context("cannot start the worker threads")?;

    let bar = ProgressBar::new(args.count);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_message(format!("{}/{} {}", args.task, args.split, args.supervision));
    let started = Instant::now();
    let summary = pool
        .install(|| write_dataset(&spec, &args.out, args.overwrite, &|| bar.inc(1)))
        .with_context(|| format!("generating into {}", args.out.display()))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {} records to {} in {:.1} s ({:.0} records/s)",
        summary.records,
        args.out.join("records.jsonl").display(),
        seconds,
        summary.records as f64 / seconds
    );
    if summary.images > 0 {
        println!(
            "{} images, mean PNG {:.1} KB",
            summary.images,
            summary.png_bytes as f64 / summary.images as f64 / 1000.0
        );
    }
    Ok(())
}
