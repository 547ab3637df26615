//! Pieces the evaluated targets share: a figure made per task at the tier's scale, charts that
//! return their file names, accuracies and percentages.

use anyhow::{Result, bail};
use s2h::eval::charts::{BarChart, LineChart, Series};
use s2h::eval::{Metrics, main_accuracy, names};
use s2h::tasks::{Split, TaskKind};

use crate::evaluated::{not_run, smoke_agreement, unchecked};
use s2h::mixture::MixtureKind;

use crate::data::write_table;
use crate::experiments::{Cache, Planned, RunSpec, Scale, part_scale};
use crate::registry::Tier;
use crate::{Agreement, Ctx, Output};

/// A run as a function of one size (a budget, a first phase's records).
pub type RunOf<'a> = &'a dyn Fn(u64) -> crate::experiments::RunSpec;

/// What one task's part of a figure wrote.
#[derive(Default)]
pub struct Part {
    pub files: Vec<String>,
    pub numbers: Vec<(String, String)>,
    /// The paper's claims checked on this part's numbers: (the claim with our numbers, whether
    /// it held). [`per_task`] makes the target's verdict from every part's.
    pub checks: Vec<(String, bool)>,
}

impl Part {
    pub fn number(&mut self, what: impl Into<String>, value: impl Into<String>) {
        self.numbers.push((what.into(), value.into()));
    }

    /// The paper's claim that curve `better` ends above curve `worse` (at the largest x; NaN
    /// never holds), checked on `series`; `on` says what they are measured on. A curve missing
    /// from `series` is a programming error of the target, reported as not held.
    pub fn check_above(
        &mut self,
        task: TaskKind,
        series: &[Series],
        better: &str,
        worse: &str,
        on: &str,
    ) {
        let last = |name: &str| {
            series
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.points.last())
                .map_or(f64::NAN, |p| p.1)
        };
        let (b, w) = (last(better), last(worse));
        self.checks.push((
            format!(
                "{task}: {better} above {worse} on {on} ({} vs {})",
                pct(b),
                pct(w)
            ),
            b > w,
        ));
    }
}

/// A target's verdict from its checked claims: reproduced when every claim held, not
/// reproduced (naming those that did not) otherwise; the smoke tier's, or "no check written"
/// where there are none.
pub fn verdict(ctx: &Ctx, checks: &[(String, bool)]) -> Agreement {
    if ctx.tier == Tier::Smoke {
        return smoke_agreement();
    }
    if checks.is_empty() {
        return unchecked(ctx);
    }
    let list = |held: bool| {
        checks
            .iter()
            .filter(|(_, h)| *h == held)
            .map(|(claim, _)| claim.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if checks.iter().all(|(_, held)| *held) {
        Agreement::Reproduced(list(true))
    } else if checks.iter().any(|(_, held)| *held) {
        Agreement::NotReproduced(format!("paper: {}; held here: {}", list(false), list(true)))
    } else {
        Agreement::NotReproduced(format!("paper: {}", list(false)))
    }
}

/// The tasks a tier leaves out of a target, each with why; tasks left out for the same reason
/// are named together (`tr, grid (why); va (why)`).
#[derive(Default)]
pub struct LeftOut(Vec<(Vec<TaskKind>, String)>);

impl LeftOut {
    pub fn push(&mut self, task: TaskKind, why: String) {
        match self.0.iter_mut().find(|(_, w)| *w == why) {
            Some((tasks, _)) => tasks.push(task),
            None => self.0.push((vec![task], why)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (tasks, why)) in self.0.iter().enumerate() {
            let tasks: Vec<String> = tasks.iter().map(|t| t.to_string()).collect();
            let sep = if i == 0 { "" } else { "; " };
            write!(f, "{sep}{} ({why})", tasks.join(", "))?;
        }
        Ok(())
    }
}

/// The tasks of `tasks` the tier makes `ctx`'s target on, each with its scale
/// ([`part_scale`]), and the others with why.
pub fn tasks_made(ctx: &Ctx, tasks: &[TaskKind]) -> (Vec<(TaskKind, Scale)>, LeftOut) {
    let mut made = Vec::new();
    let mut left_out = LeftOut::default();
    for &task in tasks {
        match part_scale(ctx.tier, ctx.id, task) {
            Ok(scale) => made.push((task, scale)),
            Err(why) => left_out.push(task, why),
        }
    }
    (made, left_out)
}

/// A target the tier makes on none of its tasks.
pub fn none_made(ctx: &Ctx, left_out: &LeftOut) -> Output {
    not_run(
        ctx,
        &format!(
            "no task of the target is made at the {} tier: {left_out}",
            ctx.tier
        ),
    )
}

/// A target made once per task of `tasks` that the tier makes it on ([`tasks_made`]): `make`
/// writes each task's part; the caption is `what`, the
/// tasks left out at this tier with why, and the scale.
pub fn per_task(
    ctx: &Ctx,
    tasks: &[TaskKind],
    what: &str,
    mut make: impl FnMut(&Cache, TaskKind) -> Result<Part>,
) -> Result<Output> {
    let mut files = Vec::new();
    let mut numbers = Vec::new();
    let mut checks = Vec::new();
    let mut labels = Vec::new();
    let (made, left_out) = tasks_made(ctx, tasks);
    let mut planned = Planned::default();
    for (task, scale) in made {
        let cache = Cache::new(&ctx.cache, scale);
        // At the paper tier every task's runs are planned, not only the first task's.
        let Some(part) = planned.collect(make(&cache, task))? else {
            continue;
        };
        files.extend(part.files);
        numbers.extend(part.numbers);
        checks.extend(part.checks);
        if !labels.contains(&cache.scale.label) {
            labels.push(cache.scale.label.clone());
        }
    }
    if !planned.runs.is_empty() {
        return Err(planned.into());
    }
    if labels.is_empty() {
        return Ok(none_made(ctx, &left_out));
    }
    let left_out = if left_out.is_empty() {
        String::new()
    } else {
        format!(" Not run at this tier: {left_out}.")
    };
    Ok(Output {
        files,
        caption: format!("{what}{left_out} {}.", labels.join("; ")),
        agreement: verdict(ctx, &checks),
        numbers,
        ..Output::at(ctx)
    })
}

/// The tier's largest training budget.
pub fn largest(cache: &Cache) -> Result<u64> {
    match cache.scale.budgets.last() {
        Some(&b) => Ok(b),
        None => bail!("the tier has no training budget"),
    }
}

/// The tier's smallest training budget.
pub fn smallest(cache: &Cache) -> Result<u64> {
    match cache.scale.budgets.first() {
        Some(&b) => Ok(b),
        None => bail!("the tier has no training budget"),
    }
}

/// The records of a first phase (an alignment phase, a text warm-up): half the smallest budget,
/// as Fig 5's Align-Mix+ (the paper's 10^4 before 3–24×10^4).
pub fn first_phase(cache: &Cache) -> Result<u64> {
    Ok((smallest(cache)? / 2).max(1))
}

/// One curve of a figure: its name, its marker, the modality its runs are evaluated in (on the
/// hard split) and its run at each x.
pub type CurveOf<'a> = (
    String,
    s2h::eval::charts::Marker,
    s2h::tasks::Modality,
    RunOf<'a>,
);

/// Every curve's run at every x, trained and evaluated side by side ([`Cache::measure`]): each
/// curve's hard accuracy against x, in the order given.
pub fn hard_curves(
    cache: &Cache,
    task: TaskKind,
    xs: &[u64],
    curves: &[CurveOf],
) -> Result<Vec<Series>> {
    let arms: Vec<crate::experiments::Arm> = curves
        .iter()
        .flat_map(|(name, _, modality, run)| {
            xs.iter()
                .map(move |&x| crate::experiments::Arm::hard(name.clone(), run(x), *modality))
        })
        .collect();
    let metrics = cache.measure(&arms)?;
    Ok(curves
        .iter()
        .zip(metrics.chunks(xs.len().max(1)))
        .map(|((name, marker, ..), metrics)| Series {
            name: name.clone(),
            points: xs
                .iter()
                .zip(metrics)
                .map(|(&x, m)| (x as f64, accuracy(m, task)))
                .collect(),
            marker: *marker,
        })
        .collect())
}

/// The task's headline accuracy (NaN when the metrics lack it).
pub fn accuracy(metrics: &Metrics, task: TaskKind) -> f64 {
    main_accuracy(metrics, task).unwrap_or(f64::NAN)
}

/// Mean generated tokens per record.
pub fn generated_tokens(metrics: &Metrics, task: TaskKind) -> f64 {
    metric(metrics, task, names::MEAN_GENERATED_TOKENS)
}

/// A metric of the task's group (NaN when absent).
pub fn metric(metrics: &Metrics, task: TaskKind, name: &str) -> f64 {
    metrics
        .group(task, None::<Split>)
        .and_then(|g| g.metric(name))
        .unwrap_or(f64::NAN)
}

/// `0.123` as `12.3%`; NaN as `-`.
pub fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * v)
    }
}

/// `v` with `places` decimals, or "-" for a missing (NaN) number.
pub fn decimals(v: f64, places: usize) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.places$}")
    }
}

/// The PNG, SVG and CSV of a chart written as `stem`.
pub fn chart_files(stem: &str) -> Vec<String> {
    ["png", "svg", "csv"]
        .map(|ext| format!("{stem}.{ext}"))
        .to_vec()
}

/// Write a bar chart as `stem` in the target's directory.
pub fn bars(
    ctx: &Ctx,
    stem: &str,
    title: String,
    y_label: &str,
    bars: Vec<(String, f64)>,
    y_range: Option<(f64, f64)>,
) -> Result<Vec<String>> {
    BarChart {
        title,
        y_label: y_label.into(),
        bars,
        y_range,
    }
    .write(&ctx.dir, stem)?;
    Ok(chart_files(stem))
}

/// Write a line chart as `stem` in the target's directory.
pub fn curves(
    ctx: &Ctx,
    stem: &str,
    title: String,
    x_label: &str,
    y_label: &str,
    series: Vec<Series>,
    y_range: Option<(f64, f64)>,
) -> Result<Vec<String>> {
    LineChart {
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        series,
        y_range,
    }
    .write(&ctx.dir, stem)?;
    Ok(chart_files(stem))
}

/// A table target made per task: `rows` gives each task's rows, whose first `keys` cells name
/// the row and the others are values; every row is also a number of the output.
pub fn table_per_task(
    ctx: &Ctx,
    tasks: &[TaskKind],
    stem: &str,
    what: &str,
    header: &[&str],
    keys: usize,
    mut rows: impl FnMut(&Cache, TaskKind) -> Result<Vec<Vec<String>>>,
) -> Result<Output> {
    let mut all = Vec::new();
    let output = per_task(ctx, tasks, what, |cache, task| {
        let rows = rows(cache, task)?;
        let mut part = Part::default();
        for row in &rows {
            let k = keys.min(row.len());
            part.number(
                format!(
                    "{} ({})",
                    row[..k].join(" "),
                    header[k.min(header.len())..].join(" / ")
                ),
                row[k..].join(" / "),
            );
        }
        all.extend(rows);
        Ok(part)
    })?;
    if all.is_empty() {
        return Ok(output);
    }
    let files = write_table(&ctx.dir, stem, header, &all)?;
    Ok(Output { files, ..output })
}

/// Mix+, Align-Mix+ and (TW)Align-Mix+ at `budget`, each first phase of `first` records (Fig 25,
/// Table 12).
pub fn align_recipes(task: TaskKind, budget: u64, first: u64) -> [(&'static str, RunSpec); 3] {
    let mix_plus = RunSpec::new(task, MixtureKind::MixPlus, budget);
    let aligned = mix_plus.clone().after(MixtureKind::Align, first);
    [
        ("Mix+", mix_plus),
        ("Align-Mix+", aligned.clone()),
        (
            "(TW)Align-Mix+",
            aligned.after(MixtureKind::TextWarmup, first),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h::eval::charts::Marker;

    fn curve(name: &str, last: f64) -> Series {
        Series {
            name: name.into(),
            points: vec![(1.0, 0.0), (2.0, last)],
            marker: Marker::None,
        }
    }

    #[test]
    fn tasks_left_out_for_one_reason_are_named_together() {
        let mut left = LeftOut::default();
        assert!(left.is_empty());
        left.push(TaskKind::Tr, "a".into());
        left.push(TaskKind::Va, "b".into());
        left.push(TaskKind::Grid, "a".into());
        assert!(!left.is_empty());
        assert_eq!(left.to_string(), "tr, grid (a); va (b)");
    }

    #[test]
    fn claims_make_the_verdict() {
        let ctx = |tier| Ctx {
            id: "fig05",
            tier,
            dir: "unused".into(),
            cache: "unused".into(),
        };
        let series = [curve("Mix", 0.1), curve("Mix+", 0.3), curve("Image", 0.0)];
        let mut part = Part::default();
        part.check_above(TaskKind::Tr, &series, "Mix+", "Mix", "hard images");
        assert_eq!(
            part.checks[0].0,
            "tr: Mix+ above Mix on hard images (30.0% vs 10.0%)"
        );
        assert!(matches!(
            verdict(&ctx(Tier::Cpu), &part.checks),
            Agreement::Reproduced(_)
        ));
        // A tie, a missing curve: not held; one claim failing makes the target not reproduced.
        part.check_above(TaskKind::Tr, &series, "Image", "Image", "hard images");
        part.check_above(TaskKind::Tr, &series, "Align-Mix+", "Mix", "hard images");
        assert_eq!(
            part.checks.iter().map(|c| c.1).collect::<Vec<_>>(),
            [true, false, false]
        );
        let Agreement::NotReproduced(why) = verdict(&ctx(Tier::Cpu), &part.checks) else {
            panic!("a claim failed")
        };
        assert!(why.contains("held here: tr: Mix+ above Mix"), "{why}");
        // The smoke tier checks nothing; no claims: unchecked.
        assert!(matches!(
            verdict(&ctx(Tier::Smoke), &part.checks),
            Agreement::Exercised(_)
        ));
        assert!(matches!(
            verdict(&ctx(Tier::Cpu), &[]),
            Agreement::NotRun(_)
        ));
    }
}
