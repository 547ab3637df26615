//! Export formats for other tools (SPEC §10), written beside the canonical `records.jsonl`, and
//! importers that read them back.
//!
//! - **LLaVA** (`llava.json`): a JSON array of `{id, image, conversations: [{from: "human",
//!   value: prompt}, {from: "gpt", value: target}]}`; image prompts start with the `<image>`
//!   placeholder; text records have no `image` key.
//! - **VLMEvalKit** (`vlmevalkit.tsv`): a header `index, image, question, answer, id`, then one
//!   row per record: `index` counts rows from 0 (the record's position in the list written),
//!   `image` is the PNG in standard base64, `question` the prompt without the `<image>`
//!   placeholder, `answer` the record's `answer` segment, `id` the record id. When no record has
//!   an image the `image` column is left out: VLMEvalKit drops every row whose image is empty,
//!   and loads a TSV without the column as text-only. Fields holding a tab, a line
//!   break or a double quote are written in double quotes with inner quotes doubled — the
//!   quoting pandas' `read_csv(sep="\t")` (what VLMEvalKit loads TSVs with) reads back.
//! - **The authors' evaluator** (`OurEval_<Task>_<SPLIT>_<modality>.tsv`): see [`crate::oureval`].

use std::fs;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

pub use crate::files::{LLAVA_FILE, TSV_FILE};
use crate::record::{Record, SegmentKind};
use crate::{MixtureError, Result};

/// Every column of a VLMEvalKit TSV; `image` is left out when no record has an image.
pub const TSV_COLUMNS: [&str; 5] = ["index", "image", "question", "answer", "id"];

/// The columns of a VLMEvalKit TSV, with or without `image`.
pub fn tsv_columns(image: bool) -> Vec<&'static str> {
    TSV_COLUMNS
        .into_iter()
        .filter(|&c| image || c != "image")
        .collect()
}

/// Which formats to write beside `records.jsonl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Formats {
    pub llava: bool,
    pub tsv: bool,
    /// TSVs the authors' evaluator (VLMEvalKit's `OurEval`) scores: [`crate::oureval`].
    #[serde(default)]
    pub oureval: bool,
}

impl std::str::FromStr for Formats {
    type Err = MixtureError;
    /// A comma-separated list of `llava`, `tsv`, `oureval` (or `none`).
    fn from_str(s: &str) -> Result<Self> {
        let mut formats = Formats::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "llava" => formats.llava = true,
                "tsv" | "vlmevalkit" => formats.tsv = true,
                "oureval" | "authors" => formats.oureval = true,
                "none" => {}
                _ => {
                    return Err(MixtureError::UnknownName {
                        what: "export format",
                        given: name.to_string(),
                        expected: "llava, tsv, oureval, none".to_string(),
                    });
                }
            }
        }
        Ok(formats)
    }
}

/// One turn of a LLaVA conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    pub from: String,
    pub value: String,
}

/// One LLaVA training example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlavaEntry {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub conversations: Vec<Turn>,
}

impl LlavaEntry {
    pub fn from_record(record: &Record) -> Self {
        Self {
            id: record.id.clone(),
            image: record.image.clone(),
            conversations: vec![
                Turn {
                    from: "human".to_string(),
                    value: record.prompt.clone(),
                },
                Turn {
                    from: "gpt".to_string(),
                    value: record.target.clone(),
                },
            ],
        }
    }
}

/// Streams a JSON array to a file, one element per line.
pub(crate) struct JsonArray {
    first: bool,
}

impl JsonArray {
    pub(crate) fn new() -> Self {
        Self { first: true }
    }

    pub(crate) fn open() -> &'static str {
        "[\n"
    }

    /// The separator to write before the next element.
    pub(crate) fn separator(&mut self) -> &'static str {
        if std::mem::replace(&mut self.first, false) {
            ""
        } else {
            ",\n"
        }
    }

    pub(crate) fn close(&self) -> &'static str {
        if self.first { "]\n" } else { "\n]\n" }
    }
}

pub(crate) fn llava_json(record: &Record) -> Result<String> {
    serde_json::to_string(&LlavaEntry::from_record(record)).map_err(|e| {
        MixtureError::InvalidRequest(format!("record {} cannot be serialised: {e}", record.id))
    })
}

/// Write the records as a LLaVA conversation file.
pub fn write_llava(records: &[Record], path: &Path) -> Result<()> {
    let mut array = JsonArray::new();
    let mut text = JsonArray::open().to_string();
    for r in records {
        text.push_str(array.separator());
        text.push_str(&llava_json(r)?);
    }
    text.push_str(array.close());
    fs::write(path, text).map_err(MixtureError::io("cannot write", path))
}

/// Read a LLaVA conversation file.
pub fn read_llava(path: &Path) -> Result<Vec<LlavaEntry>> {
    let text = fs::read_to_string(path).map_err(MixtureError::io("cannot read", path))?;
    serde_json::from_str(&text).map_err(|e| MixtureError::BadFile {
        path: path.to_path_buf(),
        reason: format!("not a LLaVA conversation list: {e}"),
    })
}

/// One row of a VLMEvalKit TSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsvRow {
    pub index: u64,
    /// PNG bytes (decoded from base64), or `None` for a text record.
    pub image: Option<Vec<u8>>,
    pub question: String,
    pub answer: String,
    pub id: String,
}

impl TsvRow {
    /// The row of a record; its image is read from `dataset_dir`.
    pub fn from_record(index: u64, record: &Record, dataset_dir: &Path) -> Result<Self> {
        let image = match &record.image {
            Some(rel) => {
                let path = dataset_dir.join(rel);
                Some(fs::read(&path).map_err(MixtureError::io("cannot read", &path))?)
            }
            None => None,
        };
        let question = match record.prompt.strip_prefix(s2h_cot::IMAGE_PLACEHOLDER) {
            Some(rest) if record.image.is_some() => rest.trim_start_matches('\n').to_string(),
            _ => record.prompt.clone(),
        };
        Ok(Self {
            index,
            image,
            question,
            answer: record.segment_text(SegmentKind::Answer),
            id: record.id.clone(),
        })
    }

    /// The row as one TSV line (without the line break), with the `image` field when the file
    /// has that column ([`tsv_columns`]).
    pub fn to_line(&self, image_column: bool) -> String {
        let mut fields = vec![self.index.to_string()];
        if image_column {
            fields.push(
                self.image
                    .as_ref()
                    .map(|png| STANDARD.encode(png))
                    .unwrap_or_default(),
            );
        }
        fields.extend([self.question.clone(), self.answer.clone(), self.id.clone()]);
        tsv_line(&fields)
    }
}

/// The header line of a VLMEvalKit TSV (without the line break).
pub(crate) fn tsv_header(image_column: bool) -> String {
    tsv_columns(image_column).join("\t")
}

/// Fields joined by tabs, each quoted when it must be.
pub(crate) fn tsv_line<S: AsRef<str>>(fields: &[S]) -> String {
    fields
        .iter()
        .map(|f| quote_field(f.as_ref()))
        .collect::<Vec<_>>()
        .join("\t")
}

fn quote_field(field: &str) -> String {
    if field.contains(['\t', '\n', '\r', '"']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Write the records as a VLMEvalKit TSV; images are read from `dataset_dir`. Row `i` is
/// `records[i]`; the `image` column is there when some record has an image.
pub fn write_tsv(records: &[Record], dataset_dir: &Path, path: &Path) -> Result<()> {
    let image_column = records.iter().any(|r| r.image.is_some());
    let mut text = tsv_header(image_column);
    text.push('\n');
    for (i, r) in records.iter().enumerate() {
        text.push_str(&TsvRow::from_record(i as u64, r, dataset_dir)?.to_line(image_column));
        text.push('\n');
    }
    fs::write(path, text).map_err(MixtureError::io("cannot write", path))
}

/// Split TSV text into rows of fields, honouring double-quoted fields.
pub(crate) fn split_tsv(text: &str) -> std::result::Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            '\t' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_string());
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Read a VLMEvalKit TSV written by [`write_tsv`] (or by the mixture export), with or without
/// its `image` column.
pub fn read_tsv(path: &Path) -> Result<Vec<TsvRow>> {
    let bad = |reason: String| MixtureError::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = fs::read_to_string(path).map_err(MixtureError::io("cannot read", path))?;
    let rows = split_tsv(&text).map_err(bad)?;
    let Some((header, body)) = rows.split_first() else {
        return Err(bad("the file is empty; expected a header row".to_string()));
    };
    let image_column = header.iter().any(|c| c == "image");
    let columns = tsv_columns(image_column);
    if header
        .iter()
        .map(String::as_str)
        .ne(columns.iter().copied())
    {
        return Err(bad(format!(
            "header is `{}`, expected `{}` (or the same without `image`)",
            header.join(" | "),
            TSV_COLUMNS.join(" | ")
        )));
    }
    body.iter()
        .enumerate()
        .map(|(i, fields)| {
            let line = i + 2;
            if fields.len() != columns.len() {
                return Err(bad(format!(
                    "row {line} has {} fields, expected {}",
                    fields.len(),
                    columns.len()
                )));
            }
            let (index, image, question, answer, id) = if image_column {
                (&fields[0], &fields[1], &fields[2], &fields[3], &fields[4])
            } else {
                (
                    &fields[0],
                    &String::new(),
                    &fields[1],
                    &fields[2],
                    &fields[3],
                )
            };
            let index = index
                .parse()
                .map_err(|_| bad(format!("row {line}: index `{index}` is not a number")))?;
            let image = if image.is_empty() {
                None
            } else {
                Some(
                    STANDARD
                        .decode(image)
                        .map_err(|e| bad(format!("row {line}: image is not base64: {e}")))?,
                )
            };
            Ok(TsvRow {
                index,
                image,
                question: question.clone(),
                answer: answer.clone(),
                id: id.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_quoting_round_trips_tabs_newlines_and_quotes() {
        let rows = vec![
            TsvRow {
                index: 0,
                image: Some(vec![0, 1, 2, 250, 255]),
                question: "a\tb\nc \"quoted\" \r\nend".to_string(),
                answer: "Answer: 1, 2 (sum 3)".to_string(),
                id: "x".to_string(),
            },
            TsvRow {
                index: 1,
                image: None,
                question: "\"starts with a quote".to_string(),
                answer: String::new(),
                id: "y".to_string(),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TSV_FILE);
        let mut text = tsv_header(true) + "\n";
        for r in &rows {
            text.push_str(&r.to_line(true));
            text.push('\n');
        }
        fs::write(&path, text).unwrap();
        assert_eq!(read_tsv(&path).unwrap(), rows);

        fs::write(&path, "index\timage\n").unwrap();
        let err = read_tsv(&path).unwrap_err().to_string();
        assert!(err.contains("header"), "{err}");
    }

    fn small_render() -> crate::RenderOptions {
        crate::RenderOptions {
            image_size: Some([240, 128]),
            ..crate::RenderOptions::default()
        }
    }

    fn write_set(
        task: s2h_tasks::TaskKind,
        modality: s2h_tasks::Modality,
        formats: &str,
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let spec = crate::EvalSetSpec::new(task, s2h_tasks::Split::Simple, modality, 3);
        let options = crate::WriteOptions {
            existing: crate::Existing::Refuse,
            formats: formats.parse().unwrap(),
        };
        crate::write_eval_set(&spec, &small_render(), dir.path(), &options, &|| {}).unwrap();
        dir
    }

    /// VLMEvalKit drops every row whose `image` is empty (`skip_noimg`), so a TSV of text records
    /// must not have the column at all; one with images keeps it.
    #[test]
    fn text_only_tsvs_leave_the_image_column_out() {
        use s2h_tasks::{Modality, TaskKind};
        let dir = write_set(TaskKind::Ctr, Modality::Text, "tsv");
        let path = dir.path().join(TSV_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some("index\tquestion\tanswer\tid"));
        let rows = read_tsv(&path).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.image.is_none()));
        let records = crate::read_records(dir.path()).unwrap();
        let again = dir.path().join("again.tsv");
        write_tsv(&records, dir.path(), &again).unwrap();
        assert_eq!(fs::read_to_string(&again).unwrap(), text);

        let dir = write_set(TaskKind::Ctr, Modality::Image, "tsv");
        let path = dir.path().join(TSV_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("index\timage\tquestion\tanswer\tid")
        );
        let rows = read_tsv(&path).unwrap();
        assert!(rows.iter().all(|r| r.image.is_some()));
    }

    #[test]
    fn formats_parse_and_reject_unknown_names() {
        let f: Formats = "llava, TSV".parse().unwrap();
        assert!(f.llava && f.tsv);
        assert_eq!("none".parse::<Formats>().unwrap(), Formats::default());
        let err = "llava,parquet".parse::<Formats>().unwrap_err().to_string();
        assert!(
            err.contains("parquet") && err.contains("llava, tsv, oureval"),
            "{err}"
        );
    }
}
