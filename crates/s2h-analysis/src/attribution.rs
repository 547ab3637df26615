//! Pixel attribution (App J, Figs 28, 29): gradient × input. The score of pixel j for a group K
//! of chain-of-thought tokens is `⟨∂ l_K / ∂x_j, x_j⟩` with `l_K = Σ_{k∈K} l_k / |K|` — the
//! average over K of the per-token scores, which is linear in the gradient, so one
//! teacher-forced forward and one backward give it. `x` is the model's normalised input
//! (`byte / 127.5 − 1`) at its resolution, and the inner product runs over the three channels.
//! The paper marks the top 1% of pixels in red; [`overlay`] maps them back onto the record's
//! image through the processor's resize (a scaling of each axis).

use std::path::Path;

use image::{Rgb, RgbImage};
use s2h_vlm::Vlm;
use s2h_vlm::burn::module::Module;
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{Padding, masked_lm_loss};

use crate::grads::Example;
use crate::{AnalysisError, Result};

/// The attribution of one token group: a score per model-resolution pixel, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelScores {
    pub size: usize,
    pub scores: Vec<f32>,
}

/// Gradient × input of the mean loss over the tokens `mask` selects, for `example`'s image.
/// `model` should have every parameter frozen (`Module::no_grad`): only the image needs a
/// gradient.
pub fn attribute<B: AutodiffBackend>(
    model: &Vlm<B>,
    example: &Example,
    mask: &[bool],
) -> Result<PixelScores> {
    let Some(image) = example.image.as_deref() else {
        return Err(AnalysisError::Invalid(format!(
            "record `{}` has no image to attribute",
            example.encoded.id
        )));
    };
    if mask.len() != example.encoded.input_ids.len() || !mask.iter().skip(1).any(|&m| m) {
        return Err(AnalysisError::Invalid(format!(
            "record `{}`: the token group selects no target token",
            example.encoded.id
        )));
    }
    let row = s2h_vlm::BatchRow {
        ids: &example.encoded.input_ids,
        loss_mask: Some(mask),
        image: Some(image),
    };
    let device = model.device();
    let batch = s2h_vlm::batch::batch::<B>(&[row], Padding::Right, model.image_size, &device)?;
    let Some(images) = batch.images else {
        return Err(AnalysisError::Invalid(
            "the model has no vision tower".into(),
        ));
    };
    let images = images.require_grad();
    let pass = s2h_vlm::autodiff::pass_lock();
    let logits = model.forward(batch.input_ids.clone(), Some(images.clone()));
    let loss = masked_lm_loss(logits, batch.input_ids, batch.loss_mask);
    let grads = loss.backward();
    drop(pass);
    let size = model.image_size;
    let scores = match images.grad(&grads) {
        Some(g) => {
            let x = images.inner();
            let s: Tensor<B::InnerBackend, 4> = (g * x).sum_dim(1);
            s.reshape([size * size])
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| AnalysisError::Invalid(format!("reading scores: {e:?}")))?
        }
        // The loss does not depend on the image at all.
        None => vec![0.0; size * size],
    };
    Ok(PixelScores { size, scores })
}

/// `model` with no parameter requiring a gradient (attribution needs only the image's).
pub fn frozen<B: AutodiffBackend>(model: Vlm<B>) -> Vlm<B> {
    model.no_grad()
}

/// The pixels of the top `fraction` of scores (at least one), among the positive ones: "pixels
/// that show positive alignment with the gradients are marked important" (App J).
pub fn top_pixels(scores: &PixelScores, fraction: f64) -> Vec<bool> {
    let n = scores.scores.len();
    let keep = ((n as f64 * fraction).ceil() as usize).clamp(1, n.max(1));
    let mut order: Vec<usize> = (0..n).filter(|&i| scores.scores[i] > 0.0).collect();
    order.sort_by(|&a, &b| {
        scores.scores[b]
            .total_cmp(&scores.scores[a])
            .then(a.cmp(&b))
    });
    let mut marked = vec![false; n];
    for &i in order.iter().take(keep) {
        marked[i] = true;
    }
    marked
}

/// The record's image (`png`, at its own size) with the pixels that map to a marked
/// model-resolution pixel painted red. The processor resizes each axis by a constant factor, so
/// image pixel (x, y) corresponds to model pixel (x·S/W, y·S/H).
pub fn overlay(png: &Path, scores: &PixelScores, fraction: f64) -> Result<RgbImage> {
    let mut img = image::open(png)
        .map_err(|e| AnalysisError::file(png, e))?
        .to_rgb8();
    let marked = top_pixels(scores, fraction);
    let (w, h) = img.dimensions();
    let s = scores.size;
    for y in 0..h {
        let my = (y as usize * s / h as usize).min(s - 1);
        for x in 0..w {
            let mx = (x as usize * s / w as usize).min(s - 1);
            if marked[my * s + mx] {
                img.put_pixel(x, y, Rgb([255, 0, 0]));
            }
        }
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_pixels_keep_the_largest_positive_scores() {
        let scores = PixelScores {
            size: 10,
            scores: (0..100).map(|i| i as f32 - 50.0).collect(),
        };
        let top = top_pixels(&scores, 0.03);
        let marked: Vec<usize> = (0..100).filter(|&i| top[i]).collect();
        assert_eq!(marked, [97, 98, 99]);
        // Never a pixel with a score of 0 or below, even when the fraction asks for more.
        let flat = PixelScores {
            size: 2,
            scores: vec![0.0, -1.0, 2.0, 0.0],
        };
        assert_eq!(top_pixels(&flat, 1.0), [false, false, true, false]);
    }
}
