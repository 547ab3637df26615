//! Visual Analogy (SPEC §5). Placeholder types: the generator is being written.

use serde::{Deserialize, Serialize};

use crate::{Result, Split, TaskError, TaskKind, Verdict};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalogyConfig {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalogyInstance {
    pub rows: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalogyAnswer {
    pub option: u8,
}

impl AnalogyInstance {
    pub fn gold_answer(&self) -> AnalogyAnswer {
        AnalogyAnswer { option: 1 }
    }
}

pub fn generate(_config: &AnalogyConfig, split: Split, _seed: u64, _index: u64) -> Result<AnalogyInstance> {
    Err(TaskError::InvalidConfig {
        task: TaskKind::Va,
        reason: format!("visual analogy generation is not available yet ({split})"),
    })
}

pub fn verify(_instance: &AnalogyInstance, _answer: &AnalogyAnswer) -> Verdict {
    Verdict::new(false)
}
