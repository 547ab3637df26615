//! Predictions files: one JSON object `{"id": ..., "output": ...}` per line, the whole output of
//! a model for the eval record with that id; or a VLMEvalKit result file ([`crate::vlmevalkit`]).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use s2h_mixture::Record;
use serde::{Deserialize, Serialize};

use crate::error::list_ids;
use crate::{EvalError, Result};

/// One model output for the eval record `id`. Other fields on a predictions line (a model name,
/// timings) are allowed and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub id: String,
    pub output: String,
}

impl Prediction {
    pub fn new(id: impl Into<String>, output: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            output: output.into(),
        }
    }
}

/// Read the predictions for `records` (an eval set) from a JSONL predictions file or, for a
/// `.xlsx` path, from a VLMEvalKit result file whose rows are matched to `records` by index
/// ([`read_vlmevalkit_results`](crate::read_vlmevalkit_results)).
pub fn read_predictions_for(path: &Path, records: &[Record]) -> Result<Vec<Prediction>> {
    if crate::vlmevalkit::is_xlsx(path) {
        crate::vlmevalkit::read_vlmevalkit_results(path, records)
    } else {
        read_predictions(path)
    }
}

/// Read a predictions JSONL file. Blank lines are skipped; a malformed line is an error naming
/// the file and the line. Ids are checked against the eval set by [`match_predictions`]. A
/// VLMEvalKit `.xlsx` is read with [`read_predictions_for`], which needs the eval set.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>> {
    let mut file = fs::File::open(path).map_err(EvalError::io("cannot open predictions", path))?;
    let mut magic = [0u8; 4];
    if crate::vlmevalkit::is_xlsx(path)
        || (file.read_exact(&mut magic).is_ok() && magic == *b"PK\x03\x04")
    {
        return Err(EvalError::BadSheet {
            path: path.to_path_buf(),
            reason: "is a spreadsheet, not a JSONL predictions file; a VLMEvalKit result file \
                     is read with the eval set (`score --eval DIR --predictions FILE.xlsx`, or \
                     `read_predictions_for`)"
                .to_string(),
        });
    }
    file.seek(SeekFrom::Start(0))
        .map_err(EvalError::io("cannot read predictions", path))?;
    let mut predictions = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let bad = |reason: String| EvalError::BadPrediction {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let line = line.map_err(|e| bad(format!("cannot read the line ({e})")))?;
        if line.trim().is_empty() {
            continue;
        }
        let prediction: Prediction =
            serde_json::from_str(&line).map_err(|e| bad(json_reason(&e)))?;
        predictions.push(prediction);
    }
    Ok(predictions)
}

/// serde_json's message without its "at line 1 column N" (the file line is given separately).
pub(crate) fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text);
    if e.column() > 0 {
        format!("{message} (column {})", e.column())
    } else {
        message.to_string()
    }
}

/// Pair every eval record with its prediction, in record order. Errors: an empty eval set, an
/// id shared by two records, an id with two predictions, a prediction for an id the eval set
/// does not hold, and a record without a prediction — each listing up to a few ids.
pub fn match_predictions<'a>(
    records: &'a [Record],
    predictions: &'a [Prediction],
) -> Result<Vec<(&'a Record, &'a Prediction)>> {
    if records.is_empty() {
        return Err(EvalError::EmptyEvalSet);
    }
    let duplicated = |ids: Vec<&'a str>| -> Vec<&'a str> {
        let mut seen = HashSet::new();
        let mut reported = HashSet::new();
        ids.into_iter()
            .filter(|id| !seen.insert(*id) && reported.insert(*id))
            .collect()
    };
    let twice = duplicated(records.iter().map(|r| r.id.as_str()).collect());
    if !twice.is_empty() {
        let (count, ids) = list_ids(twice);
        return Err(EvalError::DuplicateRecords { count, ids });
    }
    let twice = duplicated(predictions.iter().map(|p| p.id.as_str()).collect());
    if !twice.is_empty() {
        let (count, ids) = list_ids(twice);
        return Err(EvalError::DuplicatePredictions { count, ids });
    }
    let by_id: HashMap<&str, &Prediction> =
        predictions.iter().map(|p| (p.id.as_str(), p)).collect();
    let known: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let unknown: Vec<&str> = predictions
        .iter()
        .map(|p| p.id.as_str())
        .filter(|id| !known.contains(id))
        .collect();
    if !unknown.is_empty() {
        let (count, ids) = list_ids(unknown);
        return Err(EvalError::UnknownIds { count, ids });
    }
    let mut pairs = Vec::with_capacity(records.len());
    let mut missing = Vec::new();
    for record in records {
        match by_id.get(record.id.as_str()) {
            Some(p) => pairs.push((record, *p)),
            None => missing.push(record.id.as_str()),
        }
    }
    if !missing.is_empty() {
        let (count, ids) = list_ids(missing);
        return Err(EvalError::MissingPredictions { count, ids });
    }
    Ok(pairs)
}
