//! Greedy decoding speed with and without the KV cache on the CPU (flex backend), for a model
//! preset with random weights: tokens/s at each batch size and the cache/no-cache ratio.
//! `scripts/bench_decode_torch.py` runs the same shapes in PyTorch.
//!
//! cargo run --release -p s2h-vlm --example bench_decode -- --preset small --batch 1,16 \
//!     --prompt-len 64 --new-tokens 32
//!
//! Rows never stop at `</s>` here, so every run generates exactly batch × new-tokens tokens.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Parser;
use s2h_vlm::burn::backend::Flex;
use s2h_vlm::burn::prelude::Backend;
use s2h_vlm::generate::{GenerateOptions, Prompt, greedy};
use s2h_vlm::{TokenizerKind, VlmConfig, VlmTokenizer};

#[derive(Parser, Debug)]
#[command(about = "Decoding tokens/s with and without the KV cache (flex, CPU)")]
struct Args {
    #[arg(long, default_value = "small")]
    preset: String,
    /// Batch sizes, comma-separated.
    #[arg(long, default_value = "1,16", value_delimiter = ',')]
    batch: Vec<usize>,
    /// Prompt tokens per row.
    #[arg(long, default_value_t = 64)]
    prompt_len: usize,
    #[arg(long, default_value_t = 32)]
    new_tokens: usize,
    /// Skip the (slow) no-cache runs.
    #[arg(long)]
    cache_only: bool,
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
    type B = Flex;
    let config = VlmConfig::preset(&args.preset)?;
    if args.prompt_len + args.new_tokens > config.decoder.max_seq_len {
        bail!(
            "--prompt-len + --new-tokens exceed the {} preset's context of {}",
            args.preset,
            config.decoder.max_seq_len
        );
    }
    // Only the tokenizer's decode step needs a vocabulary; a tiny one does.
    let tokenizer = VlmTokenizer::build(TokenizerKind::WordLevel, &["a b c".to_string()], &[])?;
    let device = Default::default();
    B::seed(&device, 0);
    let model = config.init::<B>(&device)?;
    let d = &config.decoder;
    println!(
        "preset {} (d_model {}, layers {}, heads {}/{} kv, d_ff {}, vocab {}), prompt {} tokens, {} new tokens",
        args.preset,
        d.d_model,
        d.n_layers,
        d.n_heads,
        d.n_kv_heads,
        d.d_ff,
        d.vocab_size,
        args.prompt_len,
        args.new_tokens
    );
    for &batch in &args.batch {
        let prompts: Vec<Prompt> = (0..batch)
            .map(|r| Prompt {
                id: format!("p{r}"),
                // Ordinary token ids, never special ones.
                input_ids: (0..args.prompt_len)
                    .map(|i| 7 + ((i * 31 + r * 17) % (d.vocab_size - 7)) as u32)
                    .collect(),
                image: None,
            })
            .collect();
        let mut rates = Vec::new();
        for use_cache in [true, false] {
            if !use_cache && args.cache_only {
                continue;
            }
            let options = GenerateOptions {
                max_new_tokens: args.new_tokens,
                batch,
                use_cache,
                stop_at_end_token: false,
            };
            // One short warm-up (allocator, thread pool), then the timed run.
            greedy(
                &model,
                &tokenizer,
                &prompts,
                &GenerateOptions {
                    max_new_tokens: 2,
                    ..options
                },
            )?;
            let start = Instant::now();
            let out = greedy(&model, &tokenizer, &prompts, &options)?;
            let secs = start.elapsed().as_secs_f64();
            let tokens: usize = out.iter().map(|g| g.tokens.len()).sum();
            let rate = tokens as f64 / secs;
            println!(
                "batch {batch:>3}  {:<8}  {tokens:>5} tokens in {secs:>7.2} s  {rate:>9.1} tokens/s",
                if use_cache { "cache" } else { "no-cache" }
            );
            rates.push(rate);
        }
        if let [cached, uncached] = rates.as_slice() {
            println!(
                "batch {batch:>3}  cache/no-cache speed-up {:.2}x",
                cached / uncached
            );
        }
    }
    Ok(())
}
