//! The one dataset writer: the record references of a mixture, an evaluation set or an index
//! range become `records.jsonl` (in the references' order), one PNG per instance that has an
//! image record (paired views share it), the optional LLaVA / VLMEvalKit files and
//! `manifest.json`, written last. What to do about a dataset already in the directory is the
//! caller's choice ([`Existing`]).
//!
//! Work runs in chunks of references on the current rayon pool; each chunk first renders the
//! images it is the first to need, then builds its records in parallel, and lines are written in
//! order — so the output is identical for any thread count. A layout is kept in memory only
//! until the last record that shows its image. Index ranges and evaluation sets are never
//! listed whole: their references are made chunk by chunk ([`Source::Range`]), so their memory
//! does not grow with their count.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use s2h_render::{ImageOptions, Layout, TextOptions};
use s2h_tasks::{Modality, TaskConfig, TaskKind};
use serde::Serialize;

use crate::eval_set::{EvalSetSpec, EvalTexts};
use crate::export::DatasetSpec;
use crate::files::{
    IMAGES_DIR, LLAVA_FILE, MANIFEST_FILE, OutFile, RECORDS_FILE, TSV_FILE, image_file_name,
    write_image,
};
use crate::interop::{Formats, JsonArray, TsvRow, llava_json, tsv_header};
use crate::manifest::{
    self, MANIFEST_FORMAT, Manifest, Seeds, file_entries, json_differences, read_manifest,
    write_manifest,
};
use crate::mixture::Mixture;
use crate::oureval;
use crate::record::{Record, RecordImage, SegmentKind, build_record};
use crate::reference::{CotKeep, IndexRange, InstanceKey, RecordRef, TypeCount, count_types};
use crate::{MixtureError, Result};

/// References per chunk: enough to keep every worker busy, few enough to bound memory.
const CHUNK: u64 = 1024;

/// How instances are generated and drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderOptions {
    pub tasks: TaskConfig,
    /// Canvas `[width, height]`; `None` uses the paper's canvas of each task.
    pub image_size: Option<[u32; 2]>,
    pub font_scale: f32,
    pub text: TextOptions,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            tasks: TaskConfig::default(),
            image_size: None,
            font_scale: 1.0,
            text: TextOptions::default(),
        }
    }
}

impl RenderOptions {
    pub fn image_options(&self, task: TaskKind) -> ImageOptions {
        let mut options = ImageOptions::paper(task);
        if let Some([w, h]) = self.image_size {
            options = options.with_size(w, h);
        }
        options.font_scale = self.font_scale;
        options
    }

    /// The range `spec` drawn with these task parameters, canvas, font scale and text options.
    pub fn apply(&self, spec: DatasetSpec) -> DatasetSpec {
        DatasetSpec {
            tasks: self.tasks.clone(),
            image: self.image_options(spec.task),
            text: self.text,
            ..spec
        }
    }

    /// Refuse a canvas or font scale no image could be drawn with, whether or not the data
    /// has images (a text-only dataset given a font scale of 100 is a mistake all the same).
    pub fn validate(&self) -> Result<()> {
        s2h_render::check_font_scale(self.font_scale)?;
        if self.image_size.is_some() {
            for &task in TaskKind::ALL {
                self.image_options(task).validate()?;
            }
        }
        Ok(())
    }
}

/// What a writer does when the output directory already holds a dataset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Existing {
    /// Refuse to write where a `records.jsonl` exists.
    #[default]
    Refuse,
    /// Write over it.
    Overwrite,
    /// Leave a complete earlier write of the same dataset (its manifest exists and matches
    /// what would be written now) untouched and return its summary; refuse a complete dataset
    /// with other parameters or formats; write again over an interrupted one (no manifest).
    /// Resumable runs use it.
    Keep,
}

impl Existing {
    /// What an `--overwrite` flag asks for: replace an existing dataset, or refuse it.
    pub fn overwrite_if(overwrite: bool) -> Self {
        if overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        }
    }
}

/// What to do about existing output and which extra formats to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub existing: Existing,
    pub formats: Formats,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportSummary {
    pub records: u64,
    pub images: u64,
    pub png_bytes: u64,
    pub jsonl_bytes: u64,
    /// Every file listed in the manifest, added up.
    pub total_bytes: u64,
}

/// `N records; M images (… MB PNG), … MB JSONL, … MB in all`.
impl std::fmt::Display for ExportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = |bytes: u64| bytes as f64 / 1e6;
        write!(
            f,
            "{} records; {} images ({:.1} MB PNG), {:.1} MB JSONL, {:.1} MB in all",
            self.records,
            self.images,
            mb(self.png_bytes),
            mb(self.jsonl_bytes),
            mb(self.total_bytes)
        )
    }
}

impl ExportSummary {
    /// The summary of a finished export, from its manifest.
    pub fn from_manifest(manifest: &Manifest) -> Self {
        let bytes = |keep: &dyn Fn(&str) -> bool| -> u64 {
            manifest
                .files
                .iter()
                .filter(|f| keep(&f.path))
                .map(|f| f.bytes)
                .sum()
        };
        let image_prefix = format!("{IMAGES_DIR}/");
        Self {
            records: manifest.counts.records,
            images: manifest.counts.images,
            png_bytes: bytes(&|p| p.starts_with(&image_prefix)),
            jsonl_bytes: bytes(&|p| p == RECORDS_FILE),
            total_bytes: bytes(&|_| true),
        }
    }
}

/// What a dataset is, as its manifest records it, before anything is written: enough to decide
/// about a dataset already in the directory.
pub(crate) struct Target {
    kind: &'static str,
    parameters: serde_json::Value,
    seeds: Seeds,
    algorithm1: Option<serde_json::Value>,
}

impl Target {
    /// A mixture, validated.
    pub(crate) fn mixture(mixture: &Mixture, render: &RenderOptions) -> Result<Self> {
        let counts = mixture.counts()?;
        Ok(Self {
            kind: "mixture",
            parameters: to_json(&serde_json::json!({"mixture": mixture, "render": render}))?,
            seeds: Seeds {
                instance: vec![mixture.seed],
                order: Some(mixture.seed),
            },
            algorithm1: Some(to_json(&counts)?),
        })
    }

    /// Decide about existing output: `Some` with the summary of a complete dataset to keep,
    /// `None` to write.
    pub(crate) fn existing(
        &self,
        out: &Path,
        options: &WriteOptions,
    ) -> Result<Option<ExportSummary>> {
        let records = out.join(RECORDS_FILE);
        match options.existing {
            Existing::Overwrite => Ok(None),
            Existing::Refuse if records.exists() => Err(MixtureError::OutputExists(records)),
            Existing::Refuse => Ok(None),
            Existing::Keep if !out.join(MANIFEST_FILE).is_file() => Ok(None),
            Existing::Keep => {
                let manifest = read_manifest(out)?;
                self.same_as(&manifest, options.formats).map_err(|reason| {
                    MixtureError::OutputDiffers {
                        path: out.to_path_buf(),
                        reason,
                    }
                })?;
                // A records file that is not the manifest's (deleted, or cut short) is written
                // again.
                let listed = manifest.files.iter().find(|f| f.path == RECORDS_FILE);
                let intact = match (listed, fs::metadata(&records)) {
                    (Some(entry), Ok(meta)) => entry.bytes == meta.len(),
                    _ => false,
                };
                Ok(intact.then(|| ExportSummary::from_manifest(&manifest)))
            }
        }
    }

    /// Why `manifest` is not this dataset with these formats, if it is not.
    fn same_as(&self, manifest: &Manifest, formats: Formats) -> std::result::Result<(), String> {
        if manifest.kind != self.kind {
            return Err(format!(
                "its {MANIFEST_FILE} says `{}`, not `{}`",
                manifest.kind, self.kind
            ));
        }
        // Compared as read back from a file, so numbers take the same form on both sides.
        let now: serde_json::Value = serde_json::to_string(&self.parameters)
            .and_then(|text| serde_json::from_str(&text))
            .map_err(|e| format!("parameters cannot be serialised: {e}"))?;
        if let Some((at, _, _)) = json_differences(&manifest.parameters, &now).first() {
            return Err(format!("parameters.{at} differs in its {MANIFEST_FILE}"));
        }
        let has = |name: &str| manifest.files.iter().any(|f| f.path == name);
        for (name, wanted) in [(LLAVA_FILE, formats.llava), (TSV_FILE, formats.tsv)] {
            if has(name) != wanted {
                let (holds, asked) = if wanted {
                    ("lacks", "asked for")
                } else {
                    ("has", "not asked for")
                };
                return Err(format!("it {holds} {name}, {asked} now"));
            }
        }
        let listed = manifest.files.iter().map(|f| f.path.as_str());
        if let Some(reason) = oureval::listed_mismatch(formats.oureval, listed) {
            return Err(reason);
        }
        Ok(())
    }
}

/// Write a training mixture into `out`, after checking that no instance's text rendering is
/// one of `eval` (pass an empty [`EvalTexts`] to skip the check; see
/// [`EvalTexts::add_default_sets`] for the default evaluation sets).
pub fn write_mixture(
    mixture: &Mixture,
    render: &RenderOptions,
    eval: &EvalTexts,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    write_mixture_checked(
        mixture,
        render,
        |refs| eval.check(refs, &render.tasks),
        out,
        options,
        progress,
    )
}

/// [`write_mixture`] with the evaluation check left to `check`, which runs only when the
/// mixture is to be written.
pub(crate) fn write_mixture_checked(
    mixture: &Mixture,
    render: &RenderOptions,
    check: impl FnOnce(&[RecordRef]) -> Result<()>,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    render.validate()?;
    let target = Target::mixture(mixture, render)?;
    if let Some(kept) = kept(&target, out, options, progress)? {
        return Ok(kept);
    }
    let refs = mixture.references()?;
    check(&refs)?;
    write_target(&target, Source::List(&refs), render, out, options, progress)
}

/// Write an evaluation set into `out`.
pub fn write_eval_set(
    spec: &EvalSetSpec,
    render: &RenderOptions,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    spec.validate()?;
    render.validate()?;
    let target = Target {
        kind: "eval_set",
        parameters: to_json(&serde_json::json!({"eval_set": spec, "render": render}))?,
        seeds: Seeds {
            instance: vec![spec.instance_seed()],
            order: None,
        },
        algorithm1: None,
    };
    write_unless_kept(
        &target,
        Source::Range(spec.range()),
        render,
        out,
        options,
        progress,
    )
}

/// Write one index range into `out`, in index order. A range is training data: its seed must be
/// below 2^63 ([`DatasetSpec::validate`]).
pub fn write_range(
    spec: &DatasetSpec,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    spec.validate()?;
    // The range's canvas is the whole of its image options.
    let render = RenderOptions {
        tasks: spec.tasks.clone(),
        image_size: Some([spec.image.width, spec.image.height]),
        font_scale: spec.image.font_scale,
        text: spec.text,
    };
    let range = serde_json::json!({
        "task": spec.task,
        "split": spec.split,
        "seed": spec.seed,
        "start_index": spec.start_index,
        "count": spec.count,
        "supervision": spec.supervision,
    });
    let target = Target {
        kind: "range",
        parameters: to_json(&serde_json::json!({"range": range, "render": render}))?,
        seeds: Seeds {
            instance: vec![spec.seed],
            order: None,
        },
        algorithm1: None,
    };
    write_unless_kept(
        &target,
        Source::Range(spec.range()),
        &render,
        out,
        options,
        progress,
    )
}

/// [`write_range`] refusing (or, with `overwrite`, replacing) an existing dataset, without
/// extra formats. `progress` is called once per finished record (from worker threads).
pub fn write_dataset(
    spec: &DatasetSpec,
    out: &Path,
    overwrite: bool,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    let options = WriteOptions {
        existing: Existing::overwrite_if(overwrite),
        formats: Formats::default(),
    };
    write_range(spec, out, &options, progress)
}

fn generator() -> String {
    format!("s2h-mixture {}", env!("CARGO_PKG_VERSION"))
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| MixtureError::InvalidRequest(format!("parameters cannot be serialised: {e}")))
}

/// The summary of a dataset kept under [`Existing::Keep`], its records counted as progress.
fn kept(
    target: &Target,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Option<ExportSummary>> {
    let kept = target.existing(out, options)?;
    if let Some(summary) = &kept {
        (0..summary.records).for_each(|_| progress());
    }
    Ok(kept)
}

/// The dataset already in `out` when [`Existing::Keep`] keeps it, else `source` written.
fn write_unless_kept(
    target: &Target,
    source: Source<'_>,
    render: &RenderOptions,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    match kept(target, out, options, progress)? {
        Some(kept) => Ok(kept),
        None => write_target(target, source, render, out, options, progress),
    }
}

/// The references a dataset is written from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A list held in memory: a mixture, whose order repeats and shuffles instances.
    List(&'a [RecordRef]),
    /// An index range or evaluation set, made chunk by chunk: every instance once, in order.
    Range(IndexRange),
}

impl Source<'_> {
    fn len(&self) -> u64 {
        match self {
            Source::List(refs) => refs.len() as u64,
            Source::Range(range) => range.count,
        }
    }

    /// References `from..from + len` (fewer at the end).
    fn chunk(&self, from: u64, len: u64) -> Cow<'_, [RecordRef]> {
        let to = from.saturating_add(len).min(self.len());
        match self {
            Source::List(refs) => Cow::Borrowed(&refs[from as usize..to as usize]),
            Source::Range(range) => Cow::Owned(range.refs(from, to).collect()),
        }
    }

    /// The tasks with image records, in order of first appearance.
    fn image_tasks(&self) -> Vec<TaskKind> {
        let is_image = |r: &RecordRef| r.supervision.input() == Modality::Image;
        match self {
            Source::List(refs) => {
                let mut tasks: Vec<TaskKind> = Vec::new();
                for r in refs.iter().filter(|r| is_image(r)) {
                    if !tasks.contains(&r.task) {
                        tasks.push(r.task);
                    }
                }
                tasks
            }
            Source::Range(range) => {
                let images = range.count > 0 && range.supervision.input() == Modality::Image;
                if images { vec![range.task] } else { Vec::new() }
            }
        }
    }

    /// Position of the last record showing each instance's image, where instances repeat;
    /// `None` where each instance appears once (its layout is dropped after its chunk).
    fn last_use(&self) -> Option<HashMap<InstanceKey, u64>> {
        let Source::List(refs) = self else {
            return None;
        };
        let mut last_use = HashMap::new();
        for (i, r) in refs.iter().enumerate() {
            if r.supervision.input() == Modality::Image {
                last_use.insert(r.instance_key(), i as u64);
            }
        }
        Some(last_use)
    }

    /// Unique instances and per-type counts, for the manifest.
    fn counts(&self) -> (u64, Vec<TypeCount>) {
        match self {
            Source::List(refs) => {
                let unique: HashSet<InstanceKey> =
                    refs.iter().map(RecordRef::instance_key).collect();
                (unique.len() as u64, count_types(refs))
            }
            Source::Range(range) => (range.count, range.type_counts()),
        }
    }
}

/// Write the records of `source`, then the manifest that marks them complete.
fn write_target(
    target: &Target,
    source: Source<'_>,
    render: &RenderOptions,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    // The manifest marks a complete dataset: an old one goes before anything is replaced.
    let old = out.join(MANIFEST_FILE);
    match fs::remove_file(&old) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(MixtureError::io("cannot remove", &old)(e));
        }
        _ => {}
    }
    let (mut summary, files) = write_refs(source, CHUNK, render, out, options, progress)?;
    let (unique_instances, by_type) = source.counts();
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        generator: generator(),
        kind: target.kind.to_string(),
        parameters: target.parameters.clone(),
        seeds: target.seeds.clone(),
        counts: manifest::Counts {
            records: summary.records,
            images: summary.images,
            unique_instances,
            by_type,
            algorithm1: target.algorithm1.clone(),
        },
        files: Vec::new(),
    };
    manifest.files = file_entries(out, files)?;
    summary.total_bytes = manifest.files.iter().map(|f| f.bytes).sum();
    write_manifest(out, &manifest)?;
    Ok(summary)
}

/// Keep only the chain-of-thought lines a record's [`CotKeep`] allows; the target follows.
pub fn apply_cot(record: &mut Record, keep: CotKeep) {
    if keep == CotKeep::Full {
        return;
    }
    if let Some(pos) = record
        .segments
        .iter()
        .position(|s| s.kind == SegmentKind::Cot)
    {
        let lines: Vec<&str> = record.segments[pos].text.lines().collect();
        let kept = keep.lines_kept(lines.len());
        if kept == 0 {
            record.segments.remove(pos);
        } else {
            record.segments[pos].text = format!("{}\n", lines[..kept].join("\n"));
        }
    }
    record.target = record.segments.iter().map(|s| s.text.as_str()).collect();
}

/// Generate one record of a reference; image records need the layout of their image.
pub fn make_record(
    r: &RecordRef,
    render: &RenderOptions,
    layout: Option<&Layout>,
) -> Result<Record> {
    let instance = render.tasks.generate(r.task, r.split, r.seed, r.index)?;
    let image = if r.supervision.input() == Modality::Image {
        let layout = layout.ok_or_else(|| {
            MixtureError::InvalidRequest(format!(
                "the image of {} {} instance {} was not rendered",
                r.task, r.split, r.index
            ))
        })?;
        Some(RecordImage {
            path: format!(
                "{IMAGES_DIR}/{}",
                image_file_name(r.task, r.split, r.seed, r.index)
            ),
            layout: layout.clone(),
        })
    } else {
        None
    };
    let mut record = build_record(
        &instance,
        r.split,
        r.seed,
        r.index,
        r.supervision,
        image,
        &render.text,
    )?;
    apply_cot(&mut record, r.cot);
    Ok(record)
}

/// Render and write the image of one instance; returns its layout, file name and PNG size.
fn render_one(
    r: &RecordRef,
    render: &RenderOptions,
    images_dir: &Path,
) -> Result<(Layout, String, u64)> {
    let instance = render.tasks.generate(r.task, r.split, r.seed, r.index)?;
    let name = image_file_name(r.task, r.split, r.seed, r.index);
    let options = render.image_options(r.task);
    let (layout, png_bytes) = write_image(&instance, &options, &images_dir.join(&name))?;
    Ok((layout, name, png_bytes))
}

/// The lines one record contributes to each file.
struct Lines {
    jsonl: String,
    llava: Option<String>,
    tsv: Option<String>,
    oureval: Option<(oureval::FileKey, String)>,
}

/// Write the records of `source` in order, `chunk_len` references at a time; returns the
/// summary and the files written (relative).
fn write_refs(
    source: Source<'_>,
    chunk_len: u64,
    render: &RenderOptions,
    out: &Path,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<(ExportSummary, Vec<String>)> {
    let is_image = |r: &RecordRef| r.supervision.input() == Modality::Image;
    let last_use = source.last_use();
    let image_tasks = source.image_tasks();
    for &task in &image_tasks {
        render.image_options(task).validate()?;
    }
    fs::create_dir_all(out).map_err(MixtureError::io("cannot create output directory", out))?;
    let images_dir = out.join(IMAGES_DIR);
    if !image_tasks.is_empty() {
        fs::create_dir_all(&images_dir).map_err(MixtureError::io(
            "cannot create image directory",
            &images_dir,
        ))?;
    }

    let formats = options.formats;
    let mut jsonl = OutFile::create(out, RECORDS_FILE)?;
    let mut llava = formats
        .llava
        .then(|| OutFile::create(out, LLAVA_FILE))
        .transpose()?;
    let mut array = JsonArray::new();
    if let Some(f) = &mut llava {
        f.write(JsonArray::open())?;
    }
    let mut tsv = formats
        .tsv
        .then(|| OutFile::create(out, TSV_FILE))
        .transpose()?;
    let tsv_images = !image_tasks.is_empty();
    if let Some(f) = &mut tsv {
        f.write(&(tsv_header(tsv_images) + "\n"))?;
    }
    let mut oureval = formats.oureval.then(|| oureval::Files::new(out));

    let mut summary = ExportSummary::default();
    let mut files = Vec::new();
    let mut layouts: HashMap<InstanceKey, Arc<Layout>> = HashMap::new();
    let mut base = 0;
    while base < source.len() {
        let chunk = source.chunk(base, chunk_len.max(1));
        let mut first_seen = HashSet::new();
        let new_images: Vec<&RecordRef> = chunk
            .iter()
            .filter(|r| {
                is_image(r)
                    && !layouts.contains_key(&r.instance_key())
                    && first_seen.insert(r.instance_key())
            })
            .collect();
        let rendered: Vec<(Layout, String, u64)> = new_images
            .par_iter()
            .map(|r| render_one(r, render, &images_dir))
            .collect::<Result<_>>()?;
        for (r, (layout, name, bytes)) in new_images.iter().zip(rendered) {
            layouts.insert(r.instance_key(), Arc::new(layout));
            files.push(format!("{IMAGES_DIR}/{name}"));
            summary.images += 1;
            summary.png_bytes += bytes;
        }
        let lines: Vec<Lines> = chunk
            .par_iter()
            .enumerate()
            .map(|(j, r)| {
                let layout = layouts.get(&r.instance_key()).map(|l| l.as_ref());
                let record = make_record(r, render, layout)?;
                let jsonl = serde_json::to_string(&record).map_err(|e| {
                    MixtureError::InvalidRequest(format!(
                        "record {} cannot be serialised: {e}",
                        record.id
                    ))
                })?;
                let llava = formats.llava.then(|| llava_json(&record)).transpose()?;
                // One row (and one read of the image) for both TSV formats.
                let row = (formats.tsv || formats.oureval)
                    .then(|| TsvRow::from_record(base + j as u64, &record, out))
                    .transpose()?;
                let tsv = row
                    .as_ref()
                    .filter(|_| formats.tsv)
                    .map(|row| row.to_line(tsv_images));
                let oureval = match &row {
                    Some(row) if formats.oureval => Some(oureval::row_line(row, &record)?),
                    _ => None,
                };
                progress();
                Ok(Lines {
                    jsonl,
                    llava,
                    tsv,
                    oureval,
                })
            })
            .collect::<Result<_>>()?;
        for line in lines {
            jsonl.write(&line.jsonl)?;
            jsonl.write("\n")?;
            summary.records += 1;
            summary.jsonl_bytes += line.jsonl.len() as u64 + 1;
            if let (Some(f), Some(text)) = (&mut llava, line.llava) {
                f.write(array.separator())?;
                f.write(&text)?;
            }
            if let (Some(f), Some(text)) = (&mut tsv, line.tsv) {
                f.write(&text)?;
                f.write("\n")?;
            }
            if let (Some(f), Some((key, text))) = (&mut oureval, line.oureval) {
                f.write(key, &text)?;
            }
        }
        let end = base + chunk.len() as u64;
        match &last_use {
            Some(last_use) => {
                layouts.retain(|k, _| last_use.get(k).is_some_and(|&last| last >= end));
            }
            None => layouts.clear(),
        }
        base = end;
    }
    if let Some(mut f) = llava {
        f.write(array.close())?;
        f.finish()?;
        files.push(LLAVA_FILE.to_string());
    }
    if let Some(f) = tsv {
        f.finish()?;
        files.push(TSV_FILE.to_string());
    }
    if let Some(f) = oureval {
        files.extend(f.finish()?);
    }
    // Last, so a complete records.jsonl means a complete export.
    jsonl.finish()?;
    files.push(RECORDS_FILE.to_string());
    Ok((summary, files))
}

#[cfg(test)]
#[path = "materialize_tests.rs"]
mod tests;
