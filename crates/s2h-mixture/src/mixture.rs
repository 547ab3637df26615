//! Mixtures of supervision types and their counting, paper Algorithm 1 (SPEC §9).
//!
//! A [`Mixture`] turns into an ordered list of [`RecordRef`]s — `(task, split, seed, index,
//! supervision)` plus how much chain of thought the record keeps — before anything is rendered,
//! so every count can be checked without generating a single image.
//!
//! Counting for a budget of N records (per task; a multi-task mixture splits N evenly):
//! - N_hard = ⌊N/2⌋ for `mix_plus`, `image_via_text_plus` and `text_warmup`, else 0;
//!   N_simple = N − N_hard (an odd budget gives the extra record to the simple part).
//! - U, the unique simple instances, is ⌊N_simple / d⌋ with d = 1 for `text`, `image`,
//!   `text_warmup`; 2 for `align`; 3 for `text_image`, `image_via_text`, `mix`, `mix_plus`,
//!   `image_via_text_plus`. They are the indices `0..U`, so a smaller budget's instances are a
//!   subset of a larger one's (budgets nest).
//! - Every unique instance appears once in each simple type of the mixture (the types are paired
//!   views of the same problems). That set of U × types records is shuffled and repeated for
//!   e = N_simple / (U × types) epochs; each repeat is shuffled anew. A fractional last repeat
//!   keeps, from its shuffled order, the first records of each type so that the types stay equal
//!   in number (within one record; earlier types in the mixture's list take the odd records).
//! - Hard records are the hard instances `0..⌊N_hard / k⌋` (k = `hard_repeat`, 1 by default:
//!   all unique), shuffled and repeated the same way up to N_hard.
//! - The simple and hard streams of every task are merged at random (each stream keeps its own
//!   order); with `interleave_batch = B` the records are then regrouped so every batch of B holds
//!   each type in its nominal share, rounded down or up.

use std::fmt;
use std::str::FromStr;

use s2h_tasks::{Split, TaskKind, TaskRng};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::order::{interleave, random_merge};
use crate::record::Supervision;
// The references were first defined here; their paths stay.
pub use crate::reference::{CotKeep, InstanceKey, MAX_RECORDS, RecordRef, RecordType, TypeCount};
use crate::seeds::check_training_seed;
use crate::{MixtureError, Result};

/// A mixture of supervision types, or a phase that is one (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MixtureKind {
    /// Simple text records.
    Text,
    /// Simple image records.
    Image,
    /// Simple image-via-text records.
    ImageViaText,
    /// Simple text and image, paired.
    TextImage,
    /// Simple text, image and image-via-text, paired.
    Mix,
    /// `mix` on simple plus as many hard text records.
    MixPlus,
    /// Simple image-via-text plus as many hard text records.
    ImageViaTextPlus,
    /// Phase: simple text and image-via-text, paired (before `mix_plus`: Align-Mix+).
    Align,
    /// Phase: simple text plus as many hard text records; trains the language model only.
    TextWarmup,
}

impl MixtureKind {
    pub const ALL: [MixtureKind; 9] = [
        MixtureKind::Text,
        MixtureKind::Image,
        MixtureKind::ImageViaText,
        MixtureKind::TextImage,
        MixtureKind::Mix,
        MixtureKind::MixPlus,
        MixtureKind::ImageViaTextPlus,
        MixtureKind::Align,
        MixtureKind::TextWarmup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MixtureKind::Text => "text",
            MixtureKind::Image => "image",
            MixtureKind::ImageViaText => "image_via_text",
            MixtureKind::TextImage => "text_image",
            MixtureKind::Mix => "mix",
            MixtureKind::MixPlus => "mix_plus",
            MixtureKind::ImageViaTextPlus => "image_via_text_plus",
            MixtureKind::Align => "align",
            MixtureKind::TextWarmup => "text_warmup",
        }
    }

    /// The record types built from each unique simple instance, in order.
    pub fn simple_types(self) -> &'static [Supervision] {
        use Supervision::*;
        match self {
            MixtureKind::Text | MixtureKind::TextWarmup => &[Text],
            MixtureKind::Image => &[Image],
            MixtureKind::ImageViaText | MixtureKind::ImageViaTextPlus => &[ImageViaText],
            MixtureKind::TextImage => &[Text, Image],
            MixtureKind::Mix | MixtureKind::MixPlus => &[Text, Image, ImageViaText],
            MixtureKind::Align => &[Text, ImageViaText],
        }
    }

    /// True when half the budget goes to hard records.
    pub fn has_hard(self) -> bool {
        matches!(
            self,
            MixtureKind::MixPlus | MixtureKind::ImageViaTextPlus | MixtureKind::TextWarmup
        )
    }

    /// d in U = ⌊N_simple / d⌋.
    pub fn unique_divisor(self) -> u64 {
        match self {
            MixtureKind::Text | MixtureKind::Image | MixtureKind::TextWarmup => 1,
            MixtureKind::Align => 2,
            _ => 3,
        }
    }
}

impl fmt::Display for MixtureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MixtureKind {
    type Err = MixtureError;
    /// Case-insensitive; `-` may stand for `_`, and `mix+` / `image_via_text+` for the `_plus`
    /// names.
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s
            .trim()
            .to_ascii_lowercase()
            .replace('-', "_")
            .replace('+', "_plus");
        MixtureKind::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| MixtureError::UnknownName {
                what: "supervision",
                given: s.to_string(),
                expected: names(&MixtureKind::ALL.map(MixtureKind::name)),
            })
    }
}

pub(crate) fn names(list: &[&str]) -> String {
    list.join(", ")
}

impl Serialize for MixtureKind {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for MixtureKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the chain of thought of the records becomes (paper appendix I.7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CotMode {
    /// The full chain of thought.
    #[default]
    Full,
    /// No chain of thought: the target is the answer (after the conversion, for
    /// image-via-text records); the `cot` segment is left out.
    None,
    /// Progressively truncated: the record at position p of a phase of T records keeps the first
    /// ⌊L × (T − p) / T⌋ of its L chain-of-thought lines — all of them at the start, none near
    /// the end (an empty chain of thought leaves out the `cot` segment).
    Truncated,
}

impl FromStr for CotMode {
    type Err = MixtureError;

    /// `full`, `none` or `truncated`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(CotMode::Full),
            "none" => Ok(CotMode::None),
            "truncated" => Ok(CotMode::Truncated),
            _ => Err(MixtureError::UnknownName {
                what: "chain-of-thought mode",
                given: s.to_string(),
                expected: "full, none or truncated".to_string(),
            }),
        }
    }
}

/// An explicit number of records of one split and supervision, overriding Algorithm 1. Written
/// `simple_text`, `hard_image`, `medium_image_via_text`, … in plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ExplicitCount {
    pub split: Split,
    pub supervision: Supervision,
    pub count: u64,
}

impl ExplicitCount {
    /// The name of the type in plans, e.g. `simple_image_via_text`.
    pub fn key(&self) -> String {
        format!("{}_{}", self.split, self.supervision)
    }

    /// Read `split_supervision = count`.
    pub fn parse(key: &str, count: u64) -> Result<Self> {
        let wanted = key.trim().to_ascii_lowercase();
        for split in Split::ALL {
            if let Some(rest) = wanted.strip_prefix(&format!("{}_", split.name()))
                && let Ok(supervision) = rest.parse::<Supervision>()
            {
                return Ok(ExplicitCount {
                    split: *split,
                    supervision,
                    count,
                });
            }
        }
        Err(MixtureError::UnknownName {
            what: "record type in `counts`",
            given: key.to_string(),
            expected: "<split>_<supervision>, e.g. simple_text, simple_image, \
                       simple_image_via_text, hard_text, hard_image"
                .to_string(),
        })
    }
}

/// The Algorithm 1 numbers of one task of a mixture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskCounts {
    pub task: TaskKind,
    pub budget: u64,
    pub n_simple: u64,
    pub n_hard: u64,
    /// Unique simple instances (indices `0..unique_simple`).
    pub unique_simple: u64,
    /// Unique hard instances (indices `0..unique_hard`).
    pub unique_hard: u64,
    /// Repeats of the set of simple records: N_simple / (unique_simple × simple types).
    pub simple_epochs: f64,
    /// Repeats of the hard records: N_hard / unique_hard (1 unless `hard_repeat` is set).
    pub hard_epochs: f64,
    /// Records and unique instances of each type.
    pub types: Vec<TypeCount>,
}

/// One stream of a task: the records of a set, shuffled and repeated up to a number of records.
#[derive(Debug, Clone)]
struct RepeatedSet {
    split: Split,
    types: Vec<Supervision>,
    unique: u64,
    records: u64,
}

impl RepeatedSet {
    fn set_size(&self) -> u64 {
        self.unique * self.types.len() as u64
    }

    /// Records per type: full repeats of the set, then the stratified share of the last one.
    fn type_records(&self) -> Vec<u64> {
        let m = self.types.len() as u64;
        let set = self.set_size();
        let (full, rem) = (self.records / set, self.records % set);
        (0..m)
            .map(|t| full * self.unique + rem / m + u64::from(t < rem % m))
            .collect()
    }

    fn build(&self, task: TaskKind, seed: u64, rng: &mut TaskRng) -> Vec<RecordRef> {
        let set: Vec<RecordRef> = (0..self.unique)
            .flat_map(|index| {
                self.types.iter().map(move |&supervision| RecordRef {
                    task,
                    split: self.split,
                    seed,
                    index,
                    supervision,
                    cot: CotKeep::Full,
                })
            })
            .collect();
        let set_size = self.set_size();
        let (full, rem) = (self.records / set_size, self.records % set_size);
        let mut out = Vec::with_capacity(self.records as usize);
        for _ in 0..full {
            let mut epoch = set.clone();
            rng.shuffle(&mut epoch);
            out.extend(epoch);
        }
        if rem > 0 {
            let mut epoch = set;
            rng.shuffle(&mut epoch);
            let m = self.types.len() as u64;
            let mut quota: Vec<u64> = (0..m).map(|t| rem / m + u64::from(t < rem % m)).collect();
            for r in epoch {
                let t = self
                    .types
                    .iter()
                    .position(|&s| s == r.supervision)
                    .unwrap_or(0);
                if quota[t] > 0 {
                    quota[t] -= 1;
                    out.push(r);
                }
            }
        }
        out
    }
}

/// A mixture: which records, how many, in which order. Training fields (learning rate, trainable
/// parts) live on the plan's [`Phase`](crate::Phase).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mixture {
    pub kind: MixtureKind,
    /// One task, or several for a multi-task mixture (paper I.8): the budget is split evenly,
    /// the first tasks taking the remainder.
    pub tasks: Vec<TaskKind>,
    /// Total records; may be left out when `counts` is given.
    pub budget: Option<u64>,
    /// Seed of the instances and of the order; must be below 2^63.
    pub seed: u64,
    /// Supervision of the hard records: text (paper), or image (paper G.4).
    pub hard_supervision: Supervision,
    /// k-fold repeated hard records (paper I.9): ⌊N_hard / k⌋ unique hard instances, repeated.
    pub hard_repeat: u64,
    pub cot: CotMode,
    /// Explicit per-type counts (per task) overriding Algorithm 1; empty to count by it.
    pub counts: Vec<ExplicitCount>,
    /// Regroup so every batch of this size holds the nominal ratio of types.
    pub interleave_batch: Option<u64>,
}

impl Mixture {
    /// Whether any of the mixture's records shows an image (an image or image-via-text
    /// record, simple or hard).
    pub fn has_images(&self) -> bool {
        if !self.counts.is_empty() {
            return self
                .counts
                .iter()
                .any(|c| c.count > 0 && c.supervision != Supervision::Text);
        }
        self.kind
            .simple_types()
            .iter()
            .any(|&s| s != Supervision::Text)
            || (self.kind.has_hard() && self.hard_supervision != Supervision::Text)
    }

    /// Algorithm 1 for one task with the paper's defaults.
    pub fn new(kind: MixtureKind, task: TaskKind, budget: u64, seed: u64) -> Self {
        Self {
            kind,
            tasks: vec![task],
            budget: Some(budget),
            seed,
            hard_supervision: Supervision::Text,
            hard_repeat: 1,
            cot: CotMode::Full,
            counts: Vec::new(),
            interleave_batch: None,
        }
    }

    /// Check the mixture and compute its Algorithm 1 numbers, one entry per task.
    pub fn counts(&self) -> Result<Vec<TaskCounts>> {
        Ok(self.plans()?.into_iter().map(|(c, _)| c).collect())
    }

    /// Validate, then count every task and describe its streams.
    fn plans(&self) -> Result<Vec<(TaskCounts, Vec<RepeatedSet>)>> {
        let invalid = |m: String| Err(MixtureError::InvalidMixture(m));
        check_training_seed(self.seed)?;
        if self.tasks.is_empty() {
            return invalid("no task given".to_string());
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if self.tasks[..i].contains(t) {
                return invalid(format!("task `{t}` is listed twice"));
            }
        }
        if self.hard_repeat == 0 {
            return invalid("hard_repeat must be at least 1".to_string());
        }
        if self.interleave_batch == Some(0) {
            return invalid("interleave_batch must be at least 1".to_string());
        }
        let k = self.tasks.len() as u64;
        let plans = if self.counts.is_empty() {
            if self.hard_supervision != Supervision::Text && !self.kind.has_hard() {
                return invalid(format!(
                    "hard_supervision applies to mix_plus, image_via_text_plus and text_warmup, \
                     not to `{}`",
                    self.kind
                ));
            }
            if self.hard_repeat != 1 && !self.kind.has_hard() {
                return invalid(format!(
                    "hard_repeat applies to mixtures with hard records, not to `{}`",
                    self.kind
                ));
            }
            let budget = match self.budget {
                None => return invalid("a budget (number of records) is required".to_string()),
                Some(0) => return invalid("the budget must be at least 1 record".to_string()),
                Some(b) if b > MAX_RECORDS => {
                    return invalid(format!(
                        "budget {b} is over the limit of {MAX_RECORDS} records"
                    ));
                }
                Some(b) => b,
            };
            self.tasks
                .iter()
                .enumerate()
                .map(|(i, &task)| {
                    let share = budget / k + u64::from((i as u64) < budget % k);
                    self.algorithm1(task, share)
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            self.explicit()?
        };
        Ok(plans)
    }

    /// Algorithm 1 for one task with `budget` records.
    fn algorithm1(&self, task: TaskKind, budget: u64) -> Result<(TaskCounts, Vec<RepeatedSet>)> {
        let kind = self.kind;
        let n_hard = if kind.has_hard() { budget / 2 } else { 0 };
        let n_simple = budget - n_hard;
        let unique_simple = n_simple / kind.unique_divisor();
        let unique_hard = n_hard / self.hard_repeat;
        // The smallest budget with one simple instance (and one hard one, k records).
        let d = kind.unique_divisor();
        let at_least = if kind.has_hard() {
            (2 * d - 1).max(2 * self.hard_repeat)
        } else {
            d
        };
        if unique_simple == 0 {
            return Err(MixtureError::InvalidMixture(format!(
                "a budget of {budget} records for task `{task}` is too small for `{kind}`: it \
                 needs at least {at_least}"
            )));
        }
        if kind.has_hard() && unique_hard == 0 {
            return Err(MixtureError::InvalidMixture(format!(
                "a budget of {budget} records for task `{task}` gives {n_hard} hard records, \
                 too few for {} repeats: it needs at least {at_least}",
                self.hard_repeat
            )));
        }
        let mut sets = vec![RepeatedSet {
            split: Split::Simple,
            types: kind.simple_types().to_vec(),
            unique: unique_simple,
            records: n_simple,
        }];
        if n_hard > 0 {
            sets.push(RepeatedSet {
                split: Split::Hard,
                types: vec![self.hard_supervision],
                unique: unique_hard,
                records: n_hard,
            });
        }
        let counts = TaskCounts {
            task,
            budget,
            n_simple,
            n_hard,
            unique_simple,
            unique_hard,
            simple_epochs: n_simple as f64 / sets[0].set_size() as f64,
            hard_epochs: if n_hard > 0 {
                n_hard as f64 / unique_hard as f64
            } else {
                0.0
            },
            types: type_counts(task, &sets),
        };
        Ok((counts, sets))
    }

    /// The explicit per-type counts, each type its own set of unique instances.
    fn explicit(&self) -> Result<Vec<(TaskCounts, Vec<RepeatedSet>)>> {
        let invalid = |m: String| Err(MixtureError::InvalidMixture(m));
        if self.hard_supervision != Supervision::Text || self.hard_repeat != 1 {
            return invalid(
                "explicit counts set every type's number of records; leave out hard_supervision \
                 and hard_repeat"
                    .to_string(),
            );
        }
        let mut per_task = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            if c.count == 0 {
                return invalid(format!(
                    "count `{}` is 0; leave the type out instead",
                    c.key()
                ));
            }
            if self.counts[..i]
                .iter()
                .any(|o| (o.split, o.supervision) == (c.split, c.supervision))
            {
                return invalid(format!("count `{}` is given twice", c.key()));
            }
            per_task = per_task.saturating_add(c.count);
        }
        let total = per_task.saturating_mul(self.tasks.len() as u64);
        if total > MAX_RECORDS {
            return invalid(format!(
                "{total} records is over the limit of {MAX_RECORDS}"
            ));
        }
        if let Some(budget) = self.budget
            && budget != total
        {
            return invalid(format!(
                "budget {budget} differs from the {total} records the explicit counts give \
                 ({per_task} per task); leave the budget out or make them agree"
            ));
        }
        self.tasks
            .iter()
            .map(|&task| {
                let sets: Vec<RepeatedSet> = self
                    .counts
                    .iter()
                    .map(|c| {
                        task.check_split(c.split)?;
                        Ok(RepeatedSet {
                            split: c.split,
                            types: vec![c.supervision],
                            unique: c.count,
                            records: c.count,
                        })
                    })
                    .collect::<Result<_>>()?;
                let sum = |split: Split| -> u64 {
                    self.counts
                        .iter()
                        .filter(|c| (c.split == Split::Simple) == (split == Split::Simple))
                        .map(|c| c.count)
                        .sum()
                };
                let max = |simple: bool| -> u64 {
                    self.counts
                        .iter()
                        .filter(|c| (c.split == Split::Simple) == simple)
                        .map(|c| c.count)
                        .max()
                        .unwrap_or(0)
                };
                let counts = TaskCounts {
                    task,
                    budget: per_task,
                    n_simple: sum(Split::Simple),
                    n_hard: sum(Split::Hard),
                    unique_simple: max(true),
                    unique_hard: max(false),
                    simple_epochs: 1.0,
                    hard_epochs: 1.0,
                    types: type_counts(task, &sets),
                };
                Ok((counts, sets))
            })
            .collect()
    }

    /// The records of the mixture in training order.
    pub fn references(&self) -> Result<Vec<RecordRef>> {
        let plans = self.plans()?;
        let mut rng = TaskRng::from_seed(self.seed);
        let mut streams = Vec::new();
        for (counts, sets) in &plans {
            for set in sets {
                streams.push(set.build(counts.task, self.seed, &mut rng));
            }
        }
        let mut refs = random_merge(streams, &mut rng);
        if let Some(batch) = self.interleave_batch {
            refs = interleave(refs, batch as usize, &mut rng);
        }
        let total = refs.len() as u64;
        for (p, r) in refs.iter_mut().enumerate() {
            r.cot = match self.cot {
                CotMode::Full => CotKeep::Full,
                CotMode::None => CotKeep::Nothing,
                CotMode::Truncated => CotKeep::Fraction {
                    keep: total - p as u64,
                    of: total,
                },
            };
        }
        Ok(refs)
    }
}

fn type_counts(task: TaskKind, sets: &[RepeatedSet]) -> Vec<TypeCount> {
    sets.iter()
        .flat_map(|set| {
            set.types
                .iter()
                .zip(set.type_records())
                .map(move |(&supervision, records)| TypeCount {
                    record_type: RecordType {
                        task,
                        split: set.split,
                        supervision,
                    },
                    records,
                    unique: set.unique.min(records),
                })
        })
        .collect()
}

#[cfg(test)]
#[path = "mixture_tests.rs"]
mod tests;
