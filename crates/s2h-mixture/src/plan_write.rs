//! Writing a training plan: each phase's mixture into its own directory, rendered as the plan
//! says and checked against evaluation sets. The trainer, the `generate` example and the
//! quickstart all materialise plans through here.

use std::fs;
use std::path::{Path, PathBuf};

use s2h_tasks::TaskKind;

use crate::eval_set::EvalTexts;
use crate::files::PLAN_FILE;
use crate::materialize::{
    ExportSummary, RenderOptions, Target, WriteOptions, write_mixture_checked,
};
use crate::mixture::Mixture;
use crate::plan::Plan;
use crate::{MixtureError, Result};

/// Which evaluation sets a training phase must not share an instance with (compared by text
/// rendering; see [`EvalTexts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalCheck {
    /// The default evaluation set of every split of each task of the phase.
    pub default_sets: bool,
    /// Evaluation sets already written (directories or `records.jsonl` files).
    pub dirs: Vec<PathBuf>,
}

impl EvalCheck {
    /// Check nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Check against the default evaluation sets.
    pub fn default_sets() -> Self {
        Self {
            default_sets: true,
            dirs: Vec::new(),
        }
    }

    /// The evaluation texts of a phase of `tasks` rendered with `render`; an error names the
    /// directory that could not be read.
    pub fn texts(&self, tasks: &[TaskKind], render: &RenderOptions) -> Result<EvalTexts> {
        let mut eval = EvalTexts::new(render.text);
        if self.default_sets {
            for &task in tasks {
                eval.add_default_sets(task, &render.tasks)?;
            }
        }
        for dir in &self.dirs {
            eval.add_dir(dir)?;
        }
        Ok(eval)
    }
}

/// The plan's phase `i` (0-based), or an error saying how many there are.
fn phase_target(plan: &Plan, i: usize) -> Result<(Mixture, RenderOptions)> {
    let phase = plan.phases.get(i).ok_or_else(|| {
        MixtureError::InvalidRequest(format!(
            "phase {} asked for; the plan has {}",
            i + 1,
            plan.phases.len()
        ))
    })?;
    Ok((phase.mixture(plan.seed)?, plan.render_options(phase)))
}

/// Write phase `i` (0-based) of `plan` into `out` itself. The evaluation check runs only when
/// the phase is written (not when [`Existing::Keep`](crate::Existing::Keep) keeps it).
pub fn write_phase(
    plan: &Plan,
    i: usize,
    out: &Path,
    check: &EvalCheck,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExportSummary> {
    plan.validate()?;
    let (mixture, render) = phase_target(plan, i)?;
    write_mixture_checked(
        &mixture,
        &render,
        |refs| {
            check
                .texts(&mixture.tasks, &render)?
                .check(refs, &render.tasks)
        },
        out,
        options,
        progress,
    )
}

/// Write `out/plan.toml` and every phase into `out/<plan.phase_dir(i)>` (`01-align`,
/// `02-mix-plus`, …); returns each phase's directory and summary. Every phase directory is
/// checked against `options.existing` before anything is written.
pub fn write_plan(
    plan: &Plan,
    out: &Path,
    check: &EvalCheck,
    options: &WriteOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<(PathBuf, ExportSummary)>> {
    plan.validate()?;
    let dirs: Vec<PathBuf> = (0..plan.phases.len())
        .map(|i| out.join(plan.phase_dir(i)))
        .collect();
    for (i, dir) in dirs.iter().enumerate() {
        let (mixture, render) = phase_target(plan, i)?;
        Target::mixture(&mixture, &render)?.existing(dir, options)?;
    }
    fs::create_dir_all(out).map_err(MixtureError::io("cannot create output directory", out))?;
    plan.write(&out.join(PLAN_FILE))?;
    dirs.into_iter()
        .enumerate()
        .map(|(i, dir)| {
            let summary = write_phase(plan, i, &dir, check, options, progress)?;
            Ok((dir, summary))
        })
        .collect()
}

#[cfg(test)]
#[path = "plan_write_tests.rs"]
mod tests;
