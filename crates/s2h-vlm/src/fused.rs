//! Ops that Burn 0.21's autodiff would otherwise take apart, given one backward each.
//!
//! Burn differentiates `softmax` through the five ops it is made of (max, subtract, exp, sum,
//! divide), each recorded, stored and differentiated on its own: on a CPU that is eleven passes
//! over the attention scores per layer, where the softmax and its backward
//! `dx = y ⊙ (g − Σ g ⊙ y)` need four. Here the softmax is one autodiff op: its forward is the
//! backend's own softmax (a fused kernel on flex), its backward the formula above on the inner
//! backend.
//!
//! Burn offers no hook for this on a generic backend, so the op is chosen by type: when the
//! backend is one of s2h's autodiff backends, the tensor is handed to the fused version; on any
//! other backend (an inner backend at inference, a user's own) the plain op runs. Both compute
//! the same function; `tests` checks values and gradients against the plain op.

use std::any::Any;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::activation;
use burn::tensor::backend::BackendTypes;

/// `softmax(x, D − 1)`, with one backward on s2h's autodiff backends.
pub fn softmax_last<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let dim = D - 1;
    let primitive = match x.into_primitive() {
        TensorPrimitive::Float(p) => p,
        // A quantized tensor: nothing to fuse.
        q => return activation::softmax(Tensor::from_primitive(q), dim),
    };
    #[cfg(feature = "flex")]
    let primitive = match fused::<B, burn::backend::Flex>(primitive, dim) {
        Ok(out) => return Tensor::from_primitive(TensorPrimitive::Float(out)),
        Err(p) => p,
    };
    #[cfg(feature = "ndarray")]
    let primitive = match fused::<B, burn::backend::NdArray>(primitive, dim) {
        Ok(out) => return Tensor::from_primitive(TensorPrimitive::Float(out)),
        Err(p) => p,
    };
    #[cfg(feature = "wgpu")]
    let primitive = match fused::<B, burn::backend::Wgpu>(primitive, dim) {
        Ok(out) => return Tensor::from_primitive(TensorPrimitive::Float(out)),
        Err(p) => p,
    };
    #[cfg(feature = "cuda")]
    let primitive = match fused::<B, burn::backend::Cuda>(primitive, dim) {
        Ok(out) => return Tensor::from_primitive(TensorPrimitive::Float(out)),
        Err(p) => p,
    };
    activation::softmax(
        Tensor::from_primitive(TensorPrimitive::Float(primitive)),
        dim,
    )
}

/// The fused softmax when `B` is `Autodiff<I>`; the primitive back otherwise.
#[allow(dead_code)] // unused when no backend feature is on
fn fused<B: Backend, I: Backend>(
    x: B::FloatTensorPrimitive,
    dim: usize,
) -> Result<B::FloatTensorPrimitive, B::FloatTensorPrimitive> {
    let x = cast::<_, <Autodiff<I> as BackendTypes>::FloatTensorPrimitive>(x)?;
    let out = softmax_autodiff::<I>(x, dim);
    // `B` is `Autodiff<I>`: the cast back cannot fail.
    Ok(cast(out).unwrap_or_else(|_| unreachable!("B is Autodiff<I>")))
}

/// `x` as a `T` when it is one.
fn cast<F: 'static, T: 'static>(x: F) -> Result<T, F> {
    let mut slot = Some(x);
    let any: &mut dyn Any = &mut slot;
    match any.downcast_mut::<Option<T>>() {
        Some(t) => Ok(t.take().expect("the slot holds the value")),
        None => Err(slot.expect("the slot holds the value")),
    }
}

#[derive(Debug)]
struct Softmax;

impl<I: Backend> Backward<I, 1> for Softmax {
    /// The output `y` and the dimension.
    type State = (I::FloatTensorPrimitive, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (y, dim) = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            // dx = y ⊙ (g − Σ_dim g ⊙ y) = g ⊙ y − y ⊙ Σ_dim g ⊙ y
            let gy = I::float_mul(g, y.clone());
            let sum = I::float_sum_dim(gy.clone(), dim);
            I::float_sub(gy, I::float_mul(y, sum))
        });
    }
}

fn softmax_autodiff<I: Backend>(
    x: <Autodiff<I> as BackendTypes>::FloatTensorPrimitive,
    dim: usize,
) -> <Autodiff<I> as BackendTypes>::FloatTensorPrimitive {
    let y = I::softmax(x.primitive.clone(), dim);
    match Softmax
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((y.clone(), dim), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    use super::*;

    type A = Autodiff<Flex>;

    /// The softmax and the gradient of `Σ w ⊙ softmax(x)` for some weights `w`.
    fn softmax_and_grad(
        x: &Tensor<A, 4>,
        w: &Tensor<A, 4>,
        f: fn(Tensor<A, 4>) -> Tensor<A, 4>,
    ) -> (Vec<f32>, Vec<f32>) {
        let _pass = crate::autodiff::pass_lock();
        let x = x.clone().require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * w.clone()).sum().backward();
        let g = x.grad(&grads).expect("x has a gradient");
        (
            y.into_data().to_vec().expect("f32"),
            g.into_data().to_vec().expect("f32"),
        )
    }

    fn plain(x: Tensor<A, 4>) -> Tensor<A, 4> {
        activation::softmax(x, 3)
    }

    fn assert_close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn fused_softmax_matches_the_plain_one_forward_and_backward() {
        let device = Default::default();
        let x = Tensor::<A, 4>::random([2, 3, 5, 7], Distribution::Normal(0.0, 3.0), &device);
        let w = Tensor::<A, 4>::random([2, 3, 5, 7], Distribution::Normal(0.0, 1.0), &device);
        let (y_fused, g_fused) = softmax_and_grad(&x, &w, softmax_last);
        let (y_plain, g_plain) = softmax_and_grad(&x, &w, plain);
        assert_close(&y_fused, &y_plain, 1e-6);
        assert_close(&g_fused, &g_plain, 1e-6);
        // The gradient is not trivially zero: the check above could fail.
        assert!(g_plain.iter().any(|g| g.abs() > 1e-3));
    }

    #[test]
    fn masked_keys_get_zero_weight_and_zero_gradient() {
        let device = Default::default();
        let mut values: Vec<f32> = (0..2 * 4).map(|i| (i as f32 * 0.37).sin()).collect();
        values[1] = f32::NEG_INFINITY; // row 0, key 1
        values[6] = f32::NEG_INFINITY; // row 1, key 2
        let x = Tensor::<A, 4>::from_data(TensorData::new(values, [1, 1, 2, 4]), &device);
        let w = Tensor::<A, 4>::from_data(
            TensorData::new(vec![1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, 1.5], [1, 1, 2, 4]),
            &device,
        );
        let (y, g) = softmax_and_grad(&x, &w, softmax_last);
        assert!(y.iter().chain(&g).all(|v| v.is_finite()));
        assert_eq!((y[1], y[6]), (0.0, 0.0));
        assert_eq!((g[1], g[6]), (0.0, 0.0));
        let (_, g_plain) = softmax_and_grad(&x, &w, plain);
        assert_close(&g, &g_plain, 1e-6);
    }

    #[test]
    fn other_backends_take_the_plain_path() {
        // The inner backend (no autodiff) computes the same values through `activation::softmax`.
        let device = Default::default();
        let x = Tensor::<Flex, 2>::random([3, 6], Distribution::Normal(0.0, 2.0), &device);
        let fused: Vec<f32> = softmax_last(x.clone()).into_data().to_vec().expect("f32");
        let plain: Vec<f32> = activation::softmax(x, 1).into_data().to_vec().expect("f32");
        assert_close(&fused, &plain, 1e-7);
    }
}
