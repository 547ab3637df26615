//! The evaluation sets an analysis reads (written by `generate eval-set`): records checked to be
//! of the supervision each measurement needs, and turned into model inputs with the loss mask
//! over the segments it measures.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use s2h_mixture::{Record, SegmentKind, Supervision};
use s2h_tasks::{Split, TaskKind};
use s2h_train::Processor;

use crate::grads::Example;
use crate::{AnalysisError, Result};

/// The loss masks of the paper's losses (Eq 1, 2, 5: the solution — chain of thought and
/// answer; Eq 4: the converted text).
pub const SOLUTION: [SegmentKind; 2] = [SegmentKind::Cot, SegmentKind::Answer];
pub const CONVERSION: [SegmentKind; 1] = [SegmentKind::ConvertedText];

/// An evaluation set on disk.
#[derive(Debug, Clone)]
pub struct EvalSet {
    pub dir: PathBuf,
    pub records: Vec<Record>,
    pub task: TaskKind,
    pub split: Split,
}

impl EvalSet {
    /// The records of the set in `dir` (at most `limit`), all of `supervision` and of one task
    /// and split.
    pub fn read(dir: &Path, supervision: Supervision, limit: Option<usize>) -> Result<Self> {
        let bad = |message: String| AnalysisError::Set {
            path: dir.to_path_buf(),
            message,
        };
        let mut records = s2h_eval::read_eval_set(dir)?;
        if let Some(n) = limit {
            records.truncate(n);
        }
        let first = records
            .first()
            .ok_or_else(|| bad("the set has no record".into()))?;
        let (task, split) = (first.task, first.split);
        for r in &records {
            if r.supervision != supervision {
                let hint = match supervision {
                    Supervision::ImageViaText => {
                        "write it with `generate eval-set --modality image_via_text`"
                    }
                    _ => "write it with `generate eval-set --modality image`",
                };
                return Err(bad(format!(
                    "record `{}` has {} supervision; this measurement needs {supervision} records ({hint})",
                    r.id, r.supervision
                )));
            }
            if (r.task, r.split) != (task, split) {
                return Err(bad(format!(
                    "the set mixes {task}/{split} and {}/{} records; give one task and split per set",
                    r.task, r.split
                )));
            }
        }
        Ok(EvalSet {
            dir: if dir.is_dir() {
                dir.to_path_buf()
            } else {
                dir.parent().map(Path::to_path_buf).unwrap_or_default()
            },
            records,
            task,
            split,
        })
    }

    /// Every record as model inputs with the loss over `targets`, images read and resized.
    pub fn examples(&self, processor: &Processor, targets: &[SegmentKind]) -> Result<Vec<Example>> {
        self.records
            .par_iter()
            .map(|r| {
                let encoded = processor.encode(r, targets)?;
                if encoded.n_targets() == 0 {
                    return Err(AnalysisError::Set {
                        path: self.dir.clone(),
                        message: format!(
                            "record `{}` has no {targets:?} tokens to measure (a chain-of-thought ablation?)",
                            r.id
                        ),
                    });
                }
                let image = match &r.image {
                    Some(rel) => Some(processor.load_image(&self.dir.join(rel))?),
                    None => None,
                };
                Ok(Example { encoded, image })
            })
            .collect()
    }
}
