//! Grid Navigation (SPEC §4). Placeholder types: the generator is being written.

use serde::{Deserialize, Serialize};

use crate::{Move, Result, Split, TaskError, TaskKind, Verdict};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GridConfig {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridInstance {
    pub rows: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridAnswer {
    pub moves: Vec<Move>,
}

impl GridInstance {
    pub fn gold_answer(&self) -> GridAnswer {
        GridAnswer { moves: Vec::new() }
    }
}

pub fn generate(_config: &GridConfig, split: Split, _seed: u64, _index: u64) -> Result<GridInstance> {
    Err(TaskError::InvalidConfig {
        task: TaskKind::Grid,
        reason: format!("grid generation is not available yet ({split})"),
    })
}

pub fn verify(_instance: &GridInstance, _answer: &GridAnswer) -> Verdict {
    Verdict::new(false)
}
