//! The analysed targets (class G) made so far: checkpoints of the CTR runs measured with
//! `s2h-analysis` through [`crate::experiments::Cache::analyze`].

use anyhow::{Result, bail};
use s2h::analysis::StepReport;
use s2h::eval::charts::{LineChart, Marker, Series};
use s2h::mixture::MixtureKind;
use s2h::tasks::{Modality, Split, TaskKind};

use crate::evaluated::{no_scale, unchecked};
use crate::experiments::{Cache, RunSpec, Variant, ctr_scale};
use crate::{Ctx, Output};

/// The supervisions of Figs 7 and 19, with their legend names and markers.
const CTR_RUNS: [(MixtureKind, &str, Marker); 3] = [
    (MixtureKind::Mix, "Mix", Marker::Circle),
    (MixtureKind::TextImage, "Text+Image", Marker::Square),
    (MixtureKind::Image, "Image", Marker::Triangle),
];

/// Which score Figs 7 and 19 plot against the mean gradient norm.
#[derive(Clone, Copy)]
enum Score {
    /// Eq 3 (Fig 7).
    Alignment,
    /// Eq 8 with the paper's proxies (Fig 19).
    AdamAlignment,
}

pub fn fig07(ctx: &Ctx) -> Result<Output> {
    ctr_alignment(ctx, "fig07", Score::Alignment)
}

pub fn fig19(ctx: &Ctx) -> Result<Output> {
    ctr_alignment(ctx, "fig19", Score::AdamAlignment)
}

/// Figs 7 and 19: per checkpoint of each CTR run, the mean per-example gradient norm on simple
/// images against the score (left), and Eq 2 — the loss on hard images — during training
/// (right).
fn ctr_alignment(ctx: &Ctx, id: &str, score: Score) -> Result<Output> {
    let Some(scale) = ctr_scale(ctx.tier) else {
        return Ok(no_scale(ctx));
    };
    let cache = Cache::new(&ctx.cache, scale);
    let simple = cache.eval_set(TaskKind::Ctr, Split::Simple, Modality::Image)?;
    let hard = cache.eval_set(TaskKind::Ctr, Split::Hard, Modality::Image)?;
    let budget = crate::parts::largest(&cache)?;
    let runs: Vec<RunSpec> = CTR_RUNS
        .iter()
        .map(|(kind, ..)| RunSpec::new(TaskKind::Ctr, *kind, budget))
        .collect();
    cache.train(&runs)?;
    let mut reports: Vec<Vec<StepReport>> = Vec::new();
    for run in &runs {
        reports.push(cache.analyze(run, &simple, &hard)?);
    }
    let (label, value): (&str, fn(&StepReport) -> Option<f64>) = match score {
        Score::Alignment => ("gradient alignment score (Eq 3)", |r| r.alignment),
        Score::AdamAlignment => ("Adam update alignment score (Eq 8)", |r| r.adam_alignment),
    };
    let scatter = LineChart {
        title: format!("CTR: gradient norm vs {label} ({} tier)", ctx.tier),
        x_label: "mean gradient norm on simple images".into(),
        y_label: label.into(),
        series: CTR_RUNS
            .iter()
            .zip(&reports)
            .map(|((_, name, marker), rs)| Series {
                name: name.to_string(),
                points: rs
                    .iter()
                    .map(|r| (r.grad_norm_mean, value(r).unwrap_or(f64::NAN)))
                    .collect(),
                marker: *marker,
            })
            .collect(),
        y_range: None,
    };
    let losses = LineChart {
        title: format!(
            "CTR: loss on hard images (Eq 2) during training ({} tier)",
            ctx.tier
        ),
        x_label: "training records seen".into(),
        y_label: "loss (Eq 2)".into(),
        series: CTR_RUNS
            .iter()
            .zip(&reports)
            .map(|((_, name, marker), rs)| Series {
                name: name.to_string(),
                points: rs
                    .iter()
                    .map(|r| {
                        (
                            r.examples_seen.map_or(f64::NAN, |e| e as f64),
                            r.loss_image_solution,
                        )
                    })
                    .collect(),
                marker: *marker,
            })
            .collect(),
        y_range: None,
    };
    let (left, right) = (format!("{id}-alignment"), format!("{id}-loss"));
    scatter.write(&ctx.dir, &left)?;
    losses.write(&ctx.dir, &right)?;
    let mut files = Vec::new();
    for name in [&left, &right] {
        files.extend(["png", "svg", "csv"].map(|ext| format!("{name}.{ext}")));
    }
    // Means over checkpoints, and the final Eq 2, per supervision.
    let mean = |rs: &[StepReport]| {
        let v: Vec<f64> = rs.iter().filter_map(value).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let mut numbers = Vec::new();
    for ((_, name, _), rs) in CTR_RUNS.iter().zip(&reports) {
        numbers.push((
            format!("{name}: mean {label} over {} checkpoints", rs.len()),
            mean(rs).map_or("-".into(), |m| format!("{m:.3}")),
        ));
        numbers.push((
            format!("{name}: final loss on hard images (Eq 2)"),
            rs.last()
                .map_or("-".into(), |r| format!("{:.3}", r.loss_image_solution)),
        ));
    }
    // The paper's reading is per checkpoint (Mix aligns better than Image along training), so
    // the check pairs the two runs' checkpoints (they keep the same steps) rather than comparing
    // means, which the first checkpoint's large scores dominate.
    let pairs: Vec<(f64, f64)> = reports[0]
        .iter()
        .zip(&reports[2])
        .filter_map(|(mix, image)| Some((value(mix)?, value(image)?)))
        .collect();
    let above = pairs.iter().filter(|(mix, image)| mix > image).count();
    numbers.push((
        format!("checkpoints where Mix's {label} is above Image's"),
        format!("{above} of {}", pairs.len()),
    ));
    let agreement = crate::parts::verdict(
        ctx,
        &[(
            format!(
                "Mix's {label} above Image's along training (here at {above} of {} checkpoints)",
                pairs.len()
            ),
            2 * above > pairs.len(),
        )],
    );
    Ok(Output {
        files,
        caption: format!(
            "One point per kept checkpoint ({} records per set; all parameters). {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement,
        ..Output::at(ctx)
    })
}

/// The runs of Figs 9, 17, 18 and 20 (Fig 5's Mix, Mix+ and Align-Mix+ at the largest budget),
/// with their legend names, markers and the analysis of each kept checkpoint.
type Analysed = (&'static str, Marker, Vec<StepReport>);

fn tr_analyses(ctx: &Ctx) -> Result<Option<(Cache, Vec<Analysed>)>> {
    analyses(ctx, TaskKind::Tr, false)
}

/// The analysed runs of `task`: Mix, Mix+ and Align-Mix+, and with `all_of_fig8` also
/// Image-via-Text+ and Mix → Mix+ (half the budget of Mix, then Mix+ continuing its optimizer
/// and schedule). Every analysis includes the hard Image-via-Text set (Eqs 4 and 5), so the
/// figures of one task share it.
fn analyses(
    ctx: &Ctx,
    task: TaskKind,
    all_of_fig8: bool,
) -> Result<Option<(Cache, Vec<Analysed>)>> {
    let Some(scale) = crate::experiments::scale(ctx.tier, task) else {
        return Ok(None);
    };
    let cache = Cache::new(&ctx.cache, scale);
    let simple = cache.eval_set(task, Split::Simple, Modality::Image)?;
    let hard = cache.eval_set(task, Split::Hard, Modality::Image)?;
    let via_text = cache.via_text_set(task)?;
    let budget = crate::parts::largest(&cache)?;
    let first = crate::parts::first_phase(&cache)?;
    let mut runs = vec![
        (
            "Mix",
            Marker::Circle,
            RunSpec::new(task, MixtureKind::Mix, budget),
        ),
        (
            "Mix+",
            Marker::Square,
            RunSpec::new(task, MixtureKind::MixPlus, budget),
        ),
        (
            "Align-Mix+",
            Marker::Triangle,
            RunSpec::new(task, MixtureKind::MixPlus, budget).after(MixtureKind::Align, first),
        ),
    ];
    if all_of_fig8 {
        runs.push((
            "Image-via-Text+",
            Marker::Star,
            RunSpec::new(task, MixtureKind::ImageViaTextPlus, budget),
        ));
        runs.push((
            "Mix -> Mix+",
            Marker::None,
            RunSpec::new(task, MixtureKind::MixPlus, budget - budget / 2)
                .after(MixtureKind::Mix, budget / 2)
                .with(Variant::Continues),
        ));
    }
    let specs: Vec<RunSpec> = runs.iter().map(|(_, _, r)| r.clone()).collect();
    cache.train(&specs)?;
    let mut out = Vec::new();
    for (name, marker, run) in runs {
        let reports = cache.analyze_with(
            &run,
            &simple,
            &hard,
            Some(&via_text),
            &s2h::analysis::Options::default(),
            None,
        )?;
        out.push((name, marker, reports));
    }
    Ok(Some((cache, out)))
}

/// Figs 8 and 21: the loss decomposition during training — Eq 4 (the conversion of hard
/// Image-via-Text records), Eq 5 (their solution given the conversion) and Eq 2 (the solution
/// given the image alone) — per kept checkpoint of each run.
fn loss_figure(ctx: &Ctx, id: &str, task: TaskKind) -> Result<Output> {
    let Some((cache, runs)) = analyses(ctx, task, true)? else {
        return Ok(no_scale(ctx));
    };
    let title = crate::evaluated::task_title(task);
    let mut files = Vec::new();
    let panels: [(&str, &str, YOf); 3] = [
        ("conversion", "loss of the conversion (Eq 4)", |r| {
            r.loss_conversion
        }),
        (
            "given-conversion",
            "loss given the conversion (Eq 5)",
            |r| r.loss_solution_given_conversion,
        ),
        ("image", "loss given the image (Eq 2)", |r| {
            Some(r.loss_image_solution)
        }),
    ];
    for (suffix, label, y) in panels {
        files.extend(panel(
            ctx,
            &format!("{id}-{suffix}"),
            &format!("{title}: {label}"),
            SEEN,
            (label, y),
            &runs,
        )?);
    }
    let mut numbers = Vec::new();
    for (name, _, reports) in &runs {
        if let Some(r) = reports.last() {
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
            numbers.push((
                format!("{name}: final Eq 4 / Eq 5 / Eq 2"),
                format!(
                    "{} / {} / {}",
                    f(r.loss_conversion),
                    f(r.loss_solution_given_conversion),
                    f(Some(r.loss_image_solution))
                ),
            ));
        }
    }
    Ok(Output {
        files,
        caption: format!(
            "Per-example losses at each kept checkpoint on {} hard records (image, and image via              text with the conversion); Mix -> Mix+ trains Mix on half the budget, then Mix+ with              the same optimizer and schedule. {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement: unchecked(ctx),
        ..Output::at(ctx)
    })
}

/// Fig 8: TR loss decomposition during training.
pub fn fig08(ctx: &Ctx) -> Result<Output> {
    loss_figure(ctx, "fig08", TaskKind::Tr)
}

/// Fig 21: Visual Analogy loss decomposition during training.
pub fn fig21(ctx: &Ctx) -> Result<Output> {
    loss_figure(ctx, "fig21", TaskKind::Va)
}

/// Figs 28 and 29: pixel attribution (App J) of the first hard image record at each run's last
/// checkpoint — gradient × input of the mean loss over each chain-of-thought group (TR: the runs
/// of cells along one column; VA: Example 1, Example 2, the query, the options), the top 1% of
/// pixels in red.
fn attribution_figure(ctx: &Ctx, id: &str, task: TaskKind, recipes: &[&str]) -> Result<Output> {
    let Some(scale) = crate::experiments::scale(ctx.tier, task) else {
        return Ok(no_scale(ctx));
    };
    let cache = Cache::new(&ctx.cache, scale);
    let runs: Vec<(&str, RunSpec)> = crate::parts::align_recipes(
        task,
        crate::parts::largest(&cache)?,
        crate::parts::first_phase(&cache)?,
    )
    .into_iter()
    .filter(|(name, _)| recipes.contains(name))
    .collect();
    let simple = cache.eval_set(task, Split::Simple, Modality::Image)?;
    let hard = cache.eval_set(task, Split::Hard, Modality::Image)?;
    let specs: Vec<RunSpec> = runs.iter().map(|(_, r)| r.clone()).collect();
    cache.train(&specs)?;
    let options = s2h::analysis::Options {
        attribute: 1,
        adam: false,
        ..s2h::analysis::Options::default()
    };
    let mut files = Vec::new();
    let mut numbers = Vec::new();
    for (name, run) in &runs {
        let (reports, out) = cache.analyze_last(run, &simple, &hard, &options)?;
        let Some(report) = reports.last() else {
            bail!("run {} has no checkpoint", run.name());
        };
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        for png in &report.attributions {
            let source = out.join(png);
            let stem = std::path::Path::new(png)
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            // `<record id>-<group>`: image record ids end in `-image`.
            let group = stem
                .rsplit_once("-image-")
                .map_or(stem.as_str(), |(_, g)| g)
                .to_string();
            let file = format!("{id}-{slug}-{group}.png");
            std::fs::copy(&source, ctx.dir.join(&file))
                .map_err(|e| anyhow::anyhow!("copying {}: {e}", source.display()))?;
            files.push(file);
        }
        numbers.push((
            format!("{name}: token groups attributed at step {}", report.step),
            report.attributions.len().to_string(),
        ));
    }
    Ok(Output {
        files,
        caption: format!(
            "Gradient x input of each chain-of-thought group's mean loss on the first hard image              record, top 1% of pixels in red, at each run's last checkpoint. {}.",
            cache.scale.label
        ),
        numbers,
        agreement: unchecked(ctx),
        ..Output::at(ctx)
    })
}

/// Fig 28: TR attribution, Mix+ against Align-Mix+ at the largest budget.
pub fn fig28(ctx: &Ctx) -> Result<Output> {
    attribution_figure(ctx, "fig28", TaskKind::Tr, &["Mix+", "Align-Mix+"])
}

/// Fig 29: Visual Analogy attribution of (TW)Align-Mix+ at the largest budget.
pub fn fig29(ctx: &Ctx) -> Result<Output> {
    attribution_figure(ctx, "fig29", TaskKind::Va, &["(TW)Align-Mix+"])
}

/// One panel: a line per run through its checkpoints' `(x, y)`; returns the files written.
fn panel(
    ctx: &Ctx,
    name: &str,
    title: &str,
    (x_label, x): (&str, fn(&StepReport) -> f64),
    (y_label, y): (&str, fn(&StepReport) -> Option<f64>),
    runs: &[Analysed],
) -> Result<Vec<String>> {
    LineChart {
        title: format!("{title} ({} tier)", ctx.tier),
        x_label: x_label.into(),
        y_label: y_label.into(),
        series: runs
            .iter()
            .map(|(n, marker, reports)| Series {
                name: n.to_string(),
                points: reports
                    .iter()
                    .map(|r| (x(r), y(r).unwrap_or(f64::NAN)))
                    .collect(),
                marker: *marker,
            })
            .collect(),
        y_range: None,
    }
    .write(&ctx.dir, name)?;
    Ok(["png", "svg", "csv"]
        .map(|ext| format!("{name}.{ext}"))
        .to_vec())
}

/// A checkpoint's value on a y-axis.
type YOf = fn(&StepReport) -> Option<f64>;

const NORM: (&str, fn(&StepReport) -> f64) =
    ("mean gradient norm on simple images", |r| r.grad_norm_mean);
const SEEN: (&str, fn(&StepReport) -> f64) = ("training records seen", |r| {
    r.examples_seen.map_or(f64::NAN, |e| e as f64)
});
const NORM_Y: (&str, fn(&StepReport) -> Option<f64>) =
    ("mean gradient norm on simple images", |r| {
        Some(r.grad_norm_mean)
    });

/// What one TR analysis figure shows: its panels as (file suffix, title, x, y).
type Panels = &'static [(
    &'static str,
    &'static str,
    (&'static str, fn(&StepReport) -> f64),
    (&'static str, fn(&StepReport) -> Option<f64>),
)];

fn tr_figure(ctx: &Ctx, id: &str, panels: Panels) -> Result<Output> {
    let Some((cache, runs)) = tr_analyses(ctx)? else {
        return Ok(no_scale(ctx));
    };
    let mut files = Vec::new();
    for (suffix, title, x, y) in panels {
        files.extend(panel(ctx, &format!("{id}-{suffix}"), title, *x, *y, &runs)?);
    }
    let numbers = runs
        .iter()
        .map(|(name, _, reports)| {
            let eq3: Vec<f64> = reports.iter().filter_map(|r| r.alignment).collect();
            (
                format!("{name}: mean Eq 3 over {} checkpoints", reports.len()),
                if eq3.is_empty() {
                    "-".into()
                } else {
                    format!("{:.3}", eq3.iter().sum::<f64>() / eq3.len() as f64)
                },
            )
        })
        .collect();
    Ok(Output {
        files,
        caption: format!(
            "One point per kept checkpoint of the TR Mix, Mix+ and Align-Mix+ runs ({} simple and \
             hard image records; all parameters). {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement: unchecked(ctx),
        ..Output::at(ctx)
    })
}

/// Fig 9: TR, mean gradient norm vs the gradient alignment score (Eq 3) per checkpoint.
pub fn fig09(ctx: &Ctx) -> Result<Output> {
    tr_figure(
        ctx,
        "fig09",
        &[(
            "alignment",
            "TR: gradient norm vs Eq 3",
            NORM,
            ("gradient alignment score (Eq 3)", |r| r.alignment),
        )],
    )
}

/// Fig 17: TR, Eq 3 (left) and the mean gradient norm (right) over training.
pub fn fig17(ctx: &Ctx) -> Result<Output> {
    tr_figure(
        ctx,
        "fig17",
        &[
            (
                "alignment",
                "TR: Eq 3 during training",
                SEEN,
                ("gradient alignment score (Eq 3)", |r| r.alignment),
            ),
            ("norm", "TR: gradient norm during training", SEEN, NORM_Y),
        ],
    )
}

/// Fig 18: TR, the gradient cosine (Eq 7) against the norm and over training, and the norm.
pub fn fig18(ctx: &Ctx) -> Result<Output> {
    tr_figure(
        ctx,
        "fig18",
        &[
            (
                "cosine-vs-norm",
                "TR: gradient norm vs Eq 7",
                NORM,
                ("cosine (Eq 7)", |r| r.cosine),
            ),
            (
                "cosine",
                "TR: Eq 7 during training",
                SEEN,
                ("cosine (Eq 7)", |r| r.cosine),
            ),
            ("norm", "TR: gradient norm during training", SEEN, NORM_Y),
        ],
    )
}

/// Fig 20: TR, the Adam update alignment score (Eq 8) against the norm and over training, and
/// the norm.
pub fn fig20(ctx: &Ctx) -> Result<Output> {
    tr_figure(
        ctx,
        "fig20",
        &[
            (
                "adam-vs-norm",
                "TR: gradient norm vs Eq 8",
                NORM,
                ("Adam update alignment (Eq 8)", |r| r.adam_alignment),
            ),
            (
                "adam",
                "TR: Eq 8 during training",
                SEEN,
                ("Adam update alignment (Eq 8)", |r| r.adam_alignment),
            ),
            ("norm", "TR: gradient norm during training", SEEN, NORM_Y),
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::registry::{TARGETS, Tier};

    /// Figs 7 and 19 at the smoke tier: runs with kept checkpoints, analysed, two charts each;
    /// the second target reuses the first's runs and analyses.
    #[test]
    fn fig07_and_fig19_analyse_kept_checkpoints_at_the_smoke_tier() {
        let out = tempfile::tempdir().unwrap();
        for id in ["fig07", "fig19"] {
            let target = TARGETS.iter().find(|t| t.id == id).unwrap();
            let output = crate::make(target, Tier::Smoke, out.path()).unwrap();
            for file in &output.files {
                assert!(out.path().join(id).join(file).is_file(), "{file}");
            }
            let csv =
                std::fs::read_to_string(out.path().join(id).join(format!("{id}-alignment.csv")))
                    .unwrap();
            // Three runs of 4 updates with a checkpoint kept every one: 4 points each.
            assert_eq!(csv.lines().count(), 1 + 3 * 4, "{csv}");
            // Mix and Image paired checkpoint by checkpoint, all four.
            let (_, above) = output
                .numbers
                .iter()
                .find(|(name, _)| name.starts_with("checkpoints where Mix"))
                .unwrap();
            assert!(above.ends_with(" of 4"), "{above}");
        }
    }

    /// Fig 8 at the smoke tier: the loss decomposition (Eqs 4, 5, 2) of five TR runs, Mix →
    /// Mix+ among them, at every kept checkpoint; Fig 28: attribution overlays of the last
    /// checkpoint of Mix+ and Align-Mix+.
    #[test]
    fn loss_decomposition_and_attribution_at_the_smoke_tier() {
        s2h::cli::keep_freed_memory();
        let out = tempfile::tempdir().unwrap();
        let fig08 = TARGETS.iter().find(|t| t.id == "fig08").unwrap();
        let output = crate::make(fig08, Tier::Smoke, out.path()).unwrap();
        assert_eq!(output.files.len(), 3 * 3);
        let csv = std::fs::read_to_string(out.path().join("fig08/fig08-conversion.csv")).unwrap();
        let series: std::collections::BTreeSet<&str> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(series.len(), 5, "{csv}");
        // Every checkpoint has a finite Eq 4 (the analysis read the Image-via-Text set).
        for line in csv.lines().skip(1) {
            let y: f64 = line.rsplit(',').next().unwrap().parse().unwrap();
            assert!(y.is_finite() && y > 0.0, "{line}");
        }
        let fig28 = TARGETS.iter().find(|t| t.id == "fig28").unwrap();
        let output = crate::make(fig28, Tier::Smoke, out.path()).unwrap();
        let pngs: Vec<&String> = output
            .files
            .iter()
            .filter(|f| f.ends_with(".png"))
            .collect();
        assert!(pngs.len() >= 2, "{:?}", output.files);
        assert!(pngs.iter().any(|f| f.starts_with("fig28-Mix_-")));
        assert!(pngs.iter().any(|f| f.starts_with("fig28-Align_Mix_-")));
        for png in pngs {
            let img = image::open(out.path().join("fig28").join(png)).unwrap();
            assert_eq!((img.width(), img.height()), (180, 160));
        }
    }

    /// Figs 9, 17, 18 and 20 at the smoke tier: one analysis of the TR runs serves all four.
    #[test]
    fn tr_alignment_figures_share_one_analysis() {
        let out = tempfile::tempdir().unwrap();
        for (id, panels) in [("fig09", 1), ("fig17", 2), ("fig18", 3), ("fig20", 3)] {
            let target = TARGETS.iter().find(|t| t.id == id).unwrap();
            let output = crate::make(target, Tier::Smoke, out.path()).unwrap();
            assert_eq!(output.files.len(), 3 * panels, "{id}");
            for file in &output.files {
                assert!(out.path().join(id).join(file).is_file(), "{file}");
            }
        }
        let analyses = std::fs::read_dir(out.path().join(".cache/smoke/analysis"))
            .unwrap()
            .count();
        assert_eq!(analyses, 3, "Mix, Mix+ and Align-Mix+, analysed once each");
        let csv = std::fs::read_to_string(out.path().join("fig18/fig18-cosine.csv")).unwrap();
        // Three runs of 4 (Align-Mix+: 5) updates, four checkpoints kept each at least.
        assert!(csv.lines().count() > 3 * 4, "{csv}");
    }
}
