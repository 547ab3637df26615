//! Prompts, chain of thought and answers of Grid Navigation (SPEC §8). Placeholder: being written.

use s2h_tasks::grid::{GridAnswer, GridInstance};
use s2h_tasks::{Modality, TaskKind};

use crate::{ParseError, Result};

pub fn question(_instance: &GridInstance, _modality: Modality) -> String {
    String::new()
}

pub fn chain_of_thought(_instance: &GridInstance) -> String {
    String::new()
}

pub fn answer_text(_answer: &GridAnswer) -> String {
    String::new()
}

pub fn parse_answer(output: &str) -> Result<GridAnswer> {
    Err(ParseError::Malformed {
        task: TaskKind::Grid,
        line: output.to_string(),
        reason: "grid answers cannot be parsed yet".to_string(),
    })
}
