//! Evaluation sets and their separation from training data (SPEC §1.2).
//!
//! An evaluation set with base seed `s` generates its instances with seed `s | 2^63`
//! ([`EVAL_SEED_BIT`]), the half of the seed space training never uses. On top of that,
//! training export refuses any instance whose text rendering equals one of an evaluation set
//! ([`EvalTexts`]), which also catches equal problems drawn from different streams (possible
//! with very small task configurations).

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use s2h_render::TextOptions;
use s2h_tasks::{Modality, Split, TaskConfig, TaskKind};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::record::{Record, Supervision, read_records, record_id};
use crate::reference::{IndexRange, MAX_RECORDS, RecordRef};
// The seed halves were first defined here; their paths stay.
pub use crate::seeds::{EVAL_SEED_BIT, check_training_seed, is_eval_seed};
use crate::{MixtureError, Result};

/// Size of the default evaluation set of each task and split.
pub const DEFAULT_EVAL_COUNT: u64 = 500;

/// A fixed-size evaluation set of one task, split and modality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvalSetSpec {
    pub task: TaskKind,
    pub split: Split,
    pub modality: Modality,
    pub count: u64,
    /// Base seed, below 2^63; instances use `seed | 2^63`.
    pub seed: u64,
    /// Image records with the conversion step (Image-via-Text supervision): what the loss
    /// decomposition of the paper's Eqs 4 and 5 measures. Image modality only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub via_text: bool,
}

impl EvalSetSpec {
    pub fn new(task: TaskKind, split: Split, modality: Modality, count: u64) -> Self {
        Self {
            task,
            split,
            modality,
            count,
            seed: 0,
            via_text: false,
        }
    }

    /// The set evaluating `supervision`, the inverse of [`EvalSetSpec::supervision`]: text
    /// records for text, image records for image, and image records whose target starts with
    /// the conversion to text for Image-via-Text (the sets of Eqs 4 and 5).
    pub fn of_supervision(
        task: TaskKind,
        split: Split,
        supervision: Supervision,
        count: u64,
    ) -> Self {
        Self {
            via_text: supervision == Supervision::ImageViaText,
            ..Self::new(task, split, supervision.input(), count)
        }
    }

    /// The default set of a task and split: [`DEFAULT_EVAL_COUNT`] instances of base seed 0.
    /// Its text renderings are the same for both modalities.
    pub fn default_set(task: TaskKind, split: Split) -> Self {
        Self::new(task, split, Modality::Text, DEFAULT_EVAL_COUNT)
    }

    pub fn validate(&self) -> Result<()> {
        self.task.check_split(self.split)?;
        if self.count == 0 {
            return Err(MixtureError::InvalidRequest(
                "an evaluation set needs at least 1 instance".to_string(),
            ));
        }
        if self.count > MAX_RECORDS {
            return Err(MixtureError::InvalidRequest(format!(
                "an evaluation set of {} instances is over the limit of {MAX_RECORDS} per \
                 dataset; ask for fewer",
                self.count
            )));
        }
        if self.via_text && self.modality != Modality::Image {
            return Err(MixtureError::InvalidRequest(
                "an Image-via-Text evaluation set has image records; its modality must be image"
                    .to_string(),
            ));
        }
        if is_eval_seed(self.seed) {
            return Err(MixtureError::InvalidRequest(format!(
                "evaluation base seed {} must be below 2^63 (the top bit is added for it)",
                self.seed
            )));
        }
        Ok(())
    }

    /// The seed the instances are generated with.
    pub fn instance_seed(&self) -> u64 {
        self.seed | EVAL_SEED_BIT
    }

    /// Text records for the text modality, image records for the image modality.
    pub fn supervision(&self) -> Supervision {
        match self.modality {
            Modality::Text => Supervision::Text,
            Modality::Image if self.via_text => Supervision::ImageViaText,
            Modality::Image => Supervision::Image,
        }
    }

    /// The records of the set: instances `0..count`, in index order.
    pub fn references(&self) -> Result<Vec<RecordRef>> {
        self.validate()?;
        Ok(self.range().to_vec())
    }

    /// The range the writer goes through (unvalidated).
    pub(crate) fn range(&self) -> IndexRange {
        IndexRange {
            task: self.task,
            split: self.split,
            seed: self.instance_seed(),
            start: 0,
            count: self.count,
            supervision: self.supervision(),
        }
    }
}

/// SHA-256 of a text rendering.
pub fn text_digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The text renderings of evaluation instances (as digests, with the id of a record showing
/// each), against which training export checks every training instance. Renderings are compared
/// in one [`TextOptions`]: evaluation instances are re-rendered from their structured instance.
#[derive(Debug, Clone, Default)]
pub struct EvalTexts {
    text: TextOptions,
    ids: HashMap<[u8; 32], String>,
}

impl EvalTexts {
    /// An empty set (checks nothing) comparing renderings made with `text`.
    pub fn new(text: TextOptions) -> Self {
        Self {
            text,
            ids: HashMap::new(),
        }
    }

    pub fn text_options(&self) -> &TextOptions {
        &self.text
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Add one rendering, shown by evaluation record `id`.
    pub fn insert(&mut self, text: &str, id: impl Into<String>) {
        self.ids
            .entry(text_digest(text))
            .or_insert_with(|| id.into());
    }

    /// The id of the evaluation record with this text rendering, if any.
    pub fn find(&self, text: &str) -> Option<&str> {
        self.ids.get(&text_digest(text)).map(String::as_str)
    }

    /// Add the instances of evaluation records.
    pub fn add_records(&mut self, records: &[Record]) {
        for r in records {
            let text = s2h_render::render_text(&r.instance, &self.text);
            self.insert(&text, r.id.clone());
        }
    }

    /// Add the records of an evaluation set directory (or `records.jsonl` file); returns how
    /// many were read. Errors name `dir`.
    pub fn add_dir(&mut self, dir: &Path) -> Result<usize> {
        let records = read_records(dir).map_err(|e| MixtureError::EvalSet {
            path: dir.to_path_buf(),
            error: Box::new(e),
        })?;
        self.add_records(&records);
        Ok(records.len())
    }

    /// Add an evaluation set without writing it (generated in parallel).
    pub fn add_set(&mut self, spec: &EvalSetSpec, tasks: &TaskConfig) -> Result<()> {
        let refs = spec.references()?;
        let texts: Vec<([u8; 32], String)> = refs
            .par_iter()
            .map(|r| {
                let instance = tasks.generate(r.task, r.split, r.seed, r.index)?;
                let text = s2h_render::render_text(&instance, &self.text);
                let id = record_id(r.task, r.split, r.seed, r.index, r.supervision);
                Ok((text_digest(&text), id))
            })
            .collect::<Result<_>>()?;
        for (digest, id) in texts {
            self.ids.entry(digest).or_insert(id);
        }
        Ok(())
    }

    /// Add the default evaluation set ([`EvalSetSpec::default_set`]) of every split of `task`.
    pub fn add_default_sets(&mut self, task: TaskKind, tasks: &TaskConfig) -> Result<()> {
        for &split in task.splits() {
            self.add_set(&EvalSetSpec::default_set(task, split), tasks)?;
        }
        Ok(())
    }

    /// Refuse the first training record (in order) whose instance's text rendering is here.
    pub fn check(&self, refs: &[RecordRef], tasks: &TaskConfig) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        // Each instance once, in order of first appearance.
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&RecordRef> = refs
            .iter()
            .filter(|r| seen.insert(r.instance_key()))
            .collect();
        let hit = unique
            .par_iter()
            .map(|r| -> Result<Option<(String, String)>> {
                let instance = tasks.generate(r.task, r.split, r.seed, r.index)?;
                let text = s2h_render::render_text(&instance, &self.text);
                Ok(self.find(&text).map(|eval_id| {
                    let train_id = record_id(r.task, r.split, r.seed, r.index, r.supervision);
                    (train_id, eval_id.to_string())
                }))
            })
            .find_first(|found| !matches!(found, Ok(None)));
        match hit {
            Some(Ok(Some((train_id, eval_id)))) => {
                Err(MixtureError::EvalOverlap { train_id, eval_id })
            }
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_supervision_inverts_supervision() {
        for supervision in [
            Supervision::Text,
            Supervision::Image,
            Supervision::ImageViaText,
        ] {
            let spec = EvalSetSpec::of_supervision(TaskKind::Tr, Split::Hard, supervision, 3);
            assert_eq!(spec.supervision(), supervision);
            assert_eq!(spec.modality, supervision.input());
            assert_eq!((spec.count, spec.seed), (3, 0));
        }
    }

    #[test]
    fn training_and_evaluation_seeds_are_disjoint() {
        assert!(check_training_seed(0).is_ok());
        assert!(check_training_seed(EVAL_SEED_BIT - 1).is_ok());
        let err = check_training_seed(EVAL_SEED_BIT).unwrap_err().to_string();
        assert!(err.contains("reserved for evaluation"), "{err}");
        let spec = EvalSetSpec::default_set(TaskKind::Tr, Split::Hard);
        assert_eq!(spec.instance_seed(), EVAL_SEED_BIT);
        assert!(is_eval_seed(spec.instance_seed()));
        let refs = spec.references().unwrap();
        assert_eq!(refs.len() as u64, DEFAULT_EVAL_COUNT);
        assert!(refs.iter().all(|r| check_training_seed(r.seed).is_err()));
        let bad = EvalSetSpec::new(TaskKind::Tr, Split::Medium, Modality::Text, 3);
        assert!(bad.references().unwrap_err().to_string().contains("medium"));
        let empty = EvalSetSpec::new(TaskKind::Tr, Split::Hard, Modality::Text, 0);
        assert!(empty.references().is_err());
    }

    /// `generate eval-set --count 18446744073709551615` once died on a capacity overflow: counts
    /// are bounded before anything is allocated, by every path that takes a spec.
    #[test]
    fn evaluation_set_counts_are_bounded() {
        for count in [MAX_RECORDS + 1, 10_000_000_000, u64::MAX] {
            let spec = EvalSetSpec::new(TaskKind::Grid, Split::Hard, Modality::Image, count);
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains("limit of 100000000"), "{err}");
            assert!(spec.references().is_err());
            let mut texts = EvalTexts::default();
            assert!(texts.add_set(&spec, &TaskConfig::default()).is_err());
            let dir = tempfile::tempdir().unwrap();
            let err = crate::write_eval_set(
                &spec,
                &crate::RenderOptions::default(),
                dir.path(),
                &crate::WriteOptions::default(),
                &|| {},
            )
            .unwrap_err();
            assert!(err.to_string().contains("limit of"), "{err}");
            assert!(!dir.path().join(crate::RECORDS_FILE).exists());
        }
    }
}
