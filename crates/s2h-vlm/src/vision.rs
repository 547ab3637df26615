//! The vision tower: a ViT, a ConvNeXt, or both with their features concatenated channel-wise on
//! one token grid (the Eagle-X2 design). Encoders of another input size get the image resized to
//! theirs, and features of another grid are resized to the tower's (bilinear, corners aligned,
//! as Eagle's `MultiBackboneChannelConcatenationVisionTower` does).

use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::config::VisionConfig;
use crate::vision_convnext::ConvNext;
use crate::vision_vit::Vit;

#[derive(Module, Debug)]
pub struct VisionTower<B: Backend> {
    pub vit: Option<Vit<B>>,
    pub convnext: Option<ConvNext<B>>,
    /// Side of the common token grid.
    pub grid: usize,
    /// The ViT's and the ConvNeXt's input sizes.
    pub vit_size: usize,
    pub convnext_size: usize,
    /// [`VisionConfig::pixel_affine`].
    #[module(skip)]
    pub pixel_affine: Option<([f32; 3], [f32; 3])>,
}

impl VisionConfig {
    /// Call [`VisionConfig::validate`] first: the encoders' grids must agree or be resized.
    pub fn init<B: Backend>(&self, device: &B::Device) -> VisionTower<B> {
        VisionTower {
            vit: self.vit.as_ref().map(|c| c.init(device)),
            convnext: self.convnext.as_ref().map(|c| c.init(device)),
            grid: self.grid(),
            vit_size: self.vit.as_ref().map_or(0, |v| v.image_size),
            convnext_size: self.convnext.as_ref().map_or(0, |c| c.image_size),
            pixel_affine: self.pixel_affine(),
        }
    }
}

/// Bilinear resize of `[batch, channels, h, w]` to `size × size`, corners aligned.
fn resize<B: Backend>(x: Tensor<B, 4>, size: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    if h == size && w == size {
        return x;
    }
    interpolate(
        x,
        [size, size],
        InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(true),
    )
}

impl<B: Backend> VisionTower<B> {
    /// `images`: `[batch, 3, size, size]`, pixels in [−1, 1] (`byte / 127.5 − 1`) →
    /// `[batch, grid², channels]`. The encoders' own normalisation is applied here.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 3> {
        let images = match self.pixel_affine {
            None => images,
            Some((scale, shift)) => {
                let device = images.device();
                let column =
                    |v: [f32; 3]| Tensor::<B, 1>::from_floats(v, &device).reshape([1, 3, 1, 1]);
                images * column(scale) + column(shift)
            }
        };
        let mut parts = Vec::with_capacity(2);
        if let Some(vit) = &self.vit {
            parts.push(self.on_grid(vit.forward(resize(images.clone(), self.vit_size))));
        }
        if let Some(convnext) = &self.convnext {
            parts.push(self.on_grid(convnext.forward(resize(images, self.convnext_size))));
        }
        Tensor::cat(parts, 2)
    }

    /// Tokens `[batch, n, channels]` of a square grid, resized to the tower's grid.
    fn on_grid(&self, tokens: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, c] = tokens.dims();
        if n == self.grid * self.grid {
            return tokens;
        }
        let side = (n as f64).sqrt().round() as usize;
        let map = tokens.swap_dims(1, 2).reshape([b, c, side, side]);
        resize(map, self.grid)
            .reshape([b, c, self.grid * self.grid])
            .swap_dims(1, 2)
    }
}
