//! The Llama-style language model: token embedding, pre-norm blocks of (RMSNorm, causal
//! attention with RoPE and optional GQA) and (RMSNorm, SwiGLU MLP), final RMSNorm, LM head; and,
//! for a model trained from scratch, optional learned absolute positions added to the inputs.

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;

use crate::attention::{Attention, AttentionConfig, causal_mask, padded_causal_mask};
use crate::config::DecoderConfig;
use crate::kv_cache::KvCache;
use crate::linear::forward as linear;
use crate::rope::{Heads, Rope, RopeTables};
use crate::{Result, VlmError};

/// `down(silu(gate(x)) * up(x))`.
#[derive(Module, Debug)]
pub struct SwiGluMlp<B: Backend> {
    pub gate_proj: Linear<B>,
    pub up_proj: Linear<B>,
    pub down_proj: Linear<B>,
}

impl<B: Backend> SwiGluMlp<B> {
    pub fn new(d_model: usize, d_ff: usize, device: &B::Device) -> Self {
        let lin = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        SwiGluMlp {
            gate_proj: lin(d_model, d_ff),
            up_proj: lin(d_model, d_ff),
            down_proj: lin(d_ff, d_model),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gated =
            crate::fused::swiglu(linear(&self.gate_proj, x.clone()), linear(&self.up_proj, x));
        linear(&self.down_proj, gated)
    }
}

#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub input_norm: RmsNorm<B>,
    pub attn: Attention<B>,
    pub post_attn_norm: RmsNorm<B>,
    pub mlp: SwiGluMlp<B>,
}

#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    pub embed_tokens: Embedding<B>,
    /// Learned absolute position embeddings `[max_seq_len, d_model]`, added to the inputs of
    /// the first layer (`DecoderConfig::absolute_positions`).
    pub embed_positions: Option<Embedding<B>>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
    /// The output layer; `None` when it is tied to the token embeddings.
    pub lm_head: Option<Linear<B>>,
    #[module(skip)]
    pub rope: Rope,
    pub max_seq_len: usize,
}

impl DecoderConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Decoder<B> {
        let norm = || {
            RmsNormConfig::new(self.d_model)
                .with_epsilon(self.norm_eps)
                .init(device)
        };
        let layers = (0..self.n_layers)
            .map(|_| DecoderLayer {
                input_norm: norm(),
                attn: AttentionConfig::new(self.d_model, self.n_heads, self.n_kv_heads)
                    .with_qkv_bias(self.qkv_bias)
                    .with_head_dim(Some(self.head_dim()))
                    .init(device),
                post_attn_norm: norm(),
                mlp: SwiGluMlp::new(self.d_model, self.d_ff, device),
            })
            .collect();
        Decoder {
            embed_tokens: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            embed_positions: self
                .absolute_positions
                .then(|| EmbeddingConfig::new(self.max_seq_len, self.d_model).init(device)),
            layers,
            norm: norm(),
            lm_head: (!self.tie_word_embeddings).then(|| {
                LinearConfig::new(self.d_model, self.vocab_size)
                    .with_bias(false)
                    .init(device)
            }),
            rope: Rope {
                head_dim: self.head_dim(),
                theta: self.rope_theta,
                scaling: self.rope_scaling,
            },
            max_seq_len: self.max_seq_len,
        }
    }
}

impl<B: Backend> Decoder<B> {
    /// The query and key heads of the attention layers (the rotary tables are laid out for
    /// them).
    fn heads(&self) -> Heads {
        self.layers
            .first()
            .map_or(Heads { query: 1, key: 1 }, |layer| Heads {
                query: layer.attn.n_heads,
                key: layer.attn.n_kv_heads,
            })
    }

    /// Token embeddings `[batch, len, d_model]`.
    pub fn embed(&self, input_ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.embed_tokens.forward(input_ids)
    }

    /// `embeds` plus the learned absolute position embeddings of positions `start..start + t`
    /// (every row alike), or of `positions` (`[batch · t]`, row-major) when given; `embeds`
    /// unchanged when the decoder has none. Positions past the table (`max_seq_len`) take its
    /// last row: the callers refuse longer sequences first (training's `RecordTooLong`,
    /// generation's context check, [`Self::forward_cached`]).
    fn add_positions(
        &self,
        embeds: Tensor<B, 3>,
        start: usize,
        positions: Option<&[usize]>,
    ) -> Tensor<B, 3> {
        let Some(table) = &self.embed_positions else {
            return embeds;
        };
        let [b, t, _] = embeds.dims();
        let last = self.max_seq_len.saturating_sub(1);
        let clamp = |p: usize| p.min(last) as i64;
        let (ids, rows): (Vec<i64>, usize) = match positions {
            Some(p) => (p.iter().map(|&p| clamp(p)).collect(), b),
            None => ((start..start + t).map(clamp).collect(), 1),
        };
        let ids =
            Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [rows * t]), &embeds.device());
        embeds + table.forward(ids.reshape([rows, t]))
    }

    /// Logits `[batch, len, vocab]` of a whole sequence of embeddings (positions from 0).
    pub fn forward_embeds(&self, embeds: Tensor<B, 3>) -> Tensor<B, 3> {
        let [_, t, _] = embeds.dims();
        let device = embeds.device();
        let rope = RopeTables::new(&self.rope, self.heads(), 0, t, &device);
        let mask = causal_mask::<B>(t, 0, &device);
        let mut h = self.add_positions(embeds, 0, None);
        for layer in &self.layers {
            h = layer.forward(h, &rope, mask.clone(), None);
        }
        self.logits(h)
    }

    /// The first layer's input (the embeddings, plus the absolute positions when the decoder
    /// has them) and the output of every layer, `[batch, len, d_model]` each, before the final
    /// norm (positions from 0).
    pub fn hidden_states(&self, embeds: Tensor<B, 3>) -> Vec<Tensor<B, 3>> {
        let [_, t, _] = embeds.dims();
        let device = embeds.device();
        let rope = RopeTables::new(&self.rope, self.heads(), 0, t, &device);
        let mask = causal_mask::<B>(t, 0, &device);
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        states.push(self.add_positions(embeds, 0, None));
        for layer in &self.layers {
            let h = states[states.len() - 1].clone();
            states.push(layer.forward(h, &rope, mask.clone(), None));
        }
        states
    }

    /// Logits of the last layer's output: final norm, then the output layer (or the transposed
    /// token embeddings when tied).
    pub fn logits(&self, h: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = rms_norm(&self.norm, h);
        match &self.lm_head {
            Some(head) => linear(head, h),
            None => {
                let [b, t, d] = h.dims();
                let table = self.embed_tokens.weight.val();
                let v = table.dims()[0];
                h.reshape([b * t, d])
                    .matmul(table.transpose())
                    .reshape([b, t, v])
            }
        }
    }

    /// Logits of `embeds`, which continue the sequence held in `cache`; the cache grows by their
    /// length. Fails if the context would overflow.
    pub fn forward_cached(
        &self,
        embeds: Tensor<B, 3>,
        cache: &mut KvCache<B>,
    ) -> Result<Tensor<B, 3>> {
        let [b, t, _] = embeds.dims();
        let past = cache.len();
        if past + t > self.max_seq_len {
            return Err(VlmError::InvalidConfig(format!(
                "decoding past the context: {past} cached + {t} new tokens > max_seq_len {}",
                self.max_seq_len
            )));
        }
        if cache.layers.len() != self.layers.len() {
            return Err(VlmError::InvalidConfig(format!(
                "KV cache made for {} layers used with a decoder of {}",
                cache.layers.len(),
                self.layers.len()
            )));
        }
        let device = embeds.device();
        let (rope, mask, mut h) = match cache.pads() {
            None => (
                RopeTables::new(&self.rope, self.heads(), past, t, &device),
                // A single new token may attend to everything cached: no mask needed.
                (t > 1).then(|| causal_mask::<B>(t, past, &device)),
                self.add_positions(embeds, past, None),
            ),
            Some(pads) => {
                if pads.len() != b {
                    return Err(VlmError::InvalidConfig(format!(
                        "KV cache padded for {} rows used with a batch of {b}",
                        pads.len()
                    )));
                }
                // Real tokens of row r sit at slots pads[r].. and take positions 0..; the
                // padding's positions do not matter (nothing attends to it) and are clamped to 0.
                let positions: Vec<usize> = pads
                    .iter()
                    .flat_map(|&pad| (past..past + t).map(move |slot| slot.saturating_sub(pad)))
                    .collect();
                (
                    RopeTables::from_positions(&self.rope, self.heads(), &positions, b, &device),
                    Some(padded_causal_mask::<B>(t, past, pads, &device)),
                    self.add_positions(embeds, past, Some(&positions)),
                )
            }
        };
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            h = layer.forward_with(h, &rope, mask.clone(), Some(slot));
        }
        cache.advance(t);
        Ok(self.logits(h))
    }

    /// An empty cache sized for this decoder.
    pub fn new_cache(&self) -> KvCache<B> {
        KvCache::new(self.layers.len())
    }

    /// An empty cache for a left-padded batch ([`KvCache::with_left_padding`]).
    pub fn new_padded_cache(&self, pads: Vec<usize>) -> KvCache<B> {
        KvCache::with_left_padding(self.layers.len(), pads)
    }
}

/// `norm` applied to `x` as one autodiff op ([`crate::fused::rms_norm`]).
fn rms_norm<B: Backend>(norm: &RmsNorm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    crate::fused::rms_norm(x, norm.gamma.val(), norm.epsilon)
}

impl<B: Backend> DecoderLayer<B> {
    fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &RopeTables<B>,
        mask: Tensor<B, 3>,
        cache: Option<&mut Option<crate::kv_cache::LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        self.forward_with(x, rope, Some(mask), cache)
    }

    fn forward_with(
        &self,
        x: Tensor<B, 3>,
        rope: &RopeTables<B>,
        mask: Option<Tensor<B, 3>>,
        cache: Option<&mut Option<crate::kv_cache::LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        let h = x.clone()
            + self
                .attn
                .forward(rms_norm(&self.input_norm, x), Some(rope), mask, cache);
        h.clone() + self.mlp.forward(rms_norm(&self.post_attn_norm, h))
    }
}
