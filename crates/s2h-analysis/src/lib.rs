//! `s2h-analysis`: what the paper measures of checkpoints beyond accuracy (§5, Appendices H, J;
//! `docs/analysis.md`), generic over the Burn backend.
//!
//! - [`losses`]: per-example losses and the loss decomposition (Eqs 2, 4, 5);
//! - [`grads`]: per-example gradients of the Eq 1 loss over a parameter subset ([`params`]);
//! - [`alignment`]: mean gradients, the gradient alignment score (Eq 3), the cosine (Eq 7) and
//!   the Adam update alignment score (Eq 8, with the paper's proxies or a checkpoint's moments),
//!   exactly in full dimension;
//! - [`projection`]: a seeded random projector (footnote 9) keyed by parameter coordinate;
//! - [`attribution`] and [`groups`]: pixel attribution by chain-of-thought token group (App J);
//! - [`checkpoints`], [`sets`], [`measure`], [`report`]: a run's checkpoints measured on
//!   evaluation sets into `step-<N>.json` files and `summary.csv` (`examples/analyze.rs`).
//!
//! The failure modes of Appendix K need no model and live in the scoring layer (`s2h-eval`).

pub mod alignment;
pub mod attribution;
pub mod checkpoints;
mod error;
pub mod grads;
pub mod groups;
pub mod losses;
pub mod measure;
pub mod params;
pub mod projection;
pub mod report;
pub mod sets;

pub use alignment::{AdamHyper, Alignment, Moments, SetStats};
pub use checkpoints::{CheckpointRef, Source};
pub use error::{AnalysisError, Result};
pub use grads::{Example, FlatGrad, GradientSource, VlmGradients};
pub use measure::{
    Options, ProjectionOptions, Sets, StepReport, analyze, analyze_on, measure_checkpoint,
};
pub use params::ParamSet;
pub use projection::{ProjectionKind, Projector};
