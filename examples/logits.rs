//! The logits a model gives a sequence of token ids, as JSON, so a checkpoint can be checked
//! against any other implementation (PyTorch, transformers) number by number.
//!
//! cargo run --release --example logits -- --model DIR --ids 1,17,42 [--backend flex]
//!
//! `DIR` is a model directory in s2h's layout (a training run's `model/`) or a Hugging Face
//! checkpoint (Llama, Qwen2 or LLaVA: `config.json`, `model.safetensors` or its shards). Prints
//! one JSON object `{"logits": [[…], …]}`: one row of vocabulary size per input id, f32, each
//! row the logits after reading the ids up to and including its own (no images).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{BackendKind, BackendTask, run_on};

#[derive(Parser, Debug)]
#[command(about = "Print a model's logits for a sequence of token ids, as JSON")]
struct Args {
    /// Model directory: s2h's layout or a Hugging Face checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// Token ids, comma-separated (e.g. 1,17,42).
    #[arg(long, value_delimiter = ',', required = true)]
    ids: Vec<u32>,
    /// Burn backend: flex, ndarray, wgpu or cuda (the last two when compiled in).
    #[arg(long, default_value = "flex")]
    backend: String,
}

fn main() -> std::process::ExitCode {
    s2h::cli::restore_sigpipe();
    s2h::cli::exit_code(run(Args::parse()))
}

struct Logits {
    model: PathBuf,
    ids: Vec<u32>,
}

impl BackendTask for Logits {
    type Output = Result<Vec<Vec<f32>>>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        // Inference only: the inner backend, no autodiff graph.
        let (config, model) = s2h_vlm::load_weights::<B::InnerBackend>(&self.model, &device)
            .with_context(|| format!("loading {}", self.model.display()))?;
        let vocab = config.decoder.vocab_size;
        if let Some(bad) = self.ids.iter().find(|&&id| id as usize >= vocab) {
            bail!("--ids: id {bad} is outside the model's vocabulary of {vocab}");
        }
        if self.ids.len() > model.max_seq_len() {
            bail!(
                "--ids: {} ids do not fit the model's context of {}",
                self.ids.len(),
                model.max_seq_len()
            );
        }
        let n = self.ids.len();
        let ids: Vec<i64> = self.ids.iter().map(|&i| i64::from(i)).collect();
        let input =
            Tensor::<B::InnerBackend, 2, Int>::from_data(TensorData::new(ids, [1, n]), &device);
        let values = model
            .forward(input, None)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading the logits: {e:?}"))?;
        Ok(values.chunks(vocab).map(<[f32]>::to_vec).collect())
    }
}

fn run(args: Args) -> Result<()> {
    let backend: BackendKind = args.backend.parse()?;
    if args.ids.is_empty() {
        bail!("--ids: give at least one token id");
    }
    let rows = run_on(
        backend,
        Logits {
            model: args.model,
            ids: args.ids,
        },
    )??;
    println!("{}", serde_json::json!({ "logits": rows }));
    Ok(())
}
