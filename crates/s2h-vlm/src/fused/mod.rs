//! Ops that Burn 0.21's autodiff would otherwise take apart, given one backward each.
//!
//! Burn differentiates a composite op through every op it is made of, each recorded, stored and
//! differentiated on its own. A training step's costliest composites are made single autodiff ops
//! here, their forward and backward written on the inner backend:
//!
//! - [`attention`] (on flex; `attention.rs`): the heads' products read q, k and v where the
//!   projections put them and write the output in place, with the mask, the softmax and their
//!   backward in between — Burn would copy each of them to move the heads in front of the
//!   positions, and differentiate the mask's add, the softmax and both products one by one.
//! - [`softmax_last`] (attention weights, where the fused attention does not run): Burn's
//!   softmax is five ops (max, subtract, exp, sum, divide), eleven passes over the scores
//!   forward and backward; fused, the forward is the
//!   backend's own softmax (one kernel on flex) and the backward `dx = y ⊙ (g − Σ g ⊙ y)`, four.
//! - [`swiglu`] (`silu(a) ⊙ b`, the decoder's MLP gate): Burn's sigmoid recomputes itself in its
//!   backward (a second pass of `exp`) and the two products each keep and differentiate their
//!   operands; fused, `σ(a)` is computed once and both gradients come from it.
//! - [`logsumexp_last`] (the loss): with it the loss picks each target's logit and subtracts the
//!   log-sum-exp, instead of materialising the log-softmax of every vocabulary entry and
//!   differentiating it (and a gather) back.
//! - [`rms_norm`] (the decoder's norms): Burn's `RmsNorm` is seven ops (square, mean, add,
//!   square root, divide, and the scale broadcast twice), each kept and differentiated; fused,
//!   one pass per row forward and one backward on flex, with the scale's gradient summed as it
//!   goes.
//!
//! Burn offers no hook for this on a generic backend, so the op is chosen by type: when the
//! backend is one of s2h's autodiff backends, the tensors are handed to the fused version; on any
//! other backend (an inner backend at inference, a user's own) the plain ops run. Both compute the
//! same function; `tests` checks values and gradients against the plain ops.

use std::any::Any;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::prelude::*;
use burn::tensor::TensorMetadata;
use burn::tensor::TensorPrimitive;
use burn::tensor::activation;
use burn::tensor::backend::BackendTypes;

/// The autodiff tensor of inner backend `I`.
type AdTensor<I> = <Autodiff<I> as BackendTypes>::FloatTensorPrimitive;

/// A fused op on `N` float tensors, written once for every inner backend.
trait FusedOp<const N: usize> {
    /// Whether only flex has this op (the other backends run the plain ops).
    const FLEX_ONLY: bool = false;

    /// The op on `inputs`, or the inputs back where it cannot run (the plain ops then do).
    fn run<I: Backend>(&self, inputs: [AdTensor<I>; N]) -> Result<AdTensor<I>, [AdTensor<I>; N]>;
}

/// `op` on `inputs` when `B` is one of s2h's autodiff backends; the inputs back otherwise.
fn dispatch<B: Backend, const N: usize, Op: FusedOp<N>>(
    inputs: [Tensor<B, 3>; N],
    op: Op,
) -> Result<Tensor<B, 3>, [Tensor<B, 3>; N]> {
    let mut primitives = Vec::with_capacity(N);
    for input in inputs {
        match input.into_primitive() {
            TensorPrimitive::Float(p) => primitives.push(p),
            q => {
                // A quantized tensor: nothing to fuse. Give every input back.
                let mut back: Vec<Tensor<B, 3>> = primitives
                    .into_iter()
                    .map(|p| Tensor::from_primitive(TensorPrimitive::Float(p)))
                    .collect();
                back.push(Tensor::from_primitive(q));
                return Err(to_array(back));
            }
        }
    }
    let primitives: [B::FloatTensorPrimitive; N] = to_array(primitives);
    #[allow(unused_mut)]
    let mut state = (primitives, op);
    // Each compiled-in backend in turn: `on` hands the inputs back unless `B` is `Autodiff<$I>`.
    macro_rules! try_on {
        ($feature:literal, $inner:ty, $flex:literal) => {
            #[cfg(feature = $feature)]
            if $flex || !Op::FLEX_ONLY {
                state = match on::<B, $inner, N, Op>(state.0, state.1) {
                    Ok(out) => return Ok(out),
                    Err(back) => back,
                };
            }
        };
    }
    try_on!("flex", burn::backend::Flex, true);
    try_on!("ndarray", burn::backend::NdArray, false);
    try_on!("wgpu", burn::backend::Wgpu, false);
    try_on!("cuda", burn::backend::Cuda, false);
    Err(state
        .0
        .map(|p| Tensor::from_primitive(TensorPrimitive::Float(p))))
}

/// `op` when `B` is `Autodiff<I>`; the primitives and the op back otherwise.
#[allow(dead_code)] // unused when no backend feature is on
#[allow(clippy::type_complexity)]
fn on<B: Backend, I: Backend, const N: usize, Op: FusedOp<N>>(
    inputs: [B::FloatTensorPrimitive; N],
    op: Op,
) -> Result<Tensor<B, 3>, ([B::FloatTensorPrimitive; N], Op)> {
    let inputs = match cast::<_, [AdTensor<I>; N]>(inputs) {
        Ok(inputs) => inputs,
        Err(inputs) => return Err((inputs, op)),
    };
    // `B` is `Autodiff<I>`: the casts back cannot fail.
    match op.run::<I>(inputs) {
        Ok(out) => {
            let out = cast::<_, B::FloatTensorPrimitive>(out)
                .unwrap_or_else(|_| unreachable!("B is Autodiff<I>"));
            Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
        }
        Err(inputs) => Err((
            cast::<_, [B::FloatTensorPrimitive; N]>(inputs)
                .unwrap_or_else(|_| unreachable!("B is Autodiff<I>")),
            op,
        )),
    }
}

fn to_array<T, const N: usize>(items: Vec<T>) -> [T; N] {
    items
        .try_into()
        .unwrap_or_else(|_| unreachable!("one item per input"))
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

/// `softmax(x, D − 1)` over the last dimension of a `[.., .., n]` tensor.
pub fn softmax_last<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    match dispatch([x], SoftmaxOp) {
        Ok(y) => y,
        Err([x]) => activation::softmax(x, 2),
    }
}

/// `silu(a) ⊙ b`.
pub fn swiglu<B: Backend>(a: Tensor<B, 3>, b: Tensor<B, 3>) -> Tensor<B, 3> {
    match dispatch([a, b], SwiGluOp) {
        Ok(y) => y,
        Err([a, b]) => activation::silu(a) * b,
    }
}

/// `log Σ exp(x)` over the last dimension: `[.., .., n]` → `[.., .., 1]`.
pub fn logsumexp_last<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    match dispatch([x], LogSumExpOp) {
        Ok(y) => y,
        Err([x]) => {
            let max = x.clone().detach().max_dim(2);
            (x - max.clone()).exp().sum_dim(2).log() + max
        }
    }
}

/// `x / √(mean(x²) + ε) ⊙ γ` over the last dimension (Burn's `RmsNorm::forward`, and Llama's
/// norm), `γ` as long as that dimension.
pub fn rms_norm<B: Backend>(x: Tensor<B, 3>, gamma: Tensor<B, 1>, epsilon: f64) -> Tensor<B, 3> {
    let d = gamma.dims()[0];
    match dispatch([x, gamma.reshape([1, 1, d])], RmsNormOp { epsilon }) {
        Ok(y) => y,
        Err([x, gamma]) => {
            let rms = (x.clone().square().mean_dim(2) + epsilon).sqrt();
            (x / rms) * gamma
        }
    }
}

mod attention;

pub use attention::{AttentionInputs, attention, cached_attention};

/// The last dimension of a rank-3 primitive.
const LAST: usize = 2;

/// `out` as the result of `backward` applied to `parents`, keeping `state` for the backward pass
/// when a parent is tracked.
fn record<I: Backend, const N: usize, BO>(
    backward: BO,
    parents: [&AdTensor<I>; N],
    state: BO::State,
    out: I::FloatTensorPrimitive,
) -> AdTensor<I>
where
    BO: Backward<I, N>,
    BO::State: Clone + Send + std::fmt::Debug + 'static,
{
    match backward
        .prepare::<NoCheckpointing>(parents.map(|p| p.node.clone()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

struct SoftmaxOp;

impl FusedOp<1> for SoftmaxOp {
    fn run<I: Backend>(&self, [x]: [AdTensor<I>; 1]) -> Result<AdTensor<I>, [AdTensor<I>; 1]> {
        let y = I::softmax(x.primitive.clone(), LAST);
        Ok(record(Softmax, [&x], y.clone(), y))
    }
}

#[derive(Debug)]
struct Softmax;

impl<I: Backend> Backward<I, 1> for Softmax {
    /// The output `y`.
    type State = I::FloatTensorPrimitive;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let y = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            softmax_backward::<I>(g, y)
        });
    }
}

/// `dx = y ⊙ (g − Σ g ⊙ y)`, the softmax's backward along the last dimension: one pass per row
/// on flex.
fn softmax_backward<I: Backend>(
    g: I::FloatTensorPrimitive,
    y: I::FloatTensorPrimitive,
) -> I::FloatTensorPrimitive {
    #[cfg(feature = "flex")]
    {
        let shape = y.shape();
        let row = shape[LAST];
        if let Some(dx) = flex::values::<I, 2>([&g, &y])
            .filter(|[g, y]| g.len() == y.len())
            .and_then(|[g, y]| flex::tensor::<I>(flex::softmax_backward(&g, &y, row), shape))
        {
            return dx;
        }
    }
    softmax_backward_ops::<I>(g, y)
}

/// [`softmax_backward`] in the backend's ops.
fn softmax_backward_ops<I: Backend>(
    g: I::FloatTensorPrimitive,
    y: I::FloatTensorPrimitive,
) -> I::FloatTensorPrimitive {
    let gy = I::float_mul(g, y.clone());
    let sum = I::float_sum_dim(gy.clone(), LAST);
    I::float_sub(gy, I::float_mul(y, sum))
}

struct SwiGluOp;

impl FusedOp<2> for SwiGluOp {
    fn run<I: Backend>(&self, [a, b]: [AdTensor<I>; 2]) -> Result<AdTensor<I>, [AdTensor<I>; 2]> {
        let out = swiglu_forward::<I>(&a.primitive, &b.primitive);
        let state = (a.primitive.clone(), b.primitive.clone());
        Ok(record(SwiGlu, [&a, &b], state, out))
    }
}

/// `silu(a) ⊙ b`: one pass on flex, the backend's ops elsewhere.
fn swiglu_forward<I: Backend>(
    a: &I::FloatTensorPrimitive,
    b: &I::FloatTensorPrimitive,
) -> I::FloatTensorPrimitive {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::values::<I, 2>([a, b])
        .filter(|[a, b]| a.len() == b.len())
        .and_then(|[x, y]| flex::tensor::<I>(flex::swiglu_forward(&x, &y), a.shape()))
    {
        return out;
    }
    swiglu_forward_ops::<I>(a.clone(), b.clone())
}

/// [`swiglu_forward`] in the backend's ops.
fn swiglu_forward_ops<I: Backend>(
    a: I::FloatTensorPrimitive,
    b: I::FloatTensorPrimitive,
) -> I::FloatTensorPrimitive {
    let silu = I::float_mul(a.clone(), I::sigmoid(a));
    I::float_mul(silu, b)
}

#[derive(Debug)]
struct SwiGlu;

impl<I: Backend> Backward<I, 2> for SwiGlu {
    /// `a` and `b` (`σ(a)` is recomputed: cheaper than keeping it).
    type State = (I::FloatTensorPrimitive, I::FloatTensorPrimitive);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (a, b) = ops.state;
        let g = grads.consume::<I>(&ops.node);
        let (da, db) = swiglu_backward::<I>(g, a, b);
        for (node, grad) in ops.parents.into_iter().zip([da, db]) {
            if let Some(node) = node {
                grads.register::<I>(node.id, grad);
            }
        }
    }
}

/// The gradients of `silu(a) ⊙ b` given the output's `g`: `g ⊙ b ⊙ silu'(a)` and
/// `g ⊙ silu(a)`, with `silu'(a) = σ + a σ (1 − σ) = σ + silu − silu σ`. One pass on flex.
fn swiglu_backward<I: Backend>(
    g: I::FloatTensorPrimitive,
    a: I::FloatTensorPrimitive,
    b: I::FloatTensorPrimitive,
) -> (I::FloatTensorPrimitive, I::FloatTensorPrimitive) {
    #[cfg(feature = "flex")]
    if let Some([g_, a_, b_]) = flex::values::<I, 3>([&g, &a, &b])
        .filter(|[g, a, b]| g.len() == a.len() && a.len() == b.len())
    {
        let (da, db) = flex::swiglu_backward(&g_, &a_, &b_);
        if let (Some(da), Some(db)) = (
            flex::tensor::<I>(da, a.shape()),
            flex::tensor::<I>(db, a.shape()),
        ) {
            return (da, db);
        }
    }
    swiglu_backward_ops::<I>(g, a, b)
}

/// [`swiglu_backward`] in the backend's ops.
fn swiglu_backward_ops<I: Backend>(
    g: I::FloatTensorPrimitive,
    a: I::FloatTensorPrimitive,
    b: I::FloatTensorPrimitive,
) -> (I::FloatTensorPrimitive, I::FloatTensorPrimitive) {
    let sig = I::sigmoid(a.clone());
    let silu = I::float_mul(a, sig.clone());
    let slope = I::float_add(
        I::float_sub(silu.clone(), I::float_mul(silu.clone(), sig.clone())),
        sig,
    );
    let da = I::float_mul(I::float_mul(g.clone(), b), slope);
    (da, I::float_mul(g, silu))
}

struct LogSumExpOp;

impl FusedOp<1> for LogSumExpOp {
    fn run<I: Backend>(&self, [x]: [AdTensor<I>; 1]) -> Result<AdTensor<I>, [AdTensor<I>; 1]> {
        let lse = logsumexp_forward::<I>(&x.primitive);
        Ok(record(
            LogSumExp,
            [&x],
            (x.primitive.clone(), lse.clone()),
            lse,
        ))
    }
}

#[derive(Debug)]
struct LogSumExp;

impl<I: Backend> Backward<I, 1> for LogSumExp {
    /// The input and its log-sum-exp.
    type State = (I::FloatTensorPrimitive, I::FloatTensorPrimitive);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (x, lse) = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            logsumexp_backward::<I>(g, x, lse)
        });
    }
}

/// `log Σ exp(x)` along the last dimension, shifted by the row's maximum. (flex's own ops,
/// vectorised, beat a one-pass kernel here: the cost is the `exp` of every logit.)
fn logsumexp_forward<I: Backend>(x: &I::FloatTensorPrimitive) -> I::FloatTensorPrimitive {
    let max = I::float_max_dim(x.clone(), LAST);
    let shifted = I::float_sub(x.clone(), max.clone());
    let sum = I::float_sum_dim(I::float_exp(shifted), LAST);
    I::float_add(I::float_log(sum), max)
}

/// `dx = g ⊙ softmax(x) = g ⊙ exp(x − lse)` (`g` and `lse` one value per row).
fn logsumexp_backward<I: Backend>(
    g: I::FloatTensorPrimitive,
    x: I::FloatTensorPrimitive,
    lse: I::FloatTensorPrimitive,
) -> I::FloatTensorPrimitive {
    I::float_mul(I::float_exp(I::float_sub(x, lse)), g)
}

struct RmsNormOp {
    epsilon: f64,
}

impl FusedOp<2> for RmsNormOp {
    fn run<I: Backend>(
        &self,
        [x, gamma]: [AdTensor<I>; 2],
    ) -> Result<AdTensor<I>, [AdTensor<I>; 2]> {
        let (y, inv) = rms_norm_forward::<I>(&x.primitive, &gamma.primitive, self.epsilon);
        let state = (x.primitive.clone(), gamma.primitive.clone(), inv);
        Ok(record(RmsNorm, [&x, &gamma], state, y))
    }
}

/// The normalised `y` and each row's `1/√(mean(x²) + ε)` (`[.., .., 1]`): one pass on flex.
fn rms_norm_forward<I: Backend>(
    x: &I::FloatTensorPrimitive,
    gamma: &I::FloatTensorPrimitive,
    epsilon: f64,
) -> (I::FloatTensorPrimitive, I::FloatTensorPrimitive) {
    #[cfg(feature = "flex")]
    {
        let shape = x.shape();
        let row = shape[LAST];
        if let Some((y, inv)) = flex::values::<I, 2>([x, gamma])
            .filter(|[_, g]| g.len() == row)
            .map(|[x, g]| flex::rms_norm_forward(&x, &g, epsilon as f32))
        {
            let mut rows = shape.clone();
            rows[LAST] = 1;
            if let (Some(y), Some(inv)) =
                (flex::tensor::<I>(y, shape), flex::tensor::<I>(inv, rows))
            {
                return (y, inv);
            }
        }
    }
    rms_norm_forward_ops::<I>(x.clone(), gamma.clone(), epsilon)
}

/// [`rms_norm_forward`] in the backend's ops.
fn rms_norm_forward_ops<I: Backend>(
    x: I::FloatTensorPrimitive,
    gamma: I::FloatTensorPrimitive,
    epsilon: f64,
) -> (I::FloatTensorPrimitive, I::FloatTensorPrimitive) {
    let mean_sq = I::float_mean_dim(I::float_mul(x.clone(), x.clone()), LAST);
    let inv = I::float_recip(I::float_sqrt(I::float_add_scalar(
        mean_sq,
        (epsilon as f32).into(),
    )));
    let y = I::float_mul(I::float_mul(x, inv.clone()), gamma);
    (y, inv)
}

#[derive(Debug)]
struct RmsNorm;

impl<I: Backend> Backward<I, 2> for RmsNorm {
    /// `x`, `γ` and each row's `1/√(mean(x²) + ε)`.
    type State = (
        I::FloatTensorPrimitive,
        I::FloatTensorPrimitive,
        I::FloatTensorPrimitive,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (x, gamma, inv) = ops.state;
        let g = grads.consume::<I>(&ops.node);
        let (dx, dgamma) = rms_norm_backward::<I>(g, x, gamma, inv);
        for (node, grad) in ops.parents.into_iter().zip([dx, dgamma]) {
            if let Some(node) = node {
                grads.register::<I>(node.id, grad);
            }
        }
    }
}

/// The gradients of RMSNorm given the output's `g`, with `x̂ = x·r` (`r` the row's inverse
/// root mean square): `dx = r (g⊙γ − x̂ mean(g⊙γ⊙x̂))` and `dγ = Σ_rows g⊙x̂` (`[1, 1, d]`).
/// One pass on flex.
fn rms_norm_backward<I: Backend>(
    g: I::FloatTensorPrimitive,
    x: I::FloatTensorPrimitive,
    gamma: I::FloatTensorPrimitive,
    inv: I::FloatTensorPrimitive,
) -> (I::FloatTensorPrimitive, I::FloatTensorPrimitive) {
    #[cfg(feature = "flex")]
    {
        let shape = x.shape();
        let row = shape[LAST];
        if let Some((dx, dgamma)) = flex::values::<I, 4>([&g, &x, &gamma, &inv])
            .filter(|[g, x, gm, r]| {
                g.len() == x.len() && gm.len() == row && r.len() * row == x.len()
            })
            .map(|[g, x, gm, r]| flex::rms_norm_backward(&g, &x, &gm, &r))
            && let (Some(dx), Some(dgamma)) = (
                flex::tensor::<I>(dx, shape),
                flex::tensor::<I>(dgamma, gamma.shape()),
            )
        {
            return (dx, dgamma);
        }
    }
    rms_norm_backward_ops::<I>(g, x, gamma, inv)
}

/// [`rms_norm_backward`] in the backend's ops.
fn rms_norm_backward_ops<I: Backend>(
    g: I::FloatTensorPrimitive,
    x: I::FloatTensorPrimitive,
    gamma: I::FloatTensorPrimitive,
    inv: I::FloatTensorPrimitive,
) -> (I::FloatTensorPrimitive, I::FloatTensorPrimitive) {
    let x_hat = I::float_mul(x, inv.clone());
    let dgamma = I::float_sum_dim(
        I::float_sum_dim(I::float_mul(g.clone(), x_hat.clone()), 0),
        1,
    );
    let g_gamma = I::float_mul(g, gamma);
    let mean = I::float_mean_dim(I::float_mul(g_gamma.clone(), x_hat.clone()), LAST);
    let dx = I::float_mul(I::float_sub(g_gamma, I::float_mul(x_hat, mean)), inv);
    (dx, dgamma)
}

/// Kernels on flex's tensors, parallel over chunks (or rows) with rayon: flex's own element-wise
/// ops make one pass per op, on one thread.
#[cfg(feature = "flex")]
mod flex {
    use std::borrow::Cow;

    use burn::prelude::Backend;
    use burn::tensor::{Shape, TensorData};
    use burn_flex::FlexTensor;
    use rayon::prelude::*;

    use super::cast;

    /// Elements per parallel chunk (a few chunks per thread on the ff-wide activations).
    const CHUNK: usize = 1 << 14;

    /// The f32 values of flex tensors, contiguous (copied only when strided); `None` when `I` is
    /// not flex or a tensor is not f32.
    pub fn values<I: Backend, const N: usize>(
        inputs: [&I::FloatTensorPrimitive; N],
    ) -> Option<[Cow<'_, [f32]>; N]> {
        let mut values = Vec::with_capacity(N);
        for t in inputs {
            let t = (t as &dyn std::any::Any).downcast_ref::<FlexTensor>()?;
            values.push(match t.as_slice::<f32>() {
                Some(v) => Cow::Borrowed(v),
                None => Cow::Owned(t.to_contiguous().as_slice::<f32>()?.to_vec()),
            });
        }
        values.try_into().ok()
    }

    /// A flex tensor of `values` as `I`'s primitive.
    pub fn tensor<I: Backend>(values: Vec<f32>, shape: Shape) -> Option<I::FloatTensorPrimitive> {
        cast(FlexTensor::from_data(TensorData::new(values, shape))).ok()
    }

    /// Rows of `row` values per parallel chunk, at least one.
    fn rows_per_chunk(row: usize) -> usize {
        (CHUNK / row.max(1)).max(1)
    }

    /// `Σ a·b` with eight partial sums, which the compiler turns into vector instructions (one
    /// running sum is a chain of dependent additions).
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 8];
        let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = a8
            .remainder()
            .iter()
            .zip(b8.remainder())
            .map(|(a, b)| a * b)
            .sum();
        for (a, b) in a8.zip(b8) {
            for l in 0..8 {
                acc[l] += a[l] * b[l];
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + (-x).exp())
    }

    /// `σ(a)` of each value of `a` into `out` (as long), eight lanes at a time ([`exp8`]).
    fn sigmoids(a: &[f32], out: &mut [f32]) {
        let mut chunks = out.chunks_exact_mut(8);
        for (o, a) in (&mut chunks).zip(a.chunks_exact(8)) {
            let e = exp8(std::array::from_fn(|l| -a[l]));
            for l in 0..8 {
                o[l] = 1.0 / (1.0 + e[l]);
            }
        }
        let done = a.len() - chunks.into_remainder().len();
        for (o, &a) in out[done..].iter_mut().zip(&a[done..]) {
            *o = sigmoid(a);
        }
    }

    pub fn swiglu_forward(a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; a.len()];
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(out, (a, b))| {
                sigmoids(a, out);
                for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                    *o *= a * b;
                }
            });
        out
    }

    pub fn swiglu_backward(g: &[f32], a: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut da = vec![0f32; a.len()];
        let mut db = vec![0f32; a.len()];
        da.par_chunks_mut(CHUNK)
            .zip(db.par_chunks_mut(CHUNK))
            .zip(
                g.par_chunks(CHUNK)
                    .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))),
            )
            .for_each(|((da, db), (g, (a, b)))| {
                // σ(a), kept in `db` until it is overwritten.
                sigmoids(a, db);
                for i in 0..da.len() {
                    let s = db[i];
                    let silu = a[i] * s;
                    da[i] = g[i] * b[i] * (s + silu - silu * s);
                    db[i] = g[i] * silu;
                }
            });
        (da, db)
    }

    /// RMSNorm of each row of `gamma.len()` values: the output and each row's inverse root
    /// mean square.
    pub fn rms_norm_forward(x: &[f32], gamma: &[f32], epsilon: f32) -> (Vec<f32>, Vec<f32>) {
        let row = gamma.len();
        let mut y = vec![0f32; x.len()];
        let mut inv = vec![0f32; x.len() / row];
        let rows = rows_per_chunk(row);
        y.par_chunks_mut(rows * row)
            .zip(inv.par_chunks_mut(rows).zip(x.par_chunks(rows * row)))
            .for_each(|(y, (inv, x))| {
                for ((y, r), x) in y.chunks_mut(row).zip(inv.iter_mut()).zip(x.chunks(row)) {
                    *r = 1.0 / (dot(x, x) / row as f32 + epsilon).sqrt();
                    for ((y, x), g) in y.iter_mut().zip(x).zip(gamma) {
                        *y = x * *r * g;
                    }
                }
            });
        (y, inv)
    }

    /// [`super::rms_norm_backward`] row by row: `dx`, and `dγ` summed over the rows of each
    /// chunk, then over the chunks in order.
    pub fn rms_norm_backward(
        g: &[f32],
        x: &[f32],
        gamma: &[f32],
        inv: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let row = gamma.len();
        let mut dx = vec![0f32; x.len()];
        let rows = rows_per_chunk(row);
        let dgamma = dx
            .par_chunks_mut(rows * row)
            .zip(g.par_chunks(rows * row).zip(x.par_chunks(rows * row)))
            .zip(inv.par_chunks(rows))
            .map(|((dx, (g, x)), inv)| {
                let mut dgamma = vec![0f32; row];
                let mut g_gamma = vec![0f32; row];
                for (((dx, g), x), &r) in dx
                    .chunks_mut(row)
                    .zip(g.chunks(row))
                    .zip(x.chunks(row))
                    .zip(inv)
                {
                    for (((gg, dg), &g), (&x, &gm)) in g_gamma
                        .iter_mut()
                        .zip(dgamma.iter_mut())
                        .zip(g)
                        .zip(x.iter().zip(gamma))
                    {
                        *gg = g * gm;
                        *dg += g * x * r;
                    }
                    // mean(g⊙γ⊙x̂) = r · (g⊙γ)·x / d
                    let mean = r * dot(&g_gamma, x) / row as f32;
                    for ((dx, gg), x) in dx.iter_mut().zip(&g_gamma).zip(x) {
                        *dx = r * (gg - x * r * mean);
                    }
                }
                dgamma
            })
            .collect::<Vec<_>>()
            // Summed in chunk order, not as rayon's reduction tree (which follows the work
            // stealing): the same inputs give the same bits on any run and any thread count.
            .into_iter()
            .fold(vec![0f32; row], |mut sum, part| {
                for (s, p) in sum.iter_mut().zip(&part) {
                    *s += p;
                }
                sum
            });
        (dx, dgamma)
    }

    pub fn softmax_backward(g: &[f32], y: &[f32], row: usize) -> Vec<f32> {
        let mut dx = vec![0f32; y.len()];
        let n = rows_per_chunk(row) * row;
        dx.par_chunks_mut(n)
            .zip(g.par_chunks(n).zip(y.par_chunks(n)))
            .for_each(|(dx, (g, y))| {
                for ((dx, g), y) in dx.chunks_mut(row).zip(g.chunks(row)).zip(y.chunks(row)) {
                    let dot = dot(g, y);
                    for ((d, g), y) in dx.iter_mut().zip(g).zip(y) {
                        *d = y * (g - dot);
                    }
                }
            });
        dx
    }

    /// `exp` of eight values, in straight-line code the compiler vectorises (libm's `expf` is
    /// called one value at a time): `2^n · p(r)` with `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`, and `p`
    /// the degree-6 Taylor polynomial (relative error below 2·10⁻⁷). Below −87.3 it gives 0, so
    /// a masked score (−∞) weighs nothing.
    #[inline]
    pub(super) fn exp8(x: [f32; 8]) -> [f32; 8] {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        // 1.5·2²³: adding it rounds to an integer, which then sits in the low mantissa bits.
        // (`f32::round` and Rust's saturating `as i32` keep the loop from vectorising.)
        const ROUND: f32 = 12_582_912.0;
        let mut out = [0f32; 8];
        for l in 0..8 {
            let xi = x[l].clamp(-87.3, 88.7);
            let shifted = xi * LOG2E + ROUND;
            let n = shifted - ROUND;
            let r = (xi - n * LN2_HI) - n * LN2_LO;
            let p = 1.0
                + r * (1.0
                    + r * (0.5
                        + r * (1.0 / 6.0
                            + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
            // 2ⁿ from n's bits: the exponent field n + 127.
            let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
            let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
            out[l] = if x[l] < -87.3 { 0.0 } else { p * scale };
        }
        out
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
        x: &Tensor<A, 3>,
        w: &Tensor<A, 3>,
        f: fn(Tensor<A, 3>) -> Tensor<A, 3>,
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

    fn plain(x: Tensor<A, 3>) -> Tensor<A, 3> {
        activation::softmax(x, 2)
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
        let x = Tensor::<A, 3>::random([6, 5, 7], Distribution::Normal(0.0, 3.0), &device);
        let w = Tensor::<A, 3>::random([6, 5, 7], Distribution::Normal(0.0, 1.0), &device);
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
        let x = Tensor::<A, 3>::from_data(TensorData::new(values, [1, 2, 4]), &device);
        let w = Tensor::<A, 3>::from_data(
            TensorData::new(vec![1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, 1.5], [1, 2, 4]),
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
        let x = Tensor::<Flex, 3>::random([2, 3, 6], Distribution::Normal(0.0, 2.0), &device);
        let fused: Vec<f32> = softmax_last(x.clone()).into_data().to_vec().expect("f32");
        let plain: Vec<f32> = activation::softmax(x, 2).into_data().to_vec().expect("f32");
        assert_close(&fused, &plain, 1e-7);
    }

    /// Values and gradients of `Σ w ⊙ f(inputs)` with respect to every input.
    fn grads_of<const N: usize>(
        inputs: &[Tensor<A, 3>; N],
        w: &Tensor<A, 3>,
        f: &dyn Fn([Tensor<A, 3>; N]) -> Tensor<A, 3>,
    ) -> (Vec<f32>, Vec<Vec<f32>>) {
        let _pass = crate::autodiff::pass_lock();
        let inputs = inputs.clone().map(|x| x.require_grad());
        let y = f(inputs.clone());
        let grads = (y.clone() * w.clone()).sum().backward();
        let gs = inputs
            .iter()
            .map(|x| {
                x.grad(&grads)
                    .expect("every input has a gradient")
                    .into_data()
                    .to_vec()
                    .expect("f32")
            })
            .collect();
        (y.into_data().to_vec().expect("f32"), gs)
    }

    /// Attention in Burn's own ops, key/value heads repeated for their query heads: the reference
    /// of the fused one.
    fn plain_attention(
        q: Tensor<A, 4>,
        k: Tensor<A, 4>,
        v: Tensor<A, 4>,
        mask: Option<Tensor<A, 3>>,
    ) -> Tensor<A, 3> {
        let ([b, t, h, d], [_, s, kv, _]) = (q.dims(), k.dims());
        let heads = |x: Tensor<A, 4>| {
            x.swap_dims(1, 2)
                .unsqueeze_dim::<5>(2)
                .repeat_dim(2, h / kv)
                .reshape([b, h, s, d])
        };
        let mut scores = q.swap_dims(1, 2).matmul(heads(k).swap_dims(2, 3));
        if let Some(mask) = mask {
            let rows = mask.dims()[0];
            scores = scores + mask.reshape([rows, 1, t, s]);
        }
        activation::softmax(scores, 3)
            .matmul(heads(v))
            .swap_dims(1, 2)
            .reshape([b, t, h * d])
    }

    #[test]
    fn fused_attention_matches_the_plain_ops_forward_and_backward() {
        let device = Default::default();
        let (b, t, d) = (3, 6, 8);
        for (h, kv, mask) in [
            (
                4,
                2,
                Some(crate::attention::causal_mask::<A>(t, 0, &device)),
            ),
            (
                4,
                4,
                Some(crate::attention::padded_causal_mask::<A>(
                    t,
                    0,
                    &[0, 2, 5],
                    &device,
                )),
            ),
            (2, 1, None),
        ] {
            let normal = |n: usize| {
                Tensor::<A, 3>::random([b, t, n * d], Distribution::Normal(0.0, 1.0), &device)
            };
            let (q, k, v, w) = (normal(h), normal(kv), normal(kv), normal(h));
            let split = |x: Tensor<A, 3>, n: usize| x.reshape([b, t, n, d]);
            let m = mask.clone();
            let (y, g) =
                grads_of(
                    &[q.clone(), k.clone(), v.clone()],
                    &w,
                    &|[q, k, v]| match attention(split(q, h), split(k, kv), split(v, kv), m.clone())
                    {
                        Ok(out) => out,
                        Err(_) => panic!("the fused attention runs on Autodiff<Flex>"),
                    },
                );
            let (y_plain, g_plain) = grads_of(&[q, k, v], &w, &|[q, k, v]| {
                plain_attention(split(q, h), split(k, kv), split(v, kv), mask.clone())
            });
            assert_close(&y, &y_plain, 1e-5);
            for (g, g_plain) in g.iter().zip(&g_plain) {
                assert_close(g, g_plain, 1e-5);
                assert!(g_plain.iter().any(|v| v.abs() > 1e-2));
            }
        }
    }

    #[test]
    fn cached_attention_matches_the_plain_ops_over_a_cache() {
        // Inference on flex: keys and values `[b, kv, s, d]` as the cache keeps them, queries for
        // the last `t` of `s` positions, a per-row mask.
        let device = Default::default();
        let (b, t, s, h, kv, d) = (3, 2, 7, 4, 2, 8);
        let normal = |dims: [usize; 4]| {
            Tensor::<Flex, 4>::random(dims, Distribution::Normal(0.0, 1.0), &device)
        };
        let (q, k, v) = (
            normal([b, t, h, d]),
            normal([b, kv, s, d]),
            normal([b, kv, s, d]),
        );
        let mask = crate::attention::padded_causal_mask::<Flex>(t, s - t, &[0, 1, 3], &device);
        for mask in [Some(mask), None] {
            let fused = match cached_attention(q.clone(), k.clone(), v.clone(), mask.clone()) {
                Ok(out) => out,
                Err(_) => panic!("flex has the cached attention"),
            };
            let to_a = |x: Tensor<Flex, 4>| Tensor::<A, 4>::from_inner(x);
            let plain = plain_attention(
                to_a(q.clone()),
                to_a(k.clone().swap_dims(1, 2)),
                to_a(v.clone().swap_dims(1, 2)),
                mask.map(Tensor::<A, 3>::from_inner),
            );
            let fused: Vec<f32> = fused.into_data().to_vec().expect("f32");
            let plain: Vec<f32> = plain.into_data().to_vec().expect("f32");
            assert_close(&fused, &plain, 1e-5);
        }
    }

    #[test]
    fn attention_on_other_backends_gives_the_inputs_back() {
        let device = Default::default();
        let x = Tensor::<Flex, 4>::random([1, 3, 2, 4], Distribution::Normal(0.0, 1.0), &device);
        let back = attention(x.clone(), x.clone(), x.clone(), None);
        assert!(back.is_err(), "the inner backend has no fused attention");
    }

    #[test]
    fn the_vectorised_exp_is_accurate_and_zero_far_below() {
        let mut worst = 0f32;
        for i in 0..(175 * 64) {
            let x0 = -87.0 + i as f32 / 64.0;
            let xs: [f32; 8] = std::array::from_fn(|l| x0 + l as f32 / 512.0);
            for (x, e) in xs.iter().zip(flex::exp8(xs)) {
                worst = worst.max(((e - x.exp()) / x.exp()).abs());
            }
        }
        assert!(worst < 1e-6, "relative error {worst}");
        let far = flex::exp8([
            f32::NEG_INFINITY,
            -100.0,
            -88.0,
            0.0,
            1.0,
            -1.0,
            10.0,
            -10.0,
        ]);
        assert_eq!(&far[..4], &[0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn fused_swiglu_matches_silu_times_gate_forward_and_backward() {
        let device = Default::default();
        let normal = |s| Tensor::<A, 3>::random([3, 4, 9], Distribution::Normal(0.0, s), &device);
        let (a, b, w) = (normal(2.0), normal(1.0), normal(1.0));
        let (y, g) = grads_of(&[a.clone(), b.clone()], &w, &|[a, b]| swiglu(a, b));
        let (y_plain, g_plain) = grads_of(&[a, b], &w, &|[a, b]| activation::silu(a) * b);
        assert_close(&y, &y_plain, 1e-6);
        assert_close(&g[0], &g_plain[0], 1e-5);
        assert_close(&g[1], &g_plain[1], 1e-6);
        assert!(g_plain[0].iter().any(|v| v.abs() > 1e-2));
    }

    #[test]
    fn fused_logsumexp_matches_the_plain_one_forward_and_backward() {
        let device = Default::default();
        // Large logits: the max shift must keep exp from overflowing.
        let x = Tensor::<A, 3>::random([2, 5, 11], Distribution::Normal(0.0, 40.0), &device);
        let w = Tensor::<A, 3>::random([2, 5, 1], Distribution::Normal(0.0, 1.0), &device);
        let (y, g) = grads_of(std::array::from_ref(&x), &w, &|[x]| logsumexp_last(x));
        let plain = |[x]: [Tensor<A, 3>; 1]| {
            let max = x.clone().detach().max_dim(2);
            (x - max.clone()).exp().sum_dim(2).log() + max
        };
        let (y_plain, g_plain) = grads_of(&[x], &w, &plain);
        assert!(y.iter().all(|v| v.is_finite()));
        assert_close(&y, &y_plain, 1e-4);
        assert_close(&g[0], &g_plain[0], 1e-5);
        assert!(g_plain[0].iter().any(|v| v.abs() > 1e-2));
    }

    #[test]
    fn fused_rms_norm_matches_burns_forward_and_backward() {
        let device = Default::default();
        let x = Tensor::<A, 3>::random([3, 5, 24], Distribution::Normal(0.5, 2.0), &device);
        let gamma = Tensor::<A, 1>::random([24], Distribution::Normal(1.0, 0.3), &device);
        let w = Tensor::<A, 3>::random([3, 5, 24], Distribution::Normal(0.0, 1.0), &device);
        let eps = 1e-5;
        let run = |fused: bool| {
            let _pass = crate::autodiff::pass_lock();
            let (x, gamma) = (x.clone().require_grad(), gamma.clone().require_grad());
            let y = if fused {
                rms_norm(x.clone(), gamma.clone(), eps)
            } else {
                let norm = burn::nn::RmsNorm {
                    gamma: burn::module::Param::from_tensor(gamma.clone()),
                    epsilon: eps,
                };
                norm.forward(x.clone())
            };
            let grads = (y.clone() * w.clone()).sum().backward();
            let v = |t: Tensor<Flex, 3>| -> Vec<f32> { t.into_data().to_vec().expect("f32") };
            let dx = v(x.grad(&grads).expect("x has a gradient"));
            let dgamma: Vec<f32> = if fused {
                gamma
                    .grad(&grads)
                    .expect("γ has a gradient")
                    .into_data()
                    .to_vec()
                    .expect("f32")
            } else {
                Vec::new()
            };
            (v(y.inner()), dx, dgamma)
        };
        let (y, dx, dgamma) = run(true);
        let (y_plain, dx_plain, _) = run(false);
        assert_close(&y, &y_plain, 1e-5);
        assert_close(&dx, &dx_plain, 1e-5);
        assert!(dx_plain.iter().any(|v| v.abs() > 1e-2));
        // dγ_j = Σ_rows w⊙x̂, from the plain formula.
        let xs: Vec<f32> = x.clone().inner().into_data().to_vec().expect("f32");
        let ws: Vec<f32> = w.clone().inner().into_data().to_vec().expect("f32");
        let mut expect = vec![0f32; 24];
        for (xr, wr) in xs.chunks(24).zip(ws.chunks(24)) {
            let r = 1.0 / (xr.iter().map(|v| v * v).sum::<f32>() / 24.0 + eps as f32).sqrt();
            for j in 0..24 {
                expect[j] += wr[j] * xr[j] * r;
            }
        }
        assert_close(&dgamma, &expect, 1e-4);
    }

    /// The one-pass flex kernels against the same formulas in the backend's ops (the path other
    /// backends take).
    #[test]
    fn flex_kernels_match_the_ops_other_backends_run() {
        let device = Default::default();
        let normal = |dims: [usize; 3], s| {
            Tensor::<Flex, 3>::random(dims, Distribution::Normal(0.0, s), &device)
                .into_primitive()
                .tensor()
        };
        let values = |t: <Flex as BackendTypes>::FloatTensorPrimitive| -> Vec<f32> {
            Tensor::<Flex, 3>::from_primitive(TensorPrimitive::Float(t))
                .into_data()
                .to_vec()
                .expect("f32")
        };
        // 37 rows of 41: rows straddle the kernels' chunks.
        let dims = [37, 41, 113];
        let (g, a, b) = (normal(dims, 1.0), normal(dims, 3.0), normal(dims, 1.0));
        assert_close(
            &values(swiglu_forward::<Flex>(&a, &b)),
            &values(swiglu_forward_ops::<Flex>(a.clone(), b.clone())),
            1e-5,
        );
        let (da, db) = swiglu_backward::<Flex>(g.clone(), a.clone(), b.clone());
        let (da_ops, db_ops) = swiglu_backward_ops::<Flex>(g.clone(), a.clone(), b.clone());
        assert_close(&values(da), &values(da_ops), 1e-5);
        assert_close(&values(db), &values(db_ops), 1e-5);
        let y = activation::softmax(
            Tensor::<Flex, 3>::from_primitive(TensorPrimitive::Float(a)),
            2,
        )
        .into_primitive()
        .tensor();
        assert_close(
            &values(softmax_backward::<Flex>(g.clone(), y.clone())),
            &values(softmax_backward_ops::<Flex>(g.clone(), y)),
            1e-6,
        );
        let gamma = Tensor::<Flex, 3>::random([1, 1, 113], Distribution::Normal(1.0, 0.5), &device)
            .into_primitive()
            .tensor();
        let (y, inv) = rms_norm_forward::<Flex>(&b, &gamma, 1e-5);
        let (y_ops, inv_ops) = rms_norm_forward_ops::<Flex>(b.clone(), gamma.clone(), 1e-5);
        assert_close(&values(y), &values(y_ops), 1e-5);
        assert_close(&values(inv.clone()), &values(inv_ops), 1e-6);
        let (dx, dgamma) =
            rms_norm_backward::<Flex>(g.clone(), b.clone(), gamma.clone(), inv.clone());
        let (dx_ops, dgamma_ops) = rms_norm_backward_ops::<Flex>(g, b, gamma, inv);
        assert_close(&values(dx), &values(dx_ops), 1e-5);
        // A sum over 37·41 rows: the order of additions differs.
        assert_close(&values(dgamma), &values(dgamma_ops), 1e-2);
    }
}
