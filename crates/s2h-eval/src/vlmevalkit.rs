//! VLMEvalKit's result files as predictions: the `.xlsx` its inference writes
//! (`<work-dir>/<model>/<model>_<dataset>.xlsx`), which holds every column of the TSV it ran on
//! plus the model's output in `prediction`.
//!
//! A row is matched to its eval record by `index`: s2h's TSVs (`vlmevalkit.tsv` and the
//! `OurEval_*.tsv` files) number each row with the record's position in the eval set's
//! `records.jsonl`, so row `index` k is record k of the eval set it was made from. When the sheet
//! also has the TSV's `id` column, it must name that same record: a result file scored against
//! the wrong eval set is an error, not a silent mismatch.

use std::collections::HashMap;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};
use s2h_mixture::Record;

use crate::{EvalError, Prediction, Result};

/// The column holding the row's position in the eval set.
pub const INDEX_COLUMN: &str = "index";
/// The column holding the model's output.
pub const PREDICTION_COLUMN: &str = "prediction";
/// The column holding the record id (optional).
pub const ID_COLUMN: &str = "id";

/// True when `path` names a spreadsheet (`.xlsx`, any case).
pub fn is_xlsx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// Read a VLMEvalKit result file: one [`Prediction`] per sheet row, its id the id of record
/// `index` of `records` (the eval set the TSV was written from). An empty `prediction` cell is
/// an empty output. Errors name the file and, for a bad row, its sheet row number (the header
/// is row 1): a missing `index` or `prediction` column, an index that is not a whole number or
/// not a position in the eval set, an index given twice, an `id` that is not the record's.
pub fn read_vlmevalkit_results(path: &Path, records: &[Record]) -> Result<Vec<Prediction>> {
    let sheet_error = |reason: String| EvalError::BadSheet {
        path: path.to_path_buf(),
        reason,
    };
    let mut workbook: Xlsx<_> = open_workbook(path).map_err(|e: calamine::XlsxError| {
        sheet_error(format!(
            "cannot be read as an .xlsx workbook ({e}); pass the result file VLMEvalKit's \
             inference writes, <model>_<dataset>.xlsx, or a JSONL predictions file"
        ))
    })?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| sheet_error("the workbook has no sheet".to_string()))?
        .map_err(|e| sheet_error(format!("its first sheet cannot be read ({e})")))?;
    // Sheet row numbers as a spreadsheet shows them, from 1.
    let first_row = range.start().map_or(0, |(row, _)| row as usize) + 1;
    let mut rows = range.rows().enumerate().map(|(i, r)| (first_row + i, r));
    let Some((header_row, header)) = rows.find(|(_, r)| r.iter().any(|c| !is_empty(c))) else {
        return Err(sheet_error(
            "its first sheet is empty; expected a header row with `index` and `prediction`"
                .to_string(),
        ));
    };
    let names: Vec<String> = header.iter().map(cell_text).collect();
    let column = |name: &str| names.iter().position(|n| n.trim() == name);
    let listed = names
        .iter()
        .filter(|n| !n.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let missing = |name: &str| {
        sheet_error(format!(
            "row {header_row} (the header) has no `{name}` column (its columns: {listed}); a \
             VLMEvalKit result file has the TSV's columns and `{PREDICTION_COLUMN}`"
        ))
    };
    let index_at = column(INDEX_COLUMN).ok_or_else(|| missing(INDEX_COLUMN))?;
    let prediction_at = column(PREDICTION_COLUMN).ok_or_else(|| missing(PREDICTION_COLUMN))?;
    let id_at = column(ID_COLUMN);

    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut predictions = Vec::new();
    for (row, cells) in rows {
        if cells.iter().all(is_empty) {
            continue;
        }
        let bad = |reason: String| EvalError::BadSheetRow {
            path: path.to_path_buf(),
            row,
            reason,
        };
        let index = match cells.get(index_at).unwrap_or(&Data::Empty) {
            Data::Empty => return Err(bad("its `index` cell is empty".to_string())),
            cell => whole_number(cell).ok_or_else(|| {
                bad(format!(
                    "index `{}` is not a whole number; s2h's TSVs number their rows 0, 1, 2, …",
                    cell_text(cell)
                ))
            })?,
        };
        let record = usize::try_from(index)
            .ok()
            .and_then(|i| records.get(i))
            .ok_or_else(|| {
                bad(format!(
                    "index {index} is not a record of the eval set (it has {} records, indices \
                     0–{}); score the result file against the eval set whose TSV VLMEvalKit ran on",
                    records.len(),
                    records.len().saturating_sub(1)
                ))
            })?;
        let index = index as usize;
        if let Some(first) = seen.insert(index, row) {
            return Err(bad(format!(
                "index {index} is already on row {first}; keep one row per TSV row"
            )));
        }
        if let Some(at) = id_at {
            let id = cells.get(at).map(cell_text).unwrap_or_default();
            if !id.is_empty() && id != record.id {
                return Err(bad(format!(
                    "index {index} is record `{}` of the eval set, but the row's id is `{id}`; \
                     score the result file against the eval set whose TSV VLMEvalKit ran on",
                    record.id
                )));
            }
        }
        let output = match cells.get(prediction_at).unwrap_or(&Data::Empty) {
            Data::Error(e) => {
                return Err(bad(format!(
                    "the prediction cell holds the spreadsheet error {e}"
                )));
            }
            cell => cell_text(cell),
        };
        predictions.push(Prediction::new(&record.id, output));
    }
    Ok(predictions)
}

fn is_empty(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.is_empty(),
        _ => false,
    }
}

/// A cell as text, numbers written as pandas writes them back (`3`, not `3.0`, for whole
/// numbers).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", *x as i64),
        Data::Float(x) => x.to_string(),
        Data::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    }
}

/// A whole number ≥ 0 from a number cell or a text cell holding one.
fn whole_number(cell: &Data) -> Option<u64> {
    match cell {
        Data::Int(i) => u64::try_from(*i).ok(),
        Data::Float(x) if x.fract() == 0.0 && *x >= 0.0 && *x < 9.0e15 => Some(*x as u64),
        Data::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
