//! The whole pipeline on a laptop CPU, no downloads: generate a Consecutive Table Readout
//! training set, train one model with Text and one with Image supervision, evaluate each on
//! simple and medium sets in its modality, and print the S2H table (SPEC §13 metrics).
//!
//! ```sh
//! cargo run --release --example quickstart            # writes runs/quickstart/
//! ```
//!
//! It runs the *quickstart scale* of CTR ([`TaskConfig::quickstart`]: a 3×4 table, paths of 2–3
//! cells simple and 5–6 medium), not the paper's 5×10 table: a model trained from scratch for a
//! few CPU-minutes learns nothing of the paper-sized task (see docs/quickstart.md). Every stage
//! is cached in the output directory: run the command again after an interruption and it picks
//! up where it stopped (training resumes from its last checkpoint).
//!
//! Output: `OUT/report/` with `s2h_table.md`, `s2h_table.csv`, `learning_curve.csv` (exact match
//! on the simple set at each kept checkpoint), `loss_curves.csv`, `loss_curves.svg` and `.png`; the evaluation sets, runs (with their data) and evaluations in
//! `OUT/cache/`, kept by `s2h::pipeline` (the machinery of `cargo xtask reproduce-figures`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use rayon::prelude::*;
use s2h::pipeline::{Arm, Cache, RunSpec, Scale};
use s2h_eval::charts::{LossCurve, write_loss_curves};
use s2h_eval::names;
use s2h_eval::s2h_table::{self, S2hRow};
use s2h_mixture::MixtureKind;
use s2h_mixture::files::claim_dir;
use s2h_tasks::{Modality, Split, TaskConfig, TaskKind};
use s2h_vlm::{BackendKind, VlmConfig};
use serde::{Deserialize, Serialize};

#[derive(Parser, Debug)]
#[command(about = "Generate, train (Text and Image supervision), evaluate and report, on a CPU")]
struct Args {
    /// Output directory (data, runs, evaluations, report).
    #[arg(long, default_value = "runs/quickstart")]
    out: PathBuf,
    /// flex (CPU, default), ndarray, wgpu or cuda (the latter need `--features`).
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
    /// Optimizer updates of the Text-supervised model.
    #[arg(long, default_value_t = 4000)]
    text_steps: u64,
    /// Optimizer updates of the Image-supervised model.
    #[arg(long, default_value_t = 4000)]
    image_steps: u64,
    /// Unique training instances per modality.
    #[arg(long, default_value_t = 6000)]
    train_records: u64,
    /// Records per evaluation set (simple and medium, per modality).
    #[arg(long, default_value_t = 100)]
    eval_records: u64,
    /// Delete OUT first instead of continuing what is there.
    #[arg(long)]
    fresh: bool,
}

/// Everything that decides the results; written to `OUT/quickstart.json`, and a rerun with
/// other settings in the same directory is refused rather than mixing two experiments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Setup {
    tasks: TaskConfig,
    image_canvas: [u32; 2],
    model: VlmConfig,
    batch_size: usize,
    lr: f64,
    text_steps: u64,
    image_steps: u64,
    train_records: u64,
    eval_records: u64,
    seed: u64,
}

const MODALITIES: [Modality; 2] = [Modality::Text, Modality::Image];
const SPLITS: [Split; 2] = [Split::Simple, Split::Medium];

fn main() -> std::process::ExitCode {
    s2h::cli::keep_freed_memory();
    // The two runs train side by side in child processes of this executable.
    s2h::train::worker::serve();
    s2h::cli::restore_sigpipe();
    s2h::cli::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    args.backend.check()?;
    let setup = Setup {
        tasks: TaskConfig::quickstart(),
        image_canvas: [256, 160],
        model: VlmConfig::quickstart(),
        batch_size: 8,
        lr: s2h::train::TrainConfig::preset("quickstart")?.lr,
        text_steps: args.text_steps,
        image_steps: args.image_steps,
        train_records: args.train_records,
        eval_records: args.eval_records,
        seed: 0,
    };
    let out = &args.out;
    claim_dir(out, "quickstart.json", &setup, args.fresh)
        .context("--fresh starts over; --out chooses another directory")?;

    // The quickstart is the smallest use of the pipeline behind `cargo xtask
    // reproduce-figures` (`s2h::pipeline`): one scale, two runs, four evaluations, cached in OUT.
    let scale = Scale {
        name: "cache".into(),
        label: "quickstart".into(),
        tasks: setup.tasks.clone(),
        canvas: setup.image_canvas,
        model: setup.model.clone(),
        budgets: vec![setup.train_records],
        batch_size: setup.batch_size,
        lr: setup.lr,
        eval_records: setup.eval_records,
        max_new_tokens: 256,
        log_every: 10,
        check_eval_overlap: true,
        plan_only: false,
        backend: args.backend,
        // The quickstart's tower trains jointly, from scratch (docs/quickstart.md).
        reading: None,
    };
    let mut cache = Cache::new(out, scale);
    cache.progress = true;
    let runs = MODALITIES.map(|modality| RunSpec {
        steps: Some(match modality {
            Modality::Text => setup.text_steps,
            Modality::Image => setup.image_steps,
        }),
        ..RunSpec::new(
            TaskKind::Ctr,
            match modality {
                Modality::Text => MixtureKind::Text,
                Modality::Image => MixtureKind::Image,
            },
            setup.train_records,
        )
    });

    println!(
        "[1/5] data: CTR evaluation sets at quickstart scale ({} records each); each run writes \
         its {} training instances",
        setup.eval_records, setup.train_records
    );
    for modality in MODALITIES {
        for split in SPLITS {
            cache.eval_set(TaskKind::Ctr, split, modality)?;
        }
    }

    // Matrices this small gain little from a second core: the two models train side by side,
    // each in a child process on one core, and the evaluations likewise.
    println!(
        "[2/5] training the Text and the Image model side by side ({} and {} updates)",
        setup.text_steps, setup.image_steps
    );
    cache.train(&runs)?;
    let summaries = runs
        .iter()
        .map(|run| cache.summary(run))
        .collect::<Result<Vec<_>>>()?;

    println!("[3/5] evaluating each model on simple and medium sets of its modality");
    let arms: Vec<Arm> = MODALITIES
        .iter()
        .zip(&runs)
        .flat_map(|(&modality, run)| {
            SPLITS.map(|split| Arm {
                split,
                ..Arm::hard(modality.to_string(), run.clone(), modality)
            })
        })
        .collect();
    let rows: Vec<S2hRow> = arms
        .iter()
        .zip(cache.measure(&arms)?)
        .map(|(arm, metrics)| {
            S2hRow::from_metrics(
                arm.name.clone(),
                &metrics,
                TaskKind::Ctr,
                arm.split,
                arm.modality,
            )
        })
        .collect();

    println!("[4/5] learning curves: each model's kept checkpoints on its simple set");
    let simple_sets = MODALITIES
        .iter()
        .map(|&modality| cache.eval_set(TaskKind::Ctr, Split::Simple, modality))
        .collect::<Result<Vec<_>>>()?;
    let points: Vec<(usize, u64)> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, run)| cache.kept_steps(run).into_iter().map(move |step| (i, step)))
        .collect();
    let curve = points
        .par_iter()
        .map(|&(i, step)| {
            let metrics = cache.evaluate_at(&runs[i], step, &simple_sets[i])?;
            let row =
                S2hRow::from_metrics("", &metrics, TaskKind::Ctr, Split::Simple, MODALITIES[i]);
            let get = |name: &str| row.metrics.get(name).copied().unwrap_or(0.0) * 100.0;
            Ok((
                i,
                step,
                get(names::EXACT_MATCH_MAX),
                get(names::STEP_VALUE_ACCURACY),
            ))
        })
        .collect::<Result<Vec<_>>>()?;

    println!("[5/5] report");
    let report = out.join("report");
    let title = "S2H table, CTR at quickstart scale (3x4 table; simple = paths of 2-3 cells, the \
                 training split; medium = 5-6). Percentages.";
    let table = s2h_table::write(&report, title, TaskKind::Ctr, &rows)?;
    let curves: Vec<LossCurve> = MODALITIES
        .iter()
        .zip(&summaries)
        .map(|(modality, s)| LossCurve {
            name: format!("{modality} supervision"),
            points: s.loss_curve.clone(),
        })
        .collect();
    write_loss_curves(&report, &curves)?;
    let learning = write_learning_curve(&report, &curve)?;
    println!("\n{table}");
    println!("{learning}");
    for (modality, s) in MODALITIES.iter().zip(&summaries) {
        println!(
            "{modality} model: {} updates in {:.0} s of training ({:.0} tokens/s), final loss {}",
            s.steps,
            s.wall_time_s,
            s.tokens_per_s,
            s.final_loss.map_or("-".into(), |l| format!("{l:.3}"))
        );
    }
    println!(
        "\nwrote {} (total {:.1} min)",
        report.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// `report/learning_curve.csv` and its Markdown table: exact match and step value accuracy on
/// the simple set at each kept checkpoint of each model.
fn write_learning_curve(
    report: &std::path::Path,
    curve: &[(usize, u64, f64, f64)],
) -> Result<String> {
    let mut csv = String::from("trained_on,update,exact_match,step_value\n");
    let mut table = String::from(
        "Learning curve on the simple set (percentages; the last update is the final model):\n\n\
         | trained on | update | exact match | step value |\n|---|---|---|---|\n",
    );
    for &(i, step, exact, value) in curve {
        let name = MODALITIES[i];
        csv.push_str(&format!("{name},{step},{exact:.1},{value:.1}\n"));
        table.push_str(&format!("| {name} | {step} | {exact:.1} | {value:.1} |\n"));
    }
    let path = report.join("learning_curve.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
    Ok(table)
}
