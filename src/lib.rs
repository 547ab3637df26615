//! s2h: simple-to-hard visual reasoning.
//!
//! This facade re-exports the layers of the workspace so one dependency gives all of them:
//! [`tasks`] (instances, generators, verifiers), [`render`] (text and image renderings),
//! [`cot`] (prompts, chain of thought, answer parsers), [`mixture`] (records, supervision
//! types, mixtures, plans and dataset export), [`eval`] (scoring any model's outputs, S2H
//! tables, charts) and, with a backend feature (`flex`, `ndarray`, `wgpu`, `cuda`), `vlm` (the
//! Burn model and its generation), `train` (records → model inputs, the training loop) and
//! `analysis` (loss decomposition, gradient alignment, pixel attribution of checkpoints), with
//! model evaluation in `eval`. Each layer is also a crate of its own for those who want only it.
//! [`cli`] holds the conventions the command-line binaries share and [`generate`] the dataset
//! writing of the `generate` binary; with a backend, [`pipeline`]
//! runs, evaluates and analyses experiments at a stated scale, cached (the figures' and the
//! quickstart's machinery).

#[cfg(feature = "model")]
pub use s2h_analysis as analysis;
pub use s2h_cot as cot;
pub use s2h_eval as eval;
pub use s2h_mixture as mixture;
pub use s2h_render as render;
pub use s2h_tasks as tasks;
#[cfg(feature = "model")]
pub use s2h_train as train;
#[cfg(feature = "model")]
pub use s2h_vlm as vlm;

pub mod cli;
pub mod generate;
#[cfg(feature = "model")]
pub mod pipeline;
