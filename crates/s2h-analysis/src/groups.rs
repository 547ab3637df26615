//! Token groups of a chain of thought for pixel attribution (App J, Figs 28, 29): named spans of
//! the record's `cot` segment, turned into loss masks over the record's tokens.
//!
//! - Table Readout: each run of consecutive steps in one column (Fig 28's "the first 5 cells
//!   roughly in the 10th column", …); Consecutive Table Readout: each run in one row (its path
//!   goes row by row).
//! - Visual Analogy: `example_1`, `example_2` (up to the line inferring the relation), `query`
//!   (the query panels' values) and `options` (Fig 29 has the first three).
//! - Grid Navigation: the header (`setup`: S, D, objects, obstacles) and each leg of the path.

use std::ops::Range;

use s2h_mixture::{Record, SegmentKind};
use s2h_tasks::TaskKind;
use s2h_train::{EncodedRecord, Processor};

use crate::{AnalysisError, Result};

/// A named span of a chain of thought, in bytes of the `cot` segment's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CotGroup {
    pub name: String,
    pub span: Range<usize>,
}

/// The groups of `record`'s chain of thought (none when it has no `cot` segment).
pub fn cot_groups(record: &Record) -> Vec<CotGroup> {
    let Some(cot) = record
        .segments
        .iter()
        .find(|s| s.kind == SegmentKind::Cot)
        .map(|s| s.text.as_str())
    else {
        return Vec::new();
    };
    let lines = lines_with_offsets(cot);
    match record.task {
        TaskKind::Tr => table_runs(&lines, "column"),
        TaskKind::Ctr => table_runs(&lines, "row"),
        TaskKind::Va => analogy_parts(&lines, cot.len()),
        TaskKind::Grid => grid_legs(&lines, cot.len()),
    }
}

/// Each line with the byte range it covers (its line break included).
fn lines_with_offsets(text: &str) -> Vec<(Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        out.push((start..start + line.len(), line.trim_end_matches('\n')));
        start += line.len();
    }
    out
}

/// `Step k: row r (…), column c (…): …` → the number after `key` (`row` or `column`).
fn step_coordinate(line: &str, key: &str) -> Option<usize> {
    if !line.starts_with("Step ") {
        return None;
    }
    let after = line.split(&format!(" {key} ")).nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn table_runs(lines: &[(Range<usize>, &str)], key: &str) -> Vec<CotGroup> {
    let mut groups: Vec<(usize, usize, usize, Range<usize>)> = Vec::new(); // (coord, first, last, span)
    let mut step = 0;
    for (span, line) in lines {
        let Some(c) = step_coordinate(line, key) else {
            continue;
        };
        step += 1;
        match groups.last_mut() {
            Some((coord, _, last, s)) if *coord == c && *last + 1 == step => {
                *last = step;
                s.end = span.end;
            }
            _ => groups.push((c, step, step, span.clone())),
        }
    }
    groups
        .into_iter()
        .map(|(coord, first, last, span)| CotGroup {
            name: format!("steps-{first}-{last}-{key}-{coord}"),
            span,
        })
        .collect()
}

/// Spans between the first lines that start with each of `marks`, in order; a missing mark
/// leaves its part out.
fn parts_between(
    lines: &[(Range<usize>, &str)],
    end: usize,
    marks: &[(&str, &str)],
) -> Vec<CotGroup> {
    let starts: Vec<Option<usize>> = marks
        .iter()
        .map(|(_, prefix)| {
            lines
                .iter()
                .find(|(_, l)| l.starts_with(prefix))
                .map(|(s, _)| s.start)
        })
        .collect();
    let mut out = Vec::new();
    for (i, (name, _)) in marks.iter().enumerate() {
        let Some(start) = starts[i] else { continue };
        let stop = starts[i + 1..]
            .iter()
            .flatten()
            .copied()
            .filter(|&s| s > start)
            .min()
            .unwrap_or(end);
        if *name != "-" && stop > start {
            out.push(CotGroup {
                name: name.to_string(),
                span: start..stop,
            });
        }
    }
    out
}

fn analogy_parts(lines: &[(Range<usize>, &str)], end: usize) -> Vec<CotGroup> {
    // "-": the line inferring r from both examples belongs to neither example.
    parts_between(
        lines,
        end,
        &[
            ("example_1", "Example 1"),
            ("example_2", "Example 2"),
            ("-", "Both examples"),
            ("query", "Query"),
            ("options", "Option "),
        ],
    )
}

fn grid_legs(lines: &[(Range<usize>, &str)], end: usize) -> Vec<CotGroup> {
    let mut out = Vec::new();
    let leg_starts: Vec<(usize, &str)> = lines
        .iter()
        .filter(|(_, l)| l.starts_with("Leg "))
        .map(|(s, l)| (s.start, *l))
        .collect();
    if let Some(&(first, _)) = leg_starts.first()
        && first > 0
    {
        out.push(CotGroup {
            name: "setup".into(),
            span: 0..first,
        });
    }
    for (i, (start, line)) in leg_starts.iter().enumerate() {
        let stop = leg_starts.get(i + 1).map_or(end, |(s, _)| *s);
        let n: String = line[4..].chars().take_while(char::is_ascii_digit).collect();
        out.push(CotGroup {
            name: format!("leg-{n}"),
            span: *start..stop,
        });
    }
    out
}

/// The loss mask over `encoded`'s tokens that selects the `cot` tokens overlapping `group`.
/// The processor tokenizes each segment on its own, so the segment's tokens and their byte
/// offsets come from tokenizing its text again; a mismatch is an error, never a wrong mask.
pub fn group_mask(
    processor: &Processor,
    record: &Record,
    encoded: &EncodedRecord,
    group: &CotGroup,
) -> Result<Vec<bool>> {
    let bad = |m: &str| AnalysisError::Invalid(format!("record `{}`: {m}", record.id));
    let cot = record
        .segments
        .iter()
        .find(|s| s.kind == SegmentKind::Cot)
        .ok_or_else(|| bad("no chain of thought"))?;
    let first = encoded
        .segments
        .iter()
        .position(|s| *s == Some(SegmentKind::Cot))
        .ok_or_else(|| bad("no chain-of-thought tokens"))?;
    let tokens = processor.tokenizer.encode_with_offsets(&cot.text)?;
    let ids = encoded.input_ids.get(first..first + tokens.len());
    if ids.is_none_or(|ids| ids.iter().zip(&tokens).any(|(a, (b, _))| a != b)) {
        return Err(bad(
            "its chain-of-thought tokens do not match the tokenizer's",
        ));
    }
    let mut mask = vec![false; encoded.input_ids.len()];
    for (k, (_, range)) in tokens.iter().enumerate() {
        if range.start < group.span.end && group.span.start < range.end {
            mask[first + k] = true;
        }
    }
    if !mask.iter().any(|&m| m) {
        return Err(bad(&format!("group `{}` covers no token", group.name)));
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(Range<usize>, &str)> {
        lines_with_offsets(text)
    }

    #[test]
    fn table_steps_group_by_column_runs() {
        let cot = "Step 1: row 6 (A), column 1 (Dec): SEVEN (7)\n\
                   Step 2: row 7 (B), column 1 (Dec): SIX (6)\n\
                   Step 3: row 7 (B), column 2 (Mar): ONE (1)\n\
                   Step 4: row 6 (A), column 2 (Mar): TWO (2)\n\
                   Step 5: row 6 (A), column 10 (Nov): TWO (2)";
        let groups = table_runs(&lines(cot), "column");
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "steps-1-2-column-1",
                "steps-3-4-column-2",
                "steps-5-5-column-10"
            ]
        );
        assert!(cot[groups[1].span.clone()].starts_with("Step 3"));
        assert!(cot[groups[1].span.clone()].trim_end().ends_with("TWO (2)"));
        assert_eq!(groups[2].span.end, cot.len());
        let rows = table_runs(&lines(cot), "row");
        // Rows 6, 7, 7, 6, 6: three runs.
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn analogy_and_grid_parts() {
        let va = "Example 1 (lines):\na\nExample 2 (shapes):\nb\nBoth examples use XOR, so r = XOR.\nQuery (shapes):\nc\nOption 1 as query panel 3:\nd\nOption 2 as query panel 3:\ne";
        let parts = analogy_parts(&lines(va), va.len());
        let got: Vec<(&str, &str)> = parts
            .iter()
            .map(|g| (g.name.as_str(), &va[g.span.clone()]))
            .collect();
        assert_eq!(
            got,
            [
                ("example_1", "Example 1 (lines):\na\n"),
                ("example_2", "Example 2 (shapes):\nb\n"),
                ("query", "Query (shapes):\nc\n"),
                (
                    "options",
                    "Option 1 as query panel 3:\nd\nOption 2 as query panel 3:\ne"
                ),
            ]
        );
        let grid = "S is at (1, 8).\nLeg 1 from (1, 8): x\nStep 1\nLeg 2 from (2, 2): y\nStep 2";
        let legs = grid_legs(&lines(grid), grid.len());
        let names: Vec<&str> = legs.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["setup", "leg-1", "leg-2"]);
        assert_eq!(&grid[legs[2].span.clone()], "Leg 2 from (2, 2): y\nStep 2");
    }
}
