//! TSVs for the authors' evaluator: the `OurEval` scorer of the VLMEvalKit copy released with
//! the paper (`vlmeval/evaluate/OurEval.py`), so their numbers and ours can be put side by side.
//!
//! Their VLMEvalKit loads `<LMUData>/<name>.tsv` for `--data <name>`, chooses the prompt style
//! from the name (`OurEval` in it: the question is passed as it is) and the scorer from it too
//! (`Table`, `Grid` or `Analogy` in the name). The names of their own files are
//! `OurEval_<Task>_<SPLIT>_<modality>.tsv` ([`file_name`]), so these files carry the same names:
//! `OurEval_ConsecutiveTableReadout_HARD_image.tsv`, `OurEval_GridNavigation_SIMPLE_text.tsv`, …
//! One file is written per (task, split, input modality) present in the dataset.
//!
//! Columns: those of `vlmevalkit.tsv` (`index`, `image` for image input, `question`, `answer`,
//! `id`; `index` is the record's position in `records.jsonl`), with the `answer` each scorer
//! needs to score the gold output of s2h right:
//! - **CTR, TR**: the whole gold output (the record's target). Their scorer pulls numbers out of
//!   the prediction (before its first `=`, and line by line after the first line) and, when the
//!   answer holds an `=`, out of the answer the same way; s2h's wording is not theirs, so only
//!   the gold output itself gives the gold numbers.
//! - **Grid**: the gold moves as the Python list of `(row step, column step)` pairs their scorer
//!   compares (`[(1, 0), (0, 1)]` for `down right`), plus the columns it reads: `text` (the grid
//!   as integer codes, one line per row, cells joined by `:`; `1` S, `2` D, `3 + k` the k-th
//!   object, negative numbers obstacles, `0` empty), `start_row`, `start_col`, `end_row`,
//!   `end_col` (1-based), `collect_objects_coordinates` (`row-col` per object, joined by `:`) and
//!   `num_steps` (the DFS steps).
//! - **VA**: the gold answer block (from `Example 1:` to `Answer: N`), which their scorer
//!   compares with the prediction's last `Example 1:` onwards.
//!
//! `docs/scoring.md` lists where their scorer and s2h's differ.

use std::collections::HashMap;
use std::path::Path;

use s2h_tasks::grid::GridInstance;
use s2h_tasks::{Answer, Instance, Modality, Split, TaskKind};

use crate::files::OutFile;
use crate::interop::{TsvRow, tsv_columns, tsv_line};
use crate::record::{Record, SegmentKind};
use crate::{MixtureError, Result};

/// Every file of this export starts with it.
pub const PREFIX: &str = "OurEval_";

/// The columns the authors' grid scorer reads beyond the common ones.
pub const GRID_COLUMNS: [&str; 7] = [
    "text",
    "start_row",
    "start_col",
    "end_row",
    "end_col",
    "collect_objects_coordinates",
    "num_steps",
];

/// The task's name in the authors' file names.
pub fn task_name(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Ctr => "ConsecutiveTableReadout",
        TaskKind::Tr => "TableReadout",
        TaskKind::Grid => "GridNavigation",
        TaskKind::Va => "VisualAnalogy",
    }
}

/// `OurEval_<Task>_<SPLIT>_<modality>.tsv`, e.g. `OurEval_ConsecutiveTableReadout_HARD_image.tsv`.
pub fn file_name(task: TaskKind, split: Split, modality: Modality) -> String {
    format!(
        "{PREFIX}{}_{}_{modality}.tsv",
        task_name(task),
        split.name().to_ascii_uppercase()
    )
}

/// True for the name of a file of this export.
pub fn is_file_name(name: &str) -> bool {
    name.starts_with(PREFIX) && name.ends_with(".tsv") && !name.contains('/')
}

/// The columns of one file.
pub fn columns(task: TaskKind, modality: Modality) -> Vec<&'static str> {
    let mut columns = tsv_columns(modality == Modality::Image);
    if task == TaskKind::Grid {
        columns.extend(GRID_COLUMNS);
    }
    columns
}

/// The `answer` field of a record: what the authors' scorer compares a prediction with.
pub fn answer_field(record: &Record) -> String {
    match &record.answer {
        Answer::Table(_) => record.target.clone(),
        Answer::Grid(a) => {
            let steps: Vec<String> = a
                .moves
                .iter()
                .map(|m| {
                    let (dr, dc) = m.delta();
                    format!("({dr}, {dc})")
                })
                .collect();
            format!("[{}]", steps.join(", "))
        }
        Answer::Analogy(_) => record.segment_text(SegmentKind::Answer),
    }
}

/// The grid columns ([`GRID_COLUMNS`]) of an instance, in order.
pub fn grid_fields(grid: &GridInstance) -> Vec<String> {
    let (rows, cols) = (grid.rows as usize, grid.cols as usize);
    let mut codes = vec![vec![0i64; cols]; rows];
    let mut put = |cell: s2h_tasks::Cell, code: i64| {
        if let Some(slot) = codes
            .get_mut((cell.row as usize).wrapping_sub(1))
            .and_then(|r| r.get_mut((cell.col as usize).wrapping_sub(1)))
        {
            *slot = code;
        }
    };
    put(grid.start, 1);
    put(grid.destination, 2);
    for (k, o) in grid.objects.iter().enumerate() {
        put(o.cell, 3 + k as i64);
    }
    for o in &grid.obstacles {
        let kind = grid
            .obstacle_types
            .iter()
            .position(|&k| k == o.kind)
            .unwrap_or(0);
        put(o.cell, -1 - kind as i64);
    }
    let text: Vec<String> = codes
        .iter()
        .map(|r| r.iter().map(i64::to_string).collect::<Vec<_>>().join(":"))
        .collect();
    let objects: Vec<String> = grid
        .objects
        .iter()
        .map(|o| format!("{}-{}", o.cell.row, o.cell.col))
        .collect();
    vec![
        text.join("\n"),
        grid.start.row.to_string(),
        grid.start.col.to_string(),
        grid.destination.row.to_string(),
        grid.destination.col.to_string(),
        objects.join(":"),
        grid.dfs_steps.to_string(),
    ]
}

/// The file of a record: its task, split and input modality.
pub(crate) type FileKey = (TaskKind, Split, Modality);

/// One record as a line of its file (without the line break), from its VLMEvalKit row (which
/// the writer makes once for both TSV formats); returns the file it belongs to as well.
pub(crate) fn row_line(row: &TsvRow, record: &Record) -> Result<(FileKey, String)> {
    let modality = record.supervision.input();
    let mut fields = vec![row.index.to_string()];
    if modality == Modality::Image {
        let Some(png) = &row.image else {
            return Err(MixtureError::InvalidRequest(format!(
                "record {} is an image record without an image",
                record.id
            )));
        };
        use base64::Engine;
        fields.push(base64::engine::general_purpose::STANDARD.encode(png));
    }
    fields.extend([row.question.clone(), answer_field(record), row.id.clone()]);
    if let Instance::Grid(grid) = &record.instance {
        fields.extend(grid_fields(grid));
    }
    Ok(((record.task, record.split, modality), tsv_line(&fields)))
}

/// One record as a line of its file (without the line break); `index` is its position in the
/// dataset, images are read from `dataset_dir`.
pub fn line(index: u64, record: &Record, dataset_dir: &Path) -> Result<String> {
    let row = TsvRow::from_record(index, record, dataset_dir)?;
    Ok(row_line(&row, record)?.1)
}

/// The files of one export, each opened (with its header) as its first line comes.
pub(crate) struct Files<'a> {
    dir: &'a Path,
    open: HashMap<FileKey, OutFile>,
    names: Vec<String>,
}

impl<'a> Files<'a> {
    pub(crate) fn new(dir: &'a Path) -> Self {
        Files {
            dir,
            open: HashMap::new(),
            names: Vec::new(),
        }
    }

    pub(crate) fn write(&mut self, (task, split, modality): FileKey, line: &str) -> Result<()> {
        let key = (task, split, modality);
        if !self.open.contains_key(&key) {
            let name = file_name(task, split, modality);
            let mut file = OutFile::create(self.dir, &name)?;
            file.write(&tsv_line(&columns(task, modality)))?;
            file.write("\n")?;
            self.open.insert(key, file);
            self.names.push(name);
        }
        if let Some(file) = self.open.get_mut(&key) {
            file.write(line)?;
            file.write("\n")?;
        }
        Ok(())
    }

    /// Complete every file; their names, in order of first use.
    pub(crate) fn finish(self) -> Result<Vec<String>> {
        for (_, file) in self.open {
            file.finish()?;
        }
        Ok(self.names)
    }
}

/// Write the export of `records` (images read from `dataset_dir`) into `out_dir`; row `index`
/// is the record's position in `records`. Returns the file names, in order of first use. (The
/// dataset writer makes these files itself with `--formats oureval`.)
pub fn write(records: &[Record], dataset_dir: &Path, out_dir: &Path) -> Result<Vec<String>> {
    let mut files = Files::new(out_dir);
    for (i, record) in records.iter().enumerate() {
        let row = TsvRow::from_record(i as u64, record, dataset_dir)?;
        let (key, line) = row_line(&row, record)?;
        files.write(key, &line)?;
    }
    files.finish()
}

/// Why a dataset whose files are `listed` does not match a request with or without this
/// export, if it does not.
pub(crate) fn listed_mismatch<'a>(
    wanted: bool,
    listed: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let has = listed.into_iter().any(is_file_name);
    match (has, wanted) {
        (true, false) => Some(format!("it has {PREFIX}*.tsv, not asked for now")),
        (false, true) => Some(format!("it lacks {PREFIX}*.tsv, asked for now")),
        _ => None,
    }
}

#[cfg(test)]
#[path = "oureval_tests.rs"]
mod tests;
