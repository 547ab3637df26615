//! Attention as one autodiff op on flex: the products on the heads' strided rows in place, the
//! mask and softmax in between, and a backward of its own.

use burn::prelude::*;
use burn::tensor::TensorMetadata;

use super::{AdTensor, Backward, Checkpointer, FusedOp, Gradients, Ops, dispatch, record};

/// An attention's queries, keys, values and mask, given back where no fused version runs.
pub type AttentionInputs<B> = (
    Tensor<B, 4>,
    Tensor<B, 4>,
    Tensor<B, 4>,
    Option<Tensor<B, 3>>,
);

/// Attention of queries `q` `[b, t, heads, d]`, already scaled by `1/√d`, over keys and values
/// `k`, `v` `[b, s, kv_heads, d]` (`heads` a multiple of `kv_heads`: grouped queries), with an
/// additive `mask` `[rows, t, s]` (`rows` 1 or `b`): `softmax(q·kᵀ + mask)·v` as `[b, t, heads·d]`.
/// Fused on flex — one task per head, the products on the heads' strided rows in place, the
/// softmax in between, the weights kept for the backward — and the inputs back elsewhere, for
/// the caller's plain ops.
pub fn attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<Tensor<B, 3>>,
) -> Result<Tensor<B, 3>, AttentionInputs<B>> {
    let Some(dims) = AttentionDims::of(&q, &k, &v, mask.as_ref(), false) else {
        return Err((q, k, v, mask));
    };
    let (heads, kv_heads, d) = (dims.heads, dims.kv_heads, dims.d);
    let op = AttentionOp { dims };
    let flat = |x: Tensor<B, 4>| {
        let [b, n, h, d] = x.dims();
        x.reshape([b, n, h * d])
    };
    let unflat = |x: Tensor<B, 3>, h: usize| {
        let [b, n, _] = x.dims();
        x.reshape([b, n, h, d])
    };
    match mask {
        None => match dispatch([flat(q), flat(k), flat(v)], op) {
            Ok(out) => Ok(out),
            Err([q, k, v]) => Err((
                unflat(q, heads),
                unflat(k, kv_heads),
                unflat(v, kv_heads),
                None,
            )),
        },
        Some(mask) => match dispatch([flat(q), flat(k), flat(v), mask], op) {
            Ok(out) => Ok(out),
            Err([q, k, v, mask]) => Err((
                unflat(q, heads),
                unflat(k, kv_heads),
                unflat(v, kv_heads),
                Some(mask),
            )),
        },
    }
}

/// Attention at inference (no autodiff) over a KV cache: queries `q` `[b, t, heads, d]`, already
/// scaled by `1/√d`, keys and values `k`, `v` `[b, kv_heads, s, d]` as the cache keeps them, an
/// additive `mask` `[rows, t, s]`: `[b, t, heads·d]`, computed as [`attention`]'s forward on
/// flex's f32 tensors, and the inputs back on any other backend.
pub fn cached_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<Tensor<B, 3>>,
) -> Result<Tensor<B, 3>, AttentionInputs<B>> {
    #[cfg(feature = "flex")]
    {
        let dims = AttentionDims::of(&q, &k, &v, mask.as_ref(), true);
        if let Some(dims) = dims
            && let (Some(qp), Some(kp), Some(vp)) = (float(&q), float(&k), float(&v))
            && let Some([qv, kv, vv]) = super::flex::values::<B, 3>([&qp, &kp, &vp])
        {
            let mask_primitive = mask.as_ref().and_then(float);
            let mask_values = mask_primitive
                .as_ref()
                .and_then(|m| super::flex::values::<B, 1>([m]));
            let rows = mask.as_ref().map_or(0, |m| m.dims()[0]);
            let mask_ok = mask.is_none() || mask_values.is_some();
            if mask_ok {
                let (out, _) = kernels::attention_forward(
                    &qv,
                    &kv,
                    &vv,
                    mask_values.as_ref().map(|[m]| (&m[..], rows)),
                    dims,
                );
                let shape = [dims.b, dims.t, dims.heads * dims.d];
                if let Some(out) = super::flex::tensor::<B>(out, burn::tensor::Shape::new(shape)) {
                    return Ok(Tensor::from_primitive(
                        burn::tensor::TensorPrimitive::Float(out),
                    ));
                }
            }
        }
    }
    Err((q, k, v, mask))
}

/// The float primitive of `x` (a clone sharing its buffer); `None` for a quantized tensor.
#[allow(dead_code)] // without flex
fn float<B: Backend, const D: usize>(x: &Tensor<B, D>) -> Option<B::FloatTensorPrimitive> {
    match x.clone().into_primitive() {
        burn::tensor::TensorPrimitive::Float(p) => Some(p),
        _ => None,
    }
}

/// The shapes of one attention: batch, query and key lengths, query and key/value heads, head
/// size, and where the heads of the keys and values are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionDims {
    b: usize,
    t: usize,
    s: usize,
    heads: usize,
    kv_heads: usize,
    d: usize,
    /// Keys and values are `[b, kv_heads, s, d]` (a KV cache) instead of `[b, s, kv_heads, d]`
    /// (the projections' layout).
    kv_heads_first: bool,
}

impl AttentionDims {
    /// The shapes of `q` `[b, t, heads, d]`, `k` and `v` (`[b, kv_heads, s, d]` with
    /// `kv_heads_first`, `[b, s, kv_heads, d]` otherwise) and `mask` `[1 | b, t, s]`, if they fit
    /// together.
    fn of<B: Backend>(
        q: &Tensor<B, 4>,
        k: &Tensor<B, 4>,
        v: &Tensor<B, 4>,
        mask: Option<&Tensor<B, 3>>,
        kv_heads_first: bool,
    ) -> Option<Self> {
        let ([b, t, heads, d], [kb, k1, k2, kd]) = (q.dims(), k.dims());
        let (s, kv_heads) = if kv_heads_first { (k2, k1) } else { (k1, k2) };
        let fits = kv_heads > 0
            && heads % kv_heads == 0
            && k.dims() == v.dims()
            && kb == b
            && kd == d
            && mask.is_none_or(
                |m| matches!(m.dims(), [r, mt, ms] if (r == 1 || r == b) && mt == t && ms == s),
            );
        fits.then_some(Self {
            b,
            t,
            s,
            heads,
            kv_heads,
            d,
            kv_heads_first,
        })
    }

    /// Query heads per key/value head.
    #[allow(dead_code)] // without flex
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// The offset of query head `h` of batch row `bi` in `q`, the output and their gradients
    /// (all `[b, t, heads, d]`), and the stride between positions.
    #[allow(dead_code)] // without flex
    fn q_start(&self, bi: usize, h: usize) -> (usize, isize) {
        (
            (bi * self.t * self.heads + h) * self.d,
            (self.heads * self.d) as isize,
        )
    }

    /// The offset of key/value head `g` of batch row `bi`, and the stride between positions.
    #[allow(dead_code)] // without flex
    fn kv_start(&self, bi: usize, g: usize) -> (usize, isize) {
        let (s, kv, d) = (self.s, self.kv_heads, self.d);
        if self.kv_heads_first {
            ((bi * kv + g) * s * d, d as isize)
        } else {
            ((bi * s * kv + g) * d, (kv * d) as isize)
        }
    }
}

#[derive(Clone, Copy)]
struct AttentionOp {
    dims: AttentionDims,
}

impl AttentionOp {
    /// The fused forward on flex's f32 tensors; `None` on anything else.
    #[allow(unused_variables)]
    fn forward<I: Backend>(
        &self,
        q: &AdTensor<I>,
        k: &AdTensor<I>,
        v: &AdTensor<I>,
        mask: Option<&AdTensor<I>>,
    ) -> Option<AdTensor<I>> {
        #[cfg(feature = "flex")]
        {
            let dims = self.dims;
            let [qv, kv, vv] =
                super::flex::values::<I, 3>([&q.primitive, &k.primitive, &v.primitive])?;
            let mask_values = match mask {
                Some(m) => Some(super::flex::values::<I, 1>([&m.primitive])?),
                None => None,
            };
            let rows = mask.map_or(0, |m| m.primitive.shape()[0]);
            let (out, weights) = kernels::attention_forward(
                &qv,
                &kv,
                &vv,
                mask_values.as_ref().map(|[m]| (&m[..], rows)),
                dims,
            );
            let out =
                super::flex::tensor::<I>(out, Shape::new([dims.b, dims.t, dims.heads * dims.d]))?;
            let weights = std::sync::Arc::new(weights);
            let state = AttentionState {
                q: q.primitive.clone(),
                k: k.primitive.clone(),
                v: v.primitive.clone(),
                weights,
                dims,
            };
            Some(record(AttentionBackward, [q, k, v], state, out))
        }
        #[cfg(not(feature = "flex"))]
        None
    }
}

impl FusedOp<3> for AttentionOp {
    const FLEX_ONLY: bool = true;

    fn run<I: Backend>(
        &self,
        [q, k, v]: [AdTensor<I>; 3],
    ) -> Result<AdTensor<I>, [AdTensor<I>; 3]> {
        self.forward(&q, &k, &v, None).ok_or([q, k, v])
    }
}

impl FusedOp<4> for AttentionOp {
    const FLEX_ONLY: bool = true;

    fn run<I: Backend>(
        &self,
        [q, k, v, mask]: [AdTensor<I>; 4],
    ) -> Result<AdTensor<I>, [AdTensor<I>; 4]> {
        self.forward(&q, &k, &v, Some(&mask)).ok_or([q, k, v, mask])
    }
}

/// What the attention's backward needs: the inputs and the attention weights `[b, heads, t, s]`.
#[derive(Clone)]
struct AttentionState<I: Backend> {
    q: I::FloatTensorPrimitive,
    k: I::FloatTensorPrimitive,
    v: I::FloatTensorPrimitive,
    weights: std::sync::Arc<Vec<f32>>,
    dims: AttentionDims,
}

impl<I: Backend> std::fmt::Debug for AttentionState<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttentionState({:?})", self.dims)
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl<I: Backend> Backward<I, 3> for AttentionBackward {
    type State = AttentionState<I>;

    #[allow(unused_variables)]
    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let state = ops.state;
        let g = grads.consume::<I>(&ops.node);
        #[cfg(feature = "flex")]
        {
            let dims = state.dims;
            // The forward ran on flex's f32 tensors (or it would not have been recorded), and a
            // gradient has its output's backend and type.
            let Some([g, q, k, v]) =
                super::flex::values::<I, 4>([&g, &state.q, &state.k, &state.v])
            else {
                unreachable!("the fused attention runs on flex's f32 tensors only")
            };
            let (dq, dk, dv) = kernels::attention_backward(&g, &q, &k, &v, &state.weights, dims);
            let shapes = [state.q.shape(), state.k.shape(), state.v.shape()];
            for ((node, grad), shape) in ops.parents.into_iter().zip([dq, dk, dv]).zip(shapes) {
                if let Some(node) = node
                    && let Some(grad) = super::flex::tensor::<I>(grad, shape)
                {
                    grads.register::<I>(node.id, grad);
                }
            }
        }
    }
}

#[cfg(feature = "flex")]
mod kernels {
    use rayon::prelude::*;

    use super::super::flex::{dot, exp8};

    /// A raw pointer that tasks writing disjoint parts of one buffer share.
    #[derive(Clone, Copy)]
    struct Shared(*mut f32);
    // SAFETY: every task writes only its own heads' elements (see the callers).
    unsafe impl Send for Shared {}
    unsafe impl Sync for Shared {}

    impl Shared {
        /// The pointer `offset` elements on. (A method, so closures capture the whole `Shared`
        /// and not its raw field.)
        ///
        /// # Safety
        /// `offset` must stay inside the buffer.
        unsafe fn at(self, offset: usize) -> *mut f32 {
            // SAFETY: the caller's contract.
            unsafe { self.0.add(offset) }
        }
    }

    /// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, each given by its pointer and (row, column)
    /// strides, on the calling thread.
    ///
    /// # Safety
    /// Every element the strides reach must lie in its buffer, and `dst` must not overlap the
    /// operands or another thread's writes.
    #[allow(clippy::too_many_arguments)]
    unsafe fn matmul(
        [m, n, k]: [usize; 3],
        dst: (*mut f32, isize, isize),
        accumulate: bool,
        lhs: (*const f32, isize, isize),
        rhs: (*const f32, isize, isize),
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.0,
                dst.2,
                dst.1,
                accumulate,
                lhs.0,
                lhs.2,
                lhs.1,
                rhs.0,
                rhs.2,
                rhs.1,
                if accumulate { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    }

    /// The attention's output `[b, t, heads·d]` and weights `[b, heads, t, s]` (see
    /// [`super::attention`]), one task per (batch row, head).
    pub fn attention_forward(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        mask: Option<(&[f32], usize)>,
        dims: super::AttentionDims,
    ) -> (Vec<f32>, Vec<f32>) {
        let super::AttentionDims {
            b, t, s, heads, d, ..
        } = dims;
        let mut out = vec![0f32; b * t * heads * d];
        let mut weights = vec![0f32; b * heads * t * s];
        let out_ptr = Shared(out.as_mut_ptr());
        weights
            .par_chunks_mut(t * s)
            .enumerate()
            .for_each(|(task, w)| {
                let (bi, h) = (task / heads, task % heads);
                let (q0, q_row) = dims.q_start(bi, h);
                let (kv0, kv_row) = dims.kv_start(bi, h / dims.group());
                // SAFETY: the head's rows of q, k, v lie in their buffers ([b, t|s, heads|kv, d]);
                // `w` is this task's own [t, s] block.
                unsafe {
                    matmul(
                        [t, s, d],
                        (w.as_mut_ptr(), s as isize, 1),
                        false,
                        (q[q0..].as_ptr(), q_row, 1),
                        (k[kv0..].as_ptr(), 1, kv_row),
                    );
                }
                let mask = mask.map(|(m, rows)| &m[(bi % rows) * t * s..][..t * s]);
                for (i, row) in w.chunks_mut(s).enumerate() {
                    if let Some(m) = mask {
                        for (x, m) in row.iter_mut().zip(&m[i * s..(i + 1) * s]) {
                            *x += m;
                        }
                    }
                    softmax_in_place(row);
                }
                // SAFETY: this task writes only head `h` of each output row; `out_ptr` points to
                // the [b, t, heads, d] buffer.
                unsafe {
                    matmul(
                        [t, d, s],
                        (out_ptr.at(q0), q_row, 1),
                        false,
                        (w.as_ptr(), s as isize, 1),
                        (v[kv0..].as_ptr(), kv_row, 1),
                    );
                }
            });
        (out, weights)
    }

    /// The gradients of the attention's `q`, `k`, `v` given the output's `g`, one task per
    /// (batch row, key/value head): the task runs its query heads in order, so `dk` and `dv`
    /// are summed over them in the same order on any thread count.
    pub fn attention_backward(
        g: &[f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        weights: &[f32],
        dims: super::AttentionDims,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let super::AttentionDims {
            b,
            t,
            s,
            heads,
            kv_heads,
            d,
            ..
        } = dims;
        let rep = dims.group();
        let mut dq = vec![0f32; q.len()];
        let mut dk = vec![0f32; k.len()];
        let mut dv = vec![0f32; v.len()];
        let (dq_ptr, dk_ptr, dv_ptr) = (
            Shared(dq.as_mut_ptr()),
            Shared(dk.as_mut_ptr()),
            Shared(dv.as_mut_ptr()),
        );
        (0..b * kv_heads).into_par_iter().for_each(|task| {
            let (bi, group) = (task / kv_heads, task % kv_heads);
            let (kv0, kv_row) = dims.kv_start(bi, group);
            let mut ds = vec![0f32; t * s];
            for h in group * rep..(group + 1) * rep {
                let (q0, q_row) = dims.q_start(bi, h);
                let w = &weights[(bi * heads + h) * t * s..][..t * s];
                // SAFETY: as in the forward; this task alone writes the rows of its key/value
                // head in dk and dv and of its query heads in dq.
                unsafe {
                    // dv += wᵀ · g
                    matmul(
                        [s, d, t],
                        (dv_ptr.at(kv0), kv_row, 1),
                        true,
                        (w.as_ptr(), 1, s as isize),
                        (g[q0..].as_ptr(), q_row, 1),
                    );
                    // dw = g · vᵀ
                    matmul(
                        [t, s, d],
                        (ds.as_mut_ptr(), s as isize, 1),
                        false,
                        (g[q0..].as_ptr(), q_row, 1),
                        (v[kv0..].as_ptr(), 1, kv_row),
                    );
                }
                // ds = w ⊙ (dw − Σ dw ⊙ w), row by row
                for (ds, w) in ds.chunks_mut(s).zip(w.chunks(s)) {
                    let dot = dot(ds, w);
                    for (x, w) in ds.iter_mut().zip(w) {
                        *x = w * (*x - dot);
                    }
                }
                unsafe {
                    // dq = ds · k
                    matmul(
                        [t, d, s],
                        (dq_ptr.at(q0), q_row, 1),
                        false,
                        (ds.as_ptr(), s as isize, 1),
                        (k[kv0..].as_ptr(), kv_row, 1),
                    );
                    // dk += dsᵀ · q
                    matmul(
                        [s, d, t],
                        (dk_ptr.at(kv0), kv_row, 1),
                        true,
                        (ds.as_ptr(), 1, s as isize),
                        (q[q0..].as_ptr(), q_row, 1),
                    );
                }
            }
        });
        (dq, dk, dv)
    }

    /// `softmax(row)` in place, its exponentials in eight lanes ([`exp8`]).
    fn softmax_in_place(row: &mut [f32]) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        let mut chunks = row.chunks_exact_mut(8);
        for c in &mut chunks {
            let mut x = [0f32; 8];
            for l in 0..8 {
                x[l] = c[l] - max;
            }
            let e = exp8(x);
            for l in 0..8 {
                c[l] = e[l];
                sum += e[l];
            }
        }
        for x in chunks.into_remainder() {
            *x = (*x - max).exp();
            sum += *x;
        }
        let inv = 1.0 / sum;
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}
