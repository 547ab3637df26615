//! Linear layers applied over the flattened leading dimensions.
//!
//! Burn 0.21's `Linear` multiplies a `[b, s, d]` input by its weight as a batched matmul with the
//! weight broadcast over `b`. flex runs that as `b` separate gemm calls, each packing the whole
//! weight again, and the weight's gradient as `b` products summed afterwards. One `[b·s, d]`
//! product packs the weight once and gets its gradient in one product: at decoding (`s = 1`)
//! that is one matrix product instead of `b` matrix-vector products.

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// `layer` applied to the last dimension of `x`, as one 2-D product.
pub fn forward<B: Backend, const D: usize>(layer: &Linear<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    if D <= 2 {
        return layer.forward(x);
    }
    let mut dims = x.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    let out = layer.forward(x.reshape([rows, dims[D - 1]]));
    dims[D - 1] = out.dims()[1];
    out.reshape(dims)
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tolerance};

    use super::*;

    type A = Autodiff<Flex>;

    /// Values and the gradients of the input, weight and bias against Burn's batched layer.
    #[test]
    fn matches_the_batched_layer() {
        let device = Default::default();
        for bias in [true, false] {
            let layer = LinearConfig::new(6, 5).with_bias(bias).init::<A>(&device);
            let x =
                Tensor::<A, 4>::random([2, 3, 4, 6], Distribution::Default, &device).require_grad();
            let w = Tensor::<A, 4>::random([2, 3, 4, 5], Distribution::Default, &device);
            let ours = forward(&layer, x.clone());
            let theirs = layer.forward(x.clone());
            assert_eq!(ours.dims(), [2, 3, 4, 5]);
            let close = |a: Tensor<Flex, 2>, b: Tensor<Flex, 2>| {
                a.into_data()
                    .assert_approx_eq::<f32>(&b.into_data(), Tolerance::rel_abs(1e-5, 1e-6))
            };
            close(
                ours.clone().inner().reshape([24, 5]),
                theirs.clone().inner().reshape([24, 5]),
            );
            let ours = (ours * w.clone()).sum().backward();
            let theirs = (theirs * w).sum().backward();
            let grad = |g: &<A as burn::tensor::backend::AutodiffBackend>::Gradients| {
                (
                    x.grad(g).unwrap().reshape([24, 6]),
                    layer.weight.val().grad(g).unwrap(),
                    layer.bias.as_ref().map(|b| b.val().grad(g).unwrap()),
                )
            };
            let (ours, theirs) = (grad(&ours), grad(&theirs));
            close(ours.0, theirs.0);
            close(ours.1, theirs.1);
            if let (Some(a), Some(b)) = (ours.2, theirs.2) {
                close(a.unsqueeze(), b.unsqueeze());
            }
        }
    }
}
