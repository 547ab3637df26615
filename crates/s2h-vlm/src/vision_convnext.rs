//! A small ConvNeXt: patchify stem, stages of ConvNeXt blocks (depthwise 7×7 conv, LayerNorm,
//! 4× GELU MLP, layer scale, residual) with 2× downsampling between stages. Its last feature map
//! is read as a grid of tokens.

use burn::module::{Initializer, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::config::ConvNextConfig;
use crate::linear::forward as linear;

/// Initial layer-scale value (ConvNeXt uses 1e-6 for deep nets; these are shallow).
const LAYER_SCALE_INIT: f64 = 0.1;

#[derive(Module, Debug)]
pub struct ConvNextBlock<B: Backend> {
    pub dwconv: Conv2d<B>,
    pub norm: LayerNorm<B>,
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    pub gamma: Param<Tensor<B, 1>>,
}

#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    pub norm: LayerNorm<B>,
    pub conv: Conv2d<B>,
}

#[derive(Module, Debug)]
pub struct ConvNextStage<B: Backend> {
    pub downsample: Option<Downsample<B>>,
    pub blocks: Vec<ConvNextBlock<B>>,
}

#[derive(Module, Debug)]
pub struct ConvNext<B: Backend> {
    pub stem: Conv2d<B>,
    pub stem_norm: LayerNorm<B>,
    pub stages: Vec<ConvNextStage<B>>,
    /// LayerNorm on the output tokens (absent for timm/Eagle's ConvNeXt).
    pub norm: Option<LayerNorm<B>>,
}

/// LayerNorm over the channels of an NCHW map.
fn norm_channels<B: Backend>(norm: &LayerNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

impl ConvNextConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> ConvNext<B> {
        let s = self.stem_stride;
        let k = self.kernel_size;
        let layer_norm = |d| {
            LayerNormConfig::new(d)
                .with_epsilon(self.norm_eps)
                .init(device)
        };
        let stages = self
            .dims
            .iter()
            .zip(&self.depths)
            .enumerate()
            .map(|(i, (&dim, &depth))| ConvNextStage {
                downsample: (i > 0).then(|| Downsample {
                    norm: layer_norm(self.dims[i - 1]),
                    conv: Conv2dConfig::new([self.dims[i - 1], dim], [2, 2])
                        .with_stride([2, 2])
                        .init(device),
                }),
                blocks: (0..depth)
                    .map(|_| ConvNextBlock {
                        dwconv: Conv2dConfig::new([dim, dim], [k, k])
                            .with_groups(dim)
                            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                            .init(device),
                        norm: layer_norm(dim),
                        fc1: LinearConfig::new(dim, 4 * dim).init(device),
                        fc2: LinearConfig::new(4 * dim, dim).init(device),
                        gamma: Initializer::Constant {
                            value: LAYER_SCALE_INIT,
                        }
                        .init([dim], device),
                    })
                    .collect(),
            })
            .collect();
        ConvNext {
            stem: Conv2dConfig::new([3, self.dims[0]], [s, s])
                .with_stride([s, s])
                .init(device),
            stem_norm: layer_norm(self.dims[0]),
            stages,
            norm: self.final_norm.then(|| layer_norm(self.out_channels())),
        }
    }
}

impl<B: Backend> ConvNext<B> {
    /// `images`: `[batch, 3, size, size]` → features `[batch, grid², channels]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 3> {
        let x = self.feature_map(images);
        let [b, c, h, w] = x.dims();
        let tokens = x.reshape([b, c, h * w]).swap_dims(1, 2);
        match &self.norm {
            Some(norm) => norm.forward(tokens),
            None => tokens,
        }
    }

    /// The last stage's map `[batch, channels, grid, grid]` (timm's `forward_features`).
    pub fn feature_map(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = norm_channels(&self.stem_norm, self.stem.forward(images));
        for stage in &self.stages {
            if let Some(down) = &stage.downsample {
                x = down.conv.forward(norm_channels(&down.norm, x));
            }
            for block in &stage.blocks {
                let y = block.dwconv.forward(x.clone()).permute([0, 2, 3, 1]);
                let y = linear(&block.fc2, gelu(linear(&block.fc1, block.norm.forward(y))));
                let y = y * block.gamma.val().unsqueeze::<4>();
                x = x + y.permute([0, 3, 1, 2]);
            }
        }
        x
    }
}
