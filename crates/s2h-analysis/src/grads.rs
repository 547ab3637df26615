//! Per-example gradients of the paper's Eq 1 loss over a parameter subset, kept flat on the
//! device: one `[numel]` tensor per selected parameter ([`FlatGrad`]), so the sums and inner
//! products of the alignment scores run where the model runs and a GPU is not made to wait.
//!
//! Burn has no per-sample-gradient primitive (no vmap): a per-example gradient is one forward and
//! one backward of a batch of one record, whose masked loss is exactly that record's mean over
//! its selected tokens.

use std::collections::HashMap;

use s2h_train::EncodedRecord;
use s2h_vlm::burn::module::{Module, ModuleVisitor, Param, ParamId};
use s2h_vlm::burn::optim::GradientsParams;
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{Padding, Vlm, masked_lm_loss};

use crate::params::ParamInfo;
use crate::{AnalysisError, Result};

/// A vector over a parameter subset, one flat tensor per parameter (in the subset's order).
#[derive(Debug, Clone)]
pub struct FlatGrad<B: Backend> {
    pub parts: Vec<Tensor<B, 1>>,
}

impl<B: Backend> FlatGrad<B> {
    /// Entries in all.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.dims()[0]).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Zeros shaped like `self`.
    pub fn zeros_like(&self) -> Self {
        self.map(|p| p.zeros_like())
    }

    /// `f` on every part.
    pub fn map(&self, mut f: impl FnMut(Tensor<B, 1>) -> Tensor<B, 1>) -> Self {
        FlatGrad {
            parts: self.parts.iter().map(|p| f(p.clone())).collect(),
        }
    }

    /// `f` on every pair of parts of `self` and `other` (same shapes).
    pub fn zip(
        &self,
        other: &Self,
        f: impl Fn(Tensor<B, 1>, Tensor<B, 1>) -> Tensor<B, 1>,
    ) -> Self {
        FlatGrad {
            parts: self
                .parts
                .iter()
                .zip(&other.parts)
                .map(|(a, b)| f(a.clone(), b.clone()))
                .collect(),
        }
    }

    /// `⟨self, other⟩` as a one-element tensor (read it with [`read`]).
    pub fn dot(&self, other: &Self) -> Tensor<B, 1> {
        let mut sum: Option<Tensor<B, 1>> = None;
        for (a, b) in self.parts.iter().zip(&other.parts) {
            let d = (a.clone() * b.clone()).sum();
            sum = Some(match sum {
                Some(s) => s + d,
                None => d,
            });
        }
        sum.unwrap_or_else(|| Tensor::zeros([1], &Default::default()))
    }

    /// The parts as host vectors (for projection and tests).
    pub fn to_host(&self) -> Result<Vec<Vec<f32>>> {
        self.parts
            .iter()
            .map(|p| {
                p.to_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .map_err(|e| AnalysisError::Invalid(format!("reading a gradient: {e:?}")))
            })
            .collect()
    }

    /// A vector from host values (tests, hand computations).
    pub fn from_host(parts: &[Vec<f32>], device: &B::Device) -> Self {
        FlatGrad {
            parts: parts
                .iter()
                .map(|p| Tensor::from_data(TensorData::new(p.clone(), [p.len()]), device))
                .collect(),
        }
    }
}

/// A one-element tensor's value, as f64.
pub fn read<B: Backend>(t: Tensor<B, 1>) -> f64 {
    let v: f32 = t.into_scalar().elem();
    v as f64
}

/// What yields per-example gradients of a set, in a fixed order: the VLM on records
/// ([`VlmGradients`]) or, in tests, any function with a known gradient.
pub trait GradientSource<B: Backend> {
    /// Examples in the set.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The gradient of example `i`'s loss.
    fn gradient(&mut self, i: usize) -> Result<FlatGrad<B>>;
}

/// A record ready for the model: its tokens with a loss mask, and its image bytes.
#[derive(Debug, Clone)]
pub struct Example {
    pub encoded: EncodedRecord,
    /// `[3, size, size]` bytes at the model's resolution.
    pub image: Option<Vec<u8>>,
}

/// The model on a batch of one example: logits' loss over the example's selected tokens.
pub fn example_loss<B: Backend>(model: &Vlm<B>, example: &Example) -> Result<Tensor<B, 1>> {
    let row = example.encoded.row(example.image.as_deref());
    let batch =
        s2h_vlm::batch::batch::<B>(&[row], Padding::Right, model.image_size, &model.device())?;
    if batch.n_targets == 0 {
        return Err(AnalysisError::Invalid(format!(
            "record `{}` has no token in the loss (its segments do not include the ones measured)",
            example.encoded.id
        )));
    }
    let logits = model.forward(batch.input_ids.clone(), batch.images);
    Ok(masked_lm_loss(logits, batch.input_ids, batch.loss_mask))
}

/// Per-example gradients of the VLM over the parameters `params` (the model must come from
/// [`crate::params::select`] with the same set, so only they require a gradient).
pub struct VlmGradients<'a, B: AutodiffBackend> {
    pub model: &'a Vlm<B>,
    pub params: &'a [ParamInfo],
    pub examples: &'a [Example],
}

/// A loss still on the device and its gradient.
type LossAndGradient<B> = (Tensor<B, 1>, FlatGrad<B>);

impl<B: AutodiffBackend> VlmGradients<'_, B> {
    /// The loss of example `i` and its gradient.
    pub fn loss_and_gradient(&self, i: usize) -> Result<(f64, FlatGrad<B::InnerBackend>)> {
        let (loss, grad) = self.loss_tensor_and_gradient(i)?;
        Ok((read(loss), grad))
    }

    /// The loss (left on the device) and gradient of example `i`.
    fn loss_tensor_and_gradient(&self, i: usize) -> Result<LossAndGradient<B::InnerBackend>> {
        let example = self.examples.get(i).ok_or_else(|| {
            AnalysisError::Invalid(format!("example {i} of {}", self.examples.len()))
        })?;
        let pass = s2h_vlm::autodiff::pass_lock();
        let loss = example_loss(self.model, example)?;
        let value = loss.clone().inner();
        let grads = GradientsParams::from_grads(loss.backward(), self.model);
        drop(pass);
        Ok((value, flatten(self.model, self.params, grads)))
    }
}

impl<B: AutodiffBackend> GradientSource<B::InnerBackend> for VlmGradients<'_, B> {
    fn len(&self) -> usize {
        self.examples.len()
    }

    /// Reads nothing back: the alignment sums stay on the device, so a GPU is not made to wait
    /// once per example.
    fn gradient(&mut self, i: usize) -> Result<FlatGrad<B::InnerBackend>> {
        Ok(self.loss_tensor_and_gradient(i)?.1)
    }
}

/// The gradients of `params` as a flat vector; a parameter the loss did not reach (the vision
/// tower on a text record) has a zero gradient.
pub fn flatten<B: AutodiffBackend>(
    model: &Vlm<B>,
    params: &[ParamInfo],
    mut grads: GradientsParams,
) -> FlatGrad<B::InnerBackend> {
    let index: HashMap<ParamId, usize> =
        params.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let mut parts: Vec<Option<Tensor<B::InnerBackend, 1>>> = vec![None; params.len()];
    let mut take = Take {
        grads: &mut grads,
        index: &index,
        parts: &mut parts,
    };
    model.visit(&mut take);
    let device = model.device();
    FlatGrad {
        parts: parts
            .into_iter()
            .zip(params)
            .map(|(g, p)| g.unwrap_or_else(|| Tensor::zeros([p.numel()], &device)))
            .collect(),
    }
}

struct Take<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    index: &'a HashMap<ParamId, usize>,
    parts: &'a mut Vec<Option<Tensor<B::InnerBackend, 1>>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Take<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some(&i) = self.index.get(&param.id) else {
            return;
        };
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let n = g.shape().num_elements();
            self.parts[i] = Some(g.reshape([n]));
        }
    }
}
