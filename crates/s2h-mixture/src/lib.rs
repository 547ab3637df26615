//! Training records, mixtures and datasets (SPEC §9–10).
//!
//! - [`record`](build_record): how one record is built from an instance for a supervision type.
//! - [`RecordRef`]: what a dataset is before anything is rendered. A [`mixture`] (mixture
//!   types and paper Algorithm 1 counting), an [`eval_set`] (on a seed space disjoint from
//!   training, with the check that no training instance shares a text rendering with one) and
//!   a plain index range ([`export`]) each become an ordered list of them.
//! - One writer turns references into `records.jsonl` + PNG, with [`interop`] formats (LLaVA
//!   JSON, VLMEvalKit TSV, [`oureval`] TSVs for the authors' evaluator) and a [`manifest`]:
//!   [`write_mixture`], [`write_eval_set`], [`write_range`] / [`write_dataset`]; [`Existing`]
//!   says what happens to a dataset already there. [`files`] names the files.
//! - [`plan`](Plan): training plans (phases of mixtures) read from and written to TOML, and
//!   written out phase by phase with [`write_plan`] / [`write_phase`].

mod error;
pub mod eval_set;
pub mod export;
pub mod files;
pub mod interop;
pub mod manifest;
mod materialize;
pub mod mixture;
mod order;
pub mod oureval;
pub mod plan;
mod plan_write;
mod record;
mod reference;
mod seeds;

pub use error::{MixtureError, Result};
pub use eval_set::{EvalSetSpec, EvalTexts};
pub use export::DatasetSpec;
pub use files::{IMAGES_DIR, LLAVA_FILE, MANIFEST_FILE, PLAN_FILE, RECORDS_FILE, TSV_FILE};
pub use interop::{Formats, LlavaEntry, TsvRow, read_llava, read_tsv, write_llava, write_tsv};
pub use manifest::{Manifest, json_differences, read_manifest, verify_manifest};
pub use materialize::{
    Existing, ExportSummary, RenderOptions, WriteOptions, apply_cot, make_record, write_dataset,
    write_eval_set, write_mixture, write_range,
};
pub use mixture::{CotMode, ExplicitCount, Mixture, MixtureKind, TaskCounts};
pub use plan::{Component, Phase, Plan, read_task_config};
pub use plan_write::{EvalCheck, write_phase, write_plan};
pub use record::{
    Record, RecordImage, Segment, SegmentKind, Supervision, build_record, read_records,
};
pub use reference::{CotKeep, InstanceKey, RecordRef, RecordType, TypeCount, count_types};
pub use seeds::{EVAL_SEED_BIT, check_training_records, check_training_seed, is_eval_seed};
