//! Rotary position embedding in the Hugging Face (Llama) convention: the head dimension is split
//! in halves and rotated as `x * cos + rotate_half(x) * sin`. Burn's `RotaryEncoding` rotates
//! interleaved pairs instead; this convention lets Llama/Qwen2 checkpoints load without permuting
//! the q/k weights.

use burn::prelude::*;

/// cos/sin tables for positions `start..start + len`, each `[len, head_dim]`.
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    pub cos: Tensor<B, 2>,
    pub sin: Tensor<B, 2>,
}

impl<B: Backend> RopeTables<B> {
    pub fn new(head_dim: usize, theta: f32, start: usize, len: usize, device: &B::Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(len * head_dim);
        let mut sin = Vec::with_capacity(len * head_dim);
        for pos in start..start + len {
            let row: Vec<f64> = (0..half)
                .map(|i| {
                    let inv_freq = (theta as f64).powf(-(2.0 * i as f64) / head_dim as f64);
                    pos as f64 * inv_freq
                })
                .collect();
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos() as f32));
                sin.extend(row.iter().map(|a| a.sin() as f32));
            }
        }
        let shape = [len, head_dim];
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
        let cos = self.cos.clone().unsqueeze::<4>().expand([b, h, t, d]);
        let sin = self.sin.clone().unsqueeze::<4>().expand([b, h, t, d]);
        x * cos + rotated * sin
    }
}
