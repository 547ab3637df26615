//! Batched greedy decoding with the KV cache (SPEC §13).
//!
//! Prompts of different lengths share a batch by left padding: row `r` is prefixed with
//! `pads[r]` `<pad>` tokens that no token attends to and that do not shift the row's RoPE
//! positions ([`s2h_vlm::KvCache::with_left_padding`]), so every row decodes token for token as
//! it would alone. Each step feeds the batch's last tokens through the cache; a row stops at
//! `</s>` (not included in its output), at `max_new_tokens`, or when the context is full. The
//! batch runs until every row has stopped. Without the cache, every step recomputes the whole
//! sequence (the benchmark's baseline and the tests' oracle).

use burn::prelude::*;
use s2h_vlm::{Processor, Vlm, burn, special};
use serde::{Deserialize, Serialize};

use crate::{EvalError, Result};

/// One prompt to continue: the prefill token ids (as [`Processor::prompt_ids`] gives them, plus
/// any pre-filled assistant text) and the image they hold `<image>` tokens for.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub id: String,
    pub input_ids: Vec<u32>,
    /// `[3, size, size]` pixels from [`Processor::load_image`].
    pub image: Option<Vec<f32>>,
}

/// How to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// At most this many tokens per prompt (`</s>` included when it is generated).
    pub max_new_tokens: usize,
    /// Prompts decoded together.
    pub batch: usize,
    /// Use the KV cache (`false`: recompute the whole sequence at every step).
    pub use_cache: bool,
    /// Stop a row at `</s>` (`false`: always generate `max_new_tokens`, for benchmarks).
    pub stop_at_end_token: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
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

/// Greedy decoding of every prompt, `options.batch` at a time, in order.
///
/// Errors: a batch size or token budget of 0, a prompt longer than the model's context, an image
/// of the wrong size, and any failure of the model.
pub fn greedy<B: Backend>(
    model: &Vlm<B>,
    processor: &Processor,
    prompts: &[Prompt],
    options: &DecodeOptions,
) -> Result<Vec<Generation>> {
    greedy_with_progress(model, processor, prompts, options, &mut |_| {})
}

/// [`greedy`], calling `progress(n)` after each batch with the number of prompts it finished.
pub fn greedy_with_progress<B: Backend>(
    model: &Vlm<B>,
    processor: &Processor,
    prompts: &[Prompt],
    options: &DecodeOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Generation>> {
    if options.batch == 0 || options.max_new_tokens == 0 {
        return Err(EvalError::InvalidOptions(
            "batch size and max new tokens must be at least 1".into(),
        ));
    }
    let plane = 3 * processor.image_size * processor.image_size;
    for p in prompts {
        if p.input_ids.len() > processor.max_seq_len {
            return Err(EvalError::PromptTooLong {
                id: p.id.clone(),
                len: p.input_ids.len(),
                max: processor.max_seq_len,
            });
        }
        if let Some(img) = &p.image
            && img.len() != plane
        {
            return Err(EvalError::Model(format!(
                "prompt `{}`: image has {} values, the model takes {plane}",
                p.id,
                img.len()
            )));
        }
    }
    let mut out = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(options.batch) {
        out.extend(decode_batch(model, processor, chunk, options)?);
        progress(chunk.len());
    }
    Ok(out)
}

/// The device the model's weights live on.
fn model_device<B: Backend>(model: &Vlm<B>) -> B::Device {
    model.decoder.embed_tokens.weight.val().device()
}

fn model_err(e: s2h_vlm::VlmError) -> EvalError {
    EvalError::Model(e.to_string())
}

/// Left-padded ids `[b, len]` and the padding of each row.
fn left_padded<B: Backend>(
    rows: &[Vec<u32>],
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Vec<usize>) {
    let t = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(rows.len() * t);
    let mut pads = Vec::with_capacity(rows.len());
    for row in rows {
        let pad = t - row.len();
        pads.push(pad);
        ids.extend(std::iter::repeat_n(special::PAD_ID as i64, pad));
        ids.extend(row.iter().map(|&x| x as i64));
    }
    let ids = Tensor::from_data(TensorData::new(ids, [rows.len(), t]), device);
    (ids, pads)
}

/// `[b, 3, s, s]` when any prompt has an image (zeros for the others, which hold no `<image>`
/// token and so ignore theirs).
fn batch_images<B: Backend>(
    prompts: &[Prompt],
    processor: &Processor,
    device: &B::Device,
) -> Option<Tensor<B, 4>> {
    if prompts.iter().all(|p| p.image.is_none()) {
        return None;
    }
    let s = processor.image_size;
    let plane = 3 * s * s;
    let mut pixels = vec![0.0f32; prompts.len() * plane];
    for (row, p) in prompts.iter().enumerate() {
        if let Some(img) = &p.image {
            pixels[row * plane..(row + 1) * plane].copy_from_slice(img);
        }
    }
    Some(Tensor::from_data(
        TensorData::new(pixels, [prompts.len(), 3, s, s]),
        device,
    ))
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

fn decode_batch<B: Backend>(
    model: &Vlm<B>,
    processor: &Processor,
    prompts: &[Prompt],
    options: &DecodeOptions,
) -> Result<Vec<Generation>> {
    let device = model_device(model);
    let b = prompts.len();
    let images = batch_images::<B>(prompts, processor, &device);
    let rows: Vec<Vec<u32>> = prompts.iter().map(|p| p.input_ids.clone()).collect();
    let prompt_len = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut generated: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut stops: Vec<Option<StopReason>> = vec![None; b];

    let (ids, pads) = left_padded::<B>(&rows, &device);
    let mut cache = model.new_padded_cache(pads.clone());
    let mut logits = model
        .forward_cached(ids, images.clone(), &mut cache)
        .map_err(model_err)?;
    for step in 0..options.max_new_tokens {
        let next = next_tokens(logits);
        for (r, &tok) in next.iter().enumerate() {
            if stops[r].is_some() {
                continue;
            }
            if tok == special::EOS_ID && options.stop_at_end_token {
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
        if prompt_len + step + 1 > processor.max_seq_len {
            for s in stops.iter_mut().filter(|s| s.is_none()) {
                *s = Some(StopReason::Context);
            }
            break;
        }
        // Finished rows keep being fed (their tokens are ignored): rows are independent, and a
        // fixed batch shape keeps the cache simple.
        let last: Vec<i64> = next.iter().map(|&t| t as i64).collect();
        logits = if options.use_cache {
            let step_ids = Tensor::from_data(TensorData::new(last, [b, 1]), &device);
            model
                .forward_cached(step_ids, None, &mut cache)
                .map_err(model_err)?
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
            let (ids, pads) = left_padded::<B>(&full, &device);
            let mut fresh = model.new_padded_cache(pads);
            model
                .forward_cached(ids, images.clone(), &mut fresh)
                .map_err(model_err)?
        };
    }
    let mut out = Vec::with_capacity(b);
    for ((p, tokens), stop) in prompts.iter().zip(generated).zip(stops) {
        let text = processor
            .tokenizer
            .decode(&tokens, true)
            .map_err(model_err)?;
        out.push(Generation {
            id: p.id.clone(),
            tokens,
            text,
            stop: stop.unwrap_or(StopReason::MaxNewTokens),
        });
    }
    Ok(out)
}
