//! The analysed targets (class G) made so far: checkpoints of the CTR runs measured with
//! `s2h-analysis` through [`crate::experiments::Cache::analyze`].

use anyhow::{Result, bail};
use s2h::analysis::StepReport;
use s2h::eval::charts::{LineChart, Marker, Series};
use s2h::mixture::MixtureKind;
use s2h::tasks::{Modality, Split, TaskKind};

use crate::evaluated::{no_scale, smoke_agreement};
use crate::experiments::{Cache, RunSpec, ctr_scale};
use crate::registry::Tier;
use crate::{Agreement, Ctx, Output};

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
    let Some(&budget) = cache.scale.budgets.last() else {
        bail!("the tier has no training budget");
    };
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
    let agreement = match ctx.tier {
        Tier::Smoke => smoke_agreement(),
        _ => match (mean(&reports[0]), mean(&reports[2])) {
            (Some(mix), Some(image)) if mix > image => Agreement::Reproduced(format!(
                "Mix's {label} ({mix:.3}) above Image's ({image:.3}) on average, as in the paper"
            )),
            (Some(mix), Some(image)) => Agreement::NotReproduced(format!(
                "paper: Mix aligns better than Image; here {mix:.3} vs {image:.3}"
            )),
            _ => Agreement::NotReproduced("a score is missing".into()),
        },
    };
    Ok(Output {
        files,
        caption: format!(
            "One point per kept checkpoint ({} records per set; all parameters). {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement,
        tier: ctx.tier.to_string(),
        seconds: 0.0,
    })
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
        }
    }
}
