//! Generation: batched greedy decoding with the KV cache (SPEC §13), beside the model as in
//! llama-burn's `Llama::generate` and candle's `generation/`.
//!
//! Prompts of different lengths share a batch by left padding ([`crate::batch`]): row `r` is
//! prefixed with `pads[r]` `<pad>` tokens that no token attends to and that do not shift the
//! row's RoPE positions ([`crate::KvCache::with_left_padding`]), so every row decodes token for
//! token as it would alone. Each step feeds the batch's last tokens through the cache; a row stops at
//! `</s>` (not included in its output), at `max_new_tokens`, or when the context is full. The
//! batch runs until every row has stopped. Without the cache, every step recomputes the whole
//! sequence (the benchmark's baseline and the tests' oracle).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::{BatchRow, Padding, batch};
use crate::tokenizer::VlmTokenizer;
use crate::{Result, Vlm, VlmError};

/// One prompt to continue: the prefill token ids in the chat template, `<image>` placeholder
/// expanded (plus any pre-filled assistant text), and the image they hold `<image>` tokens for.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub id: String,
    pub input_ids: Vec<u32>,
    /// `[3, size, size]` bytes at the model's resolution (see [`crate::batch`]).
    pub image: Option<Vec<u8>>,
}

/// How to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// At most this many tokens per prompt (`</s>` included when it is generated).
    pub max_new_tokens: usize,
    /// Prompts decoded together.
    pub batch: usize,
    /// Use the KV cache (`false`: recompute the whole sequence at every step).
    pub use_cache: bool,
    /// Stop a row at `</s>` (`false`: always generate `max_new_tokens`, for benchmarks).
    pub stop_at_end_token: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 1024,
            batch: 8,
            use_cache: true,
            stop_at_end_token: true,
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model wrote `</s>`.
    EndToken,
    /// `max_new_tokens` were generated without `</s>`.
    MaxNewTokens,
    /// The model's context (`max_seq_len`) is full.
    Context,
}

/// What the model wrote for one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub id: String,
    /// Generated token ids, without the final `</s>`.
    pub tokens: Vec<u32>,
    /// `tokens` decoded (special tokens dropped).
    pub text: String,
    pub stop: StopReason,
}

impl Generation {
    /// Tokens the model generated, `</s>` included when it stopped there (the generation length
    /// of paper Figs 4 and 6).
    pub fn generated_tokens(&self) -> usize {
        self.tokens.len() + usize::from(self.stop == StopReason::EndToken)
    }
}

/// Greedy decoding of every prompt, `options.batch` at a time, in order; `tokenizer` turns the
/// generated ids into text.
///
/// Errors: a batch size or token budget of 0, a prompt longer than the model's context, an image
/// of the wrong size, and any failure of the model.
pub fn greedy<B: Backend>(
    model: &Vlm<B>,
    tokenizer: &VlmTokenizer,
    prompts: &[Prompt],
    options: &GenerateOptions,
) -> Result<Vec<Generation>> {
    greedy_with_progress(model, tokenizer, prompts, options, &mut |_| {})
}

/// [`greedy`], calling `progress(n)` after each batch with the number of prompts it finished.
pub fn greedy_with_progress<B: Backend>(
    model: &Vlm<B>,
    tokenizer: &VlmTokenizer,
    prompts: &[Prompt],
    options: &GenerateOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Generation>> {
    if options.batch == 0 || options.max_new_tokens == 0 {
        return Err(VlmError::InvalidOptions(
            "batch size and max new tokens must be at least 1".into(),
        ));
    }
    let max = model.max_seq_len();
    let plane = 3 * model.image_size * model.image_size;
    for p in prompts {
        if p.input_ids.len() > max {
            return Err(VlmError::PromptTooLong {
                id: p.id.clone(),
                len: p.input_ids.len(),
                max,
            });
        }
        if let Some(img) = &p.image
            && img.len() != plane
        {
            return Err(VlmError::InvalidOptions(format!(
                "prompt `{}`: image has {} values, the model takes {plane}",
                p.id,
                img.len()
            )));
        }
    }
    let mut out = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(options.batch) {
        out.extend(generate_batch(model, tokenizer, chunk, options)?);
        progress(chunk.len());
    }
    Ok(out)
}

/// Left-padded ids of `rows` (token rows of `prompts`), with the prompts' images when `images`.
fn left_padded<B: Backend>(
    model: &Vlm<B>,
    rows: &[Vec<u32>],
    prompts: &[Prompt],
    images: bool,
    device: &B::Device,
) -> Result<crate::batch::Batch<B>> {
    let rows: Vec<BatchRow<'_>> = rows
        .iter()
        .zip(prompts)
        .map(|(ids, p)| BatchRow {
            ids,
            loss_mask: None,
            image: p.image.as_deref().filter(|_| images),
        })
        .collect();
    batch(&rows, Padding::Left, model.image_size, device)
}

/// Greedy next token of each row from the logits of its last position.
fn next_tokens<B: Backend>(logits: Tensor<B, 3>) -> Vec<u32> {
    let [b, t, v] = logits.dims();
    let last = logits.slice([0..b, t - 1..t, 0..v]).reshape([b, v]);
    last.argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|x| x as u32)
        .collect()
}

fn generate_batch<B: Backend>(
    model: &Vlm<B>,
    tokenizer: &VlmTokenizer,
    prompts: &[Prompt],
    options: &GenerateOptions,
) -> Result<Vec<Generation>> {
    let device = model.device();
    let b = prompts.len();
    let rows: Vec<Vec<u32>> = prompts.iter().map(|p| p.input_ids.clone()).collect();
    let prompt_len = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut generated: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut stops: Vec<Option<StopReason>> = vec![None; b];

    let prefill = left_padded(model, &rows, prompts, true, &device)?;
    let images = prefill.images;
    let mut cache = model.new_padded_cache(prefill.pads);
    let mut logits = model.forward_cached(prefill.input_ids, images.clone(), &mut cache)?;
    for step in 0..options.max_new_tokens {
        let next = next_tokens(logits);
        for (r, &tok) in next.iter().enumerate() {
            if stops[r].is_some() {
                continue;
            }
            if tok == tokenizer.end_id() && options.stop_at_end_token {
                stops[r] = Some(StopReason::EndToken);
            } else {
                generated[r].push(tok);
            }
        }
        if stops.iter().all(Option::is_some) {
            break;
        }
        if step + 1 == options.max_new_tokens {
            break;
        }
        // Feeding this step's token fills slot `prompt_len + step` (0-based); the longest row
        // has no padding, so its length is the batch's.
        if prompt_len + step + 1 > model.max_seq_len() {
            for s in stops.iter_mut().filter(|s| s.is_none()) {
                *s = Some(StopReason::Context);
            }
            break;
        }
        // Finished rows keep being fed (their tokens are ignored): rows are independent, and a
        // fixed batch shape keeps the cache simple.
        logits = if options.use_cache {
            let last: Vec<i64> = next.iter().map(|&t| t as i64).collect();
            let step_ids = Tensor::from_data(TensorData::new(last, [b, 1]), &device);
            model.forward_cached(step_ids, None, &mut cache)?
        } else {
            // The oracle: the whole sequence from scratch, same padding, no reuse.
            let full: Vec<Vec<u32>> = rows
                .iter()
                .zip(&generated)
                .zip(&next)
                .map(|((p, g), &t)| {
                    let mut s = p.clone();
                    s.extend(g.iter().copied());
                    // Finished rows: pad with their last token so every row has the same length.
                    s.resize(p.len() + step + 1, t);
                    s
                })
                .collect();
            // The prefill's images again: the oracle recomputes tokens, not pixels.
            let batch = left_padded(model, &full, prompts, false, &device)?;
            let mut fresh = model.new_padded_cache(batch.pads);
            model.forward_cached(batch.input_ids, images.clone(), &mut fresh)?
        };
    }
    let mut out = Vec::with_capacity(b);
    for ((p, tokens), stop) in prompts.iter().zip(generated).zip(stops) {
        let text = tokenizer.decode(&tokens, true)?;
        out.push(Generation {
            id: p.id.clone(),
            tokens,
            text,
            stop: stop.unwrap_or(StopReason::MaxNewTokens),
        });
    }
    Ok(out)
}
