//! Token rows and images → padded tensors: the one batcher, for training (padding on the right)
//! and for generation (padding on the left, see [`crate::KvCache`]).
//!
//! Images come as planar RGB bytes `[3, size, size]` at the model's resolution and are
//! normalised here to [-1, 1] (`byte / 127.5 - 1`), so every caller feeds the model the same
//! floats for the same pixels.

use burn::prelude::*;

use crate::special;
use crate::{Result, VlmError};

/// Which end of a row the `<pad>` tokens go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Training: with causal attention no real token sees the padding after it.
    Right,
    /// Generation: every row's next token is at the same column; the KV cache masks the padding
    /// and keeps each row's positions as if it were alone.
    Left,
}

/// One row of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchRow<'a> {
    pub ids: &'a [u32],
    /// `loss_mask[t]`: token `t` is a target (predicted from position `t - 1`); `None`: none is.
    pub loss_mask: Option<&'a [bool]>,
    /// `[3, size, size]` bytes, for a row whose ids hold the `<image>` tokens.
    pub image: Option<&'a [u8]>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch<B: Backend> {
    /// `[batch, len]`, `<pad>` where a row is shorter than the longest.
    pub input_ids: Tensor<B, 2, Int>,
    /// `[batch, len]`: 1.0 on target tokens, 0.0 elsewhere (padding included).
    pub loss_mask: Tensor<B, 2>,
    /// `[batch, 3, size, size]` when any row has an image (zeros for the rows without one, which
    /// hold no `<image>` token and so ignore theirs).
    pub images: Option<Tensor<B, 4>>,
    /// `<pad>` tokens of each row (all at the start with [`Padding::Left`], at the end with
    /// [`Padding::Right`]).
    pub pads: Vec<usize>,
    /// Real (unpadded) tokens.
    pub n_tokens: usize,
    /// Tokens the loss scores: targets after the first position of their row.
    pub n_targets: usize,
}

/// The model's value of a pixel byte.
pub fn normalise_pixel(byte: u8) -> f32 {
    byte as f32 / 127.5 - 1.0
}

/// Pad and stack `rows` on `device`; images must be `image_size` square.
pub fn batch<B: Backend>(
    rows: &[BatchRow<'_>],
    padding: Padding,
    image_size: usize,
    device: &B::Device,
) -> Result<Batch<B>> {
    let bad = |m: String| Err(VlmError::Batch(m));
    if rows.is_empty() {
        return bad("cannot batch zero rows".into());
    }
    let b = rows.len();
    let t = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![special::PAD_ID as i64; b * t];
    let mut mask = vec![0.0f32; b * t];
    let mut pads = Vec::with_capacity(b);
    let (mut n_tokens, mut n_targets) = (0, 0);
    for (r, row) in rows.iter().enumerate() {
        if let Some(m) = row.loss_mask
            && m.len() != row.ids.len()
        {
            return bad(format!(
                "row {r}: {} loss-mask entries for {} tokens",
                m.len(),
                row.ids.len()
            ));
        }
        let pad = t - row.ids.len();
        let start = r * t + if padding == Padding::Left { pad } else { 0 };
        for (j, &id) in row.ids.iter().enumerate() {
            ids[start + j] = id as i64;
        }
        if let Some(m) = row.loss_mask {
            for (j, &on) in m.iter().enumerate() {
                mask[start + j] = if on { 1.0 } else { 0.0 };
            }
            n_targets += m.iter().skip(1).filter(|&&on| on).count();
        }
        pads.push(pad);
        n_tokens += row.ids.len();
    }
    let images = if rows.iter().any(|r| r.image.is_some()) {
        if image_size == 0 {
            return bad("a row has an image but the model has no vision tower".into());
        }
        let plane = 3 * image_size * image_size;
        let mut pixels = vec![0.0f32; b * plane];
        for (r, row) in rows.iter().enumerate() {
            let Some(image) = row.image else { continue };
            if image.len() != plane {
                return bad(format!(
                    "row {r}: the image has {} values, the model takes 3 x {image_size} x \
                     {image_size} = {plane}",
                    image.len()
                ));
            }
            for (dst, &byte) in pixels[r * plane..(r + 1) * plane].iter_mut().zip(image) {
                *dst = normalise_pixel(byte);
            }
        }
        Some(Tensor::from_data(
            TensorData::new(pixels, [b, 3, image_size, image_size]),
            device,
        ))
    } else {
        None
    };
    Ok(Batch {
        input_ids: Tensor::from_data(TensorData::new(ids, [b, t]), device),
        loss_mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
        images,
        pads,
        n_tokens,
        n_targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Flex;

    fn to_i64(t: Tensor<B, 2, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().to_vec().unwrap()
    }

    #[test]
    fn pads_on_the_chosen_side_and_masks_padding() {
        let (a, b) = ([7u32, 8, 9], [5u32]);
        let (ma, mb) = ([false, true, true], [true]);
        let rows = [
            BatchRow {
                ids: &a,
                loss_mask: Some(&ma),
                image: None,
            },
            BatchRow {
                ids: &b,
                loss_mask: Some(&mb),
                image: None,
            },
        ];
        let pad = special::PAD_ID as i64;
        let right = batch::<B>(&rows, Padding::Right, 0, &Default::default()).unwrap();
        assert_eq!(to_i64(right.input_ids), vec![7, 8, 9, 5, pad, pad]);
        let mask: Vec<f32> = right.loss_mask.into_data().to_vec().unwrap();
        assert_eq!(mask, vec![0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!((right.pads, right.n_tokens), (vec![0, 2], 4));
        // The first token of a row is never predicted: row b's only target does not count.
        assert_eq!(right.n_targets, 2);
        assert!(right.images.is_none());
        let left = batch::<B>(&rows, Padding::Left, 0, &Default::default()).unwrap();
        assert_eq!(to_i64(left.input_ids), vec![7, 8, 9, pad, pad, 5]);
        assert_eq!(left.pads, vec![0, 2]);
    }

    #[test]
    fn images_are_normalised_and_rows_without_one_are_blank() {
        let ids = [1u32, 2];
        let image: Vec<u8> = (0..3 * 2 * 2).map(|i| (i * 20) as u8).collect();
        let rows = [
            BatchRow {
                ids: &ids,
                loss_mask: None,
                image: None,
            },
            BatchRow {
                ids: &ids,
                loss_mask: None,
                image: Some(&image),
            },
        ];
        let out = batch::<B>(&rows, Padding::Right, 2, &Default::default()).unwrap();
        let images = out.images.unwrap();
        assert_eq!(images.dims(), [2, 3, 2, 2]);
        let values: Vec<f32> = images.into_data().to_vec().unwrap();
        assert!(values[..12].iter().all(|&v| v == 0.0));
        let expected: Vec<f32> = image.iter().map(|&p| normalise_pixel(p)).collect();
        assert_eq!(&values[12..], &expected[..]);
        assert_eq!((normalise_pixel(0), normalise_pixel(255)), (-1.0, 1.0));
        // A wrong-sized image or a model without vision is an error, never a panic.
        let err = batch::<B>(&rows, Padding::Right, 3, &Default::default()).unwrap_err();
        assert!(err.to_string().contains("3 x 3 x 3"), "{err}");
        assert!(batch::<B>(&rows, Padding::Right, 0, &Default::default()).is_err());
        assert!(batch::<B>(&[], Padding::Right, 0, &Default::default()).is_err());
    }
}
