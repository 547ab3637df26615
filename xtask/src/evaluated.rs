//! The evaluated targets (class E) made so far, through [`crate::experiments`].

use anyhow::Result;
use s2h::eval::charts::{BarChart, LineChart, Marker, Series};
use s2h::eval::{main_accuracy, names};
use s2h::mixture::MixtureKind;
use s2h::tasks::{Modality, Split, TaskKind};

use crate::experiments::{Cache, RunSpec, ctr_scale};
use crate::registry::Tier;
use crate::{Agreement, Ctx, Output};

/// Fig 3: S2H generalization on CTR by training data — Text (evaluated on hard text, the
/// reference), Image and Mix (evaluated on images), on medium (left) and hard (right).
pub fn fig03(ctx: &Ctx) -> Result<Output> {
    let Some(scale) = ctr_scale(ctx.tier) else {
        return Ok(not_run(
            ctx,
            "needs a GPU: run it with --tier gpu there (not measured here)",
        ));
    };
    let cache = Cache::new(&ctx.cache, scale);
    let supervisions = [
        (
            MixtureKind::Text,
            Modality::Text,
            Marker::Star,
            "Text (on text)",
        ),
        (
            MixtureKind::Image,
            Modality::Image,
            Marker::Triangle,
            "Image",
        ),
        (MixtureKind::Mix, Modality::Image, Marker::Circle, "Mix"),
    ];
    let splits = [Split::Medium, Split::Hard];
    let mut sets = Vec::new();
    for split in splits {
        for modality in [Modality::Text, Modality::Image] {
            sets.push((
                (split, modality),
                cache.eval_set(TaskKind::Ctr, split, modality)?,
            ));
        }
    }
    let set = |split: Split, modality: Modality| {
        sets.iter()
            .find(|(k, _)| *k == (split, modality))
            .map(|(_, d)| d.clone())
    };
    let runs: Vec<RunSpec> = supervisions
        .iter()
        .flat_map(|(kind, ..)| {
            cache.scale.budgets.iter().map(|&budget| RunSpec {
                task: TaskKind::Ctr,
                supervision: *kind,
                budget,
            })
        })
        .collect();
    let dirs: Vec<_> = sets.iter().map(|(_, d)| d.clone()).collect();
    cache.train(&runs, &dirs)?;

    let mut files = Vec::new();
    let mut numbers = Vec::new();
    let mut hard_last = Vec::new();
    for split in splits {
        let mut series = Vec::new();
        for (kind, modality, marker, name) in &supervisions {
            let mut points = Vec::new();
            for &budget in &cache.scale.budgets {
                let run = RunSpec {
                    task: TaskKind::Ctr,
                    supervision: *kind,
                    budget,
                };
                let Some(eval) = set(split, *modality) else {
                    anyhow::bail!("no {split} {modality} set");
                };
                let metrics = cache.evaluate(&run, &eval)?;
                let acc = main_accuracy(&metrics, TaskKind::Ctr).unwrap_or(f64::NAN);
                points.push((budget as f64, acc));
            }
            if split == Split::Hard
                && let Some(&(_, acc)) = points.last()
            {
                hard_last.push((*name, acc));
            }
            series.push(Series {
                name: name.to_string(),
                points,
                marker: *marker,
            });
        }
        let chart = LineChart {
            title: format!("CTR S2H, {split} ({} tier)", ctx.tier),
            x_label: "training records".into(),
            y_label: "accuracy".into(),
            series,
            y_range: Some((0.0, 1.0)),
        };
        let name = format!("fig03-{split}");
        chart.write(&ctx.dir, &name)?;
        files.extend(["png", "svg", "csv"].map(|ext| format!("{name}.{ext}")));
    }
    let largest = cache.scale.budgets.last().copied().unwrap_or(0);
    for (name, acc) in &hard_last {
        numbers.push((
            format!("hard accuracy at {largest} records, {name}"),
            format!("{:.1}%", 100.0 * acc),
        ));
    }
    let get = |n: &str| {
        hard_last
            .iter()
            .find(|(name, _)| *name == n)
            .map(|(_, a)| *a)
    };
    let agreement = match ctx.tier {
        Tier::Smoke => Agreement::Exercised(
            "the smoke tier's models learn nothing; the direction is not checked".into(),
        ),
        _ => match (get("Text (on text)"), get("Image"), get("Mix")) {
            (Some(t), Some(i), Some(m)) if t > i && m > i => Agreement::Reproduced(format!(
                "Text ({:.1}%) and Mix ({:.1}%) above Image ({:.1}%) on hard, as in the paper",
                100.0 * t,
                100.0 * m,
                100.0 * i
            )),
            (Some(t), Some(i), Some(m)) => Agreement::NotReproduced(format!(
                "paper: Text and Mix above Image on hard; here Text {:.1}%, Mix {:.1}%, Image {:.1}%",
                100.0 * t,
                100.0 * m,
                100.0 * i
            )),
            _ => Agreement::NotReproduced("an accuracy is missing".into()),
        },
    };
    Ok(Output {
        files,
        caption: format!(
            "Exact-match accuracy on {} medium and hard CTR records per set; Text is evaluated on \
             text, Image and Mix on images. {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement,
        tier: ctx.tier.to_string(),
        seconds: 0.0,
    })
}

/// Fig 4: CTR hard-image accuracy (left) and generation length (right) of Text+Image, Mix and
/// Image-via-Text at one budget (the paper's 16×10^4; here the tier's largest).
pub fn fig04(ctx: &Ctx) -> Result<Output> {
    let Some(scale) = ctr_scale(ctx.tier) else {
        return Ok(not_run(
            ctx,
            "needs a GPU: run it with --tier gpu there (not measured here)",
        ));
    };
    let cache = Cache::new(&ctx.cache, scale);
    let hard = cache.eval_set(TaskKind::Ctr, Split::Hard, Modality::Image)?;
    let Some(&budget) = cache.scale.budgets.last() else {
        anyhow::bail!("the tier has no training budget");
    };
    let kinds = [
        (MixtureKind::TextImage, "Text+Image"),
        (MixtureKind::Mix, "Mix"),
        (MixtureKind::ImageViaText, "Image-via-Text"),
    ];
    let runs: Vec<RunSpec> = kinds
        .iter()
        .map(|(kind, _)| RunSpec {
            task: TaskKind::Ctr,
            supervision: *kind,
            budget,
        })
        .collect();
    cache.train(&runs, std::slice::from_ref(&hard))?;
    let mut accuracy = Vec::new();
    let mut length = Vec::new();
    for ((_, name), run) in kinds.iter().zip(&runs) {
        let metrics = cache.evaluate(run, &hard)?;
        accuracy.push((
            name.to_string(),
            main_accuracy(&metrics, TaskKind::Ctr).unwrap_or(f64::NAN),
        ));
        let tokens = metrics
            .group(TaskKind::Ctr, None::<Split>)
            .and_then(|g| g.metric(names::MEAN_GENERATED_TOKENS))
            .unwrap_or(f64::NAN);
        length.push((name.to_string(), tokens));
    }
    let tier = ctx.tier;
    BarChart {
        title: format!("CTR hard (image): accuracy ({tier} tier)"),
        y_label: "accuracy".into(),
        bars: accuracy.clone(),
        y_range: Some((0.0, 1.0)),
    }
    .write(&ctx.dir, "fig04-accuracy")?;
    BarChart {
        title: format!("CTR hard (image): generation length ({tier} tier)"),
        y_label: "generated tokens".into(),
        bars: length.clone(),
        y_range: None,
    }
    .write(&ctx.dir, "fig04-length")?;
    let mut files = Vec::new();
    for name in ["fig04-accuracy", "fig04-length"] {
        files.extend(["png", "svg", "csv"].map(|ext| format!("{name}.{ext}")));
    }
    let mut numbers: Vec<(String, String)> = accuracy
        .iter()
        .map(|(n, a)| (format!("{n}: hard accuracy"), format!("{:.1}%", 100.0 * a)))
        .collect();
    numbers.extend(
        length
            .iter()
            .map(|(n, t)| (format!("{n}: generated tokens"), format!("{t:.0}"))),
    );
    let ratio = length[2].1 / length[1].1;
    numbers.push((
        "Image-via-Text / Mix generation length".into(),
        format!("{ratio:.2}x"),
    ));
    let agreement = match ctx.tier {
        Tier::Smoke => Agreement::Exercised(
            "the smoke tier's models learn nothing; the direction is not checked".into(),
        ),
        _ if ratio >= 2.0 => Agreement::Reproduced(format!(
            "Image-via-Text generates {ratio:.1}x Mix's tokens (paper: about 3x)"
        )),
        _ => Agreement::NotReproduced(format!(
            "Image-via-Text generates {ratio:.1}x Mix's tokens (paper: about 3x)"
        )),
    };
    Ok(Output {
        files,
        caption: format!(
            "{budget} training records per run; {} hard image records. {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement,
        tier: ctx.tier.to_string(),
        seconds: 0.0,
    })
}

pub fn not_run(ctx: &Ctx, why: &str) -> Output {
    Output {
        files: Vec::new(),
        caption: String::new(),
        numbers: Vec::new(),
        agreement: Agreement::NotRun(why.into()),
        tier: ctx.tier.to_string(),
        seconds: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{TARGETS, Tier};

    /// Fig 3 at the smoke tier: every stage runs (data, 6 runs, 12 evaluations, two charts),
    /// and making it again re-renders from the cache without training or evaluating again.
    #[test]
    fn fig03_runs_every_stage_at_the_smoke_tier_and_rerenders_from_its_cache() {
        let out = tempfile::tempdir().unwrap();
        let target = TARGETS.iter().find(|t| t.id == "fig03").unwrap();
        let first = crate::make(target, Tier::Smoke, out.path()).unwrap();
        assert!(
            matches!(first.agreement, Agreement::Exercised(_)),
            "{first:?}"
        );
        for file in &first.files {
            assert!(out.path().join("fig03").join(file).is_file(), "{file}");
        }
        let csv = std::fs::read_to_string(out.path().join("fig03/fig03-hard.csv")).unwrap();
        // A header and 3 supervisions × 2 budgets.
        assert_eq!(csv.lines().count(), 1 + 6, "{csv}");
        let png = image::open(out.path().join("fig03/fig03-hard.png")).unwrap();
        assert!(png.width() > 0);
        let evals = out.path().join(".cache/smoke/evals");
        let stamp = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
        let metrics = evals.join("ctr-mix-64/ctr-hard-image/metrics.json");
        let model = out
            .path()
            .join(".cache/smoke/runs/ctr-mix-64/model/model.safetensors");
        let before = (stamp(&metrics), stamp(&model));
        let second = crate::make(target, Tier::Smoke, out.path()).unwrap();
        assert_eq!((stamp(&metrics), stamp(&model)), before);
        assert_eq!(first.numbers, second.numbers);

        // Fig 4 shares the cache: its Mix run is Fig 3's.
        let fig04 = TARGETS.iter().find(|t| t.id == "fig04").unwrap();
        let output = crate::make(fig04, Tier::Smoke, out.path()).unwrap();
        assert_eq!(stamp(&model), before.1);
        let csv = std::fs::read_to_string(out.path().join("fig04/fig04-length.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
        assert!(
            output
                .numbers
                .iter()
                .any(|(what, _)| what.contains("generation length"))
        );
    }
}
