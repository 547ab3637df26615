//! "Convert"-prompted inference (paper Table 12, SPEC §13): the assistant turn is pre-filled
//! with the first word of the conversion prompt, so an image model trained with Image-via-Text
//! records first writes the image as text. This module holds the model-free half: the pre-filled
//! text, reading the converted text back out of an output, and scoring it against the gold text
//! rendering (exactly, and cell by cell for the LaTeX tables of CTR, TR and Grid).

use s2h_mixture::{Record, SegmentKind};
use serde::{Deserialize, Serialize};

/// The text the assistant turn is pre-filled with, given where the tokens of
/// [`s2h_cot::CONVERT_LINE`] end (byte offsets, as the model's tokenizer splits the line in
/// training): the first word of the conversion prompt (`Convert`, the paper's pre-fill), extended
/// to the end of the token it ends in. A tokenizer that splits words pre-fills `Convert`; the
/// compact one, which learned the whole line as one token, pre-fills the line. Either way the
/// model continues from tokens it was trained on: pre-filling `Convert` alone would give the
/// compact model a token it never saw at that place.
pub fn prefill(token_ends: impl IntoIterator<Item = usize>) -> &'static str {
    let line = s2h_cot::CONVERT_LINE;
    let word = line.find(char::is_whitespace).unwrap_or(line.len());
    token_ends
        .into_iter()
        .find(|&end| end >= word)
        .and_then(|end| line.get(..end))
        .unwrap_or(&line[..word])
}

/// The gold text rendering of a record's instance: its `converted_text` segment when it has one
/// (Image-via-Text records), otherwise the text rendering with the default text options (the
/// ones eval sets are written with).
pub fn gold_text(record: &Record) -> String {
    record
        .segments
        .iter()
        .find(|s| s.kind == SegmentKind::ConvertedText)
        .map(|s| s.text.trim_end_matches('\n').to_string())
        .unwrap_or_else(|| {
            s2h_render::render_text(&record.instance, &s2h_render::TextOptions::default())
        })
}

/// The converted text in an output that starts with the conversion prompt: what follows the
/// prompt's line, up to and including `\end{tabular}` when the gold is a table, otherwise as
/// many lines as the gold has (the chain of thought follows). `None` when the output does not
/// start with the conversion prompt.
pub fn converted_text(output: &str, gold: &str) -> Option<String> {
    let rest = output.strip_prefix(s2h_cot::CONVERT_PROMPT)?;
    let rest = rest.strip_prefix('\n').unwrap_or(rest);
    const END: &str = "\\end{tabular}";
    if gold.contains(END) {
        return Some(match rest.find(END) {
            Some(i) => rest[..i + END.len()].to_string(),
            None => rest.trim_end().to_string(),
        });
    }
    // Free text (analogy descriptions): as many lines as the gold has.
    let lines = gold.lines().count().max(1);
    Some(rest.lines().take(lines).collect::<Vec<_>>().join("\n"))
}

/// How well one output converted the image to text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionScore {
    /// The output wrote the whole conversion prompt (the pre-filled text and the rest of its
    /// sentence), so a conversion could follow.
    pub prompted: bool,
    /// The converted text equals the gold rendering exactly.
    pub exact: bool,
    /// Tables only: gold cells (header and label cells included) whose text the conversion
    /// reproduces at the same row and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells_correct: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells_total: Option<usize>,
}

/// Score the conversion written in `output` against `gold` ([`gold_text`]).
pub fn score_conversion(output: &str, gold: &str) -> ConversionScore {
    let converted = converted_text(output, gold);
    let exact = converted
        .as_deref()
        .is_some_and(|c| c.trim() == gold.trim());
    let (cells_correct, cells_total) = match table_cells(gold) {
        Some(gold_cells) => {
            let got = converted
                .as_deref()
                .and_then(table_cells)
                .unwrap_or_default();
            let total = gold_cells.iter().map(Vec::len).sum();
            let correct = gold_cells
                .iter()
                .enumerate()
                .map(|(r, row)| {
                    row.iter()
                        .enumerate()
                        .filter(|&(c, cell)| {
                            got.get(r).and_then(|g| g.get(c)).is_some_and(|g| g == cell)
                        })
                        .count()
                })
                .sum();
            (Some(correct), Some(total))
        }
        None => (None, None),
    };
    ConversionScore {
        prompted: converted.is_some(),
        exact,
        cells_correct,
        cells_total,
    }
}

/// The cells of a LaTeX `tabular`, row by row (`&`-separated, `\\`-terminated lines between
/// `\hline`s); `None` when the text holds no tabular.
pub fn table_cells(text: &str) -> Option<Vec<Vec<String>>> {
    let start = text.find("\\begin{tabular}")?;
    let rows = text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("\\end{tabular}"))
        .filter(|l| l.trim() != "\\hline")
        .map(|l| {
            let l = l.trim();
            let l = l.strip_suffix("\\\\").unwrap_or(l);
            l.split('&').map(|c| c.trim().to_string()).collect()
        })
        .collect();
    Some(rows)
}

/// Conversion accuracy over a set of outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionMetrics {
    pub examples: usize,
    /// Share of outputs that wrote the whole conversion prompt.
    pub prompted_rate: f64,
    /// Share of outputs whose converted text equals the gold rendering.
    pub exact_rate: f64,
    /// Tables: correct cells over all gold cells, pooled over the outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_accuracy: Option<f64>,
}

/// Pool per-output conversion scores.
pub fn aggregate_conversion(scores: &[ConversionScore]) -> ConversionMetrics {
    let n = scores.len();
    let rate = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let (correct, total) = scores
        .iter()
        .filter_map(|s| Some((s.cells_correct?, s.cells_total?)))
        .fold((0, 0), |(a, b), (c, t)| (a + c, b + t));
    ConversionMetrics {
        examples: n,
        prompted_rate: rate(scores.iter().filter(|s| s.prompted).count()),
        exact_rate: rate(scores.iter().filter(|s| s.exact).count()),
        cell_accuracy: (total > 0).then(|| correct as f64 / total as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_cot::CONVERT_LINE;

    #[test]
    fn prefill_is_the_first_word_to_the_end_of_its_token() {
        // Word-level: `Convert`, ` `, `the`, …
        assert_eq!(prefill([7, 8, 11, 12]), "Convert");
        // Sub-word pieces: the word's last piece ends it.
        assert_eq!(prefill([3, 7, 8]), "Convert");
        // The compact tokenizer's single token for the whole line.
        assert_eq!(prefill([CONVERT_LINE.len()]), CONVERT_LINE);
        // A token running past the word: to its end.
        assert_eq!(prefill([3, 9]), "Convert t");
        // No token reaches the word's end (or no tokens, or an end off a char boundary or past
        // the line): the word alone.
        assert_eq!(prefill([3]), "Convert");
        assert_eq!(prefill([]), "Convert");
        assert_eq!(prefill([CONVERT_LINE.len() + 5]), "Convert");
    }
}
