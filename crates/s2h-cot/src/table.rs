//! Prompts, chain of thought and answers of the table tasks, CTR and TR (SPEC §8).

use std::fmt::Write as _;

use s2h_tasks::labels::DIGIT_WORDS;
use s2h_tasks::table::{ReadingDirection, TableAnswer, TableInstance, TableParams};
use s2h_tasks::{Cell, Modality, TaskKind};

use crate::{ParseError, Result, parse_answer_lines};

/// The question of a table instance: where the path starts and ends, and the reading rule.
pub fn question(instance: &TableInstance, modality: Modality) -> String {
    let table = &instance.table;
    let (start, end) = (instance.start(), instance.end());
    let shown = match modality {
        Modality::Text => {
            "The table above lists products (rows) and months (columns). Highlighted cells are marked with *."
        }
        Modality::Image => {
            "The image shows a table of products (rows) and months (columns). Highlighted cells are yellow."
        }
    };
    let rule = match &instance.params {
        TableParams::Ctr {
            direction: ReadingDirection::Forward,
            ..
        } => {
            "The highlighted cells are consecutive: read them from left to right, and at the end of a row \
             continue with the first column of the next row."
        }
        TableParams::Ctr {
            direction: ReadingDirection::Backward,
            ..
        } => {
            "The highlighted cells are consecutive: read them from right to left, and at the start of a row \
             continue with the last column of the row above."
        }
        TableParams::Tr { .. } => {
            "The highlighted cells form a path: each cell is next to the previous one (above, below, left \
             or right). Follow the path from its start to its end."
        }
    };
    format!(
        "{shown} {rule} Start at the cell in row {} and column {}, and end at the cell in row {} and column {}. \
         Read the value of every highlighted cell in order, then add them up. Finish with a line of the form \
         `Answer: v1, v2, ..., vn (sum S)`.",
        table.row_label(start),
        table.col_label(start),
        table.row_label(end),
        table.col_label(end),
    )
}

/// One line per path cell (step, row index and label, column index and label, the value as word
/// and digit), then the sum.
pub fn chain_of_thought(instance: &TableInstance) -> String {
    let table = &instance.table;
    let mut out = String::new();
    for (i, &cell) in instance.path.iter().enumerate() {
        let value = table.value(cell);
        let _ = writeln!(
            out,
            "Step {}: row {} ({}), column {} ({}): {} ({})",
            i + 1,
            cell.row,
            table.row_label(cell),
            cell.col,
            table.col_label(cell),
            DIGIT_WORDS[usize::from(value)],
            value
        );
    }
    let answer = instance.gold_answer();
    let terms: Vec<String> = answer.values.iter().map(u8::to_string).collect();
    let _ = write!(out, "Sum: {} = {}", terms.join(" + "), answer.sum);
    out
}

/// `Answer: 7, 3, 0, 9 (sum 19)`.
pub fn answer_text(answer: &TableAnswer) -> String {
    let values: Vec<String> = answer.values.iter().map(u8::to_string).collect();
    format!("Answer: {} (sum {})", values.join(", "), answer.sum)
}

/// Read `Answer: 7, 3, 0, 9 (sum 19)` back. Tolerated: extra spaces, a trailing period, any case,
/// `sum: 19` or `sum = 19`, values as words (`seven`), semicolons between values. An answer
/// without its sum, or with anything but single digits, is an error.
pub fn parse_answer(task: TaskKind, output: &str) -> Result<TableAnswer> {
    parse_answer_lines(output, |line| parse_answer_line(task, line))
}

/// The text after `Answer:`.
fn parse_answer_line(task: TaskKind, line: &str) -> Result<TableAnswer> {
    let malformed = |reason: &str| ParseError::Malformed {
        task,
        line: line.to_string(),
        reason: reason.to_string(),
    };
    let body = line.trim().trim_end_matches('.').trim();
    let lower = body.to_ascii_lowercase();
    let open = match lower.rfind('(') {
        Some(i) if lower[i + 1..].trim_start().starts_with("sum") => i,
        _ => {
            return Err(malformed(
                "expected the sum in parentheses at the end, as in `(sum 19)`",
            ));
        }
    };
    let Some(close) = lower[open..].find(')').map(|i| open + i) else {
        return Err(malformed("the `(sum` is not closed by `)`"));
    };
    if !lower[close + 1..].trim().is_empty() {
        return Err(malformed("unexpected text after the sum"));
    }
    let sum_text = lower[open + 1..close]
        .trim()
        .trim_start_matches("sum")
        .trim()
        .trim_start_matches([':', '='])
        .trim();
    let sum: u32 = sum_text
        .parse()
        .map_err(|_| malformed(&format!("the sum `{sum_text}` is not a whole number")))?;
    let list = lower[..open].trim().trim_end_matches([',', ';']).trim();
    if list.is_empty() {
        return Err(malformed("no values before the sum"));
    }
    let values = list
        .split([',', ';'])
        .map(|token| {
            parse_digit(token.trim())
                .ok_or_else(|| malformed(&format!("`{}` is not a digit 0-9", token.trim())))
        })
        .collect::<Result<Vec<u8>>>()?;
    Ok(TableAnswer { values, sum })
}

/// A single digit, written as a numeral or as an English word in any case.
fn parse_digit(token: &str) -> Option<u8> {
    if let Ok(v) = token.parse::<u8>() {
        return (v <= 9).then_some(v);
    }
    DIGIT_WORDS
        .iter()
        .position(|w| w.eq_ignore_ascii_case(token))
        .map(|v| v as u8)
}

/// One step line of a table chain of thought, as far as it could be read. Fields that were
/// missing or malformed are `None`, so evaluation can score each field on its own (SPEC §13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CotStep {
    pub step: Option<u32>,
    pub row: Option<u32>,
    pub row_label: Option<String>,
    pub col: Option<u32>,
    pub col_label: Option<String>,
    pub value: Option<u8>,
}

impl CotStep {
    /// The cell this step names, when both indices were read.
    pub fn cell(&self) -> Option<Cell> {
        Some(Cell::new(self.row?, self.col?))
    }
}

/// The step lines of a table chain of thought (`Step k: row r (label), column c (label): WORD
/// (d)`), in the order they appear. Other lines are ignored.
pub fn parse_chain_of_thought(output: &str) -> Vec<CotStep> {
    output.lines().filter_map(parse_step_line).collect()
}

/// The values of a chain of thought, if every step line gave one.
pub fn values_from_chain_of_thought(steps: &[CotStep]) -> Option<Vec<u8>> {
    if steps.is_empty() {
        return None;
    }
    steps.iter().map(|s| s.value).collect()
}

fn parse_step_line(line: &str) -> Option<CotStep> {
    let line = line.trim();
    let rest = strip_prefix_ci(line, "step")?;
    let (step, rest) = rest.split_once(':')?;
    let (row_part, rest) = split_ci(rest, ", column")?;
    let (col_part, value_part) = match rest.find("):") {
        Some(i) => (&rest[..=i], &rest[i + 2..]),
        None => rest.split_once(':').unwrap_or((rest, "")),
    };
    let (row, row_label) = index_and_label(strip_prefix_ci(row_part.trim(), "row")?);
    let (col, col_label) = index_and_label(col_part);
    // The value: prefer the digit in parentheses, else the word.
    let value_part = value_part.trim();
    let value = match (value_part.find('('), value_part.rfind(')')) {
        (Some(a), Some(b)) if a < b => parse_digit(value_part[a + 1..b].trim()),
        _ => value_part.split_whitespace().next().and_then(parse_digit),
    };
    Some(CotStep {
        step: step.trim().parse().ok(),
        row,
        row_label,
        col,
        col_label,
        value,
    })
}

/// `3 (AlphaWidget)` -> (3, "AlphaWidget").
fn index_and_label(text: &str) -> (Option<u32>, Option<String>) {
    let text = text.trim();
    let (index, label) = match text.find('(') {
        Some(i) => (
            &text[..i],
            Some(text[i + 1..].trim_end_matches(')').trim().to_string()),
        ),
        None => (text, None),
    };
    (index.trim().parse().ok(), label.filter(|l| !l.is_empty()))
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    (text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &text[prefix.len()..])
}

fn split_ci<'a>(text: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let i = text.to_ascii_lowercase().find(sep)?;
    Some((&text[..i], &text[i + sep.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use s2h_tasks::table::{CtrConfig, TrConfig, generate_ctr, generate_tr};
    use s2h_tasks::{Split, TaskKind};

    fn parse(text: &str) -> Result<TableAnswer> {
        parse_answer(TaskKind::Tr, text)
    }

    #[test]
    fn gold_answers_round_trip_through_text() {
        for i in 0..200 {
            let inst = generate_tr(&TrConfig::default(), Split::Hard, 1, i).unwrap();
            let gold = inst.gold_answer();
            let text = format!("{}\n{}", chain_of_thought(&inst), answer_text(&gold));
            assert_eq!(parse(&text).unwrap(), gold);
            let steps = parse_chain_of_thought(&text);
            assert_eq!(steps.len(), inst.path.len());
            assert_eq!(values_from_chain_of_thought(&steps).unwrap(), gold.values);
            for (step, &cell) in steps.iter().zip(&inst.path) {
                assert_eq!(step.cell(), Some(cell));
                assert_eq!(step.row_label.as_deref(), Some(inst.table.row_label(cell)));
                assert_eq!(step.col_label.as_deref(), Some(inst.table.col_label(cell)));
            }
        }
    }

    proptest! {
        #[test]
        fn any_answer_round_trips(values in proptest::collection::vec(0u8..10, 1..40), extra in 0u32..3) {
            let answer = TableAnswer { sum: values.iter().map(|&v| u32::from(v)).sum::<u32>() + extra, values };
            prop_assert_eq!(parse(&answer_text(&answer)).unwrap(), answer);
        }
    }

    #[test]
    fn harmless_variation_is_tolerated() {
        let want = TableAnswer {
            values: vec![7, 3, 0, 9],
            sum: 19,
        };
        for text in [
            "Answer: 7, 3, 0, 9 (sum 19)",
            "answer:7,3,0,9 (SUM 19).",
            "  Answer:   7 ,3, 0,  9   ( sum: 19 ) ",
            "**Answer:** seven, THREE, zero, 9 (sum = 19)",
            "blah\nAnswer: 7, 3, 0, 9 (sum 19)\nAnswer: 7,3,0,9 (sum 19).",
        ] {
            assert_eq!(parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn broken_answers_are_rejected_with_a_reason() {
        assert_eq!(
            parse("the values are 1, 2").unwrap_err(),
            ParseError::NoAnswerLine
        );
        let cases = [
            ("Answer: 7, 3, 0, 9", "sum"),
            ("Answer: 7, 13, 0 (sum 20)", "`13`"),
            ("Answer: (sum 3)", "no values"),
            ("Answer: 1, 2 (sum x)", "whole number"),
            ("Answer: 1, 2 (sum 3) and more", "after the sum"),
        ];
        for (text, needle) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let err = parse("Answer: 1, 2 (sum 3)\nAnswer: 1, 2 (sum 4)").unwrap_err();
        assert!(matches!(err, ParseError::Ambiguous { .. }), "{err}");
    }

    #[test]
    fn questions_name_the_ends_and_the_rule() {
        let inst = generate_ctr(&CtrConfig::default(), Split::Simple, 0, 0).unwrap();
        let q = question(&inst, Modality::Image);
        assert!(q.contains(inst.table.row_label(inst.start())));
        assert!(q.contains(inst.table.col_label(inst.end())));
        assert!(q.contains("yellow") && !q.contains('*'));
        assert!(question(&inst, Modality::Text).contains("marked with *"));
    }

    #[test]
    fn damaged_cot_lines_keep_what_can_be_read() {
        let steps = parse_chain_of_thought(
            "Step 1: row 2 (NovaDrone), column 5 (March): SEVEN (7)\nStep 2: row x (Nova), column 6 (May): banana",
        );
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].value, Some(7));
        assert_eq!(steps[1].row, None);
        assert_eq!(steps[1].col, Some(6));
        assert_eq!(steps[1].value, None);
        assert_eq!(values_from_chain_of_thought(&steps), None);
    }
}
