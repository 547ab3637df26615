//! The vision tower: a ViT, a ConvNeXt, or both with their features concatenated channel-wise on
//! one token grid (the Eagle-X2 design).

use burn::prelude::*;

use crate::config::VisionConfig;
use crate::vision_convnext::ConvNext;
use crate::vision_vit::Vit;

#[derive(Module, Debug)]
pub struct VisionTower<B: Backend> {
    pub vit: Option<Vit<B>>,
    pub convnext: Option<ConvNext<B>>,
}

impl VisionConfig {
    /// Call [`VisionConfig::validate`] first: the encoders' grids must agree.
    pub fn init<B: Backend>(&self, device: &B::Device) -> VisionTower<B> {
        VisionTower {
            vit: self.vit.as_ref().map(|c| c.init(device)),
            convnext: self.convnext.as_ref().map(|c| c.init(device)),
        }
    }
}

impl<B: Backend> VisionTower<B> {
    /// `images`: `[batch, 3, size, size]`, normalised → `[batch, tokens, channels]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 3> {
        let mut parts = Vec::with_capacity(2);
        if let Some(vit) = &self.vit {
            parts.push(vit.forward(images.clone()));
        }
        if let Some(convnext) = &self.convnext {
            parts.push(convnext.forward(images));
        }
        Tensor::cat(parts, 2)
    }
}
