//! The update step, in parts other crates can call (gradient analysis computes the same losses
//! and gradients without updating): the masked loss of micro-batches and its gradients
//! ([`accumulate_gradients`]), frozen components' gradients dropped ([`drop_frozen`]), the global
//! gradient norm ([`grad_norm`]) and clipping ([`scale_grads`]), and [`update`], which chains them
//! with one AdamW step. Nothing here reads a value back from the device unless clipping needs
//! it, so a GPU is never made to wait.

use s2h_mixture::Component;
use s2h_vlm::burn::module::{Module, ModuleVisitor, Param};
use s2h_vlm::burn::optim::adaptor::OptimizerAdaptor;
use s2h_vlm::burn::optim::{AdamW, GradientsAccumulator, GradientsParams, Optimizer};
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{Batch, Vlm, masked_lm_loss};

use crate::Result;

/// The optimizer of a run: AdamW over the whole model.
pub type Optim<B> = OptimizerAdaptor<AdamW, Vlm<B>, B>;

/// What the gradients of a global batch come with.
pub struct Gradients<B: AutodiffBackend> {
    pub grads: GradientsParams,
    /// The loss: mean over every target token of the global batch (`None`: no target at all).
    pub loss: Option<Tensor<B::InnerBackend, 1>>,
    /// Real (unpadded) tokens seen.
    pub tokens: usize,
}

/// Gradients of the masked LM loss over a global batch given as micro-batches (made on demand by
/// `micro`, so only one is in memory at a time). The loss is the mean over every target token of
/// the global batch: each micro-batch's mean is weighted by its share of those `total_targets`
/// tokens, so accumulating equals one big batch.
pub fn accumulate_gradients<B: AutodiffBackend>(
    model: &Vlm<B>,
    micro_batches: usize,
    total_targets: usize,
    mut micro: impl FnMut(usize) -> Result<Batch<B>>,
) -> Result<Gradients<B>> {
    let mut accumulator = GradientsAccumulator::<Vlm<B>>::new();
    let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
    let mut tokens = 0;
    for m in 0..micro_batches {
        let batch = micro(m)?;
        tokens += batch.n_tokens;
        if batch.n_targets == 0 {
            continue;
        }
        let pass = s2h_vlm::autodiff::pass_lock();
        let logits = model.forward(batch.input_ids.clone(), batch.images);
        let loss = masked_lm_loss(logits, batch.input_ids, batch.loss_mask)
            .mul_scalar(batch.n_targets as f64 / total_targets.max(1) as f64);
        let inner = loss.clone().inner();
        loss_sum = Some(match loss_sum {
            Some(sum) => sum + inner,
            None => inner,
        });
        let grads = GradientsParams::from_grads(loss.backward(), model);
        drop(pass);
        accumulator.accumulate(model, grads);
    }
    Ok(Gradients {
        grads: accumulator.grads(),
        loss: loss_sum,
        tokens,
    })
}

/// Remove the gradients of `frozen` components: the optimizer then neither moves their
/// parameters nor keeps state for them.
pub fn drop_frozen<B: AutodiffBackend>(
    model: &Vlm<B>,
    grads: &mut GradientsParams,
    frozen: &[Component],
) {
    for component in frozen {
        let mut drop = DropGrads { grads: &mut *grads };
        match component {
            Component::Vision => model.vision.visit(&mut drop),
            Component::Projector => model.projector.visit(&mut drop),
            Component::Lm => model.decoder.visit(&mut drop),
        }
    }
}

/// The global L2 norm of the gradients present, on the device (reading it costs a sync);
/// `None` when no gradient is present.
pub fn grad_norm<B: AutodiffBackend>(
    model: &Vlm<B>,
    grads: &GradientsParams,
) -> Option<Tensor<B::InnerBackend, 1>> {
    let mut norm = SquaredNorm::<B> { grads, sum: None };
    model.visit(&mut norm);
    norm.sum.map(|s| s.sqrt())
}

/// Multiply every gradient present by `scale`.
pub fn scale_grads<B: AutodiffBackend>(model: &Vlm<B>, grads: &mut GradientsParams, scale: f64) {
    model.visit(&mut ScaleGrads { grads, scale });
}

/// How one update is made.
#[derive(Debug, Clone, Copy)]
pub struct UpdateOptions<'a> {
    pub lr: f64,
    pub frozen: &'a [Component],
    /// Clip the global gradient norm to this value (reads the norm back: a sync per update).
    pub clip: Option<f64>,
}

/// What an update did. The loss and gradient norm stay on the device until read.
pub struct Updated<B: AutodiffBackend> {
    pub model: Vlm<B>,
    /// Real (unpadded) tokens of the global batch.
    pub tokens: usize,
    /// The global batch's loss (0 when it had no target token).
    pub loss: Tensor<B::InnerBackend, 1>,
    /// The global gradient norm before clipping (0 when nothing has a gradient).
    pub grad_norm: Tensor<B::InnerBackend, 1>,
}

impl<B: AutodiffBackend> Updated<B> {
    /// 0 when the loss and the gradient norm are finite, NaN otherwise (`x · 0` is NaN exactly
    /// for NaN and infinite `x`): add these up on the device and read the sum now and then to
    /// notice divergence without a sync per update.
    pub fn health(&self) -> Tensor<B::InnerBackend, 1> {
        self.loss.clone().mul_scalar(0.0) + self.grad_norm.clone().mul_scalar(0.0)
    }
}

/// One optimizer update on a global batch: gradients of frozen parts dropped, clipping, AdamW.
pub fn update<B: AutodiffBackend>(
    model: Vlm<B>,
    optim: &mut Optim<B>,
    gradients: Gradients<B>,
    options: &UpdateOptions<'_>,
) -> Updated<B> {
    let Gradients {
        mut grads,
        loss,
        tokens,
    } = gradients;
    let device = model.device();
    let zero = || Tensor::<B::InnerBackend, 1>::zeros([1], &device);
    drop_frozen(&model, &mut grads, options.frozen);
    let norm = grad_norm(&model, &grads).unwrap_or_else(zero);
    if let Some(max) = options.clip {
        let value: f32 = norm.clone().into_scalar().elem();
        if value as f64 > max {
            scale_grads(&model, &mut grads, max / (value as f64 + 1e-6));
        }
    }
    let model = optim.step(options.lr, model, grads);
    Updated {
        model,
        tokens,
        loss: loss.unwrap_or_else(zero),
        grad_norm: norm,
    }
}

struct DropGrads<'a> {
    grads: &'a mut GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for DropGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = self.grads.remove::<B::InnerBackend, D>(param.id);
    }
}

struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    scale: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.scale));
        }
    }
}
