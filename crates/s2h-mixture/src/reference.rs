//! Record references: what a dataset is before anything is rendered. Mixtures, evaluation sets
//! and index ranges all become an ordered list of [`RecordRef`]s, which one writer turns into
//! files; every count can be checked on the references alone.

use std::collections::{HashMap, HashSet};

use s2h_tasks::{Split, TaskKind};
use serde::{Deserialize, Serialize};

use crate::record::Supervision;

/// Largest number of records one dataset may hold: every writer (mixture, evaluation set, index
/// range) refuses more before allocating anything. A guard against typos in counts and budgets:
/// a mixture's references are held in memory while it is written (about 50 bytes each, 5 GB at
/// this limit), and its manifest lists every image. Larger ranges are written in shards.
pub const MAX_RECORDS: u64 = 100_000_000;

/// How much chain of thought one record keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CotKeep {
    Full,
    Nothing,
    /// Keep ⌊lines × keep / of⌋ lines.
    Fraction {
        keep: u64,
        of: u64,
    },
}

impl CotKeep {
    /// How many of `lines` chain-of-thought lines the record keeps.
    pub fn lines_kept(self, lines: usize) -> usize {
        match self {
            CotKeep::Full => lines,
            CotKeep::Nothing => 0,
            CotKeep::Fraction { keep, of } => {
                let kept = (lines as u128 * keep as u128) / (of.max(1) as u128);
                kept.min(lines as u128) as usize
            }
        }
    }
}

/// One record of a dataset, before anything is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RecordRef {
    pub task: TaskKind,
    pub split: Split,
    pub seed: u64,
    pub index: u64,
    pub supervision: Supervision,
    pub cot: CotKeep,
}

/// Consecutive instances `start..start + count` of one task, split and seed, each once as one
/// supervision with its whole chain of thought: a plain range or an evaluation set. Its
/// references are made on demand, so writing one holds only a chunk of them in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexRange {
    pub task: TaskKind,
    pub split: Split,
    pub seed: u64,
    pub start: u64,
    pub count: u64,
    pub supervision: Supervision,
}

impl IndexRange {
    /// References `from..to` of the range (positions, not instance indices), in order.
    pub fn refs(&self, from: u64, to: u64) -> impl Iterator<Item = RecordRef> + '_ {
        (from.min(self.count)..to.min(self.count)).map(move |i| RecordRef {
            task: self.task,
            split: self.split,
            seed: self.seed,
            index: self.start + i,
            supervision: self.supervision,
            cot: CotKeep::Full,
        })
    }

    /// Every reference, in order.
    pub fn to_vec(self) -> Vec<RecordRef> {
        self.refs(0, self.count).collect()
    }

    /// What [`count_types`] gives for the references, without making them: one type, every
    /// instance once.
    pub fn type_counts(&self) -> Vec<TypeCount> {
        if self.count == 0 {
            return Vec::new();
        }
        vec![TypeCount {
            record_type: RecordType {
                task: self.task,
                split: self.split,
                supervision: self.supervision,
            },
            records: self.count,
            unique: self.count,
        }]
    }
}

/// The coordinates of an instance; records with the same key are views of one problem.
pub type InstanceKey = (TaskKind, Split, u64, u64);

impl RecordRef {
    pub fn instance_key(&self) -> InstanceKey {
        (self.task, self.split, self.seed, self.index)
    }

    /// The type of the record: task, split and supervision.
    pub fn record_type(&self) -> RecordType {
        RecordType {
            task: self.task,
            split: self.split,
            supervision: self.supervision,
        }
    }
}

/// Task, split and supervision: what the nominal ratios of a mixture are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordType {
    pub task: TaskKind,
    pub split: Split,
    pub supervision: Supervision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCount {
    #[serde(flatten)]
    pub record_type: RecordType,
    pub records: u64,
    pub unique: u64,
}

/// Per-type record counts of a list of references, in order of first appearance.
pub fn count_types(refs: &[RecordRef]) -> Vec<TypeCount> {
    let mut order: Vec<RecordType> = Vec::new();
    let mut counts: HashMap<RecordType, (u64, HashSet<u64>)> = HashMap::new();
    for r in refs {
        let t = r.record_type();
        let entry = counts.entry(t).or_insert_with(|| {
            order.push(t);
            (0, Default::default())
        });
        entry.0 += 1;
        entry.1.insert(r.index);
    }
    order
        .into_iter()
        .map(|t| {
            let (records, unique) = counts
                .get(&t)
                .map(|(n, u)| (*n, u.len() as u64))
                .unwrap_or((0, 0));
            TypeCount {
                record_type: t,
                records,
                unique,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_range_counts_like_its_references() {
        for count in [0, 1, 5] {
            let range = IndexRange {
                task: TaskKind::Grid,
                split: Split::Hard,
                seed: 3,
                start: 7,
                count,
                supervision: Supervision::ImageViaText,
            };
            let refs = range.to_vec();
            assert_eq!(refs.len() as u64, count);
            assert_eq!(range.type_counts(), count_types(&refs));
            let tail: Vec<RecordRef> = range.refs(2, 100).collect();
            assert_eq!(tail, refs.get(2..).unwrap_or_default());
            assert!(
                refs.iter()
                    .enumerate()
                    .all(|(i, r)| r.index == 7 + i as u64)
            );
        }
    }
}
