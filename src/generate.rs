//! Writing datasets from the command line: an index range, one training mixture, every phase of a
//! plan, or an evaluation set — each on a worker pool, behind a progress bar, ending with one
//! line per dataset written (its path, its summary and, for a dataset written alone, its rate).
//! The `generate` example parses its options into the specifications these take; the work is
//! `s2h-mixture`'s writers.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::ThreadPool;

use crate::cli::progress_bar;
use crate::mixture::{
    DatasetSpec, EvalCheck, EvalSetSpec, ExportSummary, MixtureError, Phase, Plan, RECORDS_FILE,
    RenderOptions, Result, WriteOptions, read_task_config, write_dataset, write_eval_set,
    write_phase, write_plan,
};
use crate::render::{AnalogyTextFormat, TextOptions};
use crate::tasks::TaskConfig;

/// Rendering as a command line asks for it: image size, font scale, Visual Analogy's text
/// format and a TOML file of task parameters (a plan's `[task_config]` or the task tables
/// alone); what is not given is the paper's.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderFlags {
    pub size: Option<[u32; 2]>,
    pub font_scale: f32,
    pub text_format: AnalogyTextFormat,
    pub task_config: Option<PathBuf>,
}

impl RenderFlags {
    /// Nothing asked for beyond the paper's rendering.
    pub fn is_default(&self) -> bool {
        self.size.is_none()
            && self.font_scale == 1.0
            && self.text_format == AnalogyTextFormat::Lossy
            && self.task_config.is_none()
    }

    /// The rendering asked for, with `task_config`'s task parameters read.
    pub fn options(&self) -> Result<RenderOptions> {
        Ok(RenderOptions {
            tasks: match &self.task_config {
                Some(path) => read_task_config(path)?,
                None => TaskConfig::default(),
            },
            image_size: self.size,
            font_scale: self.font_scale,
            text: TextOptions {
                analogy: self.text_format,
            },
        })
    }

    /// The rendering of a dataset that writes images, or of one that writes none: a size or
    /// font scale asked for then is refused (`what` names what writes none, e.g.
    /// `--modality text`).
    pub fn options_for(&self, writes_images: bool, what: &str) -> Result<RenderOptions> {
        if !writes_images && (self.size.is_some() || self.font_scale != 1.0) {
            return Err(MixtureError::InvalidRequest(format!(
                "--size and --font-scale apply to images; {what} writes none"
            )));
        }
        self.options()
    }
}

/// One index range of one task, split and supervision into `out` (`write_dataset`).
pub fn dataset(pool: &ThreadPool, spec: &DatasetSpec, out: &Path, overwrite: bool) -> Result<()> {
    let bar = progress_bar(
        spec.count,
        format!("{}/{} {}", spec.task, spec.split, spec.supervision),
    );
    let started = Instant::now();
    let summary = pool.install(|| write_dataset(spec, out, overwrite, &|| bar.inc(1)))?;
    bar.finish_and_clear();
    println!("{}", report(&summary, out, Some(started)));
    Ok(())
}

/// One training mixture, `phase` at `seed` rendered with `render`, into `out` itself
/// (`write_phase` of the one-phase plan `Plan::of_phase` makes, which checks the three).
pub fn mixture(
    pool: &ThreadPool,
    phase: Phase,
    seed: u64,
    render: &RenderOptions,
    out: &Path,
    check: &EvalCheck,
    options: &WriteOptions,
) -> Result<()> {
    let tasks: Vec<&str> = phase.tasks.iter().map(|t| t.name()).collect();
    let label = format!("{} {}", tasks.join("+"), phase.label());
    let plan = Plan::of_phase(phase, seed, render)?;
    let bar = progress_bar(plan.record_count()?, label);
    let started = Instant::now();
    let summary = pool.install(|| write_phase(&plan, 0, out, check, options, &|| bar.inc(1)))?;
    bar.finish_and_clear();
    println!("{}", report(&summary, out, Some(started)));
    Ok(())
}

/// Every phase of `plan`, each in its own directory under `out` (`write_plan`), then the time
/// of all of them.
pub fn plan(
    pool: &ThreadPool,
    plan: &Plan,
    out: &Path,
    check: &EvalCheck,
    options: &WriteOptions,
) -> Result<()> {
    let records = plan.record_count()?;
    let name = plan.name.as_deref().unwrap_or("plan");
    let bar = progress_bar(records, format!("{name}, {} phases", plan.phases.len()));
    let started = Instant::now();
    let written = pool.install(|| write_plan(plan, out, check, options, &|| bar.inc(1)))?;
    bar.finish_and_clear();
    for (dir, summary) in &written {
        println!("{}", report(summary, dir, None));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} phases in {seconds:.1} s ({:.0} records/s)",
        written.len(),
        records as f64 / seconds
    );
    Ok(())
}

/// Every phase of the plan in the file `path` ([`plan`]). A plan carries its own rendering
/// (`image_size`, `font_scale`, `text_format`, `task_config`), so rendering flags beside it are
/// refused rather than silently ignored.
pub fn plan_file(
    pool: &ThreadPool,
    path: &Path,
    flags: &RenderFlags,
    out: &Path,
    check: &EvalCheck,
    options: &WriteOptions,
) -> Result<()> {
    if !flags.is_default() {
        return Err(MixtureError::InvalidRequest(
            "--size, --font-scale, --text-format and --task-config come from the plan with \
             --plan (image_size, font_scale, text_format, task_config)"
                .into(),
        ));
    }
    plan(pool, &Plan::read(path)?, out, check, options)
}

/// A fixed-size evaluation set into `out` (`write_eval_set`).
pub fn eval_set(
    pool: &ThreadPool,
    spec: &EvalSetSpec,
    render: &RenderOptions,
    out: &Path,
    options: &WriteOptions,
) -> Result<()> {
    let bar = progress_bar(
        spec.count,
        format!("eval {}/{} {}", spec.task, spec.split, spec.supervision()),
    );
    let started = Instant::now();
    let summary = pool.install(|| write_eval_set(spec, render, out, options, &|| bar.inc(1)))?;
    bar.finish_and_clear();
    println!("{}", report(&summary, out, Some(started)));
    Ok(())
}

/// The line for one dataset written: its records file and summary, and its rate when it was
/// written alone (`started`).
fn report(summary: &ExportSummary, out: &Path, started: Option<Instant>) -> String {
    let time = started
        .map(|started| {
            let seconds = started.elapsed().as_secs_f64();
            let rate = summary.records as f64 / seconds;
            format!(" in {seconds:.1} s ({rate:.0} records/s)")
        })
        .unwrap_or_default();
    format!(
        "wrote {}: {summary}{time}",
        out.join(RECORDS_FILE).display()
    )
}
