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
//! Output: `OUT/report/` with `s2h_table.md`, `s2h_table.csv`, `loss_curves.csv`,
//! `loss_curves.svg` and `.png`; the data, runs and per-set evaluation files beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use rayon::prelude::*;
use s2h_eval::EvalOptions;
use s2h_eval::charts::{LossCurve, write_loss_curves};
use s2h_eval::s2h_table::{self, S2hRow};
use s2h_mixture::files::claim_dir;
use s2h_mixture::{
    EvalCheck, EvalSetSpec, Existing, MixtureKind, Phase, Plan, WriteOptions, write_eval_set,
    write_phase,
};
use s2h_tasks::{Modality, Split, TaskConfig, TaskKind};
use s2h_train::{DataSource, Duration, TrainConfig};
use s2h_vlm::{BackendKind, GenerateOptions, TokenizerKind, VlmConfig};
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
    #[arg(long, default_value_t = 1800)]
    text_steps: u64,
    /// Optimizer updates of the Image-supervised model.
    #[arg(long, default_value_t = 1200)]
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

fn main() {
    s2h::cli::restore_sigpipe();
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    args.backend.check()?;
    let setup = Setup {
        tasks: TaskConfig::quickstart(),
        image_canvas: [256, 160],
        model: VlmConfig::quickstart(),
        batch_size: 8,
        lr: 3e-3,
        text_steps: args.text_steps,
        image_steps: args.image_steps,
        train_records: args.train_records,
        eval_records: args.eval_records,
        seed: 0,
    };
    let out = &args.out;
    claim_dir(out, "quickstart.json", &setup, args.fresh)
        .context("--fresh starts over; --out chooses another directory")?;

    println!(
        "[1/4] data: CTR at quickstart scale, {} training instances per modality",
        setup.train_records
    );
    generate_data(&setup, out)?;

    // Flex runs these small matrices on one core: the two models train side by side, one per
    // core, and the four evaluations likewise.
    println!(
        "[2/4] training the Text and the Image model side by side ({} and {} updates)",
        setup.text_steps, setup.image_steps
    );
    let configs = MODALITIES.map(|m| train_config(&setup, out, m));
    let summaries = s2h_train::train_all(args.backend, &configs)?;

    println!("[3/4] evaluating each model on simple and medium sets of its modality");
    let sets: Vec<(Modality, Split)> = MODALITIES
        .into_iter()
        .flat_map(|m| SPLITS.map(|s| (m, s)))
        .collect();
    let rows = sets
        .into_par_iter()
        .map(|(modality, split)| evaluate(out, modality, split, args.backend))
        .collect::<Result<Vec<S2hRow>>>()?;

    println!("[4/4] report");
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
    println!("\n{table}");
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

fn data_dir(out: &Path, modality: Modality) -> PathBuf {
    out.join("data").join(format!("train-{modality}"))
}

fn eval_dir(out: &Path, modality: Modality, split: Split) -> PathBuf {
    out.join("data").join(format!("eval-{split}-{modality}"))
}

fn run_dir(out: &Path, modality: Modality) -> PathBuf {
    out.join("runs").join(modality.to_string())
}

/// The training data of the `modality` model: a one-phase plan of that supervision.
fn plan(setup: &Setup, modality: Modality) -> Plan {
    let kind = match modality {
        Modality::Text => MixtureKind::Text,
        Modality::Image => MixtureKind::Image,
    };
    let mut plan = Plan::single(
        Phase::new(kind, TaskKind::Ctr, setup.train_records),
        setup.seed,
    );
    plan.task_config = setup.tasks.clone();
    plan.image_size = Some(setup.image_canvas);
    plan
}

/// The four evaluation sets, then the training data of each modality, which must not share an
/// instance with them; what is already written completely is kept.
fn generate_data(setup: &Setup, out: &Path) -> Result<()> {
    let options = WriteOptions {
        existing: Existing::Keep,
        ..WriteOptions::default()
    };
    let text = plan(setup, Modality::Text);
    let render = text.render_options(&text.phases[0]);
    let mut check = EvalCheck::none();
    for modality in MODALITIES {
        for split in SPLITS {
            let spec = EvalSetSpec::new(TaskKind::Ctr, split, modality, setup.eval_records);
            let dir = eval_dir(out, modality, split);
            write_eval_set(&spec, &render, &dir, &options, &|| {})?;
            check.dirs.push(dir);
        }
    }
    for modality in MODALITIES {
        let plan = plan(setup, modality);
        write_phase(&plan, 0, &data_dir(out, modality), &check, &options, &|| {})?;
    }
    Ok(())
}

fn train_config(setup: &Setup, out: &Path, modality: Modality) -> TrainConfig {
    let run = run_dir(out, modality);
    TrainConfig {
        data: DataSource::Records {
            dir: data_dir(out, modality),
        },
        out: run.clone(),
        model: setup.model.clone(),
        tokenizer: TokenizerKind::Compact,
        task_config: setup.tasks.clone(),
        batch_size: setup.batch_size,
        lr: setup.lr,
        duration: Duration::Steps(match modality {
            Modality::Text => setup.text_steps,
            Modality::Image => setup.image_steps,
        }),
        seed: setup.seed,
        save_every: 100,
        log_every: 10,
        resume: run.join(s2h_train::CONFIG_FILE).exists(),
        // Records differ by a few tokens here: plain shuffled batches, no length sorting.
        bucket_batches: 0,
        ..TrainConfig::default()
    }
}

/// Evaluate the model trained with `modality` on the `split` set of the same modality, write the
/// per-example results and metrics into `OUT/eval/MODALITY-SPLIT/`, and give its table row.
fn evaluate(out: &Path, modality: Modality, split: Split, backend: BackendKind) -> Result<S2hRow> {
    let options = EvalOptions {
        generate: GenerateOptions {
            max_new_tokens: 256,
            batch: 16,
            ..GenerateOptions::default()
        },
        convert: false,
        task: Some(TaskKind::Ctr),
    };
    let model = run_dir(out, modality).join(s2h_train::MODEL_DIR);
    let eval = eval_dir(out, modality, split);
    let mut reports =
        s2h_eval::evaluate_on(backend, &model, &eval, None, &[options], &mut |_, _, _| {})?;
    let report = reports
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no evaluation report"))?;
    report.write(&out.join("eval").join(format!("{modality}-{split}")))?;
    let (name, task) = (modality.to_string(), TaskKind::Ctr);
    Ok(S2hRow::from_metrics(
        name,
        &report.metrics,
        task,
        split,
        modality,
    ))
}
