//! The gradient measurements of §5.1 and Appendix H, exactly, in full dimension:
//!
//! - `g_S = E_{x∈X_simple} ∇l(x)`, `g_H = E_{x∈X_hard} ∇l(x)` (means of per-example gradients of
//!   the Eq 1 loss), and the mean per-example gradient norm `E_{x∈X_simple} ‖∇l(x)‖` (the x-axis
//!   of Figs 7, 9, 17–20);
//! - the gradient alignment score, Eq 3: `⟨g_S, g_H⟩ / ⟨g_H, g_H⟩`;
//! - the cosine, Eq 7: `⟨g_S, g_H⟩ / (‖g_S‖ ‖g_H‖)`;
//! - the Adam update alignment score, Eq 8:
//!   `E_{x∈X_simple} ⟨h(∇l(x)), g_H⟩ / E_{x∈X_hard} ⟨h(∇l(x)), g_H⟩` with
//!   `h(g) = ((1−β1) g + β1 m) / (sqrt((1−β2) g⊙g + β2 v) + ε)` — the paper's proxies
//!   `m = g_S`, `v = E_{x∈X_simple} ∇l⊙∇l`, or a checkpoint's real AdamW moments.
//!
//! `h` is element-wise non-linear, so Eq 8 cannot come from projected gradients: it takes a
//! second pass over the per-example gradients once `m`, `v` and `g_H` are known.

use s2h_vlm::burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::grads::{FlatGrad, GradientSource, read};
use crate::{AnalysisError, Result};

/// The first and second moments of a set's per-example gradients and their mean norm.
#[derive(Debug, Clone)]
pub struct SetStats<B: Backend> {
    pub n: usize,
    /// `E ∇l(x)`.
    pub mean: FlatGrad<B>,
    /// `E ∇l(x) ⊙ ∇l(x)`.
    pub mean_square: FlatGrad<B>,
    /// `E ‖∇l(x)‖₂`.
    pub norm_mean: f64,
}

/// One pass over `source`: the set's [`SetStats`]; `each` sees every per-example gradient (to
/// project it, say) in order.
pub fn set_stats<B: Backend>(
    source: &mut dyn GradientSource<B>,
    mut each: impl FnMut(usize, &FlatGrad<B>) -> Result<()>,
) -> Result<SetStats<B>> {
    let n = source.len();
    if n == 0 {
        return Err(AnalysisError::Invalid(
            "a gradient set needs at least one example".into(),
        ));
    }
    let mut sum: Option<FlatGrad<B>> = None;
    let mut sum_sq: Option<FlatGrad<B>> = None;
    let mut norms: Option<Tensor<B, 1>> = None;
    for i in 0..n {
        let g = source.gradient(i)?;
        each(i, &g)?;
        let norm = g.dot(&g).sqrt();
        norms = Some(match norms {
            Some(s) => s + norm,
            None => norm,
        });
        let sq = g.map(|p| p.square());
        sum_sq = Some(match sum_sq {
            Some(s) => s.zip(&sq, |a, b| a + b),
            None => sq,
        });
        sum = Some(match sum {
            Some(s) => s.zip(&g, |a, b| a + b),
            None => g,
        });
    }
    let scale = 1.0 / n as f64;
    let (Some(sum), Some(sum_sq), Some(norms)) = (sum, sum_sq, norms) else {
        return Err(AnalysisError::Invalid(
            "a gradient set needs at least one example".into(),
        ));
    };
    Ok(SetStats {
        n,
        mean: sum.map(|p| p.mul_scalar(scale)),
        mean_square: sum_sq.map(|p| p.mul_scalar(scale)),
        norm_mean: read(norms) * scale,
    })
}

/// Eq 3 and Eq 7 with the norms they are made of.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Alignment {
    /// Eq 3: `⟨g_S, g_H⟩ / ⟨g_H, g_H⟩` (`None` when `g_H = 0`).
    pub alignment: Option<f64>,
    /// Eq 7: `⟨g_S, g_H⟩ / (‖g_S‖ ‖g_H‖)` (`None` when either is 0).
    pub cosine: Option<f64>,
    /// `‖g_S‖`, `‖g_H‖`.
    pub simple_mean_norm: f64,
    pub hard_mean_norm: f64,
}

/// Eq 3 and Eq 7 from the two mean gradients.
pub fn alignment<B: Backend>(g_simple: &FlatGrad<B>, g_hard: &FlatGrad<B>) -> Alignment {
    let sh = read(g_simple.dot(g_hard));
    let hh = read(g_hard.dot(g_hard));
    let ss = read(g_simple.dot(g_simple));
    Alignment::from_products(sh, hh, ss)
}

impl Alignment {
    /// From `⟨g_S, g_H⟩`, `⟨g_H, g_H⟩` and `⟨g_S, g_S⟩` (exact or projected ones).
    pub fn from_products(sh: f64, hh: f64, ss: f64) -> Alignment {
        Alignment {
            alignment: (hh > 0.0).then(|| sh / hh),
            cosine: (hh > 0.0 && ss > 0.0).then(|| sh / (hh.sqrt() * ss.sqrt())),
            simple_mean_norm: ss.max(0.0).sqrt(),
            hard_mean_norm: hh.max(0.0).sqrt(),
        }
    }
}

/// Adam's hyper-parameters in `h` (Eq 8); the paper's are (0.9, 0.999, 1e-8), also s2h's AdamW
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamHyper {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
}

impl Default for AdamHyper {
    fn default() -> Self {
        AdamHyper {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        }
    }
}

/// The optimizer moments `h` uses: the proxies or a checkpoint's AdamW state.
#[derive(Debug, Clone)]
pub struct Moments<B: Backend> {
    pub m: FlatGrad<B>,
    pub v: FlatGrad<B>,
}

impl<B: Backend> Moments<B> {
    /// The paper's proxies at θ: `m = E_{X_simple} ∇l`, `v = E_{X_simple} ∇l⊙∇l`.
    pub fn proxies(simple: &SetStats<B>) -> Self {
        Moments {
            m: simple.mean.clone(),
            v: simple.mean_square.clone(),
        }
    }

    /// `h(g)` of Eq 8 (no bias correction, ε outside the square root, as the paper writes it).
    pub fn h(&self, g: &FlatGrad<B>, adam: &AdamHyper) -> FlatGrad<B> {
        let numerator = g.zip(&self.m, |g, m| {
            g.mul_scalar(1.0 - adam.beta_1) + m.mul_scalar(adam.beta_1)
        });
        let denominator = g.zip(&self.v, |g, v| {
            (g.square().mul_scalar(1.0 - adam.beta_2) + v.mul_scalar(adam.beta_2))
                .sqrt()
                .add_scalar(adam.epsilon)
        });
        numerator.zip(&denominator, |n, d| n / d)
    }
}

/// Eq 8 for each of `moments`, from a second pass over both sets: the mean of `⟨h(g), g_H⟩`
/// over simple examples divided by its mean over hard examples (`None` where the denominator is
/// 0).
pub fn adam_alignment<B: Backend>(
    simple: &mut dyn GradientSource<B>,
    hard: &mut dyn GradientSource<B>,
    g_hard: &FlatGrad<B>,
    moments: &[&Moments<B>],
    adam: &AdamHyper,
) -> Result<Vec<Option<f64>>> {
    let numerators = mean_update_products(simple, g_hard, moments, adam)?;
    let denominators = mean_update_products(hard, g_hard, moments, adam)?;
    Ok(numerators
        .into_iter()
        .zip(denominators)
        .map(|(n, d)| (d != 0.0 && d.is_finite()).then(|| n / d))
        .collect())
}

/// `E_x ⟨h(∇l(x)), g_H⟩` over `source`, for each of `moments`.
fn mean_update_products<B: Backend>(
    source: &mut dyn GradientSource<B>,
    g_hard: &FlatGrad<B>,
    moments: &[&Moments<B>],
    adam: &AdamHyper,
) -> Result<Vec<f64>> {
    let n = source.len();
    if n == 0 {
        return Err(AnalysisError::Invalid(
            "a gradient set needs at least one example".into(),
        ));
    }
    let mut sums: Vec<Option<Tensor<B, 1>>> = vec![None; moments.len()];
    for i in 0..n {
        let g = source.gradient(i)?;
        for (sum, m) in sums.iter_mut().zip(moments) {
            let p = m.h(&g, adam).dot(g_hard);
            *sum = Some(match sum.take() {
                Some(s) => s + p,
                None => p,
            });
        }
    }
    Ok(sums
        .into_iter()
        .map(|s| s.map(read).unwrap_or(0.0) / n as f64)
        .collect())
}
