//! Training records, mixtures and datasets (SPEC §9–10).
//!
//! - [`record`](build_record): how one record is built from an instance for a supervision type.
//! - [`mixture`]: mixture types, paper Algorithm 1 counting, and the ordered list of
//!   [`RecordRef`]s a mixture materialises as before anything is rendered.
//! - [`plan`](Plan): training plans (phases of mixtures) read from and written to TOML.
//! - [`eval_set`]: evaluation sets on a seed space disjoint from training, and the check that
//!   no training instance shares a text rendering with one.
//! - [`export`]: the plain canonical export (`records.jsonl` + PNG) of one index range;
//!   [`write_mixture`] and [`write_eval_set`] write mixtures and evaluation sets, with
//!   [`interop`] formats (LLaVA JSON, VLMEvalKit TSV) and a [`manifest`].

mod error;
pub mod eval_set;
pub mod export;
pub mod files;
pub mod interop;
pub mod manifest;
mod materialize;
pub mod mixture;
mod order;
pub mod plan;
mod record;

pub use error::{MixtureError, Result};
pub use eval_set::{EVAL_SEED_BIT, EvalSetSpec, EvalTexts, check_training_seed};
pub use export::{DatasetSpec, DatasetSummary, read_records, write_dataset};
pub use interop::{Formats, LlavaEntry, TsvRow, read_llava, read_tsv, write_llava, write_tsv};
pub use manifest::{Manifest, read_manifest, verify_manifest};
pub use materialize::{
    ExportSummary, RenderOptions, WriteOptions, apply_cot, make_record, write_eval_set,
    write_mixture,
};
pub use mixture::{
    CotKeep, CotMode, ExplicitCount, Mixture, MixtureKind, RecordRef, RecordType, TaskCounts,
    TypeCount,
};
pub use order::count_types;
pub use plan::{Component, Phase, Plan};
pub use record::{Record, RecordImage, Segment, SegmentKind, Supervision, build_record};
