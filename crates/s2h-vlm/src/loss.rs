//! The causal LM loss averaged over the selected target tokens (SPEC §12).

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Mean negative log-likelihood of the tokens where `loss_mask` is 1, each predicted from the
/// logits one position earlier. `logits`: `[batch, len, vocab]`; `input_ids`, `loss_mask`:
/// `[batch, len]`. Returns a one-element tensor (0 when nothing is selected).
pub fn masked_lm_loss<B: Backend>(
    logits: Tensor<B, 3>,
    input_ids: Tensor<B, 2, Int>,
    loss_mask: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let [b, t, _] = logits.dims();
    if t < 2 {
        return Tensor::zeros([1], &logits.device());
    }
    let logp = log_softmax(logits.narrow(1, 0, t - 1), 2);
    let targets = input_ids.narrow(1, 1, t - 1).reshape([b, t - 1, 1]);
    let picked = logp.gather(2, targets).reshape([b, t - 1]);
    let mask = loss_mask.narrow(1, 1, t - 1);
    let total = mask.clone().sum().clamp_min(1.0);
    (picked * mask).sum().neg() / total
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
}
