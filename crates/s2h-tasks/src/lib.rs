//! Instances, generators and verifiers of the s2h tasks (SPEC §1–5).
//!
//! One module per task family: [`table`] (Consecutive Table Readout and Table Readout),
//! [`grid`] (Grid Navigation) and [`analogy`] (Visual Analogy). [`Instance`], [`Answer`] and
//! [`TaskConfig`] are the registry that lets the layers above treat every task alike.
//!
//! Every instance is a pure function of `(task, split, seed, index)` (see [`TaskRng`]); rows and
//! columns are numbered from 1 in every public value ([`Cell`]).

mod common;
mod error;
mod registry;
mod rng;

pub mod analogy;
pub mod grid;
pub mod labels;
pub mod table;

pub use common::{Cell, Modality, Move, Split, TaskKind, Verdict};
pub use error::{Result, TaskError};
pub use registry::{Answer, Instance, TaskConfig};
pub use rng::TaskRng;

/// How many draws a generator may reject before it reports [`TaskError::GenerationFailed`].
pub const MAX_ATTEMPTS: u32 = 100_000;
