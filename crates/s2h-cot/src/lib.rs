//! Prompts, chain of thought and answers of the s2h tasks (SPEC §8), and the parsers that read
//! model output back into structured answers.
//!
//! One module per task family, named as in `s2h-tasks`: [`table`], [`grid`], [`analogy`]. This
//! crate does not render instances: a text prompt receives its text rendering from the caller
//! (see [`PromptInput`]), so it depends on the task definitions alone.

mod error;

pub mod analogy;
pub mod grid;
pub mod table;

use s2h_tasks::{Answer, Instance, Modality, TaskKind};

pub use error::{ParseError, Result};

/// The placeholder that stands for the image in an image prompt.
pub const IMAGE_PLACEHOLDER: &str = "<image>";

/// P_convert: the fixed sentence that starts the assistant turn of Image-via-Text records,
/// followed there by the exact text rendering.
pub const CONVERT_PROMPT: &str = "Convert the image to text.";

/// [`CONVERT_PROMPT`] as the `convert_prompt` segment of a target writes it: a line of its own.
/// Tokenizers see it so in training, and the compact one learns the whole line as one token.
pub const CONVERT_LINE: &str = "Convert the image to text.\n";

/// The keyword that opens the final answer line of every task.
pub const ANSWER_PREFIX: &str = "Answer:";

/// What the prompt shows before the question.
#[derive(Debug, Clone, Copy)]
pub enum PromptInput<'a> {
    /// The text rendering of the instance.
    Text(&'a str),
    /// The image, as the [`IMAGE_PLACEHOLDER`].
    Image,
}

impl PromptInput<'_> {
    pub fn modality(&self) -> Modality {
        match self {
            PromptInput::Text(_) => Modality::Text,
            PromptInput::Image => Modality::Image,
        }
    }
}

/// The full user prompt: the rendering (or the image placeholder), a blank line, the question.
pub fn prompt(instance: &Instance, input: PromptInput<'_>) -> String {
    let shown = match input {
        PromptInput::Text(text) => text,
        PromptInput::Image => IMAGE_PLACEHOLDER,
    };
    format!("{shown}\n\n{}", question(instance, input.modality()))
}

/// What the model is asked to do, worded for the modality it sees.
pub fn question(instance: &Instance, modality: Modality) -> String {
    match instance {
        Instance::Table(t) => table::question(t, modality),
        Instance::Grid(g) => grid::question(g, modality),
        Instance::Analogy(a) => analogy::question(a, modality),
    }
}

/// The verbose chain of thought that leads to the gold answer (without the answer line).
pub fn chain_of_thought(instance: &Instance) -> String {
    match instance {
        Instance::Table(t) => table::chain_of_thought(t),
        Instance::Grid(g) => grid::chain_of_thought(g),
        Instance::Analogy(a) => analogy::chain_of_thought(a),
    }
}

/// The final answer part, starting with `Answer:`.
pub fn answer_text(answer: &Answer) -> String {
    match answer {
        Answer::Table(a) => table::answer_text(a),
        Answer::Grid(a) => grid::answer_text(a),
        Answer::Analogy(a) => analogy::answer_text(a),
    }
}

/// Read the structured answer of a `task` out of a model's whole output.
pub fn parse_answer(task: TaskKind, output: &str) -> Result<Answer> {
    Ok(match task {
        TaskKind::Ctr | TaskKind::Tr => Answer::Table(table::parse_answer(task, output)?),
        TaskKind::Grid => Answer::Grid(grid::parse_answer(output)?),
        TaskKind::Va => Answer::Analogy(analogy::parse_answer(output)?),
    })
}

/// The structured answer of an output: every line opening with `Answer:` is parsed with
/// `parse_line` (given the text after the keyword), and all of them must agree — two answer
/// lines that say different things are ambiguous, and a malformed one is an error.
pub(crate) fn parse_answer_lines<T: PartialEq>(
    output: &str,
    parse_line: impl Fn(&str) -> Result<T>,
) -> Result<T> {
    let mut found: Option<(T, &str)> = None;
    for line in output.lines() {
        let trimmed = line.trim().trim_start_matches(['*', '#', ' ']);
        let Some(keyword) = trimmed.get(..ANSWER_PREFIX.len()) else {
            continue;
        };
        if !keyword.eq_ignore_ascii_case(ANSWER_PREFIX) {
            continue;
        }
        let rest = trimmed[ANSWER_PREFIX.len()..]
            .trim()
            .trim_start_matches('*')
            .trim();
        let answer = parse_line(rest)?;
        match &found {
            Some((prev, prev_text)) if *prev != answer => {
                return Err(ParseError::Ambiguous {
                    first: prev_text.to_string(),
                    second: rest.to_string(),
                });
            }
            _ => found = Some((answer, rest)),
        }
    }
    found
        .map(|(answer, _)| answer)
        .ok_or(ParseError::NoAnswerLine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_convert_line_is_the_prompt_on_its_own_line() {
        assert_eq!(CONVERT_LINE, format!("{CONVERT_PROMPT}\n"));
    }
}
