//! ViT patch encoder: a stride-`patch` convolution cuts the image into patches, learned position
//! embeddings are added, pre-norm transformer blocks (bidirectional attention, GELU MLP) follow.
//! The options of [`VitConfig`] make the same module a CLIP or a SigLIP vision tower.

use burn::module::{Initializer, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate, sigmoid};

use crate::attention::{Attention, AttentionConfig};
use crate::config::{Activation, FinalNorm, VitConfig};
use crate::linear::forward as linear;

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
    /// The class token `[d_model]` (CLIP), prepended to the patches.
    pub class_embedding: Option<Param<Tensor<B, 1>>>,
    /// `[1, tokens, d_model]`, the class token's position first when there is one.
    pub pos_embed: Param<Tensor<B, 3>>,
    /// CLIP's LayerNorm on the embeddings (`pre_layrnorm`).
    pub pre_norm: Option<LayerNorm<B>>,
    pub blocks: Vec<VitBlock<B>>,
    pub norm: Option<LayerNorm<B>>,
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub final_norm: FinalNorm,
    /// Whether the class token stays through the blocks ([`VitConfig::class_token_attends`]).
    pub class_token_attends: bool,
    /// Blocks the features pass through ([`VitConfig::feature_depth`]).
    pub feature_depth: usize,
}

impl VitConfig {
    /// Call [`crate::VisionConfig::validate`] first (the feature layer must exist).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Vit<B> {
        let w = self.d_model;
        let p = self.patch_size;
        let n = self.grid() * self.grid() + usize::from(self.class_token);
        let layer_norm = || {
            LayerNormConfig::new(w)
                .with_epsilon(self.norm_eps)
                .init(device)
        };
        let blocks = (0..self.n_layers)
            .map(|_| VitBlock {
                norm1: layer_norm(),
                attn: AttentionConfig::new(w, self.n_heads, self.n_heads)
                    .with_qkv_bias(true)
                    .with_o_bias(true)
                    .init(device),
                norm2: layer_norm(),
                fc1: LinearConfig::new(w, self.d_ff()).init(device),
                fc2: LinearConfig::new(self.d_ff(), w).init(device),
            })
            .collect();
        let normal = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        Vit {
            patch_embed: Conv2dConfig::new([3, w], [p, p])
                .with_stride([p, p])
                .with_bias(self.patch_bias)
                .init(device),
            class_embedding: self.class_token.then(|| normal.init([w], device)),
            pos_embed: normal.init([1, n, w], device),
            pre_norm: self.pre_norm.then(layer_norm),
            blocks,
            norm: (self.final_norm != FinalNorm::None).then(layer_norm),
            activation: self.activation,
            final_norm: self.final_norm,
            class_token_attends: self.class_token_attends,
            feature_depth: self.feature_depth().unwrap_or(self.n_layers),
        }
    }
}

impl<B: Backend> Vit<B> {
    /// `images`: `[batch, 3, size, size]` → features `[batch, grid², d_model]`: the hidden state
    /// of the feature layer without the class token, normed when it is the last and the final
    /// norm applies to tokens.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 3> {
        let mut x = self.embed(images);
        for block in &self.blocks[..self.feature_depth] {
            x = self.block(block, x);
        }
        if self.feature_depth == self.blocks.len()
            && self.final_norm == FinalNorm::Tokens
            && let Some(norm) = &self.norm
        {
            x = norm.forward(x);
        }
        let [b, t, w] = x.dims();
        let cls = usize::from(self.class_embedding.is_some() && self.class_token_attends);
        x.slice([0..b, cls..t, 0..w])
    }

    /// Every hidden state as Hugging Face returns them: the embeddings (after CLIP's pre-norm),
    /// then each block's output, class token included (when it attends), no final norm.
    pub fn hidden_states(&self, images: Tensor<B, 4>) -> Vec<Tensor<B, 3>> {
        let mut states = vec![self.embed(images)];
        for block in &self.blocks {
            let x = states[states.len() - 1].clone();
            states.push(self.block(block, x));
        }
        states
    }

    /// The class token's output through the final norm (CLIP's `pooler_output`), `[batch,
    /// d_model]`; `None` without a class token or a pooled final norm.
    pub fn pooled(&self, images: Tensor<B, 4>) -> Option<Tensor<B, 2>> {
        if self.class_embedding.is_none()
            || !self.class_token_attends
            || self.final_norm != FinalNorm::Pooled
        {
            return None;
        }
        let norm = self.norm.as_ref()?;
        let last = self.hidden_states(images).pop()?;
        let [b, _, w] = last.dims();
        Some(norm.forward(last.slice([0..b, 0..1, 0..w])).reshape([b, w]))
    }

    /// Patch embeddings, class token, positions and pre-norm: `[batch, tokens, d_model]`.
    fn embed(&self, images: Tensor<B, 4>) -> Tensor<B, 3> {
        let x = self.patch_embed.forward(images);
        let [b, c, h, w] = x.dims();
        let mut x = x.reshape([b, c, h * w]).swap_dims(1, 2);
        if let Some(cls) = &self.class_embedding {
            let cls = cls.val().reshape([1, 1, c]).expand([b, 1, c]);
            x = Tensor::cat(vec![cls, x], 1);
        }
        let t = x.dims()[1];
        x = x + self.pos_embed.val().expand([b, t, c]);
        if self.class_embedding.is_some() && !self.class_token_attends {
            x = x.slice([0..b, 1..t, 0..c]);
        }
        match &self.pre_norm {
            Some(norm) => norm.forward(x),
            None => x,
        }
    }

    fn block(&self, block: &VitBlock<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let a = block
            .attn
            .forward(block.norm1.forward(x.clone()), None, None, None);
        let x = x + a;
        let h = linear(&block.fc1, block.norm2.forward(x.clone()));
        let h = match self.activation {
            Activation::Gelu => gelu(h),
            Activation::GeluTanh => gelu_approximate(h),
            Activation::QuickGelu => h.clone() * sigmoid(h.mul_scalar(1.702)),
        };
        x + linear(&block.fc2, h)
    }
}
