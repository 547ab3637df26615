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

use anyhow::{Context, Result, bail};
use clap::Parser;
use s2h_eval::decode::DecodeOptions;
use s2h_eval::{EvalOptions, EvalReport, names};
use s2h_mixture::{
    EvalSetSpec, EvalTexts, Mixture, MixtureKind, RenderOptions, WriteOptions, write_eval_set,
    write_mixture,
};
use s2h_render::svg::{Anchor, SvgDoc, encode_png};
use s2h_tasks::{Modality, Split, TaskConfig, TaskKind};
use s2h_train::{DataSource, Duration, TokenizerSpec, TrainConfig, TrainSummary};
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{
    BackendKind, BackendTask, DecoderConfig, VisionConfig, VitConfig, VlmConfig, run_on, special,
};
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

impl Setup {
    fn new(args: &Args) -> Self {
        Setup {
            tasks: TaskConfig::quickstart(),
            image_canvas: [256, 160],
            model: model_config(),
            batch_size: 8,
            lr: 3e-3,
            text_steps: args.text_steps,
            image_steps: args.image_steps,
            train_records: args.train_records,
            eval_records: args.eval_records,
            seed: 0,
        }
    }

    fn render(&self) -> RenderOptions {
        RenderOptions {
            tasks: self.tasks.clone(),
            image_size: Some(self.image_canvas),
            ..RenderOptions::default()
        }
    }
}

/// A 3-layer decoder of width 128 (0.7M parameters with the compact tokenizer) and a small ViT
/// on 96×96 images: the size that learns the quickstart CTR fastest on 2 cores among those
/// tried (docs/quickstart.md).
fn model_config() -> VlmConfig {
    VlmConfig::new(
        DecoderConfig::new(0, 128, 3, 4, 4, 344, 512),
        special::IMAGE_ID as usize,
    )
    .with_vision(Some(
        VisionConfig::new().with_vit(Some(VitConfig::new(96, 12, 96, 2, 4))),
    ))
}

const MODALITIES: [Modality; 2] = [Modality::Text, Modality::Image];
const SPLITS: [Split; 2] = [Split::Simple, Split::Medium];

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    args.backend.check()?;
    let setup = Setup::new(&args);
    prepare_out(&args, &setup)?;
    let out = &args.out;

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
    let summaries = in_parallel(
        MODALITIES.map(|modality| {
            let setup = &setup;
            move || train_model(setup, out, modality, args.backend).map(|s| (modality, s))
        }),
        || print_progress(out, &setup),
    )?;

    println!("[3/4] evaluating each model on simple and medium sets of its modality");
    let reports = in_parallel(
        MODALITIES.map(|modality| {
            move || {
                SPLITS
                    .into_iter()
                    .map(|split| {
                        evaluate(out, modality, split, args.backend)
                            .map(|r| Row::new(modality, split, &r))
                    })
                    .collect::<Result<Vec<Row>>>()
            }
        }),
        || {},
    )?;
    let rows: Vec<Row> = reports.into_iter().flatten().collect();

    println!("[4/4] report");
    let table = s2h_table(&rows);
    let report = out.join("report");
    std::fs::create_dir_all(&report).with_context(|| format!("creating {}", report.display()))?;
    std::fs::write(report.join("s2h_table.md"), &table)?;
    std::fs::write(report.join("s2h_table.csv"), s2h_csv(&rows))?;
    write_loss_curves(&report, &summaries)?;
    println!("\n{table}");
    for (modality, s) in &summaries {
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

/// Run the jobs on their own threads; `tick` runs every 20 s until all are done.
fn in_parallel<T: Send, F: FnOnce() -> Result<T> + Send>(
    jobs: [F; 2],
    tick: impl Fn(),
) -> Result<Vec<T>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
        let mut waited = 0;
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(250));
            waited += 1;
            if waited % 80 == 0 {
                tick();
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?
            })
            .collect()
    })
}

/// One line with the last logged update of each run.
fn print_progress(out: &Path, setup: &Setup) {
    let mut parts = Vec::new();
    for (modality, total) in [
        (Modality::Text, setup.text_steps),
        (Modality::Image, setup.image_steps),
    ] {
        let path = run_dir(out, modality).join(s2h_train::METRICS_FILE);
        let last = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.lines().last().map(str::to_string))
            .and_then(|l| serde_json::from_str::<s2h_train::MetricsLine>(&l).ok());
        parts.push(match last {
            Some(m) => format!("{modality}: update {}/{total}, loss {:.3}", m.step, m.loss),
            None => format!("{modality}: starting"),
        });
    }
    println!("      {}", parts.join(" | "));
}

/// Create OUT (or clear it with --fresh) and refuse to continue a directory made with other
/// settings.
fn prepare_out(args: &Args, setup: &Setup) -> Result<()> {
    let path = args.out.join("quickstart.json");
    if args.fresh && args.out.exists() {
        // Only ever delete a directory this command made.
        let empty = std::fs::read_dir(&args.out)?.next().is_none();
        if !empty && !path.exists() {
            bail!(
                "{} is not a quickstart output directory (no quickstart.json): refusing to \
                 delete it for --fresh",
                args.out.display()
            );
        }
        std::fs::remove_dir_all(&args.out)
            .with_context(|| format!("removing {}", args.out.display()))?;
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        let previous: Setup = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a quickstart setup", path.display()))?;
        if previous != *setup {
            bail!(
                "{} was made with other settings (see {}); pass --fresh to start over or choose \
                 another --out",
                args.out.display(),
                path.display()
            );
        }
    } else if std::fs::read_dir(&args.out)?.next().is_some() {
        bail!(
            "{} already holds other files; choose an empty or new --out",
            args.out.display()
        );
    } else {
        std::fs::write(&path, serde_json::to_string_pretty(setup)?)?;
    }
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

/// Training mixtures (Text, Image) and the four evaluation sets; sets already written are kept.
fn generate_data(setup: &Setup, out: &Path) -> Result<()> {
    let render = setup.render();
    let options = WriteOptions::default();
    let mut eval_texts = EvalTexts::new(render.text);
    for modality in MODALITIES {
        for split in SPLITS {
            let spec = EvalSetSpec::new(TaskKind::Ctr, split, modality, setup.eval_records);
            let dir = eval_dir(out, modality, split);
            if !done(&dir) {
                write_eval_set(&spec, &render, &dir, &options, &|| {})?;
            }
            eval_texts.add_dir(&dir)?;
        }
    }
    for modality in MODALITIES {
        let dir = data_dir(out, modality);
        if done(&dir) {
            continue;
        }
        let kind = match modality {
            Modality::Text => MixtureKind::Text,
            Modality::Image => MixtureKind::Image,
        };
        let mixture = Mixture::new(kind, TaskKind::Ctr, setup.train_records, setup.seed);
        // Refuses any training instance whose text is one of an evaluation set's.
        write_mixture(&mixture, &render, &eval_texts, &dir, &options, &|| {})?;
    }
    Ok(())
}

/// A data directory counts as written once its manifest is (it is written last).
fn done(dir: &Path) -> bool {
    dir.join(s2h_mixture::manifest::MANIFEST_FILE).exists()
}

fn train_model(
    setup: &Setup,
    out: &Path,
    modality: Modality,
    backend: BackendKind,
) -> Result<TrainSummary> {
    let run = run_dir(out, modality);
    let steps = match modality {
        Modality::Text => setup.text_steps,
        Modality::Image => setup.image_steps,
    };
    let config = TrainConfig {
        data: DataSource::Records {
            dir: data_dir(out, modality),
        },
        out: run.clone(),
        model: setup.model.clone(),
        tokenizer: TokenizerSpec::Compact,
        task_config: setup.tasks.clone(),
        batch_size: setup.batch_size,
        lr: setup.lr,
        duration: Duration::Steps(steps),
        seed: setup.seed,
        save_every: 100,
        log_every: 10,
        resume: run.join(s2h_train::CONFIG_FILE).exists(),
        // Records differ by a few tokens here: plain shuffled batches, no length sorting.
        bucket_batches: 0,
        // Two runs share the terminal: the quickstart prints one status line for both.
        progress: false,
        ..TrainConfig::default()
    };
    Ok(s2h_train::train_on(backend, &config)?)
}

struct Evaluate<'a> {
    model: &'a Path,
    eval: &'a Path,
}

impl BackendTask for Evaluate<'_> {
    type Output = s2h_eval::Result<EvalReport>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let options = EvalOptions {
            decode: DecodeOptions {
                max_new_tokens: 256,
                batch: 16,
                ..DecodeOptions::default()
            },
            convert: false,
            task: Some(TaskKind::Ctr),
        };
        s2h_eval::evaluate_dirs::<B::InnerBackend>(self.model, self.eval, None, &options, &device)
    }
}

/// Evaluate the model trained with `modality` on the `split` set of the same modality; results
/// already written are read back.
fn evaluate(
    out: &Path,
    modality: Modality,
    split: Split,
    backend: BackendKind,
) -> Result<EvalReport> {
    let dir = out.join("eval").join(format!("{modality}-{split}"));
    let model = run_dir(out, modality).join(s2h_train::MODEL_DIR);
    let report = run_on(
        backend,
        Evaluate {
            model: &model,
            eval: &eval_dir(out, modality, split),
        },
    )??;
    report.write(&dir)?;
    Ok(report)
}

/// One line of the S2H table.
struct Row {
    modality: Modality,
    split: Split,
    examples: usize,
    metrics: std::collections::BTreeMap<String, f64>,
}

impl Row {
    fn new(modality: Modality, split: Split, report: &EvalReport) -> Self {
        let group = report.metrics.group(TaskKind::Ctr, Some(split));
        Row {
            modality,
            split,
            examples: group.map_or(0, |g| g.examples),
            metrics: group.map(|g| g.metrics.clone()).unwrap_or_default(),
        }
    }

    fn get(&self, name: &str) -> String {
        self.metrics
            .get(name)
            .map_or("-".into(), |v| format!("{:.1}", 100.0 * v))
    }
}

/// The metrics of the table: exact match first, then the partial ones of SPEC §13 (K.1).
const COLUMNS: [(&str, &str); 7] = [
    ("exact match", names::EXACT_MATCH_MAX),
    ("cell precision", names::CELL_PRECISION),
    ("cell recall", names::CELL_RECALL),
    ("step row", names::STEP_ROW_ACCURACY),
    ("step column", names::STEP_COL_ACCURACY),
    ("step value", names::STEP_VALUE_ACCURACY),
    ("parse failures", names::PARSE_FAILURE_RATE),
];

fn s2h_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "S2H table, CTR at quickstart scale (3x4 table; simple = paths of 2-3 cells, the \
         training split; medium = 5-6). Percentages.\n\n| trained on / evaluated on | n |",
    );
    for (title, _) in COLUMNS {
        s.push_str(&format!(" {title} |"));
    }
    s.push_str("\n|---|---|");
    s.push_str(&"---|".repeat(COLUMNS.len()));
    for r in rows {
        s.push_str(&format!(
            "\n| {} / {} {} | {} |",
            r.modality, r.split, r.modality, r.examples
        ));
        for (_, name) in COLUMNS {
            s.push_str(&format!(" {} |", r.get(name)));
        }
    }
    s.push('\n');
    s
}

fn s2h_csv(rows: &[Row]) -> String {
    let mut s = String::from("modality,split,examples");
    for (_, name) in COLUMNS {
        s.push(',');
        s.push_str(name);
    }
    for r in rows {
        s.push_str(&format!("\n{},{},{}", r.modality, r.split, r.examples));
        for (_, name) in COLUMNS {
            s.push(',');
            if let Some(v) = r.metrics.get(name) {
                s.push_str(&v.to_string());
            }
        }
    }
    s.push('\n');
    s
}

/// `loss_curves.csv` and a plot of both curves (SVG and PNG, drawn with the renderer's SVG
/// canvas).
fn write_loss_curves(dir: &Path, runs: &[(Modality, TrainSummary)]) -> Result<()> {
    let mut csv = String::from("modality,step,loss\n");
    for (modality, s) in runs {
        for (step, loss) in &s.loss_curve {
            csv.push_str(&format!("{modality},{step},{loss}\n"));
        }
    }
    std::fs::write(dir.join("loss_curves.csv"), csv)?;

    let (w, h, margin) = (720.0f32, 420.0f32, 60.0f32);
    let max_step = runs
        .iter()
        .flat_map(|(_, s)| s.loss_curve.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let max_loss = runs
        .iter()
        .flat_map(|(_, s)| s.loss_curve.iter().map(|p| p.1))
        .fold(0.0f32, f32::max)
        .max(1e-3);
    let x = |step: f32| margin + (w - 2.0 * margin) * step / max_step;
    let y = |loss: f32| h - margin - (h - 2.0 * margin) * loss / max_loss;
    let mut doc = SvgDoc::new(w as u32, h as u32, "#ffffff", false);
    doc.line(margin, h - margin, w - margin, h - margin, "#000000", 1.0);
    doc.line(margin, margin, margin, h - margin, "#000000", 1.0);
    doc.text(
        w / 2.0,
        h - 20.0,
        14.0,
        false,
        "#000000",
        Anchor::Middle,
        "update",
    );
    doc.text(
        margin,
        margin - 20.0,
        14.0,
        false,
        "#000000",
        Anchor::Middle,
        "loss",
    );
    doc.text(
        margin - 8.0,
        y(max_loss),
        12.0,
        false,
        "#000000",
        Anchor::End,
        &format!("{max_loss:.2}"),
    );
    doc.text(
        margin - 8.0,
        y(0.0),
        12.0,
        false,
        "#000000",
        Anchor::End,
        "0",
    );
    doc.text(
        x(max_step),
        h - margin + 16.0,
        12.0,
        false,
        "#000000",
        Anchor::Middle,
        &format!("{max_step}"),
    );
    let colors = ["#1f77b4", "#ff7f0e"];
    for (i, (modality, s)) in runs.iter().enumerate() {
        let points: Vec<(f32, f32)> = s
            .loss_curve
            .iter()
            .map(|&(step, loss)| (x(step as f32), y(loss)))
            .collect();
        doc.polygon(&points, false, "none", Some((colors[i % 2], 2.0)));
        let ly = margin + 20.0 * i as f32;
        doc.line(
            w - margin - 130.0,
            ly,
            w - margin - 100.0,
            ly,
            colors[i % 2],
            2.0,
        );
        doc.text(
            w - margin - 92.0,
            ly,
            13.0,
            false,
            "#000000",
            Anchor::Start,
            &format!("{modality} supervision"),
        );
    }
    std::fs::write(dir.join("loss_curves.svg"), doc.finish())?;
    let pixmap = doc.rasterize()?;
    std::fs::write(
        dir.join("loss_curves.png"),
        encode_png(pixmap.data(), pixmap.width(), pixmap.height())?,
    )?;
    Ok(())
}
