//! Multi-head self-attention with optional grouped-query heads, optional RoPE, an optional mask
//! and optional KV cache. The decoder uses it causally with RoPE; the ViT bidirectionally
//! without.
//!
//! A mask is an additive bias on the attention scores (0 where a query may attend to a key, −∞
//! where it may not), made once per forward pass and shared by every layer and head. Adding it
//! costs one pass over the scores and nothing in the backward pass (the softmax already gives
//! masked keys zero gradient), where filling a boolean mask cost a pass each way.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::kv_cache::LayerCache;
use crate::rope::RopeTables;

#[derive(Config, Debug)]
pub struct AttentionConfig {
    pub d_model: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    /// Biases on the query, key and value projections.
    #[config(default = false)]
    pub qkv_bias: bool,
    /// A bias on the output projection.
    #[config(default = false)]
    pub o_bias: bool,
    /// Width of a head; `d_model / n_heads` when unset.
    #[config(default = "None")]
    pub head_dim: Option<usize>,
}

impl AttentionConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Attention<B> {
        let head_dim = self.head_dim.unwrap_or(self.d_model / self.n_heads);
        let lin = |i, o, bias| LinearConfig::new(i, o).with_bias(bias).init(device);
        Attention {
            q_proj: lin(self.d_model, self.n_heads * head_dim, self.qkv_bias),
            k_proj: lin(self.d_model, self.n_kv_heads * head_dim, self.qkv_bias),
            v_proj: lin(self.d_model, self.n_kv_heads * head_dim, self.qkv_bias),
            o_proj: lin(self.n_heads * head_dim, self.d_model, self.o_bias),
            n_heads: self.n_heads,
            n_kv_heads: self.n_kv_heads,
            head_dim,
        }
    }
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub o_proj: Linear<B>,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

/// The additive bias of a mask: 0 where `masked` is false, −∞ where it is true.
fn bias(masked: bool) -> f32 {
    if masked { f32::NEG_INFINITY } else { 0.0 }
}

/// `[1, len, past + len]`, −∞ where key position `j` lies after query position `past + i`
/// (one mask shared by every batch row).
pub fn causal_mask<B: Backend>(len: usize, past: usize, device: &B::Device) -> Tensor<B, 3> {
    let total = past + len;
    let data: Vec<f32> = (0..len)
        .flat_map(|i| (0..total).map(move |j| bias(j > past + i)))
        .collect();
    Tensor::from_data(TensorData::new(data, [1, len, total]), device)
}

/// `[batch, len, past + len]` for left-padded rows: row `r` starts with `pads[r]` padding tokens.
/// Besides the causal rule, no query may attend to a padding key — except a padding query to
/// itself: a row with every key masked would give a softmax of NaN, and that NaN would reach
/// real tokens through the padding's values (`0 × NaN` is NaN).
pub fn padded_causal_mask<B: Backend>(
    len: usize,
    past: usize,
    pads: &[usize],
    device: &B::Device,
) -> Tensor<B, 3> {
    let total = past + len;
    let data: Vec<f32> = pads
        .iter()
        .flat_map(|&pad| {
            (0..len).flat_map(move |i| {
                let q = past + i;
                (0..total).map(move |j| bias(j > q || (j < pad && j != q)))
            })
        })
        .collect();
    Tensor::from_data(TensorData::new(data, [pads.len(), len, total]), device)
}

impl<B: Backend> Attention<B> {
    /// `x`: `[batch, len, d_model]`. `mask`: `[1 | batch, len, keys]`, an additive bias (−∞ =
    /// may not attend; one mask for all rows, or one per row for left-padded batches).
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: Option<&RopeTables<B>>,
        mask: Option<Tensor<B, 3>>,
        cache: Option<&mut Option<LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        let [b, t, _] = x.dims();
        // `[b, t, heads, d]` as the projections make them; heads move in front of positions
        // (`[b, heads, t, d]`) as views, which the matrix products read without a copy.
        let split = |y: Tensor<B, 3>, n: usize| y.reshape([b, t, n, self.head_dim]);
        let q = split(
            crate::linear::forward(&self.q_proj, x.clone()),
            self.n_heads,
        );
        let k = split(
            crate::linear::forward(&self.k_proj, x.clone()),
            self.n_kv_heads,
        );
        let v = split(crate::linear::forward(&self.v_proj, x), self.n_kv_heads);
        let (q, k) = match rope {
            // The query tables include the 1/√d scale.
            Some(rope) => (rope.apply_query(q), rope.apply_key(k)),
            // Scaled before the product: the queries are smaller than the scores they make.
            None => (q.mul_scalar(1.0 / (self.head_dim as f64).sqrt()), k),
        };
        // One fused op where the backend has it: `fused::attention` in training (no cache),
        // `fused::cached_attention` at inference; the plain ops below otherwise.
        let (q, k, v, mask) = match cache {
            None => match crate::fused::attention(q, k, v, mask) {
                Ok(out) => return crate::linear::forward(&self.o_proj, out),
                Err((q, k, v, mask)) => (q, k.swap_dims(1, 2), v.swap_dims(1, 2), mask),
            },
            Some(slot) => {
                let (k, v) = LayerCache::append(slot, k.swap_dims(1, 2), v.swap_dims(1, 2));
                match crate::fused::cached_attention(q, k, v, mask) {
                    Ok(out) => return crate::linear::forward(&self.o_proj, out),
                    Err(inputs) => inputs,
                }
            }
        };
        let q = q.swap_dims(1, 2);
        let (kv, d) = (self.n_kv_heads, self.head_dim);
        let rep = self.n_heads / kv;
        let s = k.dims()[2];
        // Query head `g·rep + r` shares key/value head `g`: the queries of a group are stacked as
        // `[b, kv, rep·t, d]` rows so each group's keys and values serve all of them in one
        // product, never copied per query head (a copy of the whole KV cache at every decoding
        // step otherwise).
        let q = regroup(q, [b, kv, rep * t, d]);
        let mut scores = q
            .matmul(k.swap_dims(2, 3))
            .reshape([b, self.n_heads, t * s]);
        if let Some(mask) = mask {
            // Flat `[rows, 1, t·s]`: a shared mask is then one row broadcast over batch and
            // heads, which the CPU backend adds in place.
            let rows = mask.dims()[0];
            scores = scores + mask.reshape([rows, 1, t * s]);
        }
        let weights = crate::fused::softmax_last(scores.reshape([b * self.n_heads, t, s]))
            .reshape([b, kv, rep * t, s]);
        let out = regroup(weights.matmul(v), [b, self.n_heads, t, d])
            .swap_dims(1, 2)
            .reshape([b, t, self.n_heads * d]);
        crate::linear::forward(&self.o_proj, out)
    }
}

/// `x` reshaped to `dims`, or `x` itself when it has them: Burn's CPU backend copies a strided
/// tensor on any reshape, even to its own shape (the grouped-query reshapes are identities without
/// grouping, and their backward passes see transposed gradients).
fn regroup<B: Backend>(x: Tensor<B, 4>, dims: [usize; 4]) -> Tensor<B, 4> {
    if x.dims() == dims { x } else { x.reshape(dims) }
}
