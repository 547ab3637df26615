//! The plain export (SPEC §10): one index range of one task, split and supervision, as the
//! record references the writer ([`write_dataset`](crate::write_dataset)) turns into
//! `records.jsonl` (index order) and PNGs, like mixtures and evaluation sets.

use s2h_render::{ImageOptions, TextOptions};
use s2h_tasks::{Split, TaskConfig, TaskKind};
use serde::Serialize;

// The file names and reader lived here first; their paths stay.
pub use crate::files::{IMAGES_DIR, RECORDS_FILE, image_file_name};
use crate::record::Supervision;
pub use crate::record::read_records;
use crate::reference::{IndexRange, MAX_RECORDS, RecordRef};
use crate::seeds::check_training_seed;
use crate::{MixtureError, Result};

/// What to generate: a range of instance indices of one task and split, as one supervision type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSpec {
    pub task: TaskKind,
    pub split: Split,
    pub seed: u64,
    /// First instance index; shards of one range can be generated separately.
    pub start_index: u64,
    pub count: u64,
    pub supervision: Supervision,
    pub tasks: TaskConfig,
    pub image: ImageOptions,
    pub text: TextOptions,
}

impl DatasetSpec {
    /// The paper's configuration and canvas for a task.
    pub fn new(
        task: TaskKind,
        split: Split,
        seed: u64,
        count: u64,
        supervision: Supervision,
    ) -> Self {
        Self {
            task,
            split,
            seed,
            start_index: 0,
            count,
            supervision,
            tasks: TaskConfig::default(),
            image: ImageOptions::paper(task),
            text: TextOptions::default(),
        }
    }

    /// Check everything that can be checked before any work starts. A range is training data:
    /// its seed must be below 2^63 (evaluation sets are written with
    /// [`write_eval_set`](crate::write_eval_set)).
    pub fn validate(&self) -> Result<()> {
        check_training_seed(self.seed)?;
        self.task.check_split(self.split)?;
        if self.count == 0 {
            return Err(MixtureError::InvalidRequest(
                "a range needs at least 1 instance (count is 0)".to_string(),
            ));
        }
        if self.supervision.input() == s2h_tasks::Modality::Image {
            self.image.validate()?;
        } else {
            // Not drawn, but a scale no image could use is a mistake all the same.
            s2h_render::check_font_scale(self.image.font_scale)?;
        }
        if self.start_index.checked_add(self.count).is_none() {
            return Err(MixtureError::InvalidRequest(format!(
                "start index {} plus count {} overflows the index space (2^64); use a smaller \
                 start index or count",
                self.start_index, self.count
            )));
        }
        if self.count > MAX_RECORDS {
            return Err(MixtureError::InvalidRequest(format!(
                "{} records is over the limit of {MAX_RECORDS} per dataset; write the range in \
                 shards with start_index",
                self.count
            )));
        }
        // One draw proves the task configuration is usable before the pool starts.
        self.tasks
            .generate(self.task, self.split, self.seed, self.start_index)?;
        Ok(())
    }

    /// The records of the range: instances `start_index..start_index + count` in index order,
    /// with their whole chain of thought. The writer makes them chunk by chunk instead; this
    /// list is for inspecting small ranges.
    pub fn references(&self) -> Result<Vec<RecordRef>> {
        self.validate()?;
        Ok(self.range().to_vec())
    }

    /// The range the writer goes through (unvalidated).
    pub(crate) fn range(&self) -> IndexRange {
        IndexRange {
            task: self.task,
            split: self.split,
            seed: self.seed,
            start: self.start_index,
            count: self.count,
            supervision: self.supervision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_its_indices_in_order() {
        let mut spec = DatasetSpec::new(TaskKind::Grid, Split::Hard, 4, 3, Supervision::Image);
        spec.start_index = 10;
        let refs = spec.references().unwrap();
        let indices: Vec<u64> = refs.iter().map(|r| r.index).collect();
        assert_eq!(indices, [10, 11, 12]);
        assert!(
            refs.iter()
                .all(|r| r.seed == 4 && r.cot == crate::CotKeep::Full)
        );

        spec.count = MAX_RECORDS + 1;
        let err = spec.references().unwrap_err().to_string();
        assert!(err.contains("start_index"), "{err}");
        spec.count = 1;
        spec.start_index = u64::MAX;
        assert!(spec.references().is_err());
    }

    /// A plain range is training data: a seed of the evaluation half would write an evaluation
    /// set under another name (same ids, same prompts), so it is refused before anything is
    /// written.
    #[test]
    fn a_range_refuses_evaluation_seeds() {
        let dir = tempfile::tempdir().unwrap();
        for seed in [crate::EVAL_SEED_BIT, crate::EVAL_SEED_BIT | 5, u64::MAX] {
            let spec = DatasetSpec::new(TaskKind::Ctr, Split::Medium, seed, 2, Supervision::Text);
            let err = spec.validate().unwrap_err();
            assert!(
                matches!(err, MixtureError::TrainingSeed(s) if s == seed),
                "{err}"
            );
            assert!(err.to_string().contains("below 2^63"), "{err}");
            let err = crate::write_dataset(&spec, dir.path(), true, &|| {}).unwrap_err();
            assert!(matches!(err, MixtureError::TrainingSeed(_)), "{err}");
            assert!(!dir.path().join(RECORDS_FILE).exists());
        }
        let training = DatasetSpec::new(
            TaskKind::Ctr,
            Split::Medium,
            crate::EVAL_SEED_BIT - 1,
            2,
            Supervision::Text,
        );
        assert!(training.validate().is_ok());
    }

    #[test]
    fn overflowing_and_huge_ranges_are_refused_before_any_work() {
        let mut spec = DatasetSpec::new(TaskKind::Tr, Split::Hard, 0, u64::MAX, Supervision::Image);
        let err = spec.validate().unwrap_err().to_string();
        assert!(err.contains("limit of 100000000"), "{err}");
        spec.start_index = 2;
        let err = spec.validate().unwrap_err().to_string();
        assert!(err.contains("overflows"), "{err}");
        spec.count = MAX_RECORDS;
        spec.start_index = u64::MAX - MAX_RECORDS;
        assert!(spec.validate().is_ok());
    }
}
