//! Seconds per example of the analysis's two costly parts, to plan an analysis run: a
//! per-example gradient (one forward and one backward of a batch of one, flattened over the
//! parameter subset) and its random projection to k dimensions.
//!
//! cargo run --release -p s2h-analysis --example bench_analysis -- [--preset small] \
//!     [--tokens 512] [--examples 8] [--project 4096] [--params all] [--backend flex]
//!
//! The records are synthetic (random token ids around the preset's image tokens, a random
//! image): the cost depends on the lengths and the model, not on the text.

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use s2h_analysis::grads::{Example, GradientSource, VlmGradients};
use s2h_analysis::params::select;
use s2h_analysis::projection::{ProjectionKind, Projector};
use s2h_analysis::{FlatGrad, ParamSet};
use s2h_train::EncodedRecord;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{BackendKind, BackendTask, VlmConfig, special};

#[derive(Parser, Debug, Clone)]
struct Args {
    #[arg(long, default_value = "small")]
    preset: String,
    /// Tokens per record (image tokens included); the loss covers the text after the image.
    #[arg(long, default_value_t = 512)]
    tokens: usize,
    #[arg(long, default_value_t = 8)]
    examples: usize,
    /// Projection dimension (0: skip the projection).
    #[arg(long, default_value_t = 4096)]
    project: usize,
    #[arg(long, default_value = "all")]
    params: String,
    #[arg(long, default_value = "flex")]
    backend: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let backend: BackendKind = args.backend.parse()?;
    s2h_vlm::run_on(backend, Bench(args))?
}

struct Bench(Args);

impl BackendTask for Bench {
    type Output = Result<()>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let args = self.0;
        let config = VlmConfig::preset(&args.preset)?;
        let model = config.init_seeded::<B>(0, &device)?;
        let (model, params) = select(model, &args.params.parse::<ParamSet>()?)?;
        let n_params: usize = params.iter().map(|p| p.numel()).sum();
        let examples = synthetic(&config, args.tokens, args.examples);
        println!(
            "{} preset, {} parameters in `{}`, {} tokens per record ({} image tokens), {} examples, backend {}",
            args.preset,
            n_params,
            args.params,
            args.tokens,
            config.n_image_tokens(),
            args.examples,
            args.backend
        );
        let mut source = VlmGradients {
            model: &model,
            params: &params,
            examples: &examples,
        };
        // One warm-up example: allocation and kernel set-up are not what a long analysis pays.
        source.gradient(0)?.to_host()?;
        let started = Instant::now();
        let mut host: Vec<Vec<Vec<f32>>> = Vec::new();
        for i in 0..examples.len() {
            let g: FlatGrad<B::InnerBackend> = source.gradient(i)?;
            // Reading back is part of the cost (the projection runs on the host).
            host.push(g.to_host()?);
        }
        let per_gradient = started.elapsed().as_secs_f64() / examples.len() as f64;
        println!("per-example gradient: {per_gradient:.3} s/example");
        if args.project > 0 {
            let projector = Projector::new(args.project, 0, ProjectionKind::Rademacher)?;
            let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            let started = Instant::now();
            let rows = projector.project_parts(&names, &host)?;
            let per_projection = started.elapsed().as_secs_f64() / rows.len() as f64;
            println!(
                "projection to k = {}: {per_projection:.3} s/example (batches of {})",
                args.project,
                rows.len()
            );
        }
        Ok(())
    }
}

/// Records of `tokens` tokens: template, the image tokens, then text that is all in the loss.
fn synthetic(config: &VlmConfig, tokens: usize, n: usize) -> Vec<Example> {
    let n_image = config.n_image_tokens();
    let size = config.image_size();
    let vocab = config.decoder.vocab_size as u64;
    let mut state = 7u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    (0..n)
        .map(|i| {
            let mut ids = vec![special::BOS_ID, special::USER_ID];
            ids.extend(std::iter::repeat_n(special::IMAGE_ID, n_image));
            ids.push(special::ASSISTANT_ID);
            let prompt_len = ids.len();
            while ids.len() < tokens.max(prompt_len + 2) {
                // Ordinary tokens: above the specials.
                ids.push((16 + next() % (vocab - 16)) as u32);
            }
            let loss_mask: Vec<bool> = (0..ids.len()).map(|t| t >= prompt_len).collect();
            let image = (size > 0).then(|| (0..3 * size * size).map(|_| next() as u8).collect());
            Example {
                encoded: EncodedRecord {
                    id: format!("synthetic-{i}"),
                    segments: vec![None; ids.len()],
                    input_ids: ids,
                    loss_mask,
                    prompt_len,
                    image: None,
                },
                image,
            }
        })
        .collect()
}
