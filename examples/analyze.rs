//! Measure a run's checkpoints as the paper's §5 and Appendices H, J do (docs/analysis.md): the
//! loss decomposition (Eqs 2, 4, 5), the mean per-example gradient norm, the gradient alignment
//! score (Eq 3), the cosine (Eq 7) and the Adam update alignment score (Eq 8, with the paper's
//! proxies and with the checkpoint's own AdamW moments).
//!
//! cargo run --release --example analyze -- --run runs/tr-mix --simple data/tr-simple-image \
//!     --hard data/tr-hard-image [--hard-via-text data/tr-hard-ivt] [--params all] \
//!     [--project 4096] [--steps 100,200|all] [--limit 100] [--attribute 2] [--backend flex] \
//!     --out analysis/tr-mix
//!
//! The sets are evaluation sets written by `generate eval-set` (`--modality image`, and
//! `--modality image_via_text` for --hard-via-text). `--run` may also be a model directory (one
//! "checkpoint"). Writes OUT/step-<N>.json per checkpoint and OUT/summary.csv; an interrupted
//! analysis continues where it stopped when run again.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use s2h::cli::progress_bar;
use s2h_analysis::{
    Options, ParamSet, ProjectionKind, ProjectionOptions, Projector, Sets, Source, analyze_on,
};
use s2h_vlm::BackendKind;

#[derive(Parser, Debug)]
#[command(
    about = "Gradient alignment, loss decomposition and pixel attribution of a run's checkpoints"
)]
struct Args {
    /// Run directory (its intact checkpoints) or model directory.
    #[arg(long)]
    run: PathBuf,
    /// Simple Image evaluation set (X_simple).
    #[arg(long)]
    simple: PathBuf,
    /// Hard Image evaluation set (X_hard; Eq 2).
    #[arg(long)]
    hard: PathBuf,
    /// Hard Image-via-Text evaluation set of the same instances (Eqs 4, 5).
    #[arg(long)]
    hard_via_text: Option<PathBuf>,
    /// Parameters of the gradients: all, vision, projector, lm, or a module-path pattern with
    /// `*` (e.g. `decoder.layers.*.attn.*`).
    #[arg(long, default_value = "all")]
    params: String,
    /// Also project each per-example gradient to K dimensions (the paper's footnote 9 uses
    /// 4096) and write the features.
    #[arg(long, value_name = "K")]
    project: Option<usize>,
    /// rademacher or gaussian.
    #[arg(long, default_value = "rademacher")]
    projection: String,
    #[arg(long, default_value_t = 0)]
    projection_seed: u64,
    /// Checkpoints to measure: `all` or a comma-separated list of steps.
    #[arg(long, default_value = "all")]
    steps: String,
    /// Use the first N records of each set.
    #[arg(long)]
    limit: Option<usize>,
    /// Attribute pixels for the first N hard records (overlays under OUT/step-<N>/attribution).
    #[arg(long, default_value_t = 0)]
    attribute: usize,
    /// Skip Eq 8 (it takes a second pass over the per-example gradients).
    #[arg(long)]
    no_adam: bool,
    /// flex (CPU, default), ndarray, wgpu or cuda (the latter need `--features`).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Replace step files measured with other options.
    #[arg(long)]
    overwrite: bool,
    #[arg(long)]
    out: PathBuf,
}

fn main() -> std::process::ExitCode {
    s2h::cli::keep_freed_memory();
    s2h::cli::restore_sigpipe();
    s2h::cli::exit_code(run(Args::parse()))
}

fn parse_steps(s: &str) -> Result<Option<Vec<u64>>> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    let steps = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<u64>()
                .map_err(|_| anyhow::anyhow!("--steps: `{p}` is not a step number (or say `all`)"))
        })
        .collect::<Result<Vec<_>>>()?;
    if steps.is_empty() {
        bail!("--steps: list at least one step, or say `all`");
    }
    Ok(Some(steps))
}

fn run(args: Args) -> Result<()> {
    let backend: BackendKind = args.backend.parse()?;
    let params: ParamSet = args.params.parse()?;
    let steps = parse_steps(&args.steps)?;
    if args.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    let project = match args.project {
        Some(dim) => {
            let kind = match args.projection.to_ascii_lowercase().as_str() {
                "rademacher" => ProjectionKind::Rademacher,
                "gaussian" => ProjectionKind::Gaussian,
                other => bail!("--projection: `{other}` is neither rademacher nor gaussian"),
            };
            // Checks the dimension before any model is loaded.
            Projector::new(dim, args.projection_seed, kind)?;
            Some(ProjectionOptions {
                dim,
                seed: args.projection_seed,
                kind,
                batch: 8,
            })
        }
        None => None,
    };
    if args.out.is_file() {
        bail!("--out `{}` is a file; pass a directory", args.out.display());
    }
    let sets = Sets::read(
        &args.simple,
        &args.hard,
        args.hard_via_text.as_deref(),
        args.limit,
    )?;
    let source = Source::open(&args.run)?;
    let selected = source.select(steps.as_deref())?;
    println!(
        "{} checkpoint(s) of {} on {} simple and {} hard {} records",
        selected.len(),
        args.run.display(),
        sets.simple.records.len(),
        sets.hard.records.len(),
        sets.simple.task
    );
    let options = Options {
        params,
        project,
        adam: !args.no_adam,
        attribute: args.attribute,
        ..Options::default()
    };
    let bar = progress_bar(0, "");
    let reports = analyze_on(
        backend,
        &source,
        steps.as_deref(),
        &sets,
        &options,
        &args.out,
        args.overwrite,
        &mut |step, what, done, total| {
            bar.set_prefix(format!("step {step} {what}"));
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    let num = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    println!("step  loss(Eq2)  grad-norm  Eq3  Eq7  Eq8  Eq8(state)");
    for r in &reports {
        println!(
            "{}  {:.4}  {:.4}  {}  {}  {}  {}",
            r.step,
            r.loss_image_solution,
            r.grad_norm_mean,
            num(r.alignment),
            num(r.cosine),
            num(r.adam_alignment),
            num(r.adam_alignment_state)
        );
    }
    println!(
        "wrote {} step file(s) and {}",
        reports.len(),
        args.out.join(s2h_analysis::report::SUMMARY_FILE).display()
    );
    Ok(())
}
