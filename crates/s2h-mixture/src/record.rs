//! One training or evaluation record (SPEC §9–10), and reading them back.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use s2h_cot::{CONVERT_LINE, PromptInput};
use s2h_render::{Layout, TextOptions};
use s2h_tasks::{Answer, Instance, Modality, Split, TaskKind};
use serde::{Deserialize, Serialize};

use crate::files::RECORDS_FILE;
use crate::{MixtureError, Result};

/// How one record is built from an instance (SPEC §9). Mixtures combine these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Supervision {
    /// Text prompt → chain of thought + answer.
    Text,
    /// Image prompt → chain of thought + answer.
    Image,
    /// Image prompt → P_convert + the text rendering + chain of thought + answer.
    ImageViaText,
}

impl Supervision {
    pub const ALL: [Supervision; 3] = [
        Supervision::Text,
        Supervision::Image,
        Supervision::ImageViaText,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Supervision::Text => "text",
            Supervision::Image => "image",
            Supervision::ImageViaText => "image_via_text",
        }
    }

    /// The modality of the prompt.
    pub fn input(self) -> Modality {
        match self {
            Supervision::Text => Modality::Text,
            Supervision::Image | Supervision::ImageViaText => Modality::Image,
        }
    }
}

impl std::fmt::Display for Supervision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Supervision {
    type Err = MixtureError;
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Supervision::ALL
            .into_iter()
            .find(|v| v.name() == wanted)
            .ok_or_else(|| {
                MixtureError::InvalidRequest(format!(
                    "unknown supervision `{s}`; expected one of: text, image, image_via_text"
                ))
            })
    }
}

/// The labelled parts of a target, in the order they appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    ConvertPrompt,
    ConvertedText,
    Cot,
    Answer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub kind: SegmentKind,
    pub text: String,
}

/// The image of a record: its path relative to the dataset directory and what it shows where.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordImage {
    pub path: String,
    pub layout: Layout,
}

/// A record of the canonical JSONL (SPEC §10). `target` is exactly the concatenation of the
/// segments' texts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub id: String,
    pub task: TaskKind,
    pub split: Split,
    pub seed: u64,
    pub index: u64,
    pub supervision: Supervision,
    pub image: Option<String>,
    pub prompt: String,
    pub target: String,
    pub segments: Vec<Segment>,
    pub answer: Answer,
    pub instance: Instance,
    pub layout: Option<Layout>,
}

/// The id of a record: unique per (task, split, seed, index, supervision).
pub fn record_id(
    task: TaskKind,
    split: Split,
    seed: u64,
    index: u64,
    supervision: Supervision,
) -> String {
    format!("{task}-{split}-s{seed}-i{index}-{supervision}")
}

/// Build the record of `instance` for `supervision`. Image supervisions need the image already
/// written (`image`); text supervision ignores it.
#[allow(clippy::too_many_arguments)]
pub fn build_record(
    instance: &Instance,
    split: Split,
    seed: u64,
    index: u64,
    supervision: Supervision,
    image: Option<RecordImage>,
    text_options: &TextOptions,
) -> Result<Record> {
    let task = instance.task();
    let text = s2h_render::render_text(instance, text_options);
    let (prompt, image) = match supervision {
        Supervision::Text => (s2h_cot::prompt(instance, PromptInput::Text(&text)), None),
        Supervision::Image | Supervision::ImageViaText => {
            let image = image.ok_or_else(|| {
                MixtureError::InvalidRequest(format!(
                    "a {supervision} record needs its image rendered first"
                ))
            })?;
            (s2h_cot::prompt(instance, PromptInput::Image), Some(image))
        }
    };
    let answer = instance.gold_answer();
    let mut segments = Vec::with_capacity(4);
    if supervision == Supervision::ImageViaText {
        segments.push(Segment {
            kind: SegmentKind::ConvertPrompt,
            text: CONVERT_LINE.into(),
        });
        segments.push(Segment {
            kind: SegmentKind::ConvertedText,
            text: format!("{text}\n"),
        });
    }
    segments.push(Segment {
        kind: SegmentKind::Cot,
        text: format!("{}\n", s2h_cot::chain_of_thought(instance)),
    });
    segments.push(Segment {
        kind: SegmentKind::Answer,
        text: s2h_cot::answer_text(&answer),
    });
    let target = segments.iter().map(|s| s.text.as_str()).collect();
    let (image, layout) = match image {
        Some(RecordImage { path, layout }) => (Some(path), Some(layout)),
        None => (None, None),
    };
    Ok(Record {
        id: record_id(task, split, seed, index, supervision),
        task,
        split,
        seed,
        index,
        supervision,
        image,
        prompt,
        target,
        segments,
        answer,
        instance: instance.clone(),
        layout,
    })
}

/// The fields of a record as they sit in the file; `answer` and `instance` are read with the
/// record's own task, so a mismatch is reported as such.
#[derive(Deserialize)]
struct RawRecord {
    id: String,
    task: TaskKind,
    split: Split,
    seed: u64,
    index: u64,
    supervision: Supervision,
    image: Option<String>,
    prompt: String,
    target: String,
    segments: Vec<Segment>,
    answer: serde_json::Value,
    instance: serde_json::Value,
    layout: Option<Layout>,
}

impl Record {
    /// Read one JSONL line; the error says which field is wrong.
    pub fn from_json_line(line: &str) -> std::result::Result<Record, String> {
        let raw: RawRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let answer =
            Answer::from_json(raw.task, raw.answer).map_err(|e| format!("field `answer`: {e}"))?;
        let instance = Instance::from_json(raw.task, raw.instance)
            .map_err(|e| format!("field `instance`: {e}"))?;
        let record = Record {
            id: raw.id,
            task: raw.task,
            split: raw.split,
            seed: raw.seed,
            index: raw.index,
            supervision: raw.supervision,
            image: raw.image,
            prompt: raw.prompt,
            target: raw.target,
            segments: raw.segments,
            answer,
            instance,
            layout: raw.layout,
        };
        let joined: String = record.segments.iter().map(|s| s.text.as_str()).collect();
        if joined != record.target {
            return Err("`target` is not the concatenation of its `segments`".to_string());
        }
        Ok(record)
    }

    /// The text of the segments of one kind, concatenated.
    pub fn segment_text(&self, kind: SegmentKind) -> String {
        self.segments
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.text.as_str())
            .collect()
    }
}

/// Read every record of a `records.jsonl` (or of the `records.jsonl` inside a directory).
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let path = if path.is_dir() {
        path.join(RECORDS_FILE)
    } else {
        path.to_path_buf()
    };
    let file = fs::File::open(&path).map_err(MixtureError::io("cannot open", &path))?;
    let mut records = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(MixtureError::io("cannot read", &path))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = Record::from_json_line(&line).map_err(|reason| MixtureError::BadRecord {
            path: path.clone(),
            line: i + 1,
            reason,
        })?;
        records.push(record);
    }
    Ok(records)
}
