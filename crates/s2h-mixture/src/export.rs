//! The canonical dataset export (SPEC §10): `DIR/records.jsonl`, one record per line in index
//! order, and `DIR/images/*.png`. Generation runs in parallel; the files are identical for any
//! thread count because every instance is a pure function of its coordinates and lines are
//! written in index order.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use rayon::prelude::*;
use s2h_render::{ImageOptions, TextOptions};
use s2h_tasks::{Split, TaskConfig, TaskKind};
use serde::Serialize;

use crate::files::{OutFile, write_image};
use crate::record::{Record, RecordImage, Supervision, build_record};
use crate::{MixtureError, Result};

pub const RECORDS_FILE: &str = "records.jsonl";
pub const IMAGES_DIR: &str = "images";

/// What to generate: a range of instance indices of one task and split, as one supervision type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSpec {
    pub task: TaskKind,
    pub split: Split,
    pub seed: u64,
    /// First instance index; shards of one range can be generated separately.
    pub start_index: u64,
    pub count: u64,
    pub supervision: Supervision,
    pub tasks: TaskConfig,
    pub image: ImageOptions,
    pub text: TextOptions,
}

impl DatasetSpec {
    /// The paper's configuration and canvas for a task.
    pub fn new(
        task: TaskKind,
        split: Split,
        seed: u64,
        count: u64,
        supervision: Supervision,
    ) -> Self {
        Self {
            task,
            split,
            seed,
            start_index: 0,
            count,
            supervision,
            tasks: TaskConfig::default(),
            image: ImageOptions::paper(task),
            text: TextOptions::default(),
        }
    }

    /// Check everything that can be checked before any work starts.
    pub fn validate(&self) -> Result<()> {
        self.task.check_split(self.split)?;
        if self.supervision.input() == s2h_tasks::Modality::Image {
            self.image.validate()?;
        }
        if self.start_index.checked_add(self.count).is_none() {
            return Err(MixtureError::InvalidRequest(
                "start index plus count overflows the index space".to_string(),
            ));
        }
        // One draw proves the task configuration is usable before the pool starts.
        self.tasks
            .generate(self.task, self.split, self.seed, self.start_index)?;
        Ok(())
    }
}

/// What a finished export wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DatasetSummary {
    pub records: u64,
    pub images: u64,
    pub png_bytes: u64,
    pub jsonl_bytes: u64,
}

/// File name of the image of one instance (shared by every supervision of that instance).
pub fn image_file_name(task: TaskKind, split: Split, seed: u64, index: u64) -> String {
    format!("{task}-{split}-s{seed}-i{index:07}.png")
}

/// Generate and write a dataset into `out`. Records go to a temporary file renamed into place at
/// the end, so an interrupted run never leaves a truncated `records.jsonl` behind. `progress`
/// is called once per finished record (from worker threads). Uses the current rayon pool.
pub fn write_dataset(
    spec: &DatasetSpec,
    out: &Path,
    overwrite: bool,
    progress: &(dyn Fn() + Sync),
) -> Result<DatasetSummary> {
    spec.validate()?;
    let records_path = out.join(RECORDS_FILE);
    if records_path.exists() && !overwrite {
        return Err(MixtureError::OutputExists(out.to_path_buf()));
    }
    fs::create_dir_all(out).map_err(MixtureError::io("cannot create output directory", out))?;
    let with_image = spec.supervision.input() == s2h_tasks::Modality::Image;
    let images_dir = out.join(IMAGES_DIR);
    if with_image {
        fs::create_dir_all(&images_dir).map_err(MixtureError::io(
            "cannot create image directory",
            &images_dir,
        ))?;
    }
    let mut records = OutFile::create(out, RECORDS_FILE)?;
    let mut summary = DatasetSummary::default();

    // Chunks bound memory while keeping every worker busy; lines are written in index order.
    const CHUNK: u64 = 256;
    let end = spec.start_index + spec.count;
    let mut chunk_start = spec.start_index;
    while chunk_start < end {
        let chunk_end = (chunk_start + CHUNK).min(end);
        let lines: Vec<(String, u64)> = (chunk_start..chunk_end)
            .into_par_iter()
            .map(|index| {
                let line = one_record(spec, index, &images_dir, with_image);
                progress();
                line
            })
            .collect::<Result<_>>()?;
        for (line, png_bytes) in lines {
            records.write(&line)?;
            records.write("\n")?;
            summary.records += 1;
            summary.jsonl_bytes += line.len() as u64 + 1;
            if with_image {
                summary.images += 1;
                summary.png_bytes += png_bytes;
            }
        }
        chunk_start = chunk_end;
    }
    records.finish()?;
    Ok(summary)
}

/// Generate, render and serialise one record; returns the JSON line and the PNG size.
fn one_record(
    spec: &DatasetSpec,
    index: u64,
    images_dir: &Path,
    with_image: bool,
) -> Result<(String, u64)> {
    let instance = spec
        .tasks
        .generate(spec.task, spec.split, spec.seed, index)?;
    let (image, png_bytes) = if with_image {
        let name = image_file_name(spec.task, spec.split, spec.seed, index);
        let (layout, png_bytes) = write_image(&instance, &spec.image, &images_dir.join(&name))?;
        let image = RecordImage {
            path: format!("{IMAGES_DIR}/{name}"),
            layout,
        };
        (Some(image), png_bytes)
    } else {
        (None, 0)
    };
    let record = build_record(
        &instance,
        spec.split,
        spec.seed,
        index,
        spec.supervision,
        image,
        &spec.text,
    )?;
    let line = serde_json::to_string(&record).map_err(|e| {
        MixtureError::InvalidRequest(format!("record {} cannot be serialised: {e}", record.id))
    })?;
    Ok((line, png_bytes))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegmentKind;

    fn spec(task: TaskKind, supervision: Supervision, count: u64) -> DatasetSpec {
        let mut spec = DatasetSpec::new(task, Split::Simple, 3, count, supervision);
        spec.image = spec.image.with_size(300, 160);
        spec
    }

    fn run(spec: &DatasetSpec, threads: usize) -> (tempfile::TempDir, DatasetSummary) {
        let dir = tempfile::tempdir().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let summary = pool
            .install(|| write_dataset(spec, dir.path(), false, &|| {}))
            .unwrap();
        (dir, summary)
    }

    #[test]
    fn output_is_identical_for_one_and_four_threads() {
        let spec = spec(TaskKind::Tr, Supervision::ImageViaText, 12);
        let (a, sa) = run(&spec, 1);
        let (b, sb) = run(&spec, 4);
        assert_eq!(sa, sb);
        let ra = fs::read(a.path().join(RECORDS_FILE)).unwrap();
        assert_eq!(ra, fs::read(b.path().join(RECORDS_FILE)).unwrap());
        for index in 0..12 {
            let name = image_file_name(TaskKind::Tr, Split::Simple, 3, index);
            let pa = fs::read(a.path().join(IMAGES_DIR).join(&name)).unwrap();
            assert_eq!(
                pa,
                fs::read(b.path().join(IMAGES_DIR).join(&name)).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn records_read_back_and_follow_the_supervision() {
        for supervision in Supervision::ALL {
            let (dir, summary) = run(&spec(TaskKind::Ctr, supervision, 5), 2);
            let records = read_records(dir.path()).unwrap();
            assert_eq!(records.len(), 5);
            assert_eq!(summary.records, 5);
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.index, i as u64);
                assert_eq!(r.supervision, supervision);
                let kinds: Vec<SegmentKind> = r.segments.iter().map(|s| s.kind).collect();
                match supervision {
                    Supervision::Text => {
                        assert!(r.image.is_none() && r.layout.is_none());
                        assert!(r.prompt.starts_with("\\begin{tabular}"));
                        assert_eq!(kinds, [SegmentKind::Cot, SegmentKind::Answer]);
                    }
                    Supervision::Image => {
                        assert!(r.prompt.starts_with("<image>"));
                        assert_eq!(kinds, [SegmentKind::Cot, SegmentKind::Answer]);
                    }
                    Supervision::ImageViaText => {
                        assert_eq!(
                            kinds,
                            [
                                SegmentKind::ConvertPrompt,
                                SegmentKind::ConvertedText,
                                SegmentKind::Cot,
                                SegmentKind::Answer
                            ]
                        );
                        assert!(
                            r.segment_text(SegmentKind::ConvertedText)
                                .starts_with("\\begin{tabular}")
                        );
                    }
                }
                if let Some(path) = &r.image {
                    let img = image::open(dir.path().join(path)).unwrap();
                    assert_eq!((img.width(), img.height()), (300, 160));
                }
                let parsed = s2h_cot::parse_answer(r.task, &r.target).unwrap();
                assert!(r.instance.verify(&parsed).unwrap().correct);
            }
        }
    }

    #[test]
    fn existing_output_and_bad_requests_are_refused() {
        let spec = spec(TaskKind::Ctr, Supervision::Text, 2);
        let (dir, _) = run(&spec, 1);
        let err = write_dataset(&spec, dir.path(), false, &|| {}).unwrap_err();
        assert!(matches!(err, MixtureError::OutputExists(_)), "{err}");
        assert!(write_dataset(&spec, dir.path(), true, &|| {}).is_ok());

        let mut medium_tr = spec.clone();
        medium_tr.task = TaskKind::Tr;
        medium_tr.split = Split::Medium;
        let err = write_dataset(&medium_tr, dir.path(), true, &|| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("medium") && err.contains("simple, hard"),
            "{err}"
        );
    }

    #[test]
    fn damaged_files_name_the_line_and_field() {
        let spec = spec(TaskKind::Ctr, Supervision::Text, 2);
        let (dir, _) = run(&spec, 1);
        let path = dir.path().join(RECORDS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap().to_string();
        let damaged = first.replace("\"values\":[", "\"values\":[\"x\",");
        fs::write(&path, format!("{first}\n{damaged}\n")).unwrap();
        let err = read_records(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("answer"), "{err}");
    }
}
