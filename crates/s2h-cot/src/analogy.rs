//! Prompts, chain of thought and answers of Visual Analogy (SPEC §8). Placeholder: being written.

use s2h_tasks::analogy::{AnalogyAnswer, AnalogyInstance};
use s2h_tasks::{Modality, TaskKind};

use crate::{ParseError, Result};

pub fn question(_instance: &AnalogyInstance, _modality: Modality) -> String {
    String::new()
}

pub fn chain_of_thought(_instance: &AnalogyInstance) -> String {
    String::new()
}

pub fn answer_text(_answer: &AnalogyAnswer) -> String {
    String::new()
}

pub fn parse_answer(output: &str) -> Result<AnalogyAnswer> {
    Err(ParseError::Malformed {
        task: TaskKind::Va,
        line: output.to_string(),
        reason: "visual analogy answers cannot be parsed yet".to_string(),
    })
}
