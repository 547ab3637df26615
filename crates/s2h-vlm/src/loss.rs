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
    let [b, t, v] = logits.dims();
    if t < 2 {
        return Tensor::zeros([1], &logits.device());
    }
    let logp = log_softmax(logits.narrow(1, 0, t - 1), 2);
    let targets = input_ids.narrow(1, 1, t - 1).reshape([b, t - 1, 1]);
    let picked = logp.gather(2, targets).reshape([b, t - 1]);
    let mask = loss_mask.narrow(1, 1, t - 1);
    let _ = v;
    let total = mask.clone().sum().clamp_min(1.0);
    (picked * mask).sum().neg() / total
}
