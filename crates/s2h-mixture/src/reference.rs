//! Record references: what a dataset is before anything is rendered. Mixtures, evaluation sets
//! and index ranges all become an ordered list of [`RecordRef`]s, which one writer turns into
//! files; every count can be checked on the references alone.

use std::collections::{HashMap, HashSet};

use s2h_tasks::{Split, TaskKind};
use serde::{Deserialize, Serialize};

use crate::record::Supervision;

/// Largest number of records one dataset may hold (a guard against typos in budgets; the
/// references of a dataset are held in memory while it is written).
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
