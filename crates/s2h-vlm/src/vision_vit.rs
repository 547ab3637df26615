//! ViT patch encoder: a stride-`patch` convolution cuts the image into patches, learned position
//! embeddings are added, pre-norm transformer blocks (bidirectional attention, GELU MLP) follow.

use burn::module::{Initializer, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::attention::{Attention, AttentionConfig};
use crate::config::VitConfig;

#[derive(Module, Debug)]
pub struct VitBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: Attention<B>,
    pub norm2: LayerNorm<B>,
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

#[derive(Module, Debug)]
pub struct Vit<B: Backend> {
    pub patch_embed: Conv2d<B>,
    pub pos_embed: Param<Tensor<B, 3>>,
    pub blocks: Vec<VitBlock<B>>,
    pub norm: LayerNorm<B>,
}

impl VitConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Vit<B> {
        let w = self.d_model;
        let p = self.patch_size;
        let n = self.grid() * self.grid();
        let blocks = (0..self.n_layers)
            .map(|_| VitBlock {
                norm1: LayerNormConfig::new(w).init(device),
                attn: AttentionConfig::new(w, self.n_heads, self.n_heads)
                    .with_bias(true)
                    .init(device),
                norm2: LayerNormConfig::new(w).init(device),
                fc1: LinearConfig::new(w, w * self.mlp_ratio).init(device),
                fc2: LinearConfig::new(w * self.mlp_ratio, w).init(device),
            })
            .collect();
        Vit {
            patch_embed: Conv2dConfig::new([3, w], [p, p])
                .with_stride([p, p])
                .init(device),
            pos_embed: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([1, n, w], device),
            blocks,
            norm: LayerNormConfig::new(w).init(device),
        }
    }
}

impl<B: Backend> Vit<B> {
    /// `images`: `[batch, 3, size, size]` → features `[batch, grid², d_model]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 3> {
        let x = self.patch_embed.forward(images);
        let [b, c, h, w] = x.dims();
        let mut x = x.reshape([b, c, h * w]).swap_dims(1, 2);
        x = x + self.pos_embed.val().expand([b, h * w, c]);
        for block in &self.blocks {
            let a = block
                .attn
                .forward(block.norm1.forward(x.clone()), None, None, None);
            x = x + a;
            let m = block
                .fc2
                .forward(gelu(block.fc1.forward(block.norm2.forward(x.clone()))));
            x = x + m;
        }
        self.norm.forward(x)
    }
}
