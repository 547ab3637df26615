//! Rotary position embedding in the Hugging Face (Llama) convention: the head dimension is split
//! in halves and rotated as `x * cos + rotate_half(x) * sin`. Burn's `RotaryEncoding` rotates
//! interleaved pairs instead; this convention lets Llama/Qwen2 checkpoints load without permuting
//! the q/k weights.

use burn::prelude::*;

use crate::config::RopeScaling;

/// The rotary frequencies of a decoder: base θ, head width and an optional rescaling.
#[derive(Debug, Clone, PartialEq)]
pub struct Rope {
    pub head_dim: usize,
    pub theta: f32,
    pub scaling: Option<RopeScaling>,
}

impl Rope {
    /// `inv_freq[i] = θ^(−2i/d)` for `i < d/2`, rescaled as Llama-3.1 does when asked: long
    /// wavelengths (beyond `original / low_freq_factor`) divided by `factor`, short ones (below
    /// `original / high_freq_factor`) kept, the band between interpolated smoothly (Hugging Face's
    /// `_compute_llama3_parameters`).
    pub fn inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim;
        let base: Vec<f64> = (0..d / 2)
            .map(|i| (self.theta as f64).powf(-(2.0 * i as f64) / d as f64))
            .collect();
        let Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) = self.scaling
        else {
            return base;
        };
        let original = original_max_position_embeddings as f64;
        let low_wavelen = original / low_freq_factor;
        let high_wavelen = original / high_freq_factor;
        base.into_iter()
            .map(|f| {
                let wavelen = 2.0 * std::f64::consts::PI / f;
                if wavelen < high_wavelen {
                    f
                } else if wavelen > low_wavelen {
                    f / factor
                } else {
                    let smooth = (original / wavelen - low_freq_factor)
                        / (high_freq_factor - low_freq_factor);
                    (1.0 - smooth) * f / factor + smooth * f
                }
            })
            .collect()
    }
}

/// The cos/sin tables of one forward pass, laid out for the attention's query and key heads.
///
/// A rotation is applied to queries and keys as the projections make them, `[batch, len, heads,
/// head_dim]` (before heads are moved in front of positions), viewed flat as `[batch, len · heads
/// · head_dim]`. The tables are repeated over the heads and flat the same way, `[rows, len · heads
/// · head_dim]`: `rows` is 1 when every batch row shares the positions (training, unpadded
/// decoding) — then one table row is broadcast over the batch, the CPU backend's fast path — or
/// the batch size when each row has its own (left-padded batched decoding), a plain element-wise
/// product. Broadcasting a `[len, head_dim]` table over heads in the middle instead made the CPU
/// backend copy every rotated tensor and walk it with a strided iterator (a fifth of a small
/// model's training step).
///
/// The query tables carry the attention's `1/√head_dim` too, so scaling the queries costs nothing.
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    query: [Tensor<B, 2>; 2],
    key: [Tensor<B, 2>; 2],
    /// `[1, head_dim, head_dim]`: `x · rotate_half = [−x₂, x₁]`. A product with this signed
    /// permutation is exact (one ±1 per column) and runs as one matrix product forward and
    /// backward, where slicing, negating and concatenating the halves cost five copies.
    rotate_half: Tensor<B, 3>,
}

/// How many query and key heads the tables are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    pub query: usize,
    pub key: usize,
}

impl<B: Backend> RopeTables<B> {
    /// Tables for positions `start..start + len`, shared by every row.
    pub fn new(rope: &Rope, heads: Heads, start: usize, len: usize, device: &B::Device) -> Self {
        let positions: Vec<usize> = (start..start + len).collect();
        Self::from_positions(rope, heads, &positions, 1, device)
    }

    /// Tables for explicit positions, `rows × len` of them row-major (one row of positions per
    /// batch row). Left-padded rows use this so their real tokens get the positions they would
    /// have alone.
    pub fn from_positions(
        rope: &Rope,
        heads: Heads,
        positions: &[usize],
        rows: usize,
        device: &B::Device,
    ) -> Self {
        let head_dim = rope.head_dim;
        let inv_freq = rope.inv_freq();
        let rows = rows.max(1);
        let table = |n_heads: usize, scale: f64, f: fn(f64) -> f64| {
            let mut data = Vec::with_capacity(positions.len() * n_heads * head_dim);
            for &pos in positions {
                let angles: Vec<f32> = inv_freq
                    .iter()
                    .map(|freq| (f(pos as f64 * freq) * scale) as f32)
                    .collect();
                for _ in 0..n_heads * 2 {
                    data.extend_from_slice(&angles);
                }
            }
            let width = data.len() / rows;
            Tensor::from_data(TensorData::new(data, [rows, width]), device)
        };
        let q_scale = 1.0 / (head_dim as f64).sqrt();
        let half = head_dim / 2;
        let mut rotate_half = vec![0f32; head_dim * head_dim];
        for j in 0..half {
            rotate_half[(j + half) * head_dim + j] = -1.0;
            rotate_half[j * head_dim + j + half] = 1.0;
        }
        RopeTables {
            query: [
                table(heads.query, q_scale, f64::cos),
                table(heads.query, q_scale, f64::sin),
            ],
            key: [
                table(heads.key, 1.0, f64::cos),
                table(heads.key, 1.0, f64::sin),
            ],
            rotate_half: Tensor::from_data(
                TensorData::new(rotate_half, [1, head_dim, head_dim]),
                device,
            ),
        }
    }

    /// Rotate queries `[batch, len, heads, head_dim]` and scale them by `1/√head_dim`.
    pub fn apply_query(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.rotate(x, &self.query)
    }

    /// Rotate keys `[batch, len, kv_heads, head_dim]`.
    pub fn apply_key(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.rotate(x, &self.key)
    }

    /// `x · cos + rotate_half(x) · sin`.
    fn rotate(&self, x: Tensor<B, 4>, [cos, sin]: &[Tensor<B, 2>; 2]) -> Tensor<B, 4> {
        let [b, t, h, d] = x.dims();
        let rotated = x
            .clone()
            .reshape([1, b * t * h, d])
            .matmul(self.rotate_half.clone())
            .reshape([b, t * h * d]);
        let x = x.reshape([b, t * h * d]);
        (x * cos.clone() + rotated * sin.clone()).reshape([b, t, h, d])
    }
}
