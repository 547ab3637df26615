//! Train the s2h VLM on a records directory or a training plan (SPEC §12).
//!
//! ```sh
//! cargo run --release --example generate -- --task ctr --split simple --count 4000 \
//!     --supervision text --out /tmp/ctr4k
//! cargo run --release --example train -- --data /tmp/ctr4k --preset small --steps 500 --out runs/ctr
//! cargo run --release --example train -- --plan plan.toml --preset small --out runs/plan
//! # continue after an interruption (same options plus --resume):
//! cargo run --release --example train -- --data /tmp/ctr4k --preset small --steps 500 --out runs/ctr --resume
//! # keep the checkpoint of every 100th update for analysis across training:
//! cargo run --release --example train -- --plan plan.toml --preset small --out runs/plan --keep-every 100
//! # fine-tune a pretrained checkpoint (Hugging Face layout), training only the language model:
//! cargo run --release --example train -- --data /tmp/ctr4k --init-from models/llama --train lm --out runs/ft
//! ```
//! See docs/training.md for the files of a run directory and the resume semantics.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use s2h::mixture::{Component, Plan, SegmentKind};
use s2h_train::{BackendKind, DataSource, Duration, KeepSteps, ReadingStage, TrainConfig};
use s2h_vlm::TokenizerKind;

#[derive(Parser, Debug)]
#[command(about = "Train the s2h VLM (masked SFT, AdamW, warmup-cosine) with exact resume")]
struct Cli {
    /// A directory with records.jsonl (+ images/), e.g. from `generate`.
    #[arg(long, conflicts_with = "plan", required_unless_present = "plan")]
    data: Option<PathBuf>,
    /// A training plan (TOML, SPEC §9); each phase's data is generated into RUN/data first.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Model preset: tiny, small, base, quickstart.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Start from this model directory: a run's `model/` or a Hugging Face checkpoint (Llama,
    /// Qwen2, LLaVA with its tokenizer files). Its configuration and tokenizer replace the
    /// preset's model and the tokenizer options; the preset still gives the training defaults.
    #[arg(long, conflicts_with_all = ["tokenizer", "vocab", "max_seq_len", "model_config"])]
    init_from: Option<PathBuf>,
    /// The model from a configuration file (the format of a model directory's `config.json`)
    /// instead of the preset's; the preset still gives the training defaults. The vocabulary
    /// size is the tokenizer's.
    #[arg(long)]
    model_config: Option<PathBuf>,
    /// flex, ndarray, wgpu, cuda (those compiled in).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Records per optimizer update (default: the preset's).
    #[arg(long)]
    batch: Option<usize>,
    /// Records per forward/backward pass; the batch is accumulated from these.
    #[arg(long)]
    micro_batch: Option<usize>,
    /// Peak learning rate (default: the preset's; a plan phase's `lr` overrides it).
    #[arg(long)]
    lr: Option<f64>,
    /// Updates per phase.
    #[arg(long, conflicts_with = "epochs")]
    steps: Option<u64>,
    /// Passes over each phase's records (default 1).
    #[arg(long)]
    epochs: Option<u64>,
    /// The run directory.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint (pass the same options).
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Checkpoint every K updates (0: only at the end of each phase).
    #[arg(long, default_value_t = 500)]
    save_every: u64,
    /// Checkpoints kept on disk, the newest ones (besides those of --keep-steps/--keep-every).
    #[arg(long, default_value_t = 2)]
    keep_checkpoints: usize,
    /// Keep the checkpoints of these global updates for good (comma-separated, e.g. 100,250):
    /// written whatever --save-every says, never pruned. May change on --resume.
    #[arg(long, value_delimiter = ',', conflicts_with = "keep_every")]
    keep_steps: Vec<u64>,
    /// Keep the checkpoint of every N-th update for good (N, 2N, …), e.g. for gradient
    /// analysis across training. May change on --resume.
    #[arg(long)]
    keep_every: Option<u64>,
    /// Write a metrics line every N updates.
    #[arg(long, default_value_t = 10)]
    log_every: u64,
    /// Length bucketing: records sorted by length within windows of this many global batches
    /// (0: batches drawn in plain shuffled order; default 16).
    #[arg(long)]
    bucket_batches: Option<usize>,
    /// Clip the global gradient norm.
    #[arg(long)]
    clip_grad: Option<f64>,
    /// word, bpe or compact (word-level with recurring sentences as single tokens).
    #[arg(long, default_value = "bpe")]
    tokenizer: String,
    /// BPE vocabulary size.
    #[arg(long, default_value_t = 1024)]
    vocab: usize,
    /// Override the preset's context length.
    #[arg(long)]
    max_seq_len: Option<usize>,
    /// Segment kinds in the loss (comma-separated): convert_prompt, converted_text, cot, answer.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Components trained with --data (comma-separated): vision, projector, lm. Default: all.
    #[arg(long, value_delimiter = ',')]
    train: Vec<String>,
    /// Teach the vision tower to read for this many updates before the first phase (on the
    /// run's training images; RUN/reading.json says how well it reads). Freeze it afterwards
    /// with a plan's `train = ["projector", "lm"]` or --train projector,lm.
    #[arg(long)]
    reading_steps: Option<u64>,
    /// Distinct training images of the reading stage (default 6,000; a tenth held out).
    #[arg(long, requires = "reading_steps")]
    reading_images: Option<usize>,
    /// Stop after this many updates in total (with a checkpoint); --resume continues.
    #[arg(long)]
    stop_after: Option<u64>,
    /// Skip the check that plan data shares no instance with the evaluation sets.
    #[arg(long)]
    no_eval_check: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// A snake_case name of a serde enum (`cot`, `lm`, …).
fn parse_name<T: serde::de::DeserializeOwned>(what: &str, name: &str, expected: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(name.trim().to_string()))
        .map_err(|_| anyhow::anyhow!("unknown {what} `{name}`; expected one of: {expected}"))
}

fn config(cli: &Cli) -> Result<TrainConfig> {
    let mut config = TrainConfig::preset(&cli.preset)?;
    config.data = match (&cli.data, &cli.plan) {
        (Some(dir), None) => DataSource::Records { dir: dir.clone() },
        (None, Some(path)) => DataSource::Plan {
            plan: Plan::read(path)
                .with_context(|| format!("reading the plan {}", path.display()))?,
        },
        _ => bail!("give exactly one of --data DIR and --plan plan.toml"),
    };
    config.out = cli.out.clone();
    config.init_from = cli.init_from.clone();
    if let Some(b) = cli.batch {
        config.batch_size = b;
    }
    config.micro_batch_size = cli.micro_batch;
    if let Some(lr) = cli.lr {
        config.lr = lr;
    }
    config.duration = match (cli.steps, cli.epochs) {
        (Some(s), _) => Duration::Steps(s),
        (None, Some(e)) => Duration::Epochs(e),
        (None, None) => Duration::Epochs(1),
    };
    config.resume = cli.resume;
    config.seed = cli.seed;
    config.save_every = cli.save_every;
    config.keep_checkpoints = cli.keep_checkpoints;
    config.keep_steps = match (&cli.keep_steps[..], cli.keep_every) {
        ([], None) => None,
        ([], Some(n)) => Some(KeepSteps::Every(n)),
        (steps, _) => Some(KeepSteps::Steps(steps.to_vec())),
    };
    config.log_every = cli.log_every;
    if let Some(n) = cli.bucket_batches {
        config.bucket_batches = n;
    }
    config.clip_grad = cli.clip_grad;
    config.tokenizer = match cli.tokenizer.trim().to_ascii_lowercase().as_str() {
        "word" => TokenizerKind::WordLevel,
        "bpe" => TokenizerKind::Bpe {
            vocab_size: cli.vocab,
        },
        "compact" => TokenizerKind::Compact,
        other => bail!("unknown tokenizer `{other}`; expected word, bpe or compact"),
    };
    if let Some(path) = &cli.model_config {
        config.model = s2h_vlm::read_config(path)
            .with_context(|| format!("reading the model configuration {}", path.display()))?;
    }
    if let Some(n) = cli.max_seq_len {
        config.model.decoder.max_seq_len = n;
    }
    if !cli.targets.is_empty() {
        config.targets = cli
            .targets
            .iter()
            .map(|t| {
                parse_name::<SegmentKind>(
                    "segment kind",
                    t,
                    "convert_prompt, converted_text, cot, answer",
                )
            })
            .collect::<Result<_>>()?;
    }
    if !cli.train.is_empty() {
        if cli.plan.is_some() {
            bail!("--train applies to --data runs; a plan's phases say what they train");
        }
        config.trainable = Some(
            cli.train
                .iter()
                .map(|c| parse_name::<Component>("component", c, "vision, projector, lm"))
                .collect::<Result<_>>()?,
        );
    }
    config.reading = cli.reading_steps.map(|steps| {
        let stage = ReadingStage {
            steps,
            ..ReadingStage::default()
        };
        match cli.reading_images {
            Some(images) => ReadingStage { images, ..stage },
            None => stage,
        }
    });
    config.stop_after = cli.stop_after;
    config.check_eval_overlap = !cli.no_eval_check;
    config.progress = !cli.quiet;
    config.validate()?;
    Ok(config)
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let backend: BackendKind = cli.backend.parse()?;
    let config = config(&cli)?;
    let summary = s2h_train::train_on(backend, &config)?;
    let curve: Vec<String> = summary
        .loss_curve
        .iter()
        .step_by((summary.loss_curve.len() / 10).max(1))
        .map(|(s, l)| format!("{s}:{l:.3}"))
        .collect();
    println!(
        "{} of {} updates, final loss {}, {:.1} s, {:.0} tokens/s",
        summary.steps,
        summary.total_steps,
        summary
            .final_loss
            .map_or("-".to_string(), |l| format!("{l:.4}")),
        summary.wall_time_s,
        summary.tokens_per_s
    );
    println!("loss curve (step:loss): {}", curve.join(" "));
    match &summary.model_dir {
        Some(dir) => println!("model: {}", dir.display()),
        None => println!(
            "stopped early; continue with the same options plus --resume ({})",
            config.out.display()
        ),
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    s2h::cli::keep_freed_memory();
    s2h::cli::restore_sigpipe();
    s2h::cli::exit_code(run())
}
