//! The causal LM loss averaged over the selected target tokens (SPEC §12).

use burn::prelude::*;

/// Mean negative log-likelihood of the tokens where `loss_mask` is 1, each predicted from the
/// logits one position earlier. `logits`: `[batch, len, vocab]`; `input_ids`, `loss_mask`:
/// `[batch, len]`. Returns a one-element tensor (0 when nothing is selected).
pub fn masked_lm_loss<B: Backend>(
    logits: Tensor<B, 3>,
    input_ids: Tensor<B, 2, Int>,
    loss_mask: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let device = logits.device();
    let Some((picked, mask)) = target_log_probs(logits, input_ids, loss_mask) else {
        return Tensor::zeros([1], &device);
    };
    let total = mask.clone().sum().clamp_min(1.0);
    (picked * mask).sum().neg() / total
}

/// The log-probability of each token given the positions before it, `[batch, len]` (position
/// `i` predicts token `i + 1`; the last position predicts nothing and has a placeholder target),
/// with the loss mask of those tokens (0 at the last position); `None` when no token has a
/// position before it. The whole logits tensor is used, not a slice without its last position:
/// slicing copied the largest tensor of the step forward and backward.
fn target_log_probs<B: Backend>(
    logits: Tensor<B, 3>,
    input_ids: Tensor<B, 2, Int>,
    loss_mask: Tensor<B, 2>,
) -> Option<(Tensor<B, 2>, Tensor<B, 2>)> {
    let [b, t, _] = logits.dims();
    if t < 2 {
        return None;
    }
    let device = logits.device();
    let targets = Tensor::cat(
        vec![
            input_ids.narrow(1, 1, t - 1),
            Tensor::zeros([b, 1], &device),
        ],
        1,
    );
    // log p(target) = logit(target) − log Σ exp(logits): the log-softmax of the whole
    // vocabulary is never made.
    let picked = (logits.clone().gather(2, targets.reshape([b, t, 1]))
        - crate::fused::logsumexp_last(logits))
    .reshape([b, t]);
    let mask = Tensor::cat(
        vec![
            loss_mask.narrow(1, 1, t - 1),
            Tensor::zeros([b, 1], &device),
        ],
        1,
    );
    Some((picked, mask))
}

/// [`masked_lm_loss`] of each row on its own: `[batch]`, row `r` the mean negative
/// log-likelihood over the selected tokens of row `r` (0 for a row with none). The paper's
/// losses (§2.4, Eqs 2, 4, 5) are means over examples of these per-example means, not a mean
/// over the tokens of a batch.
pub fn masked_lm_loss_per_row<B: Backend>(
    logits: Tensor<B, 3>,
    input_ids: Tensor<B, 2, Int>,
    loss_mask: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let (b, device) = (logits.dims()[0], logits.device());
    let Some((picked, mask)) = target_log_probs(logits, input_ids, loss_mask) else {
        return Tensor::zeros([b], &device);
    };
    let counts = mask.clone().sum_dim(1).clamp_min(1.0);
    ((picked * mask).sum_dim(1).neg() / counts).reshape([b])
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = burn::backend::Flex;

    /// Logits that put all mass on the next token at some positions: the loss is near zero on
    /// exactly those target positions and ln(V) on the uniform ones.
    #[test]
    fn loss_scores_each_token_from_the_previous_position() {
        let device = Default::default();
        let v = 5;
        let ids = [0i64, 3, 1, 4];
        let mut logits = vec![0.0f32; 4 * v];
        for t in 0..2 {
            logits[t * v + ids[t + 1] as usize] = 50.0;
        }
        let logits = Tensor::<B, 3>::from_data(TensorData::new(logits, [1, 4, v]), &device);
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [1, 4]), &device);
        let mask =
            |m: [f32; 4]| Tensor::<B, 2>::from_data(TensorData::new(m.to_vec(), [1, 4]), &device);
        let loss =
            |m| -> f32 { masked_lm_loss(logits.clone(), input.clone(), mask(m)).into_scalar() };
        assert!(loss([0.0, 1.0, 1.0, 0.0]) < 1e-6);
        let uniform = (v as f32).ln();
        assert!((loss([0.0, 0.0, 0.0, 1.0]) - uniform).abs() < 1e-5);
        assert!((loss([0.0, 1.0, 0.0, 1.0]) - uniform / 2.0).abs() < 1e-5);
        // The first token is never predicted; an empty selection gives 0.
        assert_eq!(loss([1.0, 0.0, 0.0, 0.0]), 0.0);
    }

    /// Per-row means are each row's own loss, whatever the other rows select: a token-pooled
    /// batch mean would weight the row with more targets more.
    #[test]
    fn per_row_loss_is_each_rows_own_mean() {
        let device = Default::default();
        let v = 4;
        let logits: Vec<f32> = (0..2 * 3 * v).map(|i| ((i * 7) % 5) as f32 * 0.3).collect();
        let logits = Tensor::<B, 3>::from_data(TensorData::new(logits, [2, 3, v]), &device);
        let ids = Tensor::<B, 2, Int>::from_data(
            TensorData::new(vec![0i64, 1, 2, 3, 0, 1], [2, 3]),
            &device,
        );
        let masks = [[0.0f32, 1.0, 1.0], [0.0, 0.0, 1.0]];
        let mask = |rows: &[[f32; 3]]| {
            let flat: Vec<f32> = rows.iter().flatten().copied().collect();
            Tensor::<B, 2>::from_data(TensorData::new(flat, [rows.len(), 3]), &device)
        };
        let per_row: Vec<f32> = masked_lm_loss_per_row(logits.clone(), ids.clone(), mask(&masks))
            .into_data()
            .to_vec()
            .unwrap();
        for r in 0..2 {
            let alone: f32 = masked_lm_loss(
                logits.clone().narrow(0, r, 1),
                ids.clone().narrow(0, r, 1),
                mask(&masks[r..r + 1]),
            )
            .into_scalar();
            assert!((per_row[r] - alone).abs() < 1e-6, "row {r}");
        }
        let pooled: f32 = masked_lm_loss(logits, ids, mask(&masks)).into_scalar();
        assert!((pooled - (per_row[0] + per_row[1]) / 2.0).abs() > 1e-4);
    }
}
