//! Generate datasets (SPEC §9–10).
//!
//! One index range of one supervision type, `DIR/records.jsonl` plus `DIR/images/*.png`:
//!
//!     cargo run --release --example generate -- --task ctr --split simple --count 1000 --seed 0 \
//!         --supervision image --out data/ctr-simple
//!
//! A training mixture (Algorithm 1), or every phase of a training plan:
//!
//!     cargo run --release --example generate -- mixture --task tr --supervision mix_plus \
//!         --budget 30000 --seed 0 --out data/tr-mix-plus
//!     cargo run --release --example generate -- mixture --plan plan.toml --out data/plan
//!
//! An evaluation set (seeds disjoint from training):
//!
//!     cargo run --release --example generate -- eval-set --task ctr --split medium \
//!         --modality image --count 500 --out data/ctr-medium-eval
//!
//! Every form takes `--task-config FILE` for task sizes other than the paper's (a plan's
//! `[task_config]`, e.g. to evaluate at the sizes a plan trained on).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use s2h::cli::{parse_font_scale, parse_name, parse_size, parse_threads, thread_pool};
use s2h::generate::{self, RenderFlags};
use s2h::mixture::{
    CotMode, DatasetSpec, EvalCheck, EvalSetSpec, Existing, Formats, MixtureKind, Phase,
    Supervision, WriteOptions,
};
use s2h::render::AnalogyTextFormat;
use s2h::tasks::{Modality, Split, TaskKind};

#[derive(Parser, Debug)]
#[command(
    about = "Generate s2h datasets (JSONL + PNG): an index range, a training mixture or plan, or an evaluation set",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Task: ctr, tr, grid or va.
    #[arg(long, required = true, value_parser = parse_name::<TaskKind>)]
    task: Option<TaskKind>,
    /// Split: simple, medium (ctr only), hard, pattern_heldout (va only).
    #[arg(long, required = true, value_parser = parse_name::<Split>)]
    split: Option<Split>,
    /// Number of instances, at most 100,000,000 (write larger ranges in shards with
    /// --start-index).
    #[arg(long, required = true)]
    count: Option<u64>,
    /// Dataset seed, below 2^63 (the top half is reserved for evaluation sets, see eval-set);
    /// every instance is a function of (task, split, seed, index).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// First instance index (to generate shards of one range separately).
    #[arg(long, default_value_t = 0)]
    start_index: u64,
    /// Supervision: text, image or image_via_text.
    #[arg(long, required = true, value_parser = parse_name::<Supervision>)]
    supervision: Option<Supervision>,
    /// Output directory (created if missing).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    #[command(flatten)]
    render: RenderArgs,
    /// Worker threads, 1 to 1024 (default: all cores); the output is the same for any number.
    #[arg(long, value_parser = parse_threads)]
    threads: Option<usize>,
    /// Replace an existing records.jsonl in --out.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A training mixture (Algorithm 1) or every phase of a training plan.
    Mixture(MixtureArgs),
    /// A fixed-size evaluation set, on seeds disjoint from training seeds.
    EvalSet(EvalSetArgs),
}

/// How images and texts are drawn.
#[derive(Args, Debug)]
struct RenderArgs {
    /// Image size as WIDTHxHEIGHT (default: the paper's size for the task).
    #[arg(long, value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// Multiplier on the fitted font sizes of images, from 0.25 to 1 (1 fits every label in its
    /// cell).
    #[arg(long, default_value_t = 1.0, value_parser = parse_font_scale)]
    font_scale: f32,
    /// Text rendering of Visual Analogy puzzles: lossy (paper default) or lossless.
    #[arg(long, default_value = "lossy", value_parser = parse_name::<AnalogyTextFormat>)]
    text_format: AnalogyTextFormat,
    /// Task parameters (table sizes, path lengths, …) from a TOML file: a plan's
    /// `[task_config]` tables, or `[ctr]`, `[tr]`, `[grid]`, `[va]` tables alone (default: the
    /// paper's). Give a plan to generate evaluation sets at the sizes it trains on.
    #[arg(long)]
    task_config: Option<PathBuf>,
}

impl RenderArgs {
    fn flags(&self) -> RenderFlags {
        RenderFlags {
            size: self.size.map(|(w, h)| [w, h]),
            font_scale: self.font_scale,
            text_format: self.text_format,
            task_config: self.task_config.clone(),
        }
    }
}

/// Output options of the mixture and evaluation-set forms.
#[derive(Args, Debug)]
struct OutputArgs {
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Extra formats beside records.jsonl: a comma-separated list of llava, tsv (VLMEvalKit),
    /// oureval (the authors' evaluator's OurEval_*.tsv files).
    #[arg(long, default_value = "none", value_parser = parse_name::<Formats>)]
    formats: Formats,
    /// Worker threads, 1 to 1024 (default: all cores); the output is the same for any number.
    #[arg(long, value_parser = parse_threads)]
    threads: Option<usize>,
    /// Replace an existing records.jsonl in --out.
    #[arg(long)]
    overwrite: bool,
}

impl OutputArgs {
    /// `--overwrite` replaces an existing dataset; without it one is refused.
    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            existing: Existing::overwrite_if(self.overwrite),
            formats: self.formats,
        }
    }
}

#[derive(Args, Debug)]
struct MixtureArgs {
    /// A training plan (TOML); writes each phase into its own directory under --out.
    #[arg(long, conflicts_with_all = ["task", "supervision", "budget"])]
    plan: Option<PathBuf>,
    /// Task(s): ctr, tr, grid, va; several (comma-separated) for a multi-task mixture.
    #[arg(long, value_delimiter = ',', value_parser = parse_name::<TaskKind>, required_unless_present = "plan")]
    task: Vec<TaskKind>,
    /// Mixture: text, image, image_via_text, text_image, mix, mix_plus, image_via_text_plus,
    /// align, text_warmup.
    #[arg(long, value_parser = parse_name::<MixtureKind>, required_unless_present = "plan")]
    supervision: Option<MixtureKind>,
    /// Number of records.
    #[arg(long, required_unless_present = "plan")]
    budget: Option<u64>,
    /// Seed of instances and order; below 2^63.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Supervision of the hard records (text, or image for the G.4 ablation).
    #[arg(long, value_parser = parse_name::<Supervision>)]
    hard_supervision: Option<Supervision>,
    /// Repeat each hard record k times, keeping the budget (I.9 ablation).
    #[arg(long)]
    hard_repeat: Option<u64>,
    /// Chain of thought: full, none or truncated (I.7 ablation).
    #[arg(long, default_value = "full", value_parser = parse_name::<CotMode>)]
    cot: CotMode,
    /// Keep the nominal ratio of record types in every batch of this size.
    #[arg(long)]
    interleave_batch: Option<u64>,
    /// An evaluation set directory the training set must not overlap (repeatable).
    #[arg(long)]
    eval_dir: Vec<PathBuf>,
    /// Skip the check against the default evaluation sets and --eval-dir.
    #[arg(long)]
    no_eval_check: bool,
    #[command(flatten)]
    render: RenderArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args, Debug)]
struct EvalSetArgs {
    #[arg(long, value_parser = parse_name::<TaskKind>)]
    task: TaskKind,
    #[arg(long, value_parser = parse_name::<Split>)]
    split: Split,
    /// text, image, or image_via_text (image records whose target starts with the conversion
    /// to text: the sets of the loss decomposition, Eqs 4 and 5, in `analyze --hard-via-text`).
    #[arg(long, value_parser = parse_name::<Supervision>)]
    modality: Supervision,
    /// Number of instances, at most 100,000,000.
    #[arg(long)]
    count: u64,
    /// Base seed below 2^63; instances use seed | 2^63.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    render: RenderArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> std::process::ExitCode {
    // `generate … | head -1` ends quietly instead of panicking on the closed pipe.
    s2h::cli::restore_sigpipe();
    let mut cli = Cli::parse();
    let result = match cli.command.take() {
        Some(Command::Mixture(args)) => run_mixture(args),
        Some(Command::EvalSet(args)) => run_eval_set(args),
        None => run_plain(cli),
    };
    s2h::cli::exit_code(result)
}

fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    thread_pool(threads).map_err(|e| anyhow::anyhow!("--threads: {e}"))
}

/// The plain form: one index range of one task, split and supervision.
fn run_plain(cli: Cli) -> Result<()> {
    // clap requires these without a subcommand.
    let (Some(task), Some(split), Some(count), Some(supervision), Some(out)) =
        (cli.task, cli.split, cli.count, cli.supervision, cli.out)
    else {
        bail!(
            "give --task, --split, --count, --supervision and --out, or a subcommand \
             (mixture, eval-set); see --help"
        );
    };
    let render = cli
        .render
        .flags()
        .options_for(supervision.input() == Modality::Image, "--supervision text")?;
    let spec = render.apply(DatasetSpec {
        start_index: cli.start_index,
        ..DatasetSpec::new(task, split, cli.seed, count, supervision)
    });
    generate::dataset(&pool(cli.threads)?, &spec, &out, cli.overwrite)
        .with_context(|| format!("generating into {}", out.display()))
}

fn run_mixture(args: MixtureArgs) -> Result<()> {
    let check = if args.no_eval_check {
        EvalCheck::none()
    } else {
        EvalCheck {
            default_sets: true,
            dirs: args.eval_dir.clone(),
        }
    };
    let pool = pool(args.output.threads)?;
    let options = args.output.write_options();
    let out = &args.output.out;
    match &args.plan {
        Some(path) => generate::plan_file(&pool, path, &args.render.flags(), out, &check, &options),
        None => {
            let (Some(kind), Some(budget)) = (args.supervision, args.budget) else {
                bail!("--supervision and --budget are required without --plan");
            };
            let phase = Phase {
                tasks: args.task.clone(),
                hard_supervision: args.hard_supervision,
                hard_repeat: args.hard_repeat,
                cot: args.cot,
                interleave_batch: args.interleave_batch,
                ..Phase::new(kind, TaskKind::Ctr, budget)
            };
            // One mixture: written into --out itself.
            let render = args.render.flags().options()?;
            generate::mixture(&pool, phase, args.seed, &render, out, &check, &options)
        }
    }
    .with_context(|| format!("generating into {}", out.display()))
}

fn run_eval_set(args: EvalSetArgs) -> Result<()> {
    let spec = EvalSetSpec {
        seed: args.seed,
        ..EvalSetSpec::of_supervision(args.task, args.split, args.modality, args.count)
    };
    let render = args
        .render
        .flags()
        .options_for(spec.modality == Modality::Image, "--modality text")?;
    let out = &args.output.out;
    generate::eval_set(
        &pool(args.output.threads)?,
        &spec,
        &render,
        out,
        &args.output.write_options(),
    )
    .with_context(|| format!("generating into {}", out.display()))
}
