//! The evaluated targets (class E) made so far, through [`crate::experiments`].

use anyhow::Result;
use s2h::eval::charts::{BarChart, LineChart, Marker, Series};
use s2h::eval::{Metrics, main_accuracy, names};
use s2h::mixture::MixtureKind;
use s2h::tasks::{Modality, Split, TaskKind};

use crate::experiments::{Cache, RunSpec, ctr_scale, scale};
use crate::registry::Tier;
use crate::{Agreement, Ctx, Output};

/// Fig 3: S2H generalization on CTR by training data — Text (evaluated on hard text, the
/// reference), Image and Mix (evaluated on images), on medium (left) and hard (right); and on
/// simple, the training distribution, which the paper does not plot.
pub fn fig03(ctx: &Ctx) -> Result<Output> {
    ctr_s2h(ctx, "fig03", XAxis::Records)
}

/// Fig 14: Fig 3 by unique training instances (a Mix record budget holds a third as many
/// unique problems as a Text one).
pub fn fig14(ctx: &Ctx) -> Result<Output> {
    ctr_s2h(ctx, "fig14", XAxis::UniqueInstances)
}

/// What the S2H curves of Figs 3 and 14 are plotted against.
#[derive(Clone, Copy, PartialEq)]
enum XAxis {
    Records,
    UniqueInstances,
}

fn ctr_s2h(ctx: &Ctx, id: &str, x_axis: XAxis) -> Result<Output> {
    let Some(scale) = ctr_scale(ctx.tier) else {
        return Ok(no_scale(ctx));
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
    // The paper plots medium and hard; simple — the training distribution — is drawn beside
    // them, because at a small scale it is where the modality gap shows first.
    let splits = [Split::Simple, Split::Medium, Split::Hard];
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
            cache
                .scale
                .budgets
                .iter()
                .map(|&budget| RunSpec::new(TaskKind::Ctr, *kind, budget))
        })
        .collect();
    cache.train(&runs)?;

    let mut files = Vec::new();
    let mut numbers = Vec::new();
    let mut hard_last = Vec::new();
    let mut simple_last = Vec::new();
    for split in splits {
        let mut series = Vec::new();
        for (kind, modality, marker, name) in &supervisions {
            let mut points = Vec::new();
            for &budget in &cache.scale.budgets {
                let run = RunSpec::new(TaskKind::Ctr, *kind, budget);
                let Some(eval) = set(split, *modality) else {
                    anyhow::bail!("no {split} {modality} set");
                };
                let metrics = cache.evaluate(&run, &eval)?;
                let acc = main_accuracy(&metrics, TaskKind::Ctr).unwrap_or(f64::NAN);
                let x = match x_axis {
                    XAxis::Records => budget,
                    XAxis::UniqueInstances => cache.unique_instances(&run)?,
                };
                points.push((x as f64, acc));
            }
            if let Some(&(_, acc)) = points.last() {
                match split {
                    Split::Hard => hard_last.push((*name, acc)),
                    Split::Simple => simple_last.push((*name, acc)),
                    _ => {}
                }
            }
            series.push(Series {
                name: name.to_string(),
                points,
                marker: *marker,
            });
        }
        let chart = LineChart {
            title: format!("CTR S2H, {split} ({} tier)", ctx.tier),
            x_label: match x_axis {
                XAxis::Records => "training records",
                XAxis::UniqueInstances => "unique training instances",
            }
            .into(),
            y_label: "accuracy".into(),
            series,
            y_range: Some((0.0, 1.0)),
        };
        let name = format!("{id}-{split}");
        chart.write(&ctx.dir, &name)?;
        files.extend(["png", "svg", "csv"].map(|ext| format!("{name}.{ext}")));
    }
    let largest = cache.scale.budgets.last().copied().unwrap_or(0);
    for (split, last) in [("simple", &simple_last), ("hard", &hard_last)] {
        for (name, acc) in last {
            numbers.push((
                format!("{split} accuracy at {largest} records, {name}"),
                format!("{:.1}%", 100.0 * acc),
            ));
        }
    }
    let get = |n: &str| {
        hard_last
            .iter()
            .find(|(name, _)| *name == n)
            .map(|(_, a)| *a)
    };
    let [text, image, mix] = ["Text (on text)", "Image", "Mix"].map(|n| get(n).unwrap_or(f64::NAN));
    let checks = above_image_checks(text, mix, image);
    let agreement = crate::parts::verdict(ctx, &checks);
    Ok(Output {
        files,
        caption: format!(
            "Exact-match accuracy on {} simple, medium and hard CTR records per set (the paper \
             plots medium and hard; simple is the training distribution); Text is evaluated on \
             text, Image and Mix on images. {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement,
        ..Output::at(ctx)
    })
}

/// Fig 3's claims on hard CTR: Text (on text) and Mix (on images) above Image (NaN never holds).
fn above_image_checks(text: f64, mix: f64, image: f64) -> Vec<(String, bool)> {
    [("Text", text), ("Mix", mix)]
        .into_iter()
        .map(|(name, better)| {
            (
                format!(
                    "{name} above Image on hard ({} vs {})",
                    crate::parts::pct(better),
                    crate::parts::pct(image)
                ),
                better > image,
            )
        })
        .collect()
}

/// Fig 4: CTR hard-image accuracy (left) and generation length (right) of Text+Image, Mix and
/// Image-via-Text at one budget (the paper's 16×10^4; here the tier's largest).
pub fn fig04(ctx: &Ctx) -> Result<Output> {
    let Some(scale) = ctr_scale(ctx.tier) else {
        return Ok(no_scale(ctx));
    };
    let cache = Cache::new(&ctx.cache, scale);
    let hard = cache.eval_set(TaskKind::Ctr, Split::Hard, Modality::Image)?;
    let budget = crate::parts::largest(&cache)?;
    let kinds = [
        (MixtureKind::TextImage, "Text+Image"),
        (MixtureKind::Mix, "Mix"),
        (MixtureKind::ImageViaText, "Image-via-Text"),
    ];
    let runs: Vec<RunSpec> = kinds
        .iter()
        .map(|(kind, _)| RunSpec::new(TaskKind::Ctr, *kind, budget))
        .collect();
    cache.train(&runs)?;
    let mut accuracy = Vec::new();
    let mut length = Vec::new();
    for ((_, name), run) in kinds.iter().zip(&runs) {
        let metrics = cache.evaluate(run, &hard)?;
        accuracy.push((
            name.to_string(),
            main_accuracy(&metrics, TaskKind::Ctr).unwrap_or(f64::NAN),
        ));
        let tokens = crate::parts::metric(&metrics, TaskKind::Ctr, names::MEAN_GENERATED_TOKENS);
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
    let agreement = crate::parts::verdict(
        ctx,
        &[(
            format!(
                "Image-via-Text generates about 3x Mix's tokens (checked: at least 2x; here {ratio:.1}x)"
            ),
            ratio >= 2.0,
        )],
    );
    Ok(Output {
        files,
        caption: format!(
            "{budget} training records per run; {} hard image records. {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement,
        ..Output::at(ctx)
    })
}

/// Fig 13: CTR hard accuracy against epochs over a fixed set of unique records (the paper's
/// 4×10^4; here the tier's smallest budget): Text on hard text, Image on hard images.
pub fn fig13(ctx: &Ctx) -> Result<Output> {
    let Some(scale) = ctr_scale(ctx.tier) else {
        return Ok(no_scale(ctx));
    };
    let cache = Cache::new(&ctx.cache, scale);
    let unique = crate::parts::smallest(&cache)?;
    const EPOCHS: [u64; 3] = [1, 2, 3];
    let kinds = [
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
    ];
    let sets = [
        cache.eval_set(TaskKind::Ctr, Split::Hard, Modality::Text)?,
        cache.eval_set(TaskKind::Ctr, Split::Hard, Modality::Image)?,
    ];
    let run = |kind: MixtureKind, epochs: u64| RunSpec {
        epochs,
        ..RunSpec::new(TaskKind::Ctr, kind, unique)
    };
    let runs: Vec<RunSpec> = kinds
        .iter()
        .flat_map(|(kind, ..)| EPOCHS.map(|e| run(*kind, e)))
        .collect();
    cache.train(&runs)?;
    let mut series = Vec::new();
    let mut numbers = Vec::new();
    for ((kind, _, marker, name), set) in kinds.iter().zip(&sets) {
        let mut points = Vec::new();
        for e in EPOCHS {
            let metrics = cache.evaluate(&run(*kind, e), set)?;
            let acc = main_accuracy(&metrics, TaskKind::Ctr).unwrap_or(f64::NAN);
            numbers.push((
                format!("{name}, {e} epoch(s): hard accuracy"),
                format!("{:.1}%", 100.0 * acc),
            ));
            points.push((e as f64, acc));
        }
        series.push(Series {
            name: name.to_string(),
            points,
            marker: *marker,
        });
    }
    LineChart {
        title: format!(
            "CTR hard accuracy by epochs over {unique} unique records ({} tier)",
            ctx.tier
        ),
        x_label: "epochs".into(),
        y_label: "accuracy".into(),
        series,
        y_range: Some((0.0, 1.0)),
    }
    .write(&ctx.dir, "fig13")?;
    Ok(Output {
        files: ["png", "svg", "csv"]
            .map(|ext| format!("fig13.{ext}"))
            .to_vec(),
        caption: format!(
            "{unique} unique training records seen 1-3 times; {} hard records per set. {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement: match ctx.tier {
            Tier::Smoke => smoke_agreement(),
            _ => Agreement::NotRun(
                "the paper draws no single direction to check here; read the curves".into(),
            ),
        },
        ..Output::at(ctx)
    })
}

/// Fig 5: hard-image S2H on TR, Grid and VA by training data: Text (on hard text, the
/// reference), Image, Mix, Mix+ and Align-Mix+ (an alignment phase, then Mix+), one chart per
/// task.
pub fn fig05(ctx: &Ctx) -> Result<Output> {
    crate::parts::per_task(
        ctx,
        &[TaskKind::Tr, TaskKind::Grid, TaskKind::Va],
        "Hard accuracy per task; Text is evaluated on text, the others on images; Align-Mix+ \
         first trains an alignment phase of half the smallest budget.",
        |cache, task| {
            let align = crate::parts::first_phase(cache)?;
            let text = |b| RunSpec::new(task, MixtureKind::Text, b);
            let image = |b| RunSpec::new(task, MixtureKind::Image, b);
            let mix = |b| RunSpec::new(task, MixtureKind::Mix, b);
            let mix_plus = |b| RunSpec::new(task, MixtureKind::MixPlus, b);
            let align_mix_plus = |b| mix_plus(b).after(MixtureKind::Align, align);
            let kinds: [crate::parts::CurveOf; 5] = [
                ("Text (on text)".into(), Marker::Star, Modality::Text, &text),
                ("Image".into(), Marker::Triangle, Modality::Image, &image),
                ("Mix".into(), Marker::Circle, Modality::Image, &mix),
                ("Mix+".into(), Marker::Square, Modality::Image, &mix_plus),
                (
                    "Align-Mix+".into(),
                    Marker::None,
                    Modality::Image,
                    &align_mix_plus,
                ),
            ];
            let series = crate::parts::hard_curves(cache, task, &cache.scale.budgets, &kinds)?;
            let mut part = crate::parts::Part::default();
            for s in &series {
                if let Some(&(_, acc)) = s.points.last() {
                    part.number(
                        format!("{task} {}: hard accuracy at the largest budget", s.name),
                        format!("{:.1}%", 100.0 * acc),
                    );
                }
            }
            // The paper's finding (§4): hard text in the mixture carries S2H over to images.
            for better in ["Mix+", "Align-Mix+"] {
                part.check_above(task, &series, better, "Mix", "hard images");
            }
            part.files = crate::parts::curves(
                ctx,
                &format!("fig05-{task}"),
                format!("{} S2H, hard ({} tier)", task_title(task), ctx.tier),
                "training records (Align-Mix+: after its alignment phase)",
                "accuracy",
                series,
                Some((0.0, 1.0)),
            )?;
            Ok(part)
        },
    )
}

/// The runs of the failure-mode figures (Figs 30, 31): Text (evaluated on hard text), Image and
/// Mix+ (on hard images) at the tier's budgets — Fig 5's runs, so they come from its cache.
const FAILURE_RUNS: [(&str, MixtureKind, Modality, Marker); 3] = [
    (
        "Text (on text)",
        MixtureKind::Text,
        Modality::Text,
        Marker::Star,
    ),
    (
        "Image",
        MixtureKind::Image,
        Modality::Image,
        Marker::Triangle,
    ),
    (
        "Mix+",
        MixtureKind::MixPlus,
        Modality::Image,
        Marker::Square,
    ),
];

/// A failure run's legend name, marker, and hard-set metrics by budget.
type FailureRun = (&'static str, Marker, Vec<(u64, Metrics)>);

/// Each failure run's hard-set metrics at each budget of `task`'s tier: `(name, marker,
/// [(budget, metrics)])`.
fn failure_metrics(ctx: &Ctx, task: TaskKind) -> Result<Option<(Cache, Vec<FailureRun>)>> {
    let Some(scale) = scale(ctx.tier, task) else {
        return Ok(None);
    };
    let cache = Cache::new(&ctx.cache, scale);
    let runs: Vec<RunSpec> = FAILURE_RUNS
        .iter()
        .flat_map(|(_, kind, ..)| {
            cache
                .scale
                .budgets
                .iter()
                .map(|&b| RunSpec::new(task, *kind, b))
        })
        .collect();
    cache.train(&runs)?;
    let mut out = Vec::new();
    for (name, kind, modality, marker) in FAILURE_RUNS {
        let set = cache.eval_set(task, Split::Hard, modality)?;
        let mut by_budget = Vec::new();
        for &budget in &cache.scale.budgets {
            by_budget.push((
                budget,
                cache.evaluate(&RunSpec::new(task, kind, budget), &set)?,
            ));
        }
        out.push((name, marker, by_budget));
    }
    Ok(Some((cache, out)))
}

/// Fig 30 (left): TR failure modes at the largest budget — pooled cell precision and recall
/// (a listed cell counts if it is on the path, wherever listed), with the index of the first
/// error and the share of wrong outputs erring before the 12th number beside them.
pub fn fig30(ctx: &Ctx) -> Result<Output> {
    let task = TaskKind::Tr;
    let Some((cache, runs)) = failure_metrics(ctx, task)? else {
        return Ok(no_scale(ctx));
    };
    let mut bars = Vec::new();
    let mut numbers = Vec::new();
    let mut listed = Vec::new();
    for (name, _, by_budget) in &runs {
        let Some((budget, metrics)) = by_budget.last() else {
            continue;
        };
        let precision = crate::parts::metric(metrics, task, names::CELL_PRECISION);
        let recall = crate::parts::metric(metrics, task, names::CELL_RECALL);
        bars.push((format!("{name} precision"), precision));
        bars.push((format!("{name} recall"), recall));
        listed.push((*name, precision, recall));
        for (label, metric) in [
            (
                "index of the first error (mean)",
                names::FIRST_WRONG_INDEX_MEAN,
            ),
            (
                "wrong outputs erring before the 12th number",
                names::FIRST_WRONG_BEFORE_12_SHARE,
            ),
            // The verifier's sub-metric: how often a model lists as many cells as the path has.
            ("outputs with the path's number of cells", "length_correct"),
        ] {
            let v = crate::parts::metric(metrics, task, metric);
            numbers.push((
                format!("{name}, {budget} records: {label}"),
                crate::parts::decimals(v, 3),
            ));
        }
    }
    BarChart {
        title: format!("TR hard: listed cells ({} tier)", ctx.tier),
        y_label: "pooled precision / recall".into(),
        bars,
        y_range: Some((0.0, 1.0)),
    }
    .write(&ctx.dir, "fig30")?;
    Ok(Output {
        files: ["png", "svg", "csv"]
            .map(|ext| format!("fig30.{ext}"))
            .to_vec(),
        caption: format!(
            "Cell precision and recall pooled over {} hard TR records per model (App K.1); the \
             shortcut picture of the paper's right panel is not data. {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement: crate::parts::verdict(ctx, &shortcut_checks(&listed)),
        ..Output::at(ctx)
    })
}

/// Fig 31: Grid failure modes by training data — the moves reach D ignoring obstacles, the
/// fraction of objects collected, the obstacles passed through (App K.2).
pub fn fig31(ctx: &Ctx) -> Result<Output> {
    let task = TaskKind::Grid;
    let Some((cache, runs)) = failure_metrics(ctx, task)? else {
        return Ok(no_scale(ctx));
    };
    let panels = [
        (
            "reach",
            "reaches D ignoring obstacles",
            "reaches_destination_ignoring_obstacles",
            Some((0.0, 1.0)),
        ),
        (
            "objects",
            "fraction of objects collected",
            "objects_collected",
            Some((0.0, 1.0)),
        ),
        (
            "obstacles",
            "obstacles passed through",
            names::OBSTACLES_ENTERED,
            None,
        ),
    ];
    let mut files = Vec::new();
    let mut numbers = Vec::new();
    let obstacles: Vec<(&str, f64)> = runs
        .iter()
        .filter_map(|(name, _, by_budget)| {
            let (_, m) = by_budget.last()?;
            Some((
                *name,
                crate::parts::metric(m, task, names::OBSTACLES_ENTERED),
            ))
        })
        .collect();
    for (stem, label, metric, y_range) in panels {
        let series = runs
            .iter()
            .map(|(name, marker, by_budget)| Series {
                name: name.to_string(),
                points: by_budget
                    .iter()
                    .map(|(b, m)| (*b as f64, crate::parts::metric(m, task, metric)))
                    .collect(),
                marker: *marker,
            })
            .collect();
        let name = format!("fig31-{stem}");
        LineChart {
            title: format!("Grid Navigation hard: {label} ({} tier)", ctx.tier),
            x_label: "training records".into(),
            y_label: label.into(),
            series,
            y_range,
        }
        .write(&ctx.dir, &name)?;
        files.extend(["png", "svg", "csv"].map(|ext| format!("{name}.{ext}")));
        for (name, _, by_budget) in &runs {
            if let Some((b, m)) = by_budget.last() {
                let v = crate::parts::metric(m, task, metric);
                numbers.push((
                    format!("{name}, {b} records: {label}"),
                    crate::parts::decimals(v, 2),
                ));
            }
        }
    }
    Ok(Output {
        files,
        caption: format!(
            "{} hard Grid records per model; obstacles passed through are averaged over the \
             outputs that parse (the authors' average over non-gold outputs is \
             `obstacles_entered_non_gold` in the metrics). {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement: crate::parts::verdict(ctx, &obstacles_checks(&obstacles)),
        ..Output::at(ctx)
    })
}

/// Table 14: Visual Analogy failure modes — each chain-of-thought step's error rate (pooled over
/// the outputs with a VA chain-of-thought score, `s2h_eval::table14`) of Text (on hard text),
/// Image and Mix+ (on hard images) at the largest budget.
pub fn tab14(ctx: &Ctx) -> Result<Output> {
    let task = TaskKind::Va;
    let Some(scale) = scale(ctx.tier, task) else {
        return Ok(no_scale(ctx));
    };
    let cache = Cache::new(&ctx.cache, scale);
    let budget = crate::parts::largest(&cache)?;
    let arms: Vec<crate::experiments::Arm> = FAILURE_RUNS
        .iter()
        .map(|(name, kind, modality, _)| {
            crate::experiments::Arm::hard(*name, RunSpec::new(task, *kind, budget), *modality)
        })
        .collect();
    cache.measure(&arms)?;
    let mut columns = Vec::new();
    for arm in &arms {
        columns.push(s2h::eval::table14(&cache.example_results(arm)?));
    }
    let mut rows = Vec::new();
    let mut numbers = Vec::new();
    for (i, row) in columns[0].iter().enumerate() {
        let mut cells = vec![row.part.to_string(), row.step.to_string()];
        for (arm, column) in arms.iter().zip(&columns) {
            let r = &column[i];
            let rate = r
                .rate()
                .map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
            numbers.push((
                format!("{}: {} {}", arm.name, r.part, r.step),
                format!("{rate} ({} of {})", r.wrong, r.of),
            ));
            cells.push(rate);
        }
        rows.push(cells);
    }
    let mut header = vec!["part", "step"];
    header.extend(arms.iter().map(|a| a.name.as_str()));
    let files = crate::data::write_table(&ctx.dir, "tab14", &header, &rows)?;
    Ok(Output {
        files,
        caption: format!(
            "Error rate of each chain-of-thought step on {} hard Visual Analogy records per model \
             at {budget} training records (App K.3). {}.",
            cache.scale.eval_records, cache.scale.label
        ),
        numbers,
        agreement: unchecked(ctx),
        ..Output::at(ctx)
    })
}

/// Fig 30's direction (App K.1): wrong TR outputs take shortcuts — the cells a model lists are
/// mostly on the path, but it misses highlighted ones — so every model's pooled cell precision
/// is above its recall. `listed`: (model, precision, recall) at the largest budget; one claim
/// per model (NaN never holds), for [`crate::parts::verdict`].
fn shortcut_checks(listed: &[(&str, f64, f64)]) -> Vec<(String, bool)> {
    if listed.is_empty() {
        return vec![("cell precision and recall measured".into(), false)];
    }
    listed
        .iter()
        .map(|&(name, p, r)| {
            (
                format!(
                    "{name}: cell precision above recall, the shortcut of App K.1 ({p:.2} vs \
                     {r:.2})"
                ),
                p > r,
            )
        })
        .collect()
}

/// Fig 31's direction (App K.2): Mix+ passes through fewer obstacles than Text and Image (the
/// paper: 0.12 against 0.78 and 0.67 at 24x10^4). `obstacles`: (model, mean obstacles passed
/// through) at the largest budget, Mix+ named "Mix+"; one claim per other model (NaN never
/// holds), for [`crate::parts::verdict`].
fn obstacles_checks(obstacles: &[(&str, f64)]) -> Vec<(String, bool)> {
    let Some(&(_, m)) = obstacles.iter().find(|(name, _)| *name == "Mix+") else {
        return vec![("Mix+'s obstacles measured".into(), false)];
    };
    let others: Vec<(String, bool)> = obstacles
        .iter()
        .filter(|(name, _)| *name != "Mix+")
        .map(|&(name, o)| {
            let paper = if name.starts_with("Text") { 0.78 } else { 0.67 };
            (
                format!(
                    "Mix+ through fewer obstacles than {name} ({m:.2} vs {o:.2}; paper 0.12 vs \
                     {paper:.2})"
                ),
                m < o,
            )
        })
        .collect();
    if others.is_empty() {
        return vec![("Text's and Image's obstacles measured".into(), false)];
    }
    others
}

/// A task's name as the paper writes it.
pub fn task_title(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Ctr => "CTR",
        TaskKind::Tr => "TR",
        TaskKind::Grid => "Grid Navigation",
        TaskKind::Va => "Visual Analogy",
    }
}

/// The verdict of every E and G target at the smoke tier.
pub fn smoke_agreement() -> Agreement {
    Agreement::Exercised(
        "the smoke tier's models learn nothing; the direction is not checked".into(),
    )
}

/// The verdict of a target with no direction check written for its tier yet.
pub fn unchecked(ctx: &Ctx) -> Agreement {
    match ctx.tier {
        Tier::Smoke => smoke_agreement(),
        _ => Agreement::NotRun("no direction check is written for this tier yet".into()),
    }
}

/// The output of a target whose task has no scale at the tier (GPU tiers, for now).
pub fn no_scale(ctx: &Ctx) -> Output {
    not_run(
        ctx,
        &format!(
            "this tier's scale is not defined for the task yet (run the {} tier on the machine it is made for)",
            ctx.tier
        ),
    )
}

pub fn not_run(ctx: &Ctx, why: &str) -> Output {
    Output {
        agreement: Agreement::NotRun(why.into()),
        ..Output::at(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{TARGETS, Tier};

    #[test]
    fn failure_directions_are_checked_on_the_numbers() {
        let cpu = Ctx {
            id: "fig30",
            tier: Tier::Cpu,
            dir: "unused".into(),
            cache: "unused".into(),
        };
        let reproduced = |checks: Vec<(String, bool)>| match crate::parts::verdict(&cpu, &checks) {
            Agreement::Reproduced(_) => true,
            Agreement::NotReproduced(_) => false,
            other => panic!("a checked claim gives a verdict, not {other:?}"),
        };
        // Fig 30: precision above recall for every model.
        let made = [
            ("Text", 0.78, 0.26),
            ("Image", 0.85, 0.56),
            ("Mix+", 0.76, 0.66),
        ];
        assert!(reproduced(shortcut_checks(&made)));
        let one_below = [("Text", 0.78, 0.26), ("Mix+", 0.6, 0.66)];
        assert!(!reproduced(shortcut_checks(&one_below)));
        assert!(!reproduced(shortcut_checks(&[("Text", f64::NAN, 0.2)])));
        assert!(!reproduced(shortcut_checks(&[])));
        // Fig 31: Mix+ through the fewest obstacles.
        let paper = [("Text (on text)", 0.78), ("Image", 0.67), ("Mix+", 0.12)];
        assert!(reproduced(obstacles_checks(&paper)));
        let image_fewer = [("Text (on text)", 0.78), ("Image", 0.1), ("Mix+", 0.12)];
        assert!(!reproduced(obstacles_checks(&image_fewer)));
        assert!(!reproduced(obstacles_checks(&[("Mix+", 0.1)])));
        assert!(!reproduced(obstacles_checks(&[
            ("Text", 0.5),
            ("Image", 0.6)
        ])));
        assert!(!reproduced(obstacles_checks(&[
            ("Text", 0.5),
            ("Mix+", f64::NAN)
        ])));
        // Fig 3: Text and Mix above Image on hard.
        assert!(reproduced(above_image_checks(0.4, 0.2, 0.1)));
        assert!(!reproduced(above_image_checks(0.4, 0.05, 0.1)));
        assert!(!reproduced(above_image_checks(0.1, 0.2, 0.1)));
        assert!(!reproduced(above_image_checks(0.4, 0.2, f64::NAN)));
        // The smoke tier's models learn nothing: no verdict from their numbers.
        let smoke = Ctx {
            tier: Tier::Smoke,
            ..cpu
        };
        assert!(matches!(
            crate::parts::verdict(&smoke, &obstacles_checks(&paper)),
            Agreement::Exercised(_)
        ));
    }

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
        let cache = out.path().join(".cache/smoke");
        let stamp = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
        let mix = find(&cache.join("runs"), "ctr-mix-32-");
        let run_key = mix.file_name().unwrap();
        let hard_image = find(&cache.join("eval-sets"), "ctr-hard-image-");
        let metrics = cache
            .join("evals")
            .join(run_key)
            .join(hard_image.file_name().unwrap())
            .join("metrics.json");
        let model = mix.join("model/model.safetensors");
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

        // Fig 14 is Fig 3 by unique instances: a Mix budget of 32 records holds 10 problems.
        let fig14 = TARGETS.iter().find(|t| t.id == "fig14").unwrap();
        crate::make(fig14, Tier::Smoke, out.path()).unwrap();
        let csv = std::fs::read_to_string(out.path().join("fig14/fig14-hard.csv")).unwrap();
        assert!(csv.lines().any(|l| l.starts_with("Mix,10,")), "{csv}");
        assert!(csv.lines().any(|l| l.starts_with("Image,32,")), "{csv}");

        // Fig 13 trains more epochs over the smallest budget's records.
        let fig13 = TARGETS.iter().find(|t| t.id == "fig13").unwrap();
        crate::make(fig13, Tier::Smoke, out.path()).unwrap();
        let csv = std::fs::read_to_string(out.path().join("fig13/fig13.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
        find(&cache.join("runs"), "ctr-text-16-e3-");
    }

    /// Fig 5 at the smoke tier: 5 supervisions × 2 budgets on each of TR, Grid and VA.
    #[test]
    fn fig05_trains_and_evaluates_every_supervision_of_every_task() {
        let out = tempfile::tempdir().unwrap();
        let target = TARGETS.iter().find(|t| t.id == "fig05").unwrap();
        let output = crate::make(target, Tier::Smoke, out.path()).unwrap();
        for task in ["tr", "grid", "va"] {
            let csv = std::fs::read_to_string(out.path().join(format!("fig05/fig05-{task}.csv")))
                .unwrap();
            assert_eq!(csv.lines().count(), 1 + 5 * 2, "{csv}");
        }
        assert_eq!(output.numbers.len(), 3 * 5);
        assert!(
            !output.caption.contains("Not run at this tier"),
            "{}",
            output.caption
        );

        // Figs 30 and 31 read the failure modes of Fig 5's runs from the cache.
        let runs = std::fs::read_dir(out.path().join(".cache/smoke/runs"))
            .unwrap()
            .count();
        for id in ["fig30", "fig31"] {
            let target = TARGETS.iter().find(|t| t.id == id).unwrap();
            let output = crate::make(target, Tier::Smoke, out.path()).unwrap();
            for file in &output.files {
                assert!(out.path().join(id).join(file).is_file(), "{file}");
            }
        }
        let runs_after = std::fs::read_dir(out.path().join(".cache/smoke/runs"))
            .unwrap()
            .count();
        assert_eq!(runs, runs_after, "no new run");
        let csv = std::fs::read_to_string(out.path().join("fig30/fig30.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 3 * 2, "{csv}");
        let csv = std::fs::read_to_string(out.path().join("fig31/fig31-obstacles.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 3 * 2, "{csv}");
        find(
            &out.path().join(".cache/smoke/runs"),
            "grid-align-8-then-mix_plus-32-",
        );
    }

    /// The one entry of `dir` whose name starts with `prefix`.
    fn find(dir: &std::path::Path, prefix: &str) -> std::path::PathBuf {
        let found: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .collect();
        assert_eq!(found.len(), 1, "{prefix} in {}: {found:?}", dir.display());
        found[0].clone()
    }
}
