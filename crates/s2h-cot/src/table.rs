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
///
/// The wording of the authors' released data is read too: the sum alone (`Answer: 113`), with
/// the values in order on the output's last `The total is 7 + 3 + 0 + 9 = 19.` line
/// ([`TOTAL_MARKER`]); the sum is the answer line's. A bare sum with no such line is an error:
/// the values along the path cannot be known from it.
pub fn parse_answer(task: TaskKind, output: &str) -> Result<TableAnswer> {
    parse_answer_lines(output, |line| parse_answer_line(task, line, output))
}

/// What precedes the values in the authors' closing sum: `The total is 7 + 3 = 10.`
pub const TOTAL_MARKER: &str = "total is";

/// The text after `Answer:`; `output` is the whole output, where a bare sum finds its values.
fn parse_answer_line(task: TaskKind, line: &str, output: &str) -> Result<TableAnswer> {
    let malformed = |reason: &str| ParseError::Malformed {
        task,
        line: line.to_string(),
        reason: reason.to_string(),
    };
    let body = line.trim().trim_end_matches('.').trim();
    if let Ok(sum) = body.parse::<u32>() {
        let values = values_of_total_line(task, output)?.ok_or_else(|| {
            malformed(&format!(
                "the answer gives only the sum {sum}, and no `The total is v1 + v2 + ... = S` line \
                 gives the values; write `Answer: v1, v2, ..., vn (sum S)`"
            ))
        })?;
        return Ok(TableAnswer { values, sum });
    }
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

/// The values of the last line holding [`TOTAL_MARKER`] and then `=`: the terms between the
/// two, split on `+`. `None` when no line has that form; an error when a term is not a digit.
fn values_of_total_line(task: TaskKind, output: &str) -> Result<Option<Vec<u8>>> {
    let terms_of = |line: &str| -> Option<usize> {
        let start = line.to_ascii_lowercase().rfind(TOTAL_MARKER)? + TOTAL_MARKER.len();
        line[start..].contains('=').then_some(start)
    };
    let Some((line, start)) = output
        .lines()
        .rev()
        .find_map(|l| terms_of(l).map(|start| (l, start)))
    else {
        return Ok(None);
    };
    let terms = line[start..].split('=').next().unwrap_or("");
    terms
        .split('+')
        .map(|term| {
            let term = term.trim().trim_end_matches('.').trim();
            parse_digit(term).ok_or_else(|| ParseError::Malformed {
                task,
                line: line.trim().to_string(),
                reason: format!("`{term}` is not a digit 0-9"),
            })
        })
        .collect::<Result<Vec<u8>>>()
        .map(Some)
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
/// (d)`), in the order they appear. Other lines are ignored. The rows of the authors' released
/// data are read as steps too: five tab-separated fields, row index, column index, row label,
/// column label and value (`2\t5\tNovaDrone\tMarch\t7`); they carry no step number.
pub fn parse_chain_of_thought(output: &str) -> Vec<CotStep> {
    output
        .lines()
        .filter_map(|line| parse_step_line(line).or_else(|| parse_tab_row(line)))
        .collect()
}

/// `2\t5\tNovaDrone\tMarch\t7`: a row of the authors' CoT table; both indices must be numbers.
fn parse_tab_row(line: &str) -> Option<CotStep> {
    let fields: Vec<&str> = line.trim().split('\t').map(str::trim).collect();
    let [row, col, row_label, col_label, value] = fields.as_slice() else {
        return None;
    };
    let label = |l: &str| (!l.is_empty()).then(|| l.to_string());
    Some(CotStep {
        step: None,
        row: Some(row.parse().ok()?),
        row_label: label(row_label),
        col: Some(col.parse().ok()?),
        col_label: label(col_label),
        value: parse_value(value),
    })
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
    let value = parse_value(value_part);
    Some(CotStep {
        step: step.trim().parse().ok(),
        row,
        row_label,
        col,
        col_label,
        value,
    })
}

/// The value of a step: the digit in parentheses (`SEVEN (7)`), else the first word.
fn parse_value(text: &str) -> Option<u8> {
    let text = text.trim();
    match (text.find('('), text.rfind(')')) {
        (Some(a), Some(b)) if a < b => parse_digit(text[a + 1..b].trim()),
        _ => text.split_whitespace().next().and_then(parse_digit),
    }
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

/// The gold output of an instance in the wording of the authors' released data (what a model
/// trained on it writes): tab-separated CoT rows (row, column, row name, column name, value),
/// a `The total is a + b + … = S.` line and the sum alone as the answer. [`parse_answer`] and
/// [`parse_chain_of_thought`] read it back.
pub fn authors_output(inst: &TableInstance) -> String {
    let table = &inst.table;
    let mut out = "We enumerate the relevant row indices, column indices, row names, column \
                   names, and their corresponding values.\n\nRow Index, Column Index, Row \
                   Name, Column Name, Value\n"
        .to_string();
    for &cell in &inst.path {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            cell.row,
            cell.col,
            table.row_label(cell),
            table.col_label(cell),
            table.value(cell)
        ));
    }
    let gold = inst.gold_answer();
    let terms: Vec<String> = gold.values.iter().map(u8::to_string).collect();
    out.push_str(&format!(
        "\n\nThe total is {} = {}.\n\nAnswer: {}",
        terms.join(" + "),
        gold.sum,
        gold.sum
    ));
    out
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
    fn the_authors_wording_is_read() {
        for i in 0..100 {
            let inst = if i % 2 == 0 {
                generate_ctr(&CtrConfig::default(), Split::Hard, 3, i).unwrap()
            } else {
                generate_tr(&TrConfig::default(), Split::Hard, 3, i).unwrap()
            };
            let gold = inst.gold_answer();
            let text = authors_output(&inst);
            assert_eq!(parse(&text).unwrap(), gold, "{text}");
            let steps = parse_chain_of_thought(&text);
            assert_eq!(steps.len(), inst.path.len(), "{text}");
            assert_eq!(values_from_chain_of_thought(&steps).unwrap(), gold.values);
            for (step, &cell) in steps.iter().zip(&inst.path) {
                assert_eq!(step.cell(), Some(cell));
                assert_eq!(step.row_label.as_deref(), Some(inst.table.row_label(cell)));
                assert_eq!(step.col_label.as_deref(), Some(inst.table.col_label(cell)));
            }
        }
        // A one-cell path, values as words, a trailing period.
        let want = TableAnswer {
            values: vec![7],
            sum: 7,
        };
        assert_eq!(parse("The total is seven = 7.\nAnswer: 7.").unwrap(), want);
        // The last total line gives the values; the answer line gives the sum.
        let text = "The total is 1 + 2 = 3.\nThe total is 4 + 5 = 9.\n\nAnswer: 10";
        let want = TableAnswer {
            values: vec![4, 5],
            sum: 10,
        };
        assert_eq!(parse(text).unwrap(), want);
    }

    #[test]
    fn a_bare_sum_needs_its_values() {
        let err = parse("Answer: 113").unwrap_err();
        assert!(matches!(err, ParseError::Malformed { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("only the sum") && message.contains("The total is"),
            "{message}"
        );
        let err = parse("The total is 1 + 12 = 13.\nAnswer: 13")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`12`"), "{err}");
        // Both wordings in one output must agree, like any two answer lines.
        let both = "Answer: 1, 2 (sum 3)\nThe total is 1 + 2 = 3.\nAnswer: 3";
        assert_eq!(parse(both).unwrap().values, vec![1, 2]);
        let err = parse(&both.replace("Answer: 3", "Answer: 4")).unwrap_err();
        assert!(matches!(err, ParseError::Ambiguous { .. }), "{err}");
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
