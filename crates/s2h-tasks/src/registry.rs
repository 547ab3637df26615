//! The one place that lists every task: adding a task adds a variant here and a module in each
//! of tasks, render and cot.

use serde::{Deserialize, Serialize};

use crate::analogy::{self, AnalogyAnswer, AnalogyConfig, AnalogyInstance};
use crate::grid::{self, GridAnswer, GridConfig, GridInstance};
use crate::table::{self, CtrConfig, TableAnswer, TableInstance, TrConfig};
use crate::{Result, Split, TaskError, TaskKind, Verdict};

/// The parameters of every task; the default is the paper's configuration throughout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
// A misspelt parameter is an error, not a silent default.
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    pub ctr: CtrConfig,
    pub tr: TrConfig,
    pub grid: GridConfig,
    pub va: AnalogyConfig,
}

impl TaskConfig {
    /// The paper's configuration with CTR scaled down for the quickstart
    /// ([`CtrConfig::quickstart`]).
    pub fn quickstart() -> Self {
        Self {
            ctr: CtrConfig::quickstart(),
            ..Self::default()
        }
    }

    /// Generate instance `(task, split, seed, index)`.
    pub fn generate(
        &self,
        task: TaskKind,
        split: Split,
        seed: u64,
        index: u64,
    ) -> Result<Instance> {
        Ok(match task {
            TaskKind::Ctr => Instance::Table(table::generate_ctr(&self.ctr, split, seed, index)?),
            TaskKind::Tr => Instance::Table(table::generate_tr(&self.tr, split, seed, index)?),
            TaskKind::Grid => Instance::Grid(grid::generate(&self.grid, split, seed, index)?),
            TaskKind::Va => {
                Instance::Analogy(Box::new(analogy::generate(&self.va, split, seed, index)?))
            }
        })
    }
}

/// An instance of any task. Serialised as the task's own instance object (SPEC §10); reading
/// one back needs the task name, which records carry beside it ([`Instance::from_json`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Instance {
    Table(TableInstance),
    Grid(GridInstance),
    // Boxed: a puzzle (ten panels) is several times larger than the other instances.
    Analogy(Box<AnalogyInstance>),
}

/// A structured answer of any task, serialised as the task's own answer object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Table(TableAnswer),
    Grid(GridAnswer),
    Analogy(AnalogyAnswer),
}

impl Instance {
    pub fn task(&self) -> TaskKind {
        match self {
            Instance::Table(t) => t.task(),
            Instance::Grid(_) => TaskKind::Grid,
            Instance::Analogy(_) => TaskKind::Va,
        }
    }

    pub fn gold_answer(&self) -> Answer {
        match self {
            Instance::Table(t) => Answer::Table(t.gold_answer()),
            Instance::Grid(g) => Answer::Grid(g.gold_answer()),
            Instance::Analogy(a) => Answer::Analogy(a.gold_answer()),
        }
    }

    /// Check a structured answer; an answer of another task family is an error.
    pub fn verify(&self, answer: &Answer) -> Result<Verdict> {
        match (self, answer) {
            (Instance::Table(i), Answer::Table(a)) => Ok(table::verify(i, a)),
            (Instance::Grid(i), Answer::Grid(a)) => Ok(grid::verify(i, a)),
            (Instance::Analogy(i), Answer::Analogy(a)) => Ok(analogy::verify(i, a)),
            _ => Err(TaskError::TaskMismatch {
                instance: self.task(),
                answer: answer.task_family(),
            }),
        }
    }

    /// Read the instance object of a `task` from JSON.
    pub fn from_json(task: TaskKind, value: serde_json::Value) -> serde_json::Result<Instance> {
        Ok(match task {
            TaskKind::Ctr | TaskKind::Tr => Instance::Table(serde_json::from_value(value)?),
            TaskKind::Grid => Instance::Grid(serde_json::from_value(value)?),
            TaskKind::Va => Instance::Analogy(Box::new(serde_json::from_value(value)?)),
        })
    }
}

impl Answer {
    /// The task this answer belongs to (CTR for both table tasks, which share answers).
    pub fn task_family(&self) -> TaskKind {
        match self {
            Answer::Table(_) => TaskKind::Ctr,
            Answer::Grid(_) => TaskKind::Grid,
            Answer::Analogy(_) => TaskKind::Va,
        }
    }

    /// Read the answer object of a `task` from JSON.
    pub fn from_json(task: TaskKind, value: serde_json::Value) -> serde_json::Result<Answer> {
        Ok(match task {
            TaskKind::Ctr | TaskKind::Tr => Answer::Table(serde_json::from_value(value)?),
            TaskKind::Grid => Answer::Grid(serde_json::from_value(value)?),
            TaskKind::Va => Answer::Analogy(serde_json::from_value(value)?),
        })
    }
}
