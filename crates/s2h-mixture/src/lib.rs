//! Training records and datasets (SPEC §9–10): how one record is built from an instance for a
//! supervision type, and the canonical export — one `records.jsonl` plus PNG images per set.

mod error;
pub mod export;
mod record;

pub use error::{MixtureError, Result};
pub use export::{DatasetSpec, DatasetSummary, read_records, write_dataset};
pub use record::{Record, RecordImage, Segment, SegmentKind, Supervision, build_record};
