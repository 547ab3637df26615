//! `cargo xtask reproduce-figures`: every figure and table of the paper, at a stated tier, into
//! one directory with a gallery (`docs/figures.md`).
//!
//! ```text
//! cargo xtask reproduce-figures [--tier smoke|cpu|gpu|paper] [--only fig05,tab12] [--out figures] [--list]
//! ```

mod ablations;
mod analysed;
mod data;
mod evaluated;
mod experiments;
mod external;
mod gallery;
mod parts;
mod recipes;
mod registry;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use registry::{Made, Target, Tier};

#[derive(Parser, Debug)]
#[command(about = "Project tasks of s2h")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write every figure and table of the paper (or those of --only) at a tier.
    ReproduceFigures(Args),
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Print the registry of targets and exit.
    #[arg(long)]
    list: bool,
    /// smoke (minutes, every stage on tiny configurations), cpu (hours), gpu (one GPU), paper
    /// (the paper's budgets: plans and commands).
    #[arg(long, default_value = "smoke")]
    tier: Tier,
    /// Comma-separated target ids (default: all).
    #[arg(long)]
    only: Option<String>,
    #[arg(long, default_value = "figures")]
    out: PathBuf,
}

/// What a target's maker gets.
pub struct Ctx {
    /// The target's id (`fig05`, …).
    pub id: &'static str,
    pub tier: Tier,
    /// The target's own directory (`OUT/<id>/`), created.
    pub dir: PathBuf,
    /// Shared cache of runs, evaluations and analyses (`OUT/.cache/`).
    pub cache: PathBuf,
}

/// How our result compares with the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "why")]
pub enum Agreement {
    /// A data target, made exactly as the paper defines it.
    Exact,
    Reproduced(String),
    NotReproduced(String),
    /// Made at a tier too small to say anything about the paper's claim (smoke).
    Exercised(String),
    NotRun(String),
}

/// What a target wrote (`OUT/<id>/output.json`, read back by the gallery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// Files in the target's directory, the first one shown in the gallery when it is an image.
    pub files: Vec<String>,
    /// One line: what is shown, at which tier and scale.
    pub caption: String,
    /// Our numbers beside the paper's: (what, value).
    pub numbers: Vec<(String, String)>,
    pub agreement: Agreement,
    pub tier: String,
    pub seconds: f64,
}

pub const OUTPUT_FILE: &str = "output.json";

impl Output {
    /// An empty output at `ctx`'s tier, to fill with struct update syntax (`make` times it).
    pub fn at(ctx: &Ctx) -> Self {
        Output {
            files: Vec::new(),
            caption: String::new(),
            numbers: Vec::new(),
            agreement: Agreement::NotRun(String::new()),
            tier: ctx.tier.to_string(),
            seconds: 0.0,
        }
    }
}

fn main() -> std::process::ExitCode {
    s2h::cli::keep_freed_memory();
    // Runs trained side by side do so in child processes of this executable.
    s2h::train::worker::serve();
    let Command::ReproduceFigures(args) = Cli::parse().command;
    s2h::cli::exit_code(run(args))
}

fn run(args: Args) -> Result<()> {
    if args.list {
        print!("{}", registry::list());
        return Ok(());
    }
    let targets = registry::select(args.only.as_deref())?;
    if args.out.is_file() {
        bail!("--out `{}` is a file; pass a directory", args.out.display());
    }
    let started = Instant::now();
    for target in &targets {
        let t = Instant::now();
        let output = make(target, args.tier, &args.out)?;
        println!(
            "{} [{}] {:?} in {:.1} s",
            target.id,
            target.class.letter(),
            output.agreement,
            t.elapsed().as_secs_f64()
        );
    }
    let gallery = gallery::write(&args.out)?;
    println!(
        "{} target(s) in {:.1} s; gallery: {}",
        targets.len(),
        started.elapsed().as_secs_f64(),
        gallery.display()
    );
    Ok(())
}

/// Make one target at `tier` under `out` and record what it wrote.
pub fn make(target: &Target, tier: Tier, out: &Path) -> Result<Output> {
    let dir = target.dir(out);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ctx = Ctx {
        id: target.id,
        tier,
        dir: dir.clone(),
        cache: out.join(".cache"),
    };
    let started = Instant::now();
    let mut output = match target.made {
        Made::By(f) => match f(&ctx) {
            Ok(output) => output,
            Err(e) => match e.downcast::<experiments::Planned>() {
                Ok(planned) => planned_output(&ctx, target, &planned)?,
                Err(e) => return Err(e.context(format!("target {}", target.id))),
            },
        },
        Made::Pending => Output {
            caption: format!("{}: not made by the pipeline yet.", target.title),
            agreement: Agreement::NotRun(format!(
                "the {} pipeline for this target is not built yet",
                match target.class {
                    registry::Class::External => "outside-model scoring",
                    registry::Class::Gradient => "training + analysis",
                    _ => "training + evaluation",
                }
            )),
            ..Output::at(&ctx)
        },
        Made::Blocked(why) => Output {
            caption: format!("{}: not made by s2h.", target.title),
            agreement: Agreement::NotRun(why.into()),
            ..Output::at(&ctx)
        },
        Made::Nothing => Output {
            caption: format!("{}: pseudo-code, nothing to compute.", target.title),
            agreement: Agreement::NotRun("not data".into()),
            ..Output::at(&ctx)
        },
    };
    output.tier = tier.to_string();
    output.seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&output)?;
    s2h_mixture::files::write_atomically(&dir.join(OUTPUT_FILE), json.as_bytes())?;
    Ok(output)
}

/// The paper tier's output of a target: its runs' plans copied beside a `commands.sh` that
/// trains and evaluates them, and the compute they would take.
fn planned_output(ctx: &Ctx, target: &Target, planned: &experiments::Planned) -> Result<Output> {
    let plans = ctx.dir.join("plans");
    std::fs::create_dir_all(&plans).with_context(|| format!("creating {}", plans.display()))?;
    let mut script = format!(
        "#!/usr/bin/env bash\n# {}: {} -- the paper tier's runs and evaluations.\n\
         # Run from the s2h repository root on a machine with a CUDA GPU: \
         bash path/to/this/commands.sh\n# Runs, sets and evaluations are written beside this file.\n\
         set -euo pipefail\nHERE=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\n\n",
        target.id, target.title
    );
    for run in &planned.runs {
        let name = format!("{}.toml", run.name);
        std::fs::copy(&run.plan, plans.join(&name))
            .with_context(|| format!("copying {}", run.plan.display()))?;
        script.push_str(&format!(
            "# {} records, about {:.0} tokens each\n{}\n",
            run.records, run.tokens_per_record, run.command
        ));
    }
    script.push('\n');
    for e in &planned.evaluations {
        script.push_str(e);
        script.push('\n');
    }
    s2h_mixture::files::write_atomically(&ctx.dir.join("commands.sh"), script.as_bytes())?;
    let records: u64 = planned.runs.iter().map(|r| r.records).sum();
    let tokens: f64 = planned
        .runs
        .iter()
        .map(|r| r.records as f64 * r.tokens_per_record)
        .sum();
    // Training FLOPs 6·P·tokens; an H100 at 40% of its 989 dense bf16 TFLOP/s.
    let h100_hours = |params: f64| 6.0 * params * tokens / (0.4 * 989e12) / 3600.0;
    let base = s2h::vlm::VlmConfig::base().num_params() as f64;
    let numbers = vec![
        ("runs".to_string(), planned.runs.len().to_string()),
        ("training records, all runs".into(), records.to_string()),
        ("training tokens, estimated".into(), format!("{tokens:.2e}")),
        (
            "H100-hours for the paper's 8B model (6 x 8e9 x tokens at 40% MFU)".into(),
            format!("{:.0}", h100_hours(8.0e9)),
        ),
        (
            format!(
                "H100-hours for s2h's base preset ({:.0}M parameters)",
                base / 1e6
            ),
            format!("{:.1}", h100_hours(base)),
        ),
    ];
    Ok(Output {
        files: vec!["commands.sh".into()],
        caption: format!(
            "Paper tier: {} run(s) at the paper's budgets written as plans with the commands that \
             train and evaluate them (commands.sh); nothing is trained here. Tokens are \
             estimated from the records' text (characters / 4).",
            planned.runs.len()
        ),
        numbers,
        agreement: Agreement::NotRun(format!(
            "the paper tier plans {} run(s) ({records} records) for a GPU cluster; run \
             {}/commands.sh there",
            planned.runs.len(),
            target.id
        )),
        ..Output::at(ctx)
    })
}
