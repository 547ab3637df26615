//! The paper's evaluation losses (§2.4, §5.2): `l(x)` is the mean negative log-likelihood over
//! the selected tokens of one record, and a set's loss is the mean of those per-example means
//! (not a mean over the pooled tokens of a batch).
//!
//! - Eq 2, `l^(H)_(I;S)`: the solution (chain of thought and answer) given the image, on hard
//!   Image records;
//! - Eq 4, `l^(H)_(I#;T)`: the converted text, on hard Image-via-Text records;
//! - Eq 5, `l^(H)_(I,#T;S)`: the solution given image and converted text, on the same records.

use s2h_vlm::burn::prelude::*;
use s2h_vlm::{Padding, Vlm, masked_lm_loss_per_row};

use crate::grads::Example;
use crate::{AnalysisError, Result};

/// Each example's own loss (mean over its selected tokens), computed `batch` records at a time
/// without gradients.
pub fn per_example_losses<B: Backend>(
    model: &Vlm<B>,
    examples: &[Example],
    batch: usize,
) -> Result<Vec<f64>> {
    let device = model.device();
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch.max(1)) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|e| e.encoded.row(e.image.as_deref()))
            .collect();
        let b = s2h_vlm::batch::batch::<B>(&rows, Padding::Right, model.image_size, &device)?;
        let logits = model.forward(b.input_ids.clone(), b.images);
        let losses = masked_lm_loss_per_row(logits, b.input_ids, b.loss_mask);
        let values: Vec<f32> = losses
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| AnalysisError::Invalid(format!("reading losses: {e:?}")))?;
        out.extend(values.into_iter().map(f64::from));
    }
    Ok(out)
}

/// The mean of the per-example losses (`None` for an empty set).
pub fn mean_loss<B: Backend>(
    model: &Vlm<B>,
    examples: &[Example],
    batch: usize,
) -> Result<Option<f64>> {
    let losses = per_example_losses(model, examples, batch)?;
    Ok((!losses.is_empty()).then(|| losses.iter().sum::<f64>() / losses.len() as f64))
}
