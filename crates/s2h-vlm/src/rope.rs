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

/// cos/sin tables, each `[rows, len, head_dim]`: `rows` is 1 when every batch row shares the
/// positions (training, unpadded decoding) or the batch size when each row has its own
/// (left-padded batched decoding).
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    pub cos: Tensor<B, 3>,
    pub sin: Tensor<B, 3>,
}

impl<B: Backend> RopeTables<B> {
    /// Tables for positions `start..start + len`, shared by every row.
    pub fn new(rope: &Rope, start: usize, len: usize, device: &B::Device) -> Self {
        let positions: Vec<usize> = (start..start + len).collect();
        Self::from_positions(rope, &positions, 1, device)
    }

    /// Tables for explicit positions, `rows × len` of them row-major (one row of positions per
    /// batch row). Left-padded rows use this so their real tokens get the positions they would
    /// have alone.
    pub fn from_positions(
        rope: &Rope,
        positions: &[usize],
        rows: usize,
        device: &B::Device,
    ) -> Self {
        let head_dim = rope.head_dim;
        let len = positions.len() / rows.max(1);
        let inv_freq = rope.inv_freq();
        let mut cos = Vec::with_capacity(positions.len() * head_dim);
        let mut sin = Vec::with_capacity(positions.len() * head_dim);
        for &pos in positions {
            for _ in 0..2 {
                cos.extend(inv_freq.iter().map(|f| (pos as f64 * f).cos() as f32));
                sin.extend(inv_freq.iter().map(|f| (pos as f64 * f).sin() as f32));
            }
        }
        let shape = [rows, len, head_dim];
        RopeTables {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }

    /// Rotate `x` of shape `[batch, heads, len, head_dim]`.
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, t, d] = x.dims();
        let half = d / 2;
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        let cos = self.cos.clone().unsqueeze_dim::<4>(1).expand([b, h, t, d]);
        let sin = self.sin.clone().unsqueeze_dim::<4>(1).expand([b, h, t, d]);
        x * cos + rotated * sin
    }
}
